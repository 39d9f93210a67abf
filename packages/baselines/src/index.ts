/**
 * the yardsticks for the recurrent-attention models — a Transformer (causal multi-head attention
 * with a KV cache), linear attention, LSTM and GRU — on the shared streaming contract (initState
 * / step / forwardChunked).
 *
 * @packageDocumentation
 * @module @recur/baselines
 */
export {
  KV_CACHE_KEYS,
  type KvCacheBytes,
  kvCacheBytes,
  MultiHeadAttention,
  type MultiHeadAttentionOptions,
  trimKvCache,
  usedStateBytes,
} from './attention.js';
export {
  eluFeatureMap,
  LINEAR_ATTENTION_EPS,
  LINEAR_ATTENTION_STATE_KEYS,
  LinearAttention,
  type LinearAttentionOptions,
} from './linear-attention.js';
export { GRU, LSTM, type RNNLayerWeights, type RNNOptions } from './rnn.js';
export {
  kvCacheLength,
  Transformer,
  TransformerBlock,
  type TransformerBlockOptions,
  type TransformerOptions,
} from './transformer.js';
