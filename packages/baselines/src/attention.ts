import {
  concat,
  nn,
  type StreamState,
  softmaxAttention,
  subState,
  type Tensor,
  TensorError,
  zeros,
} from '@recur/tensor';
import { checkStateShape } from './util.js';

/** Options of MultiHeadAttention: the shared headed-attention options plus the KV cache's limit. */
export interface MultiHeadAttentionOptions extends nn.HeadedAttentionOptions {
  /**
   * The most tokens the KV cache may hold (cache plus the block being run); more is an error, never a
   * silent truncation. Default: no limit.
   */
  maxCacheLength?: number;
}

/** Keys of a KV-cache state: k and v, each [batch, heads, tokens so far, dHead]. */
export const KV_CACHE_KEYS = ['k', 'v'] as const;

/**
 * Multi-head scaled dot-product self-attention (Vaswani et al. 2017), causal by default, with a KV
 * cache for streaming (MATH.md §4):
 *
 *     y = W_o concat_h softmax(q_h k_hᵀ / √d_head + mask) v_h,   q = W_q x, k = W_k x, v = W_v x.
 *
 * The streaming state is the cache: the keys and values of every token seen so far, 'k' and 'v' of
 * shape [B, H, N, d_head]. Each `step` appends one key and one value and attends over all N of them,
 * so a token at position N costs O(N·d) work and the state grows by 2·d floats per token: this is the
 * yardstick Aaren's constant-size state is measured against. The cache grows by concatenation
 * (tensors here are immutable), which copies it once per call: O(N·d), the same order as the attention
 * over it, so the asymptotic cost is the true one.
 */
export class MultiHeadAttention extends nn.HeadedAttention {
  readonly maxCacheLength: number;

  constructor(options: MultiHeadAttentionOptions) {
    super('MultiHeadAttention', options);
    const maxCacheLength = options.maxCacheLength ?? Number.POSITIVE_INFINITY;
    if (maxCacheLength !== Number.POSITIVE_INFINITY) {
      nn.checkPositive('MultiHeadAttention', 'maxCacheLength', maxCacheLength);
    }
    this.maxCacheLength = maxCacheLength;
  }

  /** The names of this layer's state entries. */
  get stateKeys(): readonly string[] {
    return KV_CACHE_KEYS;
  }

  /**
   * x [B, T, dModel] continuing from a KV cache (a fresh sequence when left out) → outputs and the
   * cache extended by the T new keys and values. Query t of the block sits at position N + t (N the
   * cached tokens) and sees cache positions 0..N−1 and block positions 0..t.
   */
  run(x: Tensor, state?: StreamState): { y: Tensor; state: StreamState } {
    this.checkRun('MultiHeadAttention', x, state !== undefined, 'use a KV cache');
    const [b, t] = x.shape as [number, number, number];
    const h = this.nHeads;
    const dh = this.dHead;
    const q = this.splitHeads(this.wq.forward(x));
    let k = this.splitHeads(this.wk.forward(x));
    let v = this.splitHeads(this.wv.forward(x));
    let past = 0;
    if (state) {
      const cache = subState('MultiHeadAttention', '', state, KV_CACHE_KEYS);
      const labels = ['batch', 'heads', 'tokens', 'dHead'];
      checkStateShape('MultiHeadAttention', 'k', cache.k as Tensor, [b, h, null, dh], labels);
      past = (cache.k as Tensor).shape[2] as number;
      checkStateShape('MultiHeadAttention', 'v', cache.v as Tensor, [b, h, past, dh], labels);
      if (past > 0) {
        k = concat([cache.k as Tensor, k], 2);
        v = concat([cache.v as Tensor, v], 2);
      }
    }
    if (this.causal && past + t > this.maxCacheLength) {
      throw new TensorError(
        'MultiHeadAttention',
        `KV cache overflow: ${past} cached + ${t} new tokens = ${past + t} exceeds maxCacheLength ${this.maxCacheLength}`,
      );
    }
    const out = this.attend(q, k, v); // [B, H, T, dh]
    const y = this.mergeHeads(out);
    return { y, state: this.causal ? { k, v } : {} };
  }

  /**
   * softmax(q kᵀ / √d_head + causal mask) v for q [B, H, T, dh] and k, v [B, H, N + T, dh], the
   * queries being the last T positions. One fused op: the [B, H, T, N + T] scores are never
   * materialised, forward or backward.
   */
  protected attend(q: Tensor, k: Tensor, v: Tensor): Tensor {
    return softmaxAttention(q, k, v, { causal: this.causal });
  }

  /** The empty cache: k and v of shape [batch, heads, 0, dHead] (0 bytes). */
  initState(batch: number): StreamState {
    nn.checkPositive('MultiHeadAttention.initState', 'batch', batch);
    if (!this.causal) {
      throw new TensorError(
        'MultiHeadAttention.initState',
        'non-causal attention has no streaming form (every output depends on every token); construct it with causal: true to use a KV cache',
      );
    }
    const shape = [batch, this.nHeads, 0, this.dHead];
    return { k: zeros(shape), v: zeros(shape) };
  }

  override extraRepr(): string {
    const max = Number.isFinite(this.maxCacheLength)
      ? `, maxCacheLength=${this.maxCacheLength}`
      : '';
    return `dModel=${this.dModel}, nHeads=${this.nHeads}, causal=${this.causal}${max}`;
  }
}
