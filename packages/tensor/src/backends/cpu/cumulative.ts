import type { KernelInput } from '../../backend.js';
import { registerKernel } from '../../kernels.js';
import type { CummaxOp, CumsumOp } from '../../ops/cumulative.js';
import { sizeOf } from '../../shape.js';
import { alloc, arr } from './backend.js';

function layout(x: KernelInput, axis: number) {
  return {
    outer: sizeOf(x.shape.slice(0, axis)),
    r: x.shape[axis]!,
    inner: sizeOf(x.shape.slice(axis + 1)),
  };
}

registerKernel<CumsumOp>('cumsum', 'cpu', (_b, [input], { axis, reverse, exclusive }, [spec]) => {
  const src = arr(input);
  const out = alloc(spec.dtype, input.size);
  const { outer, r, inner } = layout(input, axis);
  const acc = new Float64Array(inner);
  for (let o = 0; o < outer; o++) {
    acc.fill(0);
    for (let s = 0; s < r; s++) {
      const k = reverse ? r - 1 - s : s;
      const row = (o * r + k) * inner;
      for (let i = 0; i < inner; i++) {
        const before = acc[i]!;
        const after = before + src[row + i]!;
        acc[i] = after;
        out[row + i] = exclusive ? before : after;
      }
    }
  }
  return [out];
});

registerKernel<CummaxOp>('cummax', 'cpu', (_b, [input], { axis }, [spec]) => {
  const src = arr(input);
  const values = alloc(spec.dtype, input.size);
  const indices = new Int32Array(input.size);
  const { outer, r, inner } = layout(input, axis);
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      let best = Number.NEGATIVE_INFINITY;
      let at = 0;
      for (let k = 0; k < r; k++) {
        const p = (o * r + k) * inner + i;
        const v = src[p]!;
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
