/**
 * Aaren ("Attention as an RNN", Feng et al. 2024) — attention, block and stacked model that
 * train in parallel and stream with constant memory.
 *
 * @packageDocumentation
 * @module @recur/aaren
 */
export { AarenAttention, type AarenAttentionOptions, ATTENTION_STATE_KEYS } from './attention.js';
export { Aaren, AarenBlock, type AarenBlockOptions, type AarenOptions } from './block.js';
