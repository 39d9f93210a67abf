import type { OutputSpec } from '../backend.js';
import type { OnnxContext } from '../onnx/lowering.js';
import { DataType } from '../onnx/proto.js';
import { defineOp, type OpDef, run1, runOp } from '../op.js';
import { normalizeAxis } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { scatterAdd } from './indexing.js';

/**
 * Options of {@link cumsum}: direction and whether each output includes its own element. Both
 * default to false.
 */
export interface CumulativeOptions {
  /** Accumulate from the end backwards. */
  reverse?: boolean;
  /** Leave out the current element: out[i] sums the elements before i (0 at the start). */
  exclusive?: boolean;
}

/**
 * The attributes of the cumsum op (see {@link cumsum}): a normalised axis and the {@link
 * CumulativeOptions} flags.
 */
export interface CumsumAttrs {
  readonly axis: number;
  readonly reverse: boolean;
  readonly exclusive: boolean;
}

const cumsumDef: OpDef<CumsumAttrs, [x: Tensor]> = defineOp({
  name: 'cumsum',
  infer: ([x]) => [{ shape: x.shape, dtype: x.dtype }],
  grad: (dy, { attrs }) => [run1(cumsumDef, [dy], { ...attrs, reverse: !attrs.reverse })],
  onnx: ({ g, inputs, attrs, outputs }) => {
    g.op(
      'CumSum',
      [inputs[0], g.scalar(attrs.axis, 'int64')],
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

/**
 * ONNX has no cummax: a Scan along the axis carrying (maximum, its index, the position), with the
 * kernel's rule (a NaN sticks once seen and each later NaN takes the index; among equal maxima the
 * latest index). It starts from the first element, which every rule takes.
 */
function cummaxOnnx({ g, inputs, outputs, attrs, inDTypes }: OnnxContext<{ axis: number }>): void {
  const x = inputs[0]!;
  const { axis } = attrs;
  const float = inDTypes[0] === 'float32';
  const type = inDTypes[0]!;
  const best0 = g.op('Gather', [x, g.scalar(0, 'int64')], { axis });
  const at0 = g.op('ConstantOfShape', [g.op('Shape', [best0])], {
    value: { name: '', dims: [1], dataType: DataType.INT32, rawData: new Uint8Array(4) },
  });
  const b = g.subgraph();
  const [best, at, k, v] = [b.fresh('best'), b.fresh('at'), b.fresh('k'), b.fresh('v')];
  const ge = b.op('GreaterOrEqual', [v, best]);
  const take = float
    ? b.op('Or', [b.op('IsNaN', [v]), b.op('And', [b.op('Not', [b.op('IsNaN', [best])]), ge])])
    : ge;
  const best1 = b.op('Where', [take, v, best]);
  const at1 = b.op('Where', [take, k, at]);
  const k1 = b.op('Add', [k, b.scalar(1, 'int32')]);
  const outs = [best1, at1].map((o) => b.op('Identity', [o]));
  const body = b.body(
    'cummax_step',
    [
      [best, type],
      [at, 'int32'],
      [k, 'int32'],
      [v, type],
    ],
    [
      [best1, type],
      [at1, 'int32'],
      [k1, 'int32'],
      [outs[0]!, type],
      [outs[1]!, 'int32'],
    ],
  );
  g.node(
    'Scan',
    [best0, at0, g.scalar(0, 'int32'), x],
    [g.fresh('best_last'), g.fresh('at_last'), g.fresh('k_last'), ...outputs],
    { body, num_scan_inputs: 1, scan_input_axes: [axis], scan_output_axes: [axis, axis] },
  );
}

const cummaxDef: OpDef<{ axis: number }, [x: Tensor], [values: OutputSpec, indices: OutputSpec]> =
  defineOp({
    name: 'cummax',
    onnx: cummaxOnnx,
    infer: ([x]) => [
      { shape: x.shape, dtype: x.dtype },
      { shape: x.shape, dtype: 'int32' },
    ],
    grad: (dy, { inputs: [x], outputs: [, indices], attrs }) => [
      scatterAdd(x.shape, attrs.axis, indices, dy),
    ],
  });

/** @internal The ops' types, for their kernels (`registerKernel<CumsumOp>`). */
export type CumsumOp = typeof cumsumDef;
/** @internal The cummax op's type, for its kernels. */
export type CummaxOp = typeof cummaxDef;

/**
 * Running maxima along `axis` and where they were found (the latest index among equal values, as
 * PyTorch; NaN propagates). The gradient flows to the element each maximum came from.
 */
export function cummax(x: Tensor, axis = -1): { values: Tensor; indices: Tensor } {
  const t = x.rank === 0 ? x.reshape([1]) : x;
  const [values, indices] = runOp(cummaxDef, [t], {
    axis: normalizeAxis('cummax', axis, t.rank),
  });
  return x.rank === 0
    ? { values: values.reshape([]), indices: indices.reshape([]) }
    : { values, indices };
}
