import {
  loadSafetensors,
  manualSeed,
  noGrad,
  randn,
  type StreamState,
  saveSafetensors,
  stateBytes,
  stateFromJSON,
  stateToJSON,
  type Tensor,
} from '@recur/tensor';
import { describe, expect, it } from 'vitest';
import {
  Aft,
  AftConv1d,
  AftFull,
  AftLocal,
  type AftSequenceLayer,
  AftSimple,
  type AftVariant,
} from '../src/index.js';
import { maxAbsDiff, scaleParam, setParam, streamAll } from './reference.js';

const D = 8;

/** Every causal layer, with biases and kernels away from their (near-zero) initial values. */
function causalLayers(): [string, AftSequenceLayer][] {
  const full = new AftFull({ dModel: D, maxLen: 40, posDim: 4 });
  const local = new AftLocal({ dModel: D, maxLen: 40, window: 4, posDim: 4 });
  for (const l of [full, local]) {
    setParam(l.posU, randn(l.posU.shape as number[]));
    setParam(l.posV, randn(l.posV.shape as number[]));
  }
  const conv = new AftConv1d({ dModel: D, heads: 2, window: 5 });
  setParam(conv.gamma, randn([2]));
  setParam(conv.beta, randn([2]));
  const layers: [string, AftSequenceLayer][] = [
    ['full', full],
    ['local', local],
    ['simple', new AftSimple({ dModel: D })],
    ['conv1d', conv],
  ];
  for (const [, l] of layers)
    scaleParam((l as unknown as { wk: { weight: Tensor } }).wk.weight, 40);
  return layers;
}

describe('streaming = parallel for every causal variant', () => {
  manualSeed(1);
  for (const [name, layer] of causalLayers()) {
    it(`${name}: step by step and in chunks, B = 3, T = 1, 2, 13, 17`, () => {
      manualSeed(2);
      for (const T of [1, 2, 13, 17]) {
        const x = randn([3, T, D]).mul(3);
        const y = layer.forward(x);
        expect(maxAbsDiff(y, streamAll(layer, x).y), `T = ${T} streamed`).toBeLessThan(2e-5);
        for (const c of [1, 2, 3, 5, T, T + 4]) {
          expect(
            maxAbsDiff(y, layer.forwardChunked(x, c).y),
            `T = ${T}, chunks of ${c}`,
          ).toBeLessThan(2e-5);
        }
      }
    });
  }

  it('is causal: later tokens never change earlier outputs', () => {
    manualSeed(3);
    for (const [name, layer] of causalLayers()) {
      const x = randn([2, 15, D]);
      const y = layer.forward(x);
      for (const t of [0, 6, 13]) {
        const tail = randn([2, 14 - t, D]).mul(100);
        const x2 = x
          .slice(1, 0, t + 1)
          .pad([
            [0, 0],
            [0, 14 - t],
            [0, 0],
          ])
          .add(
            tail.pad([
              [0, 0],
              [t + 1, 0],
              [0, 0],
            ]),
          );
        const y2 = layer.forward(x2);
        expect(maxAbsDiff(y.slice(1, 0, t + 1), y2.slice(1, 0, t + 1)), `${name} t = ${t}`).toBe(0);
        expect(maxAbsDiff(y.slice(1, t + 1), y2.slice(1, t + 1)), name).toBeGreaterThan(1e-3);
      }
    }
  });

  it('state sizes: O(d) for simple, O(window·d) for local and conv1d, growing for full', () => {
    manualSeed(4);
    const layers = Object.fromEntries(causalLayers());
    const sizes = (l: AftSequenceLayer, T: number) =>
      stateBytes(noGrad(() => l.forwardChunked(randn([1, T, D]), 4).state));
    expect(sizes(layers.simple!, 5)).toBe(sizes(layers.simple!, 30));
    expect(sizes(layers.simple!, 5)).toBe(3 * D * 4);
    expect(sizes(layers.local!, 5)).toBe(sizes(layers.local!, 30));
    expect(sizes(layers.conv1d!, 5)).toBe(sizes(layers.conv1d!, 30));
    expect(sizes(layers.conv1d!, 5)).toBe((3 * D + 2 * 4 * D) * 4); // (m, u, w) + 4 past tokens' k, v
    expect(sizes(layers.full!, 30) - sizes(layers.full!, 5)).toBe(25 * 2 * D * 4);
  });
});

describe('stacked models stream', () => {
  const variants: AftVariant[] = ['full', 'local', 'simple', 'conv1d'];
  for (const variant of variants) {
    it(`Aft '${variant}': parallel = recurrent = chunked through 2 layers, and resumes from a saved state`, () => {
      manualSeed(5);
      const model = new Aft({
        variant,
        nLayers: 2,
        dModel: D,
        dFF: 16,
        maxLen: 16,
        window: 3,
        heads: 2,
        posDim: 4,
      });
      for (const block of model.layers) {
        const aft = block.attn as unknown as {
          wk: { weight: Tensor };
          gamma?: Tensor;
          posU?: Tensor;
        };
        scaleParam(aft.wk.weight, 30);
        if (aft.gamma) setParam(aft.gamma, randn([2]));
        if (aft.posU) scaleParam(aft.posU, 10);
      }
      const x = randn([2, 13, D]);
      const y = model.forward(x);
      expect(maxAbsDiff(y, streamAll(model, x).y)).toBeLessThan(2e-5);
      for (const c of [1, 4, 13])
        expect(maxAbsDiff(y, model.forwardChunked(x, c).y)).toBeLessThan(2e-5);
      // Save after 6 tokens (safetensors and JSON), resume in "another process".
      const first = model.forwardChunked(x.slice(1, 0, 6), 6);
      expect(Object.keys(first.state).sort()).toEqual(Object.keys(model.initState(2)).sort());
      const viaFile = loadSafetensors(saveSafetensors(first.state));
      const viaJson = stateFromJSON(JSON.parse(JSON.stringify(stateToJSON(first.state))));
      for (const state of [first.state, viaFile, viaJson] as StreamState[]) {
        const rest = model.forwardChunked(x.slice(1, 6), 3, state).y;
        expect(maxAbsDiff(rest, y.slice(1, 6))).toBeLessThan(2e-5);
      }
    });
  }
});

describe('errors', () => {
  it('non-causal layers refuse to stream; lengths past maxLen are refused', () => {
    const full = new AftFull({ dModel: D, maxLen: 6, causal: false });
    expect(() => full.initState(1)).toThrow(/needs a causal layer/);
    expect(() => full.forwardChunked(randn([1, 4, D]), 2)).toThrow(/needs a causal layer/);
    expect(() => full.forward(randn([1, 7, D]))).toThrow(/at most maxLen = 6 tokens, got 7/);
    const causal = new AftFull({ dModel: D, maxLen: 6 });
    const { state } = causal.forwardChunked(randn([1, 5, D]), 5);
    expect(() => causal.run(randn([1, 2, D]), state)).toThrow(
      /a block of 2 tokens after 5 already seen passes maxLen = 6/,
    );
    const local = new AftLocal({ dModel: D, maxLen: 6, window: 2 });
    const s2 = local.forwardChunked(randn([1, 6, D]), 3).state;
    expect(() => local.step(randn([1, D]), s2)).toThrow(/after 6 already seen passes maxLen = 6/);
  });

  it('bad shapes and options get clear messages', () => {
    const simple = new AftSimple({ dModel: D });
    expect(() => simple.forward(randn([2, 3, 7]))).toThrow(
      /expected x of shape \[batch, tokens, 8\], got \[2, 3, 7\]/,
    );
    expect(() => simple.step(randn([2, 1, D]), simple.initState(2))).toThrow(/\[batch, features\]/);
    expect(() => simple.run(randn([3, 2, D]), simple.initState(2))).toThrow(
      /expected state 'm' of shape \[3, 8\], got \[2, 8\]/,
    );
    expect(() => simple.run(randn([2, 2, D]), { m: randn([2, D]) })).toThrow(/state has no 'u'/);
    expect(() => new AftConv1d({ dModel: 10, heads: 3, window: 3 })).toThrow(/divisible/);
    expect(() => new AftConv1d({ dModel: D, heads: 2, window: 4, causal: false })).toThrow(
      /odd window/,
    );
    expect(() => new AftLocal({ dModel: D, maxLen: 0, window: 2 })).toThrow(
      /maxLen to be a positive integer, got 0/,
    );
    expect(() => new Aft({ variant: 'local', nLayers: 1, dModel: D, maxLen: 8 })).toThrow(
      /variant 'local' needs the option window/,
    );
    expect(() => new Aft({ variant: 'nope' as AftVariant, nLayers: 1, dModel: D })).toThrow(
      /unknown variant 'nope'/,
    );
    const grid = new Aft({ variant: 'conv2d', nLayers: 1, dModel: D, heads: 2, kernel: 3 });
    expect(() => grid.initState(1)).toThrow(/no stream/);
    expect(() => grid.forward(randn([2, 5, D]))).toThrow(/\[batch, height, width, 8\]/);
  });
});
