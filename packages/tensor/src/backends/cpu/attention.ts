import type { TypedArray } from '../../dtype.js';
import { registerKernel } from '../../kernels.js';
import {
  type AttentionAttrs,
  type AttentionGradOp,
  type AttentionOp,
  attentionDims,
  visibleEnd,
} from '../../ops/attention.js';
import { sizeOf } from '../../shape.js';
import { tiledBackward, tiledEngine, tiledForward } from './attention-tiled.js';
import { alloc, arr } from './backend.js';
import { decodeAttention } from './wasm/attention.js';

/**
 * Fused softmax attention (ops/attention.ts) on the CPU. Products of many queries (a training
 * step, a prefill) run on tiles of queries × keys through the WebAssembly GEMM with an online
 * softmax (attention-tiled.ts). One query per head (a streaming step) against a key/value cache
 * that lives in the WebAssembly memory (ops/attention.ts moves it there) runs the WebAssembly SIMD
 * kernel of wasm/attention.ts, which reads the cache in place. Other few-query products (a head size
 * that is not a multiple of 4, no shared memory), small products and engines without WebAssembly
 * SIMD take the row kernels here: four query rows at a time, each key and value row
 * read once for the four, whose scores live in four scratch rows of Tk floats. Memory is O(Tk) per
 * call, never O(Tq·Tk); the gradient recomputes the probabilities from lse. Sums run in float64.
 */

/**
 * The tiled kernels run when a head has at least this many queries and query-key pairs: below, the
 * GEMM's copies and calls cost more than the row kernels' plain loops.
 */
const TILED_MIN_QUERIES = 16;
const TILED_MIN_PAIRS = 4096;

function useTiled(tq: number, tk: number, d: number) {
  return tq >= TILED_MIN_QUERIES && tq * tk >= TILED_MIN_PAIRS && d > 0 ? tiledEngine() : null;
}

/** Query rows handled together (their scores, accumulators and gradients). */
const R = 4;

/** Scratch for one block of R rows: their inputs copied to float64, and per-key rows. */
class Block {
  readonly rows: Float64Array[];
  readonly s: Float64Array[];
  readonly ends = new Int32Array(R);
  end = 0;
  constructor(width: number, tk: number) {
    this.rows = Array.from({ length: R }, () => new Float64Array(width));
    this.s = Array.from({ length: R }, () => new Float64Array(tk));
  }
  /** Copies rows first..first+R−1 of src (row length `width`, zeros past `count`) into rows. */
  load(into: Float64Array[], src: TypedArray, first: number, count: number, width: number): void {
    for (let r = 0; r < R; r++) {
      const row = into[r]!;
      if (r < count) for (let x = 0; x < width; x++) row[x] = src[(first + r) * width + x]!;
      else row.fill(0);
    }
  }
}

type Rows4 = [Float64Array, Float64Array, Float64Array, Float64Array];

/** The R = 4 rows of a block's row buffers. */
function rows4(rows: Float64Array[]): Rows4 {
  return [rows[0]!, rows[1]!, rows[2]!, rows[3]!];
}

/**
 * The 4 × 4 register tiles that scores and weighted are made of: for the four rows r and the
 * columns t < end in fours, out_r[t] = scale · Σ_{i<n} a_r[i] · B[o_t + i·stepI], summed in i
 * order, where column t + k of a tile starts at o_t + k·stepK and the next tile at o_t + next.
 * 8 loads for 16 multiply-adds per i, written out by hand so the 16 sums stay in registers (hence
 * its length).
 * Returns the first column left (fewer than 4 remain) for {@link tiles4x1}.
 */
function tiles4x4(
  a: Float64Array[],
  B: TypedArray,
  o: number,
  next: number,
  stepK: number,
  stepI: number,
  n: number,
  end: number,
  out: Float64Array[],
  scale: number,
): number {
  const [a0, a1, a2, a3] = rows4(a);
  const [s0, s1, s2, s3] = rows4(out);
  const k2 = 2 * stepK;
  const k3 = 3 * stepK;
  let t = 0;
  for (; t + 3 < end; t += 4, o += next) {
    let c00 = 0;
    let c01 = 0;
    let c02 = 0;
    let c03 = 0;
    let c10 = 0;
    let c11 = 0;
    let c12 = 0;
    let c13 = 0;
    let c20 = 0;
    let c21 = 0;
    let c22 = 0;
    let c23 = 0;
    let c30 = 0;
    let c31 = 0;
    let c32 = 0;
    let c33 = 0;
    for (let i = 0, p = o; i < n; i++, p += stepI) {
      const b0 = B[p]!;
      const b1 = B[p + stepK]!;
      const b2 = B[p + k2]!;
      const b3 = B[p + k3]!;
      const x0 = a0[i]!;
      const x1 = a1[i]!;
      const x2 = a2[i]!;
      const x3 = a3[i]!;
      c00 += x0 * b0;
      c01 += x0 * b1;
      c02 += x0 * b2;
      c03 += x0 * b3;
      c10 += x1 * b0;
      c11 += x1 * b1;
      c12 += x1 * b2;
      c13 += x1 * b3;
      c20 += x2 * b0;
      c21 += x2 * b1;
      c22 += x2 * b2;
      c23 += x2 * b3;
      c30 += x3 * b0;
      c31 += x3 * b1;
      c32 += x3 * b2;
      c33 += x3 * b3;
    }
    s0[t] = c00 * scale;
    s0[t + 1] = c01 * scale;
    s0[t + 2] = c02 * scale;
    s0[t + 3] = c03 * scale;
    s1[t] = c10 * scale;
    s1[t + 1] = c11 * scale;
    s1[t + 2] = c12 * scale;
    s1[t + 3] = c13 * scale;
    s2[t] = c20 * scale;
    s2[t + 1] = c21 * scale;
    s2[t + 2] = c22 * scale;
    s2[t + 3] = c23 * scale;
    s3[t] = c30 * scale;
    s3[t + 1] = c31 * scale;
    s3[t + 2] = c32 * scale;
    s3[t + 3] = c33 * scale;
  }
  return t;
}

/** The columns t from `from` to end−1 of {@link tiles4x4} one at a time (column t at o, then o + next). */
function tiles4x1(
  a: Float64Array[],
  B: TypedArray,
  o: number,
  next: number,
  stepI: number,
  n: number,
  from: number,
  end: number,
  out: Float64Array[],
  scale: number,
): void {
  const [a0, a1, a2, a3] = rows4(a);
  const [s0, s1, s2, s3] = rows4(out);
  for (let t = from; t < end; t++, o += next) {
    let c0 = 0;
    let c1 = 0;
    let c2 = 0;
    let c3 = 0;
    for (let i = 0, p = o; i < n; i++, p += stepI) {
      const b = B[p]!;
      c0 += a0[i]! * b;
      c1 += a1[i]! * b;
      c2 += a2[i]! * b;
      c3 += a3[i]! * b;
    }
    s0[t] = c0 * scale;
    s1[t] = c1 * scale;
    s2[t] = c2 * scale;
    s3[t] = c3 * scale;
  }
}

/**
 * s_r[j] = scale · a_r · B_j for the R rows a_r (of length w) and keys j < end, from B's rows at
 * base + j·w; −∞ where j >= ends[r].
 */
function scores(
  blk: Block,
  a: Float64Array[],
  B: TypedArray,
  base: number,
  w: number,
  scale: number,
  out: Float64Array[],
): void {
  // 4 rows × 4 keys per tile (key j's row at base + j·w), then the keys left one at a time.
  const j = tiles4x4(a, B, base, 4 * w, w, 1, w, blk.end, out, scale);
  tiles4x1(a, B, base + j * w, w, 1, w, j, blk.end, out, scale);
  for (let r = 0; r < R; r++) out[r]!.fill(Number.NEGATIVE_INFINITY, blk.ends[r], blk.end);
}

/** out_r[x] = Σ_{j<end} w_r[j] · B[base + j·w + x] for x < w (the R weighted sums of B's rows). */
function weighted(
  blk: Block,
  wts: Float64Array[],
  B: TypedArray,
  base: number,
  w: number,
  out: Float64Array[],
): void {
  // 4 rows × 4 adjacent columns per tile (column x at base + x, key j a row of w further), then
  // the columns left one at a time; a scale of 1 leaves each sum as it is.
  const x = tiles4x4(wts, B, base, 4, 1, w, blk.end, w, out, 1);
  tiles4x1(wts, B, base + x, 1, w, blk.end, x, w, out, 1);
}

/** G[j·w + x] += Σ_r c_r[j] · a_r[x] for j < end (rank-R update of the key rows' gradients). */
function rankUpdate(
  blk: Block,
  c: Float64Array[],
  a: Float64Array[],
  G: Float64Array,
  w: number,
): void {
  const [c0, c1, c2, c3] = rows4(c);
  const [a0, a1, a2, a3] = rows4(a);
  let j = 0;
  // Two keys per pass: the four row values a_r[x] are loaded once for both.
  for (; j + 1 < blk.end; j += 2) {
    const k0 = c0[j]!;
    const k1 = c1[j]!;
    const k2 = c2[j]!;
    const k3 = c3[j]!;
    const m0 = c0[j + 1]!;
    const m1 = c1[j + 1]!;
    const m2 = c2[j + 1]!;
    const m3 = c3[j + 1]!;
    const o = j * w;
    const p = o + w;
    for (let x = 0; x < w; x++) {
      const x0 = a0[x]!;
      const x1 = a1[x]!;
      const x2 = a2[x]!;
      const x3 = a3[x]!;
      G[o + x] = G[o + x]! + k0 * x0 + k1 * x1 + k2 * x2 + k3 * x3;
      G[p + x] = G[p + x]! + m0 * x0 + m1 * x1 + m2 * x2 + m3 * x3;
    }
  }
  for (; j < blk.end; j++) {
    const k0 = c0[j]!;
    const k1 = c1[j]!;
    const k2 = c2[j]!;
    const k3 = c3[j]!;
    const o = j * w;
    for (let x = 0; x < w; x++) {
      G[o + x] = G[o + x]! + k0 * a0[x]! + k1 * a1[x]! + k2 * a2[x]! + k3 * a3[x]!;
    }
  }
}

function setEnds(blk: Block, a: AttentionAttrs, i0: number, count: number): void {
  blk.end = 0;
  for (let r = 0; r < R; r++) {
    const e = r < count ? visibleEnd(a, i0 + r) : 0;
    blk.ends[r] = e;
    if (e > blk.end) blk.end = e;
  }
}

/**
 * One query row: its scores against keys 0..end−1 (four keys per pass, the query row read from
 * float32), a max-shifted softmax, and the weighted sum of the value rows (one pass over them).
 */
function oneRow(
  Q: TypedArray,
  K: TypedArray,
  V: TypedArray,
  out: TypedArray,
  lse: TypedArray,
  row: number,
  key0: number,
  end: number,
  d: number,
  dv: number,
  scale: number,
  s: Float64Array,
  acc: Float64Array,
): void {
  if (end === 0) {
    lse[row] = Number.NEGATIVE_INFINITY;
    for (let x = 0; x < dv; x++) out[row * dv + x] = 0;
    return;
  }
  const q0 = row * d;
  let j = 0;
  for (; j + 3 < end; j += 4) {
    const o0 = (key0 + j) * d;
    const o1 = o0 + d;
    const o2 = o1 + d;
    const o3 = o2 + d;
    let c0 = 0;
    let c1 = 0;
    let c2 = 0;
    let c3 = 0;
    for (let x = 0; x < d; x++) {
      const qx = Q[q0 + x]!;
      c0 += qx * K[o0 + x]!;
      c1 += qx * K[o1 + x]!;
      c2 += qx * K[o2 + x]!;
      c3 += qx * K[o3 + x]!;
    }
    s[j] = c0 * scale;
    s[j + 1] = c1 * scale;
    s[j + 2] = c2 * scale;
    s[j + 3] = c3 * scale;
  }
  for (; j < end; j++) {
    const o = (key0 + j) * d;
    let c = 0;
    for (let x = 0; x < d; x++) c += Q[q0 + x]! * K[o + x]!;
    s[j] = c * scale;
  }
  let m = Number.NEGATIVE_INFINITY;
  for (let t = 0; t < end; t++) {
    const v = s[t]!;
    if (v > m || Number.isNaN(v)) m = v;
  }
  // All scores −∞ (infinite inputs): there is nothing to weigh; exp(s − m) would be NaN.
  const shift = m === Number.NEGATIVE_INFINITY ? 0 : m;
  let sum = 0;
  acc.fill(0, 0, dv);
  for (let t = 0; t < end; t++) {
    const p = Math.exp(s[t]! - shift);
    sum += p;
    const o = (key0 + t) * dv;
    for (let x = 0; x < dv; x++) acc[x] = acc[x]! + p * V[o + x]!;
  }
  for (let x = 0; x < dv; x++) out[row * dv + x] = acc[x]! / sum;
  lse[row] = shift + Math.log(sum);
}

// Kept whole (~80 lines): the four-row block loop shares its block buffers and per-row softmax state
// between the steps commented inline; the WASM and tiled engines are tried first.
registerKernel<AttentionOp>('attention', 'cpu', (_b, [q, k, v], a, [oSpec, lSpec]) => {
  const { batch, tq, tk, d, dv } = attentionDims(q, k, v);
  const [Q, K, V] = [arr(q), arr(k), arr(v)];
  const out = alloc('float32', sizeOf(oSpec.shape));
  const lse = alloc('float32', sizeOf(lSpec.shape));
  // One query per head against a resident cache: the WebAssembly kernel reads it where it lies.
  if (
    tq === 1 &&
    decodeAttention(Q, K, V, out, lse, { batch, tk, d, dv, end: visibleEnd(a, 0), scale: a.scale })
  )
    return [out, lse];
  const engine = useTiled(tq, tk, d);
  if (engine) {
    tiledForward(engine, Q, K, V, out, lse, { batch, tq, tk, d, dv }, a);
    return [out, lse];
  }
  const blk = new Block(Math.max(d, dv), tk);
  const acc = Array.from({ length: R }, () => new Float64Array(dv));
  for (let b = 0; b < batch; b++) {
    for (let i0 = 0; i0 < tq; i0 += R) {
      const count = Math.min(R, tq - i0);
      const row0 = b * tq + i0;
      if (count === 1) {
        // One query (a streaming step): a block of four would do four rows' work for one.
        oneRow(
          Q,
          K,
          V,
          out,
          lse,
          row0,
          b * tk,
          visibleEnd(a, i0),
          d,
          dv,
          a.scale,
          blk.s[0]!,
          acc[0]!,
        );
        continue;
      }
      setEnds(blk, a, i0, count);
      blk.load(blk.rows, Q, row0, count, d);
      scores(blk, blk.rows, K, b * tk * d, d, a.scale, blk.s);
      const sums = [0, 0, 0, 0];
      const shifts = [0, 0, 0, 0];
      for (let r = 0; r < count; r++) {
        const s = blk.s[r]!;
        const end = blk.ends[r]!;
        let m = Number.NEGATIVE_INFINITY;
        for (let j = 0; j < end; j++) {
          const sj = s[j]!;
          if (sj > m || Number.isNaN(sj)) m = sj;
        }
        // All scores −∞ (infinite inputs): there is nothing to weigh; exp(s − m) would be NaN.
        const shift = m === Number.NEGATIVE_INFINITY ? 0 : m;
        let sum = 0;
        for (let j = 0; j < end; j++) {
          const p = Math.exp(s[j]! - shift);
          s[j] = p;
          sum += p;
        }
        for (let j = end; j < blk.end; j++) s[j] = 0;
        sums[r] = sum;
        shifts[r] = shift;
      }
      for (let r = count; r < R; r++) blk.s[r]!.fill(0, 0, blk.end);
      weighted(blk, blk.s, V, b * tk * dv, dv, acc);
      for (let r = 0; r < count; r++) {
        const row = row0 + r;
        if (blk.ends[r] === 0) {
          lse[row] = Number.NEGATIVE_INFINITY;
          continue;
        }
        const sum = sums[r]!;
        const ar = acc[r]!;
        for (let x = 0; x < dv; x++) out[row * dv + x] = ar[x]! / sum;
        lse[row] = shifts[r]! + Math.log(sum);
      }
    }
  }
  return [out, lse];
});

registerKernel<AttentionGradOp>(
  'attentionGrad',
  'cpu',
  (_b, [q, k, v, o, lse, dO, dL], a, [dqSpec, dkSpec, dvSpec]) => {
    const { batch, tq, tk, d, dv } = attentionDims(q, k, v);
    const [Q, K, V, O, L, DO, DL] = [arr(q), arr(k), arr(v), arr(o), arr(lse), arr(dO), arr(dL)];
    const dq = alloc('float32', sizeOf(dqSpec.shape));
    const dk = alloc('float32', sizeOf(dkSpec.shape));
    const dvOut = alloc('float32', sizeOf(dvSpec.shape));
    const engine = useTiled(tq, tk, d);
    if (engine) {
      tiledBackward(engine, [Q, K, V, O, L, DO, DL], [dq, dk, dvOut], { batch, tq, tk, d, dv }, a);
      return [dq, dk, dvOut];
    }
    const blk = new Block(Math.max(d, dv), tk);
    const gRows = Array.from({ length: R }, () => new Float64Array(Math.max(d, dv)));
    const dp = Array.from({ length: R }, () => new Float64Array(tk));
    const gq = Array.from({ length: R }, () => new Float64Array(d));
    const gk = new Float64Array(tk * d);
    const gv = new Float64Array(tk * dv);
    const scale = a.scale;
    for (let b = 0; b < batch; b++) {
      const kb = b * tk * d;
      const vb = b * tk * dv;
      gk.fill(0);
      gv.fill(0);
      for (let i0 = 0; i0 < tq; i0 += R) {
        const count = Math.min(R, tq - i0);
        const row0 = b * tq + i0;
        setEnds(blk, a, i0, count);
        if (blk.end === 0) continue;
        blk.load(blk.rows, Q, row0, count, d);
        blk.load(gRows, DO, row0, count, dv);
        // p_rj = exp(s_rj − lse_r) (0 where masked), then dp_rj = dOut_r · v_j.
        scores(blk, blk.rows, K, kb, d, scale, blk.s);
        scores(blk, gRows, V, vb, dv, 1, dp);
        for (let r = 0; r < R; r++) {
          const s = blk.s[r]!;
          const p = dp[r]!;
          if (r >= count || blk.ends[r] === 0) {
            s.fill(0, 0, blk.end);
            p.fill(0, 0, blk.end);
            continue;
          }
          const row = row0 + r;
          const l = L[row]!;
          let delta = -DL[row]!;
          for (let x = 0; x < dv; x++) delta += DO[row * dv + x]! * O[row * dv + x]!;
          const end = blk.ends[r]!;
          // s becomes p, dp becomes ds = p · (dp − δ) · scale.
          for (let j = 0; j < end; j++) {
            const pj = Math.exp(s[j]! - l);
            s[j] = pj;
            p[j] = pj * (p[j]! - delta) * scale;
          }
          s.fill(0, end, blk.end);
          p.fill(0, end, blk.end);
        }
        weighted(blk, dp, K, kb, d, gq);
        rankUpdate(blk, dp, blk.rows, gk, d);
        rankUpdate(blk, blk.s, gRows, gv, dv);
        for (let r = 0; r < count; r++) {
          const g = gq[r]!;
          for (let x = 0; x < d; x++) dq[(row0 + r) * d + x] = g[x]!;
        }
      }
      for (let x = 0; x < tk * d; x++) dk[kb + x] = gk[x]!;
      for (let x = 0; x < tk * dv; x++) dvOut[vb + x] = gv[x]!;
    }
    return [dq, dk, dvOut];
  },
);
