import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
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
import { Aft } from '../src/index.js';

const DATA = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '../../../../shared/data/tinyshakespeare/input.txt',
);
const present = existsSync(DATA);
if (!present) console.warn(`SKIPPED the tiny-shakespeare language model test: ${DATA} is absent`);

const T = 64;

class CharModel extends nn.Module {
  embed: nn.Embedding;
  body: Aft;
  head: nn.Linear;
  constructor(vocab: number, d: number) {
    super();
    this.embed = new nn.Embedding(vocab, d);
    this.body = new Aft({
      variant: 'local',
      nLayers: 2,
      dModel: d,
      dFF: 2 * d,
      maxLen: T,
      window: 8,
      posDim: 16,
      activation: 'gelu',
    });
    this.head = new nn.Linear(d, vocab);
  }
  override forward(ids: Tensor): Tensor {
    return this.head.forward(this.body.forward(this.embed.forward(ids) as Tensor));
  }
}

/** Add-one bigram bits per character of `val` after counting `train`. */
function bigramBpc(train: Int32Array, val: Int32Array, vocab: number): number {
  const counts = new Float64Array(vocab * vocab).fill(1);
  const rows = new Float64Array(vocab).fill(vocab);
  for (let i = 1; i < train.length; i++) {
    counts[train[i - 1]! * vocab + train[i]!]!++;
    rows[train[i - 1]!]!++;
  }
  let bits = 0;
  for (let i = 1; i < val.length; i++)
    bits -= Math.log2(counts[val[i - 1]! * vocab + val[i]!]! / rows[val[i - 1]!]!);
  return bits / (val.length - 1);
}

describe.skipIf(!present)(
  `an AFT-local character language model on tiny-shakespeare${present ? '' : ` (SKIPPED: ${DATA} is absent)`}`,
  () => {
    it('beats the add-one bigram (3.58 bits per character) on validation after a short run', () => {
      const start = performance.now();
      const text = readFileSync(DATA, 'utf8');
      const chars = [...new Set(text)].sort();
      const index = new Map(chars.map((c, i) => [c, i]));
      const ids = Int32Array.from(text, (c) => index.get(c) as number);
      const cut = Math.floor(ids.length * 0.9);
      const train = ids.subarray(0, cut);
      const val = ids.subarray(cut);
      const baseline = bigramBpc(train, val, chars.length);
      expect(baseline).toBeCloseTo(3.58, 2);

      manualSeed(0);
      const model = new CharModel(chars.length, 64);
      const opt = new optim.Adam(model.parameters(), { lr: 6e-3 });
      const g = new Generator(1);
      const batchOf = (src: Int32Array, starts: number[]) => {
        const x = new Int32Array(starts.length * T);
        const y = new Int32Array(starts.length * T);
        starts.forEach((s, b) => {
          x.set(src.subarray(s, s + T), b * T);
          y.set(src.subarray(s + 1, s + T + 1), b * T);
        });
        return {
          x: tensor(x, { shape: [starts.length, T] }),
          y: tensor(y, { shape: [starts.length * T] }),
        };
      };
      const steps = 150;
      for (let step = 0; step < steps; step++) {
        tidy(() => {
          const { x, y } = batchOf(
            train,
            Array.from({ length: 16 }, () => g.nextInt(0, train.length - T - 1)),
          );
          opt.zeroGrad();
          const loss = nn.crossEntropy(model.forward(x).reshape([-1, chars.length]), y);
          loss.backward();
          opt.step();
          if (step % 50 === 0)
            console.log(`step ${step}: loss ${(loss.item() / Math.LN2).toFixed(3)} bits`);
        });
      }
      const trained = performance.now();
      // Validation: 128 evenly spaced windows of 64 characters (8,192 predictions).
      model.eval();
      const starts = Array.from({ length: 128 }, (_, i) =>
        Math.floor((i * (val.length - T - 1)) / 128),
      );
      let nats = 0;
      noGrad(() => {
        for (let i = 0; i < starts.length; i += 32) {
          tidy(() => {
            const { x, y } = batchOf(val, starts.slice(i, i + 32));
            const l = nn.crossEntropy(model.forward(x).reshape([-1, chars.length]), y);
            nats += l.item() * y.size;
          });
        }
      });
      const bpc = nats / (starts.length * T) / Math.LN2;
      console.log(
        `AFT-local LM: validation ${bpc.toFixed(3)} bits/char (add-one bigram ${baseline.toFixed(3)}) after ${steps} steps; train ${((trained - start) / 1000).toFixed(1)} s, total ${((performance.now() - start) / 1000).toFixed(1)} s`,
      );
      expect(bpc).toBeLessThan(3.58);

      // The trained model streams: one character at a time, the same logits as in parallel.
      const { x } = batchOf(val, [starts[0] as number, starts[64] as number]);
      const parallel = noGrad(() => model.forward(x));
      const streamed = noGrad(() => {
        let state = model.body.initState(2);
        const out: Tensor[] = [];
        for (let t = 0; t < T; t++) {
          const e = model.embed.forward(x.slice(1, t, t + 1).squeeze(1)) as Tensor;
          const r = model.body.step(e, state);
          state = r.state;
          out.push(model.head.forward(r.y));
        }
        return stack(out, 1);
      });
      expect(streamed.sub(parallel).abs().max().item()).toBeLessThan(1e-3);
    }, 300_000);
  },
);
