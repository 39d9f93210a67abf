import { Aaren } from '@recur/aaren';
import { Transformer, trimKvCache } from '@recur/baselines';
import {
  Generator,
  manualSeed,
  nn,
  noGrad,
  optim,
  type StreamState,
  stack,
  type Tensor,
  tensor,
  tidy,
} from '@recur/tensor';
import { datasetSize, episodeRanges, type OfflineDataset, returnToGo } from './dataset.js';
import type { Action } from './env.js';
import type { Space } from './spaces.js';

/**
 * The sequence model inside a Decision Transformer: Aaren (constant state per step) or a
 * Transformer (KV cache of the last K timesteps).
 */
export type Backbone = 'aaren' | 'transformer';

/**
 * Options of a DecisionTransformer: observation size and action space, the backbone and its sizes,
 * the context length K, the largest timestep, and the scales of returns and observations.
 */
export interface DecisionTransformerOptions {
  observationDim: number;
  /** The environment's action space: discrete → softmax head, box → tanh head scaled to the box. */
  actionSpace: Space;
  backbone: Backbone;
  /** Context length K in timesteps (3K tokens). Default 20, as in the Decision Transformer paper. */
  context?: number;
  /** Timesteps embedded (the environment's episode limit); later steps reuse the last embedding. */
  maxTimestep: number;
  /** Returns-to-go are divided by this before embedding. Default 1. */
  returnScale?: number;
  /** Per-coordinate observation mean and standard deviation used to normalise states. */
  stateMean?: ArrayLike<number>;
  stateStd?: ArrayLike<number>;
  dModel?: number;
  nLayers?: number;
  nHeads?: number;
  dFF?: number;
  dropout?: number;
}

/** One window of timesteps per sequence, as the model reads it. */
export interface TrajectoryBatch {
  /** [B, T] returns-to-go (unscaled). */
  returnsToGo: Float32Array;
  /** [B, T, observationDim] raw observations. */
  observations: Float32Array;
  /** `[B, T, actionDim]`: discrete actions as their index (actionDim 1), continuous as vectors. */
  actions: Float32Array;
  /** [B, T] timestep of each row within its episode. */
  timesteps: Int32Array;
  batch: number;
  length: number;
}

/**
 * Decision Transformer (Chen et al. 2021): a causal sequence model over interleaved
 * (return-to-go, state, action) tokens, each a linear embedding plus a timestep embedding, followed
 * by a LayerNorm; the action is predicted from the output at each state token. The backbone is a
 * stacked Aaren (`'aaren'`) or the causal Transformer (`'transformer'`); neither adds positions
 * of its own (the timestep embedding is the only position signal).
 */
export class DecisionTransformer extends nn.Module {
  readonly options: Required<
    Omit<DecisionTransformerOptions, 'stateMean' | 'stateStd' | 'dropout'>
  > & { dropout: number };
  readonly actionInputDim: number;
  readonly stateMean: Float32Array;
  readonly stateStd: Float32Array;
  embedReturn: nn.Linear;
  embedState: nn.Linear;
  embedAction: nn.Linear;
  embedTimestep: nn.Embedding;
  embedNorm: nn.LayerNorm;
  backbone: Aaren | Transformer;
  actionHead: nn.Linear;

  constructor(options: DecisionTransformerOptions) {
    super();
    const dModel = options.dModel ?? 32;
    const full = {
      observationDim: options.observationDim,
      actionSpace: options.actionSpace,
      backbone: options.backbone,
      context: options.context ?? 20,
      maxTimestep: options.maxTimestep,
      returnScale: options.returnScale ?? 1,
      dModel,
      nLayers: options.nLayers ?? 2,
      nHeads: options.nHeads ?? 2,
      dFF: options.dFF ?? 4 * dModel,
      dropout: options.dropout ?? 0,
    };
    for (const key of ['observationDim', 'context', 'maxTimestep', 'dModel', 'nLayers'] as const) {
      nn.checkPositive('DecisionTransformer', key, full[key]);
    }
    if (full.backbone !== 'aaren' && full.backbone !== 'transformer') {
      throw new Error(
        `DecisionTransformer: unknown backbone '${String(full.backbone)}' (expected aaren or transformer)`,
      );
    }
    if (!(full.returnScale > 0)) {
      throw new Error(`DecisionTransformer: returnScale must be positive, got ${full.returnScale}`);
    }
    this.options = full;
    const space = options.actionSpace;
    this.actionInputDim = space.kind === 'discrete' ? space.n : space.shape[0];
    const obsDim = options.observationDim;
    this.stateMean = Float32Array.from(options.stateMean ?? new Float32Array(obsDim));
    this.stateStd = Float32Array.from(options.stateStd ?? new Float32Array(obsDim).fill(1));
    if (this.stateMean.length !== obsDim || this.stateStd.length !== obsDim) {
      throw new Error(
        `DecisionTransformer: stateMean/stateStd must have ${obsDim} values, got ${this.stateMean.length}/${this.stateStd.length}`,
      );
    }
    this.embedReturn = new nn.Linear(1, dModel);
    this.embedState = new nn.Linear(obsDim, dModel);
    this.embedAction = new nn.Linear(this.actionInputDim, dModel);
    this.embedTimestep = new nn.Embedding(full.maxTimestep, dModel);
    this.embedNorm = new nn.LayerNorm(dModel);
    const block = {
      nLayers: full.nLayers,
      dModel,
      nHeads: full.nHeads,
      dFF: full.dFF,
      dropout: full.dropout,
    };
    this.backbone = full.backbone === 'aaren' ? new Aaren(block) : new Transformer(block);
    this.actionHead = new nn.Linear(dModel, this.actionInputDim);
  }

  /** Embedded tokens [B, 3T, d]: (R̂_t, s_t, a_t) for t = 0 … T − 1. */
  embed(batch: TrajectoryBatch): Tensor {
    const { batch: B, length: T } = batch;
    const d = this.options.dModel;
    const time = this.embedTimestep.forward(
      tensor(clampTimesteps(batch.timesteps, this.options.maxTimestep), { shape: [B, T] }),
    );
    const r = this.embedReturn.forward(
      tensor(this.scaleReturns(batch.returnsToGo), { shape: [B, T, 1] }),
    );
    const s = this.embedState.forward(
      tensor(this.normaliseStates(batch.observations), {
        shape: [B, T, this.options.observationDim],
      }),
    );
    const a = this.embedAction.forward(
      tensor(this.actionInputs(batch.actions), { shape: [B, T, this.actionInputDim] }),
    );
    const tokens = stack([r.add(time), s.add(time), a.add(time)], 2).reshape([B, 3 * T, d]);
    return this.embedNorm.forward(tokens);
  }

  /**
   * Parallel mode: the action head's output at every state token, [B, T, n] logits for a discrete
   * space or [B, T, dim] actions (tanh, scaled to the box) for a continuous one.
   */
  override forward(batch: TrajectoryBatch): Tensor {
    const { batch: B, length: T } = batch;
    const h = this.backbone.forward(this.embed(batch));
    const atStates = h.reshape([B, T, 3, this.options.dModel]).slice(2, 1, 2).squeeze(2);
    return this.head(atStates);
  }

  /** Action head on hidden states [..., d]. */
  head(h: Tensor): Tensor {
    const out = this.actionHead.forward(h);
    const space = this.options.actionSpace;
    if (space.kind === 'discrete') return out;
    const mid = Array.from(space.low, (l, i) => (l + space.high[i]!) / 2);
    const half = Array.from(space.low, (l, i) => (space.high[i]! - l) / 2);
    return out.tanh().mul(tensor(half)).add(tensor(mid));
  }

  /** The action a head output stands for: argmax for a discrete space, the vector otherwise. */
  actionFromOutput(output: ArrayLike<number>): Action {
    if (this.options.actionSpace.kind !== 'discrete') return Array.from(output);
    let best = 0;
    for (let i = 1; i < output.length; i++) if (output[i]! > output[best]!) best = i;
    return best;
  }

  /** Training loss on a batch, over the rows `mask` marks valid ([B, T], 1 or 0). */
  loss(batch: TrajectoryBatch, mask: Float32Array): Tensor {
    const { batch: B, length: T } = batch;
    const out = this.forward(batch);
    if (this.options.actionSpace.kind === 'discrete') {
      const target = Int32Array.from(batch.actions, (a, i) => (mask[i] ? a : -100));
      return nn.crossEntropy(out.reshape([B * T, this.actionInputDim]), tensor(target), {
        ignoreIndex: -100,
      });
    }
    const dim = this.actionInputDim;
    const m = tensor(mask, { shape: [B, T, 1] });
    const err = out
      .sub(tensor(batch.actions, { shape: [B, T, dim] }))
      .square()
      .mul(m);
    let valid = 0;
    for (const v of mask) valid += v;
    return err.sum().div(valid * dim);
  }

  /** Returns-to-go divided by the options' returnScale, as the model reads them. */
  scaleReturns(returnsToGo: ArrayLike<number>): Float32Array {
    return Float32Array.from(returnsToGo, (r) => r / this.options.returnScale);
  }

  /**
   * Observations (flattened, observationDim per step) standardised with the dataset's per-feature
   * mean and standard deviation.
   */
  normaliseStates(observations: ArrayLike<number>): Float32Array {
    const dim = this.options.observationDim;
    return Float32Array.from(
      observations,
      (v, i) => (v - this.stateMean[i % dim]!) / this.stateStd[i % dim]!,
    );
  }

  /** Discrete actions become one-hot rows; continuous ones pass through. */
  actionInputs(actions: ArrayLike<number>): Float32Array {
    const space = this.options.actionSpace;
    if (space.kind !== 'discrete') return Float32Array.from(actions);
    const out = new Float32Array(actions.length * space.n);
    for (let i = 0; i < actions.length; i++) {
      const a = actions[i]!;
      if (a >= 0) out[i * space.n + a] = 1;
    }
    return out;
  }
}

function clampTimesteps(t: Int32Array, max: number): Int32Array {
  return Int32Array.from(t, (v) => Math.max(0, Math.min(max - 1, v)));
}

/** Per-coordinate mean and standard deviation of a dataset's observations (std floored at 1e-6). */
export function observationStats(ds: OfflineDataset): { mean: Float32Array; std: Float32Array } {
  const dim = ds.observationDim;
  const n = datasetSize(ds);
  const mean = new Float64Array(dim);
  const sq = new Float64Array(dim);
  const obs = ds.observations;
  for (let i = 0; i < n * dim; i++) {
    const j = i % dim;
    mean[j] = mean[j]! + obs[i]! / n;
  }
  for (let i = 0; i < n * dim; i++) {
    const j = i % dim;
    sq[j] = sq[j]! + (obs[i]! - mean[j]!) ** 2 / n;
  }
  return {
    mean: Float32Array.from(mean),
    std: Float32Array.from(sq, (v) => Math.max(Math.sqrt(v), 1e-6)),
  };
}

/**
 * Draws training windows of up to K timesteps from a dataset: each starts at a uniformly drawn row
 * and runs to K rows or its episode's end; shorter windows are padded at the right (a causal model
 * never sees the padding from a valid row) and masked out of the loss.
 */
export class WindowSampler {
  readonly dataset: OfflineDataset;
  readonly context: number;
  readonly returnsToGo: Float32Array;
  private readonly ranges: [number, number][];
  private readonly episodeOf: Int32Array;

  constructor(ds: OfflineDataset, context: number) {
    this.dataset = ds;
    this.context = context;
    this.returnsToGo = returnToGo(ds);
    this.ranges = episodeRanges(ds);
    this.episodeOf = new Int32Array(datasetSize(ds));
    for (let i = 0; i < this.ranges.length; i++) {
      const [s, e] = this.ranges[i]!;
      this.episodeOf.fill(i, s, e);
    }
  }

  /**
   * Draws `batchSize` windows of up to K steps from random episodes; mask marks the real (not
   * padded) steps.
   */
  sample(batchSize: number, rng: Generator): { batch: TrajectoryBatch; mask: Float32Array } {
    const ds = this.dataset;
    const K = this.context;
    const obsDim = ds.observationDim;
    const actDim = ds.actionDim;
    const batch: TrajectoryBatch = {
      returnsToGo: new Float32Array(batchSize * K),
      observations: new Float32Array(batchSize * K * obsDim),
      actions: new Float32Array(batchSize * K * actDim),
      timesteps: new Int32Array(batchSize * K),
      batch: batchSize,
      length: K,
    };
    const mask = new Float32Array(batchSize * K);
    for (let b = 0; b < batchSize; b++) {
      const start = rng.nextInt(0, datasetSize(ds));
      const [epStart, epEnd] = this.ranges[this.episodeOf[start] as number]!;
      const end = Math.min(start + K, epEnd);
      for (let row = start; row < end; row++) {
        const j = b * K + (row - start);
        batch.returnsToGo[j] = this.returnsToGo[row]!;
        batch.observations.set(
          ds.observations.subarray(row * obsDim, (row + 1) * obsDim),
          j * obsDim,
        );
        batch.actions.set(ds.actions.subarray(row * actDim, (row + 1) * actDim), j * actDim);
        batch.timesteps[j] = row - epStart;
        mask[j] = 1;
      }
    }
    return { batch, mask };
  }
}

/**
 * Options of trainDecisionTransformer: steps, batch, AdamW's learning rate and weight decay,
 * clipping, seed, a time limit and a per-step callback.
 */
export interface TrainOptions {
  /** Optimiser steps. Default 500. */
  steps?: number;
  batchSize?: number;
  /** AdamW learning rate. Default 1e-3. */
  lr?: number;
  weightDecay?: number;
  /** Gradient-norm clip. Default 0.25 (the paper's). */
  clip?: number;
  /** Seeds the parameters' initialisation is not touched by this; it seeds window sampling. */
  seed?: number;
  /** Stop early after this many seconds of wall time. */
  maxSeconds?: number;
  /** Called after every optimiser step with its number (from 1) and loss. */
  onStep?: (step: number, loss: number) => void;
}

/** What training returns: the loss of each step, the steps taken and the wall time in seconds. */
export interface TrainResult {
  losses: number[];
  steps: number;
  seconds: number;
}

/** Trains a Decision Transformer on an offline dataset by action prediction (the paper's objective). */
export function trainDecisionTransformer(
  model: DecisionTransformer,
  ds: OfflineDataset,
  options: TrainOptions = {},
): TrainResult {
  const {
    steps = 500,
    batchSize = 16,
    lr = 1e-3,
    weightDecay = 1e-4,
    clip = 0.25,
    seed = 0,
  } = options;
  const rng = new Generator(seed);
  const sampler = new WindowSampler(ds, model.options.context);
  const params = model.parameters();
  const opt = new optim.AdamW(params, { lr, weightDecay });
  const losses: number[] = [];
  const started = performance.now();
  model.train();
  let step = 0;
  for (; step < steps; step++) {
    if (
      options.maxSeconds !== undefined &&
      (performance.now() - started) / 1000 > options.maxSeconds
    )
      break;
    const { batch, mask } = sampler.sample(batchSize, rng);
    const loss = tidy(() => {
      opt.zeroGrad();
      const l = model.loss(batch, mask);
      l.backward();
      optim.clipGradNorm(params, clip);
      opt.step();
      return l.item();
    });
    losses.push(loss);
    options.onStep?.(step, loss);
  }
  model.eval();
  return { losses, steps: step, seconds: (performance.now() - started) / 1000 };
}

/** Builds a model sized for a dataset: state normalisation from its observations. */
export function decisionTransformerFor(
  ds: OfflineDataset,
  options: Omit<DecisionTransformerOptions, 'observationDim' | 'stateMean' | 'stateStd'>,
  seed = 0,
): DecisionTransformer {
  const stats = observationStats(ds);
  manualSeed(seed);
  return new DecisionTransformer({
    ...options,
    observationDim: ds.observationDim,
    stateMean: stats.mean,
    stateStd: stats.std,
  });
}

/**
 * Acts with a trained Decision Transformer one environment step at a time, feeding tokens to the
 * backbone's streaming `step`: Aaren carries its constant-size state across the whole episode
 * (O(1) per step); the Transformer keeps a KV cache trimmed to the last K timesteps (the training
 * context), O(K) per step. In a multi-layer Transformer the cached keys of deeper layers were
 * computed when older tokens were still visible, as in any sliding-window KV cache.
 */
export class DecisionTransformerAgent {
  readonly model: DecisionTransformer;
  readonly targetReturn: number;
  /** Everything fed so far (for inspection and for comparing with the parallel forward). */
  history: {
    returnsToGo: number[];
    observations: number[][];
    actions: number[][];
    timesteps: number[];
  } = {
    returnsToGo: [],
    observations: [],
    actions: [],
    timesteps: [],
  };
  private state: StreamState | undefined;
  private returnToGo = 0;
  private pendingAction: number[] | undefined;

  constructor(model: DecisionTransformer, targetReturn: number) {
    this.model = model;
    this.targetReturn = targetReturn;
  }

  /**
   * Starts a new episode: a fresh backbone state and the return-to-go back at the target return.
   */
  reset(): void {
    this.state = noGrad(() => this.model.backbone.initState(1));
    this.returnToGo = this.targetReturn;
    this.pendingAction = undefined;
    this.history = { returnsToGo: [], observations: [], actions: [], timesteps: [] };
  }

  /** The action for `observation` and the head's raw output (logits or the continuous action). */
  act(observation: ArrayLike<number>): { action: Action; output: Float32Array } {
    if (!this.state) throw new Error('DecisionTransformerAgent: call reset() before act()');
    const t = this.history.timesteps.length;
    if (this.pendingAction) throw new Error('DecisionTransformerAgent: call observe() after act()');
    const m = this.model;
    const K = m.options.context;
    const timestep = Math.min(t, m.options.maxTimestep - 1);
    const { output, state: kept } = noGrad(() =>
      tidy(() => {
        let state = this.state!;
        if (m.options.backbone === 'transformer') state = trimKvCache(state, 3 * (K - 1));
        const time = m.embedTimestep.forward(tensor(Int32Array.of(timestep), { shape: [1] }));
        const feed = (x: Tensor) => {
          const { y, state: next } = m.backbone.step(m.embedNorm.forward(x.add(time)), state);
          state = next;
          return y;
        };
        const r = m.embedReturn.forward(
          tensor(m.scaleReturns([this.returnToGo]), { shape: [1, 1] }),
        );
        feed(r);
        const s = m.embedState.forward(
          tensor(m.normaliseStates(observation), { shape: [1, m.options.observationDim] }),
        );
        const out = m.head(feed(s));
        return { output: out.dataSync().slice() as Float32Array, state };
      }),
    );
    this.state = kept;
    const action = m.actionFromOutput(output);
    this.history.returnsToGo.push(this.returnToGo);
    this.history.observations.push(Array.from(observation));
    this.history.timesteps.push(t);
    this.pendingAction = typeof action === 'number' ? [action] : Array.from(action);
    return { action, output };
  }

  /** Feeds the action just taken and the reward it earned (updating the return-to-go). */
  observe(reward: number): void {
    const action = this.pendingAction;
    if (!action) throw new Error('DecisionTransformerAgent: observe() without a preceding act()');
    const m = this.model;
    const t = this.history.timesteps.length - 1;
    const timestep = Math.min(t, m.options.maxTimestep - 1);
    this.state = noGrad(() =>
      tidy(() => {
        const time = m.embedTimestep.forward(tensor(Int32Array.of(timestep), { shape: [1] }));
        const a = m.embedAction.forward(
          tensor(m.actionInputs(action), { shape: [1, m.actionInputDim] }),
        );
        return m.backbone.step(m.embedNorm.forward(a.add(time)), this.state!).state;
      }),
    );
    this.history.actions.push(action);
    this.returnToGo -= reward;
    this.pendingAction = undefined;
  }
}
