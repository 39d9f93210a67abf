import { totalmem } from 'node:os';
import { Aaren } from '@recur/aaren';
import { Aft, type AftVariant } from '@recur/aft';
import { GRU, LSTM, Transformer } from '@recur/baselines';
import {
  arange,
  SequenceModule,
  type StreamState,
  type Tensor,
  tensor,
  where,
} from '@recur/tensor';
import { CliError } from '../errors.js';
import {
  type Options,
  type OptionsOf,
  SEQUENCE_MODELS,
  type SequenceModelName,
} from '../options.js';

/** Everything needed to rebuild a sequence model: saved in a run's config.json. */
export interface BackboneConfig {
  name: SequenceModelName;
  layers: number;
  dModel: number;
  heads: number;
  dFF: number;
  /** aft-local: bias window; aft-conv: kernel size. */
  window: number;
  /** aft-full, aft-local: rank of the factorised position biases. */
  posDim: number;
  /** aft-full, aft-local: the longest sequence the position biases cover. */
  maxLen: number;
  dropout: number;
  /** Sinusoidal position encodings added to the inputs. */
  positions: boolean;
}

/** Whether `name` is one of {@link SEQUENCE_MODELS}. */
export function isSequenceModel(name: string): name is SequenceModelName {
  return SEQUENCE_MODELS.some((m) => m === name);
}

/**
 * An upper estimate of a config's parameters (every model's blocks: attention or recurrent weights,
 * feed-forward, norms, position biases) and of its largest single weight, in elements.
 */
export function estimateSize(cfg: BackboneConfig): { parameters: number; largest: number } {
  const { layers, dModel: d, dFF: f, heads, window, posDim, maxLen } = cfg;
  const rnn = cfg.name === 'lstm' || cfg.name === 'gru';
  const gates = cfg.name === 'lstm' ? 4 : 3;
  const positional = cfg.name === 'aft-full' || cfg.name === 'aft-local' ? 2 * posDim * maxLen : 0;
  const conv = cfg.name === 'aft-conv' ? heads * window : 0;
  const perLayer = rnn
    ? gates * (2 * d * d + 2 * d)
    : 4 * d * d + 2 * d * f + f + 12 * d + positional + conv + maxLen * maxLen;
  // Plus the sinusoidal position table and the input and output maps (a few d each).
  return {
    parameters: layers * perLayer + maxLen * d + 8 * d,
    largest: Math.max(rnn ? gates * d * d : d * f, d * d, posDim * maxLen, maxLen * maxLen),
  };
}

/** Bytes training may use: 3/4 of the machine's (or the container's) memory. */
export function memoryBudget(): number {
  const constrained = process.constrainedMemory?.() ?? 0;
  const total = totalmem();
  return 0.75 * (constrained > 0 ? Math.min(constrained, total) : total);
}

const GB = 2 ** 30;

/**
 * Refuses a config that cannot be allocated: its weights, gradients and AdamW moments (16 bytes a
 * parameter) beyond the memory budget, or one weight beyond what a typed array can hold.
 */
export function checkModelFits(cfg: BackboneConfig, budget = memoryBudget()): void {
  const { parameters, largest } = estimateSize(cfg);
  const rnn = cfg.name === 'lstm' || cfg.name === 'gru';
  const sizes = `--layers ${cfg.layers} --d-model ${cfg.dModel}${rnn ? '' : ` --d-ff ${cfg.dFF}`}${
    cfg.name === 'aft-full' || cfg.name === 'aft-local' ? ` --pos-dim ${cfg.posDim}` : ''
  }${cfg.name === 'aft-conv' || cfg.name === 'aft-local' ? ` --window ${cfg.window}` : ''}`;
  const need = parameters * 16;
  if (need > budget) {
    throw new CliError(
      `${cfg.name} with ${sizes} is too large: about ${parameters.toExponential(2)} parameters need about ${(need / GB).toFixed(1)} GB to train (weights, gradients and AdamW state), and this machine allows ${(budget / GB).toFixed(1)} GB; use smaller sizes`,
    );
  }
  if (largest > 2 ** 31 - 1) {
    throw new CliError(
      `${cfg.name} with ${sizes} is too large: one weight would have ${largest.toExponential(2)} elements (at most ${2 ** 31 - 1}); use smaller sizes`,
    );
  }
}

/** What the CLI knows of one sequence model: how to build it and what it costs. */
export interface ModelDef {
  /** The bare model [B, T, d] → [B, T, d] of a config (no positions, no heads). */
  create(cfg: BackboneConfig): SequenceModule;
  /**
   * FLOPs (a multiply-add is 2) to process one token at position n (n tokens already seen) in
   * streaming mode, counting matrix products, attention over the cache, the scan update and the
   * element-wise work of norms and activations to first order.
   */
  flops(z: FlopsSizes, n: number): number;
  /** Whether --positions auto means sinusoidal encodings added to the inputs. */
  positions: boolean;
  /** Whether --heads splits --d-model (and so must divide it). */
  heads: boolean;
}

/** A config's sizes under the short names the FLOPs formulas use. */
export interface FlopsSizes {
  layers: number;
  d: number;
  /** Feed-forward width. */
  f: number;
  heads: number;
  /** --window. */
  s: number;
  /** --pos-dim. */
  p: number;
}

/**
 * FLOPs of a stack of pre-norm blocks whose token mixing costs `mixing`: each block adds its
 * feed-forward (two linear maps and the activation) and two LayerNorms, the stack a final LayerNorm.
 */
function blockStack({ layers, d, f }: FlopsSizes, mixing: number): number {
  return layers * (mixing + 4 * d * f + f + 2 * 8 * d) + 8 * d;
}

/** The options of an attention stack with heads (Aaren, Transformer). */
function headedOptions(c: BackboneConfig) {
  return { nLayers: c.layers, dModel: c.dModel, nHeads: c.heads, dFF: c.dFF, dropout: c.dropout };
}

/** The options of an LSTM or GRU of width d (input and hidden). */
function rnnOptions(c: BackboneConfig) {
  return { inputSize: c.dModel, hiddenSize: c.dModel, numLayers: c.layers, dropout: c.dropout };
}

/** A stack of AFT blocks of one variant. */
function aftCore(variant: AftVariant): ModelDef['create'] {
  return (cfg) =>
    new Aft({
      variant,
      nLayers: cfg.layers,
      dModel: cfg.dModel,
      dFF: cfg.dFF,
      dropout: cfg.dropout,
      causal: true,
      maxLen: cfg.maxLen,
      posDim: cfg.posDim,
      window: cfg.window,
      heads: cfg.heads,
    });
}

/** FLOPs of an LSTM or GRU with `gates` gates: per layer, the gates' two maps and the update. */
function rnnFlops(gates: number): ModelDef['flops'] {
  return ({ layers, d }) => layers * (2 * gates * d * (2 * d) + 12 * d);
}

/** Every sequence model `--model` accepts: adding one is one entry here. */
export const MODEL_DEFS: Record<SequenceModelName, ModelDef> = {
  aaren: {
    create: (c) => new Aaren(headedOptions(c)),
    // k, v and output projections (q = W_q q0 does not depend on the token, so it is computed once
    // per sequence); the (m, u, w) update: per head max, two exps, a scaled accumulation of d_head.
    flops: (z) => blockStack(z, 3 * 2 * z.d * z.d + (4 * z.d + 6 * z.heads)),
    positions: true,
    heads: true,
  },
  transformer: {
    create: (c) => new Transformer(headedOptions(c)),
    // q, k, v, o projections; scores q·k over n + 1 keys and the weighted sum of as many values.
    flops: (z, n) => blockStack(z, 4 * 2 * z.d * z.d + 4 * (n + 1) * z.d + 5 * (n + 1) * z.heads),
    positions: true,
    heads: true,
  },
  'aft-full': {
    create: aftCore('full'),
    // projections; the bias row w[n, 0..n] = U_n · V_jᵀ; numerator and denominator over n + 1 tokens.
    flops: (z, n) => blockStack(z, 4 * 2 * z.d * z.d + 2 * (n + 1) * z.p + 6 * (n + 1) * z.d),
    positions: false,
    heads: false,
  },
  'aft-local': {
    create: aftCore('local'),
    // projections; biases inside the window; window terms plus the running global sums.
    flops: (z) => blockStack(z, 4 * 2 * z.d * z.d + 2 * z.s * z.p + 6 * z.s * z.d + 10 * z.d),
    positions: false,
    heads: false,
  },
  'aft-simple': {
    create: aftCore('simple'),
    // q, k, v, o projections; per channel a (max, exp, accumulate) update and the sigmoid gate.
    flops: (z) => blockStack(z, 4 * 2 * z.d * z.d + 10 * z.d),
    positions: true,
    heads: false,
  },
  'aft-conv': {
    create: aftCore('conv1d'),
    // q, v, o projections and one key per head; a depthwise conv of width s plus global sums.
    flops: (z) => blockStack(z, 3 * 2 * z.d * z.d + 2 * z.d * z.heads + 4 * z.s * z.d + 10 * z.d),
    positions: false,
    heads: true,
  },
  lstm: {
    create: (c) => new LSTM(rnnOptions(c)),
    flops: rnnFlops(4),
    positions: false,
    heads: false,
  },
  gru: {
    create: (c) => new GRU(rnnOptions(c)),
    flops: rnnFlops(3),
    positions: false,
    heads: false,
  },
};

/** Whether `auto` positions mean sinusoidal encodings for this model. */
export function defaultPositions(name: SequenceModelName): boolean {
  return MODEL_DEFS[name].positions;
}

/** The bare sequence model [B, T, d] → [B, T, d] of a config (no positions, no heads). */
export function createCore(cfg: BackboneConfig): SequenceModule {
  checkModelFits(cfg);
  const def = MODEL_DEFS[cfg.name];
  if (!def) throw new CliError(`unknown model '${String(cfg.name)}'`);
  if (def.heads && cfg.dModel % cfg.heads !== 0) {
    throw new CliError(`--heads ${cfg.heads} must divide --d-model ${cfg.dModel}`);
  }
  return def.create(cfg);
}

/** The options that size a sequence model (info and bench stream have no dropout or positions). */
export type SizeOptions = Pick<
  OptionsOf<'info'>,
  'layers' | 'dModel' | 'heads' | 'dFF' | 'window' | 'posDim'
> &
  Pick<Options, 'dropout' | 'positions'>;

/** The backbone config of the options (sizes, dropout, positions) for sequences up to maxLen. */
export function backboneConfig(name: string, o: SizeOptions, maxLen: number): BackboneConfig {
  if (!isSequenceModel(name)) throw new CliError(`--model ${name} is not a sequence model`);
  const positions = o.positions ?? 'auto';
  const cfg: BackboneConfig = {
    name,
    layers: o.layers,
    dModel: o.dModel,
    heads: o.heads,
    dFF: o.dFF ?? 2 * o.dModel,
    // A window (aft-local bias band, aft-conv kernel) beyond the sequence has no effect past it.
    window: Math.min(o.window, maxLen),
    posDim: o.posDim,
    maxLen,
    dropout: o.dropout ?? 0,
    positions: positions === 'auto' ? defaultPositions(name) : positions === 'sinusoidal',
  };
  checkModelFits(cfg);
  return cfg;
}

/** Sinusoidal encodings of positions [offset, offset + t) for width d: [t, d] values. */
export function sinusoid(offset: number, t: number, d: number): Float32Array {
  const out = new Float32Array(t * d);
  for (let p = 0; p < t; p++) {
    const pos = offset + p;
    for (let i = 0; i < d; i += 2) {
      const angle = pos / 10000 ** (i / d);
      out[p * d + i] = Math.sin(angle);
      if (i + 1 < d) out[p * d + i + 1] = Math.cos(angle);
    }
  }
  return out;
}

/**
 * A sequence model with optional sinusoidal positions added to its inputs, on the streaming
 * contract: the position of the next token is part of the state ('pos'), the model's own state
 * entries are nested under 'core.'.
 */
export class Backbone extends SequenceModule {
  readonly cfg: BackboneConfig;
  core: SequenceModule;

  constructor(cfg: BackboneConfig) {
    super();
    this.cfg = cfg;
    this.core = createCore(cfg);
  }

  /**
   * The encodings of positions offset..offset+t−1 (`offset`: a [1] tensor), computed with tensor ops
   * (a range times each channel's frequency, sin on even channels and cos on odd ones) so that the
   * offset never leaves the device and an exported graph computes them for any position; `sinusoid`
   * is the same in float64.
   */
  #positions(offset: Tensor | null, t: number): Tensor {
    const d = this.cfg.dModel;
    const freq = new Float32Array(d);
    const even = new Int32Array(d);
    for (let i = 0; i < d; i++) {
      freq[i] = 1 / 10000 ** ((i - (i % 2)) / d);
      even[i] = i % 2 === 0 ? 1 : 0;
    }
    const range = arange(0, t, 1, { dtype: 'float32' }).reshape([t, 1]);
    const pos = offset ? range.add(offset.reshape([1, 1])) : range;
    const angle = pos.mul(tensor(freq, { shape: [1, d] }));
    return where(tensor(even, { shape: [1, d], dtype: 'int32' }), angle.sin(), angle.cos());
  }

  run(x: Tensor, state?: StreamState): { y: Tensor; state: StreamState } {
    const t = x.shape[1]!;
    const offset = state?.pos ?? null;
    let core: StreamState | undefined;
    if (state) {
      core = {};
      for (const [k, v] of Object.entries(state)) if (k.startsWith('core.')) core[k.slice(5)] = v;
    }
    const h = this.cfg.positions ? x.add(this.#positions(offset, t)) : x;
    const out = this.core.run(h, core);
    const next: StreamState = { pos: offset ? offset.add(t) : tensor([t]) };
    for (const [k, v] of Object.entries(out.state)) next[`core.${k}`] = v;
    return { y: out.y, state: next };
  }

  initState(batch: number): StreamState {
    const next: StreamState = { pos: tensor([0]) };
    for (const [k, v] of Object.entries(this.core.initState(batch))) next[`core.${k}`] = v;
    return next;
  }
}
