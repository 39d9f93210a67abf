import type { KernelInput, OutputSpec } from '../../backend.js';
import { registerKernel } from '../../kernels.js';
import type { CumsumAttrs } from '../../ops/cumulative.js';
import { sizeOf } from '../../shape.js';
import { alloc, arr } from './backend.js';

function layout(x: KernelInput, axis: number) {
  return {
    outer: sizeOf(x.shape.slice(0, axis)),
    r: x.shape[axis] as number,
    inner: sizeOf(x.shape.slice(axis + 1)),
  };
}

registerKernel<CumsumAttrs>('cumsum', 'cpu', (_b, [x], { axis, reverse, exclusive }, [spec]) => {
  const input = x as KernelInput;
  const src = arr(input);
  const out = alloc((spec as OutputSpec).dtype, input.size);
  const { outer, r, inner } = layout(input, axis);
  const acc = new Float64Array(inner);
  for (let o = 0; o < outer; o++) {
    acc.fill(0);
    for (let s = 0; s < r; s++) {
      const k = reverse ? r - 1 - s : s;
      const row = (o * r + k) * inner;
      for (let i = 0; i < inner; i++) {
        const v = src[row + i] as number;
        if (exclusive) {
          out[row + i] = acc[i] as number;
          acc[i] += v;
        } else {
          acc[i] += v;
          out[row + i] = acc[i] as number;
        }
      }
    }
  }
  return [out];
});

registerKernel<{ axis: number }>('cummax', 'cpu', (_b, [x], { axis }, [spec]) => {
  const input = x as KernelInput;
  const src = arr(input);
  const values = alloc((spec as OutputSpec).dtype, input.size);
  const indices = new Int32Array(input.size);
  const { outer, r, inner } = layout(input, axis);
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      let best = Number.NEGATIVE_INFINITY;
      let at = 0;
      for (let k = 0; k < r; k++) {
        const p = (o * r + k) * inner + i;
        const v = src[p] as number;
        // Latest index among equal maxima (PyTorch); a NaN sticks once seen, and each later NaN
        // takes over the index (as in PyTorch).
        if (v !== v || (best === best && v >= best)) {
          best = v;
          at = k;
        }
        values[p] = best;
        indices[p] = at;
      }
    }
  }
  return [values, indices];
});
