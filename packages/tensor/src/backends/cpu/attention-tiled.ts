import type { TypedArray } from '../../dtype.js';
import { type AttentionAttrs, type AttentionDims, visibleEnd } from '../../ops/attention.js';
import { gemmDirect } from './matmul-js.js';
import { attentionOn, type TileKernels, tileKernels } from './wasm/attention.js';
import {
  GEMM_TILE,
  type GemmBatch,
  gemmEngine,
  gemmPacked,
  gemmWasm,
  packA,
  packB,
  reserveWorkspace,
} from './wasm/gemm.js';

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
 * The exponentials, maxima and sums over each tile run in WebAssembly SIMD (wasm/attention.ts: a
 * polynomial exp, sums in float64) on tiles that live in its memory; where that memory cannot be
 * had, in the JavaScript loops below.
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

/**
 * out[outOff …] = op(A) @ op(B) for one product (gemmDirect's arguments), in WebAssembly
 * (JavaScript if it cannot).
 */
function product(e: Engine, ...args: Parameters<typeof gemmDirect>): void {
  const [a, aOff, transA, b, bOff, transB, out, outOff, m, k, n] = args;
  const batch: GemmBatch = { a, transA, b, transB, out, m, k, n, items: [{ aOff, bOff, outOff }] };
  if (!gemmWasm(e, batch)) gemmDirect(...args);
}

/** The engine the tiled kernels run on, or null (then the row kernels run). */
export function tiledEngine(): Engine | null {
  return gemmEngine();
}

/** What the forward drivers take: the engine, q, k, v, the outputs out and lse, sizes, attributes. */
type ForwardArgs = [
  e: Engine,
  Q: TypedArray,
  K: TypedArray,
  V: TypedArray,
  out: TypedArray,
  lse: TypedArray,
  ...sized: Sized,
];

/** What every driver's arguments end with: the sizes and the attributes. */
type Sized = [dims: AttentionDims, a: AttentionAttrs];

/** out = softmax(scale · Q Kᵀ, masked) V and its lse, by tiles: packed when the workspace allows. */
export function tiledForward(...args: ForwardArgs): void {
  if (packedForward(...args)) return;
  const w = forwardScratch();
  try {
    forwardTiles(w, ...args);
  } finally {
    w.kernels?.free(w.s, w.ends, w.mNew, w.sums);
  }
}

interface ForwardScratch {
  kernels: TileKernels | null;
  s: Float32Array;
  ends: Int32Array;
  mNew: Float64Array;
  sums: Float64Array;
}

/** The forward's tile buffers: in the WebAssembly kernels' memory when they can run. */
function forwardScratch(): ForwardScratch {
  const kernels = tileKernels();
  if (kernels) {
    const s = kernels.alloc(Float32Array, BQ * BK);
    const ends = kernels.alloc(Int32Array, BQ);
    const mNew = kernels.alloc(Float64Array, BQ);
    const sums = kernels.alloc(Float64Array, BQ);
    if (s && ends && mNew && sums) return { kernels, s, ends, mNew, sums };
    kernels.free(...[s, ends, mNew, sums].filter((x) => x !== null));
  }
  return {
    kernels: null,
    s: new Float32Array(BQ * BK),
    ends: new Int32Array(BQ),
    mNew: new Float64Array(BQ),
    sums: new Float64Array(BQ),
  };
}

/** The online softmax's running state for a block of query rows: max m, sum l, weighted sum acc. */
interface RowState {
  m: Float64Array;
  l: Float64Array;
  acc: Float64Array;
}

/**
 * After a tile's softmax rows gave each row r its new max and tile sum: rescales the running sum
 * and weighted sum by e^{m − mNew} (a row whose max is still −∞ shifts by 0) and takes the new max.
 * Rows with no visible key in the tile (ends ≤ 0) are left as they are. Row r's values are read at
 * `at.ends + r` in ends, `at.mNew + r` in mNew and `at.sums + r` in sums.
 */
function rescaleRows(
  ends: Int32Array,
  mNew: Float64Array,
  sums: Float64Array,
  at: { ends: number; mNew: number; sums: number },
  rows: number,
  { m, l, acc }: RowState,
  dv: number,
): void {
  for (let r = 0; r < rows; r++) {
    if (ends[at.ends + r]! <= 0) continue;
    const mx = mNew[at.mNew + r]!;
    const shift = mx === Number.NEGATIVE_INFINITY ? 0 : mx;
    const alpha = Math.exp(m[r]! - shift);
    l[r] = l[r]! * alpha + sums[at.sums + r]!;
    m[r] = mx;
    if (alpha !== 1) for (let x = r * dv; x < (r + 1) * dv; x++) acc[x] = acc[x]! * alpha;
  }
}

/**
 * Writes a block of query rows (query i0 + r at output row row0 + r): out = acc / l and lse = m +
 * log l, or out = 0 and lse = −∞ for a query that sees no key.
 */
function writeRows(
  a: AttentionAttrs,
  row0: number,
  i0: number,
  rows: number,
  { m, l, acc }: RowState,
  dv: number,
  out: TypedArray,
  lse: TypedArray,
): void {
  for (let r = 0; r < rows; r++) {
    const row = row0 + r;
    if (visibleEnd(a, i0 + r) === 0) {
      lse[row] = Number.NEGATIVE_INFINITY;
      for (let x = 0; x < dv; x++) out[row * dv + x] = 0;
      continue;
    }
    const sum = l[r]!;
    for (let x = 0; x < dv; x++) out[row * dv + x] = acc[r * dv + x]! / sum;
    lse[row] = m[r]! + Math.log(sum);
  }
}

/** Where batch entry b starts in q (qb), k (kb), v (vb) and the output and dOut (ob). */
function headOffsets(b: number, tq: number, tk: number, d: number, dv: number) {
  return { qb: b * tq * d, kb: b * tk * d, vb: b * tk * dv, ob: b * tq * dv };
}

/** δ of one query row for the backward: dOut_row · out_row − dLse_row (summed in column order). */
function rowDelta(dO: TypedArray, o: TypedArray, dL: TypedArray, row: number, dv: number): number {
  let t = -dL[row]!;
  for (let x = 0; x < dv; x++) t += dO[row * dv + x]! * o[row * dv + x]!;
  return t;
}

function forwardTiles(
  { kernels, s, ends, mNew, sums }: ForwardScratch,
  ...args: ForwardArgs
): void {
  const [e, Q, K, V, out, lse, { batch, tq, d, dv, tk }, a] = args;
  const pv = new Float32Array(BQ * dv);
  const m = new Float64Array(BQ);
  const l = new Float64Array(BQ);
  const acc = new Float64Array(BQ * dv);
  const state: RowState = { m, l, acc };
  const scale = a.scale;
  for (let b = 0; b < batch; b++) {
    const { qb, kb, vb } = headOffsets(b, tq, tk, d, dv);
    for (let i0 = 0; i0 < tq; i0 += BQ) {
      const rows = Math.min(BQ, tq - i0);
      const last = visibleEnd(a, i0 + rows - 1);
      m.fill(Number.NEGATIVE_INFINITY);
      l.fill(0);
      acc.fill(0);
      for (let j0 = 0; j0 < last; j0 += BK) {
        const cols = Math.min(BK, last - j0);
        product(e, Q, qb + i0 * d, false, K, kb + j0 * d, true, s, 0, rows, d, cols);
        if (kernels) {
          // P = exp(S·scale − m) over the tile in WebAssembly; the per-row updates here.
          for (let r = 0; r < rows; r++) {
            ends[r] = Math.min(cols, visibleEnd(a, i0 + r) - j0);
            mNew[r] = m[r]!;
          }
          kernels.softmaxRows(s, rows, cols, ends, mNew, sums, scale);
          rescaleRows(ends, mNew, sums, { ends: 0, mNew: 0, sums: 0 }, rows, state, dv);
          product(e, s, 0, false, V, vb + j0 * dv, false, pv, 0, rows, cols, dv);
          for (let x = 0; x < rows * dv; x++) acc[x] = acc[x]! + pv[x]!;
          continue;
        }
        for (let r = 0; r < rows; r++) {
          const o = r * cols;
          const end = Math.min(cols, visibleEnd(a, i0 + r) - j0);
          if (end <= 0) {
            s.fill(0, o, o + cols);
            continue;
          }
          let mx = m[r]!;
          for (let c = 0; c < end; c++) {
            const v = s[o + c]! * scale;
            if (v > mx || Number.isNaN(v)) mx = v;
          }
          // All scores −∞ so far (infinite inputs): nothing to weigh; exp(s − m) would be NaN.
          const shift = mx === Number.NEGATIVE_INFINITY ? 0 : mx;
          const alpha = Math.exp(m[r]! - shift);
          let sum = 0;
          for (let c = 0; c < end; c++) {
            const p = Math.exp(s[o + c]! * scale - shift);
            s[o + c] = p;
            sum += p;
          }
          s.fill(0, o + end, o + cols);
          l[r] = l[r]! * alpha + sum;
          m[r] = mx;
          if (alpha !== 1) for (let x = r * dv; x < (r + 1) * dv; x++) acc[x] = acc[x]! * alpha;
        }
        product(e, s, 0, false, V, vb + j0 * dv, false, pv, 0, rows, cols, dv);
        for (let x = 0; x < rows * dv; x++) acc[x] = acc[x]! + pv[x]!;
      }
      writeRows(a, b * tq + i0, i0, rows, state, dv, out, lse);
    }
  }
}

/** The backward's operands in order: q, k, v, the forward's output and lse, dOut and dLse. */
export type BackwardInputs = readonly [
  TypedArray,
  TypedArray,
  TypedArray,
  TypedArray,
  TypedArray,
  TypedArray,
  TypedArray,
];
/** The backward's results in order: dq, dk, dv. */
export type BackwardGrads = readonly [TypedArray, TypedArray, TypedArray];

/** What the backward drivers take: the engine, the operands, the gradients, sizes, attributes. */
type BackwardArgs = [e: Engine, inputs: BackwardInputs, grads: BackwardGrads, ...sized: Sized];

/**
 * dq, dk, dv from dOut and dLse, recomputing each probability tile from lse (packed when the
 * workspace allows, else the JavaScript tile loops with the WebAssembly row kernels).
 */
export function tiledBackward(...args: BackwardArgs): void {
  if (packedBackward(...args)) return;
  const kernels = tileKernels();
  const w = kernels
    ? [
        kernels.alloc(Float32Array, BQ * BK),
        kernels.alloc(Float32Array, BQ * BK),
        kernels.alloc(Int32Array, BQ),
        kernels.alloc(Float32Array, BQ),
        kernels.alloc(Float32Array, BQ),
      ]
    : [];
  try {
    const ok = w.length > 0 && w.every((x) => x !== null);
    backwardTiles(
      ok ? kernels! : null,
      (ok ? w : []) as [Float32Array, Float32Array, Int32Array, Float32Array, Float32Array],
      ...args,
    );
  } finally {
    kernels?.free(...w.filter((x) => x !== null));
  }
}

// Kept whole: the tile loop nest of the JS backward shares its scratch tiles and per-row δ between
// the steps commented inline (the packed path above is the one that usually runs).
function backwardTiles(
  kernels: TileKernels | null,
  w: [Float32Array, Float32Array, Int32Array, Float32Array, Float32Array] | [],
  ...args: BackwardArgs
): void {
  const [e, [q, k, v, o, lse, dO, dL], [dq, dk, dvOut], { batch, tq, tk, d, dv }, a] = args;
  const p = w[0] ?? new Float32Array(BQ * BK);
  const ds = w[1] ?? new Float32Array(BQ * BK);
  const ends = w[2] ?? new Int32Array(BQ);
  const lseT = w[3] ?? new Float32Array(BQ);
  const deltaT = w[4] ?? new Float32Array(BQ);
  const tq1 = new Float32Array(BQ * d);
  const tk1 = new Float32Array(BK * d);
  const tv1 = new Float32Array(BK * dv);
  const delta = new Float64Array(BQ);
  const gq = new Float64Array(BQ * d);
  const gk = new Float64Array(tk * d);
  const gv = new Float64Array(tk * dv);
  const scale = a.scale;
  for (let b = 0; b < batch; b++) {
    const { qb, kb, vb, ob } = headOffsets(b, tq, tk, d, dv);
    gk.fill(0);
    gv.fill(0);
    for (let i0 = 0; i0 < tq; i0 += BQ) {
      const rows = Math.min(BQ, tq - i0);
      const last = visibleEnd(a, i0 + rows - 1);
      gq.fill(0);
      for (let r = 0; r < rows; r++) {
        const row = b * tq + i0 + r;
        const t = rowDelta(dO, o, dL, row, dv);
        delta[r] = t;
        lseT[r] = lse[row]!;
        deltaT[r] = t;
      }
      for (let j0 = 0; j0 < last; j0 += BK) {
        const cols = Math.min(BK, last - j0);
        product(e, q, qb + i0 * d, false, k, kb + j0 * d, true, p, 0, rows, d, cols);
        product(e, dO, ob + i0 * dv, false, v, vb + j0 * dv, true, ds, 0, rows, dv, cols);
        if (kernels) {
          for (let r = 0; r < rows; r++) ends[r] = Math.min(cols, visibleEnd(a, i0 + r) - j0);
          kernels.gradRows(p, ds, rows, cols, ends, lseT, deltaT, scale);
        } else
          for (let r = 0; r < rows; r++) {
            const off = r * cols;
            const end = Math.min(cols, visibleEnd(a, i0 + r) - j0);
            if (end <= 0) {
              p.fill(0, off, off + cols);
              ds.fill(0, off, off + cols);
              continue;
            }
            const lr = lse[b * tq + i0 + r]!;
            const dr = delta[r]!;
            for (let c = 0; c < end; c++) {
              const pc = Math.exp(p[off + c]! * scale - lr);
              p[off + c] = pc;
              ds[off + c] = pc * (ds[off + c]! - dr) * scale;
            }
            p.fill(0, off + end, off + cols);
            ds.fill(0, off + end, off + cols);
          }
        // dQ_t += dS K_j;  dK_j += dSᵀ Q_t;  dV_j += Pᵀ dOut_t.
        product(e, ds, 0, false, k, kb + j0 * d, false, tq1, 0, rows, cols, d);
        for (let x = 0; x < rows * d; x++) gq[x] = gq[x]! + tq1[x]!;
        product(e, ds, 0, true, q, qb + i0 * d, false, tk1, 0, cols, rows, d);
        for (let x = 0, g = j0 * d; x < cols * d; x++, g++) gk[g] = gk[g]! + tk1[x]!;
        product(e, p, 0, true, dO, ob + i0 * dv, false, tv1, 0, cols, rows, dv);
        for (let x = 0, g = j0 * dv; x < cols * dv; x++, g++) gv[g] = gv[g]! + tv1[x]!;
      }
      for (let x = 0; x < rows * d; x++) dq[qb + i0 * d + x] = gq[x]!;
    }
    for (let x = 0; x < tk * d; x++) dk[kb + x] = gk[x]!;
    for (let x = 0; x < tk * dv; x++) dvOut[vb + x] = gv[x]!;
  }
}

/*
 * The packed drivers: every operand lives in the GEMM's workspace. K and V are packed once per
 * head for all key tiles (not once per query tile); a score tile stays where the GEMM wrote it, the
 * row work runs there (the attention module instantiated over the GEMM's memory), and the
 * probability tiles are packed as the next product's A operand in WebAssembly (packA4, packAT4), so
 * no score or probability tile is copied out or packed in JavaScript. Only the small products
 * (rows × d) come back to JavaScript, to be summed in float64.
 */

const roundUp = (n: number, to: number) => Math.ceil(n / to) * to;

/** Float offsets of consecutive regions of the given sizes (each rounded to 4 floats). */
function layout<K extends string>(
  sizes: Record<K, number>,
): { at: Record<K, number>; total: number } {
  const at = {} as Record<K, number>;
  let total = 0;
  for (const [name, size] of Object.entries(sizes) as [K, number][]) {
    at[name] = total;
    total += roundUp(size, 4) + 16; // slack: packA4 writes up to 12 floats past its panels
  }
  return { at, total };
}

/**
 * The attention kernels over the GEMM's memory and a workspace holding the regions `sizes` (in
 * floats), or null when either cannot be had: the memory as float32, int32 and float64 views, and
 * `at(name)`, a region's float offset in it.
 */
function packedWorkspace<K extends string>(e: Engine, sizes: Record<K, number>) {
  const kx = attentionOn(e.memory);
  if (!kx) return null;
  const { at, total } = layout(sizes);
  const ws = reserveWorkspace(e, total);
  if (!ws) return null;
  const { view, base } = ws;
  return {
    kx,
    view,
    i32: new Int32Array(view.buffer),
    f64: new Float64Array(view.buffer),
    at: (name: K) => base + at[name],
  };
}

/**
 * The forward on packed operands; false (nothing written) when the workspace cannot be had. Kept
 * whole: the batch / query-tile / key-tile loop nest shares the workspace offsets and running
 * softmax state that pieces would have to pass around; its steps are commented in place.
 */
export function packedForward(...args: ForwardArgs): boolean {
  const [e, Q, K, V, out, lse, { batch, tq, tk, d, dv }, a] = args;
  const { NR } = GEMM_TILE;
  const tiles = Math.ceil(tk / BK);
  const dvp = roundUp(dv, NR);
  const ws = packedWorkspace(e, {
    kp: tiles * BK * d,
    vp: tiles * BK * dvp,
    qp: BQ * d,
    c1: BQ * BK,
    pp: BQ * BK,
    c2: BQ * dvp,
    ends: BQ,
    mNew: 2 * BQ,
    sums: 2 * BQ,
  });
  if (!ws) return false;
  const { kx, view, i32, f64, at: o } = ws;
  const vpCols = new Int32Array(tiles);
  const m = new Float64Array(BQ);
  const l = new Float64Array(BQ);
  const acc = new Float64Array(BQ * dv);
  const state: RowState = { m, l, acc };
  // Where the softmax kernel leaves each row's end, new max and tile sum (in i32 / f64 elements).
  const rowsAt = { ends: o('ends'), mNew: o('mNew') >> 1, sums: o('sums') >> 1 };
  const scale = a.scale;
  const lastAll = tq > 0 ? visibleEnd(a, tq - 1) : 0;
  for (let b = 0; b < batch; b++) {
    const { qb, kb, vb } = headOffsets(b, tq, tk, d, dv);
    for (let j0 = 0; j0 < lastAll; j0 += BK) {
      const cols = Math.min(BK, lastAll - j0);
      packB(K, kb + j0 * d, true, d, cols, view, o('kp') + (j0 / BK) * BK * d);
      packB(V, vb + j0 * dv, false, cols, dv, view, o('vp') + (j0 / BK) * BK * dvp);
      vpCols[j0 / BK] = cols;
    }
    for (let i0 = 0; i0 < tq; i0 += BQ) {
      const rows = Math.min(BQ, tq - i0);
      const last = visibleEnd(a, i0 + rows - 1);
      m.fill(Number.NEGATIVE_INFINITY);
      l.fill(0);
      acc.fill(0);
      packA(Q, qb + i0 * d, false, rows, d, view, o('qp'));
      for (let j0 = 0; j0 < last; j0 += BK) {
        const jt = j0 / BK;
        const cols = Math.min(BK, last - j0);
        const ld = roundUp(cols, NR);
        gemmPacked(e, o('qp'), o('kp') + jt * BK * d, o('c1'), rows, d, cols);
        for (let r = 0; r < rows; r++) {
          i32[o('ends') + r] = Math.min(cols, visibleEnd(a, i0 + r) - j0);
          f64[(o('mNew') >> 1) + r] = m[r]!;
        }
        kx.softmaxRows(
          o('c1') * 4,
          rows,
          cols,
          ld,
          o('ends') * 4,
          o('mNew') * 4,
          o('sums') * 4,
          scale,
        );
        rescaleRows(i32, f64, f64, rowsAt, rows, state, dv);
        kx.packA4(o('c1') * 4, ld, rows, cols, o('pp') * 4);
        // V's packing depends on the tile's key count (its k): repack a partial tile.
        if (vpCols[jt] !== cols) {
          packB(V, vb + j0 * dv, false, cols, dv, view, o('vp') + jt * BK * dvp);
          vpCols[jt] = cols;
        }
        gemmPacked(e, o('pp'), o('vp') + jt * BK * dvp, o('c2'), rows, cols, dv);
        const c2 = o('c2');
        for (let r = 0; r < rows; r++)
          for (let x = 0; x < dv; x++) acc[r * dv + x] = acc[r * dv + x]! + view[c2 + r * dvp + x]!;
      }
      writeRows(a, b * tq + i0, i0, rows, state, dv, out, lse);
    }
  }
  return true;
}

/**
 * The backward on packed operands; false (nothing written) when the workspace cannot be had. Kept
 * whole for the same reason as packedForward (one loop nest over a shared workspace layout).
 */
export function packedBackward(...args: BackwardArgs): boolean {
  const [e, [Q, K, V, O, L, DO, DL], [dq, dk, dvOut], { batch, tq, tk, d, dv }, a] = args;
  const { NR } = GEMM_TILE;
  const tiles = Math.ceil(tk / BK);
  const dp = roundUp(d, NR);
  const dvp = roundUp(dv, NR);
  const ws = packedWorkspace(e, {
    kpT: tiles * BK * d, // K_jᵀ as B (d × cols), for S = Q Kᵀ
    vpT: tiles * BK * dv, // V_jᵀ as B (dv × cols), for dP = dOut Vᵀ
    kpN: tiles * BK * dp, // K_j as B (cols × d), for dQ = dS K
    qp: BQ * d, // Q_t as A
    dop: BQ * dv, // dOut_t as A
    qpN: BQ * dp, // Q_t as B (rows × d), for dK = dSᵀ Q
    dopN: BQ * dvp, // dOut_t as B (rows × dv), for dV = Pᵀ dOut
    c1: BQ * BK,
    c2: BQ * BK,
    dsp: BQ * BK,
    dstp: BK * BQ,
    ptp: BK * BQ,
    c3: BQ * dp,
    c4: BK * dp,
    c5: BK * dvp,
    ends: BQ,
    lseT: BQ,
    deltaT: BQ,
  });
  if (!ws) return false;
  const { kx, view, i32, at: at4 } = ws;
  const kpNCols = new Int32Array(tiles);
  const gq = new Float64Array(BQ * d);
  const gk = new Float64Array(tk * d);
  const gv = new Float64Array(tk * dv);
  const scale = a.scale;
  const lastAll = tq > 0 ? visibleEnd(a, tq - 1) : 0;
  for (let b = 0; b < batch; b++) {
    const { qb, kb, vb, ob } = headOffsets(b, tq, tk, d, dv);
    gk.fill(0);
    gv.fill(0);
    for (let j0 = 0; j0 < lastAll; j0 += BK) {
      const jt = j0 / BK;
      const cols = Math.min(BK, lastAll - j0);
      packB(K, kb + j0 * d, true, d, cols, view, at4('kpT') + jt * BK * d);
      packB(V, vb + j0 * dv, true, dv, cols, view, at4('vpT') + jt * BK * dv);
      packB(K, kb + j0 * d, false, cols, d, view, at4('kpN') + jt * BK * dp);
      kpNCols[jt] = cols;
    }
    for (let i0 = 0; i0 < tq; i0 += BQ) {
      const rows = Math.min(BQ, tq - i0);
      const last = visibleEnd(a, i0 + rows - 1);
      gq.fill(0);
      for (let r = 0; r < rows; r++) {
        const row = b * tq + i0 + r;
        const t = rowDelta(DO, O, DL, row, dv);
        view[at4('lseT') + r] = L[row]!;
        view[at4('deltaT') + r] = t;
      }
      packA(Q, qb + i0 * d, false, rows, d, view, at4('qp'));
      packA(DO, ob + i0 * dv, false, rows, dv, view, at4('dop'));
      packB(Q, qb + i0 * d, false, rows, d, view, at4('qpN'));
      packB(DO, ob + i0 * dv, false, rows, dv, view, at4('dopN'));
      for (let j0 = 0; j0 < last; j0 += BK) {
        const jt = j0 / BK;
        const cols = Math.min(BK, last - j0);
        const ld = roundUp(cols, NR);
        gemmPacked(e, at4('qp'), at4('kpT') + jt * BK * d, at4('c1'), rows, d, cols);
        gemmPacked(e, at4('dop'), at4('vpT') + jt * BK * dv, at4('c2'), rows, dv, cols);
        for (let r = 0; r < rows; r++)
          i32[at4('ends') + r] = Math.min(cols, visibleEnd(a, i0 + r) - j0);
        kx.gradRows(
          at4('c1') * 4,
          at4('c2') * 4,
          rows,
          cols,
          ld,
          at4('ends') * 4,
          at4('lseT') * 4,
          at4('deltaT') * 4,
          scale,
        );
        kx.packA4(at4('c2') * 4, ld, rows, cols, at4('dsp') * 4);
        kx.packAT4(at4('c2') * 4, ld, rows, cols, at4('dstp') * 4);
        kx.packAT4(at4('c1') * 4, ld, rows, cols, at4('ptp') * 4);
        // K's packing as B (cols × d) depends on the tile's key count: repack a partial tile.
        if (kpNCols[jt] !== cols) {
          packB(K, kb + j0 * d, false, cols, d, view, at4('kpN') + jt * BK * dp);
          kpNCols[jt] = cols;
        }
        // dQ_t += dS K_j;  dK_j += dSᵀ Q_t;  dV_j += Pᵀ dOut_t.
        gemmPacked(e, at4('dsp'), at4('kpN') + jt * BK * dp, at4('c3'), rows, cols, d);
        gemmPacked(e, at4('dstp'), at4('qpN'), at4('c4'), cols, rows, d);
        gemmPacked(e, at4('ptp'), at4('dopN'), at4('c5'), cols, rows, dv);
        const [c3, c4, c5] = [at4('c3'), at4('c4'), at4('c5')];
        for (let r = 0; r < rows; r++)
          for (let x = 0; x < d; x++) gq[r * d + x] = gq[r * d + x]! + view[c3 + r * dp + x]!;
        for (let c = 0; c < cols; c++) {
          const g = (j0 + c) * d;
          for (let x = 0; x < d; x++) gk[g + x] = gk[g + x]! + view[c4 + c * dp + x]!;
          const h = (j0 + c) * dv;
          for (let x = 0; x < dv; x++) gv[h + x] = gv[h + x]! + view[c5 + c * dvp + x]!;
        }
      }
      for (let x = 0; x < rows * d; x++) dq[qb + i0 * d + x] = gq[x]!;
    }
    for (let x = 0; x < tk * d; x++) dk[kb + x] = gk[x]!;
    for (let x = 0; x < tk * dv; x++) dvOut[vb + x] = gv[x]!;
  }
  return true;
}
