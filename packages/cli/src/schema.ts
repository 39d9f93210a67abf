/**
 * The one validation layer of the command: zod schemas for every option value (from the command
 * line or --config), a run folder's config.json and the metadata of checkpoints. Whatever comes
 * from outside passes through here, so a wrong type or an absurd value is one CliError naming where
 * it came from, what was expected and what came, never a stack trace further on.
 */
import { z } from 'zod';
import { CliError, messageOf } from './errors.js';
import {
  FORECAST_BASELINES,
  type OptionKey,
  type OptionSpec,
  SEQUENCE_MODELS,
  specOf,
  TASKS,
} from './options.js';

const shown = (raw: unknown): string =>
  typeof raw === 'string' ? `'${raw}'` : (JSON.stringify(raw) ?? String(raw));

function ranged(spec: OptionSpec, base: z.ZodNumber): z.ZodNumber {
  let s = base;
  if (spec.min !== undefined) {
    const op = spec.exclusiveMin ? '>' : '>=';
    const error = (iss: { input: unknown }) =>
      `expected a value ${op} ${spec.min}, got ${iss.input}`;
    s = spec.exclusiveMin ? s.gt(spec.min, { error }) : s.min(spec.min, { error });
  }
  if (spec.max !== undefined) {
    s = s.max(spec.max, { error: (iss) => `expected a value <= ${spec.max}, got ${iss.input}` });
  }
  return s;
}

function choice(spec: OptionSpec): z.ZodType<string> {
  const str = z
    .string({ error: (iss) => `expected a string, got ${shown(iss.input)}` })
    .min(1, { error: 'expected a value, got an empty string' });
  const choices = spec.choices;
  if (!choices) return str;
  return str.refine((v) => choices.includes(v), {
    error: (iss) => `unknown value '${String(iss.input)}' (expected one of: ${choices.join(', ')})`,
  });
}

/** The schema of one option's value; strings (the command line) are read in the option's kind. */
export function optionSchema(spec: OptionSpec): z.ZodType {
  switch (spec.kind) {
    case 'int': {
      const error = (iss: { input: unknown }) => `expected an integer, got ${shown(iss.input)}`;
      return z.preprocess(
        (raw) => (typeof raw === 'string' && /^\s*[+-]?\d+\s*$/.test(raw) ? Number(raw) : raw),
        ranged(spec, z.number({ error }).int({ error }).safe({ error })),
      );
    }
    case 'number': {
      // Decimal literals only: no hexadecimal, binary, 'Infinity' or empty strings.
      const error = (iss: { input: unknown }) => `expected a number, got ${shown(iss.input)}`;
      return z.preprocess(
        (raw) =>
          typeof raw === 'string' && /^\s*[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?\s*$/i.test(raw)
            ? Number(raw)
            : raw,
        ranged(spec, z.number({ error }).finite({ error })),
      );
    }
    case 'boolean':
      return z.preprocess(
        (raw) => (raw === 'true' ? true : raw === 'false' ? false : raw),
        z.boolean({ error: (iss) => `expected true or false, got ${shown(iss.input)}` }),
      );
    case 'list':
      return z.preprocess(
        (raw) =>
          typeof raw === 'string'
            ? raw
                .split(',')
                .map((s) => s.trim())
                .filter(Boolean)
            : raw,
        z
          .array(choice(spec), { error: 'expected a comma-separated list' })
          .min(1, { error: 'expected a comma-separated list' }),
      );
    default:
      return choice(spec);
  }
}

const optionSchemas = new Map<OptionKey, z.ZodType>();

/** The first problem of a failed parse as "where: path: message". */
function describeIssue(where: string, error: z.ZodError): string {
  const issue = error.issues[0]!;
  const path = issue.path.length > 0 ? `${issue.path.map(String).join('.')}: ` : '';
  return `${where}: ${path}${issue.message}`;
}

/** Parses and checks one value of an option; `where` names its source for the message. */
export function parseOption(key: OptionKey, raw: unknown, where: string): unknown {
  let schema = optionSchemas.get(key);
  if (!schema) {
    schema = optionSchema(specOf(key));
    optionSchemas.set(key, schema);
  }
  const r = schema.safeParse(raw);
  if (!r.success) throw new CliError(describeIssue(where, r.error));
  return r.data;
}

/** Parses `value` with `schema`, or throws a CliError naming `where`. */
export function parseWith<T>(schema: z.ZodType<T>, value: unknown, where: string): T {
  const r = schema.safeParse(value);
  if (!r.success) throw new CliError(describeIssue(where, r.error));
  return r.data;
}

/** JSON text parsed and checked with `schema`: invalid JSON and wrong shapes alike are CliErrors. */
export function parseJsonWith<T>(schema: z.ZodType<T>, text: string, where: string): T {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new CliError(`${where}: not valid JSON (${messageOf(e)})`);
  }
  return parseWith(schema, value, where);
}

const count = z
  .number()
  .int()
  .min(1)
  .max(2 ** 31 - 1);
const finite = z.number().finite();

/** A sequence model's config as config.json keeps it (sizes are checked against memory later). */
export const backboneSchema = z.object({
  name: z.enum(SEQUENCE_MODELS),
  layers: count,
  dModel: count,
  heads: count,
  dFF: count,
  window: count,
  posDim: count,
  maxLen: count,
  dropout: z.number().min(0).max(0.9),
  positions: z.boolean(),
});

/** Numbers, one per channel or dimension, with the count checked against the config's. */
const numbers = z.array(finite);

/** What each task records in config.json to rebuild itself (its data's scaling, labels, vocabulary). */
const taskConfigSchemas = {
  forecast: z
    .looseObject({
      lookback: count,
      horizon: count,
      split: z.string(),
      channels: z.array(z.string()).min(1),
      scaler: z.object({ mean: numbers, std: numbers }),
      instanceNorm: z.boolean(),
      ridge: finite.optional(),
    })
    .refine(
      (c) =>
        c.scaler.mean.length === c.channels.length && c.scaler.std.length === c.channels.length,
      {
        error: 'expected scaler.mean and scaler.std to have one number per channel',
      },
    ),
  classify: z
    .looseObject({
      problem: z.string(),
      dims: count,
      labels: z.array(z.string()).min(1),
      mean: numbers,
      std: numbers,
      pool: z.enum(['mean', 'last']),
    })
    .refine((c) => c.mean.length === c.dims && c.std.length === c.dims, {
      error: 'expected mean and std to have one number per dimension',
    }),
  events: z.looseObject({ marks: count, mixtures: count, logMean: finite, logStd: finite }),
  lm: z.looseObject({ vocab: z.array(z.string()).min(1), context: count }),
  'image-ar': z.looseObject({ size: count, channels: count }),
} satisfies Record<(typeof TASKS)[number], z.ZodType>;

/** A run folder's config.json, the task's own settings included. */
export const runConfigSchema = z
  .object({
    format: z.literal('recur-run', { error: "expected format 'recur-run'" }),
    version: z.literal(1, { error: 'expected version 1' }),
    task: z.enum(TASKS),
    model: z.discriminatedUnion('name', [
      z.object({ name: z.enum(FORECAST_BASELINES) }),
      backboneSchema,
    ]),
    taskConfig: z.record(z.string(), z.unknown()),
    data: z.string(),
    options: z.record(z.string(), z.unknown()),
    parameters: z.number().int().min(0),
  })
  .superRefine((cfg, ctx) => {
    const checked = taskConfigSchemas[cfg.task].safeParse(cfg.taskConfig);
    if (checked.success) return;
    for (const issue of checked.error.issues) {
      ctx.addIssue({ code: 'custom', message: issue.message, path: ['taskConfig', ...issue.path] });
    }
  });

/** Trainer state in a last.safetensors checkpoint (random states keep NaN as null). */
export const trainerStateSchema = z.object({
  epoch: z.number().int().min(0),
  step: z.number().int().min(0),
  /** Batches of the current epoch already taken (step-granular checkpoints). */
  batch: z.number().int().min(0).default(0),
  best: finite.nullable(),
  bestEpoch: z.number().int().min(0),
  badEpochs: z.number().int().min(0),
  rng: z.array(finite.nullable()),
  dataRng: z.array(finite.nullable()),
  /** The random states at the start of the current epoch (to redraw its batch order). */
  epochRng: z.array(finite.nullable()).optional(),
  epochDataRng: z.array(finite.nullable()).optional(),
  /** Running sums of the current epoch's training loss and items. */
  lossSum: finite.default(0),
  items: finite.default(0),
  /** Seconds of the --max-seconds budget spent (checkpoints written before it existed: 0). */
  spentSeconds: finite.min(0).default(0),
  scheduler: z.object({ lastEpoch: z.number().int(), baseLrs: z.array(finite) }).nullable(),
  history: z.array(z.record(z.string(), finite)),
  stopped: z.boolean(),
});

/** Optimiser metadata in a last.safetensors checkpoint (its tensors are stored beside it). */
export const optimizerMetaSchema = z.object({
  paramGroups: z.array(z.looseObject({ lr: finite, params: z.array(z.number().int().min(0)) })),
  numbers: z.record(z.string().regex(/^\d+$/), z.record(z.string(), finite)),
});
