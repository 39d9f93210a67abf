import type { KernelInput } from '../../backend.js';
import { registerKernel } from '../../kernels.js';
import type { LayerNormGradOp, LayerNormOp } from '../../ops/norm.js';
import { sizeOf } from '../../shape.js';
import { alloc, f32 } from './backend.js';

/**
 * LayerNorm (ops/norm.ts) in float64, row by row: two passes for the mean and the variance of the
 * centred values (no cancellation), and no float32 square anywhere, so any finite row is exact
 * without the scaling step the float32 kernels need.
 */

/** Elements per row: the normalised trailing axes together. */
function rowSize(x: KernelInput, axes: number): number {
  return sizeOf(x.shape.slice(x.shape.length - axes));
}

function rowStats(x: Float32Array, at: number, n: number, eps: number): [number, number] {
  let sum = 0;
  for (let j = 0; j < n; j++) sum += x[at + j]!;
  const mean = sum / n;
  let sq = 0;
  for (let j = 0; j < n; j++) {
    const c = x[at + j]! - mean;
    sq += c * c;
  }
  return [mean, 1 / Math.sqrt(sq / n + eps)];
}

registerKernel<LayerNormOp>('layerNorm', 'cpu', (_b, [xIn, wIn, bIn], { axes, eps }, [spec]) => {
  const x = f32(xIn);
  const w = wIn ? f32(wIn) : null;
  const b = bIn ? f32(bIn) : null;
  const n = rowSize(xIn, axes);
  const y = alloc('float32', sizeOf(spec.shape));
  const rows = n === 0 ? 0 : x.length / n;
  for (let r = 0; r < rows; r++) {
    const at = r * n;
    const [mean, rstd] = rowStats(x, at, n, eps);
    for (let j = 0; j < n; j++) {
      let v = (x[at + j]! - mean) * rstd;
      if (w) v *= w[j]!;
      if (b) v += b[j]!;
      y[at + j] = v;
    }
  }
  return [y];
});

registerKernel<LayerNormGradOp>('layerNormGrad', 'cpu', (_b, [xIn, dyIn, wIn], { axes, eps }) => {
  const x = f32(xIn);
  const dy = f32(dyIn);
  const w = wIn ? f32(wIn) : null;
  const n = rowSize(xIn, axes);
  const dx = alloc('float32', x.length);
  const dw = new Float64Array(w ? n : 0);
  const db = new Float64Array(w ? n : 0);
  const xhat = new Float64Array(n);
  const g = new Float64Array(n);
  const rows = n === 0 ? 0 : x.length / n;
  for (let r = 0; r < rows; r++) {
    const at = r * n;
    const [mean, rstd] = rowStats(x, at, n, eps);
    let gSum = 0;
    let gxSum = 0;
    for (let j = 0; j < n; j++) {
      const xh = (x[at + j]! - mean) * rstd;
      const d = dy[at + j]!;
      const gj = w ? d * w[j]! : d;
      xhat[j] = xh;
      g[j] = gj;
      gSum += gj;
      gxSum += gj * xh;
      if (w) {
        dw[j] = dw[j]! + d * xh;
        db[j] = db[j]! + d;
      }
    }
    const a = gSum / n;
    const c = gxSum / n;
    for (let j = 0; j < n; j++) dx[at + j] = rstd * (g[j]! - a - xhat[j]! * c);
  }
  if (!w) return [dx];
  return [dx, Float32Array.from(dw), Float32Array.from(db)];
});
