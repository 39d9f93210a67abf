import { keep, noGrad, tidy } from '../engine.js';
import { TensorError } from '../errors.js';
import { Tensor } from '../tensor.js';

function gradsOf(op: string, params: Iterable<Tensor> | Tensor): Tensor[] {
  const list = params instanceof Tensor ? [params] : [...params];
  list.forEach((p, i) => {
    if (!(p instanceof Tensor))
      throw new TensorError(op, `expected Tensors, got ${typeof p} at position ${i}`);
  });
  return list.filter((p) => p.grad !== null);
}

/** Replaces each parameter's gradient by f(gradient), once per distinct gradient tensor. */
function mapGrads(params: Tensor[], f: (g: Tensor) => Tensor): void {
  const replaced = new Map<Tensor, Tensor>();
  noGrad(() => {
    for (const p of params) {
      const g = p.grad as Tensor;
      let n = replaced.get(g);
      if (!n) {
        n = keep(f(g));
        replaced.set(g, n);
      }
      p.grad = n;
    }
  });
  for (const old of replaced.keys()) old.dispose();
}

export interface ClipGradNormOptions {
  /** Throw when the total norm is NaN or infinite. Default false (as PyTorch). */
  errorIfNonfinite?: boolean;
}

/**
 * Scales the gradients of `params` together so that their total `normType`-norm (all gradients seen
 * as one vector; Infinity for the max-norm) is at most maxNorm: each is multiplied by
 * maxNorm / (total + 1e-6) when that is below 1, as torch.nn.utils.clip_grad_norm_. Returns the total
 * norm before clipping (0 when no parameter has a gradient).
 */
export function clipGradNorm(
  params: Iterable<Tensor> | Tensor,
  maxNorm: number,
  normType = 2,
  options: ClipGradNormOptions = {},
): number {
  const op = 'clipGradNorm';
  if (!(maxNorm >= 0)) throw new TensorError(op, `expected maxNorm >= 0, got ${maxNorm}`);
  if (!(normType > 0))
    throw new TensorError(op, `expected normType > 0 or Infinity, got ${normType}`);
  const withGrad = gradsOf(op, params);
  if (withGrad.length === 0) return 0;
  const grads = [...new Set(withGrad.map((p) => p.grad as Tensor))];
  const total = tidy(() =>
    noGrad(() => {
      if (normType === Number.POSITIVE_INFINITY) {
        return Math.max(...grads.map((g) => (g.size === 0 ? 0 : g.abs().max().item())));
      }
      let acc = 0;
      for (const g of grads) {
        if (g.size === 0) continue;
        const part = normType === 2 ? g.square() : normType === 1 ? g.abs() : g.abs().pow(normType);
        acc += part.sum().item();
      }
      return acc ** (1 / normType);
    }),
  );
  if (options.errorIfNonfinite && !Number.isFinite(total)) {
    throw new TensorError(op, `the total norm of order ${normType} of the gradients is ${total}`);
  }
  const coef = maxNorm / (total + 1e-6);
  // NaN (a NaN norm) also scales, as PyTorch's clamp(coef, max=1) does.
  if (!(coef >= 1)) mapGrads(withGrad, (g) => g.mul(coef));
  return total;
}

/** Clamps every gradient element into [−clipValue, clipValue] (torch.nn.utils.clip_grad_value_). */
export function clipGradValue(params: Iterable<Tensor> | Tensor, clipValue: number): void {
  if (!(clipValue >= 0))
    throw new TensorError('clipGradValue', `expected clipValue >= 0, got ${clipValue}`);
  mapGrads(gradsOf('clipGradValue', params), (g) => g.clamp(-clipValue, clipValue));
}
