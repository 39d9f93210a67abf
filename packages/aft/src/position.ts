import { nn, type Tensor, TensorError, zeros } from '@recur/tensor';

/**
 * Initial standard deviation of the factorised position biases' U and V. The paper initialises them
 * as "N(0, 10^-2)"; in the usual N(mean, variance) notation that is variance 1e-2, i.e. standard
 * deviation 0.1, which we use. (Reading it as std 1e-2 gives w = U Vᵀ entries ~1e-3·√d' and
 * gradients to U and V ~100× smaller, so the biases barely move early in training; pass
 * `posInitStd: 0.01` for that reading.) Either way training starts close to AFT-simple.
 */
export const POSITION_INIT_STD = 0.1;

/** A trainable [maxLen, posDim] factor of the position biases, entries from N(0, std²). */
export function initPositionFactor(
  op: string,
  maxLen: number,
  posDim: number,
  std: number,
): Tensor {
  if (typeof std !== 'number' || !Number.isFinite(std) || std < 0)
    throw new TensorError(op, `expected posInitStd to be a finite number >= 0, got ${String(std)}`);
  const t = nn.parameter(zeros([maxLen, posDim]));
  nn.init.normal_(t, { std });
  return t;
}

/** The number of tokens a stream has seen, from its 'pos' entry (int32 [1]). */
export function positionOf(op: string, pos: Tensor): number {
  if (pos.rank !== 1 || pos.shape[0] !== 1 || pos.dtype !== 'int32') {
    throw new TensorError(
      op,
      `expected state 'pos' to be an int32 tensor of shape [1], got ${pos.dtype} [${pos.shape.join(', ')}]`,
    );
  }
  const n = pos.dataSync()[0]!;
  nn.checkPositive(op, "state 'pos' + 1", n + 1);
  return n;
}
