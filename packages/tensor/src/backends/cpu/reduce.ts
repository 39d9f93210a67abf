import type { KernelInput } from '../../backend.js';
import { registerKernel } from '../../kernels.js';
import type { ReduceAttrs, ReduceOp } from '../../ops/reduce.js';
import { sizeOf } from '../../shape.js';
import { alloc, arr } from './backend.js';

/** The input read as [outer, r, inner]; the output is [outer, inner]. */
function layout(x: KernelInput, { start, end }: ReduceAttrs) {
  return {
    outer: sizeOf(x.shape.slice(0, start)),
    r: sizeOf(x.shape.slice(start, end)),
    inner: sizeOf(x.shape.slice(end)),
  };
}

type Fold = (
  src: ArrayLike<number>,
  out: Float64Array,
  outer: number,
  r: number,
  inner: number,
) => void;

/** Accumulates in float64 rows (`acc`), walking the input in memory order. */
function foldKernel(name: string, init: number, fold: Fold): void {
  registerKernel<ReduceOp>(name, 'cpu', (_b, [input], attrs, [spec]) => {
    const { outer, r, inner } = layout(input, attrs);
    const acc = new Float64Array(outer * inner).fill(init);
    fold(arr(input), acc, outer, r, inner);
    const out = alloc(spec.dtype, outer * inner);
    out.set(acc);
    return [out];
  });
}

foldKernel('sum', 0, (src, acc, outer, r, inner) => {
  for (let o = 0; o < outer; o++) {
    const base = o * inner;
    for (let k = 0; k < r; k++) {
      const row = (o * r + k) * inner;
      for (let i = 0; i < inner; i++) acc[base + i] = acc[base + i]! + src[row + i]!;
    }
  }
});

// NaN wins (as in NumPy and PyTorch): once an accumulator is NaN no comparison replaces it.
foldKernel('max', Number.NEGATIVE_INFINITY, (src, acc, outer, r, inner) => {
  for (let o = 0; o < outer; o++) {
    const base = o * inner;
    for (let k = 0; k < r; k++) {
      const row = (o * r + k) * inner;
      for (let i = 0; i < inner; i++) {
        const v = src[row + i]!;
        const cur = acc[base + i]!;
        if (v > cur || v !== v) acc[base + i] = cur !== cur ? cur : v;
      }
    }
  }
});

foldKernel('min', Number.POSITIVE_INFINITY, (src, acc, outer, r, inner) => {
  for (let o = 0; o < outer; o++) {
    const base = o * inner;
    for (let k = 0; k < r; k++) {
      const row = (o * r + k) * inner;
      for (let i = 0; i < inner; i++) {
        const v = src[row + i]!;
        const cur = acc[base + i]!;
        if (v < cur || v !== v) acc[base + i] = cur !== cur ? cur : v;
      }
    }
  }
});

/**
 * Index of the first extreme along r; a NaN counts as the extreme (its first occurrence). `sign` 1
 * finds the largest, −1 the smallest (comparing sign·v keeps the loop free of calls).
 */
function argKernel(name: string, sign: 1 | -1): void {
  registerKernel<ReduceOp>(name, 'cpu', (_b, [input], attrs) => {
    const src = arr(input);
    const { outer, r, inner } = layout(input, attrs);
    const out = new Int32Array(outer * inner);
    for (let o = 0; o < outer; o++) {
      for (let i = 0; i < inner; i++) {
        let best = src[o * r * inner + i]!;
        let at = 0;
        for (let k = 1; k < r && best === best; k++) {
          const v = src[(o * r + k) * inner + i]!;
          if (sign * v > sign * best || v !== v) {
            best = v;
            at = k;
          }
        }
        out[o * inner + i] = at;
      }
    }
    return [out];
  });
}

argKernel('argmax', 1);
argKernel('argmin', -1);
