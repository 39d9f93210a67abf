/**
 * One unit of a `recur reproduce` experiment — a model on a data set with a seed — run to the end
 * and summarised in a small JSON record, saved as soon as it finishes so that a killed experiment
 * resumes with the units it had not finished.
 */
import { closeSync, existsSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import {
  getTask,
  type ReferenceReturns,
  type TaskName as RlTaskName,
  referenceReturns,
  runOfflineRl,
} from '@recur/rl';
import { trainCommand } from '../commands/train.js';
import { CliError } from '../errors.js';
import {
  defaultOf,
  OPTIONS,
  type OptionKey,
  type Options,
  optionsOf,
  type TaskName,
} from '../options.js';
import { RUN_FILES } from '../train/checkpoint.js';
import { readJsonFile } from '../util/files.js';
import { Reporter } from '../util/output.js';
import type { RlOptions, Unit } from './experiment.js';

/** What a finished unit saved (units/<data set>/<model>/seed-<n>.json). */
export interface UnitResult {
  format: 'recur-reproduce-unit';
  version: 1;
  dataset: string;
  model: string;
  seed: number;
  /** The options it ran with: a rerun with other options runs the unit again. */
  options: Record<string, unknown>;
  /** Test metrics (train tasks) or the evaluation's numbers (rl). */
  metrics: Record<string, number>;
  parameters: number;
  /** Seconds of training steps (validation excluded); closed-form models: the whole fit. */
  trainSeconds: number;
  /** Items per second while training, in the task's unit (windows, sequences, chars, steps). */
  throughput: { unit: string; perSecond: number } | null;
  /** Tokens (time steps, characters, sub-pixels) per second while training, where a token is defined. */
  tokensPerSecond: number | null;
  /** Wall-clock seconds of the whole unit (data, training, validation, test). */
  wallSeconds: number;
  finishedAt: string;
}

/** Paths of a unit's files under the experiment's folder. */
export function unitPaths(out: string, u: Pick<Unit, 'dataset' | 'model' | 'seed'>) {
  const base = join(out, 'units', u.dataset, u.model, `seed-${u.seed}`);
  return { result: `${base}.json`, log: `${base}.log`, run: base };
}

/** Keys sorted, so that two option records compare by their content. */
export function canonical(value: unknown): string {
  return JSON.stringify(value, (_k, v) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : 1)))
      : v,
  );
}

/** The saved result of a unit when it finished with the same options; otherwise undefined. */
export function finishedUnit(out: string, u: Unit): UnitResult | undefined {
  const path = unitPaths(out, u).result;
  if (!existsSync(path)) return undefined;
  const saved = readJsonFile(path, 'unit result') as UnitResult;
  if (saved?.format !== 'recur-reproduce-unit') return undefined;
  return canonical(saved.options) === canonical(unitOptionsRecord(u)) ? saved : undefined;
}

/** What a unit's result records as its options (the data path included). */
export function unitOptionsRecord(u: Unit): Record<string, unknown> {
  return u.data === undefined ? u.options : { ...u.options, data: u.data };
}

/** A writable stream appending to a file (the unit's log), synchronously. */
function appendStream(path: string): { stream: Writable; close: () => void } {
  const fd = openSync(path, 'a');
  const stream = new Writable({
    write(chunk, _enc, cb) {
      writeSync(fd, chunk as Buffer);
      cb();
    },
  });
  return { stream, close: () => closeSync(fd) };
}

/** Tokens per item of a task's throughput unit (undefined: the item is not made of tokens). */
function tokensPerItem(task: TaskName, options: Record<string, unknown>): number | undefined {
  if (task === 'lm' || task === 'image-ar') return 1;
  if (task === 'forecast') {
    const { lookback } = options;
    return typeof lookback === 'number' ? lookback : OPTIONS.lookback.default;
  }
  return undefined;
}

/**
 * The options and given keys of a unit's `recur train`: a unit killed mid-training resumes from its
 * checkpoint; otherwise the task's defaults, the experiment's options and the unit's own.
 */
function trainInvocation(
  task: TaskName,
  u: Unit,
  paths: ReturnType<typeof unitPaths>,
  log: Writable,
): { options: Options; given: Set<OptionKey> } {
  const resumable =
    existsSync(join(paths.run, RUN_FILES.config)) && existsSync(join(paths.run, RUN_FILES.last));
  if (resumable) {
    log.write(`--- resuming ${paths.run}\n`);
    return { options: { resume: paths.run, json: false }, given: new Set() };
  }
  const filled: Record<string, unknown> = {};
  for (const [key, spec] of optionsOf('train', task)) {
    const d = defaultOf(spec, 'train');
    if (d !== undefined) filled[key] = Array.isArray(d) ? [...d] : d;
  }
  Object.assign(filled, u.options, {
    model: u.model,
    seed: u.seed,
    data: u.data,
    out: paths.run,
    force: true,
    json: false,
  });
  log.write(`--- recur train ${task} (${u.dataset}, ${u.model}, seed ${u.seed})\n`);
  const added: OptionKey[] = ['model', 'seed', 'data', 'out', 'force'];
  // The experiment's options were checked against the option schemas when it was read.
  return { options: filled as Options, given: new Set([...u.given, ...added]) };
}

/** A finished run's numeric test metrics and parameter count (a linear forecaster's: L·H + H). */
function runSummary(runDir: string): { metrics: Record<string, number>; parameters: number } {
  const metricsFile = readJsonFile(join(runDir, RUN_FILES.metrics), 'metrics') as Record<
    string,
    unknown
  >;
  const metrics = Object.fromEntries(
    Object.entries(metricsFile).filter((e): e is [string, number] => typeof e[1] === 'number'),
  );
  const config = readJsonFile(join(runDir, RUN_FILES.config), 'run config') as {
    parameters: number;
    model: { name: string };
    taskConfig: { lookback?: number; horizon?: number };
  };
  let parameters = config.parameters;
  if (config.model.name === 'linear') {
    const { lookback = 0, horizon = 0 } = config.taskConfig;
    parameters = lookback * horizon + horizon;
  }
  return { metrics, parameters };
}

/** Training seconds and items per second summed over a run's history (null: no history). */
function trainingRate(
  runDir: string,
): { seconds: number; throughput: UnitResult['throughput'] } | null {
  const historyPath = join(runDir, RUN_FILES.history);
  if (!existsSync(historyPath)) return null;
  const history = readJsonFile(historyPath, 'history') as Record<string, number>[];
  let seconds = 0;
  let items = 0;
  let unit = '';
  for (const h of history) {
    const rateKey = Object.keys(h).find((k) => k.endsWith('_per_s'));
    seconds += h.seconds ?? 0;
    if (rateKey) {
      unit = rateKey.replace(/_per_s$/, '');
      items += (h.seconds ?? 0) * (h[rateKey] ?? 0);
    }
  }
  const throughput = unit && seconds > 0 ? { unit, perSecond: items / seconds } : null;
  return { seconds, throughput };
}

/** Runs `recur train` for a unit (in this process, its output into the unit's log). */
export async function runTrainUnit(task: TaskName, u: Unit, out: string): Promise<UnitResult> {
  const paths = unitPaths(out, u);
  const log = appendStream(paths.log);
  const started = performance.now();
  try {
    const reporter = new Reporter({ json: false, stdout: log.stream, stderr: log.stream });
    const { options, given } = trainInvocation(task, u, paths, log.stream);
    await trainCommand({ command: 'train', args: [task], options, given }, reporter);
    const wallSeconds = (performance.now() - started) / 1e3;
    const { metrics, parameters } = runSummary(paths.run);
    const rate = trainingRate(paths.run);
    const throughput = rate?.throughput ?? null;
    const perItem = tokensPerItem(task, u.options);
    return {
      ...unitHeader(u),
      metrics,
      parameters,
      trainSeconds: rate?.seconds ?? wallSeconds,
      throughput,
      tokensPerSecond: throughput && perItem !== undefined ? throughput.perSecond * perItem : null,
      wallSeconds,
      finishedAt: new Date().toISOString(),
    };
  } finally {
    log.close();
  }
}

/** What every unit result starts with: its format and which run it is (with the options used). */
function unitHeader(u: Unit) {
  return {
    format: 'recur-reproduce-unit',
    version: 1,
    dataset: u.dataset,
    model: u.model,
    seed: u.seed,
    options: unitOptionsRecord(u),
  } as const;
}

const references = new Map<RlTaskName, ReferenceReturns>();

/** Runs @recur/rl's offline experiment for a unit: dataset, Decision Transformer, roll-outs. */
export function runRlUnit(u: Unit): UnitResult {
  const o = u.options as Partial<RlOptions>;
  if (!o.task || !o.quality) throw new CliError(`${u.dataset}: the rl unit needs task and quality`);
  const started = performance.now();
  let reference = references.get(o.task);
  if (!reference) {
    reference = referenceReturns(getTask(o.task));
    references.set(o.task, reference);
  }
  const r = runOfflineRl({
    ...o,
    task: o.task,
    quality: o.quality,
    backbone: u.model as 'aaren' | 'transformer',
    seed: u.seed,
    reference,
  });
  return {
    ...unitHeader(u),
    metrics: {
      normalisedReturn: r.normalisedReturn,
      envStepsPerSecond: r.envStepsPerSecond,
      meanReturn: r.meanReturn,
      finalLoss: r.finalLoss,
      targetReturn: r.targetReturn,
      datasetMeanReturn: r.datasetMeanReturn,
      trainSteps: r.trainSteps,
      randomReturn: reference.random,
      expertReturn: reference.expert,
    },
    parameters: r.parameters,
    trainSeconds: r.trainSeconds,
    throughput:
      r.trainSeconds > 0 ? { unit: 'steps', perSecond: r.trainSteps / r.trainSeconds } : null,
    tokensPerSecond:
      r.trainSeconds > 0
        ? (r.trainSteps * (o.batchSize ?? 16) * 3 * (o.context ?? 20)) / r.trainSeconds
        : null,
    wallSeconds: (performance.now() - started) / 1e3,
    finishedAt: new Date().toISOString(),
  };
}
