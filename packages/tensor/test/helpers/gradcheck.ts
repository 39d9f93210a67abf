/**
 * Gradient checks by central finite differences, for float32 tensors.
 *
 * The approach (copy it for other packages): the output y = f(x₁, …, xₙ) is projected on a fixed
 * random direction w, L = Σ w ⊙ y, so one backward pass (y.backward(w)) gives the full vector-Jacobian
 * product ∂L/∂xᵢ, and every element of every input is then perturbed by ±eps, L recomputed (in
 * float64 on the host, from the float32 outputs) and (L₊ − L₋) / (x₊ − x₋) compared with it. The
 * perturbed inputs are rounded to float32 first and the actual step x₊ − x₋ is the divisor, so the
 * rounding of x ± eps does not bias the quotient.
 *
 * With float32 forward passes the numeric derivative carries ~ulp(L)/eps of rounding noise and
 * O(eps²·f''') of truncation error: eps = 1e-2…1e-3 on inputs of order 1 with a tolerance of about
 * 1e-2 relative + 1e-3 absolute separates a wrong rule (errors of order 1) from noise. Keep inputs
 * away from kinks (0 for relu/abs, ties for max) and from singularities (log near 0).
 */
import { expect } from 'vitest';
import { keep, noGrad, type Tensor, tensor, tidy } from '../../src/index.js';
import { rng } from './reference.js';

export interface GradcheckOptions {
  /** Finite-difference step (default 1e-2). */
  eps?: number;
  /** Absolute tolerance (default 1e-3). */
  atol?: number;
  /** Relative tolerance on max(|analytic|, |numeric|) (default 1e-2). */
  rtol?: number;
  /** Seed of the projection direction w (default 1). */
  seed?: number;
  /** Indices of the inputs to check (default: every float32 input). */
  wrt?: readonly number[];
  /** Label for failure messages. */
  name?: string;
}

/** A gradcheck input: a tensor (used as given) or a float32 array with its shape. */
export type GradInput = Tensor | { shape: readonly number[]; data: ArrayLike<number> };

function isTensorLike(x: GradInput): x is Tensor {
  return typeof (x as Tensor).dataSync === 'function';
}

type Host = { shape: readonly number[]; data: Float32Array | Int32Array };

async function hostOf(x: GradInput): Promise<Host> {
  if (isTensorLike(x)) return { shape: x.shape, data: await x.data() };
  const data = x.data instanceof Int32Array ? x.data.slice() : Float32Array.from(x.data);
  return { shape: x.shape, data };
}

/** The projection direction: values in ±[0.5, 1.5] so no output is ignored. */
export function direction(n: number, seed: number): Float32Array {
  const r = rng(seed);
  return Float32Array.from({ length: n }, () => (r() < 0.5 ? -1 : 1) * (0.5 + r()));
}

/**
 * Runs f on fresh leaves built from `inputs` (on `backend`, the default one when left out) and
 * back-propagates `upstream` (the projection w). Returns f's output values and each input's gradient
 * (zeros where none flowed; null for inputs not in `wrt`).
 */
export async function vjp(
  f: (...xs: Tensor[]) => Tensor,
  inputs: readonly GradInput[],
  upstream?: ArrayLike<number>,
  wrt?: readonly number[],
  backend?: string,
): Promise<{
  output: Float32Array | Int32Array;
  shape: readonly number[];
  grads: (Float64Array | null)[];
}> {
  const hosts = await Promise.all(inputs.map(hostOf));
  const diff = wrt ?? hosts.flatMap((h, i) => (h.data instanceof Float32Array ? [i] : []));
  // The graph is built and freed synchronously; the values to read are kept past tidy().
  const { y, grads, shapes } = tidy(() => {
    const leaves = hosts.map((h, i) =>
      tensor(h.data, { shape: h.shape, requiresGrad: diff.includes(i), backend }),
    );
    const out = f(...leaves);
    const w = tensor(Float32Array.from(upstream ?? direction(out.size, 1)), {
      shape: out.shape,
      backend,
    });
    if (out.requiresGrad) out.backward(w);
    const gs = leaves.map((leaf, i) => (diff.includes(i) && leaf.grad ? leaf.grad : null));
    const shapes = leaves.map((leaf) => leaf.shape);
    return { y: keep(out), grads: gs.map((g) => g && keep(g)), shapes };
  });
  try {
    const output = await y.data();
    const values = await Promise.all(
      grads.map(async (g, i) => {
        if (!diff.includes(i)) return null;
        if (g) expect(g.shape, `gradient shape of input ${i}`).toEqual(shapes[i]);
        return g ? Float64Array.from(await g.data()) : new Float64Array(hosts[i]?.data.length ?? 0);
      }),
    );
    return { output, shape: y.shape, grads: values };
  } finally {
    // Leaf gradients outlive tidy(); free them here so tests that count live tensors stay exact.
    y.dispose();
    for (const g of grads) g?.dispose();
  }
}

/**
 * f(inputs) on the default backend without recording gradients, read back asynchronously: the read
 * is issued before the output is freed, so many can be in flight at once.
 */
function forward(f: (...xs: Tensor[]) => Tensor, hosts: Host[]): Promise<ArrayLike<number>> {
  const y = tidy(() =>
    noGrad(() => keep(f(...hosts.map((h) => tensor(h.data, { shape: h.shape }))))),
  );
  const data = y.data();
  y.dispose();
  return data;
}

/** Σ w·y in float64. */
function project(y: ArrayLike<number>, w: Float32Array): number {
  let s = 0;
  for (let i = 0; i < y.length; i++) s += (w[i] as number) * (y[i] as number);
  return s;
}

/**
 * Numeric ∂(Σ w·f)/∂input[k] for every k, by central differences on the default backend (all the
 * forward passes are issued first and read back together).
 */
export async function numericGrads(
  f: (...xs: Tensor[]) => Tensor,
  inputs: readonly GradInput[],
  w: Float32Array,
  wrt: readonly number[],
  eps = 1e-2,
): Promise<(Float64Array | null)[]> {
  const hosts = await Promise.all(inputs.map(hostOf));
  const pending: {
    i: number;
    k: number;
    step: number;
    plus: Promise<ArrayLike<number>>;
    minus: Promise<ArrayLike<number>>;
  }[] = [];
  for (const i of wrt) {
    const data = (hosts[i] as Host).data as Float32Array;
    for (let k = 0; k < data.length; k++) {
      const x0 = data[k] as number;
      const xp = Math.fround(x0 + eps);
      const xm = Math.fround(x0 - eps);
      data[k] = xp;
      const plus = forward(f, hosts);
      data[k] = xm;
      const minus = forward(f, hosts);
      data[k] = x0;
      pending.push({ i, k, step: xp - xm, plus, minus });
    }
  }
  const out = hosts.map((h, i) => (wrt.includes(i) ? new Float64Array(h.data.length) : null));
  for (const p of pending) {
    const lp = project(await p.plus, w);
    const lm = project(await p.minus, w);
    (out[p.i] as Float64Array)[p.k] = (lp - lm) / p.step;
  }
  return out;
}

/**
 * Checks every float32 input's gradient of f, computed on the default backend, against central
 * finite differences on the same backend. Fails naming the input, the element, and both values.
 */
export async function gradcheck(
  f: (...xs: Tensor[]) => Tensor,
  inputs: readonly GradInput[],
  opts: GradcheckOptions = {},
): Promise<void> {
  const eps = opts.eps ?? 1e-2;
  const atol = opts.atol ?? 1e-3;
  const rtol = opts.rtol ?? 1e-2;
  const hosts = await Promise.all(inputs.map(hostOf));
  const wrt = opts.wrt ?? hosts.flatMap((h, i) => (h.data instanceof Float32Array ? [i] : []));
  expect(wrt.length, 'gradcheck needs at least one float32 input').toBeGreaterThan(0);
  const size = tidy(() =>
    noGrad(() => f(...hosts.map((h) => tensor(h.data, { shape: h.shape }))).size),
  );
  const w = direction(size, opts.seed ?? 1);
  const analytic = (await vjp(f, hosts, w, wrt)).grads;
  const numeric = await numericGrads(f, hosts, w, wrt, eps);
  const label = opts.name ? `${opts.name}: ` : '';
  for (const i of wrt) {
    const a = analytic[i] as Float64Array;
    const n = numeric[i] as Float64Array;
    for (let k = 0; k < n.length; k++) {
      const av = a[k] as number;
      const nv = n[k] as number;
      const tol = atol + rtol * Math.max(Math.abs(av), Math.abs(nv));
      if (!(Math.abs(av - nv) <= tol)) {
        expect.fail(
          `${label}gradient of input ${i} at element ${k}: analytic ${av}, numeric ${nv} (tol ${tol.toExponential(2)})`,
        );
      }
    }
  }
}
