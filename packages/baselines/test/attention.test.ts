import { AarenBlock } from '@recur/aaren';
import {
  loadSafetensors,
  manualSeed,
  noGrad,
  randn,
  type StreamState,
  saveSafetensors,
  stateBytes,
  type Tensor,
  tensor,
} from '@recur/tensor';
import { describe, expect, it } from 'vitest';
import {
  kvCacheBytes,
  kvCacheLength,
  MultiHeadAttention,
  Transformer,
  TransformerBlock,
} from '../src/index.js';
import {
  attentionWeights,
  layerNorm,
  maxAbsDiff,
  maxRelErr,
  naiveBlock,
  naiveSoftmaxAttention,
  scoreSpread,
  streamAll,
} from './helpers.js';

/** The keys a cache holds (its first `length` positions; the rest is unused capacity). */
function heldKeys(state: StreamState): Tensor {
  return state.k!.slice(2, 0, kvCacheLength(state));
}

describe('MultiHeadAttention', () => {
  for (const causal of [true, false]) {
    it(`matches a naive float64 softmax attention (${causal ? 'causal' : 'non-causal'}), scores spread over ±50`, () => {
      manualSeed(causal ? 1 : 2);
      const layer = new MultiHeadAttention({ dModel: 12, nHeads: 3, causal });
      const x = randn([2, 11, 12]).mul(12);
      const xs = x.arraySync() as number[][][];
      const w = attentionWeights(layer);
      expect(scoreSpread(w, xs)).toBeGreaterThan(100);
      expect(maxRelErr(naiveSoftmaxAttention(w, xs, causal), layer.forward(x))).toBeLessThan(2e-5);
      // T = 1 and an odd shape without biases.
      const one = randn([3, 1, 12]).mul(5);
      expect(
        maxRelErr(
          naiveSoftmaxAttention(w, one.arraySync() as number[][][], causal),
          layer.forward(one),
        ),
      ).toBeLessThan(2e-5);
    });
  }

  it('works without biases and with one head', () => {
    manualSeed(3);
    const layer = new MultiHeadAttention({ dModel: 5, nHeads: 1, bias: false });
    expect(layer.wq.bias).toBeNull();
    expect(layer.numParameters()).toBe(4 * 25);
    const x = randn([2, 7, 5]).mul(4);
    const w = attentionWeights(layer);
    expect(
      maxRelErr(naiveSoftmaxAttention(w, x.arraySync() as number[][][], true), layer.forward(x)),
    ).toBeLessThan(2e-5);
  });

  it('is causal: later tokens never change earlier outputs', () => {
    manualSeed(4);
    const layer = new MultiHeadAttention({ dModel: 8, nHeads: 2 });
    const x = randn([2, 10, 8]).mul(6);
    const y = layer.forward(x);
    for (const t of [0, 3, 8]) {
      const changed = x.slice(1, 0, t + 1).pad([
        [0, 0],
        [0, 9 - t],
        [0, 0],
      ]);
      const noise = randn([2, 9 - t, 8])
        .mul(100)
        .pad([
          [0, 0],
          [t + 1, 0],
          [0, 0],
        ]);
      const y2 = layer.forward(changed.add(noise));
      expect(maxAbsDiff(y.slice(1, 0, t + 1), y2.slice(1, 0, t + 1))).toBe(0);
      expect(maxAbsDiff(y.slice(1, t + 1), y2.slice(1, t + 1))).toBeGreaterThan(1e-3);
    }
    // Non-causal attention does look ahead.
    const full = new MultiHeadAttention({ dModel: 8, nHeads: 2, causal: false });
    const z = full.forward(x);
    const lastOnly = randn([2, 1, 8]).pad([
      [0, 0],
      [9, 0],
      [0, 0],
    ]);
    const z2 = full.forward(x.add(lastOnly));
    expect(maxAbsDiff(z.slice(1, 0, 1), z2.slice(1, 0, 1))).toBeGreaterThan(1e-4);
  });

  it('cached step = parallel forward = chunked forward (T = 1, prime and even T, B > 1)', () => {
    manualSeed(5);
    const layer = new MultiHeadAttention({ dModel: 8, nHeads: 2 });
    for (const T of [1, 2, 13, 16]) {
      const x = randn([3, T, 8]).mul(8);
      const y = layer.forward(x);
      const streamed = streamAll(layer, x);
      expect(maxAbsDiff(y, streamed.y)).toBeLessThan(1e-5);
      expect(kvCacheLength(streamed.state)).toBe(T);
      for (const c of [1, 2, 3, 7, T, T + 5]) {
        const chunked = layer.forwardChunked(x, c);
        expect(maxAbsDiff(y, chunked.y)).toBeLessThan(1e-5);
        // The cache after any chunking holds the same keys and values.
        expect(maxAbsDiff(heldKeys(chunked.state), heldKeys(streamed.state))).toBeLessThan(1e-5);
      }
    }
  });

  it('run(block, cache) attends to cache + block with the right causal offsets', () => {
    manualSeed(6);
    const layer = new MultiHeadAttention({ dModel: 8, nHeads: 4 });
    const x = randn([2, 12, 8]).mul(8);
    const w = attentionWeights(layer);
    const ref = naiveSoftmaxAttention(w, x.arraySync() as number[][][], true);
    const first = layer.run(x.slice(1, 0, 5));
    expect(first.state.k!.shape).toEqual([2, 4, 5, 2]);
    const second = layer.run(x.slice(1, 5, 9), first.state);
    const third = layer.run(x.slice(1, 9), second.state);
    expect(third.state.v!.shape).toEqual([2, 4, 12, 2]);
    const tail = ref.map((seq) => seq.slice(9));
    const middle = ref.map((seq) => seq.slice(5, 9));
    expect(maxRelErr(middle, second.y)).toBeLessThan(2e-5);
    expect(maxRelErr(tail, third.y)).toBeLessThan(2e-5);
  });

  it('the KV cache holds one key and one value per token: used bytes exactly linear, capacity doubling', () => {
    manualSeed(7);
    const layer = new MultiHeadAttention({ dModel: 8, nHeads: 2 });
    let state = layer.initState(3);
    expect(state.k!.shape).toEqual([3, 2, 0, 4]);
    expect(kvCacheBytes(state)).toEqual({ used: 0, allocated: 0 });
    expect(stateBytes(state)).toBe(4); // the int32 length
    noGrad(() => {
      for (let n = 1; n <= 40; n++) {
        state = layer.step(randn([3, 8]), state).state;
        const capacity = n <= 16 ? 16 : n <= 32 ? 32 : 64;
        expect(state.k!.shape).toEqual([3, 2, capacity, 4]);
        expect(kvCacheLength(state)).toBe(n);
        expect(kvCacheBytes(state)).toEqual({
          used: n * 2 * 3 * 8 * 4,
          allocated: capacity * 2 * 3 * 8 * 4,
        });
        expect(stateBytes(state)).toBe(capacity * 2 * 3 * 8 * 4 + 4);
      }
    });
  });

  it('maxCacheLength: a clear error when the cache would overflow, never a silent truncation', () => {
    manualSeed(8);
    const layer = new MultiHeadAttention({ dModel: 4, nHeads: 2, maxCacheLength: 3 });
    let state = layer.initState(1);
    noGrad(() => {
      for (let n = 0; n < 3; n++) state = layer.step(randn([1, 4]), state).state;
    });
    expect(kvCacheLength(state)).toBe(3);
    expect(() => layer.step(randn([1, 4]), state)).toThrow(
      /KV cache overflow: 3 cached \+ 1 new tokens = 4 exceeds maxCacheLength 3/,
    );
    expect(() => layer.forward(randn([1, 4, 4]))).toThrow(/exceeds maxCacheLength 3/);
    expect(layer.forward(randn([1, 3, 4])).shape).toEqual([1, 3, 4]);
    expect(() => new MultiHeadAttention({ dModel: 4, nHeads: 2, maxCacheLength: 0 })).toThrow(
      /maxCacheLength to be a positive integer, got 0/,
    );
  });

  it('non-causal attention has no streaming form: a clear error', () => {
    const layer = new MultiHeadAttention({ dModel: 4, nHeads: 2, causal: false });
    expect(() => layer.initState(1)).toThrow(/non-causal attention has no streaming form/);
    expect(() =>
      layer.run(randn([1, 2, 4]), { k: randn([1, 2, 1, 2]), v: randn([1, 2, 1, 2]) }),
    ).toThrow(/non-causal attention has no streaming form/);
    expect(() =>
      new Transformer({ nLayers: 1, dModel: 4, nHeads: 2, causal: false }).initState(1),
    ).toThrow(/no streaming form/);
    expect(layer.forward(randn([2, 3, 4])).shape).toEqual([2, 3, 4]);
  });

  it('rejects bad shapes and states with clear errors', () => {
    const layer = new MultiHeadAttention({ dModel: 8, nHeads: 2 });
    expect(() => layer.forward(randn([2, 3, 7]))).toThrow(
      /expected x of shape \[batch, tokens, 8\], got \[2, 3, 7\]/,
    );
    expect(() => new MultiHeadAttention({ dModel: 10, nHeads: 3 })).toThrow(/divisible/);
    expect(() => layer.step(randn([2, 1, 8]), layer.initState(2))).toThrow(/\[batch, features\]/);
    const length = (n: number) => tensor([n], { dtype: 'int32', shape: [] });
    expect(() =>
      layer.run(randn([2, 3, 8]), { k: randn([2, 2, 1, 4]), length: length(1) }),
    ).toThrow(/state has no 'v'/);
    expect(() =>
      layer.run(randn([2, 3, 8]), { k: randn([2, 2, 1, 4]), v: randn([2, 2, 1, 4]) }),
    ).toThrow(/state has no 'length'/);
    expect(() =>
      layer.run(randn([2, 3, 8]), {
        k: randn([2, 2, 1, 3]),
        v: randn([2, 2, 1, 3]),
        length: length(1),
      }),
    ).toThrow(/expected state 'k' of shape \[2, 2, capacity, 4\], got \[2, 2, 1, 3\]/);
    expect(() =>
      layer.run(randn([2, 3, 8]), {
        k: randn([2, 2, 2, 4]),
        v: randn([2, 2, 1, 4]),
        length: length(1),
      }),
    ).toThrow(/expected state 'v' of shape \[2, 2, 2, 4\], got \[2, 2, 1, 4\]/);
    expect(() =>
      layer.run(randn([2, 3, 8]), {
        k: randn([2, 2, 2, 4]),
        v: randn([2, 2, 2, 4]),
        length: length(3),
      }),
    ).toThrow(/expected state 'length' in \[0, 2\] \(the cache's capacity\), got 3/);
    expect(() =>
      layer.run(randn([2, 3, 8]), {
        k: randn([2, 2, 2, 4]),
        v: randn([2, 2, 2, 4]),
        length: tensor([1]),
      }),
    ).toThrow(/expected state 'length' to be an int32 scalar, got float32 of shape \[1\]/);
    expect(() => layer.step(randn([1, 8]), layer.initState(2))).toThrow(/'k' of shape \[1, 2/);
  });
});

describe('TransformerBlock and Transformer', () => {
  it('has the paper’s parameter count: 3,152,384 for d = 512, d_ff = 2048', () => {
    const block = new TransformerBlock({ dModel: 512, nHeads: 8, dFF: 2048 });
    expect(block.numParameters()).toBe(3_152_384);
  });

  it('is laid out exactly as AarenBlock: the same parameter names and shapes, less q0', () => {
    const opts = { dModel: 16, nHeads: 4, dFF: 40, activation: 'gelu' as const };
    const ours = new TransformerBlock(opts).namedParameters().map(([n, p]) => [n, p.shape]);
    const aaren = new AarenBlock(opts)
      .namedParameters()
      .filter(([n]) => n !== 'attn.q0')
      .map(([n, p]) => [n, p.shape]);
    expect(ours).toEqual(aaren);
    expect(new TransformerBlock(opts).act.constructor.name).toBe('GELU');
  });

  it('computes x + Attn(LN(x)), then + FF(LN(·)), and a final LayerNorm (float64 reference)', () => {
    manualSeed(12);
    const model = new Transformer({ nLayers: 2, dModel: 8, nHeads: 2, dFF: 12 });
    noGrad(() => {
      for (const p of model.parameters()) p.assign(p.add(randn(p.shape).mul(0.3)));
    });
    const x = randn([2, 6, 8]).mul(2);
    let h = x.arraySync() as number[][][];
    for (const layer of model.layers) {
      const w = attentionWeights(layer.attn);
      h = naiveBlock(layer, h, (normed) => naiveSoftmaxAttention(w, normed, true));
    }
    const g = model.norm.weight!.arraySync() as number[];
    const beta = model.norm.bias!.arraySync() as number[];
    const ref = h.map((seq) => seq.map((v) => layerNorm(v, g, beta)));
    expect(maxRelErr(ref, model.forward(x))).toBeLessThan(1e-4);
    // One block alone, non-causal.
    const block = new TransformerBlock({ dModel: 8, nHeads: 4, dFF: 16, causal: false });
    const wb = attentionWeights(block.attn);
    const xs = x.arraySync() as number[][][];
    const refBlock = naiveBlock(block, xs, (normed) => naiveSoftmaxAttention(wb, normed, false));
    expect(maxRelErr(refBlock, block.forward(x))).toBeLessThan(1e-4);
  });

  it('step = forward = chunked through a 2-layer model with scores over ±50', () => {
    manualSeed(9);
    const model = new Transformer({ nLayers: 2, dModel: 16, nHeads: 4, dFF: 32 });
    noGrad(() => {
      for (const layer of model.layers) layer.attn.wk.weight.assign(layer.attn.wk.weight.mul(40));
    });
    const x0 = randn([2, 13, 16]);
    const first = model.layers[0]!;
    expect(
      scoreSpread(
        attentionWeights(first.attn),
        first.norm1.forward(x0).arraySync() as number[][][],
      ),
    ).toBeGreaterThan(100);
    for (const T of [1, 7, 13]) {
      const x = x0.slice(1, 0, T);
      const y = model.forward(x);
      const streamed = streamAll(model, x);
      expect(maxAbsDiff(y, streamed.y)).toBeLessThan(1e-5);
      expect(Object.keys(streamed.state).sort()).toEqual([
        'layers.0.k',
        'layers.0.length',
        'layers.0.v',
        'layers.1.k',
        'layers.1.length',
        'layers.1.v',
      ]);
      expect(streamed.state['layers.1.k']!.shape).toEqual([2, 4, T, 4]);
      for (const c of [1, 2, 5, T]) {
        const chunked = model.forwardChunked(x, c);
        expect(maxAbsDiff(y, chunked.y)).toBeLessThan(1e-5);
        expect(kvCacheLength(chunked.state)).toBe(T);
      }
    }
  });

  it('resumes from a saved KV cache (safetensors) with identical outputs', () => {
    manualSeed(10);
    const model = new Transformer({ nLayers: 2, dModel: 8, nHeads: 2, dFF: 16 });
    const x = randn([2, 9, 8]).mul(3);
    const whole = model.forward(x);
    const first = model.forwardChunked(x.slice(1, 0, 4), 4);
    const restored = loadSafetensors(saveSafetensors(first.state));
    const rest = model.forwardChunked(x.slice(1, 4), 2, restored).y;
    expect(maxAbsDiff(rest, whole.slice(1, 4))).toBeLessThan(1e-5);
  });

  it('non-causal Transformer: forward only, differs from causal on earlier tokens', () => {
    manualSeed(11);
    const model = new Transformer({ nLayers: 1, dModel: 8, nHeads: 2, causal: false });
    const x = randn([1, 5, 8]);
    expect(model.forward(x).shape).toEqual([1, 5, 8]);
    expect(() => model.step(randn([1, 8]), {})).toThrow(
      /non-causal attention has no streaming form/,
    );
  });

  it('rejects bad options with clear errors', () => {
    expect(() => new Transformer({ nLayers: 0, dModel: 8, nHeads: 2 })).toThrow(
      /nLayers to be a positive integer, got 0/,
    );
    expect(
      () => new TransformerBlock({ dModel: 8, nHeads: 2, activation: 'tanh' as never }),
    ).toThrow(/unknown activation 'tanh'/);
    expect(
      () => new TransformerBlock({ dModel: 8, nHeads: 2, attention: 'fast' as never }),
    ).toThrow(/unknown attention 'fast'/);
    expect(() => new TransformerBlock({ dModel: 8, nHeads: 2, dFF: 0 })).toThrow(/dFF/);
  });
});
