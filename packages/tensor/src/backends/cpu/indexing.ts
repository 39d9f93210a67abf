import type { KernelInput, OutputSpec } from '../../backend.js';
import { TensorError } from '../../errors.js';
import { registerKernel } from '../../kernels.js';
import type { AxisAttrs } from '../../ops/indexing.js';
import { sizeOf, stridesOf } from '../../shape.js';
import { alloc, arr } from './backend.js';

function badIndex(op: string, value: number, size: number, axis: number): TensorError {
  return new TensorError(op, `index ${value} is out of range for axis ${axis} of size ${size}`);
}

/**
 * For every element of `index` (row-major), calls visit(position in index, offset in the tensor
 * whose layout is `shape`, with the axis coordinate replaced by the index value).
 */
function eachIndexed(
  op: string,
  index: KernelInput,
  shape: readonly number[],
  axis: number,
  visit: (i: number, at: number) => void,
): void {
  const idx = arr(index);
  const strides = stridesOf(shape);
  const rank = index.shape.length;
  const coord = new Int32Array(rank);
  const size = shape[axis] as number;
  const axisStride = strides[axis] as number;
  let base = 0; // offset of coord with the axis coordinate left out
  for (let i = 0; i < index.size; i++) {
    const v = idx[i] as number;
    if (v < 0 || v >= size) throw badIndex(op, v, size, axis);
    visit(i, base + v * axisStride);
    for (let k = rank - 1; k >= 0; k--) {
      if (k !== axis) base += strides[k] as number;
      if (++coord[k] < (index.shape[k] as number)) break;
      if (k !== axis) base -= (strides[k] as number) * (index.shape[k] as number);
      coord[k] = 0;
    }
  }
}

registerKernel<AxisAttrs>('gather', 'cpu', (_b, [x, index], { axis }, [spec]) => {
  const src = arr(x as KernelInput);
  const out = alloc((spec as OutputSpec).dtype, (index as KernelInput).size);
  eachIndexed('gather', index as KernelInput, (x as KernelInput).shape, axis, (i, at) => {
    out[i] = src[at] as number;
  });
  return [out];
});

registerKernel<AxisAttrs & { shape: number[] }>(
  'scatterAdd',
  'cpu',
  (_b, [s, index], { axis, shape }, [spec]) => {
    const src = arr(s as KernelInput);
    const out = alloc((spec as OutputSpec).dtype, sizeOf(shape));
    const srcStrides = stridesOf((s as KernelInput).shape);
    const idxStrides = stridesOf((index as KernelInput).shape);
    // The source may be larger than the index off the axis: map index positions to source offsets.
    const needsMap = srcStrides.some((v, k) => v !== idxStrides[k]);
    eachIndexed('scatterAdd', index as KernelInput, shape, axis, (i, at) => {
      let j = i;
      if (needsMap) {
        j = 0;
        let rest = i;
        for (let k = 0; k < idxStrides.length; k++) {
          const c = Math.floor(rest / (idxStrides[k] as number));
          rest -= c * (idxStrides[k] as number);
          j += c * (srcStrides[k] as number);
        }
      }
      out[at] = (out[at] as number) + (src[j] as number);
    });
    return [out];
  },
);

/** [outer, n, inner] input, k flat indices → [outer, k, inner]. */
registerKernel<AxisAttrs>('take', 'cpu', (_b, [x, index], { axis }, [spec]) => {
  const input = x as KernelInput;
  const src = arr(input);
  const idx = arr(index as KernelInput);
  const n = input.shape[axis] as number;
  const outer = sizeOf(input.shape.slice(0, axis));
  const inner = sizeOf(input.shape.slice(axis + 1));
  const k = idx.length;
  const out = alloc((spec as OutputSpec).dtype, outer * k * inner);
  for (let j = 0; j < k; j++) {
    const v = idx[j] as number;
    if (v < 0 || v >= n) throw badIndex('indexSelect', v, n, axis);
  }
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < k; j++) {
      const from = (o * n + (idx[j] as number)) * inner;
      out.set(src.subarray(from, from + inner), (o * k + j) * inner);
    }
  }
  return [out];
});

registerKernel<AxisAttrs & { shape: number[] }>(
  'indexAdd',
  'cpu',
  (_b, [s, index], { axis, shape }, [spec]) => {
    const src = arr(s as KernelInput);
    const idx = arr(index as KernelInput);
    const n = shape[axis] as number;
    const outer = sizeOf(shape.slice(0, axis));
    const inner = sizeOf(shape.slice(axis + 1));
    const k = idx.length;
    const expected = outer * k * inner;
    if ((s as KernelInput).size !== expected) {
      throw new TensorError(
        'indexAdd',
        `source has ${(s as KernelInput).size} elements, expected ${expected}`,
      );
    }
    const out = alloc((spec as OutputSpec).dtype, sizeOf(shape));
    for (let o = 0; o < outer; o++) {
      for (let j = 0; j < k; j++) {
        const v = idx[j] as number;
        if (v < 0 || v >= n) throw badIndex('indexAdd', v, n, axis);
        const to = (o * n + v) * inner;
        const from = (o * k + j) * inner;
        for (let i = 0; i < inner; i++)
          out[to + i] = (out[to + i] as number) + (src[from + i] as number);
      }
    }
    return [out];
  },
);
