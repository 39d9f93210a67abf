import {
  loadSafetensors,
  manualSeed,
  noGrad,
  randn,
  type StreamState,
  saveSafetensors,
  stack,
  type Tensor,
} from '@recur/tensor';
import { describe, expect, it } from 'vitest';
import {
  kvCacheBytes,
  kvCacheLength,
  MultiHeadAttention,
  Transformer,
  trimKvCache,
} from '../src/index.js';
import { attentionWeights, maxAbsDiff, maxRelErr, naiveSoftmaxAttention } from './helpers.js';

/**
 * The preallocated KV cache (writes in place, capacity doubling) against the concatenating one:
 * with gradients on, MultiHeadAttention takes the pure path (a new cache tensor per call), under
 * noGrad() the in-place one; both must give the same numbers, and both must match a float64
 * softmax attention written here.
 */

type Steppable = {
  initState(b: number): StreamState;
  step(x: Tensor, s: StreamState): { y: Tensor; state: StreamState };
};

/** Steps every token of x [B, T, d]; the outputs [B, T, d] and the capacity after each step. */
function stepAll(m: Steppable, x: Tensor, key: string, state?: StreamState) {
  let s = state ?? m.initState(x.shape[0] as number);
  const ys: Tensor[] = [];
  const capacities: number[] = [];
  const buffers = new Set<Tensor>();
  for (let t = 0; t < (x.shape[1] as number); t++) {
    const out = m.step(x.slice(1, t, t + 1).squeeze(1), s);
    ys.push(out.y);
    s = out.state;
    capacities.push(s[key]!.shape[2] as number);
    buffers.add(s[key]!);
  }
  return { y: stack(ys, 1), state: s, capacities, buffers: buffers.size };
}

describe('KV cache with preallocated capacity', () => {
  it('equals the concatenating cache and the float64 reference over 70 steps (4 doublings), B = 3', () => {
    manualSeed(11);
    const layer = new MultiHeadAttention({ dModel: 12, nHeads: 3 });
    const x = randn([3, 70, 12]).mul(6);
    const concatenating = stepAll(layer, x, 'k'); // gradients on: the pure path
    expect(concatenating.capacities).toEqual(Array.from({ length: 70 }, (_, i) => i + 1));
    const inPlace = noGrad(() => stepAll(layer, x, 'k'));
    // Identical numbers: the same kernel over the same keys (the capacity's tail is never read).
    expect(maxAbsDiff(inPlace.y, concatenating.y)).toBe(0);
    const ref = naiveSoftmaxAttention(attentionWeights(layer), x.arraySync() as number[][][], true);
    expect(maxRelErr(ref, inPlace.y)).toBeLessThan(2e-5);
    // Capacity 16, then doubled when full: 5 buffers for 70 tokens, each copy amortised.
    const expected = Array.from({ length: 70 }, (_, i) =>
      i < 16 ? 16 : i < 32 ? 32 : i < 64 ? 64 : 128,
    );
    expect(inPlace.capacities).toEqual(expected);
    expect(inPlace.buffers).toBe(4);
    expect(kvCacheLength(inPlace.state)).toBe(70);
    expect(kvCacheBytes(inPlace.state)).toEqual({
      used: 2 * 3 * 70 * 12 * 4,
      allocated: 2 * 3 * 128 * 12 * 4,
    });
    // The held keys are the concatenated cache's.
    const held = inPlace.state.k!.slice(2, 0, 70);
    expect(maxAbsDiff(held, concatenating.state.k!)).toBe(0);
  });

  it('writes tokens in place between doublings (the same buffer, a new version each step)', () => {
    manualSeed(12);
    const layer = new MultiHeadAttention({ dModel: 8, nHeads: 2 });
    noGrad(() => {
      let s = layer.initState(2);
      s = layer.step(randn([2, 8]), s).state;
      const buffer = s.k!;
      let version = buffer.version;
      for (let n = 2; n <= 16; n++) {
        s = layer.step(randn([2, 8]), s).state;
        expect(s.k).toBe(buffer);
        expect(buffer.version).not.toBe(version);
        version = buffer.version;
      }
      s = layer.step(randn([2, 8]), s).state;
      expect(s.k).not.toBe(buffer);
      expect(s.k!.shape[2]).toBe(32);
    });
  });

  it('T = 1 and B = 1: one token, and a model of two layers streaming through doublings', () => {
    manualSeed(13);
    const model = new Transformer({ nLayers: 2, dModel: 8, nHeads: 2, dFF: 16 });
    const x = randn([1, 40, 8]).mul(3);
    const whole = model.forward(x);
    const one = noGrad(() => stepAll(model, x.slice(1, 0, 1), 'layers.1.k'));
    expect(maxAbsDiff(one.y, whole.slice(1, 0, 1))).toBeLessThan(1e-5);
    expect(one.capacities).toEqual([16]);
    const all = noGrad(() => stepAll(model, x, 'layers.1.k'));
    expect(maxAbsDiff(all.y, whole)).toBeLessThan(1e-5);
    expect(all.capacities[39]).toBe(64);
  });

  it('forwardChunked under noGrad (blocks crossing doublings) equals the parallel forward', () => {
    manualSeed(14);
    const model = new Transformer({ nLayers: 2, dModel: 8, nHeads: 2, dFF: 16 });
    const x = randn([2, 45, 8]).mul(3);
    const whole = model.forward(x);
    for (const c of [1, 5, 7, 15, 17, 45]) {
      const chunked = noGrad(() => model.forwardChunked(x, c));
      expect(maxAbsDiff(chunked.y, whole)).toBeLessThan(1e-5);
      expect(kvCacheLength(chunked.state)).toBe(45);
    }
  });

  it('a state continued twice (branches) keeps both continuations right', () => {
    manualSeed(15);
    const layer = new MultiHeadAttention({ dModel: 8, nHeads: 2 });
    const x = randn([2, 10, 8]).mul(4);
    const other = randn([2, 3, 8]).mul(4);
    const w = attentionWeights(layer);
    noGrad(() => {
      const trunk = stepAll(layer, x.slice(1, 0, 5), 'k').state;
      // Branch A continues with x[5..9], branch B with `other`, both from `trunk`, interleaved.
      let a = trunk;
      let b = trunk;
      const ya: Tensor[] = [];
      const yb: Tensor[] = [];
      for (let t = 0; t < 5; t++) {
        const sa = layer.step(x.slice(1, 5 + t, 6 + t).squeeze(1), a);
        ya.push(sa.y);
        a = sa.state;
        if (t < 3) {
          const sb = layer.step(other.slice(1, t, t + 1).squeeze(1), b);
          yb.push(sb.y);
          b = sb.state;
        }
      }
      const refA = naiveSoftmaxAttention(w, x.arraySync() as number[][][], true).map((s) =>
        s.slice(5),
      );
      const xb = x.slice(1, 0, 5).arraySync() as number[][][];
      const ob = other.arraySync() as number[][][];
      const refB = naiveSoftmaxAttention(
        w,
        xb.map((s, i) => [...s, ...(ob[i] as number[][])]),
        true,
      ).map((s) => s.slice(5));
      expect(maxRelErr(refA, stack(ya, 1))).toBeLessThan(2e-5);
      expect(maxRelErr(refB, stack(yb, 1))).toBeLessThan(2e-5);
      // The trunk itself is still intact: stepping it again gives branch A's first output.
      const again = layer.step(x.slice(1, 5, 6).squeeze(1), trunk).y;
      expect(maxAbsDiff(again, ya[0] as Tensor)).toBeLessThan(1e-6);
    });
  });

  it('continues a cache loaded from safetensors (capacity and all)', () => {
    manualSeed(16);
    const model = new Transformer({ nLayers: 2, dModel: 8, nHeads: 2, dFF: 16 });
    const x = randn([2, 24, 8]).mul(3);
    const whole = model.forward(x);
    noGrad(() => {
      const first = stepAll(model, x.slice(1, 0, 10), 'layers.0.k');
      expect(first.state['layers.0.k']!.shape[2]).toBe(16);
      const restored = loadSafetensors(saveSafetensors(first.state));
      const rest = stepAll(model, x.slice(1, 10), 'layers.0.k', restored);
      expect(maxAbsDiff(rest.y, whole.slice(1, 10))).toBeLessThan(1e-5);
      expect(kvCacheLength(rest.state)).toBe(24);
    });
  });

  it('maxCacheLength caps the capacity and still gives the overflow error', () => {
    manualSeed(17);
    const layer = new MultiHeadAttention({ dModel: 4, nHeads: 2, maxCacheLength: 20 });
    const x = randn([1, 20, 4]);
    const run = noGrad(() => stepAll(layer, x, 'k'));
    expect(run.capacities.slice(14)).toEqual([16, 16, 20, 20, 20, 20]);
    expect(() => noGrad(() => layer.step(randn([1, 4]), run.state))).toThrow(
      /KV cache overflow: 20 cached \+ 1 new tokens = 21 exceeds maxCacheLength 20/,
    );
    // A block that would overflow is refused before anything is written.
    const part = noGrad(() => stepAll(layer, x.slice(1, 0, 18), 'k'));
    expect(() => noGrad(() => layer.run(randn([1, 3, 4]), part.state))).toThrow(
      /18 cached \+ 3 new tokens = 21 exceeds maxCacheLength 20/,
    );
    expect(kvCacheLength(part.state)).toBe(18);
  });
});

describe('trimKvCache', () => {
  it('keeps the last tokens of every layer, and then streams on in place', () => {
    manualSeed(5);
    const model = new Transformer({ dModel: 8, nHeads: 2, nLayers: 2 });
    const x = randn([2, 23, 8]);
    noGrad(() => {
      const { state } = stepAll(model, x, 'layers.0.k');
      expect(kvCacheLength(state)).toBe(23);
      const trimmed = trimKvCache(state, 7);
      expect(kvCacheLength(trimmed)).toBe(7);
      for (const layer of ['layers.0.', 'layers.1.']) {
        for (const kv of ['k', 'v']) {
          const full = state[`${layer}${kv}`]!.slice(2, 16, 23);
          expect(trimmed[`${layer}${kv}`]!.shape).toEqual([2, 2, 7, 4]);
          expect(maxAbsDiff(trimmed[`${layer}${kv}`]!, full)).toBe(0);
        }
        expect(trimmed[`${layer}length`]!.dataSync()[0]).toBe(7);
      }
      // A cache at or under the window is untouched; the trimmed one keeps streaming.
      expect(trimKvCache(trimmed, 7)['layers.0.k']).toBe(trimmed['layers.0.k']);
      const next = model.step(x.slice(1, 0, 1).squeeze(1), trimmed);
      expect(kvCacheLength(next.state)).toBe(8);
      expect(() => trimKvCache(state, -1)).toThrow('expected tokens to be an integer >= 0, got -1');
    });
  });
});
