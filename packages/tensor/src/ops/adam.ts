import type { OutputSpec } from '../backend.js';
import { defineOp, type OpDef, runOp } from '../op.js';
import type { Tensor } from '../tensor.js';

/**
 * One Adam / AdamW update of a parameter in a single kernel (the optimisers' step): inputs p, grad,
 * m, v[, vmax] → new p, m, v[, vmax], exactly torch.optim.Adam's equations with t = `step`:
 *
 *     g ← ±grad (+ λ·p unless decoupled);   p ← p·(1 − lr·λ) if decoupled
 *     m ← m + (g − m)(1 − β₁);   v ← β₂·v + (1 − β₂)·g²;   v̂ ← max(v̂, v) (AMSGrad)
 *     p ← p − lr/(1 − β₁ᵗ) · m / (√v̂ / √(1 − β₂ᵗ) + ε)
 *
 * The CPU kernel computes in float64 (one rounding per stored value), WebGPU in float32. Not
 * differentiable (optimisers run under noGrad) and not exportable (an update is not a model).
 */
export interface AdamStepAttrs {
  readonly lr: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
  /** AdamW's decoupled decay (else Adam's L2 term in the gradient). */
  readonly decoupled: boolean;
  readonly maximize: boolean;
  readonly amsgrad: boolean;
  /** The step count t after this update (>= 1), for the bias corrections. */
  readonly step: number;
}

/** p, grad, m, v and, with amsgrad, vmax. */
type AdamInputs =
  | [p: Tensor, grad: Tensor, m: Tensor, v: Tensor]
  | [p: Tensor, grad: Tensor, m: Tensor, v: Tensor, vmax: Tensor];
/** The new p, m, v and, with amsgrad, vmax. */
type AdamOutputs =
  | [p: OutputSpec, m: OutputSpec, v: OutputSpec]
  | [p: OutputSpec, m: OutputSpec, v: OutputSpec, vmax: OutputSpec];

const adamStepDef: OpDef<AdamStepAttrs, AdamInputs, AdamOutputs> = defineOp({
  name: 'adamStep',
  infer: ([p, , m, v, vmax]) => {
    const spec = (t: Tensor): OutputSpec => ({ shape: t.shape, dtype: 'float32' });
    return vmax ? [spec(p), spec(m), spec(v), spec(vmax)] : [spec(p), spec(m), spec(v)];
  },
});

/** @internal The op's type, for its kernels (`registerKernel<AdamStepOp>`). */
export type AdamStepOp = typeof adamStepDef;

/**
 * @internal The fused update (see AdamStepAttrs); the optimiser validates the hyperparameters and
 * shapes. Returns the new p, m, v and (with amsgrad) vmax, for the caller to assign.
 */
export function adamStep(
  p: Tensor,
  grad: Tensor,
  m: Tensor,
  v: Tensor,
  vmax: Tensor | null,
  attrs: AdamStepAttrs,
): [p: Tensor, m: Tensor, v: Tensor] | [p: Tensor, m: Tensor, v: Tensor, vmax: Tensor] {
  const inputs: AdamInputs = vmax ? [p, grad, m, v, vmax] : [p, grad, m, v];
  return runOp(adamStepDef, inputs, attrs);
}
