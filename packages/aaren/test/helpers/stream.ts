import { disposeState, manualSeed, memory, noGrad, randn, stateBytes, tidy } from '@recur/tensor';
import { expect } from 'vitest';
import { Aaren } from '../../src/index.js';

/**
 * Streams `tokens` steps through a 1-layer Aaren and checks that the state keeps its size, stays
 * finite, and that live CPU memory after token 1,000 does not grow (nothing accumulates per token).
 */
export function expectFlatStream(tokens: number): void {
  manualSeed(6);
  const model = new Aaren({ nLayers: 1, dModel: 8, nHeads: 2, dFF: 8 });
  const token = randn([1, 8]);
  let state = model.initState(1);
  const size = stateBytes(state);
  let bytesAt1k = 0;
  let tensorsAt1k = 0;
  noGrad(() => {
    for (let t = 1; t <= tokens; t++) {
      const next = tidy(() => model.step(token, state).state);
      disposeState(state);
      state = next;
      if (t === 1000) {
        bytesAt1k = memory().cpu!.bytes;
        tensorsAt1k = memory().cpu!.tensors;
      }
    }
  });
  expect(stateBytes(state)).toBe(size);
  expect(Object.values(state).every((v) => v.isfinite().min().item() === 1)).toBe(true);
  // Flat: nothing accumulates per token (a few stray bytes from earlier tests may be collected late).
  expect(memory().cpu!.bytes - bytesAt1k).toBeLessThan(4096);
  expect(memory().cpu!.tensors - tensorsAt1k).toBeLessThan(16);
}
