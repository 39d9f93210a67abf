import { TensorError } from '../errors.js';
import { adamStep } from '../ops/adam.js';
import { zerosLike } from '../ops/creation.js';
import type { Tensor } from '../tensor.js';
import {
  checkNumber,
  Optimizer,
  type ParamGroup,
  type ParamState,
  type ParamsInput,
  stateNumber,
  stateTensor,
} from './optimizer.js';

/**
 * Options of {@link Adam} and {@link AdamW}, as in torch.optim: lr (default 1e-3), betas (default
 * [0.9, 0.999]), eps (default 1e-8), weightDecay (default 0 for Adam, 1e-2 for AdamW), amsgrad and
 * maximize (default false).
 */
export interface AdamOptions {
  lr?: number;
  betas?: readonly [number, number];
  eps?: number;
  weightDecay?: number;
  /** Use the running maximum of the second moment (AMSGrad). Default false. */
  amsgrad?: boolean;
  /** Ascend instead of descend. Default false. */
  maximize?: boolean;
}

/**
 * The hyperparameters of an Adam or AdamW parameter group, every default filled in (see {@link
 * AdamOptions}); a group's lr is what schedulers change.
 */
export interface AdamHyper {
  lr: number;
  initialLr?: number;
  betas: [number, number];
  eps: number;
  weightDecay: number;
  amsgrad: boolean;
  maximize: boolean;
}

/** The Adam update shared by Adam (L2 weight decay) and AdamW (decoupled weight decay). */
abstract class AdamBase extends Optimizer<AdamHyper> {
  /** True for AdamW: weight decay multiplies the parameter by (1 − lr·λ) before the Adam step. */
  protected readonly decoupled: boolean;

  constructor(
    params: ParamsInput<AdamHyper>,
    options: AdamOptions,
    name: string,
    decoupled: boolean,
    defaultDecay: number,
  ) {
    const betas = options.betas ?? [0.9, 0.999];
    if (!Array.isArray(betas) || betas.length !== 2) {
      throw new TensorError(name, `expected betas as [beta1, beta2], got ${JSON.stringify(betas)}`);
    }
    super(name, params, {
      lr: options.lr ?? 1e-3,
      betas: [betas[0], betas[1]],
      eps: options.eps ?? 1e-8,
      weightDecay: options.weightDecay ?? defaultDecay,
      amsgrad: options.amsgrad ?? false,
      maximize: options.maximize ?? false,
    });
    this.decoupled = decoupled;
  }

  protected validate(g: AdamHyper): void {
    const n = this.name;
    checkNumber(n, 'lr', g.lr, (v) => v >= 0, '>= 0');
    checkNumber(n, 'eps', g.eps, (v) => v >= 0, '>= 0');
    checkNumber(n, 'weightDecay', g.weightDecay, (v) => v >= 0, '>= 0');
    if (!Array.isArray(g.betas) || g.betas.length !== 2) {
      throw new TensorError(n, `expected betas as [beta1, beta2], got ${JSON.stringify(g.betas)}`);
    }
    checkNumber(n, 'betas[0]', g.betas[0], (v) => v >= 0 && v < 1, 'in [0, 1)');
    checkNumber(n, 'betas[1]', g.betas[1], (v) => v >= 0 && v < 1, 'in [0, 1)');
  }

  protected update(p: Tensor, grad: Tensor, group: ParamGroup<AdamHyper>, state: ParamState): void {
    const { lr, eps, weightDecay, amsgrad, maximize } = group;
    const [beta1, beta2] = group.betas;
    if (state.step === undefined) {
      state.step = 0;
      state.expAvg = this.persistent(zerosLike(p));
      state.expAvgSq = this.persistent(zerosLike(p));
      if (amsgrad) state.maxExpAvgSq = this.persistent(zerosLike(p));
    }
    const n = this.name;
    const m = stateTensor(n, state, 'expAvg');
    const v = stateTensor(n, state, 'expAvgSq');
    if (!m || !v) throw new TensorError(n, "expected states 'expAvg' and 'expAvgSq' beside 'step'");
    const step = stateNumber(n, state, 'step') + 1;
    state.step = step;

    let vmax: Tensor | null = null;
    if (amsgrad) {
      vmax = stateTensor(n, state, 'maxExpAvgSq') ?? null;
      if (!vmax) {
        vmax = this.persistent(zerosLike(p));
        state.maxExpAvgSq = vmax;
      }
    }
    // One kernel per parameter (ops/adam.ts); assign() swaps the new buffers in without a copy.
    const [np, nm, nv, nvmax] = adamStep(p, grad, m, v, vmax, {
      lr,
      beta1,
      beta2,
      eps,
      weightDecay,
      decoupled: this.decoupled,
      maximize,
      amsgrad,
      step,
    });
    m.assign(nm);
    v.assign(nv);
    if (vmax && nvmax) vmax.assign(nvmax);
    p.assign(np);
  }
}

/**
 * Adam, exactly as torch.optim.Adam: with t the parameter's step count,
 * g ← ∇ + λ·p, m ← β₁m + (1 − β₁)g, v ← β₂v + (1 − β₂)g²,
 * p ← p − lr/(1 − β₁ᵗ) · m / (√v / √(1 − β₂ᵗ) + ε)  (√v̂ with v̂ = max(v̂, v) under AMSGrad).
 */
export class Adam extends AdamBase {
  constructor(params: ParamsInput<AdamHyper>, options: AdamOptions = {}) {
    super(params, options, 'Adam', false, 0);
  }
}

/**
 * AdamW, exactly as torch.optim.AdamW: decoupled weight decay p ← p·(1 − lr·λ) (default λ = 1e-2),
 * then the Adam step above without the λ·p term.
 */
export class AdamW extends AdamBase {
  constructor(params: ParamsInput<AdamHyper>, options: AdamOptions = {}) {
    super(params, options, 'AdamW', true, 1e-2);
  }
}
