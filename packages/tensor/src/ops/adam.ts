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

const adamStepDef: OpDef<AdamStepAttrs> = defineOp<AdamStepAttrs>({
  name: 'adamStep',
  infer: (inputs) =>
    [inputs[0], inputs[2], inputs[3], ...(inputs.length > 4 ? [inputs[4]] : [])].map((t) => ({
      shape: (t as Tensor).shape,
      dtype: 'float32' as const,
    })),
});

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
): Tensor[] {
  return runOp(adamStepDef, vmax ? [p, grad, m, v, vmax] : [p, grad, m, v], attrs);
}
