import {
  defineOp,
  hasKernel,
  maximum,
  minimum,
  type OpDef,
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
import { defineOperator } from '../operator.js';
import { layoutOf, type ScanLayout, servedBy } from './layout.js';

/** Addition: the scan is cumsum. */
export const add = defineOperator({
  name: 'add',
  arity: 1,
  identity: [0],
  combine: ([a], [b]) => [(a as Tensor).add(b as Tensor)],
  fused: ([x], axis, carry) => {
    // Past the adapter's loop limit cumsum refuses: reduce-then-scan (no gradient) or the tree.
    if (beyondLoopLimit(x as Tensor, axis)) return wgslScan(add, [x as Tensor], axis, carry);
    const out = (x as Tensor).cumsum(axis);
    return [carry ? out.add((carry[0] as Tensor).unsqueeze(axis)) : out];
  },
  wgsl: ADD_WGSL,
});

/** Maximum: the scan is cummax (NaN propagates; ties send the gradient to the latest element). */
export const max = defineOperator({
  name: 'max',
  arity: 1,
  identity: [Number.NEGATIVE_INFINITY],
  combine: ([a], [b]) => [maximum(a as Tensor, b as Tensor)],
  fused: ([x], axis, carry) => {
    if (beyondLoopLimit(x as Tensor, axis)) return wgslScan(max, [x as Tensor], axis, carry);
    const out = (x as Tensor).cummax(axis).values;
    return [carry ? maximum((carry[0] as Tensor).unsqueeze(axis), out) : out];
  },
  wgsl: MAX_WGSL,
});

// ---- logaddexp -------------------------------------------------------------------------------

export interface LogcumsumexpAttrs extends ScanLayout {
  readonly hasCarry: boolean;
}

const logcumsumexpDef: OpDef<LogcumsumexpAttrs> = defineOp<LogcumsumexpAttrs>({
  name: 'scan.logcumsumexp',
  infer: ([x]) => [{ shape: (x as Tensor).shape, dtype: 'float32' }],
  grad: (dy, { inputs, output, attrs }) =>
    runOp(logcumsumexpBackwardDef, [...inputs, output, dy], attrs),
});

/** Inputs x, [c0], out, dy → dx, [dc0]. */
const logcumsumexpBackwardDef: OpDef<LogcumsumexpAttrs> = defineOp<LogcumsumexpAttrs>({
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
  combine: ([a], [b]) => [logaddexpCombine(a as Tensor, b as Tensor)],
  fused: ([x], axis, carry) => {
    const t = x as Tensor;
    const all = carry ? [t, carry[0] as Tensor] : [t];
    if (!servedBy(all, hasKernel, 'scan.logcumsumexp', 'scan.logcumsumexpBackward'))
      return undefined;
    return runOp(logcumsumexpDef, all, {
      ...layoutOf(t.shape, axis),
      hasCarry: carry !== undefined,
    });
  },
  wgsl: LOGADDEXP_WGSL,
});

// ---- linear recurrence -----------------------------------------------------------------------

export interface LinearRecurrenceAttrs extends ScanLayout {
  readonly hasCarry: boolean;
}

const linearRecurrenceDef: OpDef<LinearRecurrenceAttrs> = defineOp<LinearRecurrenceAttrs>({
  name: 'scan.linearRecurrence',
  infer: ([a, b]) => [
    { shape: (a as Tensor).shape, dtype: 'float32' },
    { shape: (b as Tensor).shape, dtype: 'float32' },
  ],
  grad: (_dy, { inputs, outputs, outputGrads, attrs }) => {
    const [A, H] = outputs as [Tensor, Tensor];
    return runOp(
      linearRecurrenceBackwardDef,
      [...inputs, A, H, outputGrads[0] ?? A.mul(0), outputGrads[1] ?? H.mul(0)],
      attrs,
    );
  },
});

/** Inputs a, b, [a0, b0], A, H, dA, dH → da, db, [da0, db0]. */
const linearRecurrenceBackwardDef: OpDef<LinearRecurrenceAttrs> = defineOp<LinearRecurrenceAttrs>({
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
  combine: ([a1, b1], [a2, b2]) => [
    (a1 as Tensor).mul(a2 as Tensor),
    (a2 as Tensor).mul(b1 as Tensor).add(b2 as Tensor),
  ],
  fused: (inputs, axis, carry) => {
    const [a, b] = inputs as [Tensor, Tensor];
    const all = carry ? [a, b, ...carry] : [a, b];
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
