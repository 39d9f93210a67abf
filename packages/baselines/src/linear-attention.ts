import {
  matmulT,
  nn,
  type StreamState,
  subState,
  type Tensor,
  TensorError,
  tensor,
  where,
  zeros,
} from '@recur/tensor';

/** Options of LinearAttention: the shared headed-attention options (width, heads, causality). */
export type LinearAttentionOptions = nn.HeadedAttentionOptions;

/** Keys of a linear-attention state: S [B, H, dHead, dHead] = Σ φ(k) vᵀ and z [B, H, dHead] = Σ φ(k). */
export const LINEAR_ATTENTION_STATE_KEYS = ['S', 'z'] as const;

/** Added to every denominator, as in the authors' implementation (fast-transformers). */
export const LINEAR_ATTENTION_EPS = 1e-6;

/** The feature map φ(x) = elu(x) + 1: x + 1 for x > 0, eˣ otherwise (positive everywhere). */
export function eluFeatureMap(x: Tensor): Tensor {
  // exp(min(x, 0)) never overflows, so neither the value nor the gradient meets an inf.
  return x.relu().add(x.clamp(null, 0).exp());
}

/**
 * Linear attention (Katharopoulos et al. 2020, "Transformers are RNNs"): softmax(q kᵀ) replaced by the
 * kernel φ(q)ᵀφ(k) with φ = elu + 1, so causal attention becomes a recurrence with a constant-size
 * state per head, S = Σ φ(k) vᵀ and z = Σ φ(k):
 *
 *     y_t = W_o concat_h  φ(q_t)ᵀ S_t / (φ(q_t)ᵀ z_t + ε).
 *
 * `run` on a block of T tokens computes the block's own contribution in the quadratic form
 * (tril(φ(Q)φ(K)ᵀ) V, O(T²·d)) and adds the carried state's (φ(Q) S), so `forwardChunked` with block
 * size c costs O(T·c·d + T·d²/H) and `step` O(d²/H) per token.
 */
export class LinearAttention extends nn.HeadedAttention {
  constructor(options: LinearAttentionOptions) {
    super('LinearAttention', options);
  }

  /** The names of this layer's state entries. */
  get stateKeys(): readonly string[] {
    return LINEAR_ATTENTION_STATE_KEYS;
  }

  run(x: Tensor, state?: StreamState): { y: Tensor; state: StreamState } {
    this.checkRun('LinearAttention', x, state !== undefined, 'stream');
    const [b, t] = x.shape as [number, number, number];
    const h = this.nHeads;
    const dh = this.dHead;
    const fq = eluFeatureMap(this.splitHeads(this.wq.forward(x)));
    const fk = eluFeatureMap(this.splitHeads(this.wk.forward(x)));
    const v = this.splitHeads(this.wv.forward(x));
    let num: Tensor;
    let den: Tensor;
    let next: StreamState = {};
    if (this.causal) {
      // The block's own tokens: A[i, j] = φ(q_i)·φ(k_j) for j ≤ i.
      let a = matmulT(fq, fk, false, true); // [B, H, T, T]
      if (t > 1) {
        const mask = new Int32Array(t * t);
        for (let i = 0; i < t; i++) mask.fill(1, i * t, i * t + i + 1);
        a = where(tensor(mask, { shape: [t, t], backend: x.backend.name }), a, 0);
      }
      num = matmulT(a, v); // [B, H, T, dh]
      den = a.sum(-1, true); // [B, H, T, 1]
      let s = matmulT(fk, v, true, false); // [B, H, dh, dh]
      let z = fk.sum(2); // [B, H, dh]
      if (state) {
        const carry = subState('LinearAttention', '', state, LINEAR_ATTENTION_STATE_KEYS);
        const s0 = carry.S;
        const z0 = carry.z;
        nn.checkShape('LinearAttention', "state 'S'", s0, [b, h, dh, dh]);
        nn.checkShape('LinearAttention', "state 'z'", z0, [b, h, dh]);
        num = num.add(matmulT(fq, s0));
        den = den.add(matmulT(fq, z0.unsqueeze(-1)));
        s = s.add(s0);
        z = z.add(z0);
      }
      next = { S: s, z };
    } else {
      num = matmulT(fq, matmulT(fk, v, true, false));
      den = matmulT(fq, fk.sum(2).unsqueeze(-1));
    }
    const out = num.div(den.add(LINEAR_ATTENTION_EPS)); // [B, H, T, dh]
    const y = this.mergeHeads(out);
    return { y, state: next };
  }

  /** S = 0 and z = 0 per head: the state before any token, of the same size after any number. */
  initState(batch: number): StreamState {
    nn.checkPositive('LinearAttention.initState', 'batch', batch);
    if (!this.causal) {
      throw new TensorError(
        'LinearAttention.initState',
        'non-causal attention has no streaming form (every output depends on every token); construct it with causal: true to stream',
      );
    }
    return {
      S: zeros([batch, this.nHeads, this.dHead, this.dHead]),
      z: zeros([batch, this.nHeads, this.dHead]),
    };
  }

  override extraRepr(): string {
    return `dModel=${this.dModel}, nHeads=${this.nHeads}, causal=${this.causal}`;
  }
}
