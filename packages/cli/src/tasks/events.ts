import { type Generator, logsumexp, nn, type Tensor, type TypedArray, tensor } from '@recur/tensor';
import {
  type EventSequence,
  type EventSplits,
  loadEvents,
  windowSequences,
} from '../data/events.js';
import { CliError } from '../errors.js';
import { type BackboneConfig, backboneConfig } from '../models/backbone.js';
import { EventsNet } from '../models/nets.js';
import type { OptionsOf } from '../options.js';
import { TASK_INFO } from './catalog.js';
import { baseNames, chunk, evalBatches, evalBatchSize, permutation, readBatch } from './common.js';
import type { Metrics, NeuralTask, TaskDef } from './types.js';

/** Inter-event times below this are raised to it (equal timestamps would have log-likelihood −∞). */
export const MIN_INTERVAL = 1e-8;
const LOG_SQRT_2PI = 0.5 * Math.log(2 * Math.PI);
/** Bounds of a component's log σ (in standardised log-time units), for stable training. */
const LOG_SIGMA_MIN = -5;
const LOG_SIGMA_MAX = 1.5;

export interface EventsTaskConfig {
  marks: number;
  mixtures: number;
  /** Mean and std of log inter-event times on the training split (the mixture's standardisation). */
  logMean: number;
  logStd: number;
  /**
   * The two reference models fitted on the training split, reported beside every model's NLL:
   * log-probabilities of the marks by their frequency (add-one smoothed) and the rate of a
   * homogeneous Poisson process (events per unit time).
   */
  baseline?: { markLogProb: number[]; rate: number };
  /** Training batches grouped by length (set with --max-events). */
  bucketed?: boolean;
}

/**
 * The reference models of `EventsTaskConfig.baseline` fitted on `seqs`: mark frequencies with
 * add-one smoothing over `marks` marks, and the Poisson rate n / Σ τ (maximum likelihood).
 */
export function fitEventBaselines(
  seqs: readonly EventSequence[],
  marks: number,
): { markLogProb: number[]; rate: number } {
  const counts = new Float64Array(marks);
  let n = 0;
  let total = 0;
  for (const s of seqs) {
    for (const m of s.marks) counts[m] = counts[m]! + 1;
    for (const t of intervals(s).tau) total += t;
    n += s.marks.length;
  }
  const denom = n + marks;
  return {
    markLogProb: Array.from(counts, (c) => Math.log((c + 1) / denom)),
    rate: n / total,
  };
}

/** Sequences shuffled with `rng`, then sorted by length within pools of 8 batches, in shuffled batches. */
function bucketedBatches(
  seqs: readonly EventSequence[],
  batchSize: number,
  rng: Generator,
): EventSequence[][] {
  const order = permutation(seqs.length, rng).map((i) => seqs[i]!);
  const batches: EventSequence[][] = [];
  const pool = batchSize * 8;
  for (let at = 0; at < order.length; at += pool) {
    const part = order.slice(at, at + pool).sort((a, b) => a.marks.length - b.marks.length);
    batches.push(...chunk(part, batchSize));
  }
  return permutation(batches.length, rng).map((i) => batches[i]!);
}

/** Inter-event times of a sequence: τ_k = t_k − t_{k−1} with t_{−1} = 0, floored at MIN_INTERVAL. */
export function intervals(seq: EventSequence): { tau: Float64Array; floored: number } {
  const tau = new Float64Array(seq.times.length);
  let floored = 0;
  let prev = 0;
  seq.times.forEach((t, k) => {
    let d = t - prev;
    if (d < MIN_INTERVAL) {
      d = MIN_INTERVAL;
      floored++;
    }
    tau[k] = d;
    prev = t;
  });
  return { tau, floored };
}

export function fitLogTimes(seqs: readonly EventSequence[]): {
  logMean: number;
  logStd: number;
  floored: number;
} {
  let s = 0;
  let sq = 0;
  let n = 0;
  let floored = 0;
  for (const seq of seqs) {
    const iv = intervals(seq);
    floored += iv.floored;
    for (const v of iv.tau) {
      const l = Math.log(v);
      s += l;
      sq += l * l;
      n++;
    }
  }
  const logMean = s / n;
  const variance = sq / n - logMean * logMean;
  return { logMean, logStd: variance > 1e-12 ? Math.sqrt(variance) : 1, floored };
}

interface EventBatch {
  marksIn: Tensor;
  timesIn: Tensor;
  marksOut: Tensor;
  /** Standardised log τ of the target events [B, T, 1]. */
  zOut: Tensor;
  /** Σ log τ over target events (the Jacobian term), per batch. */
  logTauSum: number;
  tau: Float64Array;
  mask: Tensor;
  maskHost: Float32Array;
  marksHost: Int32Array;
  events: number;
}

/**
 * A padded batch: input token 0 is the start mark, token k ≥ 1 is event k − 1 (its mark and its
 * standardised log inter-event time); the target at token k is event k.
 */
function eventBatch(seqs: readonly EventSequence[], cfg: EventsTaskConfig): EventBatch {
  const b = seqs.length;
  const t = Math.max(...seqs.map((s) => s.marks.length));
  const marksIn = new Int32Array(b * t).fill(cfg.marks);
  const timesIn = new Float32Array(b * t);
  const marksOut = new Int32Array(b * t);
  const zOut = new Float32Array(b * t);
  const tauAll = new Float64Array(b * t);
  const mask = new Float32Array(b * t);
  let logTauSum = 0;
  let events = 0;
  seqs.forEach((seq, i) => {
    const { tau } = intervals(seq);
    const n = seq.marks.length;
    for (let k = 0; k < n; k++) {
      const z = (Math.log(tau[k]!) - cfg.logMean) / cfg.logStd;
      const at = i * t + k;
      marksOut[at] = seq.marks[k]!;
      zOut[at] = z;
      tauAll[at] = tau[k]!;
      mask[at] = 1;
      logTauSum += Math.log(tau[k]!);
      if (k + 1 < t) {
        marksIn[at + 1] = seq.marks[k]!;
        timesIn[at + 1] = z;
      }
    }
    events += n;
  });
  return {
    marksIn: tensor(marksIn, { shape: [b, t], dtype: 'int32' }),
    timesIn: tensor(timesIn, { shape: [b, t, 1] }),
    marksOut: tensor(marksOut, { shape: [b * t], dtype: 'int32' }),
    zOut: tensor(zOut, { shape: [b, t, 1] }),
    logTauSum,
    tau: tauAll,
    mask: tensor(mask, { shape: [b, t] }),
    maskHost: mask,
    marksHost: marksOut,
    events,
  };
}

/**
 * Negative log-likelihood terms of a batch, per token [B, T] (0 at padding): the next mark's
 * cross-entropy and the next interval's −log p_z(z) under the mixture of Gaussians in standardised
 * log time. The exact −log p(τ) adds log σ₀ + log τ per event (constant in the parameters).
 */
function nllTerms(
  net: EventsNet,
  batch: EventBatch,
): {
  markNll: Tensor;
  timeNll: Tensor;
  markLogits: Tensor;
  logw: Tensor;
  mu: Tensor;
  logSigma: Tensor;
} {
  const { markLogits, mixture } = net.forward(batch.marksIn, batch.timesIn);
  const [b, t] = batch.marksIn.shape as [number, number];
  const m = net.mixtures;
  const [w, mu, ls] = mixture.split(m, -1) as [Tensor, Tensor, Tensor];
  const logw = w.logSoftmax(-1);
  const logSigma = ls.clamp(LOG_SIGMA_MIN, LOG_SIGMA_MAX);
  const u = batch.zOut.sub(mu).div(logSigma.exp());
  const comp = logw.sub(logSigma).sub(u.square().mul(0.5)).sub(LOG_SQRT_2PI);
  const timeNll = logsumexp(comp, -1).neg().mul(batch.mask);
  const markNll = nn
    .crossEntropy(markLogits.reshape([b * t, net.marks]), batch.marksOut, { reduction: 'none' })
    .reshape([b, t])
    .mul(batch.mask);
  return { markNll, timeNll, markLogits, logw, mu, logSigma };
}

/** Running sums of the metrics over evaluation batches (and of the baselines, when fitted). */
class EventTotals {
  nll = 0;
  markNll = 0;
  sqErr = 0;
  correct = 0;
  events = 0;
  markBase = 0;
  timeBase = 0;
  readonly base: EventsTaskConfig['baseline'];

  constructor(base: EventsTaskConfig['baseline']) {
    this.base = base;
  }

  /** One batch: its summed NLL terms, expected times and predicted marks against the truth. */
  add(
    batch: EventBatch,
    out: Record<'markNll' | 'timeNll' | 'mean' | 'pred', TypedArray>,
    jacobian: number,
  ) {
    const markPart = out.markNll[0]!;
    this.nll += markPart + out.timeNll[0]! + batch.events * jacobian + batch.logTauSum;
    this.markNll += markPart;
    const base = this.base;
    for (let k = 0; k < batch.maskHost.length; k++) {
      if (batch.maskHost[k] !== 1) continue;
      const d = out.mean[k]! - batch.tau[k]!;
      this.sqErr += d * d;
      if (out.pred[k] === batch.marksHost[k]) this.correct++;
      if (base) {
        this.markBase -= base.markLogProb[batch.marksHost[k]!] ?? Number.NaN;
        this.timeBase += base.rate * batch.tau[k]! - Math.log(base.rate);
      }
    }
    this.events += batch.events;
  }

  metrics(): Metrics {
    const { events, base } = this;
    return {
      nll: this.nll / events,
      nll_mark: this.markNll / events,
      rmse: Math.sqrt(this.sqErr / events),
      accuracy: this.correct / events,
      ...(base
        ? {
            nll_mark_frequency: this.markBase / events,
            nll_poisson: (this.markBase + this.timeBase) / events,
          }
        : {}),
    };
  }
}

/** A batch's summed NLL terms, expected inter-event times and predicted marks (tensors). */
function eventOutputs(net: EventsNet, cfg: EventsTaskConfig, batch: EventBatch) {
  const terms = nllTerms(net, batch);
  // E[τ] = Σ_m π_m exp(μ₀ + σ₀ μ_m + (σ₀ σ_m)² / 2)
  const s0 = cfg.logStd;
  const expected = terms.logw
    .add(terms.mu.mul(s0))
    .add(terms.logSigma.exp().mul(s0).square().mul(0.5))
    .add(cfg.logMean);
  return {
    markNll: terms.markNll.sum(),
    timeNll: terms.timeNll.sum(),
    mean: logsumexp(expected, -1).exp(),
    pred: terms.markLogits.argmax(-1),
  };
}

/** Metrics over `seqs` (at most `limit` batches): NLL per event, time RMSE, mark accuracy. */
async function evaluateEvents(
  net: EventsNet,
  cfg: EventsTaskConfig,
  seqs: EventSequence[],
  batchSize: number,
  limit?: number,
): Promise<Metrics> {
  if (seqs.length === 0) return {};
  const jacobian = Math.log(cfg.logStd);
  const totals = new EventTotals(cfg.baseline);
  const size = Math.max(1, Math.floor(evalBatchSize(batchSize) / 4));
  for (const idx of evalBatches(seqs.length, size, limit)) {
    // Built inside the batch's scope (its tensors freed with it); its host arrays are read below.
    let batch = undefined as unknown as EventBatch;
    const out = await readBatch(() => {
      batch = eventBatch(
        idx.map((i) => seqs[i]!),
        cfg,
      );
      return eventOutputs(net, cfg, batch);
    });
    totals.add(batch, out, jacobian);
  }
  return totals.metrics();
}

export function createEventsTask(
  model: BackboneConfig,
  cfg: EventsTaskConfig,
  sets: { train: EventSequence[]; val: EventSequence[]; test: EventSequence[] },
  batchSize: number,
  describe: string[],
): NeuralTask<EventSequence[]> {
  const net = new EventsNet(model, cfg.marks, cfg.mixtures);
  const jacobian = Math.log(cfg.logStd);
  return {
    net,
    monitor: TASK_INFO.events.monitor,
    unit: 'sequences',
    trainBatches: (rng: Generator) =>
      cfg.bucketed
        ? bucketedBatches(sets.train, batchSize, rng)
        : chunk(
            permutation(sets.train.length, rng).map((i) => sets.train[i]!),
            batchSize,
          ),
    items: (b) => b.length,
    loss: (seqs) => {
      const batch = eventBatch(seqs, cfg);
      const { markNll, timeNll } = nllTerms(net, batch);
      // + the Jacobian of the standardised log time (constant): the loss is the exact NLL per event.
      const constant = batch.events * jacobian + batch.logTauSum;
      return markNll.add(timeNll).sum().add(constant).div(batch.events);
    },
    validate: (limit) => evaluateEvents(net, cfg, sets.val, batchSize, limit),
    test: () => evaluateEvents(net, cfg, sets.test, batchSize),
    describe: () => describe,
  };
}

/** The sequences to train on: a validation share held out if the data has none, cut into windows. */
function eventSplits(ev: EventSplits, o: OptionsOf<'train'>): Omit<EventSplits, 'marks'> {
  let { train, val, test } = ev;
  if (val.length === 0) {
    const n = Math.round(train.length * o.valFraction);
    val = train.slice(train.length - n);
    train = train.slice(0, train.length - n);
  }
  if (o.maxEvents !== undefined) {
    train = windowSequences(train, o.maxEvents);
    val = windowSequences(val, o.maxEvents);
    test = windowSequences(test, o.maxEvents);
  }
  return { ...ev, train, val, test };
}

/** 'train 12 (3,456), val …': sequences per split and (in brackets) their events. */
function splitCounts(splits: Record<'train' | 'val' | 'test', { marks: Int32Array }[]>): string {
  return (['train', 'val', 'test'] as const)
    .map((k) => {
      const events = splits[k].reduce((a, x) => a + x.marks.length, 0).toLocaleString('en-US');
      return `${k} ${splits[k].length} (${events})`;
    })
    .join(', ');
}

/**
 * The events task: marked event sequences (JSON or RMTPP text); the config holds the marks, the
 * mixture size and the log-time scaling.
 */
export const eventsTask: TaskDef<EventsTaskConfig> = {
  ...TASK_INFO.events,
  prepare({ model: name, data, options: o }) {
    const ev = loadEvents(data, { splitSeed: o.splitSeed });
    const { train, val, test } = eventSplits(ev, o);
    if (train.length === 0) throw new CliError(`--data ${data}: no training sequences`);
    const times = fitLogTimes(train);
    const taskConfig: EventsTaskConfig = {
      marks: ev.marks,
      mixtures: o.mixtures,
      logMean: times.logMean,
      logStd: times.logStd,
      baseline: fitEventBaselines(train, ev.marks),
      ...(o.maxEvents !== undefined ? { bucketed: true } : {}),
    };
    const maxLen = Math.max(...[...train, ...val, ...test].map((s) => s.marks.length));
    const model = backboneConfig(name, o, maxLen);
    const describe = [
      `data ${baseNames(ev.sources)} (${ev.layout}): ${ev.marks} mark(s), sequences up to ${maxLen} events`,
      `sequences (events): ${splitCounts({ train, val, test })}${o.maxEvents !== undefined ? ` (windows of at most ${o.maxEvents} events)` : ''}`,
    ];
    const warnings =
      times.floored > 0
        ? [`${times.floored} inter-event time(s) of 0 in the training data were raised to 1e-8`]
        : [];
    const splits = { train, val, test };
    return {
      model,
      taskConfig: { ...taskConfig },
      neural: createEventsTask(model, taskConfig, splits, o.batchSize, describe),
      warnings,
    };
  },
  restore({ config: cfg, data, options: o, batchSize, backbone }) {
    // The run's own test split: its --split-seed shuffle and --max-events windows (eval passes the
    // recorded ones unless given).
    const ev = loadEvents(data, { splitSeed: o.splitSeed });
    if (ev.marks > cfg.marks)
      throw new CliError(
        `--data ${data}: has ${ev.marks} marks, the run was trained on ${cfg.marks}`,
      );
    const test = o.maxEvents === undefined ? ev.test : windowSequences(ev.test, o.maxEvents);
    const describe = [
      `data ${baseNames(ev.sources)}: test ${test.length} sequences${o.maxEvents !== undefined ? ` (windows of at most ${o.maxEvents} events)` : ''}${o.splitSeed !== undefined ? `, split seed ${o.splitSeed}` : ''}`,
    ];
    const splits = { train: [], val: [], test };
    return { neural: createEventsTask(backbone(), cfg, splits, batchSize, describe) };
  },
};
