import { existsSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { defaultGenerator, manualSeed, setBackend } from '@recur/tensor';
import type { Invocation } from '../cli.js';
import { CliError, InterruptedError, requireFiniteMetrics } from '../errors.js';
import {
  keyOfName,
  OPTIONS,
  type OptionKey,
  type Options,
  TASKS,
  type TaskName,
  TRAINING_ONLY_OPTIONS,
} from '../options.js';
import { parseJsonWith, parseOption, runConfigSchema } from '../schema.js';
import { prepareTraining } from '../tasks/setup.js';
import type { Metrics, NeuralTask, RunConfig } from '../tasks/types.js';
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
  options: Options,
  cpu: NeuralTask,
  reporter: Reporter,
): Promise<NeuralTask> {
  const adapter = await startWebGPU();
  reporter.info(`backend webgpu: ${adapter}`);
  const rng = defaultGenerator.getState();
  await setBackend('webgpu');
  try {
    const twin = prepareTraining(task, options).neural as NeuralTask;
    await copyWeights(cpu.net, twin.net);
    return twin;
  } finally {
    await setBackend('cpu');
    defaultGenerator.setState(rng);
  }
}

export async function trainCommand(inv: Invocation, reporter: Reporter): Promise<number> {
  let options: Options = inv.options;
  let task: TaskName;
  let resume = false;
  let dir: RunDir;
  if (options.resume) {
    const saved = readRunConfig(options.resume, '--resume');
    if (inv.args[0] && inv.args[0] !== saved.task) {
      throw new CliError(
        `--resume ${options.resume}: the run is a '${saved.task}' run, not '${inv.args[0]}'`,
      );
    }
    task = saved.task;
    const merged: Record<string, unknown> = { ...saved.options };
    for (const k of inv.given) merged[k] = (inv.options as Record<string, unknown>)[k];
    for (const k of [
      'model',
      'lookback',
      'horizon',
      'context',
      'layers',
      'dModel',
      'heads',
      'dFF',
    ] as OptionKey[]) {
      if (inv.given.has(k) && merged[k] !== (saved.options as Record<string, unknown>)[k]) {
        throw new CliError(
          `--resume: ${k} cannot change when resuming (the run has ${String((saved.options as Record<string, unknown>)[k])})`,
        );
      }
    }
    merged.resume = options.resume;
    merged.json = options.json;
    options = merged as Options;
    dir = RunDir.open(options.resume as string, '--resume');
    resume = existsSync(join(dir.path, RUN_FILES.last));
    if (!resume && saved.model.name !== 'naive' && saved.model.name !== 'linear') {
      reporter.warn(
        `--resume ${dir.path}: the run stopped before its first checkpoint; starting it again from the beginning`,
      );
    }
  } else {
    const t = inv.args[0];
    if (!t) throw new CliError(`missing the task: recur train <task> (one of ${TASKS.join(', ')})`);
    if (!(TASKS as readonly string[]).includes(t)) {
      throw new CliError(`unknown task '${t}' (expected one of: ${TASKS.join(', ')})`);
    }
    task = t as TaskName;
    if (!options.model) throw new CliError('--model <name> is required');
    refuseUnusedByClosedForm(options.model, inv.given);
    dir = options.out
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
  }
  const flag: InterruptFlag = { interrupted: false };
  try {
    return await withInterrupt(flag, reporter, () =>
      trainIn(dir, task, options, resume, reporter, flag),
    );
  } catch (e) {
    dir.discard();
    throw e;
  } finally {
    dir.release();
  }
}

async function trainIn(
  dir: RunDir,
  task: TaskName,
  options: Options,
  resume: boolean,
  reporter: Reporter,
  flag: InterruptFlag,
): Promise<number> {
  const dirPath = dir.path;
  const seed = options.seed ?? 0;
  manualSeed(seed);
  // Everything that can fail on bad input happens here, before any file is written.
  const prepared = prepareTraining(task, options, (line) => reporter.info(line));
  await nextTick(); // a Ctrl-C while the data loaded is delivered here: nothing written yet
  if (flag.interrupted) throw new InterruptedError('interrupted before training started');
  for (const w of prepared.warnings) reporter.warn(w);
  if (options.backend === 'webgpu' && !prepared.neural) {
    reporter.warn(`--backend webgpu: '${prepared.model.name}' is solved in closed form on the CPU`);
  }
  const webgpu =
    options.backend === 'webgpu' && prepared.neural
      ? await webgpuTwin(task, options, prepared.neural, reporter)
      : undefined;
  const net = prepared.neural?.net;
  const config: RunConfig = {
    format: 'recur-run',
    version: 1,
    task,
    model: prepared.model,
    taskConfig: prepared.taskConfig,
    data: resolve(options.data as string),
    // Paths absolute, so that --resume works from any folder.
    options: {
      ...options,
      data: resolve(options.data as string),
      test: options.test === undefined ? undefined : resolve(options.test),
      resume: undefined,
      json: undefined,
      force: undefined,
    },
    parameters: net ? net.numParameters() : 0,
  };
  const describe = [...prepared.describe, ...(prepared.neural?.describe() ?? [])];
  for (const line of describe) reporter.info(line);
  reporter.event('start', {
    task,
    model: prepared.model.name,
    run: dirPath,
    parameters: config.parameters,
    resume,
  });

  let metrics: Metrics;
  let stoppedEarly = false;
  let epochs = 0;
  if (prepared.closedForm) {
    writeJsonAtomic(dir.file(RUN_FILES.config), config);
    prepared.closedForm.save?.(dir.file(RUN_FILES.best));
    metrics = prepared.closedForm.test();
    requireFiniteMetrics(
      metrics,
      'test',
      'check the data for constant or extreme values (and --ridge for --model linear)',
    );
  } else {
    const t = prepared.neural as NonNullable<typeof prepared.neural>;
    reporter.info(
      `model ${prepared.model.name}: ${t.net.numParameters().toLocaleString('en-US')} parameters; run folder ${dirPath}`,
    );
    if (!resume) writeJsonAtomic(dir.file(RUN_FILES.config), config);
    const fitOptions: FitOptions = {
      epochs: options.epochs ?? 10,
      lr: options.lr ?? 1e-3,
      weightDecay: options.weightDecay ?? 0,
      clip: options.clip ?? 1,
      patience: options.patience ?? 3,
      schedule: (options.schedule ?? 'constant') as FitOptions['schedule'],
      warmup: options.warmup ?? 0,
      stepsPerEpoch: task === 'lm' ? undefined : options.stepsPerEpoch,
      valBatches: options.valBatches,
      seed,
      maxSeconds: options.maxSeconds,
      monitor: options.earlyStopMetric
        ? {
            metric: options.earlyStopMetric,
            mode: options.earlyStopMetric === 'accuracy' ? 'max' : 'min',
          }
        : undefined,
    };
    const result = await fit({
      task: t,
      options: fitOptions,
      reporter,
      file: (n) => dir.file(n),
      onCheckpoint: () => dir.keep(),
      config,
      resume,
      signal: flag,
      webgpu,
    });
    await nextTick();
    if (result.interrupted || flag.interrupted) {
      dir.keep();
      const { epoch, batch } = result.state;
      reporter.event('interrupted', { run: dirPath, epoch, batch });
      throw new InterruptedError(
        `interrupted: checkpoint saved in ${dirPath} after ${epoch} complete epoch(s)${batch > 0 ? ` and ${batch} batch(es) of the next` : ''}; continue with: recur train --resume ${dirPath}`,
      );
    }
    stoppedEarly = result.state.stopped;
    epochs = result.state.epoch;
    loadWeights(dir.file(RUN_FILES.best), t.net);
    t.net.eval();
    metrics = await t.test(options.testBatches);
    await nextTick();
    if (flag.interrupted) {
      dir.keep();
      throw new InterruptedError(
        `interrupted during the final test: training is complete in ${dirPath}; recur train --resume ${dirPath} runs the test again`,
      );
    }
    requireFiniteMetrics(
      metrics,
      'test',
      `check the test data for constant or extreme values; the weights are in ${dir.file(RUN_FILES.best)}`,
    );
    const extra = await t.after?.(options);
    if (extra !== undefined) {
      reporter.heading('sample');
      reporter.print(extra);
      reporter.event('sample', { text: extra });
    }
  }
  writeJsonAtomic(dir.file(RUN_FILES.metrics), {
    split: 'test',
    ...metrics,
  });
  dir.keep();
  reporter.heading(`${task} · ${prepared.model.name} · test split`);
  reporter.print(metricsTable(metrics, 'test'));
  reporter.print(`\nrun folder: ${dirPath}`);
  reporter.result({
    event: 'result',
    task,
    model: prepared.model.name,
    run: dirPath,
    ...(prepared.closedForm ? {} : { epochs, early_stop: stoppedEarly }),
    ...metrics,
  });
  return 0;
}
