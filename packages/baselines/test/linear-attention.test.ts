import { manualSeed, noGrad, randn, stateBytes, tensor } from '@recur/tensor';
import { describe, expect, it } from 'vitest';
import {
  eluFeatureMap,
  LINEAR_ATTENTION_EPS,
  LinearAttention,
  Transformer,
  TransformerBlock,
} from '../src/index.js';
import {
  attentionWeights,
  maxAbsDiff,
  maxRelErr,
  naiveLinearAttention,
  streamAll,
} from './helpers.js';

describe('LinearAttention', () => {
  it('φ = elu + 1: x + 1 above 0, eˣ below, finite gradients at ±200', () => {
    const x = tensor([-200, -3, -0.5, 0, 0.5, 200], { requiresGrad: true });
    const y = eluFeatureMap(x);
    const ref = [0, Math.exp(-3), Math.exp(-0.5), 1, 1.5, 201];
    (y.arraySync() as number[]).forEach((v, i) => {
      expect(v).toBeCloseTo(ref[i]!, 6);
    });
    y.sum().backward();
    expect(Array.from(x.grad!.dataSync())).toEqual(
      [0, Math.exp(-3), Math.exp(-0.5), 1, 1, 1].map((v) => Math.fround(v)),
    );
  });

  for (const causal of [true, false]) {
    it(`matches a naive float64 linear attention (${causal ? 'causal' : 'non-causal'})`, () => {
      manualSeed(causal ? 1 : 2);
      const layer = new LinearAttention({ dModel: 12, nHeads: 3, causal });
      const x = randn([2, 11, 12]).mul(6);
      const xs = x.arraySync() as number[][][];
      const ref = naiveLinearAttention(attentionWeights(layer), xs, causal, LINEAR_ATTENTION_EPS);
      expect(maxRelErr(ref, layer.forward(x))).toBeLessThan(2e-5);
    });
  }

  it('stays finite when every φ(k) underflows to 0 (ε in the denominator)', () => {
    manualSeed(6);
    const layer = new LinearAttention({ dModel: 4, nHeads: 2 });
    noGrad(() => layer.wk.bias!.assign(layer.wk.bias!.sub(300)));
    const x = randn([1, 5, 4]).mul(0.1);
    const y = layer.forward(x);
    expect(y.isfinite().min().item()).toBe(1);
    const ref = naiveLinearAttention(
      attentionWeights(layer),
      x.arraySync() as number[][][],
      true,
      LINEAR_ATTENTION_EPS,
    );
    expect(maxRelErr(ref, y)).toBeLessThan(1e-5);
    expect(maxAbsDiff(streamAll(layer, x).y, y)).toBe(0);
  });

  it('recurrent step = parallel = chunked, with a constant-size state', () => {
    manualSeed(3);
    const layer = new LinearAttention({ dModel: 8, nHeads: 2 });
    const size = stateBytes(layer.initState(3));
    expect(size).toBe(3 * 2 * (4 * 4 + 4) * 4);
    for (const T of [1, 2, 13]) {
      const x = randn([3, T, 8]).mul(4);
      const y = layer.forward(x);
      const streamed = streamAll(layer, x);
      expect(maxAbsDiff(y, streamed.y)).toBeLessThan(1e-5);
      expect(stateBytes(streamed.state)).toBe(size);
      for (const c of [1, 3, 5, T]) {
        const chunked = layer.forwardChunked(x, c);
        expect(maxAbsDiff(y, chunked.y)).toBeLessThan(1e-5);
        expect(maxAbsDiff(chunked.state.S!, streamed.state.S!)).toBeLessThan(1e-4);
      }
    }
  });

  it('is causal: later tokens never change earlier outputs', () => {
    manualSeed(4);
    const layer = new LinearAttention({ dModel: 8, nHeads: 2 });
    const x = randn([1, 8, 8]);
    const noise = randn([1, 3, 8])
      .mul(50)
      .pad([
        [0, 0],
        [5, 0],
        [0, 0],
      ]);
    const y = layer.forward(x);
    const y2 = layer.forward(x.add(noise));
    expect(maxAbsDiff(y.slice(1, 0, 5), y2.slice(1, 0, 5))).toBe(0);
    expect(maxAbsDiff(y.slice(1, 5), y2.slice(1, 5))).toBeGreaterThan(1e-3);
  });

  it('in a Transformer: same parameters as softmax attention, state S and z per layer', () => {
    manualSeed(5);
    const soft = new TransformerBlock({ dModel: 16, nHeads: 4, dFF: 32 });
    const lin = new TransformerBlock({ dModel: 16, nHeads: 4, dFF: 32, attention: 'linear' });
    expect(lin.numParameters()).toBe(soft.numParameters());
    const model = new Transformer({ nLayers: 2, dModel: 8, nHeads: 2, attention: 'linear' });
    expect(Object.keys(model.initState(2))).toEqual([
      'layers.0.S',
      'layers.0.z',
      'layers.1.S',
      'layers.1.z',
    ]);
    const x = randn([2, 9, 8]).mul(3);
    noGrad(() => {
      const y = model.forward(x);
      expect(maxAbsDiff(y, streamAll(model, x).y)).toBeLessThan(1e-5);
      expect(maxAbsDiff(y, model.forwardChunked(x, 4).y)).toBeLessThan(1e-5);
    });
    expect(
      () => new TransformerBlock({ dModel: 8, nHeads: 2, attention: 'linear', maxCacheLength: 4 }),
    ).toThrow(/maxCacheLength applies to softmax attention only/);
  });

  it('rejects bad states and non-causal streaming with clear errors', () => {
    const layer = new LinearAttention({ dModel: 8, nHeads: 2 });
    expect(() => layer.run(randn([2, 3, 8]), { S: randn([2, 2, 4, 4]) })).toThrow(
      /state has no 'z'/,
    );
    expect(() =>
      layer.run(randn([2, 3, 8]), { S: randn([2, 2, 4, 3]), z: randn([2, 2, 4]) }),
    ).toThrow(/expected state 'S' of shape \[2, 2, 4, 4\], got \[2, 2, 4, 3\]/);
    const full = new LinearAttention({ dModel: 8, nHeads: 2, causal: false });
    expect(() => full.initState(1)).toThrow(/non-causal attention has no streaming form/);
  });
});
