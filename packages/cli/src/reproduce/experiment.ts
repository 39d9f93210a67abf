/**
 * The experiments of `recur reproduce`: checked-in JSON configurations (experiments/*.json), each
 * naming its data, protocol, models and budgets per scale, checked here with zod (and every train
 * option with the same schemas as the command line) before anything runs.
 */
import { z } from 'zod';
import { CliError } from '../errors.js';
import {
  isTaskName,
  keyOfName,
  MODELS,
  type OptionKey,
  type Options,
  TASKS,
  TRAINING_ONLY_OPTIONS,
} from '../options.js';
import { parseOption, parseWith } from '../schema.js';
import classifyUea from './experiments/classify-uea.json' with { type: 'json' };
import events from './experiments/events.json' with { type: 'json' };
import forecastEtt from './experiments/forecast-ett.json' with { type: 'json' };
import imageAr from './experiments/image-ar.json' with { type: 'json' };
import lmChar from './experiments/lm-char.json' with { type: 'json' };
import rlOffline from './experiments/rl-offline.json' with { type: 'json' };

export const SCALES = ['tiny', 'small', 'paper'] as const;
export type Scale = (typeof SCALES)[number];

const name = z.string().regex(/^[a-z0-9][a-z0-9_.-]*$/i, {
  error: (iss) =>
    `expected a name of letters, digits, '-', '_' or '.', got ${JSON.stringify(iss.input)}`,
});
const optionRecord = z.record(z.string(), z.unknown());

const metricSchema = z.object({
  name: z.string().min(1),
  goal: z.enum(['min', 'max']),
  label: z.string().min(1),
});

/** "a is within tolerance of b": relative (share of b, for losses) or absolute (points). */
const toleranceSchema = z.union([
  z.object({ relative: z.number().min(0) }),
  z.object({ absolute: z.number().min(0) }),
]);

const comparisonSchema = z.object({
  name: z.string().min(1),
  a: z.string().min(1),
  b: z.string().min(1),
  metric: z.string().min(1),
  tolerance: toleranceSchema,
});

const scaleSchema = z.object({
  /** The datasets run at this scale (default: all). */
  datasets: z.array(name).min(1).optional(),
  /** The models run at this scale (default: all). */
  models: z.array(z.string().min(1)).min(1).optional(),
  seeds: z.number().int().min(1),
  /** Options of every model at this scale (over the experiment's). */
  options: optionRecord.default({}),
  /** Per-model options at this scale (over everything else). */
  modelOptions: z.record(z.string(), optionRecord).default({}),
  /** Expected wall-clock minutes of the whole experiment at this scale on 2 CPU cores. */
  expectedMinutes: z.number().positive(),
});

export const experimentSchema = z
  .object({
    name,
    title: z.string().min(1),
    description: z.string().min(1),
    /** 'train': units run `recur train <task>`; 'rl': units run @recur/rl's offline experiment. */
    kind: z.enum(['train', 'rl']),
    task: z.string().min(1),
    metrics: z.array(metricSchema).min(1),
    comparisons: z.array(comparisonSchema).default([]),
    models: z.array(z.string().min(1)).min(1),
    datasets: z
      .array(
        z.object({
          name,
          /** train: the data's path under the data folder. */
          data: z.string().min(1).optional(),
          options: optionRecord.default({}),
        }),
      )
      .min(1),
    options: optionRecord.default({}),
    modelOptions: z.record(z.string(), optionRecord).default({}),
    scales: z.object({ tiny: scaleSchema, small: scaleSchema, paper: scaleSchema }),
  })
  .superRefine((e, ctx) => {
    const issue = (message: string, path: (string | number)[]) =>
      ctx.addIssue({ code: 'custom', message, path });
    if (e.kind === 'train' && !isTaskName(e.task)) {
      issue(`expected a task of recur train (${TASKS.join(', ')}), got '${e.task}'`, ['task']);
    }
    if (e.kind === 'rl' && e.task !== 'offline-rl') {
      issue(`expected task 'offline-rl' for kind 'rl', got '${e.task}'`, ['task']);
    }
    const known: readonly string[] = e.kind === 'train' ? MODELS : ['aaren', 'transformer'];
    e.models.forEach((m, i) => {
      if (!known.includes(m))
        issue(`unknown model '${m}' (expected one of: ${known.join(', ')})`, ['models', i]);
    });
    const names = new Set<string>();
    e.datasets.forEach((d, i) => {
      if (names.has(d.name)) issue(`data set '${d.name}' is named twice`, ['datasets', i, 'name']);
      names.add(d.name);
      if (e.kind === 'train' && !d.data) issue('expected the data path', ['datasets', i, 'data']);
    });
    for (const [s, sc] of Object.entries(e.scales)) {
      for (const d of sc.datasets ?? []) {
        if (!names.has(d)) issue(`unknown data set '${d}'`, ['scales', s, 'datasets']);
      }
      for (const m of sc.models ?? []) {
        if (!e.models.includes(m))
          issue(`model '${m}' is not one of the experiment's`, ['scales', s, 'models']);
      }
    }
    e.comparisons.forEach((c, i) => {
      if (!e.metrics.some((m) => m.name === c.metric)) {
        issue(`metric '${c.metric}' is not one of the experiment's metrics`, [
          'comparisons',
          i,
          'metric',
        ]);
      }
    });
  });

export type Experiment = z.infer<typeof experimentSchema>;
export type Metric = z.infer<typeof metricSchema>;
export type Comparison = z.infer<typeof comparisonSchema>;

const SOURCES: Record<string, unknown> = {
  'forecast-ett': forecastEtt,
  'classify-uea': classifyUea,
  events,
  'rl-offline': rlOffline,
  'lm-char': lmChar,
  'image-ar': imageAr,
};

/** The names of the checked-in experiments, in listing order. */
export const EXPERIMENT_NAMES = Object.keys(SOURCES);

/** A checked experiment configuration (any JSON value: checked-in or a user's). */
export function parseExperiment(value: unknown, where: string): Experiment {
  const e = parseWith(experimentSchema, value, where);
  // Every train option is checked now, with the command line's schemas, so a typo fails at once.
  if (e.kind === 'train') {
    const check = (rec: Record<string, unknown>, at: string) =>
      trainOptions(rec, `${where}: ${at}`);
    check(e.options, 'options');
    for (const d of e.datasets) check(d.options, `datasets.${d.name}.options`);
    for (const [m, rec] of Object.entries(e.modelOptions)) check(rec, `modelOptions.${m}`);
    for (const [s, sc] of Object.entries(e.scales)) {
      check(sc.options, `scales.${s}.options`);
      for (const [m, rec] of Object.entries(sc.modelOptions))
        check(rec, `scales.${s}.modelOptions.${m}`);
    }
  } else {
    const check = (rec: Record<string, unknown>, at: string) =>
      parseWith(rlOptionsSchema.partial(), rec, `${where}: ${at}`);
    check(e.options, 'options');
    for (const d of e.datasets) check(d.options, `datasets.${d.name}.options`);
    for (const [s, sc] of Object.entries(e.scales)) check(sc.options, `scales.${s}.options`);
  }
  return e;
}

/** A checked-in experiment by name; an unknown name is a CliError listing the known ones. */
export function getExperiment(experiment: string): Experiment {
  const source = SOURCES[experiment];
  if (!source) {
    throw new CliError(
      `unknown experiment '${experiment}' (expected one of: ${EXPERIMENT_NAMES.join(', ')}; recur reproduce --list describes them)`,
    );
  }
  return parseExperiment(source, `experiment ${experiment}`);
}

/** Options of `recur train` from a config record ('d-model' or 'dModel' keys), each checked. */
export function trainOptions(rec: Record<string, unknown>, where: string): Options {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(rec)) {
    const key = keyOfName(k);
    if (!key) throw new CliError(`${where}: unknown option '${k}'`);
    if (['data', 'out', 'resume', 'force', 'json', 'config', 'model', 'seed'].includes(key)) {
      throw new CliError(`${where}: '${k}' is set by recur reproduce itself, not by an experiment`);
    }
    out[key] = parseOption(key, v, `${where}: option '${k}'`);
  }
  return out as Options;
}

/** The options of @recur/rl's offline run an experiment may set. */
export const rlOptionsSchema = z.strictObject({
  task: z.enum(['cartpole', 'pendulum', 'point-mass']),
  quality: z.enum(['medium', 'medium-replay', 'medium-expert']),
  datasetEpisodes: z.number().int().min(1),
  trainSteps: z.number().int().min(1),
  batchSize: z.number().int().min(1),
  lr: z.number().positive(),
  maxSeconds: z.number().positive(),
  evalEpisodes: z.number().int().min(1),
  context: z.number().int().min(1),
  dModel: z.number().int().min(1),
  nLayers: z.number().int().min(1),
  nHeads: z.number().int().min(1),
});
export type RlOptions = z.infer<typeof rlOptionsSchema>;

/** One unit of work: a model on a data set with a seed, and everything it runs with. */
export interface Unit {
  dataset: string;
  model: string;
  seed: number;
  /** train: the data's absolute path. */
  data?: string;
  /** train: options of `recur train`; rl: options of the offline run. */
  options: Record<string, unknown>;
  /** train: the options the experiment set (for refusing flags a closed-form model ignores). */
  given: OptionKey[];
}

/** The plan of an experiment at a scale: its data sets, models and units, in run order. */
export interface Plan {
  experiment: Experiment;
  scale: Scale;
  seeds: number[];
  datasets: Experiment['datasets'];
  models: string[];
  units: Unit[];
}

/** Every unit of `e` at `scale` (data set by data set, model by model, seed by seed). */
export function plan(
  e: Experiment,
  scale: Scale,
  seedCount: number | undefined,
  resolveData: (p: string) => string,
): Plan {
  const sc = e.scales[scale];
  const seeds = Array.from({ length: seedCount ?? sc.seeds }, (_, i) => i);
  const datasets = sc.datasets
    ? e.datasets.filter((d) => sc.datasets?.includes(d.name))
    : e.datasets;
  const models = sc.models ?? e.models;
  const units: Unit[] = [];
  for (const d of datasets) {
    for (const model of models) {
      const layers = [
        e.options,
        sc.options,
        d.options,
        e.modelOptions[model] ?? {},
        sc.modelOptions[model] ?? {},
      ];
      let options: Record<string, unknown>;
      let given: OptionKey[] = [];
      if (e.kind === 'train') {
        const merged: Record<string, unknown> = {};
        for (const rec of layers) Object.assign(merged, trainOptions(rec, `experiment ${e.name}`));
        if (model === 'naive' || model === 'linear') {
          // Closed-form forecasters take no training or size options: they get none.
          for (const k of TRAINING_ONLY_OPTIONS) delete merged[k];
          if (model === 'naive') delete merged.ridge;
        }
        options = merged;
        given = Object.keys(merged) as OptionKey[];
      } else {
        options = Object.assign({}, ...layers);
      }
      for (const seed of seeds) {
        units.push({
          dataset: d.name,
          model,
          seed,
          data: d.data ? resolveData(d.data) : undefined,
          options,
          given,
        });
      }
    }
  }
  return { experiment: e, scale, seeds, datasets, models, units };
}
