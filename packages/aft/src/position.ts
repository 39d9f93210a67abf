import { nn, type Tensor, TensorError, zeros } from '@recur/tensor';
import { AftSequenceLayer } from './common.js';

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

/** Options of the layers with factorised pair-wise position biases (AftFull, AftLocal). */
export interface PositionBiasOptions {
  dModel: number;
  /** The longest sequence (and, streaming, the most tokens) the position biases cover. */
  maxLen: number;
  /** Sum over t' ≤ t only (streamable). Default true. */
  causal?: boolean;
  /** Rank d' of the factorised biases w = U Vᵀ. Default 64. */
  posDim?: number;
  /** Standard deviation of U's and V's initial entries. Default 0.1 (see POSITION_INIT_STD). */
  posInitStd?: number;
  /** Biases on the four projections. Default true. */
  bias?: boolean;
}

/**
 * An AFT layer with factorised pair-wise position biases w_{t,t'} = <U_t, V_{t'}> (U, V ∈
 * R^{maxLen×d'}, trainable): AftFull and AftLocal. A sequence, or a stream, ends at maxLen.
 */
export abstract class PositionBiasedLayer extends AftSequenceLayer {
  readonly maxLen: number;
  readonly posDim: number;
  /** U [maxLen, posDim]: w_{t,t'} = <U_t, V_{t'}>. */
  posU: Tensor;
  /** V [maxLen, posDim]. */
  posV: Tensor;

  constructor(
    op: string,
    {
      dModel,
      maxLen,
      causal,
      posDim = 64,
      posInitStd = POSITION_INIT_STD,
      bias = true,
    }: PositionBiasOptions,
  ) {
    super(op, dModel, causal, { bias });
    this.maxLen = nn.checkPositive(op, 'maxLen', maxLen);
    this.posDim = nn.checkPositive(op, 'posDim', posDim);
    this.posU = initPositionFactor(op, maxLen, posDim, posInitStd);
    this.posV = initPositionFactor(op, maxLen, posDim, posInitStd);
  }

  /** Refuses `t` more tokens after `seen` when they pass maxLen (the biases end there). */
  protected checkLength(seen: number, t: number): void {
    if (seen + t > this.maxLen) {
      throw new TensorError(
        this.constructor.name,
        seen === 0
          ? `expected at most maxLen = ${this.maxLen} tokens, got ${t}`
          : `a block of ${t} tokens after ${seen} already seen passes maxLen = ${this.maxLen} (the position biases end there)`,
      );
    }
  }
}
