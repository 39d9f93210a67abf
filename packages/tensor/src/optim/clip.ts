import { keep, noGrad, tidy } from '../engine.js';
import { TensorError } from '../errors.js';
import { zerosLike } from '../ops/creation.js';
import { stack } from '../ops/movement.js';
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
      const g = p.grad!;
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

/** Options of {@link clipGradNorm} and {@link clipGradNormAsync}. */
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
  const plan = planClip(params, maxNorm, normType);
  if (!plan) return 0;
  if (!plan.norm.backend.readSync) {
    plan.norm.dispose();
    throw new TensorError(
      'clipGradNorm',
      `backend '${plan.norm.backend.name}' reads asynchronously; use await clipGradNormAsync()`,
    );
  }
  const total = plan.norm.item();
  plan.norm.dispose();
  return finishClip(plan, total, options);
}

/**
 * clipGradNorm for every backend: the total norm is computed on the device and read back
 * asynchronously (the only read), then the gradients are scaled on the device.
 */
export async function clipGradNormAsync(
  params: Iterable<Tensor> | Tensor,
  maxNorm: number,
  normType = 2,
  options: ClipGradNormOptions = {},
): Promise<number> {
  const plan = planClip(params, maxNorm, normType);
  if (!plan) return 0;
  let total: number;
  try {
    total = (await plan.norm.data())[0]!;
  } finally {
    plan.norm.dispose();
  }
  return finishClip(plan, total, options);
}

interface ClipPlan {
  withGrad: Tensor[];
  normType: number;
  maxNorm: number;
  /** The total norm as a scalar tensor on the gradients' backend (the caller disposes it). */
  norm: Tensor;
}

function planClip(
  params: Iterable<Tensor> | Tensor,
  maxNorm: number,
  normType: number,
): ClipPlan | null {
  const op = 'clipGradNorm';
  if (!(maxNorm >= 0)) throw new TensorError(op, `expected maxNorm >= 0, got ${maxNorm}`);
  if (!(normType > 0))
    throw new TensorError(op, `expected normType > 0 or Infinity, got ${normType}`);
  const withGrad = gradsOf(op, params);
  if (withGrad.length === 0) return null;
  const grads = [...new Set(withGrad.map((p) => p.grad!))].filter((g) => g.size > 0);
  const first = withGrad[0]!.grad!;
  const norm = tidy(() =>
    noGrad(() => {
      // One scalar per gradient, combined on the device: no read until the caller asks.
      const parts = grads.map((g) =>
        normType === Number.POSITIVE_INFINITY
          ? g.abs().max()
          : (normType === 2 ? g.square() : normType === 1 ? g.abs() : g.abs().pow(normType)).sum(),
      );
      if (parts.length === 0) return zerosLike(first, { dtype: 'float32' }).sum();
      const all = stack(parts);
      return normType === Number.POSITIVE_INFINITY ? all.max() : all.sum().pow(1 / normType);
    }),
  );
  return { withGrad, normType, maxNorm, norm: keep(norm) };
}

function finishClip(plan: ClipPlan, total: number, options: ClipGradNormOptions): number {
  if (options.errorIfNonfinite && !Number.isFinite(total)) {
    throw new TensorError(
      'clipGradNorm',
      `the total norm of order ${plan.normType} of the gradients is ${total}`,
    );
  }
  const coef = plan.maxNorm / (total + 1e-6);
  // NaN (a NaN norm) also scales, as PyTorch's clamp(coef, max=1) does.
  if (!(coef >= 1)) mapGrads(plan.withGrad, (g) => g.mul(coef));
  return total;
}

/** Clamps every gradient element into [−clipValue, clipValue] (torch.nn.utils.clip_grad_value_). */
export function clipGradValue(params: Iterable<Tensor> | Tensor, clipValue: number): void {
  if (!(clipValue >= 0))
    throw new TensorError('clipGradValue', `expected clipValue >= 0, got ${clipValue}`);
  mapGrads(gradsOf('clipGradValue', params), (g) => g.clamp(-clipValue, clipValue));
}
