import type { KernelInput } from '../../backend.js';
import { TensorError } from '../../errors.js';
import { registerKernel } from '../../kernels.js';
import type { GatherOp, ScatterAddOp } from '../../ops/indexing.js';
import { sizeOf, stridesOf } from '../../shape.js';
import { alloc, arr } from './backend.js';

function badIndex(op: string, value: number, size: number, axis: number): TensorError {
  return new TensorError(op, `index ${value} is out of range for axis ${axis} of size ${size}`);
}

/**
 * The offset, in a tensor with `strides`, of every position of an index tensor of `shape` (row-major),
 * leaving out axis `skip`'s contribution (-1 skips none). Computed once per kernel so the element
 * loops below are plain array reads.
 */
function offsetsOf(shape: readonly number[], strides: readonly number[], skip: number): Int32Array {
  const n = sizeOf(shape);
  const out = new Int32Array(n);
  const rank = shape.length;
  const coord = new Int32Array(rank);
  let base = 0;
  for (let i = 0; i < n; i++) {
    out[i] = base;
    for (let k = rank - 1; k >= 0; k--) {
      const st = k === skip ? 0 : strides[k]!;
      base += st;
      const c = coord[k]! + 1;
      coord[k] = c;
      if (c < shape[k]!) break;
      base -= st * shape[k]!;
      coord[k] = 0;
    }
  }
  return out;
}

/** Where each index lands in a tensor of `shape`: its position with the axis coordinate replaced. */
function targetsOf(
  op: string,
  index: KernelInput,
  shape: readonly number[],
  axis: number,
): Int32Array {
  const idx = arr(index);
  const strides = stridesOf(shape);
  const at = offsetsOf(index.shape, strides, axis);
  const size = shape[axis]!;
  const axisStride = strides[axis]!;
  for (let i = 0; i < at.length; i++) {
    const v = idx[i]!;
    if (v < 0 || v >= size) throw badIndex(op, v, size, axis);
    at[i] = at[i]! + v * axisStride;
  }
  return at;
}

registerKernel<GatherOp>('gather', 'cpu', (_b, [x, index], { axis }, [spec]) => {
  const src = arr(x);
  const out = alloc(spec.dtype, index.size);
  const at = targetsOf('gather', index, x.shape, axis);
  for (let i = 0; i < at.length; i++) out[i] = src[at[i]!]!;
  return [out];
});

registerKernel<ScatterAddOp>('scatterAdd', 'cpu', (_b, [source, idx], { axis, shape }, [spec]) => {
  const src = arr(source);
  const out = alloc(spec.dtype, sizeOf(shape));
  const at = targetsOf('scatterAdd', idx, shape, axis);
  // The source may be larger than the index off the axis: read it at the index's positions.
  const from = offsetsOf(idx.shape, stridesOf(source.shape), -1);
  for (let i = 0; i < at.length; i++) {
    const o = at[i]!;
    out[o] = out[o]! + src[from[i]!]!;
  }
  return [out];
});

/** [outer, n, inner] input, k flat indices → [outer, k, inner]. */
registerKernel<GatherOp>('take', 'cpu', (_b, [input, index], { axis }, [spec]) => {
  const src = arr(input);
  const idx = arr(index);
  const n = input.shape[axis]!;
  const outer = sizeOf(input.shape.slice(0, axis));
  const inner = sizeOf(input.shape.slice(axis + 1));
  const k = idx.length;
  const out = alloc(spec.dtype, outer * k * inner);
  for (let j = 0; j < k; j++) {
    const v = idx[j]!;
    if (v < 0 || v >= n) throw badIndex('indexSelect', v, n, axis);
  }
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < k; j++) {
      const from = (o * n + idx[j]!) * inner;
      out.set(src.subarray(from, from + inner), (o * k + j) * inner);
    }
  }
  return [out];
});

registerKernel<ScatterAddOp>('indexAdd', 'cpu', (_b, [s, index], { axis, shape }, [spec]) => {
  const src = arr(s);
  const idx = arr(index);
  const n = shape[axis]!;
  const outer = sizeOf(shape.slice(0, axis));
  const inner = sizeOf(shape.slice(axis + 1));
  const k = idx.length;
  const expected = outer * k * inner;
  if (s.size !== expected) {
    throw new TensorError('indexAdd', `source has ${s.size} elements, expected ${expected}`);
  }
  const out = alloc(spec.dtype, sizeOf(shape));
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < k; j++) {
      const v = idx[j]!;
      if (v < 0 || v >= n) throw badIndex('indexAdd', v, n, axis);
      const to = (o * n + v) * inner;
      const from = (o * k + j) * inner;
      for (let i = 0; i < inner; i++) out[to + i] = out[to + i]! + src[from + i]!;
    }
  }
  return [out];
});
