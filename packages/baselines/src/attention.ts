import {
  concat,
  isGradEnabled,
  nn,
  onnx,
  type StreamState,
  sliceAssign,
  softmaxAttention,
  stateBytes,
  subState,
  type Tensor,
  TensorError,
  tensor,
  zeros,
} from '@recur/tensor';

/** Options of MultiHeadAttention: the shared headed-attention options plus the KV cache's limit. */
export interface MultiHeadAttentionOptions extends nn.HeadedAttentionOptions {
  /**
   * The most tokens the KV cache may hold (cache plus the block being run); more is an error, never a
   * silent truncation. Default: no limit.
   */
  maxCacheLength?: number;
}

/**
 * Keys of a KV-cache state: 'k' and 'v', each [batch, heads, capacity, dHead], and 'length', an
 * int32 scalar: the number of tokens held (positions 0..length−1 of k and v; the rest is unused
 * capacity).
 */
export const KV_CACHE_KEYS = ['k', 'v', 'length'] as const;

/** Capacity of a cache's first allocation (tokens); it doubles from there. */
const MIN_CAPACITY = 16;

/**
 * For each cache buffer (a state's 'k' or 'v'), how many tokens the last run wrote into it. A state
 * whose length is below this was continued by another run already (a branch): writing into its
 * buffer would overwrite that run's tokens, so it is copied first. Buffers not in the map (a state
 * loaded from a file, an exported graph's outputs) are copied once, then owned.
 */
const filled = new WeakMap<Tensor, number>();

/** The JavaScript value of each 'length' scalar this module made (no device read on WebGPU). */
const lengths = new WeakMap<Tensor, number>();

function lengthScalar(n: number, like?: Tensor): Tensor {
  const t = tensor([n], { dtype: 'int32', shape: [], backend: like?.backend.name });
  lengths.set(t, n);
  return t;
}

/** @internal A state's 'length' as a number, checked against the buffers' capacity. */
export function cacheLength(t: Tensor, capacity: number): number {
  if (t.dtype !== 'int32' || t.size !== 1) {
    throw new TensorError(
      'MultiHeadAttention',
      `expected state 'length' to be an int32 scalar, got ${t.dtype} of shape [${t.shape.join(', ')}]`,
    );
  }
  const n = lengths.get(t) ?? t.dataSync()[0]!;
  if (!Number.isInteger(n) || n < 0 || n > capacity) {
    throw new TensorError(
      'MultiHeadAttention',
      `expected state 'length' in [0, ${capacity}] (the cache's capacity), got ${n}`,
    );
  }
  return n;
}

/**
 * The state with every KV cache in it (any nesting: 'k'/'v'/'length', 'layers.0.k', …) cut to its
 * last `tokens` tokens: a sliding-window cache, as a Decision Transformer keeps over its context.
 * Other entries pass through; a cache holding `tokens` or fewer is returned as it is.
 */
export function trimKvCache(state: StreamState, tokens: number): StreamState {
  if (!Number.isInteger(tokens) || tokens < 0) {
    throw new TensorError('trimKvCache', `expected tokens to be an integer >= 0, got ${tokens}`);
  }
  const out: StreamState = { ...state };
  for (const [key, len] of Object.entries(state)) {
    if (key !== 'length' && !key.endsWith('.length')) continue;
    const prefix = key.slice(0, key.length - 'length'.length);
    const k = state[`${prefix}k`];
    const v = state[`${prefix}v`];
    if (!k || !v) continue;
    const n = cacheLength(len, k.shape[2]!);
    if (n <= tokens) continue;
    out[`${prefix}k`] = k.slice(2, n - tokens, n);
    out[`${prefix}v`] = v.slice(2, n - tokens, n);
    out[key] = lengthScalar(tokens, k);
  }
  return out;
}

/** Bytes of the KV caches in a state (any nesting: 'k', 'layers.0.k', 'core.layers.1.k', …). */
export interface KvCacheBytes {
  /** Bytes of the tokens held: 2 · batch · heads · length · dHead · 4 per layer. */
  used: number;
  /** Bytes allocated: the same at the buffers' capacity (what stateBytes counts, less 'length'). */
  allocated: number;
}

/**
 * The used and allocated bytes of every KV cache in `state` (an entry `<prefix>length` with
 * `<prefix>k` and `<prefix>v` beside it); zeros when there is none. `stateBytes(state)` counts the
 * allocated capacity; a cache's size in the sense of "memory per token" is `used`.
 */
export function kvCacheBytes(state: StreamState): KvCacheBytes {
  let used = 0;
  let allocated = 0;
  for (const [key, len] of Object.entries(state)) {
    if (key !== 'length' && !key.endsWith('.length')) continue;
    const prefix = key.slice(0, -'length'.length);
    for (const name of ['k', 'v']) {
      const t = state[`${prefix}${name}`];
      if (t === undefined || t.rank !== 4) continue;
      const capacity = t.shape[2]!;
      const n = cacheLength(len, capacity);
      allocated += t.size * 4;
      used += capacity === 0 ? 0 : (t.size / capacity) * n * 4;
    }
  }
  return { used, allocated };
}

/**
 * `stateBytes(state)` less the unused capacity of its KV caches: the bytes the state holds in the
 * sense of "memory per token" (a KV cache's keys and values so far, its lengths, and every other
 * entry in full). Equal to stateBytes for a state without a KV cache.
 */
export function usedStateBytes(state: StreamState): number {
  const { used, allocated } = kvCacheBytes(state);
  return stateBytes(state) - allocated + used;
}

/**
 * Multi-head scaled dot-product self-attention (Vaswani et al. 2017), causal by default, with a KV
 * cache for streaming (MATH.md §4):
 *
 *     y = W_o concat_h softmax(q_h k_hᵀ / √d_head + mask) v_h,   q = W_q x, k = W_k x, v = W_v x.
 *
 * The streaming state is the cache: the keys and values of every token seen so far in 'k' and 'v'
 * ([B, H, capacity, d_head]) and their number N in 'length'. Each `step` writes one key and one
 * value in place (sliceAssign) at position N and attends over positions 0..N (the fused op's
 * `length`: the unused capacity is never read), so a token at position N costs O(N·d) work for the
 * attention and O(d) for the write. When the capacity is reached the buffers are reallocated at
 * twice the size (one O(N·d) copy, amortised O(d) per token), never past maxCacheLength. This is
 * the yardstick Aaren's constant-size state is measured against: its used bytes grow by 2·d floats
 * per token (kvCacheBytes reports used and allocated bytes).
 *
 * The in-place path applies when nothing requires gradients. With gradients (training through a
 * stream, forwardChunked under autograd) and while toOnnx traces the module (an exported graph is a
 * pure function: it cannot write into its input) the cache grows by concatenation instead, an
 * O(N·d) copy per call, and the state's capacity equals its length. Both paths give the same
 * numbers and the same state keys. A state may be continued more than once (branches): a run that
 * finds its buffers already written past the state's length copies them rather than overwrite
 * another branch's tokens.
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
    let cache: Record<(typeof KV_CACHE_KEYS)[number], Tensor> | null = null;
    let past = 0;
    if (state) {
      cache = subState('MultiHeadAttention', '', state, KV_CACHE_KEYS);
      const labels = ['batch', 'heads', 'capacity', 'dHead'];
      nn.checkShape('MultiHeadAttention', "state 'k'", cache.k, [b, h, null, dh], labels);
      const capacity = cache.k.shape[2]!;
      nn.checkShape('MultiHeadAttention', "state 'v'", cache.v, [b, h, capacity, dh], labels);
      past = cacheLength(cache.length, capacity);
    }
    if (this.causal && past + t > this.maxCacheLength) {
      throw new TensorError(
        'MultiHeadAttention',
        `KV cache overflow: ${past} cached + ${t} new tokens = ${past + t} exceeds maxCacheLength ${this.maxCacheLength}`,
      );
    }
    const q = this.splitHeads(this.wq.forward(x));
    const kNew = this.splitHeads(this.wk.forward(x));
    const vNew = this.splitHeads(this.wv.forward(x));
    if (!this.causal) return { y: this.mergeHeads(this.attend(q, kNew, vNew, t)), state: {} };
    const inPlace =
      !onnx.isExporting() &&
      !(isGradEnabled() && (q.requiresGrad || kNew.requiresGrad || vNew.requiresGrad)) &&
      !(cache && (cache.k.requiresGrad || cache.v.requiresGrad));
    let k: Tensor;
    let v: Tensor;
    let nextLength: Tensor;
    if (!cache) {
      // A fresh sequence: the new keys and values are the cache, at capacity t.
      k = kNew;
      v = vNew;
      if (inPlace) {
        filled.set(k, t);
        filled.set(v, t);
      }
      nextLength = lengthScalar(t, x);
    } else if (inPlace) {
      k = this.#reserve(cache.k, past, t);
      v = this.#reserve(cache.v, past, t);
      sliceAssign(k, 2, past, kNew);
      sliceAssign(v, 2, past, vNew);
      filled.set(k, past + t);
      filled.set(v, past + t);
      nextLength = lengthScalar(past + t, x);
    } else {
      // Pure path: the valid prefix of the cache, then the new tokens, as new tensors.
      const prefix = (c: Tensor) => (c.shape[2]! === past ? c : c.slice(2, 0, past));
      k = past > 0 ? concat([prefix(cache.k), kNew], 2) : kNew;
      v = past > 0 ? concat([prefix(cache.v), vNew], 2) : vNew;
      // An op (not a new constant) so that an exported step graph computes it from its input.
      nextLength = cache.length.add(t);
    }
    const out = this.attend(q, k, v, past + t); // [B, H, T, dh]
    return { y: this.mergeHeads(out), state: { k, v, length: nextLength } };
  }

  /**
   * A buffer [B, H, capacity, dh] holding `buf`'s first `past` tokens with room for `t` more:
   * `buf` itself when it has the room and no other run wrote past `past` in it, else a new one at
   * twice the needed size (at least MIN_CAPACITY, at most maxCacheLength) with the tokens copied.
   */
  #reserve(buf: Tensor, past: number, t: number): Tensor {
    const need = past + t;
    const old = buf.shape[2]!;
    if (filled.get(buf) === past && old >= need) return buf;
    const capacity = Math.max(need, Math.min(Math.max(MIN_CAPACITY, 2 * old), this.maxCacheLength));
    const [b, h, , dh] = buf.shape as [number, number, number, number];
    const next = zeros([b, h, capacity, dh], { backend: buf.backend.name });
    if (past > 0) sliceAssign(next, 2, 0, old === past ? buf : buf.slice(2, 0, past));
    return next;
  }

  /**
   * softmax(q kᵀ / √d_head + causal mask) v for q [B, H, T, dh] and k, v [B, H, ≥ length, dh], the
   * queries being positions length − T .. length − 1 and keys past `length` never read. One fused op:
   * the [B, H, T, length] scores are never materialised, forward or backward.
   */
  protected attend(q: Tensor, k: Tensor, v: Tensor, length: number): Tensor {
    return softmaxAttention(q, k, v, { causal: this.causal, length });
  }

  /**
   * The empty cache: k and v of shape [batch, heads, 0, dHead] (no capacity yet: the first token
   * allocates it) and length 0.
   */
  initState(batch: number): StreamState {
    nn.checkPositive('MultiHeadAttention.initState', 'batch', batch);
    if (!this.causal) {
      throw new TensorError(
        'MultiHeadAttention.initState',
        'non-causal attention has no streaming form (every output depends on every token); construct it with causal: true to use a KV cache',
      );
    }
    const shape = [batch, this.nHeads, 0, this.dHead];
    return { k: zeros(shape), v: zeros(shape), length: lengthScalar(0) };
  }

  override extraRepr(): string {
    const max = Number.isFinite(this.maxCacheLength)
      ? `, maxCacheLength=${this.maxCacheLength}`
      : '';
    return `dModel=${this.dModel}, nHeads=${this.nHeads}, causal=${this.causal}${max}`;
  }
}
