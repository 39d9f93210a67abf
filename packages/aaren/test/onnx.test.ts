import { manualSeed, noGrad, randn, type Tensor, toOnnx } from '@recur/tensor';
import { exportBoth, parallelError, streamError } from '@recur/testing';
import { describe, expect, it } from 'vitest';
import { Aaren, type AarenBlock } from '../src/index.js';

const D = 8;
const HEADS = 2;

/** Aaren with its queries scaled up, so attention scores spread over hundreds (near-argmax). */
function sharpAaren(): Aaren {
  manualSeed(11);
  const model = new Aaren({ dModel: D, nHeads: HEADS, nLayers: 2, dFF: 16 });
  noGrad(() => {
    for (const layer of model.layers) layer.attn.q0.assign(layer.attn.q0.mul(150));
  });
  return model;
}

/** The smallest spread (max − min over tokens) of layer 0's scores, over the batch and heads. */
function scoreSpread(block: AarenBlock, x: Tensor): number {
  return noGrad(() => {
    const [b, t] = x.shape as [number, number, number];
    const dh = D / HEADS;
    const a = block.attn;
    const q = a.wq.forward(a.q0).reshape([HEADS, dh]);
    const k = a.wk.forward(block.norm1.forward(x)).reshape([b, t, HEADS, dh]);
    const s = k
      .mul(q)
      .sum(-1)
      .mul(1 / Math.sqrt(dh)); // [B, T, H]
    return s.max(1).sub(s.min(1)).min().item();
  });
}

describe('Aaren in ONNX (onnxruntime-node)', () => {
  it('the parallel graph matches forward for T = 1, 2, 17, 300 at score spreads > 100', async () => {
    const model = sharpAaren();
    const { parallel } = await exportBoth(model);
    manualSeed(12);
    for (const t of [1, 2, 17, 300]) {
      const x = randn([2, t, D]).mul(3);
      if (t >= 17) expect(scoreSpread(model.layers[0] as AarenBlock, x)).toBeGreaterThan(100);
      expect(await parallelError(parallel, model, x), `T = ${t}`).toBeLessThan(1e-4);
    }
  }, 60_000);

  it('a 1,000-token stream through the step graph, its state fed back, matches forward', async () => {
    const model = sharpAaren();
    const { step } = await exportBoth(model);
    manualSeed(13);
    const x = randn([2, 1000, D]).mul(3);
    expect(scoreSpread(model.layers[0] as AarenBlock, x)).toBeGreaterThan(100);
    expect(await streamError(step, model, x)).toBeLessThan(1e-4);
    expect(step.inputNames).toEqual([
      'x',
      ...['0', '1'].flatMap((l) => ['m', 'u', 'w'].map((k) => `state.layers.${l}.${k}`)),
    ]);
  }, 60_000);

  it('exports the training-mode model as in evaluation (dropout off) and leaves its mode alone', () => {
    manualSeed(14);
    const model = new Aaren({ dModel: D, nHeads: HEADS, nLayers: 1, dropout: 0.5 });
    model.train();
    const bytes = toOnnx(model, { mode: 'parallel' });
    expect(bytes.length).toBeGreaterThan(0);
    expect(model.training).toBe(true);
    expect(new TextDecoder().decode(bytes)).not.toContain('Dropout');
  }, 60_000);
});
