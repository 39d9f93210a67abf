import type { TypedArray } from '../../dtype.js';
import type { AttentionAttrs } from '../../ops/attention.js';
import { gemmDirect } from './matmul-js.js';
import { type GemmBatch, gemmEngine, gemmWasm } from './wasm/gemm.js';

/**
 * Fused softmax attention on tiles of BQ queries × BK keys, the products in the WebAssembly SIMD
 * GEMM (wasm/gemm.ts), FlashAttention-style:
 *
 * - forward: for each query tile, the key tiles in order; S = Q_t K_jᵀ (one GEMM), each row's
 *   running maximum m and sum l updated online (the accumulator rescaled by exp(m_old − m_new)),
 *   P = exp(S·scale − m) written over S, acc += P V_j (one GEMM); out = acc / l, lse = m + log l.
 * - backward: δ_i = dOut_i · out_i − dLse_i per row; for each query tile and key tile,
 *   P = exp(S·scale − lse) recomputed, dP = dOut_t V_jᵀ, dS = P ∘ (dP − δ) · scale, then
 *   dQ_t += dS K_j, dK_j += dSᵀ Q_t, dV_j += Pᵀ dOut_t (three GEMMs).
 *
 * Scratch is O(BQ·BK + (Tq + Tk)·d) per call: no [Tq, Tk] matrix is ever held, one tile at a time.
 * Causal tiles end at the last row's visible end (keys are a prefix per row), so the masked upper
 * triangle costs at most one partial tile per row block. Products are float32 (the GEMM); row
 * statistics, accumulators and gradients sum in float64.
 */

/** Query rows per tile. */
export const BQ = 64;
/** Keys per tile. */
export const BK = 128;

type Engine = NonNullable<ReturnType<typeof gemmEngine>>;

/** One past the last key query i sees: the visible keys are always the prefix 0..end−1. */
function visibleEnd(a: AttentionAttrs, i: number): number {
  return Math.max(0, a.causal ? Math.min(a.length, a.offset + i + 1) : a.length);
}

/** out[0 : m·n] = op(A) @ op(B) for one product, in WebAssembly (JavaScript if it cannot). */
function product(
  e: Engine,
  a: TypedArray,
  aOff: number,
  transA: boolean,
  b: TypedArray,
  bOff: number,
  transB: boolean,
  out: Float32Array,
  m: number,
  k: number,
  n: number,
): void {
  const batch: GemmBatch = {
    a,
    transA,
    b,
    transB,
    out,
    m,
    k,
    n,
    items: [{ aOff, bOff, outOff: 0 }],
  };
  if (!gemmWasm(e, batch)) gemmDirect(a, aOff, transA, b, bOff, transB, out, 0, m, k, n);
}

/** The engine the tiled kernels run on, or null (then the row kernels run). */
export function tiledEngine(): Engine | null {
  return gemmEngine();
}

export interface AttentionDims {
  batch: number;
  tq: number;
  tk: number;
  d: number;
  dv: number;
}

export function tiledForward(
  e: Engine,
  Q: TypedArray,
  K: TypedArray,
  V: TypedArray,
  out: TypedArray,
  lse: TypedArray,
  { batch, tq, tk, d, dv }: AttentionDims,
  a: AttentionAttrs,
): void {
  const s = new Float32Array(BQ * BK);
  const pv = new Float32Array(BQ * dv);
  const m = new Float64Array(BQ);
  const l = new Float64Array(BQ);
  const acc = new Float64Array(BQ * dv);
  const scale = a.scale;
  for (let b = 0; b < batch; b++) {
    const qb = b * tq * d;
    const kb = b * tk * d;
    const vb = b * tk * dv;
    for (let i0 = 0; i0 < tq; i0 += BQ) {
      const rows = Math.min(BQ, tq - i0);
      const last = visibleEnd(a, i0 + rows - 1);
      m.fill(Number.NEGATIVE_INFINITY);
      l.fill(0);
      acc.fill(0);
      for (let j0 = 0; j0 < last; j0 += BK) {
        const cols = Math.min(BK, last - j0);
        product(e, Q, qb + i0 * d, false, K, kb + j0 * d, true, s, rows, d, cols);
        for (let r = 0; r < rows; r++) {
          const o = r * cols;
          const end = Math.min(cols, visibleEnd(a, i0 + r) - j0);
          if (end <= 0) {
            s.fill(0, o, o + cols);
            continue;
          }
          let mx = m[r] as number;
          for (let c = 0; c < end; c++) {
            const v = (s[o + c] as number) * scale;
            if (v > mx || Number.isNaN(v)) mx = v;
          }
          // All scores −∞ so far (infinite inputs): nothing to weigh; exp(s − m) would be NaN.
          const shift = mx === Number.NEGATIVE_INFINITY ? 0 : mx;
          const alpha = Math.exp((m[r] as number) - shift);
          let sum = 0;
          for (let c = 0; c < end; c++) {
            const p = Math.exp((s[o + c] as number) * scale - shift);
            s[o + c] = p;
            sum += p;
          }
          s.fill(0, o + end, o + cols);
          l[r] = (l[r] as number) * alpha + sum;
          m[r] = mx;
          if (alpha !== 1)
            for (let x = r * dv; x < (r + 1) * dv; x++) acc[x] = (acc[x] as number) * alpha;
        }
        product(e, s, 0, false, V, vb + j0 * dv, false, pv, rows, cols, dv);
        for (let x = 0; x < rows * dv; x++) acc[x] = (acc[x] as number) + (pv[x] as number);
      }
      for (let r = 0; r < rows; r++) {
        const row = b * tq + i0 + r;
        if (visibleEnd(a, i0 + r) === 0) {
          lse[row] = Number.NEGATIVE_INFINITY;
          for (let x = 0; x < dv; x++) out[row * dv + x] = 0;
          continue;
        }
        const sum = l[r] as number;
        for (let x = 0; x < dv; x++) out[row * dv + x] = (acc[r * dv + x] as number) / sum;
        lse[row] = (m[r] as number) + Math.log(sum);
      }
    }
  }
}

export function tiledBackward(
  e: Engine,
  [Q, K, V, O, L, DO, DL]: readonly TypedArray[],
  [dq, dk, dvOut]: readonly [TypedArray, TypedArray, TypedArray],
  { batch, tq, tk, d, dv }: AttentionDims,
  a: AttentionAttrs,
): void {
  const [q, k, v, o, lse, dO, dL] = [Q, K, V, O, L, DO, DL] as TypedArray[] as [
    TypedArray,
    TypedArray,
    TypedArray,
    TypedArray,
    TypedArray,
    TypedArray,
    TypedArray,
  ];
  const p = new Float32Array(BQ * BK);
  const ds = new Float32Array(BQ * BK);
  const tq1 = new Float32Array(BQ * d);
  const tk1 = new Float32Array(BK * d);
  const tv1 = new Float32Array(BK * dv);
  const delta = new Float64Array(BQ);
  const gq = new Float64Array(BQ * d);
  const gk = new Float64Array(tk * d);
  const gv = new Float64Array(tk * dv);
  const scale = a.scale;
  for (let b = 0; b < batch; b++) {
    const qb = b * tq * d;
    const kb = b * tk * d;
    const vb = b * tk * dv;
    const ob = b * tq * dv;
    gk.fill(0);
    gv.fill(0);
    for (let i0 = 0; i0 < tq; i0 += BQ) {
      const rows = Math.min(BQ, tq - i0);
      const last = visibleEnd(a, i0 + rows - 1);
      gq.fill(0);
      for (let r = 0; r < rows; r++) {
        const row = b * tq + i0 + r;
        let t = -(dL[row] as number);
        for (let x = 0; x < dv; x++)
          t += (dO[row * dv + x] as number) * (o[row * dv + x] as number);
        delta[r] = t;
      }
      for (let j0 = 0; j0 < last; j0 += BK) {
        const cols = Math.min(BK, last - j0);
        product(e, q, qb + i0 * d, false, k, kb + j0 * d, true, p, rows, d, cols);
        product(e, dO, ob + i0 * dv, false, v, vb + j0 * dv, true, ds, rows, dv, cols);
        for (let r = 0; r < rows; r++) {
          const off = r * cols;
          const end = Math.min(cols, visibleEnd(a, i0 + r) - j0);
          if (end <= 0) {
            p.fill(0, off, off + cols);
            ds.fill(0, off, off + cols);
            continue;
          }
          const lr = lse[b * tq + i0 + r] as number;
          const dr = delta[r] as number;
          for (let c = 0; c < end; c++) {
            const pc = Math.exp((p[off + c] as number) * scale - lr);
            p[off + c] = pc;
            ds[off + c] = pc * ((ds[off + c] as number) - dr) * scale;
          }
          p.fill(0, off + end, off + cols);
          ds.fill(0, off + end, off + cols);
        }
        // dQ_t += dS K_j;  dK_j += dSᵀ Q_t;  dV_j += Pᵀ dOut_t.
        product(e, ds, 0, false, k, kb + j0 * d, false, tq1, rows, cols, d);
        for (let x = 0; x < rows * d; x++) gq[x] = (gq[x] as number) + (tq1[x] as number);
        product(e, ds, 0, true, q, qb + i0 * d, false, tk1, cols, rows, d);
        for (let x = 0, g = j0 * d; x < cols * d; x++, g++)
          gk[g] = (gk[g] as number) + (tk1[x] as number);
        product(e, p, 0, true, dO, ob + i0 * dv, false, tv1, cols, rows, dv);
        for (let x = 0, g = j0 * dv; x < cols * dv; x++, g++)
          gv[g] = (gv[g] as number) + (tv1[x] as number);
      }
      for (let x = 0; x < rows * d; x++) dq[qb + i0 * d + x] = gq[x] as number;
    }
    for (let x = 0; x < tk * d; x++) dk[kb + x] = gk[x] as number;
    for (let x = 0; x < tk * dv; x++) dvOut[vb + x] = gv[x] as number;
  }
}
