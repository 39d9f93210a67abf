/**
 * Independent float64 references for the scan tests: a seeded generator, host arrays, and for every
 * operator under test its combine written with plain loops over doubles, folded one element at a
 * time. Nothing here imports the code under test.
 */

/** mulberry32: a small seeded generator of floats in [0, 1). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Standard normal by Box–Muller. */
export function normal(r: () => number): number {
  const u = Math.max(r(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * r());
}

/** A host array: what a test feeds in (float32 values) or expects (float64). */
export interface Host {
  shape: number[];
  data: Float32Array;
}

export function sizeOf(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

export function host(shape: number[], fill: (i: number) => number): Host {
  return { shape, data: Float32Array.from({ length: sizeOf(shape) }, (_, i) => fill(i)) };
}

// ---- float64 operators -------------------------------------------------------------------------

/** An element: one flat vector per tuple member (its lanes are everything after the scan axis). */
export type Elem = Float64Array[];

export interface RefOp {
  name: string;
  arity: number;
  identity: number[];
  combine(a: Elem, b: Elem): Elem;
}

/** The lane of a smaller member that lane k of a bigger one broadcasts against ([.., 1] vs [.., d]). */
function lane(k: number, small: number, big: number): number {
  return Math.floor((k * small) / big);
}

function map1(a: Float64Array, b: Float64Array, f: (x: number, y: number) => number): Float64Array {
  return a.map((x, i) => f(x, b[i] as number));
}

export function logaddexp64(x: number, y: number): number {
  const hi = Math.max(x, y);
  const lo = Math.min(x, y);
  if (hi === Number.NEGATIVE_INFINITY) return hi;
  return hi + Math.log1p(Math.exp(lo - hi));
}

export const refAdd: RefOp = {
  name: 'add',
  arity: 1,
  identity: [0],
  combine: ([a], [b]) => [map1(a as Float64Array, b as Float64Array, (x, y) => x + y)],
};

export const refMax: RefOp = {
  name: 'max',
  arity: 1,
  identity: [Number.NEGATIVE_INFINITY],
  combine: ([a], [b]) => [map1(a as Float64Array, b as Float64Array, Math.max)],
};

export const refLogaddexp: RefOp = {
  name: 'logaddexp',
  arity: 1,
  identity: [Number.NEGATIVE_INFINITY],
  combine: ([a], [b]) => [map1(a as Float64Array, b as Float64Array, logaddexp64)],
};

/** (a₁, b₁) then (a₂, b₂): h ↦ a₂(a₁h + b₁) + b₂. Scale a may have fewer lanes than offset b. */
function affineCombine(a: Elem, b: Elem): Elem {
  const [a1, b1] = a as [Float64Array, Float64Array];
  const [a2, b2] = b as [Float64Array, Float64Array];
  const A = map1(a1, a2, (x, y) => x * y);
  const B = b1.map((v, k) => (a2[lane(k, a2.length, b1.length)] as number) * v + (b2[k] as number));
  return [A, B];
}

export const refLinearRecurrence: RefOp = {
  name: 'linearRecurrence',
  arity: 2,
  identity: [1, 0],
  combine: affineCombine,
};

/** The user-defined affine map (scale [.., 1], offset [.., k]) composes the same way. */
export const refAffine: RefOp = { ...refLinearRecurrence, name: 'affine' };

/** 2×2 matrices as 4-tuples (p, q, r, s) = [[p, q], [r, s]]; a ⊕ b = a·b (not commutative). */
export const refMat2: RefOp = {
  name: 'mat2',
  arity: 4,
  identity: [1, 0, 0, 1],
  combine: (a, b) => {
    const [p, q, r, s] = a as [Float64Array, Float64Array, Float64Array, Float64Array];
    const [P, Q, R, S] = b as [Float64Array, Float64Array, Float64Array, Float64Array];
    const n = p.length;
    const out = [0, 1, 2, 3].map(() => new Float64Array(n));
    for (let i = 0; i < n; i++) {
      const [p1, q1, r1, s1] = [p[i], q[i], r[i], s[i]] as number[] as [
        number,
        number,
        number,
        number,
      ];
      const [p2, q2, r2, s2] = [P[i], Q[i], R[i], S[i]] as number[] as [
        number,
        number,
        number,
        number,
      ];
      (out[0] as Float64Array)[i] = p1 * p2 + q1 * r2;
      (out[1] as Float64Array)[i] = p1 * q2 + q1 * s2;
      (out[2] as Float64Array)[i] = r1 * p2 + s1 * r2;
      (out[3] as Float64Array)[i] = r1 * q2 + s1 * s2;
    }
    return out;
  },
};

/**
 * The attention triple of MATH.md §2 in float64, written straight from the definition: both sides
 * rescaled to the joint maximum, a −inf side contributing exactly 0.
 */
export const refAttention: RefOp = {
  name: 'attention',
  arity: 3,
  identity: [Number.NEGATIVE_INFINITY, 0, 0],
  combine: (a, b) => {
    const [ma, ua, wa] = a as [Float64Array, Float64Array, Float64Array];
    const [mb, ub, wb] = b as [Float64Array, Float64Array, Float64Array];
    const c = ma.length;
    const coef = (x: number, m: number) => (x === Number.NEGATIVE_INFINITY ? 0 : Math.exp(x - m));
    const m = map1(ma, mb, Math.max);
    const u = new Float64Array(c);
    for (let j = 0; j < c; j++) {
      const mj = m[j] as number;
      u[j] =
        (ua[j] as number) * coef(ma[j] as number, mj) +
        (ub[j] as number) * coef(mb[j] as number, mj);
    }
    const w = wa.map((x, k) => {
      const j = lane(k, c, wa.length);
      const mj = m[j] as number;
      return x * coef(ma[j] as number, mj) + (wb[k] as number) * coef(mb[j] as number, mj);
    });
    return [m, u, w];
  },
};

// ---- the fold ----------------------------------------------------------------------------------

export interface RefScanOptions {
  reverse?: boolean;
  exclusive?: boolean;
  /** One host array per member, shaped like the input without the axis. */
  carry?: readonly { data: ArrayLike<number> }[];
}

export interface RefScanResult {
  outputs: Float64Array[];
  carry: Float64Array[];
}

/**
 * The scan by definition: per outer index, fold the elements one after another (from the end when
 * reversed) starting from the carry or the identity; inclusive outputs record the state after each
 * element, exclusive ones the state before it.
 */
export function refScan(
  op: RefOp,
  inputs: readonly { shape: readonly number[]; data: ArrayLike<number> }[],
  axis: number,
  opts: RefScanOptions = {},
): RefScanResult {
  const first = inputs[0] as { shape: readonly number[] };
  const ax = axis < 0 ? axis + first.shape.length : axis;
  const outer = sizeOf(first.shape.slice(0, ax));
  const T = first.shape[ax] as number;
  const inner = inputs.map((x) => sizeOf(x.shape.slice(ax + 1)));
  const outputs = inputs.map((x) => new Float64Array(x.data.length));
  const carry = inputs.map((_, k) => new Float64Array(outer * (inner[k] as number)));
  for (let o = 0; o < outer; o++) {
    let acc: Elem = inputs.map((_, k) => {
      const n = inner[k] as number;
      const c = opts.carry?.[k];
      return c
        ? Float64Array.from({ length: n }, (_, i) => c.data[o * n + i] as number)
        : new Float64Array(n).fill(op.identity[k] as number);
    });
    for (let s = 0; s < T; s++) {
      const t = opts.reverse ? T - 1 - s : s;
      const elem = inputs.map((x, k) => {
        const n = inner[k] as number;
        const base = (o * T + t) * n;
        return Float64Array.from({ length: n }, (_, i) => x.data[base + i] as number);
      });
      const before = acc;
      acc = op.combine(acc, elem);
      const rec = opts.exclusive ? before : acc;
      rec.forEach((v, k) => {
        (outputs[k] as Float64Array).set(v, (o * T + t) * (inner[k] as number));
      });
    }
    acc.forEach((v, k) => {
      (carry[k] as Float64Array).set(v, o * (inner[k] as number));
    });
  }
  return { outputs, carry };
}

// ---- causal softmax attention, naively ---------------------------------------------------------

export interface RefAttentionCarry {
  m: ArrayLike<number>;
  u: ArrayLike<number>;
  w: ArrayLike<number>;
}

/**
 * out[t] = Σ_{i≤t} softmax_i(s) v_i by the O(T²) definition, per row of [outer, T, d]: each prefix
 * gets its own maximum (MATH.md §6). `channels` is 1 (scores [.., T]) or d (scores [.., T, d]). A
 * carry is one more position before the first, of weight u·e^m and numerator w·e^m. Rows whose
 * visible scores are all −inf give 0.
 */
export function naiveAttention(
  scores: ArrayLike<number>,
  values: ArrayLike<number>,
  outer: number,
  T: number,
  d: number,
  channels: number,
  carry?: RefAttentionCarry,
): Float64Array {
  const out = new Float64Array(outer * T * d);
  for (let o = 0; o < outer; o++) {
    for (let t = 0; t < T; t++) {
      for (let k = 0; k < d; k++) {
        const j = channels === 1 ? 0 : k;
        const score = (i: number) => scores[(o * T + i) * channels + j] as number;
        let mx = carry ? (carry.m[o * channels + j] as number) : Number.NEGATIVE_INFINITY;
        for (let i = 0; i <= t; i++) mx = Math.max(mx, score(i));
        if (mx === Number.NEGATIVE_INFINITY) continue;
        let num = 0;
        let den = 0;
        if (carry) {
          const e = Math.exp((carry.m[o * channels + j] as number) - mx);
          num += e * (carry.w[o * d + k] as number);
          den += e * (carry.u[o * channels + j] as number);
        }
        for (let i = 0; i <= t; i++) {
          const e = Math.exp(score(i) - mx);
          num += e * (values[(o * T + i) * d + k] as number);
          den += e;
        }
        out[(o * T + t) * d + k] = num / den;
      }
    }
  }
  return out;
}

/**
 * The exact gradients of L = Σ g·out for naiveAttention, from MATH.md §2: with α_{k,i} the causal
 * softmax weights, dL/dv_i = Σ_{k≥i} α_{k,i} g_k and dL/ds_i = Σ_{k≥i} α_{k,i} <g_k, v_i − o_k> (per
 * channel for channel scores), and for a carry (a position of weight β_k = u·e^m / D_k):
 * dL/dw = Σ_k e^m/D_k g_k, dL/du = −Σ_k e^m/D_k <g_k, o_k>, dL/dm = Σ_k e^m/D_k <g_k, w − u·o_k>.
 * O(T²·d) loops in float64.
 */
export function naiveAttentionGrads(
  scores: ArrayLike<number>,
  values: ArrayLike<number>,
  g: ArrayLike<number>,
  outer: number,
  T: number,
  d: number,
  channels: number,
  carry?: RefAttentionCarry,
): { ds: Float64Array; dv: Float64Array; dm: Float64Array; du: Float64Array; dw: Float64Array } {
  const out = naiveAttention(scores, values, outer, T, d, channels, carry);
  const ds = new Float64Array(outer * T * channels);
  const dv = new Float64Array(outer * T * d);
  const dm = new Float64Array(outer * channels);
  const du = new Float64Array(outer * channels);
  const dw = new Float64Array(outer * d);
  const lanes = (j: number) => (channels === 1 ? Array.from({ length: d }, (_, k) => k) : [j]);
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < channels; j++) {
      const score = (i: number) => scores[(o * T + i) * channels + j] as number;
      const cm = carry ? (carry.m[o * channels + j] as number) : Number.NEGATIVE_INFINITY;
      for (let k = 0; k < T; k++) {
        let mx = cm;
        for (let i = 0; i <= k; i++) mx = Math.max(mx, score(i));
        if (mx === Number.NEGATIVE_INFINITY) continue;
        let den = carry ? (carry.u[o * channels + j] as number) * Math.exp(cm - mx) : 0;
        for (let i = 0; i <= k; i++) den += Math.exp(score(i) - mx);
        const gk = (l: number) => g[(o * T + k) * d + l] as number;
        const ok = (l: number) => out[(o * T + k) * d + l] as number;
        for (let i = 0; i <= k; i++) {
          const alpha = Math.exp(score(i) - mx) / den;
          let dot = 0;
          for (const l of lanes(j)) {
            dv[(o * T + i) * d + l]! += alpha * gk(l);
            dot += gk(l) * ((values[(o * T + i) * d + l] as number) - ok(l));
          }
          ds[(o * T + i) * channels + j]! += alpha * dot;
        }
        if (carry && cm !== Number.NEGATIVE_INFINITY) {
          const beta = Math.exp(cm - mx) / den;
          let go = 0;
          let gw = 0;
          for (const l of lanes(j)) {
            dw[o * d + l]! += beta * gk(l);
            go += gk(l) * ok(l);
            gw += gk(l) * (carry.w[o * d + l] as number);
          }
          du[o * channels + j]! -= beta * go;
          dm[o * channels + j]! += beta * (gw - (carry.u[o * channels + j] as number) * go);
        }
      }
    }
  }
  return { ds, dv, dm, du, dw };
}

/**
 * Causal attention in O(T·d) by the max-rescaled recurrence of MATH.md §1, in float64: the reference
 * for sequences too long for the O(T²) definition.
 */
export function streamingAttention(
  scores: ArrayLike<number>,
  values: ArrayLike<number>,
  outer: number,
  T: number,
  d: number,
  channels: number,
): Float64Array {
  const out = new Float64Array(outer * T * d);
  const m = new Float64Array(channels);
  const u = new Float64Array(channels);
  const w = new Float64Array(d);
  for (let o = 0; o < outer; o++) {
    m.fill(Number.NEGATIVE_INFINITY);
    u.fill(0);
    w.fill(0);
    for (let t = 0; t < T; t++) {
      for (let j = 0; j < channels; j++) {
        const s = scores[(o * T + t) * channels + j] as number;
        if (s === Number.NEGATIVE_INFINITY) continue;
        const mNew = Math.max(m[j] as number, s);
        const scale = m[j] === Number.NEGATIVE_INFINITY ? 0 : Math.exp((m[j] as number) - mNew);
        const e = Math.exp(s - mNew);
        m[j] = mNew;
        u[j] = (u[j] as number) * scale + e;
        for (const l of channels === 1 ? Array.from({ length: d }, (_, i) => i) : [j]) {
          w[l] = (w[l] as number) * scale + e * (values[(o * T + t) * d + l] as number);
        }
      }
      for (let l = 0; l < d; l++) {
        const uj = u[channels === 1 ? 0 : l] as number;
        out[(o * T + t) * d + l] = uj > 0 ? (w[l] as number) / uj : 0;
      }
    }
  }
  return out;
}

/**
 * The gradients of L = Σ g·out for one row of one-score-per-position attention in O(T·d), float64:
 * with D_k = Σ_{j≤k} e^{s_j − S} (S the row's largest score, fine in float64 for spreads < 700),
 * dL/dv_i = e^{s_i − S} Σ_{k≥i} g_k / D_k and dL/ds_i = e^{s_i − S} Σ_{k≥i} <g_k, v_i − o_k> / D_k,
 * the second summed as <Σ g_k/D_k, v_i> − Σ <g_k, o_k>/D_k (MATH.md §2, as suffix sums).
 */
export function linearAttentionGrads(
  scores: ArrayLike<number>,
  values: ArrayLike<number>,
  g: ArrayLike<number>,
  T: number,
  d: number,
): { ds: Float64Array; dv: Float64Array } {
  let S = Number.NEGATIVE_INFINITY;
  for (let k = 0; k < T; k++) S = Math.max(S, scores[k] as number);
  const o = new Float64Array(T * d);
  const D = new Float64Array(T);
  const W = new Float64Array(d);
  let U = 0;
  for (let k = 0; k < T; k++) {
    const e = Math.exp((scores[k] as number) - S);
    U += e;
    for (let l = 0; l < d; l++) {
      W[l] = (W[l] as number) + e * (values[k * d + l] as number);
      o[k * d + l] = (W[l] as number) / U;
    }
    D[k] = U;
  }
  const A = new Float64Array(d);
  let B = 0;
  const ds = new Float64Array(T);
  const dv = new Float64Array(T * d);
  for (let i = T - 1; i >= 0; i--) {
    const Di = D[i] as number;
    let go = 0;
    for (let l = 0; l < d; l++) {
      const gl = g[i * d + l] as number;
      A[l] = (A[l] as number) + gl / Di;
      go += gl * (o[i * d + l] as number);
    }
    B += go / Di;
    const e = Math.exp((scores[i] as number) - S);
    let av = 0;
    for (let l = 0; l < d; l++) {
      av += (A[l] as number) * (values[i * d + l] as number);
      dv[i * d + l] = e * (A[l] as number);
    }
    ds[i] = e * (av - B);
  }
  return { ds, dv };
}
