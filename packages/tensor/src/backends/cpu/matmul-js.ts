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

/** Packs rows [i0, i0+4) of op(A) (M×K) into dst k-major; rows past M are zero. */
export function packA(
  src: TypedArray,
  off: number,
  trans: boolean,
  m: number,
  k: number,
  dst: Float32Array,
): void {
  const panels = Math.ceil(m / R);
  for (let p = 0; p < panels; p++) {
    const base = p * R * k;
    for (let r = 0; r < R; r++) {
      const i = p * R + r;
      if (i >= m) {
        for (let kk = 0; kk < k; kk++) dst[base + kk * R + r] = 0;
      } else if (trans) {
        for (let kk = 0; kk < k; kk++) dst[base + kk * R + r] = src[off + kk * m + i]!;
      } else {
        const row = off + i * k;
        for (let kk = 0; kk < k; kk++) dst[base + kk * R + r] = src[row + kk]!;
      }
    }
  }
}

/**
 * Packs columns of op(B) (K×N) into panels of 4 columns, k-major; columns past N are zero. The
 * columns of op(B) are the rows of op(B)ᵀ = op'(Bᵀ) with the other transposition, so this is packA.
 */
export function packB(
  src: TypedArray,
  off: number,
  trans: boolean,
  k: number,
  n: number,
  dst: Float32Array,
): void {
  packA(src, off, !trans, n, k, dst);
}

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
