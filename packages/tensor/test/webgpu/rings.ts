/** A small classification problem (two rings) and an MLP, for the webgpu training tests. */
import { expect } from 'vitest';
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

export function rings(n: number, seed: number, backend: string): { x: Tensor; y: Tensor } {
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

export function mlp(): nn.Sequential {
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
export async function buildOn<M>(backend: string, make: () => M): Promise<M> {
  await setBackend(backend);
  try {
    return make();
  } finally {
    await setBackend('cpu');
  }
}

export interface RingsRun {
  /** The loss at steps 0, 100, 200, … and at the last step. */
  losses: number[];
  /** Live webgpu tensors and bytes after step 10 and at the end. */
  before: { tensors: number; bytes: number };
  after: { tensors: number; bytes: number; pooledBytes?: number };
  /** Training accuracy at the end. */
  accuracy: number;
}

/** Trains the MLP on 128 ring points on webgpu with Adam for `steps` steps. */
export async function trainRings(steps: number): Promise<RingsRun> {
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
  for (let s = 0; s < steps; s++) {
    const loss = step();
    if (s % 100 === 0 || s === steps - 1) losses.push((await loss.data())[0] as number);
    loss.dispose();
    if (s === 9) before = { ...(memory().webgpu as { tensors: number; bytes: number }) };
  }
  const after = { ...(memory().webgpu as RingsRun['after']) };
  const accuracy = (await tidy(() => model.forward(x).argmax(1).eq(y).float().mean()).data())[0];
  return { losses, before, after, accuracy: accuracy as number };
}

/** Nothing accumulates per step on the GPU; the pool of released buffers stays bounded. */
export function expectFlat({ before, after }: RingsRun): void {
  expect(after.tensors - before.tensors).toBeLessThanOrEqual(2);
  expect(after.bytes - before.bytes).toBeLessThanOrEqual(1024);
  expect(after.pooledBytes ?? 0).toBeLessThan(16 * 1024 * 1024);
}
