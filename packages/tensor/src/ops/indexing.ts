import { fmtShape, TensorError } from '../errors.js';
import { castTo } from '../onnx/lowering.js';
import { defineOp, type OpDef, run1 } from '../op.js';
import { normalizeAxis, shapesEqual } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { pad } from './movement.js';

/** Kernels that read indices check them and throw a TensorError naming the op on a bad one. */
export interface AxisAttrs {
  readonly axis: number;
}

interface ScatterAttrs extends AxisAttrs {
  /** Shape of the output the source is added into (starting from zeros). */
  readonly shape: readonly number[];
}

function checkIndex(op: string, index: Tensor): void {
  if (index.dtype !== 'int32')
    throw new TensorError(op, `expected int32 indices, got ${index.dtype}`);
}

/** @internal The types of gather and take (x, index), for their kernels (`registerKernel<GatherOp>`). */
export type GatherOp = OpDef<AxisAttrs, [x: Tensor, index: Tensor]>;
/** @internal The types of scatterAdd and indexAdd (src, index). */
export type ScatterAddOp = OpDef<ScatterAttrs, [src: Tensor, index: Tensor]>;

const gatherDef: GatherOp = defineOp({
  name: 'gather',
  infer: ([t, i], { axis }) => {
    checkIndex('gather', i);
    if (i.rank !== t.rank || i.shape.some((d, k) => k !== axis && d > t.shape[k]!)) {
      throw new TensorError(
        'gather',
        `index shape ${fmtShape(i.shape)} must have the rank of input ${fmtShape(t.shape)} and no larger size off axis ${axis}`,
      );
    }
    return [{ shape: i.shape, dtype: t.dtype }];
  },
  grad: (dy, { inputs: [x, index], attrs }) => [
    run1(scatterAddDef, [dy, index], { axis: attrs.axis, shape: x.shape }),
    null,
  ],
  onnx: ({ g, inputs, attrs, outputs }) => {
    const index = castTo(g, inputs[1], 'int32', 'int64');
    g.op('GatherElements', [inputs[0], index], { axis: attrs.axis }, outputs[0]);
  },
});

const scatterAddDef: ScatterAddOp = defineOp({
  name: 'scatterAdd',
  infer: ([s, i], { axis, shape }) => {
    checkIndex('scatterAdd', i);
    if (
      i.rank !== shape.length ||
      s.rank !== shape.length ||
      i.shape.some((d, k) => d > s.shape[k]! || (k !== axis && d > shape[k]!))
    ) {
      throw new TensorError(
        'scatterAdd',
        `index ${fmtShape(i.shape)}, source ${fmtShape(s.shape)} and output ${fmtShape(shape)} do not fit along axis ${axis}`,
      );
    }
    return [{ shape, dtype: s.dtype }];
  },
  grad: (dy, { inputs: [src, index], attrs }) => {
    const g: Tensor = run1(gatherDef, [dy, index], { axis: attrs.axis });
    // Source elements beyond the index's extent are never read: their gradient is zero.
    return [
      pad(
        g,
        src.shape.map((d, k) => [0, d - g.shape[k]!] as const),
      ),
      null,
    ];
  },
});

/** out[i][j] = x[index[i][j]][j] for axis 0, and so on (torch.gather). */
export function gather(x: Tensor, axis: number, index: Tensor): Tensor {
  if (x.rank === 0) throw new TensorError('gather', 'expected a tensor of rank >= 1, got a scalar');
  return run1(gatherDef, [x, index], { axis: normalizeAxis('gather', axis, x.rank) });
}

/** Zeros of `shape` with src[i][j] added at [index[i][j]][j] for axis 0, and so on; repeats add up. */
export function scatterAdd(
  shape: readonly number[],
  axis: number,
  index: Tensor,
  src: Tensor,
): Tensor {
  if (shape.length === 0) {
    throw new TensorError('scatterAdd', 'expected an output of rank >= 1, got shape []');
  }
  return run1(scatterAddDef, [src, index], {
    axis: normalizeAxis('scatterAdd', axis, shape.length),
    shape,
  });
}

const takeDef: GatherOp = defineOp({
  name: 'take',
  infer: ([x, index], { axis }) => {
    checkIndex('indexSelect', index);
    return [
      {
        shape: [...x.shape.slice(0, axis), ...index.shape, ...x.shape.slice(axis + 1)],
        dtype: x.dtype,
      },
    ];
  },
  grad: (dy, { inputs: [x, index], attrs }) => [
    run1(indexAddDef, [dy, index], { axis: attrs.axis, shape: x.shape }),
    null,
  ],
  onnx: ({ g, inputs, attrs, outputs }) => {
    const index = castTo(g, inputs[1], 'int32', 'int64');
    g.op('Gather', [inputs[0], index], { axis: attrs.axis }, outputs[0]);
  },
});

const indexAddDef: ScatterAddOp = defineOp({
  name: 'indexAdd',
  infer: ([s, i], { axis, shape }) => {
    checkIndex('indexAdd', i);
    const expected = [...shape.slice(0, axis), ...i.shape, ...shape.slice(axis + 1)];
    if (!shapesEqual(s.shape, expected)) {
      throw new TensorError(
        'indexAdd',
        `expected a source of shape ${fmtShape(expected)} (output ${fmtShape(shape)}, index ${fmtShape(i.shape)} along axis ${axis}), got ${fmtShape(s.shape)}`,
      );
    }
    return [{ shape, dtype: s.dtype }];
  },
  grad: (dy, { inputs: [, index], attrs }) => [
    run1(takeDef, [dy, index], { axis: attrs.axis }),
    null,
  ],
});

/**
 * Selects slices along `axis` by an int32 index tensor of any shape: the output shape is
 * x.shape[:axis] + index.shape + x.shape[axis+1:] (an embedding lookup is indexSelect(table, 0, ids)).
 */
export function indexSelect(x: Tensor, axis: number, index: Tensor): Tensor {
  if (x.rank === 0)
    throw new TensorError('indexSelect', 'expected a tensor of rank >= 1, got a scalar');
  return run1(takeDef, [x, index], { axis: normalizeAxis('indexSelect', axis, x.rank) });
}

/** Zeros of `shape` with the slices of src added at the positions `index` names along `axis`. */
export function indexAdd(
  shape: readonly number[],
  axis: number,
  index: Tensor,
  src: Tensor,
): Tensor {
  return run1(indexAddDef, [src, index], {
    axis: normalizeAxis('indexAdd', axis, shape.length),
    shape,
  });
}
