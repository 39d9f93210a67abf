/**
 * Naive float64 references for the op tests, written independently of src/ (no import of
 * src/shape.ts or of any kernel): plain nested loops over multi-indices, so a bug in the library's
 * index math cannot hide in the reference too.
 */

/** A dense row-major float64 n-d array. */
export interface Nd {
  readonly shape: readonly number[];
  readonly data: Float64Array;
}

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Multi-index of flat position `flat` in a row-major array of `shape` (last axis fastest). */
export function unravel(flat: number, shape: readonly number[]): number[] {
  const idx = new Array<number>(shape.length).fill(0);
  let rest = flat;
  for (let k = shape.length - 1; k >= 0; k--) {
    const d = shape[k] as number;
    idx[k] = rest % d;
    rest = Math.floor(rest / d);
  }
  return idx;
}

/** Flat row-major position of multi-index `idx` in `shape`. */
export function ravel(idx: readonly number[], shape: readonly number[]): number {
  let flat = 0;
  for (let k = 0; k < shape.length; k++) flat = flat * (shape[k] as number) + (idx[k] as number);
  return flat;
}

/** Builds an Nd by calling `fn` with every multi-index in row-major order. */
export function ndFrom(shape: readonly number[], fn: (idx: number[]) => number): Nd {
  const n = numel(shape);
  const data = new Float64Array(n);
  for (let i = 0; i < n; i++) data[i] = fn(unravel(i, shape));
  return { shape: shape.slice(), data };
}

export function ndOf(shape: readonly number[], data: ArrayLike<number>): Nd {
  if (numel(shape) !== data.length)
    throw new Error(`reference: shape [${shape}] vs ${data.length}`);
  return { shape: shape.slice(), data: Float64Array.from(data) };
}

export function at(x: Nd, idx: readonly number[]): number {
  return x.data[ravel(idx, x.shape)] as number;
}

/**
 * NumPy broadcast of shapes, written out rule by rule: align on the right; sizes must match or one
 * of them must be 1. Returns null when they do not broadcast.
 */
export function broadcastShapeRef(...shapes: (readonly number[])[]): number[] | null {
  const rank = Math.max(0, ...shapes.map((s) => s.length));
  const out: number[] = [];
  for (let k = 0; k < rank; k++) {
    let size = 1;
    for (const s of shapes) {
      const j = k - (rank - s.length);
      if (j < 0) continue;
      const d = s[j] as number;
      if (d === 1) continue;
      if (size === 1) size = d;
      else if (size !== d) return null;
    }
    out.push(size);
  }
  return out;
}

/** The element of `x` that output multi-index `outIdx` reads when x is broadcast to a larger shape. */
export function broadcastRead(x: Nd, outIdx: readonly number[]): number {
  const lead = outIdx.length - x.shape.length;
  const idx = x.shape.map((d, k) => (d === 1 ? 0 : (outIdx[k + lead] as number)));
  return at(x, idx);
}

/** Elementwise map with broadcasting over any number of inputs. */
export function mapRef(inputs: readonly Nd[], fn: (...v: number[]) => number): Nd {
  const shape = broadcastShapeRef(...inputs.map((x) => x.shape));
  if (!shape) throw new Error('reference: shapes do not broadcast');
  return ndFrom(shape, (idx) => fn(...inputs.map((x) => broadcastRead(x, idx))));
}

/**
 * Reduces `axes` (non-negative, any order, may be non-adjacent) by folding every element of each
 * group in row-major order. `finish(acc, count)` turns the accumulator into the result.
 */
export function reduceRef(
  x: Nd,
  axes: readonly number[],
  keepdim: boolean,
  init: number,
  fold: (acc: number, v: number) => number,
  finish: (acc: number, count: number) => number = (a) => a,
): Nd {
  const reduced = new Set(axes);
  const outShape = keepdim
    ? x.shape.map((d, k) => (reduced.has(k) ? 1 : d))
    : x.shape.filter((_, k) => !reduced.has(k));
  const keptShape = x.shape.map((d, k) => (reduced.has(k) ? 1 : d));
  const n = numel(keptShape);
  const acc = new Float64Array(n).fill(init);
  const count = new Float64Array(n);
  for (let i = 0; i < x.data.length; i++) {
    const idx = unravel(i, x.shape);
    const o = ravel(
      idx.map((v, k) => (reduced.has(k) ? 0 : v)),
      keptShape,
    );
    acc[o] = fold(acc[o] as number, x.data[i] as number);
    count[o] = (count[o] as number) + 1;
  }
  const data = new Float64Array(n);
  for (let o = 0; o < n; o++) data[o] = finish(acc[o] as number, count[o] as number);
  return { shape: outShape, data };
}

/** Sums a broadcast gradient back to `shape`: every output position adds into the input it read. */
export function sumToRef(g: Nd, shape: readonly number[]): Nd {
  const out = new Float64Array(numel(shape));
  const lead = g.shape.length - shape.length;
  for (let i = 0; i < g.data.length; i++) {
    const idx = unravel(i, g.shape);
    const src = shape.map((d, k) => (d === 1 ? 0 : (idx[k + lead] as number)));
    const o = ravel(src, shape);
    out[o] = (out[o] as number) + (g.data[i] as number);
  }
  return { shape: shape.slice(), data: out };
}

/** Batched matrix product with NumPy matmul rules (1-d operands promoted and the axis removed). */
export function matmulRef(a: Nd, b: Nd): Nd {
  const a2: Nd = a.shape.length === 1 ? { shape: [1, a.shape[0] as number], data: a.data } : a;
  const b2: Nd = b.shape.length === 1 ? { shape: [b.shape[0] as number, 1], data: b.data } : b;
  const ra = a2.shape.length;
  const rb = b2.shape.length;
  const m = a2.shape[ra - 2] as number;
  const k = a2.shape[ra - 1] as number;
  const n = b2.shape[rb - 1] as number;
  if (b2.shape[rb - 2] !== k) throw new Error('reference: inner sizes differ');
  const batch = broadcastShapeRef(a2.shape.slice(0, -2), b2.shape.slice(0, -2));
  if (!batch) throw new Error('reference: batch shapes do not broadcast');
  const aBatch: Nd = { shape: a2.shape.slice(0, -2), data: new Float64Array(0) };
  const bBatch: Nd = { shape: b2.shape.slice(0, -2), data: new Float64Array(0) };
  const out = ndFrom([...batch, m, n], (idx) => {
    const bi = idx.slice(0, -2);
    const i = idx[idx.length - 2] as number;
    const j = idx[idx.length - 1] as number;
    const aLead = bi.length - aBatch.shape.length;
    const bLead = bi.length - bBatch.shape.length;
    const ai = aBatch.shape.map((d, q) => (d === 1 ? 0 : (bi[q + aLead] as number)));
    const bj = bBatch.shape.map((d, q) => (d === 1 ? 0 : (bi[q + bLead] as number)));
    let s = 0;
    for (let p = 0; p < k; p++) s += at(a2, [...ai, i, p]) * at(b2, [...bj, p, j]);
    return s;
  });
  let shape = out.shape.slice();
  if (b.shape.length === 1) shape = shape.slice(0, -1);
  if (a.shape.length === 1) shape.splice(shape.length - (b.shape.length === 1 ? 1 : 2), 1);
  return { shape, data: out.data };
}

/** Swaps the last two axes. */
export function transposeRef(x: Nd): Nd {
  const r = x.shape.length;
  const shape = x.shape.slice();
  shape[r - 2] = x.shape[r - 1] as number;
  shape[r - 1] = x.shape[r - 2] as number;
  return ndFrom(shape, (idx) => {
    const src = idx.slice();
    src[r - 2] = idx[r - 1] as number;
    src[r - 1] = idx[r - 2] as number;
    return at(x, src);
  });
}

// ---- special functions in float64 ------------------------------------------------------------

const TWO_OVER_SQRT_PI = 1.1283791670955126;

/**
 * erf(x) to ~1e-15: the Maclaurin-type series erf(x) = 2/√π·e^{−x²}·Σ 2ⁿx^{2n+1}/(1·3·…·(2n+1)) (all
 * terms positive, no cancellation) for |x| < 3, and 1 − erfc(x) beyond.
 */
export function erfRef(x: number): number {
  if (Number.isNaN(x)) return Number.NaN;
  if (x < 0) return -erfRef(-x);
  if (x >= 3) return 1 - erfcRef(x);
  let term = x;
  let sum = x;
  for (let n = 1; n < 200; n++) {
    term *= (2 * x * x) / (2 * n + 1);
    sum += term;
    if (term < sum * 1e-17) break;
  }
  return TWO_OVER_SQRT_PI * Math.exp(-x * x) * sum;
}

/**
 * erfc(x) with full relative accuracy in the tail: 1 − erf for x < 2 (erfc >= 0.004, so at most
 * ~3 digits of 16 are lost), Lentz's continued fraction for x >= 2.
 */
export function erfcRef(x: number): number {
  if (Number.isNaN(x)) return Number.NaN;
  if (x < 2) return 1 - erfRef(x);
  if (x === Number.POSITIVE_INFINITY) return 0;
  // erfc(x) = e^{−x²}/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + 2/(x + …)))))
  const tiny = 1e-300;
  let f = x;
  let c = x;
  let d = 0;
  for (let n = 1; n < 500; n++) {
    const an = n / 2;
    d = x + an * d;
    d = d === 0 ? tiny : d;
    c = x + an / c;
    c = c === 0 ? tiny : c;
    d = 1 / d;
    const delta = c * d;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  return Math.exp(-x * x) / Math.sqrt(Math.PI) / f;
}

/** Standard normal CDF Φ(x) = erfc(−x/√2)/2, accurate in both tails. */
export function normalCdfRef(x: number): number {
  return 0.5 * erfcRef(-x * Math.SQRT1_2);
}

export function geluRef(x: number): number {
  return x * normalCdfRef(x);
}

export function sigmoidRef(x: number): number {
  return x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x));
}

export function softplusRef(x: number): number {
  return Math.max(x, 0) + Math.log1p(Math.exp(-Math.abs(x)));
}

/** Round half to even. */
export function roundHalfEvenRef(x: number): number {
  if (!Number.isFinite(x)) return x;
  const f = Math.floor(x);
  const diff = x - f;
  if (diff < 0.5) return f;
  if (diff > 0.5) return f + 1;
  return f % 2 === 0 ? f : f + 1;
}

// ---- deterministic test data (independent of src/random.ts) -----------------------------------

/** mulberry32: a tiny seeded PRNG, so every failure reproduces. */
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `n` uniform values in [lo, hi), rounded to float32 so the library sees exactly these numbers. */
export function uniform(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  const r = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = lo + (hi - lo) * r();
  return out;
}

/** Uniform values whose magnitudes stay in [lo, hi] with random signs (away from 0). */
export function awayFromZero(n: number, seed: number, lo = 0.3, hi = 1.5): Float32Array {
  const r = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = (r() < 0.5 ? -1 : 1) * (lo + (hi - lo) * r());
  return out;
}

/** Distinct values (a shuffled, scaled arange plus jitter), for ops that must avoid ties. */
export function distinct(n: number, seed: number, spread = 1): Float32Array {
  const r = rng(seed);
  const vals = Array.from({ length: n }, (_, i) => (i - n / 2) * (spread / Math.max(n, 1)) * 2);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    const t = vals[i] as number;
    vals[i] = vals[j] as number;
    vals[j] = t;
  }
  return Float32Array.from(vals, (v) => v + (r() - 0.5) * (spread / Math.max(n, 1)) * 0.2);
}

/** Every subset of 0..rank-1 (including the empty one), for testing reductions over axis sets. */
export function axisSubsets(rank: number): number[][] {
  const out: number[][] = [];
  for (let mask = 0; mask < 1 << rank; mask++) {
    const s: number[] = [];
    for (let k = 0; k < rank; k++) if (mask & (1 << k)) s.push(k);
    out.push(s);
  }
  return out;
}
