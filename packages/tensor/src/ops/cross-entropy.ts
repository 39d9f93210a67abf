import type { OnnxContext } from '../onnx/lowering.js';
import { DataType } from '../onnx/proto.js';
import { defineOp, type OpDef, runOp } from '../op.js';
import type { Tensor } from '../tensor.js';

/**
 * Softmax cross entropy of score rows and class indices in one op: inputs x [R, C], target int32
 * [R][, weight [C]] → the per-row loss [R]. With logp = (x − m) − log Σ exp(x − m) (m the row's
 * max), the target's class y and ε the label smoothing:
 *
 *     loss_r = (1 − ε)·(−w_y·logp_y) + ε/C · Σ_c (−w_c·logp_c)      (0 where y = ignoreIndex)
 *
 * (w = 1 without a weight), exactly nn.crossEntropy's per-element loss. The backward
 * ('crossEntropyRowsGrad') is one kernel too: dx_c = dloss · ((1 − ε)·w_y·(p_c − [c = y]) +
 * ε/C·(p_c·Σw − w_c)), recomputing the row's max and sum (a float32 lse would lose p's accuracy
 * at score spreads of 1e4).
 */
export interface CrossEntropyRowsAttrs {
  readonly ignoreIndex: number;
  readonly smoothing: number;
}

/** ONNX: logSoftmax, the picked and the smoothed terms, 0 where the target is ignored. */
function crossEntropyOnnx({
  g,
  inputs,
  outputs,
  attrs,
}: OnnxContext<CrossEntropyRowsAttrs, CrossEntropyInputs>): void {
  const [x, target, weight] = inputs;
  const f = (v: number) => g.scalar(v, 'float32');
  const m = g.op('ReduceMax', [x], { axes: [-1], keepdims: 1 });
  const finite = g.op('Not', [g.op('Or', [g.op('IsInf', [m]), g.op('IsNaN', [m])])]);
  const shift = g.op('Where', [finite, m, f(0)]);
  const shifted = g.op('Sub', [x, shift]);
  const logZ = g.op('Log', [
    g.op('ReduceSum', [g.op('Exp', [shifted]), g.ints([-1])], { keepdims: 1 }),
  ]);
  const logp = g.op('Sub', [shifted, logZ]);
  const valid = g.op('Not', [g.op('Equal', [target, g.scalar(attrs.ignoreIndex, 'int32')])]);
  const safe = g.op('Where', [valid, target, g.scalar(0, 'int32')]);
  const index = g.op('Unsqueeze', [g.op('Cast', [safe], { to: DataType.INT64 }), g.ints([-1])]);
  let picked = g.op('Squeeze', [g.op('GatherElements', [logp, index], { axis: 1 }), g.ints([-1])]);
  let all = logp;
  if (weight) {
    picked = g.op('Mul', [
      picked,
      g.op('Gather', [weight, g.op('Cast', [safe], { to: DataType.INT64 })]),
    ]);
    all = g.op('Mul', [logp, weight]);
  }
  const classes = g.op('Cast', [g.op('Shape', [x], { start: -1 })], { to: DataType.FLOAT });
  const smooth = g.op('Div', [g.op('ReduceSum', [all, g.ints([-1])], { keepdims: 0 }), classes]);
  const loss = g.op('Neg', [
    g.op('Add', [
      g.op('Mul', [picked, f(1 - attrs.smoothing)]),
      g.op('Mul', [smooth, f(attrs.smoothing)]),
    ]),
  ]);
  g.op('Where', [valid, loss, f(0)], {}, outputs[0]);
}

/** Scores x [R, C], int32 targets [R] and optional class weights [C] → loss [R]. */
/** Scores and targets, and optionally class weights. */
type CrossEntropyInputs = [x: Tensor, target: Tensor] | [x: Tensor, target: Tensor, weight: Tensor];

const crossEntropyRowsDef: OpDef<CrossEntropyRowsAttrs, CrossEntropyInputs> = defineOp({
  name: 'crossEntropyRows',
  onnx: crossEntropyOnnx,
  infer: ([x]) => [{ shape: x.shape.slice(0, 1), dtype: 'float32' }],
  grad: (dLoss, { inputs: [x, target, weight], attrs }) => {
    const [dx] = runOp(
      crossEntropyRowsGradDef,
      weight ? [x, target, dLoss, weight] : [x, target, dLoss],
      attrs,
    );
    return weight ? [dx, null, null] : [dx, null];
  },
});

/** Inputs x, target, dLoss[, weight] → dx. Not differentiable itself. */
const crossEntropyRowsGradDef: OpDef<
  CrossEntropyRowsAttrs,
  | [x: Tensor, target: Tensor, dLoss: Tensor]
  | [x: Tensor, target: Tensor, dLoss: Tensor, weight: Tensor]
> = defineOp({
  name: 'crossEntropyRowsGrad',
  infer: ([x]) => [{ shape: x.shape, dtype: 'float32' }],
});

/** @internal The ops' types, for their kernels (`registerKernel<CrossEntropyRowsOp>`). */
export type CrossEntropyRowsOp = typeof crossEntropyRowsDef;
/** @internal */
export type CrossEntropyRowsGradOp = typeof crossEntropyRowsGradDef;

/**
 * @internal The per-row loss of crossEntropy for scores [R, C] and int32 class indices [R] (the
 * caller validates them and reduces). Returns loss [R].
 */
export function crossEntropyRows(
  x: Tensor,
  target: Tensor,
  weight: Tensor | null,
  attrs: CrossEntropyRowsAttrs,
): Tensor {
  return runOp(crossEntropyRowsDef, weight ? [x, target, weight] : [x, target], attrs)[0];
}
