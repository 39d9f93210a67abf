/**
 * The model and input of the browser smoke test, shared by the page (which runs it on WebGPU in
 * Chromium) and the test (which runs it on the CPU in Node): the same seed draws the same weights
 * and input on any backend, since random numbers are drawn on the host.
 */
import { manualSeed, noGrad, randn, type Tensor } from '@recur/tensor';
import { Aaren, type AarenOptions } from '../../src/index.js';

export const SMOKE_SEED = 2024;
export const SMOKE_OPTIONS: AarenOptions = { nLayers: 2, dModel: 16, nHeads: 2, dFF: 32 };
export const SMOKE_INPUT_SHAPE = [2, 12, 16];

/** Builds the seeded Aaren on the default backend and runs it on the seeded input: y [2, 12, 16]. */
export function smokeForward(): Tensor {
  manualSeed(SMOKE_SEED);
  const model = new Aaren(SMOKE_OPTIONS);
  // Wider key spreads, so the running max of the scan changes along the sequence.
  noGrad(() => {
    for (const layer of model.layers) layer.attn.wk.weight.assign(layer.attn.wk.weight.mul(4));
  });
  const x = randn(SMOKE_INPUT_SHAPE);
  return noGrad(() => model.forward(x));
}

/** The CPU page's matrix product: m × k @ k × n, large enough to be split over 2 threads. */
export const CPU_PRODUCT = [192, 160, 224] as const;

/** Its operands: a fixed pattern, the same in the page and in Node. */
export function productOperands(): { a: Float32Array; b: Float32Array } {
  const [m, k, n] = CPU_PRODUCT;
  const a = Float32Array.from({ length: m * k }, (_, i) => Math.sin(i * 0.37) * 3);
  const b = Float32Array.from({ length: k * n }, (_, i) => Math.cos(i * 0.11) - 0.2);
  return { a, b };
}
