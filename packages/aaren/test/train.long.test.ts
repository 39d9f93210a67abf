import {
  Generator,
  manualSeed,
  nn,
  noGrad,
  optim,
  stack,
  type Tensor,
  tensor,
  tidy,
} from '@recur/tensor';
import { describe, expect, it } from 'vitest';
import { Aaren } from '../src/index.js';

/**
 * "Recall the marked token": each sequence holds random symbols, one of them (somewhere in the first
 * half) flagged by a marker channel; from the marked position on, the target is that symbol. Chance
 * is 1/8. The answer must be remembered across the rest of the sequence, so the model has to learn
 * to put its attention on the marked token.
 */
const VOCAB = 8;
const T = 16;

function makeBatch(g: Generator, batch: number) {
  const x = new Float32Array(batch * T * (VOCAB + 1));
  const target = new Int32Array(batch * T).fill(-100);
  for (let b = 0; b < batch; b++) {
    const mark = g.nextInt(0, T / 2);
    let marked = 0;
    for (let t = 0; t < T; t++) {
      const sym = g.nextInt(0, VOCAB);
      x[(b * T + t) * (VOCAB + 1) + sym] = 1;
      if (t === mark) {
        x[(b * T + t) * (VOCAB + 1) + VOCAB] = 1;
        marked = sym;
      }
      if (t >= mark) target[b * T + t] = marked;
    }
  }
  return {
    x: tensor(x, { shape: [batch, T, VOCAB + 1] }),
    target: tensor(target, { shape: [batch, T] }),
  };
}

class Recall extends nn.Module {
  embed = new nn.Linear(VOCAB + 1, 32);
  body = new Aaren({ nLayers: 2, dModel: 32, nHeads: 4, dFF: 64 });
  head = new nn.Linear(32, VOCAB);
  override forward(x: Tensor): Tensor {
    return this.head.forward(this.body.forward(this.embed.forward(x)));
  }
}

function accuracy(logits: Tensor, target: Tensor): number {
  const pred = logits.argmax(-1).dataSync();
  const t = target.dataSync();
  let hit = 0;
  let n = 0;
  t.forEach((v, i) => {
    if (v < 0) return;
    n++;
    if (pred[i] === v) hit++;
  });
  return hit / n;
}

describe('training a 2-layer Aaren', () => {
  it('learns to recall a marked token (>= 95 % vs 12.5 % chance), then streams the same predictions', () => {
    manualSeed(0);
    const model = new Recall();
    const opt = new optim.Adam(model.parameters(), { lr: 3e-3 });
    const data = new Generator(1);
    for (let step = 0; step < 250; step++) {
      tidy(() => {
        const { x, target } = makeBatch(data, 32);
        opt.zeroGrad();
        const logits = model.forward(x);
        nn.crossEntropy(logits.reshape([-1, VOCAB]), target.reshape([-1])).backward();
        opt.step();
      });
    }
    model.eval();
    const test = makeBatch(new Generator(99), 64);
    const logits = noGrad(() => model.forward(test.x));
    const acc = accuracy(logits, test.target);
    expect(acc).toBeGreaterThanOrEqual(0.95);

    // Streaming the trained model token by token reproduces its parallel outputs.
    const streamed = noGrad(() => {
      let state = model.body.initState(64);
      const outs: Tensor[] = [];
      for (let t = 0; t < T; t++) {
        const e = model.embed.forward(test.x.slice(1, t, t + 1).squeeze(1));
        const r = model.body.step(e, state);
        state = r.state;
        outs.push(model.head.forward(r.y));
      }
      return stack(outs, 1);
    });
    expect(streamed.sub(logits).abs().max().item()).toBeLessThan(1e-4);
    expect(accuracy(streamed, test.target)).toBe(acc);
    expect(streamed.argmax(-1).eq(logits.argmax(-1)).min().item()).toBe(1);
  }, 300_000);
});
