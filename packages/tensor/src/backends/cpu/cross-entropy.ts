import type { KernelInput } from '../../backend.js';
import { registerKernel } from '../../kernels.js';
import type { CrossEntropyRowsGradOp, CrossEntropyRowsOp } from '../../ops/cross-entropy.js';
import { alloc, f32, i32 } from './backend.js';

/**
 * Softmax cross entropy per row (ops/cross-entropy.ts) in float64: the max-shifted log Σ exp, the
 * picked and the smoothed terms in two passes over the row; the backward in one more.
 */

function dims(x: KernelInput): [number, number] {
  return [x.shape[0]!, x.shape[1]!];
}

/** The row's shift m (its max, 0 if not finite) and log Σ exp(x − m). */
function rowStats(x: Float32Array, at: number, C: number): [number, number] {
  let m = Number.NEGATIVE_INFINITY;
  for (let c = 0; c < C; c++) {
    const v = x[at + c]!;
    if (v > m || v !== v) m = v;
  }
  const shift = Number.isFinite(m) ? m : 0;
  let s = 0;
  for (let c = 0; c < C; c++) s += Math.exp(x[at + c]! - shift);
  return [shift, Math.log(s)];
}

registerKernel<CrossEntropyRowsOp>('crossEntropyRows', 'cpu', (_b, [xIn, tIn, wIn], a) => {
  const x = f32(xIn);
  const t = i32(tIn);
  const w = wIn ? f32(wIn) : null;
  const [R, C] = dims(xIn);
  const loss = alloc('float32', R);
  for (let r = 0; r < R; r++) {
    const y = t[r]!;
    if (y === a.ignoreIndex) continue;
    const at = r * C;
    const [m, logZ] = rowStats(x, at, C);
    // (x − m) − log Z, not the log of a softmax: exact for any spread of scores.
    const logp = (c: number) => x[at + c]! - m - logZ;
    let l = -(w ? w[y]! : 1) * logp(y) * (1 - a.smoothing);
    if (a.smoothing > 0) {
      let s = 0;
      for (let c = 0; c < C; c++) s -= (w ? w[c]! : 1) * logp(c);
      l += (a.smoothing / C) * s;
    }
    loss[r] = l;
  }
  return [loss];
});

registerKernel<CrossEntropyRowsGradOp>(
  'crossEntropyRowsGrad',
  'cpu',
  (_b, [xIn, tIn, gIn, wIn], a) => {
    const x = f32(xIn);
    const t = i32(tIn);
    const dl = f32(gIn);
    const w = wIn ? f32(wIn) : null;
    const [R, C] = dims(xIn);
    const dx = alloc('float32', R * C);
    let wSum = C;
    if (w) {
      wSum = 0;
      for (let c = 0; c < C; c++) wSum += w[c]!;
    }
    const eps = a.smoothing / C;
    for (let r = 0; r < R; r++) {
      const y = t[r]!;
      if (y === a.ignoreIndex) continue;
      const at = r * C;
      const g = dl[r]!;
      const [m, logZ] = rowStats(x, at, C);
      const wy = (1 - a.smoothing) * (w ? w[y]! : 1);
      for (let c = 0; c < C; c++) {
        const p = Math.exp(x[at + c]! - m - logZ);
        let d = wy * (c === y ? p - 1 : p);
        if (eps > 0) d += eps * (p * wSum - (w ? w[c]! : 1));
        dx[at + c] = g * d;
      }
    }
    return [dx];
  },
);
