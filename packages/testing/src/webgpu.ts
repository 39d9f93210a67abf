/**
 * Shared by the model packages' test suites (private: not published): a model on the webgpu backend
 * against the same model on the CPU. The same weights and inputs must give the same outputs and the
 * same gradient for every parameter (backward of sum(y · R)), and stream the same. In Node the
 * adapter is Dawn's (Mesa llvmpipe on machines without a GPU); with none, suites skip with a
 * message unless RECUR_REQUIRE_WEBGPU=1, which makes a missing adapter a failure.
 */
import {
  initBackend,
  manualSeed,
  type nn,
  noGrad,
  randn,
  type SequenceModule,
  setBackend,
  stack,
  type Tensor,
} from '@recur/tensor';
import { expect } from 'vitest';

/** Whether the webgpu backend starts (RECUR_BACKENDS=cpu turns the suite off, as in @recur/tensor). */
export async function webgpuAvailable(what = 'the webgpu tests'): Promise<boolean> {
  const only = process.env.RECUR_BACKENDS?.split(',').map((s) => s.trim());
  if (only && !only.includes('webgpu')) {
    console.warn(`[recur] skipping ${what} on webgpu: RECUR_BACKENDS leaves webgpu out`);
    return false;
  }
  try {
    await initBackend('webgpu');
    return true;
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    if (process.env.RECUR_REQUIRE_WEBGPU === '1') {
      throw new Error(`RECUR_REQUIRE_WEBGPU=1 but the webgpu backend did not start: ${msg}`);
    }
    console.warn(`[recur] skipping ${what} on webgpu: ${msg}`);
    return false;
  }
}

/** Largest |a − b| / max(1, |b|) over both arrays, and where it is. */
export function worst(a: ArrayLike<number>, b: ArrayLike<number>): { err: number; at: number } {
  expect(a.length).toBe(b.length);
  let err = 0;
  let at = -1;
  for (let i = 0; i < b.length; i++) {
    const e = Math.abs(a[i]! - b[i]!) / Math.max(1, Math.abs(b[i]!));
    if (!(e <= err)) {
      err = e;
      at = i;
    }
  }
  return { err, at };
}

/**
 * A parameter's gradient as numbers. No gradient at all (the loss does not reach the parameter: q0
 * when T = 1, where softmax over one token ignores the scores) reads as zeros, so a backend that
 * leaves it unset and one that fills in zeros compare equal; any non-zero gradient still must match.
 */
export async function gradOf(p: Tensor): Promise<Float32Array> {
  return p.grad === null ? new Float32Array(p.size) : ((await p.grad.data()) as Float32Array);
}

export interface Run {
  y: Float32Array;
  grads: Map<string, Float32Array>;
}

/**
 * Builds the model with `make` on the CPU and again on webgpu (default backend webgpu while it is
 * built and run, as an application would), copies the CPU weights over with loadStateDict (assign
 * uploads them), and runs forward + backward of sum(y · R) on both. `prepare` adjusts the CPU
 * model's weights first (to spread the scores, say).
 */
export async function bothBackends<M extends { forward(x: Tensor): Tensor } & nn.Module>(
  make: () => M,
  xShape: number[],
  seed: number,
  prepare?: (cpuModel: M) => void,
): Promise<{ cpu: Run; gpu: Run; names: string[] }> {
  manualSeed(seed);
  const cpuModel = make();
  if (prepare) noGrad(() => prepare(cpuModel));
  const x = randn(xShape);
  const yCpu = cpuModel.forward(x);
  const r = randn([...yCpu.shape]);
  yCpu.mul(r).sum().backward();
  const names: string[] = [];
  const cpu: Run = { y: (await yCpu.data()) as Float32Array, grads: new Map() };
  for (const [n, p] of cpuModel.namedParameters()) {
    names.push(n);
    cpu.grads.set(n, await gradOf(p));
  }
  await setBackend('webgpu');
  try {
    const gpuModel = make();
    noGrad(() => gpuModel.loadStateDict(cpuModel.stateDict()));
    for (const [n, p] of gpuModel.namedParameters()) expect(p.backend.name, n).toBe('webgpu');
    const gx = await x.toAsync('webgpu');
    const gr = await r.toAsync('webgpu');
    const yGpu = gpuModel.forward(gx);
    expect(yGpu.backend.name).toBe('webgpu');
    yGpu.mul(gr).sum().backward();
    const grads = new Map<string, Float32Array>();
    for (const [n, p] of gpuModel.namedParameters()) grads.set(n, await gradOf(p));
    return { cpu, gpu: { y: (await yGpu.data()) as Float32Array, grads }, names };
  } finally {
    await setBackend('cpu');
  }
}

export function expectSame(cpu: Run, gpu: Run, names: string[], tol = 1e-4): number {
  const out = worst(gpu.y, cpu.y);
  expect(out.err, `output [${out.at}]: webgpu ${gpu.y[out.at]}, cpu ${cpu.y[out.at]}`).toBeLessThan(
    tol,
  );
  let max = out.err;
  for (const n of names) {
    const g = gpu.grads.get(n)!;
    const c = cpu.grads.get(n)!;
    const w = worst(g, c);
    expect(w.err, `grad ${n}[${w.at}]: webgpu ${g[w.at]}, cpu ${c[w.at]}`).toBeLessThan(tol);
    max = Math.max(max, w.err);
  }
  return max;
}

/**
 * The model streams on webgpu, from initState: token by token (step) and in blocks of `chunk`
 * tokens (forwardChunked), with its state on the GPU, and both match the CPU's parallel forward.
 * Returns the largest relative difference.
 */
export async function streamsLikeCpu<M extends SequenceModule>(
  make: () => M,
  xShape: [number, number, number],
  seed: number,
  chunk: number,
  prepare?: (cpuModel: M) => void,
): Promise<number> {
  manualSeed(seed);
  const cpuModel = make();
  if (prepare) noGrad(() => prepare(cpuModel));
  const x = randn(xShape);
  const want = (await noGrad(() => cpuModel.forward(x)).data()) as Float32Array;
  await setBackend('webgpu');
  try {
    const model = make();
    noGrad(() => model.loadStateDict(cpuModel.stateDict()));
    const gx = await x.toAsync('webgpu');
    const [b, t] = xShape;
    const { chunked, stepped, state } = noGrad(() => {
      let s = model.initState(b);
      const ys: Tensor[] = [];
      for (let i = 0; i < t; i++) {
        const out = model.step(gx.slice(1, i, i + 1).squeeze(1), s);
        ys.push(out.y);
        s = out.state;
      }
      return { chunked: model.forwardChunked(gx, chunk).y, stepped: stack(ys, 1), state: s };
    });
    // The state's float tensors stay on the GPU (an int32 position counter may live on the host).
    const floats = Object.entries(state).filter(([, v]) => v.dtype === 'float32');
    expect(floats.length).toBeGreaterThan(0);
    for (const [k, v] of floats) expect(v.backend.name, `state ${k}`).toBe('webgpu');
    let max = 0;
    for (const [how, y] of [
      ['step', stepped],
      [`forwardChunked(${chunk})`, chunked],
    ] as const) {
      expect(y.backend.name).toBe('webgpu');
      const got = (await y.data()) as Float32Array;
      const w = worst(got, want);
      expect(
        w.err,
        `${how} [${w.at}]: webgpu ${got[w.at]}, cpu forward ${want[w.at]}`,
      ).toBeLessThan(1e-4);
      max = Math.max(max, w.err);
    }
    return max;
  } finally {
    await setBackend('cpu');
  }
}
