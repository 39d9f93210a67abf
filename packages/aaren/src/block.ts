import {
  nn,
  prefixState,
  SequenceModule,
  type StreamState,
  subState,
  type Tensor,
  TensorError,
} from '@recur/tensor';
import { AarenAttention, ATTENTION_STATE_KEYS, checkPositive, checkTokens } from './attention.js';

export type Activation = 'relu' | 'gelu' | 'silu';

export interface AarenBlockOptions {
  dModel: number;
  nHeads: number;
  /** Feed-forward width. Default 4 · dModel. */
  dFF?: number;
  /** Dropout after attention and feed-forward (training only). Default 0. */
  dropout?: number;
  /** Feed-forward activation. Default 'relu' (the paper's Transformer). */
  activation?: Activation;
  bias?: boolean;
}

export function activationModule(op: string, a: Activation): nn.Module {
  if (a === 'relu') return new nn.ReLU();
  if (a === 'gelu') return new nn.GELU();
  if (a === 'silu') return new nn.SiLU();
  throw new TensorError(op, `unknown activation '${String(a)}' (expected relu, gelu or silu)`);
}

/**
 * A pre-LayerNorm Transformer block with its self-attention replaced by Aaren attention:
 * x + Attn(LN(x)), then + FF(LN(·)) with FF = Linear(d, dFF) → activation → Linear(dFF, d).
 */
export class AarenBlock extends SequenceModule {
  readonly dModel: number;
  norm1: nn.LayerNorm;
  attn: AarenAttention;
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
  }: AarenBlockOptions) {
    super();
    this.dModel = checkPositive('AarenBlock', 'dModel', dModel);
    checkPositive('AarenBlock', 'dFF', dFF);
    this.norm1 = new nn.LayerNorm(dModel);
    this.attn = new AarenAttention({ dModel, nHeads, bias });
    this.norm2 = new nn.LayerNorm(dModel);
    this.ff1 = new nn.Linear(dModel, dFF, { bias });
    this.act = activationModule('AarenBlock', activation);
    this.ff2 = new nn.Linear(dFF, dModel, { bias });
    this.drop = new nn.Dropout(dropout);
  }

  run(x: Tensor, state?: StreamState): { y: Tensor; state: StreamState } {
    checkTokens('AarenBlock', x, this.dModel);
    const a = this.attn.run(this.norm1.forward(x), state);
    const h = x.add(this.drop.forward(a.y) as Tensor);
    const f = this.ff2.forward(this.act.forward(this.ff1.forward(this.norm2.forward(h))) as Tensor);
    return { y: h.add(this.drop.forward(f) as Tensor), state: a.state };
  }

  initState(batch: number): StreamState {
    return this.attn.initState(batch);
  }
}

export interface AarenOptions extends AarenBlockOptions {
  nLayers: number;
}

/**
 * Stacked Aaren: nLayers blocks and a final LayerNorm, x [B, T, dModel] → [B, T, dModel]. A stack of
 * Aaren blocks is a stacked RNN; its state is each layer's (m, u, w) ('layers.i.m', …).
 */
export class Aaren extends SequenceModule {
  readonly dModel: number;
  readonly nLayers: number;
  layers: AarenBlock[];
  norm: nn.LayerNorm;

  constructor(options: AarenOptions) {
    super();
    this.nLayers = checkPositive('Aaren', 'nLayers', options.nLayers);
    this.dModel = checkPositive('Aaren', 'dModel', options.dModel);
    this.layers = Array.from({ length: options.nLayers }, () => new AarenBlock(options));
    this.norm = new nn.LayerNorm(options.dModel);
  }

  run(x: Tensor, state?: StreamState): { y: Tensor; state: StreamState } {
    checkTokens('Aaren', x, this.dModel);
    let h = x;
    let next: StreamState = {};
    this.layers.forEach((layer, i) => {
      const prefix = `layers.${i}.`;
      const s = state ? subState('Aaren', prefix, state, ATTENTION_STATE_KEYS) : undefined;
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
