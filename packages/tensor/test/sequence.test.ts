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
