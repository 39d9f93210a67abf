import { existsSync } from 'node:fs';
import { defaultGenerator, Generator, optim, setBackend, type Tensor, tidy } from '@recur/tensor';
import { CliError, NumericError, requireFiniteMetrics } from '../errors.js';
import type { Metrics, Monitor, NeuralTask } from '../tasks/types.js';
import { writeJsonAtomic } from '../util/files.js';
import { fmtDuration, fmtNumber, type Reporter } from '../util/output.js';
import {
  loadLast,
  RUN_FILES,
  rngFromJson,
  rngToJson,
  saveLast,
  saveWeights,
  type TrainerState,
} from './checkpoint.js';
import { copyWeights } from './device.js';

export interface FitOptions {
  epochs: number;
  lr: number;
  weightDecay: number;
  clip: number;
  patience: number;
  schedule: 'constant' | 'cosine';
  warmup: number;
  stepsPerEpoch?: number;
  valBatches?: number;
  seed: number;
  /** Wall-clock budget of this call, seconds: stop after the step that passes it. */
  maxSeconds?: number;
  /** The validation metric that picks the best epoch (default: the task's). */
  monitor?: Monitor;
}

/** Set by the command's SIGINT handler; the loop checks it between steps. */
export interface InterruptFlag {
  interrupted: boolean;
}

export interface FitContext {
  task: NeuralTask;
  options: FitOptions;
  reporter: Reporter;
  /** Path of a file inside the run folder. */
  file: (name: string) => string;
  /** Called once the first checkpoint is on disk (the run folder is then kept whatever happens). */
  onCheckpoint: () => void;
  config: unknown;
  resume: boolean;
  signal: InterruptFlag;
  /**
   * The same task built on the WebGPU backend (its net holding the same weights): the training
   * steps run there; `task` (CPU) gets its weights before each validation and for the checkpoints.
   */
  webgpu?: NeuralTask;
}

export interface FitResult {
  state: TrainerState;
  interrupted: boolean;
}

/** Lets pending signals (Ctrl-C) be delivered: the loop itself is synchronous between awaits. */
export const nextTick = () => new Promise<void>((resolve) => setImmediate(resolve));

function better(a: number, b: number | null, mode: 'min' | 'max'): boolean {
  if (b === null) return true;
  return mode === 'min' ? a < b : a > b;
}

/**
 * The training loop: AdamW, gradient clipping, an optional warm-up/cosine schedule, validation
 * after every epoch, the best weights kept (model.safetensors), a full checkpoint after every epoch
 * (last.safetensors: weights, optimiser, epoch, random state), early stopping after `patience`
 * epochs without improvement. Between steps it yields to the event loop so that Ctrl-C can stop it:
 * then it saves a checkpoint of that very step (weights, optimiser, schedule, the epoch's batch
 * order and position, the random states) and returns with `interrupted`; resuming from it gives
 * the same weights, bit for bit, as a run that was never stopped.
 */
export async function fit(ctx: FitContext): Promise<FitResult> {
  const run = new FitRun(ctx);
  if (ctx.resume) run.resume();
  run.budgetStart = performance.now();
  const o = ctx.options;
  for (let epoch = run.state.epoch + 1; epoch <= o.epochs && !run.state.stopped; epoch++) {
    const pass = await run.trainEpoch(epoch);
    if (pass.interruptedAt !== undefined) {
      return { state: { ...run.state, batch: pass.interruptedAt }, interrupted: true };
    }
    await run.endEpoch(epoch, pass);
    await nextTick(); // a Ctrl-C that came during validation is delivered here
    if (ctx.signal.interrupted) {
      // Ctrl-C during validation: the epoch's checkpoint is on disk; stop before the next one.
      return { state: run.state, interrupted: true };
    }
    run.reportEpoch(epoch, pass);
  }
  return { state: run.state, interrupted: false };
}

/** One epoch's training pass: its losses and items, and where it stopped. */
interface EpochPass {
  lossSum: number;
  items: number;
  /** Batches taken (counting those before a resume). */
  taken: number;
  seconds: number;
  /** The batch at which a Ctrl-C stopped the pass (its checkpoint saved). */
  interruptedAt?: number;
  /** The time budget ran out during the pass. */
  budgetSpent: boolean;
  /** Set by endEpoch: the epoch's history entry and whether it was the best. */
  entry?: Record<string, number>;
  val?: Metrics;
  improved?: boolean;
}

/** The state of one `fit`: optimiser, schedule, random states, trainer state, checkpoints. */
class FitRun {
  readonly ctx: FitContext;
  readonly o: FitOptions;
  /** The task whose net takes the steps: the task itself, or its WebGPU twin. */
  readonly stepper: NeuralTask;
  readonly opt: optim.AdamW;
  readonly scheduler: optim.LRScheduler | null;
  readonly dataRng: Generator;
  readonly perEpoch: number;
  readonly metric: string;
  readonly mode: 'min' | 'max';
  /** When the time budget (--max-seconds) started: after the checkpoint loaded. */
  budgetStart = performance.now();
  state: TrainerState = {
    epoch: 0,
    step: 0,
    best: null,
    bestEpoch: 0,
    badEpochs: 0,
    batch: 0,
    rng: [],
    dataRng: [],
    lossSum: 0,
    items: 0,
    spentSeconds: 0,
    scheduler: null,
    history: [],
    stopped: false,
  };
  /** Whether the run's duration was estimated yet (once, from the first steps' pace). */
  estimated = false;
  /** Epochs this call trains (all of them, or those after a resumed checkpoint). */
  epochsToRun: number;
  #params?: Tensor[];

  constructor(ctx: FitContext) {
    this.ctx = ctx;
    const o = ctx.options;
    this.o = o;
    this.stepper = ctx.webgpu ?? ctx.task;
    this.opt = new optim.AdamW(this.stepper.net.parameters(), {
      lr: o.lr,
      weightDecay: o.weightDecay,
    });
    const n = ctx.task.trainBatches(new Generator(0)).length;
    this.perEpoch = o.stepsPerEpoch === undefined ? n : Math.min(n, o.stepsPerEpoch);
    this.scheduler = this.#schedule(this.perEpoch * o.epochs);
    this.dataRng = new Generator(o.seed ^ 0x5eed);
    const { metric, mode } = o.monitor ?? ctx.task.monitor;
    this.metric = metric;
    this.mode = mode;
    this.epochsToRun = o.epochs;
  }

  #schedule(totalSteps: number): optim.LRScheduler | null {
    const o = this.o;
    if (o.schedule === 'cosine') {
      return new optim.LinearWarmupCosine(this.opt, {
        warmupSteps: o.warmup,
        totalSteps: Math.max(totalSteps, o.warmup),
      });
    }
    if (o.warmup > 0) {
      const w = o.warmup;
      return new optim.LambdaLR(this.opt, (s) => Math.min(1, (s + 1) / w));
    }
    return null;
  }

  /** Loads last.safetensors: weights, optimiser, schedule, random states, trainer state. */
  resume(): void {
    const state = loadLast(this.ctx.file(RUN_FILES.last), this.stepper.net, this.opt);
    this.state = state;
    defaultGenerator.setState(rngFromJson(state.rng));
    this.dataRng.setState(rngFromJson(state.dataRng));
    if (this.scheduler && state.scheduler) this.scheduler.loadStateDict(state.scheduler);
    this.epochsToRun = this.o.epochs - state.epoch;
    this.ctx.reporter.info(
      state.batch > 0
        ? `resuming epoch ${state.epoch + 1} at batch ${state.batch + 1} (step ${state.step})`
        : `resuming after epoch ${state.epoch} (step ${state.step})`,
    );
  }

  async #syncToTask(): Promise<void> {
    if (this.ctx.webgpu) await copyWeights(this.ctx.webgpu.net, this.ctx.task.net);
  }

  /** Saves last.safetensors and history.json (and model.safetensors if there is none yet). */
  async saveCheckpoint(extra: Partial<TrainerState> = {}): Promise<void> {
    const { ctx, state } = this;
    const snapshot: TrainerState = {
      ...state,
      rng: rngToJson(defaultGenerator.getState()),
      dataRng: rngToJson(this.dataRng.getState()),
      scheduler: this.scheduler ? this.scheduler.stateDict() : null,
      spentSeconds: this.#spentSeconds(),
    };
    await saveLast(ctx.file(RUN_FILES.last), this.stepper.net, this.opt, { ...snapshot, ...extra });
    writeJsonAtomic(ctx.file(RUN_FILES.history), state.history);
    if (!existsSync(ctx.file(RUN_FILES.best))) {
      await this.#syncToTask();
      saveWeights(ctx.file(RUN_FILES.best), ctx.task.net, ctx.config);
    }
    ctx.onCheckpoint();
  }

  /** Seconds of the time budget spent: by earlier processes of the run, and by this one. */
  #spentSeconds(): number {
    return this.state.spentSeconds + (performance.now() - this.budgetStart) / 1e3;
  }

  #overBudget(): boolean {
    const max = this.o.maxSeconds;
    return max !== undefined && this.#spentSeconds() >= max;
  }

  /** Says once, from the first steps' pace, how long the run's remaining epochs will take. */
  #estimate(bar: { note(m: string): void }, done: number, secs: number): void {
    this.estimated = true;
    const epochsLeft = this.epochsToRun;
    const stepsToRun = this.perEpoch * epochsLeft;
    const total = (secs / done) * stepsToRun;
    bar.note(
      `estimated: ${fmtDuration(total)} of training for ${epochsLeft} epoch(s) × ${this.perEpoch} steps (${fmtNumber(secs / done, 3)} s per step so far), plus validation`,
    );
    this.ctx.reporter.event('estimate', {
      seconds: total,
      steps: stepsToRun,
      seconds_per_step: secs / done,
    });
  }

  /**
   * The epoch's batches in their order. Resuming inside an epoch: its batch order is drawn again
   * from the data order's state at its start, then the random states continue from where the
   * checkpoint left them.
   */
  #epochBatches(resumeAt: number): {
    batches: unknown[];
    epochDataRng: ReturnType<Generator['getState']>;
  } {
    const { state, dataRng } = this;
    if (resumeAt > 0 && state.epochDataRng) dataRng.setState(rngFromJson(state.epochDataRng));
    const epochDataRng = dataRng.getState();
    const batches = this.ctx.task.trainBatches(dataRng).slice(0, this.perEpoch);
    if (resumeAt > 0) {
      defaultGenerator.setState(rngFromJson(state.rng));
      dataRng.setState(rngFromJson(state.dataRng));
    }
    return { batches, epochDataRng };
  }

  /** One optimiser step on a batch; its loss. */
  async #step(batch: unknown): Promise<number> {
    const { opt, stepper } = this;
    const lossTensor = tidy(() => {
      opt.zeroGrad();
      const l = stepper.loss(batch);
      l.backward();
      return l;
    });
    // Asynchronous reads: the same on the CPU, and the only kind WebGPU has.
    this.#params ??= this.stepper.net.parameters();
    if (this.o.clip > 0) await optim.clipGradNormAsync(this.#params, this.o.clip);
    opt.step();
    const loss = (await lossTensor.data())[0]!;
    lossTensor.dispose();
    opt.zeroGrad();
    this.scheduler?.step();
    this.state.step++;
    return loss;
  }

  /** Trains one epoch (from the checkpoint's batch when resuming inside it). */
  async trainEpoch(epoch: number): Promise<EpochPass> {
    const { ctx, o, state } = this;
    const { task, reporter } = ctx;
    const resumeAt = state.batch;
    const { batches, epochDataRng } = this.#epochBatches(resumeAt);
    this.stepper.net.train();
    // The task's loss creates its inputs on the default backend: the steps' backend.
    await setBackend(ctx.webgpu ? 'webgpu' : 'cpu');
    // The bar counts batches, so its rate is batches/s; the items' rate is in the epoch's line.
    const bar = reporter.progress(`epoch ${epoch}/${o.epochs}`, batches.length, 'batches');
    const start = performance.now();
    const pass: EpochPass = {
      lossSum: resumeAt > 0 ? state.lossSum : 0,
      items: resumeAt > 0 ? state.items : 0,
      taken: resumeAt,
      seconds: 0,
      budgetSpent: false,
    };
    state.batch = 0;
    let lastEvent = 0;
    for (let i = resumeAt; i < batches.length; i++) {
      await nextTick();
      if (ctx.signal.interrupted) {
        bar.stop();
        await setBackend('cpu');
        const { lossSum, items } = pass;
        await this.saveCheckpoint({
          batch: i,
          epochDataRng: rngToJson(epochDataRng),
          lossSum,
          items,
        });
        return { ...pass, interruptedAt: i };
      }
      const batch = batches[i];
      const loss = await this.#step(batch);
      if (!Number.isFinite(loss)) {
        bar.stop();
        await setBackend('cpu');
        throw new NumericError(
          `training diverged: the loss is ${loss} at epoch ${epoch}, step ${i + 1}; try a lower --lr or --clip, and check the data for extreme values`,
        );
      }
      pass.lossSum += loss;
      pass.items += task.items(batch);
      pass.taken = i + 1;
      const secs = (performance.now() - start) / 1e3;
      if (!this.estimated && (i + 1 === Math.min(3, batches.length) || secs > 5))
        this.#estimate(bar, i + 1, secs);
      bar.update(i + 1, { loss: pass.lossSum / (i + 1) });
      if (reporter.json && (performance.now() - lastEvent > 1000 || i === resumeAt)) {
        lastEvent = performance.now();
        reporter.event('step', {
          epoch,
          step: i + 1,
          steps: batches.length,
          loss,
          [`${task.unit}_per_s`]: pass.items / Math.max(secs, 1e-9),
        });
      }
      if (this.#overBudget()) {
        pass.budgetSpent = true;
        break;
      }
    }
    bar.stop();
    pass.seconds = (performance.now() - start) / 1e3;
    await setBackend('cpu');
    return pass;
  }

  /**
   * Validates after an epoch, records it in the history, keeps the best weights, decides whether to
   * stop (patience, time budget) and saves the checkpoint.
   */
  async endEpoch(epoch: number, pass: EpochPass): Promise<void> {
    const { ctx, o, state } = this;
    const { task } = ctx;
    await this.#syncToTask();
    task.net.eval();
    const val: Metrics = await task.validate(o.valBatches);
    requireFiniteMetrics(
      val,
      `epoch ${epoch}: validation`,
      'try a lower --lr or --clip, and check the validation data for constant or extreme values',
    );
    const entry: Record<string, number> = {
      epoch,
      train_loss: pass.lossSum / Math.max(1, pass.taken),
      lr: this.opt.paramGroups[0]?.lr ?? o.lr,
      seconds: pass.seconds,
      [`${task.unit}_per_s`]: pass.items / Math.max(pass.seconds, 1e-9),
    };
    for (const [k, v] of Object.entries(val)) entry[`val_${k}`] = v;
    state.history.push(entry);
    state.epoch = epoch;
    const score = val[this.metric];
    if (score === undefined && o.monitor && Object.keys(val).length > 0) {
      throw new CliError(
        `--early-stop-metric ${this.metric}: the validation gives ${Object.keys(val).join(', ')}, not ${this.metric}`,
      );
    }
    const improved = score === undefined || better(score, state.best, this.mode);
    if (improved) {
      state.best = score ?? null;
      state.bestEpoch = epoch;
      state.badEpochs = 0;
      saveWeights(ctx.file(RUN_FILES.best), task.net, ctx.config);
    } else state.badEpochs++;
    if (o.patience > 0 && state.badEpochs >= o.patience) state.stopped = true;
    if (pass.budgetSpent) state.stopped = true;
    await this.saveCheckpoint();
    ctx.reporter.event('epoch', { ...entry, best: improved });
    Object.assign(pass, { entry, val, improved });
  }

  /** The epoch's line, and why training stops if it does. */
  reportEpoch(epoch: number, pass: EpochPass): void {
    const { ctx, o, state } = this;
    const { reporter, task } = ctx;
    const entry = pass.entry!;
    const valText = Object.entries(pass.val ?? {})
      .map(([k, v]) => `val ${k} ${fmtNumber(v)}`)
      .join(', ');
    reporter.info(
      `epoch ${epoch}/${o.epochs}: train loss ${fmtNumber(entry.train_loss)}${valText ? `, ${valText}` : ''}${pass.improved ? ' (best)' : ''}, ${fmtNumber(pass.seconds, 3)}s, ${fmtNumber(entry[`${task.unit}_per_s`]!, 3)} ${task.unit}/s`,
    );
    if (pass.budgetSpent) {
      reporter.info(
        `time budget: --max-seconds ${o.maxSeconds} spent after ${state.step} step(s); best epoch ${state.bestEpoch}`,
      );
      reporter.event('budget_spent', { epoch, step: state.step, best_epoch: state.bestEpoch });
    } else if (state.stopped) {
      reporter.info(
        `early stop: no better val ${this.metric} for ${o.patience} epoch(s); best epoch ${state.bestEpoch}`,
      );
      reporter.event('early_stop', { epoch, best_epoch: state.bestEpoch });
    }
  }
}
