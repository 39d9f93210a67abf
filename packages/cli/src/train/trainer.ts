import { existsSync } from 'node:fs';
import { defaultGenerator, Generator, optim, setBackend, tidy } from '@recur/tensor';
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
  const { task, options: o, reporter } = ctx;
  // The steps run on `stepper` (the task itself, or its WebGPU twin); metrics on `task`.
  const stepper = ctx.webgpu ?? task;
  const net = stepper.net;
  const stepBackend = ctx.webgpu ? 'webgpu' : 'cpu';
  const syncToTask = async () => {
    if (ctx.webgpu) await copyWeights(ctx.webgpu.net, task.net);
  };
  const opt = new optim.AdamW(net.parameters(), { lr: o.lr, weightDecay: o.weightDecay });
  const perEpoch = (() => {
    const n = task.trainBatches(new Generator(0)).length;
    return o.stepsPerEpoch === undefined ? n : Math.min(n, o.stepsPerEpoch);
  })();
  const totalSteps = perEpoch * o.epochs;
  let scheduler: optim.LRScheduler | null = null;
  if (o.schedule === 'cosine') {
    scheduler = new optim.LinearWarmupCosine(opt, {
      warmupSteps: o.warmup,
      totalSteps: Math.max(totalSteps, o.warmup),
    });
  } else if (o.warmup > 0) {
    const w = o.warmup;
    scheduler = new optim.LambdaLR(opt, (s) => Math.min(1, (s + 1) / w));
  }
  const dataRng = new Generator(o.seed ^ 0x5eed);
  let state: TrainerState = {
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
    scheduler: null,
    history: [],
    stopped: false,
  };
  if (ctx.resume) {
    state = loadLast(ctx.file(RUN_FILES.last), net, opt);
    defaultGenerator.setState(rngFromJson(state.rng));
    dataRng.setState(rngFromJson(state.dataRng));
    if (scheduler && state.scheduler) scheduler.loadStateDict(state.scheduler);
    reporter.info(
      state.batch > 0
        ? `resuming epoch ${state.epoch + 1} at batch ${state.batch + 1} (step ${state.step})`
        : `resuming after epoch ${state.epoch} (step ${state.step})`,
    );
  }
  const snapshot = (): TrainerState => ({
    ...state,
    rng: rngToJson(defaultGenerator.getState()),
    dataRng: rngToJson(dataRng.getState()),
    scheduler: scheduler ? scheduler.stateDict() : null,
  });
  const saveCheckpoint = async (extra: Partial<TrainerState> = {}) => {
    await saveLast(ctx.file(RUN_FILES.last), net, opt, { ...snapshot(), ...extra });
    writeJsonAtomic(ctx.file(RUN_FILES.history), state.history);
    if (!existsSync(ctx.file(RUN_FILES.best))) {
      await syncToTask();
      saveWeights(ctx.file(RUN_FILES.best), task.net, ctx.config);
    }
    ctx.onCheckpoint();
  };
  const params = net.parameters();
  const { metric, mode } = o.monitor ?? task.monitor;
  const budgetStart = performance.now();
  const overBudget = () =>
    o.maxSeconds !== undefined && (performance.now() - budgetStart) / 1e3 >= o.maxSeconds;
  let budgetSpent = false;
  // The run's estimated duration, from the first steps' pace, said once before the run gets long.
  const stepsToRun = perEpoch * (o.epochs - state.epoch);
  let estimated = false;
  const estimate = (bar: { note(m: string): void }, done: number, secs: number) => {
    estimated = true;
    const total = (secs / done) * stepsToRun;
    bar.note(
      `estimated: ${fmtDuration(total)} of training for ${o.epochs - state.epoch} epoch(s) × ${perEpoch} steps (${fmtNumber(secs / done, 3)} s per step so far), plus validation`,
    );
    reporter.event('estimate', {
      seconds: total,
      steps: stepsToRun,
      seconds_per_step: secs / done,
    });
  };

  for (let epoch = state.epoch + 1; epoch <= o.epochs && !state.stopped; epoch++) {
    // Resuming inside an epoch: its batch order is drawn again from the data order's state at its
    // start, then the random states continue from where the checkpoint left them.
    const resumeAt = state.batch;
    if (resumeAt > 0 && state.epochDataRng) dataRng.setState(rngFromJson(state.epochDataRng));
    const epochDataRng = dataRng.getState();
    const batches = task.trainBatches(dataRng).slice(0, perEpoch);
    if (resumeAt > 0) {
      defaultGenerator.setState(rngFromJson(state.rng));
      dataRng.setState(rngFromJson(state.dataRng));
    }
    net.train();
    // The task's loss creates its inputs on the default backend: the steps' backend.
    await setBackend(stepBackend);
    // The bar counts batches, so its rate is batches/s; the items' rate is in the epoch's line.
    const bar = reporter.progress(`epoch ${epoch}/${o.epochs}`, batches.length, 'batches');
    const start = performance.now();
    let lossSum = resumeAt > 0 ? state.lossSum : 0;
    let items = resumeAt > 0 ? state.items : 0;
    state.batch = 0;
    let lastEvent = 0;
    let taken = resumeAt;
    for (let i = resumeAt; i < batches.length; i++) {
      await nextTick();
      if (ctx.signal.interrupted) {
        bar.stop();
        await setBackend('cpu');
        await saveCheckpoint({ batch: i, epochDataRng: rngToJson(epochDataRng), lossSum, items });
        return { state: { ...state, batch: i }, interrupted: true };
      }
      const batch = batches[i];
      const lossTensor = tidy(() => {
        opt.zeroGrad();
        const l = stepper.loss(batch);
        l.backward();
        return l;
      });
      // Asynchronous reads: the same on the CPU, and the only kind WebGPU has.
      if (o.clip > 0) await optim.clipGradNormAsync(params, o.clip);
      opt.step();
      const loss = (await lossTensor.data())[0] as number;
      lossTensor.dispose();
      opt.zeroGrad();
      scheduler?.step();
      state.step++;
      if (!Number.isFinite(loss)) {
        bar.stop();
        await setBackend('cpu');
        throw new NumericError(
          `training diverged: the loss is ${loss} at epoch ${epoch}, step ${i + 1}; try a lower --lr or --clip, and check the data for extreme values`,
        );
      }
      lossSum += loss;
      items += task.items(batch);
      taken = i + 1;
      const secs = (performance.now() - start) / 1e3;
      if (!estimated && (i + 1 === Math.min(3, batches.length) || secs > 5))
        estimate(bar, i + 1, secs);
      bar.update(i + 1, { loss: lossSum / (i + 1) });
      if (reporter.json && (performance.now() - lastEvent > 1000 || i === resumeAt)) {
        lastEvent = performance.now();
        reporter.event('step', {
          epoch,
          step: i + 1,
          steps: batches.length,
          loss,
          [`${task.unit}_per_s`]: items / Math.max(secs, 1e-9),
        });
      }
      if (overBudget()) {
        budgetSpent = true;
        break;
      }
    }
    bar.stop();
    const trainSecs = (performance.now() - start) / 1e3;
    await setBackend('cpu');
    await syncToTask();
    task.net.eval();
    const val: Metrics = await task.validate(o.valBatches);
    requireFiniteMetrics(
      val,
      `epoch ${epoch}: validation`,
      'try a lower --lr or --clip, and check the validation data for constant or extreme values',
    );
    const entry: Record<string, number> = {
      epoch,
      train_loss: lossSum / Math.max(1, taken),
      lr: opt.paramGroups[0]?.lr ?? o.lr,
      seconds: trainSecs,
      [`${task.unit}_per_s`]: items / Math.max(trainSecs, 1e-9),
    };
    for (const [k, v] of Object.entries(val)) entry[`val_${k}`] = v;
    state.history.push(entry);
    state.epoch = epoch;
    const score = val[metric];
    if (score === undefined && o.monitor && Object.keys(val).length > 0) {
      throw new CliError(
        `--early-stop-metric ${metric}: the validation gives ${Object.keys(val).join(', ')}, not ${metric}`,
      );
    }
    const improved = score === undefined || better(score, state.best, mode);
    if (improved) {
      state.best = score ?? null;
      state.bestEpoch = epoch;
      state.badEpochs = 0;
      saveWeights(ctx.file(RUN_FILES.best), task.net, ctx.config);
    } else state.badEpochs++;
    if (o.patience > 0 && state.badEpochs >= o.patience) state.stopped = true;
    if (budgetSpent) state.stopped = true;
    await saveCheckpoint();
    reporter.event('epoch', { ...entry, best: improved });
    await nextTick(); // a Ctrl-C that came during validation is delivered here
    if (ctx.signal.interrupted) {
      // Ctrl-C during validation: the epoch's checkpoint is on disk; stop before the next one.
      return { state, interrupted: true };
    }
    const valText = Object.entries(val)
      .map(([k, v]) => `val ${k} ${fmtNumber(v)}`)
      .join(', ');
    reporter.info(
      `epoch ${epoch}/${o.epochs}: train loss ${fmtNumber(entry.train_loss)}${valText ? `, ${valText}` : ''}${improved ? ' (best)' : ''}, ${fmtNumber(trainSecs, 3)}s, ${fmtNumber(entry[`${task.unit}_per_s`] as number, 3)} ${task.unit}/s`,
    );
    if (budgetSpent) {
      reporter.info(
        `time budget: --max-seconds ${o.maxSeconds} spent after ${state.step} step(s); best epoch ${state.bestEpoch}`,
      );
      reporter.event('budget_spent', { epoch, step: state.step, best_epoch: state.bestEpoch });
    } else if (state.stopped) {
      reporter.info(
        `early stop: no better val ${metric} for ${o.patience} epoch(s); best epoch ${state.bestEpoch}`,
      );
      reporter.event('early_stop', { epoch, best_epoch: state.bestEpoch });
    }
  }
  return { state, interrupted: false };
}
