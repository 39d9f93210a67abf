import { TensorError } from '../errors.js';
import { entriesUnder, prefixState, SequenceModule, type StreamState } from '../streaming.js';
import type { Tensor } from '../tensor.js';
import { Dropout, GELU, LayerNorm, Linear, ReLU, SiLU } from './layers.js';
import type { Module } from './module.js';

/** Feed-forward activations the model packages accept by name. */
export type ActivationName = 'relu' | 'gelu' | 'silu';

/** The activation module for a name; an unknown name is an error naming `op`. */
export function activation(op: string, name: ActivationName): Module {
  if (name === 'relu') return new ReLU();
  if (name === 'gelu') return new GELU();
  if (name === 'silu') return new SiLU();
  throw new TensorError(op, `unknown activation '${String(name)}' (expected relu, gelu or silu)`);
}

/** Checks a size argument: a positive integer, or an error naming the op and the argument. */
export function checkPositive(op: string, name: string, v: number): number {
  if (!Number.isInteger(v) || v < 1) {
    throw new TensorError(op, `expected ${name} to be a positive integer, got ${v}`);
  }
  return v;
}

/** Checks a block of tokens: x [batch, tokens, features]. */
export function checkTokens(op: string, x: Tensor, features: number): void {
  if (x.rank !== 3 || x.shape[2] !== features) {
    throw new TensorError(
      op,
      `expected x of shape [batch, tokens, ${features}], got [${x.shape.join(', ')}]`,
    );
  }
}

/**
 * Checks that `t` has exactly `shape`; a null entry matches any size and is shown as its label
 * (`labels[i]`, default '*'). The error names the op, the tensor, the expected and the actual shape,
 * e.g. "expected state 'k' of shape [2, 4, tokens, 16], got [2, 4, 7]".
 */
export function checkShape(
  op: string,
  name: string,
  t: Tensor,
  shape: readonly (number | null)[],
  labels: readonly string[] = [],
): void {
  if (t.rank !== shape.length || shape.some((d, i) => d !== null && t.shape[i] !== d)) {
    const want = shape.map((d, i) => (d === null ? (labels[i] ?? '*') : String(d))).join(', ');
    throw new TensorError(op, `expected ${name} of shape [${want}], got [${t.shape.join(', ')}]`);
  }
}

/**
 * Options every pre-LayerNorm block shares (x + mixer(LN(x)), then x + FFN(LN(x))): width,
 * feed-forward width, dropout, activation and biases.
 */
export interface PreNormBlockOptions {
  dModel: number;
  /** Feed-forward width. Default 4 · dModel. */
  dFF?: number;
  /** Dropout after the mixer and after the feed-forward (training only). Default 0. */
  dropout?: number;
  /** Feed-forward activation. Default 'relu' (the papers' Transformer). */
  activation?: ActivationName;
  /** Biases in the feed-forward. Default true. */
  bias?: boolean;
}

/** A token mixer: maps [..., dModel] to the same shape. A SequenceModule mixer can also stream. */
export type Mixer = Module & {
  /** Mixes information across tokens: x [..., dModel] → [..., dModel]. */
  forward(x: Tensor): Tensor;
};

/**
 * The pre-LayerNorm Transformer block around any token mixer (softmax attention, Aaren attention,
 * AFT…): x + Drop(Mixer(LN(x))), then + Drop(FF(LN(·))) with FF = Linear(d, dFF) → activation →
 * Linear(dFF, d). Parameter names ('norm1', 'attn', 'norm2', 'ff1', 'ff2') are the same for every
 * mixer, so models built on it line up. When the mixer is a SequenceModule the block streams with
 * the mixer's state; other mixers (over image grids, say) have `forward` only.
 */
export class PreNormBlock<M extends Mixer = SequenceModule> extends SequenceModule {
  readonly dModel: number;
  norm1: LayerNorm;
  attn: M;
  norm2: LayerNorm;
  ff1: Linear;
  act: Module;
  ff2: Linear;
  drop: Dropout;

  constructor(
    mixer: M,
    {
      dModel,
      dFF = 4 * dModel,
      dropout = 0,
      activation: act = 'relu',
      bias = true,
    }: PreNormBlockOptions,
  ) {
    super();
    const op = new.target.name;
    this.dModel = checkPositive(op, 'dModel', dModel);
    checkPositive(op, 'dFF', dFF);
    this.norm1 = new LayerNorm(dModel);
    this.attn = mixer;
    this.norm2 = new LayerNorm(dModel);
    this.ff1 = new Linear(dModel, dFF, { bias });
    this.act = activation(op, act);
    this.ff2 = new Linear(dFF, dModel, { bias });
    this.drop = new Dropout(dropout);
  }

  /** x + Drop(mixed), then the feed-forward residual. */
  private residual(x: Tensor, mixed: Tensor): Tensor {
    const h = x.add(this.drop.forward(mixed));
    const f = this.ff2.forward(this.act.forward(this.ff1.forward(this.norm2.forward(h))) as Tensor);
    return h.add(this.drop.forward(f));
  }

  /** Any input the mixer takes ([B, T, d], or [B, H, W, d] for a grid mixer). */
  override forward(x: Tensor): Tensor {
    const op = this.constructor.name;
    if (this.attn instanceof SequenceModule) checkTokens(op, x, this.dModel);
    else if (x.rank < 2 || x.shape[x.rank - 1] !== this.dModel) {
      throw new TensorError(
        op,
        `expected x of shape [..., ${this.dModel}], got [${x.shape.join(', ')}]`,
      );
    }
    return this.residual(x, this.attn.forward(this.norm1.forward(x)) as Tensor);
  }

  run(x: Tensor, state?: StreamState): { y: Tensor; state: StreamState } {
    checkTokens(this.constructor.name, x, this.dModel);
    const a = this.streamingMixer('run').run(this.norm1.forward(x), state);
    return { y: this.residual(x, a.y), state: a.state };
  }

  initState(batch: number): StreamState {
    return this.streamingMixer('initState').initState(batch);
  }

  private streamingMixer(op: string): SequenceModule {
    if (!(this.attn instanceof SequenceModule)) {
      throw new TensorError(
        `${this.constructor.name}.${op}`,
        `its mixer ${this.attn.constructor.name} is not a sequence module: it has no stream (use forward)`,
      );
    }
    return this.attn;
  }
}

/**
 * A stack of sequence layers and a final LayerNorm, x [B, T, dModel] → [B, T, dModel]: a stacked RNN
 * when the layers stream. Its state is every layer's, prefixed 'layers.i.'.
 */
export class SequenceStack<L extends SequenceModule = SequenceModule> extends SequenceModule {
  readonly dModel: number;
  layers: L[];
  norm: LayerNorm;

  constructor(layers: L[], dModel: number) {
    super();
    const op = new.target.name;
    this.dModel = checkPositive(op, 'dModel', dModel);
    if (layers.length === 0)
      throw new TensorError(op, 'expected at least one layer (nLayers >= 1)');
    this.layers = layers;
    this.norm = new LayerNorm(dModel);
  }

  /** The number of stacked layers. */
  get nLayers(): number {
    return this.layers.length;
  }

  /** Layer after layer, then the final LayerNorm (any input the layers take). */
  override forward(x: Tensor): Tensor {
    let h = x;
    for (const layer of this.layers) h = layer.forward(h);
    return this.norm.forward(h);
  }

  run(x: Tensor, state?: StreamState): { y: Tensor; state: StreamState } {
    checkTokens(this.constructor.name, x, this.dModel);
    let h = x;
    const next: StreamState = {};
    this.layers.forEach((layer, i) => {
      const prefix = `layers.${i}.`;
      // Each layer checks its own entries (and says which are missing).
      const out = layer.run(h, state ? entriesUnder(prefix, state) : undefined);
      h = out.y;
      Object.assign(next, prefixState(prefix, out.state));
    });
    return { y: this.norm.forward(h), state: next };
  }

  initState(batch: number): StreamState {
    const s: StreamState = {};
    this.layers.forEach((layer, i) => {
      Object.assign(s, prefixState(`layers.${i}.`, layer.initState(batch)));
    });
    return s;
  }
}
