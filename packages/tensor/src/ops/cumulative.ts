import { defineOp, type OpDef, run1, runOp } from '../op.js';
import { normalizeAxis } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { scatterAdd } from './indexing.js';

export interface CumulativeOptions {
  /** Accumulate from the end backwards. */
  reverse?: boolean;
  /** Leave out the current element: out[i] sums the elements before i (0 at the start). */
  exclusive?: boolean;
}

export interface CumsumAttrs {
  readonly axis: number;
  readonly reverse: boolean;
  readonly exclusive: boolean;
}

const cumsumDef: OpDef<CumsumAttrs> = defineOp<CumsumAttrs>({
  name: 'cumsum',
  infer: ([x]) => [{ shape: (x as Tensor).shape, dtype: (x as Tensor).dtype }],
  grad: (dy, { attrs }) => [run1(cumsumDef, [dy], { ...attrs, reverse: !attrs.reverse })],
  onnx: ({ g, inputs, attrs, outputs }) => {
    g.op(
      'CumSum',
      [inputs[0] as string, g.scalar(attrs.axis, 'int64')],
      {
        exclusive: attrs.exclusive ? 1 : 0,
        reverse: attrs.reverse ? 1 : 0,
      },
      outputs[0],
    );
  },
});

/** Running sums along `axis` (float32 accumulates in double precision on the CPU). */
export function cumsum(x: Tensor, axis = -1, options: CumulativeOptions = {}): Tensor {
  if (x.rank === 0) return x.clone();
  return run1(cumsumDef, [x], {
    axis: normalizeAxis('cumsum', axis, x.rank),
    reverse: options.reverse ?? false,
    exclusive: options.exclusive ?? false,
  });
}

const cummaxDef = defineOp<{ axis: number }>({
  name: 'cummax',
  infer: ([x]) => {
    const t = x as Tensor;
    return [
      { shape: t.shape, dtype: t.dtype },
      { shape: t.shape, dtype: 'int32' },
    ];
  },
  grad: (dy, { inputs, outputs, attrs }) => [
    scatterAdd((inputs[0] as Tensor).shape, attrs.axis, outputs[1] as Tensor, dy),
  ],
});

/**
 * Running maxima along `axis` and where they were found (the latest index among equal values, as
 * PyTorch; NaN propagates). The gradient flows to the element each maximum came from.
 */
export function cummax(x: Tensor, axis = -1): { values: Tensor; indices: Tensor } {
  const t = x.rank === 0 ? x.reshape([1]) : x;
  const [values, indices] = runOp(cummaxDef, [t], {
    axis: normalizeAxis('cummax', axis, t.rank),
  }) as [Tensor, Tensor];
  return x.rank === 0
    ? { values: values.reshape([]), indices: indices.reshape([]) }
    : { values, indices };
}
