/**
 * Training on the webgpu backend: an MLP (nn.Linear, GELU, LayerNorm, cross-entropy) trained with
 * Adam with GPU live memory flat, and one forward + backward matching the CPU.
 */
import { describe, expect, it } from 'vitest';
import { manualSeed, nn, optim, type Tensor, tensor, tidy } from '../../src/index.js';
import { HAS_WEBGPU } from '../helpers/backends.js';
import { buildOn, expectFlat, mlp, rings, trainRings } from './rings.js';

describe.skipIf(!HAS_WEBGPU)('training on webgpu', () => {
  it('forward and backward of an MLP match the CPU to 1e-4', async () => {
    manualSeed(11);
    const cpuModel = mlp();
    const { x, y } = rings(96, 5, 'cpu');
    const cpu = tidy(() => {
      const loss = nn.crossEntropy(cpuModel.forward(x), y);
      loss.backward();
      return loss.item();
    });
    const cpuGrads = cpuModel.parameters().map((p) => Array.from((p.grad as Tensor).dataSync()));
    const cpuWeights = cpuModel.parameters().map((p) => Array.from(p.dataSync()));
    // The same weights on the GPU.
    const gpuModel = await buildOn('webgpu', mlp);
    gpuModel.parameters().forEach((p, i) => {
      expect(p.backend.name).toBe('webgpu');
      p.assign(tensor(cpuWeights[i] as number[], { shape: p.shape })); // uploads
    });
    const gx = await x.toAsync('webgpu');
    const gy = await y.toAsync('webgpu');
    const loss = tidy(() => {
      const l = nn.crossEntropy(gpuModel.forward(gx), gy);
      l.backward();
      return l;
    });
    expect(loss.backend.name).toBe('webgpu');
    const gpu = (await loss.data())[0] as number;
    expect(Math.abs(gpu - cpu)).toBeLessThan(1e-4 * Math.max(1, Math.abs(cpu)));
    const params = gpuModel.parameters();
    for (let i = 0; i < params.length; i++) {
      const g = await ((params[i] as Tensor).grad as Tensor).data();
      const want = cpuGrads[i] as number[];
      for (let k = 0; k < want.length; k++) {
        const err = Math.abs((g[k] as number) - (want[k] as number));
        if (err > 1e-4 * Math.max(1, Math.abs(want[k] as number))) {
          expect.fail(`parameter ${i} gradient ${k}: webgpu ${g[k]}, cpu ${want[k]}`);
        }
      }
    }
  });

  // 1,000 steps to >= 97 % accuracy: train.long.test.ts (pnpm test:long).
  it('trains with Adam for 60 steps with GPU live bytes flat and the loss falling', async () => {
    const run = await trainRings(60);
    expectFlat(run);
    expect(run.losses[run.losses.length - 1]).toBeLessThan((run.losses[0] as number) * 0.8);
  }, 120_000);

  it('gradient clipping works on the device (clipGradNormAsync)', async () => {
    const w = tensor([3, 4], { backend: 'webgpu', requiresGrad: true });
    w.square().sum().backward(); // grad = [6, 8], norm 10
    const norm = await optim.clipGradNormAsync([w], 1);
    expect(norm).toBeCloseTo(10, 5);
    const g = await (w.grad as Tensor).data();
    expect(Math.hypot(g[0] as number, g[1] as number)).toBeCloseTo(1, 5);
    expect(() => optim.clipGradNorm([w], 1)).toThrow(/clipGradNormAsync/);
  });
});
