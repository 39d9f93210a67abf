import type { TypedArray } from '../../dtype.js';

/**
 * The pure-JavaScript matrix kernels: the fallback where WebAssembly SIMD is missing, and what
 * `setCpuKernels('js')` forces (for comparison and debugging).
 *
 * GEMM by 4×4 register tiles over packed panels (the classic GotoBLAS layout, in plain JS):
 * A is packed into panels of 4 rows and B into panels of 4 columns, each stored k-major, so the inner
 * loop does 8 loads for 16 multiply-adds and walks memory contiguously. B is processed in column
 * blocks that fit in L2 while every A panel sweeps across them. Accumulation is in float64.
 */
export const R = 4;
/** Columns of B per cache block (times K floats must stay well inside L2). */
const blockCols = (k: number) => Math.max(R, Math.floor(32768 / Math.max(k, 1) / R) * R);

/**
 * Packs an operand as `(src, off, trans, m, k, dst, at = 0)`: the rows of op(X) (m × k; X stored
 * k × m when trans, from src[off]) into dst from `at`.
 */
export type Pack = (
  src: TypedArray,
  off: number,
  trans: boolean,
  m: number,
  k: number,
  dst: Float32Array,
  at?: number,
) => void;

/**
 * Packs the rows of op(X) (m × k; X stored k × m when trans) per k-block of `kBlock` into panels of
 * w rows, k-major, zero-padded (the whole k is one block when kBlock >= k). Shared by this GEMM
 * (w = 4, one block) and the WebAssembly one (MR- and NR-row panels per KC block).
 */
export function packPanels(
  src: TypedArray,
  off: number,
  trans: boolean,
  m: number,
  k: number,
  dst: Float32Array,
  at: number,
  w: number,
  kBlock: number,
): void {
  const mp = Math.ceil(m / w);
  for (let k0 = 0; k0 < k; k0 += kBlock) {
    const kc = Math.min(kBlock, k - k0);
    const block = at + k0 * mp * w;
    if (trans) {
      for (let kk = 0; kk < kc; kk++) {
        const row = off + (k0 + kk) * m;
        for (let ip = 0, base = block + kk * w; ip < mp; ip++, base += kc * w) {
          for (let r = 0, i = ip * w; r < w; r++, i++) dst[base + r] = i < m ? src[row + i]! : 0;
        }
      }
    } else {
      for (let ip = 0; ip < mp; ip++) {
        const base = block + ip * kc * w;
        for (let r = 0; r < w; r++) {
          const i = ip * w + r;
          if (i < m) {
            const row = off + i * k + k0;
            for (let kk = 0; kk < kc; kk++) dst[base + kk * w + r] = src[row + kk]!;
          } else {
            for (let kk = 0; kk < kc; kk++) dst[base + kk * w + r] = 0;
          }
        }
      }
    }
  }
}

/** Packs op(A) (M×K) into panels of 4 rows, k-major, from dst[at]; rows past M are zero. */
export const packA: Pack = (src, off, trans, m, k, dst, at = 0) =>
  packPanels(src, off, trans, m, k, dst, at, R, k);

/**
 * Packs columns of op(B) (K×N) into panels of 4 columns, k-major; columns past N are zero. The
 * columns of op(B) are the rows of op(B)ᵀ = op'(Bᵀ) with the other transposition, so this is packA.
 */
export const packB: Pack = (src, off, trans, k, n, dst, at = 0) =>
  packPanels(src, off, !trans, n, k, dst, at, R, k);

// Long by design: the 4×4 register tile is written out by hand (16 sums kept in locals) inside the
// cache-block loops; split into calls it would lose the registers and the speed.
export function gemmPacked(
  ap: Float32Array,
  bp: Float32Array,
  out: TypedArray,
  outOff: number,
  m: number,
  k: number,
  n: number,
): void {
  const mPanels = Math.ceil(m / R);
  const nPanels = Math.ceil(n / R);
  const step = blockCols(k) / R;
  for (let jb = 0; jb < nPanels; jb += step) {
    const jEnd = Math.min(nPanels, jb + step);
    for (let ip = 0; ip < mPanels; ip++) {
      const aBase = ip * R * k;
      const i0 = ip * R;
      for (let jp = jb; jp < jEnd; jp++) {
        const bBase = jp * R * k;
        let c00 = 0,
          c01 = 0,
          c02 = 0,
          c03 = 0;
        let c10 = 0,
          c11 = 0,
          c12 = 0,
          c13 = 0;
        let c20 = 0,
          c21 = 0,
          c22 = 0,
          c23 = 0;
        let c30 = 0,
          c31 = 0,
          c32 = 0,
          c33 = 0;
        for (let kk = 0, a = aBase, b = bBase; kk < k; kk++, a += R, b += R) {
          const a0 = ap[a]!,
            a1 = ap[a + 1]!,
            a2 = ap[a + 2]!,
            a3 = ap[a + 3]!;
          const b0 = bp[b]!,
            b1 = bp[b + 1]!,
            b2 = bp[b + 2]!,
            b3 = bp[b + 3]!;
          c00 += a0 * b0;
          c01 += a0 * b1;
          c02 += a0 * b2;
          c03 += a0 * b3;
          c10 += a1 * b0;
          c11 += a1 * b1;
          c12 += a1 * b2;
          c13 += a1 * b3;
          c20 += a2 * b0;
          c21 += a2 * b1;
          c22 += a2 * b2;
          c23 += a2 * b3;
          c30 += a3 * b0;
          c31 += a3 * b1;
          c32 += a3 * b2;
          c33 += a3 * b3;
        }
        const j0 = jp * R;
        const tile = [
          c00,
          c01,
          c02,
          c03,
          c10,
          c11,
          c12,
          c13,
          c20,
          c21,
          c22,
          c23,
          c30,
          c31,
          c32,
          c33,
        ];
        const rows = Math.min(R, m - i0);
        const cols = Math.min(R, n - j0);
        for (let r = 0; r < rows; r++) {
          const o = outOff + (i0 + r) * n + j0;
          for (let c = 0; c < cols; c++) out[o + c] = tile[r * R + c]!;
        }
      }
    }
  }
}

/**
 * Direct dot products for small or skinny products (M < 4, or little work overall), where packing
 * would cost as much as the arithmetic: vectors, single tokens, per-group products of depthwise conv.
 */
export function gemmDirect(
  a: TypedArray,
  aOff: number,
  transA: boolean,
  b: TypedArray,
  bOff: number,
  transB: boolean,
  out: TypedArray,
  outOff: number,
  m: number,
  k: number,
  n: number,
): void {
  const aRow = transA ? 1 : k;
  const aCol = transA ? m : 1;
  const bRow = transB ? 1 : n;
  const bCol = transB ? k : 1;
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let acc = 0;
      let pa = aOff + i * aRow;
      let pb = bOff + j * bCol;
      for (let kk = 0; kk < k; kk++, pa += aCol, pb += bRow) acc += a[pa]! * b[pb]!;
      out[outOff + i * n + j] = acc;
    }
  }
}
