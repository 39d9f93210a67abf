import { attentionScan, emptyAttentionCarry } from '@recur/scan';
import { nn, type StreamState, type Tensor } from '@recur/tensor';
import { AftSequenceLayer } from './common.js';

/** Options of AftSimple: the width, causality and projection biases (it has no position biases). */
export interface AftSimpleOptions {
  dModel: number;
  /** Sum over t' ≤ t only (streamable). Default true. */
  causal?: boolean;
  /** Biases on the four projections. Default true. */
  bias?: boolean;
}

/** Keys of AFT-simple's stream state: the per-channel attention triple m, u, w [B, dModel]. */
export const SIMPLE_STATE_KEYS = ['m', 'u', 'w'] as const;

/**
 * AFT-simple (Zhai et al. 2021; MATH.md §5): AFT with no position biases,
 *
 *     Y_t = σ(Q_t) ⊙ Σ_{t'} softmax_{t'}(K) ⊙ V_{t'}
 *
 * with the softmax over time, per channel: O(T·d) time and memory. Non-causal, the context
 * Σ softmax(K) ⊙ V is one vector shared by every token. Causal, the softmax is over t' ≤ t: the
 * per-channel attention scan of @recur/scan (MATH.md §2), whose stream state is the triple
 * (m, u, w) per channel — O(d), whatever the number of tokens seen.
 */
export class AftSimple extends AftSequenceLayer {
  readonly stateKeys = SIMPLE_STATE_KEYS;

  constructor({ dModel, causal, bias = true }: AftSimpleOptions) {
    super('AftSimple', dModel, causal, { bias });
  }

  protected parallel(x: Tensor): Tensor {
    const { q, k, v } = this.project(x);
    // softmax shifts by the per-channel maximum over time (detached): exact at any key spread.
    const context = k.softmax(1).mul(v).sum(1, true); // [B, 1, d]
    return this.wo.forward(q.sigmoid().mul(context));
  }

  protected continue(x: Tensor, state: StreamState): { y: Tensor; state: StreamState } {
    const b = x.shape[0]!;
    const d = this.dModel;
    for (const key of SIMPLE_STATE_KEYS)
      nn.checkShape('AftSimple', `state '${key}'`, state[key]!, [b, d]);
    const { q, k, v } = this.project(x);
    const { out, carry } = attentionScan(k, v, {
      carry: state as unknown as { m: Tensor; u: Tensor; w: Tensor },
    });
    const y = this.wo.forward(q.sigmoid().mul(out));
    return { y, state: { ...carry } };
  }

  protected emptyState(batch: number): StreamState {
    return { ...emptyAttentionCarry([batch], this.dModel, this.dModel) };
  }
}
