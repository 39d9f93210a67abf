import {
  defineOp,
  hasKernel,
  maximum,
  minimum,
  type OpDef,
  type OutputSpec,
  type onnx,
  runOp,
  type Tensor,
  where,
} from '@recur/tensor';
import {
  ADD_WGSL,
  LINEAR_RECURRENCE_WGSL,
  LOGADDEXP_WGSL,
  MAX_WGSL,
} from '../kernels/webgpu/combines.js';
import { beyondLoopLimit, wgslScan } from '../kernels/webgpu/generic.js';
import { defineOperator, type ScanOperator } from '../operator.js';
import { layoutOf, type ScanLayout, servedBy } from './layout.js';

/** Addition: the scan is cumsum. */
export const add: ScanOperator = defineOperator({
  name: 'add',
  arity: 1,
  identity: [0],
  combine: ([a], [b]) => [a.add(b)],
  fused: ([x], axis, carry) => {
    // Past the adapter's loop limit cumsum refuses: reduce-then-scan (no gradient) or the tree.
    if (beyondLoopLimit(x, axis)) return wgslScan(add, [x], axis, carry);
    const out = x.cumsum(axis);
    return [carry ? out.add(carry[0].unsqueeze(axis)) : out];
  },
  wgsl: ADD_WGSL,
});

/** Maximum: the scan is cummax (NaN propagates; ties send the gradient to the latest element). */
export const max: ScanOperator = defineOperator({
  name: 'max',
  arity: 1,
  identity: [Number.NEGATIVE_INFINITY],
  combine: ([a], [b]) => [maximum(a, b)],
  fused: ([x], axis, carry) => {
    if (beyondLoopLimit(x, axis)) return wgslScan(max, [x], axis, carry);
    const out = x.cummax(axis).values;
    return [carry ? maximum(carry[0].unsqueeze(axis), out) : out];
  },
  wgsl: MAX_WGSL,
});

// ---- logaddexp -------------------------------------------------------------------------------

export interface LogcumsumexpAttrs extends ScanLayout {
  readonly hasCarry: boolean;
}

/** The scanned axis of a [outer, T, inner] layout in `shape` (the first that fits). */
function scanAxis(shape: readonly number[], { outer, length }: ScanLayout): number {
  let before = 1;
  for (let i = 0; i < shape.length; i++) {
    if (before === outer && shape[i] === length) return i;
    before *= shape[i]!;
  }
  return 0;
}

/** A tensor of `value` shaped like one position of x along `axis` (the scan's identity). */
function identityFill(g: onnx.OnnxGraph, x: string, axis: number, value: number): string {
  const shape = g.op(
    'Concat',
    [g.op('Shape', [x], { start: 0, end: axis }), g.op('Shape', [x], { start: axis + 1 })],
    { axis: 0 },
  );
  return g.op('Expand', [g.scalar(value, 'float32'), shape]);
}

/**
 * ONNX: a Scan along the axis folding one position after another exactly as the kernel does
 * (hi + log1p(e^{lo − hi}), −inf stays −inf, NaN poisons the rest): no global maximum.
 */
function logcumsumexpOnnx(ctx: onnx.OnnxContext<LogcumsumexpAttrs, XInputs>): void {
  const { g, inputs, outputs, attrs } = ctx;
  const x = inputs[0];
  const axis = scanAxis(ctx.inShapes[0], attrs);
  const init = attrs.hasCarry ? inputs[1]! : identityFill(g, x, axis, Number.NEGATIVE_INFINITY);
  const b = g.subgraph();
  const [acc, v] = [b.fresh('acc'), b.fresh('v')];
  const hi = b.op('Max', [acc, v]);
  const lo = b.op('Min', [acc, v]);
  const nan = b.op('Or', [b.op('IsNaN', [acc]), b.op('IsNaN', [v])]);
  const inf = b.scalar(Number.NEGATIVE_INFINITY, 'float32');
  const sum = b.op('Add', [
    hi,
    b.op('Log', [b.op('Add', [b.scalar(1, 'float32'), b.op('Exp', [b.op('Sub', [lo, hi])])])]),
  ]);
  const folded = b.op('Where', [
    nan,
    b.scalar(Number.NaN, 'float32'),
    b.op('Where', [b.op('Equal', [hi, inf]), inf, sum]),
  ]);
  const out = b.op('Identity', [folded]);
  const f = (name: string) => [name, 'float32'] as const;
  const body = b.body('logaddexp_step', [acc, v].map(f), [folded, out].map(f));
  g.node('Scan', [init, x], [g.fresh('acc_last'), outputs[0]!], {
    body,
    num_scan_inputs: 1,
    scan_input_axes: [axis],
    scan_output_axes: [axis],
  });
}

/** x, then (with a carry) c0, then (backward) out, dy. */
type XInputs = readonly [x: Tensor, ...rest: Tensor[]];

const logcumsumexpDef: OpDef<LogcumsumexpAttrs, XInputs> = defineOp({
  name: 'scan.logcumsumexp',
  onnx: logcumsumexpOnnx,
  infer: ([x]) => [{ shape: x.shape, dtype: 'float32' }],
  grad: (dy, { inputs, output, attrs }) =>
    runOp(logcumsumexpBackwardDef, [...inputs, output, dy], attrs),
});

/** Inputs x, [c0], out, dy → dx, [dc0]. */
const logcumsumexpBackwardDef: OpDef<LogcumsumexpAttrs, XInputs, OutputSpec[]> = defineOp({
  name: 'scan.logcumsumexpBackward',
  infer: (inputs, { hasCarry }) =>
    inputs.slice(0, hasCarry ? 2 : 1).map((t) => ({ shape: t.shape, dtype: 'float32' as const })),
});

/** log(eᵃ + eᵇ), with −inf on both sides giving −inf (no −inf − (−inf)). */
function logaddexpCombine(a: Tensor, b: Tensor): Tensor {
  const hi = maximum(a, b);
  const lo = minimum(a, b);
  const shift = where(hi.isfinite(), hi, 0);
  return hi.add(lo.sub(shift).exp().log1p());
}

/** log-sum-exp: the scan is a stable logcumsumexp (each prefix with its own maximum). */
export const logaddexp = defineOperator({
  name: 'logaddexp',
  arity: 1,
  identity: [Number.NEGATIVE_INFINITY],
  combine: ([a], [b]) => [logaddexpCombine(a, b)],
  fused: ([x], axis, carry) => {
    const all: XInputs = carry ? [x, ...carry] : [x];
    if (!servedBy(all, hasKernel, 'scan.logcumsumexp', 'scan.logcumsumexpBackward'))
      return undefined;
    return runOp(logcumsumexpDef, all, {
      ...layoutOf(x.shape, axis),
      hasCarry: carry !== undefined,
    });
  },
  wgsl: LOGADDEXP_WGSL,
});

// ---- linear recurrence -----------------------------------------------------------------------

export interface LinearRecurrenceAttrs extends ScanLayout {
  readonly hasCarry: boolean;
}

/** ONNX: a Scan along the axis carrying (Π a, h) as the kernel does, h_t = a_t h_{t−1} + b_t. */
function linearRecurrenceOnnx(
  ctx: onnx.OnnxContext<LinearRecurrenceAttrs, AbInputs, [A: OutputSpec, H: OutputSpec]>,
): void {
  const { g, inputs, outputs, attrs } = ctx;
  const [a, b] = inputs;
  const axis = scanAxis(ctx.inShapes[0], attrs);
  const init = attrs.hasCarry
    ? inputs.slice(2, 4)
    : [identityFill(g, a, axis, 1), identityFill(g, b, axis, 0)];
  const s = g.subgraph();
  const [pa, h, at, bt] = [s.fresh('pa'), s.fresh('h'), s.fresh('at'), s.fresh('bt')];
  const pa1 = s.op('Mul', [pa, at]);
  const h1 = s.op('Add', [s.op('Mul', [at, h]), bt]);
  const outs = [pa1, h1].map((v) => s.op('Identity', [v]));
  const f = (name: string) => [name, 'float32'] as const;
  const body = s.body('linear_recurrence_step', [pa, h, at, bt].map(f), [pa1, h1, ...outs].map(f));
  g.node('Scan', [...init, a, b], [g.fresh('A_last'), g.fresh('H_last'), ...outputs], {
    body,
    num_scan_inputs: 2,
    scan_input_axes: [axis, axis],
    scan_output_axes: [axis, axis],
  });
}

/** a, b, then (with a carry) a0, b0, then (backward) A, H, dA, dH. */
type AbInputs = readonly [a: Tensor, b: Tensor, ...rest: Tensor[]];

const linearRecurrenceDef: OpDef<LinearRecurrenceAttrs, AbInputs, [A: OutputSpec, H: OutputSpec]> =
  defineOp({
    name: 'scan.linearRecurrence',
    onnx: linearRecurrenceOnnx,
    infer: ([a, b]) => [
      { shape: a.shape, dtype: 'float32' },
      { shape: b.shape, dtype: 'float32' },
    ],
    grad: (_dy, { inputs, outputs: [A, H], outputGrads, attrs }) => {
      return runOp(
        linearRecurrenceBackwardDef,
        [...inputs, A, H, outputGrads[0] ?? A.mul(0), outputGrads[1] ?? H.mul(0)],
        attrs,
      );
    },
  });

/** Inputs a, b, [a0, b0], A, H, dA, dH → da, db, [da0, db0]. */
const linearRecurrenceBackwardDef: OpDef<LinearRecurrenceAttrs, AbInputs, OutputSpec[]> = defineOp({
  name: 'scan.linearRecurrenceBackward',
  infer: (inputs, { hasCarry }) =>
    inputs.slice(0, hasCarry ? 4 : 2).map((t) => ({ shape: t.shape, dtype: 'float32' as const })),
});

/**
 * h_t = a_t ⊙ h_{t−1} + b_t as a scan over pairs: (a₁, b₁) ⊕ (a₂, b₂) = (a₁a₂, a₂b₁ + b₂). The
 * outputs are (A_t = Π a, h_t). Not commutative: a reverse scan runs h_t = a_t h_{t+1} + b_t.
 */
export const linearRecurrence = defineOperator({
  name: 'linearRecurrence',
  arity: 2,
  identity: [1, 0],
  combine: ([a1, b1], [a2, b2]) => [a1.mul(a2), a2.mul(b1).add(b2)],
  fused: (inputs, axis, carry) => {
    const [a, b] = inputs;
    const all: AbInputs = carry ? [a, b, ...carry] : [a, b];
    if (!servedBy(all, hasKernel, 'scan.linearRecurrence', 'scan.linearRecurrenceBackward'))
      return undefined;
    if (a.rank !== b.rank || a.shape.some((d, i) => d !== b.shape[i])) return undefined;
    return runOp(linearRecurrenceDef, all, {
      ...layoutOf(a.shape, axis),
      hasCarry: carry !== undefined,
    });
  },
  wgsl: LINEAR_RECURRENCE_WGSL,
});
