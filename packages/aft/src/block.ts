import { nn, type Tensor, TensorError } from '@recur/tensor';
import type { AftSequenceLayer } from './common.js';
import { AftConv1d, AftConv2d, checkGrid } from './conv.js';
import { AftFull } from './full.js';
import { AftLocal } from './local.js';
import { AftSimple } from './simple.js';

/**
 * Which AFT layer a block uses: AFT-full, AFT-local, AFT-simple, AFT-conv over sequences (conv1d)
 * or images (conv2d).
 */
export type AftVariant = 'full' | 'local' | 'simple' | 'conv1d' | 'conv2d';

/**
 * Options of an AftBlock (and of aftLayer): the variant, the width, and the variant's own sizes
 * (maxLen, window, heads, kernel), then the feed-forward network's.
 */
export interface AftBlockOptions {
  variant: AftVariant;
  dModel: number;
  /** Sum over t' ≤ t only (1-d variants; streamable). Default true. conv2d is never causal. */
  causal?: boolean;
  /** full, local: the longest sequence the position biases cover. */
  maxLen?: number;
  /** full, local: rank of the factorised biases w = U Vᵀ. Default 64. */
  posDim?: number;
  /** full, local: std of U's and V's initial entries. Default 0.1. */
  posInitStd?: number;
  /** local: biases learned where |t − t'| < window; conv1d: kernel size. */
  window?: number;
  /** conv1d, conv2d: heads (one key and one kernel per head). */
  heads?: number;
  /** conv2d: kernel size (odd). */
  kernel?: number;
  /** Feed-forward width. Default 4 · dModel. */
  dFF?: number;
  /** Dropout after the AFT layer and the feed-forward (training only). Default 0. */
  dropout?: number;
  /** Feed-forward activation. Default 'relu' (the Transformer's). */
  activation?: nn.ActivationName;
  /** Biases on every linear map. Default true. */
  bias?: boolean;
}

function need(variant: AftVariant, name: string, v: number | undefined): number {
  if (v === undefined)
    throw new TensorError('AftBlock', `variant '${variant}' needs the option ${name}`);
  return v;
}

/** The AFT layer a block of `options.variant` mixes tokens with. */
export function aftLayer(options: AftBlockOptions): AftSequenceLayer | AftConv2d {
  const { variant, dModel, causal, bias } = options;
  switch (variant) {
    case 'full':
      return new AftFull({
        dModel,
        causal,
        bias,
        maxLen: need(variant, 'maxLen', options.maxLen),
        posDim: options.posDim,
        posInitStd: options.posInitStd,
      });
    case 'local':
      return new AftLocal({
        dModel,
        causal,
        bias,
        maxLen: need(variant, 'maxLen', options.maxLen),
        window: need(variant, 'window', options.window),
        posDim: options.posDim,
        posInitStd: options.posInitStd,
      });
    case 'simple':
      return new AftSimple({ dModel, causal, bias });
    case 'conv1d':
      return new AftConv1d({
        dModel,
        causal,
        bias,
        heads: need(variant, 'heads', options.heads),
        window: need(variant, 'window', options.window),
      });
    case 'conv2d':
      if (causal)
        throw new TensorError('AftBlock', "variant 'conv2d' is not causal: leave causal unset");
      return new AftConv2d({
        dModel,
        bias,
        heads: need(variant, 'heads', options.heads),
        kernel: need(variant, 'kernel', options.kernel),
      });
    default:
      throw new TensorError(
        'AftBlock',
        `unknown variant '${String(variant)}' (expected full, local, simple, conv1d or conv2d)`,
      );
  }
}

/**
 * A pre-LayerNorm Transformer block with AFT in place of self-attention (nn.PreNormBlock, as
 * AarenBlock and TransformerBlock): h = x + AFT(LN(x)), y = h + FF(LN(h)), FF = Linear(d, dFF) →
 * activation → Linear(dFF, d). x is [B, T, dModel] for the 1-d variants and [B, H, W, dModel] for
 * 'conv2d'. Causal 1-d blocks stream (`initState` / `step` / `forwardChunked`) with their AFT layer's
 * state.
 */
export class AftBlock extends nn.PreNormBlock<AftSequenceLayer | AftConv2d> {
  readonly variant: AftVariant;

  constructor(options: AftBlockOptions) {
    super(aftLayer(options), options);
    this.variant = options.variant;
  }

  override forward(x: Tensor): Tensor {
    if (this.attn instanceof AftConv2d) checkGrid('AftBlock', x, this.dModel);
    return super.forward(x);
  }
}

/** Options of a stacked Aft model: a block's options and the number of blocks. */
export interface AftOptions extends AftBlockOptions {
  nLayers: number;
}

/**
 * Stacked AFT: nLayers AftBlocks and a final LayerNorm, x [B, T, dModel] → [B, T, dModel]
 * ([B, H, W, dModel] for 'conv2d'). Causal 1-d stacks stream; the state nests each layer's under
 * 'layers.i.' ('layers.0.m', …).
 */
export class Aft extends nn.SequenceStack<AftBlock> {
  readonly variant: AftVariant;

  constructor(options: AftOptions) {
    nn.checkPositive('Aft', 'nLayers', options.nLayers);
    super(
      Array.from({ length: options.nLayers }, () => new AftBlock(options)),
      options.dModel,
    );
    this.variant = options.variant;
  }
}
