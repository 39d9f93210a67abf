import { nn, type StreamState, TensorError } from '@recur/tensor';
import { cacheLength, MultiHeadAttention } from './attention.js';
import { LinearAttention } from './linear-attention.js';

/**
 * Options of a TransformerBlock: the shared pre-LayerNorm block options plus the attention's heads,
 * causality, cache limit and kind.
 */
export interface TransformerBlockOptions extends nn.PreNormBlockOptions {
  nHeads: number;
  /** Causal self-attention (streams with a KV cache). Default true. */
  causal?: boolean;
  /** The most tokens the KV cache may hold; see MultiHeadAttention. Default: no limit. */
  maxCacheLength?: number;
  /**
   * 'softmax' (default): multi-head attention with a KV cache. 'linear': linear attention
   * (Katharopoulos et al. 2020) with a constant-size state. Same parameters either way.
   */
  attention?: 'softmax' | 'linear';
}

function mixer({
  dModel,
  nHeads,
  causal = true,
  bias = true,
  maxCacheLength,
  attention = 'softmax',
}: TransformerBlockOptions): MultiHeadAttention | LinearAttention {
  if (attention === 'softmax')
    return new MultiHeadAttention({ dModel, nHeads, causal, bias, maxCacheLength });
  if (attention === 'linear') {
    if (maxCacheLength !== undefined) {
      throw new TensorError(
        'TransformerBlock',
        'maxCacheLength applies to softmax attention only (linear attention keeps no cache)',
      );
    }
    return new LinearAttention({ dModel, nHeads, causal, bias });
  }
  throw new TensorError(
    'TransformerBlock',
    `unknown attention '${String(attention)}' (expected 'softmax' or 'linear')`,
  );
}

/**
 * A pre-LayerNorm Transformer block, laid out exactly as AarenBlock (the same nn.PreNormBlock, so
 * parameter counts and names line up): x + Attn(LN(x)), then + FF(LN(·)) with FF = Linear(d, dFF) →
 * activation → Linear(dFF, d). Its streaming state is its attention's (the KV cache 'k', 'v', or
 * linear attention's 'S', 'z').
 */
export class TransformerBlock extends nn.PreNormBlock<MultiHeadAttention | LinearAttention> {
  constructor(options: TransformerBlockOptions) {
    super(mixer(options), options);
  }

  /** The names of this block's state entries (its attention's). */
  get stateKeys(): readonly string[] {
    return this.attn.stateKeys;
  }
}

/** Options of a stacked Transformer: a block's options and the number of blocks. */
export interface TransformerOptions extends TransformerBlockOptions {
  nLayers: number;
}

/**
 * Stacked Transformer: nLayers pre-LayerNorm blocks and a final LayerNorm, x [B, T, dModel] →
 * [B, T, dModel] (the same layout as Aaren). Causal by default; its streaming state is every layer's
 * KV cache, 'layers.i.k' and 'layers.i.v' of shape [B, H, capacity, d_head] holding
 * 'layers.i.length' tokens (see MultiHeadAttention).
 */
export class Transformer extends nn.SequenceStack<TransformerBlock> {
  constructor(options: TransformerOptions) {
    nn.checkPositive('Transformer', 'nLayers', options.nLayers);
    super(
      Array.from({ length: options.nLayers }, () => new TransformerBlock(options)),
      options.dModel,
    );
  }
}

/** The number of tokens a Transformer's (or one attention layer's) KV cache holds. */
export function kvCacheLength(state: StreamState): number {
  const n = state.length ?? state['layers.0.length'];
  if (!n) {
    throw new TensorError(
      'kvCacheLength',
      `expected a KV-cache state with 'length' or 'layers.0.length', got keys: ${Object.keys(state).join(', ') || 'none'}`,
    );
  }
  const k = state.k ?? state['layers.0.k'];
  return cacheLength(n, (k?.shape[2] as number | undefined) ?? Number.POSITIVE_INFINITY);
}
