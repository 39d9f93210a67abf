import { TensorError } from '../errors.js';
import type { Tensor } from '../tensor.js';
import {
  checkNumber,
  Optimizer,
  type ParamGroup,
  type ParamState,
  type ParamsInput,
  stateTensor,
} from './optimizer.js';

/**
 * Options of {@link SGD}, as in torch.optim.SGD: lr (required), momentum, dampening and weightDecay
 * (default 0), nesterov (default false; needs momentum > 0 and dampening 0), maximize.
 */
export interface SGDOptions {
  lr: number;
  momentum?: number;
  dampening?: number;
  nesterov?: boolean;
  weightDecay?: number;
  /** Ascend instead of descend. Default false. */
  maximize?: boolean;
}

/**
 * The hyperparameters of an SGD parameter group, every default filled in (see {@link SGDOptions}).
 */
export interface SGDHyper {
  lr: number;
  initialLr?: number;
  momentum: number;
  dampening: number;
  nesterov: boolean;
  weightDecay: number;
  maximize: boolean;
}

/**
 * Stochastic gradient descent with optional momentum, exactly as torch.optim.SGD:
 * g ← ∇ + λ·p; b ← g on the first step, else μ·b + (1 − τ)·g; g ← g + μ·b (Nesterov) or b;
 * p ← p − lr·g.
 */
export class SGD extends Optimizer<SGDHyper> {
  constructor(params: ParamsInput<SGDHyper>, options: SGDOptions) {
    if (!options || typeof options.lr !== 'number') {
      throw new TensorError(
        'SGD',
        `expected options with a learning rate { lr }, got ${JSON.stringify(options)}`,
      );
    }
    super('SGD', params, {
      lr: options.lr,
      momentum: options.momentum ?? 0,
      dampening: options.dampening ?? 0,
      nesterov: options.nesterov ?? false,
      weightDecay: options.weightDecay ?? 0,
      maximize: options.maximize ?? false,
    });
  }

  protected validate(g: SGDHyper): void {
    checkNumber('SGD', 'lr', g.lr, (v) => v >= 0, '>= 0');
    checkNumber('SGD', 'momentum', g.momentum, (v) => v >= 0, '>= 0');
    checkNumber('SGD', 'dampening', g.dampening, Number.isFinite, 'to be finite');
    checkNumber('SGD', 'weightDecay', g.weightDecay, (v) => v >= 0, '>= 0');
    if (g.nesterov && (g.momentum <= 0 || g.dampening !== 0)) {
      throw new TensorError(
        'SGD',
        `nesterov needs momentum > 0 and dampening = 0, got momentum ${g.momentum}, dampening ${g.dampening}`,
      );
    }
  }

  protected update(p: Tensor, grad: Tensor, group: ParamGroup<SGDHyper>, state: ParamState): void {
    const { lr, momentum, dampening, nesterov, weightDecay, maximize } = group;
    let g = maximize ? grad.neg() : grad;
    if (weightDecay !== 0) g = g.add(p.mul(weightDecay));
    if (momentum !== 0) {
      let buf = stateTensor(this.name, state, 'momentumBuffer');
      if (!buf) {
        buf = this.persistent(g.clone());
        state.momentumBuffer = buf;
      } else {
        buf.assign(buf.mul(momentum).add(g.mul(1 - dampening)));
      }
      g = nesterov ? g.add(buf.mul(momentum)) : buf;
    }
    p.assign(p.sub(g.mul(lr)));
  }
}
