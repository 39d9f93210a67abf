import { TensorError } from '../errors.js';
import { type Generator, rand } from '../random.js';
import { normalizeAxis } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { where } from './elementwise.js';
import { alias } from './movement.js';
import { max, sum } from './reduce.js';

/** exp(x) / Σ exp(x) along `axis`, shifted by the (detached) maximum so nothing overflows. */
export function softmax(x: Tensor, axis = -1): Tensor {
  const a = normalizeAxis('softmax', axis, x.rank);
  // An empty axis has no maximum (and nothing to normalise): shift by 0.
  const m0 = (x.shape[a] === 0 ? sum(x, a, true) : max(x, a, true)).detach();
  const e = x.sub(where(m0.isfinite(), m0, 0)).exp();
  return e.div(sum(e, a, true));
}

/**
 * x − logsumexp(x) along `axis`; exact for large score spreads where log(softmax) underflows.
 * Computed as (x − m) − log Σ exp(x − m) with m the (detached) maximum: subtracting logsumexp(x)
 * directly would round it to the float spacing near |x| (~1e-3 at 1e4).
 */
export function logSoftmax(x: Tensor, axis = -1): Tensor {
  const a = normalizeAxis('logSoftmax', axis, x.rank);
  const m0 = (x.shape[a] === 0 ? sum(x, a, true) : max(x, a, true)).detach();
  const shifted = x.sub(where(m0.isfinite(), m0, 0));
  return shifted.sub(sum(shifted.exp(), a, true).log());
}

/**
 * Options of {@link dropout}: whether it is active, and the random generator the mask is drawn
 * from.
 */
export interface DropoutOptions {
  /** Off (identity) when false, as in evaluation. Default true. */
  training?: boolean;
  /** Draws the mask; {@link defaultGenerator} when left out. */
  generator?: Generator;
}

/** Zeros each element with probability p and scales the rest by 1/(1−p) (inverted dropout). */
export function dropout(x: Tensor, p: number, opts: DropoutOptions = {}): Tensor {
  if (!(p >= 0 && p <= 1))
    throw new TensorError('dropout', `expected a probability in [0, 1], got ${p}`);
  if (opts.training === false || p === 0) return alias(x);
  if (p === 1) return x.mul(0);
  const keep = rand(x.shape, { generator: opts.generator, backend: x.backend.name }).ge(p);
  return x.mul(keep).mul(1 / (1 - p));
}
