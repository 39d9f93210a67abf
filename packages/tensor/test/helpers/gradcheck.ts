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
import { noGrad, type Tensor, tensor, tidy } from '../../src/index.js';
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

function hostOf(x: GradInput): { shape: readonly number[]; data: Float32Array | Int32Array } {
  if (isTensorLike(x)) return { shape: x.shape, data: x.dataSync() };
  return { shape: x.shape, data: Float32Array.from(x.data) };
}

/** The projection direction: values in ±[0.5, 1.5] so no output is ignored. */
export function direction(n: number, seed: number): Float32Array {
  const r = rng(seed);
  return Float32Array.from({ length: n }, () => (r() < 0.5 ? -1 : 1) * (0.5 + r()));
}

/**
 * Runs f on fresh leaves built from `inputs` and back-propagates `upstream` (the projection w).
 * Returns f's output values and each input's gradient (zeros where none flowed; null for inputs not
 * in `wrt`).
 */
export function vjp(
  f: (...xs: Tensor[]) => Tensor,
  inputs: readonly GradInput[],
  upstream?: ArrayLike<number>,
  wrt?: readonly number[],
): { output: Float32Array | Int32Array; shape: readonly number[]; grads: (Float64Array | null)[] } {
  const hosts = inputs.map(hostOf);
  const diff = wrt ?? hosts.flatMap((h, i) => (h.data instanceof Float32Array ? [i] : []));
  return tidy(() => {
    const leaves = hosts.map((h, i) =>
      tensor(h.data, { shape: h.shape, requiresGrad: diff.includes(i) }),
    );
    const y = f(...leaves);
    const w = tensor(Float32Array.from(upstream ?? direction(y.size, 1)), { shape: y.shape });
    if (y.requiresGrad) y.backward(w);
    const grads = leaves.map((leaf, i) => {
      if (!diff.includes(i)) return null;
      const g = leaf.grad;
      if (g) expect(g.shape, `gradient shape of input ${i}`).toEqual(leaf.shape);
      const values = g ? Float64Array.from(g.dataSync()) : new Float64Array(leaf.size);
      return values;
    });
    // Leaf gradients outlive tidy(); free them here so tests that count live tensors stay exact.
    for (const leaf of leaves) leaf.grad?.dispose();
    return { output: y.dataSync(), shape: y.shape, grads };
  });
}

/** Σ w·f(inputs) in float64, without recording gradients. */
function projected(
  f: (...xs: Tensor[]) => Tensor,
  hosts: { shape: readonly number[]; data: Float32Array | Int32Array }[],
  w: Float32Array,
): number {
  return tidy(() =>
    noGrad(() => {
      const y = f(...hosts.map((h) => tensor(h.data, { shape: h.shape }))).dataSync();
      let s = 0;
      for (let i = 0; i < y.length; i++) s += (w[i] as number) * (y[i] as number);
      return s;
    }),
  );
}

/** Numeric ∂(Σ w·f)/∂input[k] for every k, by central differences. */
export function numericGrads(
  f: (...xs: Tensor[]) => Tensor,
  inputs: readonly GradInput[],
  w: Float32Array,
  wrt: readonly number[],
  eps = 1e-2,
): (Float64Array | null)[] {
  const hosts = inputs.map(hostOf);
  return hosts.map((h, i) => {
    if (!wrt.includes(i)) return null;
    const data = h.data as Float32Array;
    const out = new Float64Array(data.length);
    for (let k = 0; k < data.length; k++) {
      const x0 = data[k] as number;
      const xp = Math.fround(x0 + eps);
      const xm = Math.fround(x0 - eps);
      data[k] = xp;
      const lp = projected(f, hosts, w);
      data[k] = xm;
      const lm = projected(f, hosts, w);
      data[k] = x0;
      out[k] = (lp - lm) / (xp - xm);
    }
    return out;
  });
}

/**
 * Checks every float32 input's gradient of f against central finite differences. Fails naming the
 * input, the element, and both values.
 */
export function gradcheck(
  f: (...xs: Tensor[]) => Tensor,
  inputs: readonly GradInput[],
  opts: GradcheckOptions = {},
): void {
  const eps = opts.eps ?? 1e-2;
  const atol = opts.atol ?? 1e-3;
  const rtol = opts.rtol ?? 1e-2;
  const hosts = inputs.map(hostOf);
  const wrt = opts.wrt ?? hosts.flatMap((h, i) => (h.data instanceof Float32Array ? [i] : []));
  expect(wrt.length, 'gradcheck needs at least one float32 input').toBeGreaterThan(0);
  const size = tidy(() =>
    noGrad(() => f(...hosts.map((h) => tensor(h.data, { shape: h.shape }))).size),
  );
  const w = direction(size, opts.seed ?? 1);
  const analytic = vjp(f, inputs, w, wrt).grads;
  const numeric = numericGrads(f, inputs, w, wrt, eps);
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
