/**
 * Gradients of scalar projections L = Σ w·f(inputs), analytic (one backward pass) and numeric
 * (central differences on float32 inputs, L accumulated in float64 from float32 outputs, the
 * actual rounded step as divisor).
 */
import { noGrad, type Tensor, tensor, tidy } from '@recur/tensor';
import { expect } from 'vitest';
import { type Host, rng } from './reference.js';

/** The projection direction: values in ±[0.5, 1.5] so no output is ignored. */
export function direction(n: number, seed: number): Float32Array {
  const r = rng(seed);
  return Float32Array.from({ length: n }, () => (r() < 0.5 ? -1 : 1) * (0.5 + r()));
}

/** f's outputs, concatenated in order, as one flat float64 vector of values. */
type Fn = (...xs: Tensor[]) => Tensor[];

function flatOut(ys: Tensor[]): Float64Array {
  const parts = ys.map((y) => y.dataSync());
  const out = new Float64Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * Runs f on fresh leaves (requiring gradients where `wrt` says) and back-propagates Σ w·f. Returns
 * f's outputs and each input's gradient (zeros where none flowed; null where not in wrt).
 */
export function analyticGrads(
  f: Fn,
  inputs: readonly Host[],
  w: ArrayLike<number>,
  wrt: readonly number[],
): { output: Float64Array; grads: (Float64Array | null)[] } {
  return tidy(() => {
    const leaves = inputs.map((h, i) =>
      tensor(h.data, { shape: h.shape, requiresGrad: wrt.includes(i) }),
    );
    const ys = f(...leaves);
    const output = flatOut(ys);
    let loss: Tensor | null = null;
    let at = 0;
    for (const y of ys) {
      const wy = tensor(Float32Array.from(w).subarray(at, at + y.size), { shape: y.shape });
      at += y.size;
      if (!y.requiresGrad) continue;
      const term = y.mul(wy).sum();
      loss = loss ? loss.add(term) : term;
    }
    loss?.backward();
    const grads = leaves.map((leaf, i) => {
      if (!wrt.includes(i)) return null;
      const g = leaf.grad;
      if (g) expect(g.shape, `gradient shape of input ${i}`).toEqual(leaf.shape);
      const values = g ? Float64Array.from(g.dataSync()) : new Float64Array(leaf.size);
      leaf.grad?.dispose();
      return values;
    });
    return { output, grads };
  });
}

function projected(f: Fn, inputs: readonly Host[], w: ArrayLike<number>): number {
  return tidy(() =>
    noGrad(() => {
      const y = flatOut(f(...inputs.map((h) => tensor(h.data, { shape: h.shape }))));
      let s = 0;
      for (let i = 0; i < y.length; i++) s += (w[i] as number) * (y[i] as number);
      return s;
    }),
  );
}

export function numericGrads(
  f: Fn,
  inputs: readonly Host[],
  w: ArrayLike<number>,
  wrt: readonly number[],
  eps: number,
): (Float64Array | null)[] {
  return inputs.map((h, i) => {
    if (!wrt.includes(i)) return null;
    const data = h.data;
    const out = new Float64Array(data.length);
    for (let k = 0; k < data.length; k++) {
      const x0 = data[k] as number;
      if (!Number.isFinite(x0)) continue; // no derivative to take at ±inf
      const xp = Math.fround(x0 + eps);
      const xm = Math.fround(x0 - eps);
      data[k] = xp;
      const lp = projected(f, inputs, w);
      data[k] = xm;
      const lm = projected(f, inputs, w);
      data[k] = x0;
      out[k] = (lp - lm) / (xp - xm);
    }
    return out;
  });
}

export interface GradcheckOptions {
  eps?: number;
  atol?: number;
  rtol?: number;
  seed?: number;
  wrt?: readonly number[];
  name?: string;
}

/** Compares two gradient lists elementwise: |a − b| <= atol + rtol·max(|a|, |b|). */
export function expectGradsClose(
  actual: readonly (ArrayLike<number> | null)[],
  expected: readonly (ArrayLike<number> | null)[],
  opts: { atol: number; rtol: number; name?: string; labels?: readonly string[] },
): void {
  const label = opts.name ? `${opts.name}: ` : '';
  expected.forEach((e, i) => {
    const a = actual[i];
    if (!e || !a) return;
    expect(a.length, `${label}gradient ${i} length`).toBe(e.length);
    for (let k = 0; k < e.length; k++) {
      const av = a[k] as number;
      const ev = e[k] as number;
      const tol = opts.atol + opts.rtol * Math.max(Math.abs(av), Math.abs(ev));
      if (!(Math.abs(av - ev) <= tol)) {
        expect.fail(
          `${label}gradient of ${opts.labels?.[i] ?? `input ${i}`} at element ${k}: got ${av}, expected ${ev} (tol ${tol.toExponential(2)})`,
        );
      }
    }
  });
}

/** Every input's analytic gradient of Σ w·f against central differences. */
export function gradcheck(f: Fn, inputs: readonly Host[], opts: GradcheckOptions = {}): void {
  const eps = opts.eps ?? 1e-2;
  const wrt = opts.wrt ?? inputs.map((_, i) => i);
  const size = tidy(() =>
    noGrad(() => flatOut(f(...inputs.map((h) => tensor(h.data, { shape: h.shape })))).length),
  );
  const w = direction(size, opts.seed ?? 1);
  const analytic = analyticGrads(f, inputs, w, wrt).grads;
  const numeric = numericGrads(f, inputs, w, wrt, eps);
  expectGradsClose(analytic, numeric, {
    atol: opts.atol ?? 2e-3,
    rtol: opts.rtol ?? 1e-2,
    name: opts.name,
  });
}
