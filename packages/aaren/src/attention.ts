import { attentionScan, emptyAttentionCarry } from '@recur/scan';
import { nn, randn, type StreamState, subState, type Tensor } from '@recur/tensor';

/**
 * Options of an AarenAttention layer: the model width and its number of heads (dModel divisible by
 * nHeads).
 */
export interface AarenAttentionOptions {
  dModel: number;
  nHeads: number;
  /** Biases on the four projections. Default true. */
  bias?: boolean;
}

/** Keys of an attention state: m, u [B, H, 1] and w [B, H, d_head]. */
export const ATTENTION_STATE_KEYS = ['m', 'u', 'w'] as const;

/**
 * Aaren attention (Feng et al. 2024; MATH.md §3): attention of a learned query q0 — not a token —
 * over the keys and values of x, causal by construction. Output t is softmax attention over tokens
 * 1..t, computed for all t at once by a prefix scan of the (m, u, w) operator, or one token at a time
 * by carrying that state: the same numbers either way. The state is (m, u, w) per head, whatever
 * the number of tokens seen.
 */
export class AarenAttention extends nn.HeadedAttention {
  /** The learned query: the RNN's initial hidden state. */
  q0: Tensor;

  constructor({ dModel, nHeads, bias = true }: AarenAttentionOptions) {
    super('AarenAttention', { dModel, nHeads, bias, causal: true });
    this.q0 = nn.parameter(randn([dModel]));
  }

  get stateKeys(): readonly string[] {
    return ATTENTION_STATE_KEYS;
  }

  /** x [B, T, dModel] continuing from `state` (a fresh sequence when left out) → outputs and next state. */
  run(x: Tensor, state?: StreamState): { y: Tensor; state: StreamState } {
    this.checkRun('AarenAttention', x, state !== undefined, 'stream');
    const [b, t] = x.shape as [number, number, number];
    const h = this.nHeads;
    const dh = this.dHead;
    const carry = state ? subState('AarenAttention', '', state, ATTENTION_STATE_KEYS) : undefined;
    const q = this.wq.forward(this.q0).reshape([h, dh]);
    const k = this.wk.forward(x).reshape([b, t, h, dh]);
    // s[b, h, t] = <q_h, k[b, t, h]> / √d_head
    const scores = k
      .mul(q)
      .sum(-1)
      .mul(1 / Math.sqrt(dh))
      .permute([0, 2, 1]);
    const { out, carry: next } = attentionScan(scores, this.splitHeads(this.wv.forward(x)), {
      carry: carry as { m: Tensor; u: Tensor; w: Tensor } | undefined,
    });
    return { y: this.mergeHeads(out), state: { ...next } };
  }

  /** The state before any token: m = −inf, u = 0, w = 0 per head. */
  initState(batch: number): StreamState {
    nn.checkPositive('AarenAttention.initState', 'batch', batch);
    return { ...emptyAttentionCarry([batch, this.nHeads], this.dHead) };
  }
}
