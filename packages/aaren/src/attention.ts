import { attentionScan, emptyAttentionCarry } from '@recur/scan';
import {
  nn,
  randn,
  SequenceModule,
  type StreamState,
  subState,
  type Tensor,
  TensorError,
} from '@recur/tensor';

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
export class AarenAttention extends SequenceModule {
  readonly dModel: number;
  readonly nHeads: number;
  readonly dHead: number;
  /** The learned query: the RNN's initial hidden state. */
  q0: Tensor;
  wq: nn.Linear;
  wk: nn.Linear;
  wv: nn.Linear;
  wo: nn.Linear;

  constructor({ dModel, nHeads, bias = true }: AarenAttentionOptions) {
    super();
    this.dModel = nn.checkPositive('AarenAttention', 'dModel', dModel);
    this.nHeads = nn.checkPositive('AarenAttention', 'nHeads', nHeads);
    if (dModel % nHeads !== 0) {
      throw new TensorError(
        'AarenAttention',
        `dModel (${dModel}) must be divisible by nHeads (${nHeads})`,
      );
    }
    this.dHead = dModel / nHeads;
    this.q0 = nn.parameter(randn([dModel]));
    this.wq = new nn.Linear(dModel, dModel, { bias });
    this.wk = new nn.Linear(dModel, dModel, { bias });
    this.wv = new nn.Linear(dModel, dModel, { bias });
    this.wo = new nn.Linear(dModel, dModel, { bias });
  }

  /** x [B, T, dModel] continuing from `state` (a fresh sequence when left out) → outputs and next state. */
  run(x: Tensor, state?: StreamState): { y: Tensor; state: StreamState } {
    nn.checkTokens('AarenAttention', x, this.dModel);
    const [b, t] = x.shape as [number, number, number];
    const h = this.nHeads;
    const dh = this.dHead;
    const carry = state ? subState('AarenAttention', '', state, ATTENTION_STATE_KEYS) : undefined;
    const q = this.wq.forward(this.q0).reshape([h, dh]);
    const k = this.wk.forward(x).reshape([b, t, h, dh]);
    const v = this.wv.forward(x).reshape([b, t, h, dh]);
    // s[b, h, t] = <q_h, k[b, t, h]> / √d_head
    const scores = k
      .mul(q)
      .sum(-1)
      .mul(1 / Math.sqrt(dh))
      .permute([0, 2, 1]);
    const { out, carry: next } = attentionScan(scores, v.permute([0, 2, 1, 3]), {
      carry: carry as { m: Tensor; u: Tensor; w: Tensor } | undefined,
    });
    const y = this.wo.forward(out.permute([0, 2, 1, 3]).reshape([b, t, h * dh]));
    return { y, state: { ...next } };
  }

  /** The state before any token: m = −inf, u = 0, w = 0 per head. */
  initState(batch: number): StreamState {
    nn.checkPositive('AarenAttention.initState', 'batch', batch);
    return { ...emptyAttentionCarry([batch, this.nHeads], this.dHead) };
  }
}
