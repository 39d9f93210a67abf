/**
 * Training on the webgpu backend: an MLP (nn.Linear, GELU, LayerNorm, cross-entropy) trained with
 * Adam for 1,000 steps with GPU live memory flat, and one forward + backward matching the CPU.
 */
import { describe, expect, it } from 'vitest';
import {
  Generator,
  manualSeed,
  memory,
  nn,
  optim,
  setBackend,
  type Tensor,
  tensor,
  tidy,
} from '../../src/index.js';
import { HAS_WEBGPU } from '../helpers/backends.js';

function rings(n: number, seed: number, backend: string): { x: Tensor; y: Tensor } {
  const g = new Generator(seed);
  const xs: number[] = [];
  const ys: number[] = [];
  for (let i = 0; i < n; i++) {
    const a = g.nextFloat() * 2 * Math.PI;
    const inner = i % 2 === 0;
    const r = inner ? 0.35 * g.nextFloat() : 0.65 + 0.35 * g.nextFloat();
    xs.push(r * Math.cos(a), r * Math.sin(a));
    ys.push(inner ? 0 : 1);
  }
  return {
    x: tensor(xs, { shape: [n, 2], backend }),
    y: tensor(ys, { dtype: 'int32', backend }),
  };
}

function mlp(): nn.Sequential {
  return new nn.Sequential(
    new nn.Linear(2, 32),
    new nn.GELU(),
    new nn.LayerNorm(32),
    new nn.Linear(32, 32),
    new nn.Tanh(),
    new nn.Linear(32, 2),
  );
}

/** A module built with `backend` as the default (parameters are created on it). */
async function buildOn<M>(backend: string, make: () => M): Promise<M> {
  await setBackend(backend);
  try {
    return make();
  } finally {
    await setBackend('cpu');
  }
}

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

  it('trains with Adam for 1,000 steps with GPU live bytes flat', async () => {
    manualSeed(3);
    const model = await buildOn('webgpu', mlp);
    const { x, y } = rings(128, 4, 'webgpu');
    const opt = new optim.Adam(model.parameters(), { lr: 0.01 });
    const step = () => {
      const loss = tidy(() => {
        opt.zeroGrad();
        const l = nn.crossEntropy(model.forward(x), y);
        l.backward();
        return l;
      });
      opt.step();
      return loss;
    };
    const losses: number[] = [];
    let before = { tensors: 0, bytes: 0 };
    for (let s = 0; s < 1000; s++) {
      const loss = step();
      if (s % 100 === 0 || s === 999) losses.push((await loss.data())[0] as number);
      loss.dispose();
      if (s === 9) before = { ...(memory().webgpu as { tensors: number; bytes: number }) };
    }
    const after = memory().webgpu as { tensors: number; bytes: number; pooledBytes?: number };
    expect(after.tensors - before.tensors).toBeLessThanOrEqual(2);
    expect(after.bytes - before.bytes).toBeLessThanOrEqual(1024);
    // The pool holds released buffers for reuse; it stays bounded too.
    expect(after.pooledBytes ?? 0).toBeLessThan(16 * 1024 * 1024);
    expect(losses[0]).toBeGreaterThan(0.4);
    expect(losses[losses.length - 1]).toBeLessThan(0.1);
    const accuracy = (await tidy(() => model.forward(x).argmax(1).eq(y).float().mean()).data())[0];
    expect(accuracy).toBeGreaterThanOrEqual(0.97);
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
