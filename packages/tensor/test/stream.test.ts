import { describe, expect, it } from 'vitest';
import {
  memory,
  noGrad,
  randn,
  SequenceModule,
  Stream,
  type StreamState,
  type Tensor,
  tidy,
  zeros,
} from '../src/index.js';

/** Running sum of the tokens plus a constant 'bias' entry the step passes through unchanged. */
class SumWithConstant extends SequenceModule {
  run(x: Tensor, state?: StreamState): { y: Tensor; state: StreamState } {
    const s = state ?? this.initState(x.shape[0] as number);
    const y = x
      .cumsum(1)
      .add((s.sum as Tensor).unsqueeze(1))
      .add((s.bias as Tensor).unsqueeze(1));
    const sum = x.sum(1).add(s.sum as Tensor);
    return { y, state: { sum, bias: s.bias as Tensor } };
  }
  initState(batch: number): StreamState {
    return { sum: zeros([batch, 3]), bias: zeros([batch, 3]).add(1) };
  }
}

const live = () => memory().cpu?.tensors ?? 0;

describe('Stream', () => {
  it('frees each replaced state at once, keeps what the next state shares, and matches forward()', () => {
    const model = new SumWithConstant();
    const x = randn([2, 50, 3]);
    noGrad(() => {
      const parallel = model.forward(x);
      const stream = model.stream(2);
      let maxDiff = 0;
      for (let t = 0; t < 50; t++) {
        const sum = stream.state.sum as Tensor;
        tidy(() => {
          const y = stream.step(x.slice(1, t, t + 1).squeeze(1));
          const ref = parallel.slice(1, t, t + 1).squeeze(1);
          maxDiff = Math.max(maxDiff, y.sub(ref).abs().max().item());
        });
        expect(sum.isDisposed).toBe(true);
      }
      expect(maxDiff).toBeLessThan(1e-5);
      const bias = stream.state.bias as Tensor;
      expect(bias.isDisposed).toBe(false);
      expect(Array.from(bias.dataSync())).toEqual([1, 1, 1, 1, 1, 1]);
      stream.dispose();
      expect(bias.isDisposed).toBe(true);
      expect(() => stream.step(x.slice(1, 0, 1).squeeze(1))).toThrow(/disposed/);
    });
  });

  it('holds constant live tensors over many steps, inside or outside tidy()', () => {
    const model = new SumWithConstant();
    noGrad(() => {
      const stream = new Stream(model, 1);
      const xt = randn([1, 3]);
      let at10 = 0;
      for (let t = 0; t < 2000; t++) {
        tidy(() => stream.step(xt).sum().item());
        if (t === 10) at10 = live();
      }
      expect(live()).toBe(at10);
      // A state created inside a tidy() survives it.
      const inner = tidy(() => model.stream(model.initState(1)));
      inner.step(xt);
      expect((inner.state.sum as Tensor).isDisposed).toBe(false);
      inner.dispose();
      stream.dispose();
    });
  });
});
