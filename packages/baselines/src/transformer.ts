import {
  nn,
  prefixState,
  SequenceModule,
  type StreamState,
  subState,
  type Tensor,
  TensorError,
} from '@recur/tensor';
import { MultiHeadAttention } from './attention.js';
import { LinearAttention } from './linear-attention.js';
import { type Activation, activationModule, checkPositive, checkTokens } from './util.js';

export interface TransformerBlockOptions {
  dModel: number;
  nHeads: number;
  /** Feed-forward width. Default 4 · dModel. */
  dFF?: number;
  /** Dropout after attention and feed-forward (training only). Default 0. */
  dropout?: number;
  /** Feed-forward activation. Default 'relu' (the paper's Transformer). */
  activation?: Activation;
  bias?: boolean;
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

/**
 * A pre-LayerNorm Transformer block, laid out exactly as AarenBlock (so parameter counts and names
 * line up): x + Attn(LN(x)), then + FF(LN(·)) with FF = Linear(d, dFF) → activation → Linear(dFF, d).
 * Its streaming state is its attention's (the KV cache 'k', 'v', or linear attention's 'S', 'z').
 */
export class TransformerBlock extends SequenceModule {
  readonly dModel: number;
  norm1: nn.LayerNorm;
  attn: MultiHeadAttention | LinearAttention;
  norm2: nn.LayerNorm;
  ff1: nn.Linear;
  act: nn.Module;
  ff2: nn.Linear;
  drop: nn.Dropout;

  constructor({
    dModel,
    nHeads,
    dFF = 4 * dModel,
    dropout = 0,
    activation = 'relu',
    bias = true,
    causal = true,
    maxCacheLength,
    attention = 'softmax',
  }: TransformerBlockOptions) {
    super();
    this.dModel = checkPositive('TransformerBlock', 'dModel', dModel);
    checkPositive('TransformerBlock', 'dFF', dFF);
    this.norm1 = new nn.LayerNorm(dModel);
    if (attention === 'softmax') {
      this.attn = new MultiHeadAttention({ dModel, nHeads, causal, bias, maxCacheLength });
    } else if (attention === 'linear') {
      if (maxCacheLength !== undefined) {
        throw new TensorError(
          'TransformerBlock',
          'maxCacheLength applies to softmax attention only (linear attention keeps no cache)',
        );
      }
      this.attn = new LinearAttention({ dModel, nHeads, causal, bias });
    } else {
      throw new TensorError(
        'TransformerBlock',
        `unknown attention '${String(attention)}' (expected 'softmax' or 'linear')`,
      );
    }
    this.norm2 = new nn.LayerNorm(dModel);
    this.ff1 = new nn.Linear(dModel, dFF, { bias });
    this.act = activationModule('TransformerBlock', activation);
    this.ff2 = new nn.Linear(dFF, dModel, { bias });
    this.drop = new nn.Dropout(dropout);
  }

  /** The names of this block's state entries (its attention's). */
  get stateKeys(): readonly string[] {
    return this.attn.stateKeys;
  }

  run(x: Tensor, state?: StreamState): { y: Tensor; state: StreamState } {
    checkTokens('TransformerBlock', x, this.dModel);
    const a = this.attn.run(this.norm1.forward(x), state);
    const h = x.add(this.drop.forward(a.y));
    const f = this.ff2.forward(this.act.forward(this.ff1.forward(this.norm2.forward(h))) as Tensor);
    return { y: h.add(this.drop.forward(f)), state: a.state };
  }

  initState(batch: number): StreamState {
    return this.attn.initState(batch);
  }
}

export interface TransformerOptions extends TransformerBlockOptions {
  nLayers: number;
}

/**
 * Stacked Transformer: nLayers pre-LayerNorm blocks and a final LayerNorm, x [B, T, dModel] →
 * [B, T, dModel] (the same layout as Aaren). Causal by default; its streaming state is every layer's
 * KV cache, 'layers.i.k' and 'layers.i.v' of shape [B, H, N, d_head], growing with every token.
 */
export class Transformer extends SequenceModule {
  readonly dModel: number;
  readonly nLayers: number;
  layers: TransformerBlock[];
  norm: nn.LayerNorm;

  constructor(options: TransformerOptions) {
    super();
    this.nLayers = checkPositive('Transformer', 'nLayers', options.nLayers);
    this.dModel = checkPositive('Transformer', 'dModel', options.dModel);
    this.layers = Array.from({ length: options.nLayers }, () => new TransformerBlock(options));
    this.norm = new nn.LayerNorm(options.dModel);
  }

  run(x: Tensor, state?: StreamState): { y: Tensor; state: StreamState } {
    checkTokens('Transformer', x, this.dModel);
    let h = x;
    let next: StreamState = {};
    this.layers.forEach((layer, i) => {
      const prefix = `layers.${i}.`;
      const s = state ? subState('Transformer', prefix, state, layer.stateKeys) : undefined;
      const out = layer.run(h, s);
      h = out.y;
      next = { ...next, ...prefixState(prefix, out.state) };
    });
    return { y: this.norm.forward(h), state: next };
  }

  initState(batch: number): StreamState {
    let s: StreamState = {};
    this.layers.forEach((layer, i) => {
      s = { ...s, ...prefixState(`layers.${i}.`, layer.initState(batch)) };
    });
    return s;
  }
}

/** The number of tokens a Transformer's (or one attention layer's) KV cache holds. */
export function kvCacheLength(state: StreamState): number {
  const k = state.k ?? state['layers.0.k'];
  if (!k) {
    throw new TensorError(
      'kvCacheLength',
      `expected a KV-cache state with 'k' or 'layers.0.k', got keys: ${Object.keys(state).join(', ') || 'none'}`,
    );
  }
  return k.shape[2] as number;
}
