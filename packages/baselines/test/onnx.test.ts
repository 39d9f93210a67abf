import { manualSeed, matmulT, noGrad, randn, type Tensor, toOnnx } from '@recur/tensor';
import { exportBoth, ortSession, parallelError, streamError } from '@recur/testing';
import { describe, expect, it } from 'vitest';
import { GRU, LSTM, Transformer, type TransformerBlock } from '../src/index.js';

const D = 8;
const HEADS = 2;

/** A Transformer with W_q and W_k scaled up: attention scores spread over hundreds. */
function sharpTransformer(): Transformer {
  manualSeed(31);
  const model = new Transformer({ dModel: D, nHeads: HEADS, nLayers: 2, dFF: 16 });
  noGrad(() => {
    for (const layer of model.layers) {
      layer.attn.wq.weight.assign(layer.attn.wq.weight.mul(12));
      layer.attn.wk.weight.assign(layer.attn.wk.weight.mul(12));
    }
  });
  return model;
}

/** The smallest spread of layer 0's scores q·k/√d_head, over the batch and heads. */
function scoreSpread(block: TransformerBlock, x: Tensor): number {
  return noGrad(() => {
    const [b, t] = x.shape as [number, number, number];
    const dh = D / HEADS;
    const h = block.norm1.forward(x);
    const heads = (z: Tensor) => z.reshape([b, t, HEADS, dh]).permute([0, 2, 1, 3]);
    const q = heads(block.attn.wq.forward(h));
    const k = heads(block.attn.wk.forward(h));
    const s = matmulT(q, k, false, true).mul(1 / Math.sqrt(dh)); // [B, H, T, T]
    return s
      .max([2, 3])
      .sub(s.min([2, 3]))
      .min()
      .item();
  });
}

describe('Transformer in ONNX', () => {
  it('the parallel graph matches forward for T = 1, 2, 17, 300 at score spreads > 100', async () => {
    const model = sharpTransformer();
    const { parallel } = await exportBoth(model);
    manualSeed(32);
    for (const t of [1, 2, 17, 300]) {
      const x = randn([2, t, D]).mul(3);
      if (t >= 17) expect(scoreSpread(model.layers[0] as TransformerBlock, x)).toBeGreaterThan(100);
      expect(await parallelError(parallel, model, x), `T = ${t}`).toBeLessThan(1e-4);
    }
  }, 60_000);

  it('a 1,000-token stream through the step graph (a growing KV cache) matches forward', async () => {
    const model = sharpTransformer();
    const { step } = await exportBoth(model);
    manualSeed(33);
    const x = randn([2, 1000, D]).mul(3);
    expect(scoreSpread(model.layers[0] as TransformerBlock, x)).toBeGreaterThan(100);
    expect(await streamError(step, model, x)).toBeLessThan(1e-4);
  }, 120_000);
});

describe.each([
  ['LSTM', () => new LSTM({ inputSize: 5, hiddenSize: 6, numLayers: 2 })],
  ['GRU', () => new GRU({ inputSize: 5, hiddenSize: 6, numLayers: 2 })],
] as const)('%s in ONNX', (_name, make) => {
  it('the parallel graph (a Loop over the step) matches forward for T = 1, 2, 17, 300', async () => {
    manualSeed(34);
    const model = make();
    const { parallel } = await exportBoth(model);
    for (const t of [1, 2, 17, 300]) {
      // Inputs over ±150: saturated and unsaturated gates alike.
      const x = randn([3, t, 5]).mul(50);
      expect(await parallelError(parallel, model, x), `T = ${t}`).toBeLessThan(1e-4);
    }
  }, 60_000);

  it('a 1,000-token stream through the step graph, its state fed back, matches forward', async () => {
    manualSeed(35);
    const model = make();
    const { step } = await exportBoth(model);
    expect(step.inputNames).toEqual(
      model instanceof LSTM ? ['x', 'state.h', 'state.c'] : ['x', 'state.h'],
    );
    const x = randn([2, 1000, 5]).mul(50);
    expect(await streamError(step, model, x)).toBeLessThan(1e-4);
  }, 60_000);

  it('declares symbolic batch and token sizes', async () => {
    const model = make();
    const session = await ortSession(toOnnx(model, { mode: 'parallel' }));
    // Two batch sizes and lengths through the same session.
    for (const [b, t] of [
      [1, 4],
      [5, 2],
    ] as const) {
      expect(await parallelError(session, model, randn([b, t, 5]))).toBeLessThan(1e-4);
    }
  });
});
