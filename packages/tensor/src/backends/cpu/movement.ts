import type { TypedArray } from '../../dtype.js';
import { registerKernel } from '../../kernels.js';
import type { StridedWriteOp } from '../../ops/inplace.js';
import type { ConcatOp, PadOp, StridedOp, StridedScatterOp } from '../../ops/movement.js';
import { concatLayout, sizeOf, stridesOf } from '../../shape.js';
import { alloc, arr } from './backend.js';
import { forgetCachedMatrix } from './wasm/gemm.js';

/**
 * Visits every position of `shape` in row-major order, calling `row(dst, src, n, step)` once per
 * last-axis run: dst is the dense output offset, src the strided input offset.
 */
function walk(
  shape: readonly number[],
  strides: readonly number[],
  offset: number,
  row: (dst: number, src: number, n: number, step: number) => void,
): void {
  const rank = shape.length;
  if (rank === 0) {
    row(0, offset, 1, 0);
    return;
  }
  const n = shape[rank - 1]!;
  const step = strides[rank - 1]!;
  const total = sizeOf(shape);
  if (total === 0) return;
  const idx = new Int32Array(rank);
  let src = offset;
  for (let dst = 0; dst < total; dst += n) {
    row(dst, src, n, step);
    for (let k = rank - 2; k >= 0; k--) {
      src += strides[k]!;
      const c = idx[k]! + 1;
      idx[k] = c;
      if (c < shape[k]!) break;
      src -= strides[k]! * shape[k]!;
      idx[k] = 0;
    }
  }
}

registerKernel<StridedOp>('strided', 'cpu', (_b, [x], { shape, strides, offset }, [spec]) => {
  const src = arr(x);
  const out = alloc(spec.dtype, sizeOf(shape));
  walk(shape, strides, offset, (d, s, n, step) => {
    if (step === 1) out.set(src.subarray(s, s + n), d);
    else for (let j = 0; j < n; j++) out[d + j] = src[s + j * step]!;
  });
  return [out];
});

registerKernel<StridedScatterOp>(
  'stridedScatter',
  'cpu',
  (_b, [g], { shape, strides, offset }, [o]) => {
    const src = arr(g);
    const out = alloc(o.dtype, sizeOf(o.shape));
    walk(shape, strides, offset, (d, s, n, step) => {
      for (let j = 0; j < n; j++) out[s + j * step] = out[s + j * step]! + src[d + j]!;
    });
    return [out];
  },
);

registerKernel<PadOp>('pad', 'cpu', (_b, [input], { pads, value }, [o]) => {
  const out = alloc(o.dtype, sizeOf(o.shape));
  if (value !== 0) out.fill(value);
  // Write the input through a strided view of the output that starts at the padded corner.
  const outStrides = stridesOf(o.shape);
  const offset = pads.reduce((acc, p, i) => acc + (p[0] ?? 0) * outStrides[i]!, 0);
  const src = arr(input);
  walk(input.shape, outStrides, offset, (d, s, n) => out.set(src.subarray(d, d + n), s));
  return [out];
});

registerKernel<ConcatOp>('concat', 'cpu', (_b, inputs, { axis }, [o]) => {
  const out = alloc(o.dtype, sizeOf(o.shape));
  const { outer, rowLen, parts } = concatLayout(o.shape, inputs, axis);
  inputs.forEach((x, p) => {
    const { len, at } = parts[p]!;
    const src: TypedArray = arr(x);
    for (let r = 0; r < outer; r++) out.set(src.subarray(r * len, (r + 1) * len), r * rowLen + at);
  });
  return [out];
});

registerKernel<StridedWriteOp>(
  'stridedWrite',
  'cpu',
  (_b, [target, src], { shape, strides, offset, accumulate }) => {
    const out = arr(target);
    const from = arr(src);
    forgetCachedMatrix(out); // the matmul kernel may hold a copy of the old contents
    walk(shape, strides, offset, (d, s, n, step) => {
      if (!accumulate && step === 1) out.set(from.subarray(d, d + n), s);
      else if (!accumulate) for (let j = 0; j < n; j++) out[s + j * step] = from[d + j]!;
      else for (let j = 0; j < n; j++) out[s + j * step] = out[s + j * step]! + from[d + j]!;
    });
    return [];
  },
);
