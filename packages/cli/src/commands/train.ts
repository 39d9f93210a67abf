import { existsSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { defaultGenerator, manualSeed, setBackend } from '@recur/tensor';
import type { Invocation } from '../cli.js';
import { CliError, InterruptedError, requireFiniteMetrics } from '../errors.js';
import {
  isTaskName,
  keyOfName,
  OPTIONS,
  type OptionKey,
  type Options,
  type OptionsOf,
  TASKS,
  type TaskName,
  TRAINING_ONLY_OPTIONS,
  withDefaults,
} from '../options.js';
import { parseJsonWith, parseOption, runConfigSchema } from '../schema.js';
import { prepareTraining } from '../tasks/setup.js';
import type { ClosedForm, Metrics, NeuralTask, Prepared, RunConfig } from '../tasks/types.js';
import { loadWeights, RUN_FILES } from '../train/checkpoint.js';
import { copyWeights, startWebGPU } from '../train/device.js';
import { RunDir } from '../train/run-dir.js';
import { type FitOptions, fit, type InterruptFlag, nextTick } from '../train/trainer.js';
import { readUserFile, writeJsonAtomic } from '../util/files.js';
import { fmtNumber, formatTable, type Reporter } from '../util/output.js';

/** Reads and checks a run folder's config.json: its shape, and every saved option's value. */
export function readRunConfig(dir: string, flag: string): RunConfig {
  const path = join(dir, RUN_FILES.config);
  if (!existsSync(dir)) throw new CliError(`${flag}: no such run folder: ${dir}`);
  if (!existsSync(path))
    throw new CliError(`${flag}: ${dir} is not a run folder (no ${RUN_FILES.config})`);
  const text = readUserFile(path, 'run config').toString('utf8');
  const cfg = parseJsonWith(runConfigSchema, text, `${path}: not a recur run config`);
  const options: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(cfg.options)) {
    const key = keyOfName(name);
    if (!key) throw new CliError(`${path}: options: unknown option '${name}'`);
    if (value !== null && value !== undefined)
      options[key] = parseOption(key, value, `${path}: options.${name}`);
  }
  return { ...cfg, options } as RunConfig;
}

/** naive and linear neither train nor have a network: a training or size flag is an error. */
export function refuseUnusedByClosedForm(model: string, given: ReadonlySet<OptionKey>): void {
  if (model !== 'naive' && model !== 'linear') return;
  const unused: OptionKey[] = [
    ...TRAINING_ONLY_OPTIONS,
    ...(model === 'naive' ? ['ridge' as const] : []),
  ];
  const bad = unused.filter((k) => given.has(k)).map((k) => OPTIONS[k].flag);
  if (bad.length > 0) {
    throw new CliError(
      `--model ${model} is ${model === 'naive' ? 'the repeat-the-last-value forecast' : 'a closed-form ridge map'}: it has no network and does not train, so ${bad.join(', ')} would have no effect; leave ${bad.length > 1 ? 'them' : 'it'} out`,
    );
  }
}

/** The default run folder's name: `<task>-<model>-<local date>-<time>` (made unique under runs/). */
export function defaultRunName(task: string, model: string, d = new Date()): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${task}-${model}-${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}-${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`;
}

/** Metrics as a two-column table. */
export function metricsTable(metrics: Metrics, title = 'test'): string {
  return formatTable(
    ['metric', title],
    Object.entries(metrics).map(([k, v]) => [k, fmtNumber(v, 5)]),
  );
}

/** Installs a SIGINT and SIGTERM handler for the duration of `fn`; a second one exits at once. */
export async function withInterrupt<T>(
  flag: InterruptFlag,
  reporter: Reporter,
  fn: () => Promise<T>,
): Promise<T> {
  const handler = () => {
    if (flag.interrupted) process.exit(130);
    flag.interrupted = true;
    reporter.info('\ninterrupt: saving a checkpoint (Ctrl-C again to quit at once)');
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  try {
    return await fn();
  } finally {
    process.off('SIGINT', handler);
    process.off('SIGTERM', handler);
  }
}

/**
 * The task built a second time on the WebGPU backend, its net holding the CPU net's weights. The
 * random state is put back afterwards, so a run draws the same numbers (dropout, data order) on
 * either backend and the first epoch's loss matches the CPU's.
 */
async function webgpuTwin(
  task: TaskName,
  options: OptionsOf<'train'>,
  cpu: NeuralTask,
  reporter: Reporter,
): Promise<NeuralTask> {
  const adapter = await startWebGPU();
  reporter.info(`backend webgpu: ${adapter}`);
  const rng = defaultGenerator.getState();
  await setBackend('webgpu');
  try {
    const twin = prepareTraining(task, options).neural!;
    await copyWeights(cpu.net, twin.net);
    return twin;
  } finally {
    await setBackend('cpu');
    defaultGenerator.setState(rng);
  }
}

/**
 * What `recur train` runs: the task, its options (as given: the run's config.json records them), and
 * the run folder, claimed, holding a checkpoint to continue from when `resume`.
 */
interface TrainStart {
  task: TaskName;
  options: Options;
  dir: RunDir;
  resume: boolean;
}

/** Options that shape the model or its data: a resumed run keeps its own. */
const FIXED_ON_RESUME: readonly OptionKey[] = [
  'model',
  'lookback',
  'horizon',
  'context',
  'layers',
  'dModel',
  'heads',
  'dFF',
];

/** `--resume <dir>`: the saved run's task and options, overridden by the flags given again. */
function startResumed(inv: TrainInvocation, resumeDir: string, reporter: Reporter): TrainStart {
  const saved = readRunConfig(resumeDir, '--resume');
  if (inv.args[0] && inv.args[0] !== saved.task) {
    throw new CliError(
      `--resume ${resumeDir}: the run is a '${saved.task}' run, not '${inv.args[0]}'`,
    );
  }
  const before = saved.options as Record<string, unknown>;
  const merged: Record<string, unknown> = { ...before };
  for (const k of inv.given) merged[k] = (inv.options as Record<string, unknown>)[k];
  for (const k of FIXED_ON_RESUME) {
    if (inv.given.has(k) && merged[k] !== before[k]) {
      throw new CliError(
        `--resume: ${k} cannot change when resuming (the run has ${String(before[k])})`,
      );
    }
  }
  merged.resume = resumeDir;
  merged.json = inv.options.json;
  const dir = RunDir.open(resumeDir, '--resume');
  const resume = existsSync(join(dir.path, RUN_FILES.last));
  if (!resume && saved.model.name !== 'naive' && saved.model.name !== 'linear') {
    reporter.warn(
      `--resume ${dir.path}: the run stopped before its first checkpoint; starting it again from the beginning`,
    );
  }
  return { task: saved.task, options: merged as Options, dir, resume };
}

/** `recur train <task>`: checks the task and the model, and claims the run folder. */
function startNew(inv: TrainInvocation): TrainStart {
  const options = inv.options;
  const t = inv.args[0];
  if (!t) throw new CliError(`missing the task: recur train <task> (one of ${TASKS.join(', ')})`);
  if (!isTaskName(t)) {
    throw new CliError(`unknown task '${t}' (expected one of: ${TASKS.join(', ')})`);
  }
  const task = t;
  if (!options.model) throw new CliError('--model <name> is required');
  refuseUnusedByClosedForm(options.model, inv.given);
  const dir = options.out
    ? RunDir.open(options.out, '--out')
    : RunDir.createUnique('runs', defaultRunName(task, options.model));
  if (existsSync(join(dir.path, RUN_FILES.config))) {
    if (options.force) {
      for (const name of Object.values(RUN_FILES)) rmSync(join(dir.path, name), { force: true });
    } else {
      dir.release();
      const state = existsSync(join(dir.path, RUN_FILES.last))
        ? 'with a checkpoint'
        : 'stopped before its first checkpoint';
      throw new CliError(
        `--out ${dir.path}: already holds a run (${state}); continue it with --resume ${dir.path}, replace it with --force, or choose another --out`,
      );
    }
  }
  return { task, options, dir, resume: false };
}

/**
 * The invocation `recur train` takes: the command line's, or one built in code (reproduce's units)
 * whose options may lack the defaults; they are filled in where read.
 */
export type TrainInvocation = Omit<Invocation<'train'>, 'options'> & { options: Options };

export async function trainCommand(inv: TrainInvocation, reporter: Reporter): Promise<number> {
  const start = inv.options.resume
    ? startResumed(inv, inv.options.resume, reporter)
    : startNew(inv);
  const { dir } = start;
  const flag: InterruptFlag = { interrupted: false };
  try {
    return await withInterrupt(flag, reporter, () => trainIn(start, reporter, flag));
  } catch (e) {
    dir.discard();
    throw e;
  } finally {
    dir.release();
  }
}

/** The run's config.json: the model, the task's settings and the options as given. */
function runConfigOf(task: TaskName, prepared: Prepared, options: Options): RunConfig {
  const data = resolve(options.data!);
  return {
    format: 'recur-run',
    version: 1,
    task,
    model: prepared.model,
    taskConfig: prepared.taskConfig,
    data,
    // Paths absolute, so that --resume works from any folder.
    options: {
      ...options,
      data,
      test: options.test === undefined ? undefined : resolve(options.test),
      resume: undefined,
      json: undefined,
      force: undefined,
    },
    parameters: prepared.neural ? prepared.neural.net.numParameters() : 0,
  };
}

/** The training loop's settings from the options. */
function fitOptionsOf(task: TaskName, o: OptionsOf<'train'>): FitOptions {
  const metric = o.earlyStopMetric;
  return {
    epochs: o.epochs,
    lr: o.lr,
    weightDecay: o.weightDecay,
    clip: o.clip,
    patience: o.patience,
    schedule: o.schedule,
    warmup: o.warmup,
    stepsPerEpoch: task === 'lm' ? undefined : o.stepsPerEpoch,
    valBatches: o.valBatches,
    seed: o.seed,
    maxSeconds: o.maxSeconds,
    monitor: metric ? { metric, mode: metric === 'accuracy' ? 'max' : 'min' } : undefined,
  };
}

/** How training ended: the test metrics, and for a network the epochs and whether it stopped early. */
interface TrainOutcome {
  metrics: Metrics;
  epochs?: number;
  stoppedEarly?: boolean;
}

/** A closed-form forecaster: its config and weights written, its test metrics computed. */
function solveClosedForm(dir: RunDir, closedForm: ClosedForm, config: RunConfig): TrainOutcome {
  writeJsonAtomic(dir.file(RUN_FILES.config), config);
  closedForm.save?.(dir.file(RUN_FILES.best));
  const metrics = closedForm.test();
  requireFiniteMetrics(
    metrics,
    'test',
    'check the data for constant or extreme values (and --ridge for --model linear)',
  );
  return { metrics };
}

/** What training a network needs besides the task. */
interface NeuralRun {
  start: TrainStart;
  o: OptionsOf<'train'>;
  config: RunConfig;
  reporter: Reporter;
  flag: InterruptFlag;
  webgpu?: NeuralTask;
}

/** Trains a network (or continues it), then tests its best weights and prints a sample (lm). */
async function trainNeural(t: NeuralTask, run: NeuralRun): Promise<TrainOutcome> {
  const { start, o, config, reporter, flag } = run;
  const { dir, task, resume } = start;
  reporter.info(
    `model ${config.model.name}: ${t.net.numParameters().toLocaleString('en-US')} parameters; run folder ${dir.path}`,
  );
  if (!resume) writeJsonAtomic(dir.file(RUN_FILES.config), config);
  const result = await fit({
    task: t,
    options: fitOptionsOf(task, o),
    reporter,
    file: (n) => dir.file(n),
    onCheckpoint: () => dir.keep(),
    config,
    resume,
    signal: flag,
    webgpu: run.webgpu,
  });
  await nextTick();
  if (result.interrupted || flag.interrupted) {
    dir.keep();
    const { epoch, batch } = result.state;
    reporter.event('interrupted', { run: dir.path, epoch, batch });
    throw new InterruptedError(
      `interrupted: checkpoint saved in ${dir.path} after ${epoch} complete epoch(s)${batch > 0 ? ` and ${batch} batch(es) of the next` : ''}; continue with: recur train --resume ${dir.path}`,
    );
  }
  loadWeights(dir.file(RUN_FILES.best), t.net);
  t.net.eval();
  const metrics = await t.test(o.testBatches);
  await nextTick();
  if (flag.interrupted) {
    dir.keep();
    throw new InterruptedError(
      `interrupted during the final test: training is complete in ${dir.path}; recur train --resume ${dir.path} runs the test again`,
    );
  }
  requireFiniteMetrics(
    metrics,
    'test',
    `check the test data for constant or extreme values; the weights are in ${dir.file(RUN_FILES.best)}`,
  );
  const extra = await t.after?.(o);
  if (extra !== undefined) {
    reporter.heading('sample');
    reporter.print(extra);
    reporter.event('sample', { text: extra });
  }
  return { metrics, epochs: result.state.epoch, stoppedEarly: result.state.stopped };
}

/** Writes metrics.json and prints the test metrics (the last JSON line: the result). */
function reportOutcome(
  start: TrainStart,
  prepared: Prepared,
  out: TrainOutcome,
  reporter: Reporter,
) {
  const { dir, task } = start;
  writeJsonAtomic(dir.file(RUN_FILES.metrics), { split: 'test', ...out.metrics });
  dir.keep();
  reporter.heading(`${task} · ${prepared.model.name} · test split`);
  reporter.print(metricsTable(out.metrics, 'test'));
  reporter.print(`\nrun folder: ${dir.path}`);
  reporter.result({
    event: 'result',
    task,
    model: prepared.model.name,
    run: dir.path,
    ...(prepared.closedForm ? {} : { epochs: out.epochs, early_stop: out.stoppedEarly }),
    ...out.metrics,
  });
}

async function trainIn(
  start: TrainStart,
  reporter: Reporter,
  flag: InterruptFlag,
): Promise<number> {
  const { task, options } = start;
  const o = withDefaults('train', options);
  manualSeed(o.seed);
  // Everything that can fail on bad input happens here, before any file is written.
  const prepared = prepareTraining(task, o, (line) => reporter.info(line));
  await nextTick(); // a Ctrl-C while the data loaded is delivered here: nothing written yet
  if (flag.interrupted) throw new InterruptedError('interrupted before training started');
  for (const w of prepared.warnings) reporter.warn(w);
  if (o.backend === 'webgpu' && !prepared.neural) {
    reporter.warn(`--backend webgpu: '${prepared.model.name}' is solved in closed form on the CPU`);
  }
  const webgpu =
    o.backend === 'webgpu' && prepared.neural
      ? await webgpuTwin(task, o, prepared.neural, reporter)
      : undefined;
  const config = runConfigOf(task, prepared, options);
  for (const line of [...prepared.describe, ...(prepared.neural?.describe() ?? [])]) {
    reporter.info(line);
  }
  reporter.event('start', {
    task,
    model: prepared.model.name,
    run: start.dir.path,
    parameters: config.parameters,
    resume: start.resume,
  });
  const outcome = prepared.closedForm
    ? solveClosedForm(start.dir, prepared.closedForm, config)
    : await trainNeural(prepared.neural!, {
        start,
        o,
        config,
        reporter,
        flag,
        webgpu,
      });
  reportOutcome(start, prepared, outcome, reporter);
  return 0;
}
