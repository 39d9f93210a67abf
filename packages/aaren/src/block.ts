import { nn } from '@recur/tensor';
import { AarenAttention } from './attention.js';

/**
 * Options of an AarenBlock: Aaren attention and a feed-forward network, each behind a pre-LayerNorm
 * residual.
 */
export interface AarenBlockOptions extends nn.PreNormBlockOptions {
  nHeads: number;
}

/**
 * A pre-LayerNorm Transformer block with its self-attention replaced by Aaren attention:
 * x + Attn(LN(x)), then + FF(LN(·)) with FF = Linear(d, dFF) → activation → Linear(dFF, d).
 */
export class AarenBlock extends nn.PreNormBlock<AarenAttention> {
  constructor(options: AarenBlockOptions) {
    super(
      new AarenAttention({ dModel: options.dModel, nHeads: options.nHeads, bias: options.bias }),
      options,
    );
  }
}

/** Options of a stacked Aaren: a block's options and the number of blocks. */
export interface AarenOptions extends AarenBlockOptions {
  nLayers: number;
}

/**
 * Stacked Aaren: nLayers blocks and a final LayerNorm, x [B, T, dModel] → [B, T, dModel]. A stack of
 * Aaren blocks is a stacked RNN; its state is each layer's (m, u, w) ('layers.i.m', …).
 */
export class Aaren extends nn.SequenceStack<AarenBlock> {
  constructor(options: AarenOptions) {
    nn.checkPositive('Aaren', 'nLayers', options.nLayers);
    super(
      Array.from({ length: options.nLayers }, () => new AarenBlock(options)),
      options.dModel,
    );
  }
}
