import { describe, expect, it } from 'vitest';
import {
  manualSeed,
  nn,
  randn,
  SequenceModule,
  type StreamState,
  stack,
  type Tensor,
  zeros,
} from '../src/index.js';

/** A toy causal mixer: the running sum of the tokens, its state the sum so far. */
class RunningSum extends SequenceModule {
  constructor(readonly d: number) {
    super();
  }
  run(x: Tensor, state?: StreamState): { y: Tensor; state: StreamState } {
    const before = state?.sum ?? zeros([x.shape[0] as number, this.d]);
    const y = x.cumsum(1).add(before.unsqueeze(1));
    return { y, state: { sum: y.slice(1, (x.shape[1] as number) - 1).squeeze(1) } };
  }
  initState(batch: number): StreamState {
    return { sum: zeros([batch, this.d]) };
  }
}

describe('PreNormBlock and SequenceStack', () => {
  it('compute x + M(LN(x)) then + FF(LN(·)), and a final LayerNorm over the stack', () => {
    manualSeed(0);
    const block = new nn.PreNormBlock(new RunningSum(6), {
      dModel: 6,
      dFF: 10,
      activation: 'gelu',
    });
    const x = randn([2, 5, 6]);
    const h = x.add(
      x
        .sub(x.mean(-1, true))
        .div(x.var(-1, true, 0).add(1e-5).sqrt())
        .cumsum(1),
    );
    const ln2 = h.sub(h.mean(-1, true)).div(h.var(-1, true, 0).add(1e-5).sqrt());
    const ff = block.ff2.forward(block.ff1.forward(ln2).gelu());
    expect(block.forward(x).sub(h.add(ff)).abs().max().item()).toBeLessThan(1e-5);
    expect(block.numParameters()).toBe(2 * 12 + (6 * 10 + 10) + (10 * 6 + 6));
  });

  it('streams a stack token by token with the same outputs and prefixed state keys', () => {
    manualSeed(1);
    const model = new nn.SequenceStack(
      [0, 1, 2].map(() => new nn.PreNormBlock(new RunningSum(4), { dModel: 4 })),
      4,
    );
    const x = randn([3, 7, 4]);
    let state = model.initState(3);
    expect(Object.keys(state)).toEqual(['layers.0.sum', 'layers.1.sum', 'layers.2.sum']);
    const ys: Tensor[] = [];
    for (let t = 0; t < 7; t++) {
      const out = model.step(x.slice(1, t, t + 1).squeeze(1), state);
      ys.push(out.y);
      state = out.state;
    }
    expect(stack(ys, 1).sub(model.forward(x)).abs().max().item()).toBeLessThan(1e-5);
    expect(model.forwardChunked(x, 3).y.sub(model.forward(x)).abs().max().item()).toBeLessThan(
      1e-5,
    );
  });

  it('rejects bad sizes, activations and token shapes by name', () => {
    expect(() => new nn.PreNormBlock(new RunningSum(4), { dModel: 0 })).toThrow(
      /dModel to be a positive integer, got 0/,
    );
    expect(
      () => new nn.PreNormBlock(new RunningSum(4), { dModel: 4, activation: 'tanh' as 'relu' }),
    ).toThrow(/unknown activation 'tanh'/);
    expect(() => new nn.SequenceStack([], 4)).toThrow(/at least one layer/);
    const block = new nn.PreNormBlock(new RunningSum(4), { dModel: 4 });
    expect(() => block.forward(randn([2, 4]))).toThrow(
      /expected x of shape \[batch, tokens, 4\], got \[2, 4\]/,
    );
  });
});

describe('HeadedAttention', () => {
  class Probe extends nn.HeadedAttention {
    get stateKeys(): readonly string[] {
      return [];
    }
    run(x: Tensor): { y: Tensor; state: StreamState } {
      this.checkRun('Probe', x, false, 'stream');
      // Splitting then merging is W_o applied to the unchanged tokens.
      return { y: this.mergeHeads(this.splitHeads(x)), state: {} };
    }
    initState(): StreamState {
      return {};
    }
    heads(x: Tensor): Tensor {
      return this.splitHeads(x);
    }
  }

  it('splits [B, T, d] into [B, H, T, d/H] by contiguous groups and merges back through W_o', () => {
    manualSeed(2);
    const p = new Probe('Probe', { dModel: 6, nHeads: 3 });
    const x = randn([2, 5, 6]);
    const h = p.heads(x);
    expect(h.shape).toEqual([2, 3, 5, 2]);
    // Head 1 of token (1, 4) holds features 2 and 3 of that token.
    expect(Array.from(h.slice(0, 1, 2).slice(1, 1, 2).slice(2, 4, 5).dataSync())).toEqual(
      Array.from(x.slice(0, 1, 2).slice(1, 4, 5).slice(2, 2, 4).dataSync()),
    );
    expect(p.forward(x).sub(p.wo.forward(x)).abs().max().item()).toBe(0);
    expect(p.numParameters()).toBe(4 * (6 * 6 + 6));
  });

  it('names what is wrong', () => {
    expect(() => new Probe('Probe', { dModel: 10, nHeads: 4 })).toThrow(
      /dModel \(10\) must be divisible by nHeads \(4\)/,
    );
    const p = new Probe('Probe', { dModel: 4, nHeads: 2, causal: false });
    expect(() =>
      (p as unknown as { checkRun(...a: unknown[]): void }).checkRun(
        'Probe',
        randn([1, 2, 4]),
        true,
        'stream',
      ),
    ).toThrow(/non-causal attention has no streaming form/);
  });
});

describe('nn.checkShape', () => {
  it('passes exact shapes and null wildcards, and names op, tensor, labels and sizes when not', () => {
    const t = zeros([2, 4, 7]);
    expect(() => nn.checkShape('Op', "state 'k'", t, [2, 4, 7])).not.toThrow();
    expect(() => nn.checkShape('Op', "state 'k'", t, [2, null, 7])).not.toThrow();
    expect(() => nn.checkShape('Op', "state 'k'", t, [2, 4, 7, 16], ['b', 'h', 'tokens'])).toThrow(
      "Op: expected state 'k' of shape [2, 4, 7, 16], got [2, 4, 7]",
    );
    expect(() => nn.checkShape('Op', 'x', t, [3, null, 7], ['batch', 'tokens'])).toThrow(
      'expected x of shape [3, tokens, 7], got [2, 4, 7]',
    );
    expect(() => nn.checkShape('Op', 'x', t, [2, 4, null, 1])).toThrow(
      'expected x of shape [2, 4, *, 1]',
    );
    expect(() => nn.checkShape('Op', 'x', zeros([]), [1])).toThrow('got []');
  });
});
