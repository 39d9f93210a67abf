/**
 * Every option of every `recur` command, in ONE typed table. The parser (cli.ts), the `--help`
 * texts, config-file checking and the docs' CLI reference are all generated from OPTIONS and
 * COMMANDS; nothing else declares a flag.
 */

import { describeMetrics, TASK_INFO } from './tasks/catalog.js';

/** Every `recur` command, as typed on the command line. */
export const COMMAND_NAMES = [
  'train',
  'eval',
  'demo',
  'bench stream',
  'bench ops',
  'info',
  'export',
  'reproduce',
] as const;
/** A `recur` command, as typed on the command line (two words for 'bench stream'). */
export type CommandName = (typeof COMMAND_NAMES)[number];

/**
 * The tasks `recur train` and `recur eval` run: forecasting, sequence classification, event
 * sequences, character language modelling and autoregressive image modelling.
 */
export const TASKS = ['forecast', 'classify', 'events', 'lm', 'image-ar'] as const;
/** One of {@link TASKS}. */
export type TaskName = (typeof TASKS)[number];
/** Whether `name` is one of {@link TASKS}. */
export function isTaskName(name: string): name is TaskName {
  return TASKS.some((t) => t === name);
}

/** Sequence models (every task). */
export const SEQUENCE_MODELS = [
  'aaren',
  'transformer',
  'aft-full',
  'aft-local',
  'aft-simple',
  'aft-conv',
  'lstm',
  'gru',
] as const;
/** One of {@link SEQUENCE_MODELS}. */
export type SequenceModelName = (typeof SEQUENCE_MODELS)[number];
/** Closed-form forecasting baselines (the forecast task only). */
export const FORECAST_BASELINES = ['naive', 'linear'] as const;
/**
 * Every model name `--model` accepts: the {@link SEQUENCE_MODELS} and the closed-form forecasting
 * baselines.
 */
export const MODELS = [...SEQUENCE_MODELS, ...FORECAST_BASELINES] as const;

/**
 * Options a closed-form forecaster (naive, linear) has no use for: it neither trains nor has a
 * network, so `recur train` refuses them rather than ignore them silently.
 */
export const TRAINING_ONLY_OPTIONS = [
  'layers',
  'dModel',
  'heads',
  'dFF',
  'window',
  'posDim',
  'dropout',
  'positions',
  'epochs',
  'batchSize',
  'stepsPerEpoch',
  'valBatches',
  'lr',
  'weightDecay',
  'schedule',
  'warmup',
  'clip',
  'patience',
  'maxSeconds',
  'earlyStopMetric',
  'testBatches',
] as const;
/** One of {@link MODELS}. */
export type ModelName = (typeof MODELS)[number];

/** How an option's value is written and parsed. */
export type OptionKind = 'int' | 'number' | 'string' | 'path' | 'boolean' | 'list';
export type KindValue<K extends OptionKind> = K extends 'int' | 'number'
  ? number
  : K extends 'boolean'
    ? boolean
    : K extends 'list'
      ? string[]
      : string;

export type OptionGroup = 'data' | 'model' | 'training' | 'output' | 'benchmark';

/**
 * How one command-line option is written, parsed and documented: its flag, value kind, help text,
 * group, default, and the commands (and tasks) that take it.
 */
export interface OptionSpec<K extends OptionKind = OptionKind> {
  /** The long flag, '--d-model'. */
  flag: `--${string}`;
  kind: K;
  /** Placeholder of the value in help texts ('<n>'); none for booleans. */
  value?: string;
  description: string;
  /** The description where a command needs its own (shared options such as --out). */
  descriptions?: Partial<Record<CommandName, string>>;
  group: OptionGroup;
  /** The commands that take this option. */
  commands: readonly CommandName[];
  /** `train`: the tasks that use this option (default: every task). */
  tasks?: readonly TaskName[];
  /** Default value, the same for every command or per command. */
  default?: KindValue<K> | Partial<Record<CommandName, KindValue<K>>>;
  /** Allowed values (string and list kinds: each element). */
  choices?: readonly string[];
  /** Inclusive bounds of numeric values. */
  min?: number;
  max?: number;
  /** Numbers strictly above `min`. */
  exclusiveMin?: boolean;
  /** Booleans: also accept `--no-<name>`. */
  negatable?: boolean;
}

// Tuples, not CommandName[], so that OptionsOf knows which commands take an option.
const ALL = COMMAND_NAMES;
const TRAIN_EVAL = ['train', 'eval'] as const;
const SIZE = ['train', 'info', 'bench stream'] as const;

/**
 * Every option of every command, keyed by its camelCase name: the single source the parser,
 * `--help` and the docs' CLI reference read.
 */
export const OPTIONS = {
  // ---- output
  json: {
    flag: '--json',
    kind: 'boolean',
    description:
      'machine-readable output: one JSON object per line (events while training); the last line holds the results under their plain names (mse, mae, accuracy, nll, rmse, bpc)',
    group: 'output',
    commands: ALL,
    default: false,
  },
  out: {
    flag: '--out',
    kind: 'path',
    value: '<dir>',
    description: 'output folder',
    descriptions: {
      train:
        'the run folder: config.json, model.safetensors (best weights), last.safetensors (for --resume), history.json, metrics.json (default: runs/<task>-<model>-<time>)',
      demo: 'folder for the figures (demo-*.svg) and the numbers (demo.json)',
      'bench stream': 'folder for the figures (stream-*.svg) and the numbers (stream.json)',
      'bench ops': 'write the numbers to ops.json in this folder (default: print only)',
      export: 'folder for model.onnx, step.onnx and recur-onnx.json (default: <run-dir>/onnx)',
      reproduce:
        'folder for results.json, results.md, results.svg and units/ (one folder per data set × model × seed; a rerun skips the finished ones) (default: reproduce/<experiment>-<scale>)',
    },
    group: 'output',
    commands: ['train', 'demo', 'bench stream', 'bench ops', 'export', 'reproduce'],
    default: { demo: 'recur-demo', 'bench stream': 'recur-bench' },
  },
  config: {
    flag: '--config',
    kind: 'path',
    value: '<file.json>',
    description:
      'read options from a JSON object ({ "epochs": 5, "d-model": 32, … }); flags on the command line win',
    group: 'output',
    commands: ['train'],
  },
  seed: {
    flag: '--seed',
    kind: 'int',
    value: '<n>',
    description: 'random seed (initialisation, shuffling, dropout): the same seed repeats a run',
    group: 'training',
    commands: ['train', 'demo', 'bench stream', 'info'],
    default: 0,
  },
  // ---- data
  data: {
    flag: '--data',
    kind: 'path',
    value: '<path>',
    description:
      'data: a CSV (forecast), a *_TRAIN.ts file or its folder (classify), a JSON file or folder of train/dev/test.json or RMTPP time-/event-*.txt (events), a text file (lm), a folder of JPEG packs *_train.bin + *_train_index.csv and the same for test, as cifar10_jpeg/ (image-ar)',
    descriptions: {
      reproduce:
        'the folder holding the data sets, laid out as ETT/, weather/, exchange_rate/, UEA/, tpp/, tinyshakespeare/, cifar10_jpeg/ (default: $RECUR_DATA, else ../shared/data)',
    },
    group: 'data',
    commands: [...TRAIN_EVAL, 'reproduce'],
  },
  test: {
    flag: '--test',
    kind: 'path',
    value: '<file>',
    description:
      'classify: the TEST .ts file (default: the TRAIN file with TRAIN replaced by TEST)',
    group: 'data',
    commands: TRAIN_EVAL,
    tasks: ['classify'],
  },
  lookback: {
    flag: '--lookback',
    kind: 'int',
    value: '<n>',
    description: 'forecast: input window length L',
    group: 'data',
    commands: ['train'],
    tasks: ['forecast'],
    default: 96,
    min: 1,
  },
  horizon: {
    flag: '--horizon',
    kind: 'int',
    value: '<n>',
    description: 'forecast: steps to predict H',
    group: 'data',
    commands: ['train'],
    tasks: ['forecast'],
    default: 96,
    min: 1,
  },
  split: {
    flag: '--split',
    kind: 'string',
    value: '<scheme>',
    description:
      "forecast: train/val/test rows. 'etth' 12/4/4 months of hourly rows, 'ettm' the same ×4, 'ratio' 70/10/20 %; 'auto' picks etth/ettm from a file named ETTh*/ETTm*, else ratio",
    group: 'data',
    commands: TRAIN_EVAL,
    tasks: ['forecast'],
    default: 'auto',
    choices: ['auto', 'etth', 'ettm', 'ratio'],
  },
  valFraction: {
    flag: '--val-fraction',
    kind: 'number',
    value: '<x>',
    description:
      'classify, events, image-ar: share of the training sequences (images) held out for validation when the data has no dev split',
    group: 'data',
    commands: ['train'],
    tasks: ['classify', 'events', 'image-ar'],
    default: 0.1,
    min: 0,
    max: 0.5,
  },
  context: {
    flag: '--context',
    kind: 'int',
    value: '<n>',
    description: 'lm: characters per training sequence (and per evaluation chunk)',
    group: 'data',
    commands: ['train'],
    tasks: ['lm'],
    default: 128,
    min: 2,
  },
  // ---- model
  model: {
    flag: '--model',
    kind: 'string',
    value: '<name>',
    description:
      'the model: aaren, transformer, aft-full, aft-local, aft-simple, aft-conv, lstm, gru; forecast also naive (repeat the last value) and linear (closed-form ridge map)',
    group: 'model',
    commands: ['train', 'info'],
    choices: MODELS,
  },
  models: {
    flag: '--models',
    kind: 'list',
    value: '<a,b,…>',
    description: 'models to stream side by side',
    group: 'benchmark',
    commands: ['bench stream'],
    default: ['aaren', 'transformer', 'aft-simple', 'lstm'],
    choices: SEQUENCE_MODELS,
  },
  layers: {
    flag: '--layers',
    kind: 'int',
    value: '<n>',
    description: 'stacked blocks (RNN layers for lstm/gru)',
    group: 'model',
    commands: SIZE,
    default: 2,
    min: 1,
  },
  dModel: {
    flag: '--d-model',
    kind: 'int',
    value: '<n>',
    description: 'model width d (hidden size for lstm/gru)',
    group: 'model',
    commands: SIZE,
    default: 64,
    min: 1,
  },
  heads: {
    flag: '--heads',
    kind: 'int',
    value: '<n>',
    description: 'attention heads (aaren, transformer, aft-conv); must divide --d-model',
    group: 'model',
    commands: SIZE,
    default: 4,
    min: 1,
  },
  dFF: {
    flag: '--d-ff',
    kind: 'int',
    value: '<n>',
    description: 'feed-forward width of each block (default 2 × d-model)',
    group: 'model',
    commands: SIZE,
    min: 1,
  },
  window: {
    flag: '--window',
    kind: 'int',
    value: '<n>',
    description: 'aft-local: width of the learned position biases; aft-conv: kernel size',
    group: 'model',
    commands: SIZE,
    default: 16,
    min: 1,
  },
  posDim: {
    flag: '--pos-dim',
    kind: 'int',
    value: '<n>',
    description: 'aft-full, aft-local: rank of the factorised position biases',
    group: 'model',
    commands: SIZE,
    default: 32,
    min: 1,
  },
  dropout: {
    flag: '--dropout',
    kind: 'number',
    value: '<p>',
    description: 'dropout inside the blocks while training',
    group: 'model',
    commands: ['train'],
    default: 0,
    min: 0,
    max: 0.9,
  },
  positions: {
    flag: '--positions',
    kind: 'string',
    value: '<kind>',
    description:
      "position information added to the inputs: 'sinusoidal', 'none', or 'auto' (sinusoidal for aaren, transformer and aft-simple; none for lstm, gru and the AFT variants with position biases)",
    group: 'model',
    commands: ['train'],
    default: 'auto',
    choices: ['auto', 'sinusoidal', 'none'],
  },
  instanceNorm: {
    flag: '--instance-norm',
    kind: 'boolean',
    description:
      'forecast: normalise each input window by its own mean and std and undo it on the forecast (RevIN without affine); --no-instance-norm turns it off',
    group: 'model',
    commands: ['train'],
    tasks: ['forecast'],
    default: true,
    negatable: true,
  },
  pool: {
    flag: '--pool',
    kind: 'string',
    value: '<how>',
    description:
      "classify: how a sequence becomes one vector: 'mean' over its valid steps or its 'last' step",
    group: 'model',
    commands: ['train'],
    tasks: ['classify'],
    default: 'mean',
    choices: ['mean', 'last'],
  },
  mixtures: {
    flag: '--mixtures',
    kind: 'int',
    value: '<n>',
    description: 'events: components of the log-normal mixture of inter-event times',
    group: 'model',
    commands: ['train'],
    tasks: ['events'],
    default: 8,
    min: 1,
  },
  imageSize: {
    flag: '--image-size',
    kind: 'int',
    value: '<n>',
    description:
      "image-ar: side of the images after downscaling by averaging blocks of pixels (must divide the images' side: 8, 16 or 32 for CIFAR-10); a sequence is size × size × 3 sub-pixels",
    group: 'data',
    commands: ['train'],
    tasks: ['image-ar'],
    default: 16,
    min: 1,
  },
  maxImages: {
    flag: '--max-images',
    kind: 'int',
    value: '<n>',
    description:
      'image-ar: use this many training images (spread evenly over the pack, so every class is in), and a fifth as many test images (default: every image)',
    group: 'data',
    commands: ['train'],
    tasks: ['image-ar'],
    min: 2,
  },
  maxEvents: {
    flag: '--max-events',
    kind: 'int',
    value: '<n>',
    description:
      'events: cut every sequence (each split) into consecutive windows of at most this many events, times taken from the event before each window; batches are also grouped by length',
    descriptions: {
      eval: 'events: cut every test sequence into consecutive windows of at most this many events (default: the value the run was trained with, from its config.json)',
    },
    group: 'data',
    commands: TRAIN_EVAL,
    tasks: ['events'],
    min: 1,
  },
  splitSeed: {
    flag: '--split-seed',
    kind: 'int',
    value: '<n>',
    description:
      'events: shuffle the sequences of a single data file with this seed before splitting them 60/20/20 % (default: in file order)',
    descriptions: {
      eval: 'events: the seed that shuffled a single data file before its 60/20/20 % split (default: the one the run was trained with, from its config.json)',
    },
    group: 'data',
    commands: TRAIN_EVAL,
    tasks: ['events'],
  },
  ridge: {
    flag: '--ridge',
    kind: 'number',
    value: '<lambda>',
    description: 'forecast with --model linear: L2 penalty on the weights (not the bias)',
    group: 'model',
    commands: ['train'],
    tasks: ['forecast'],
    default: 1,
    min: 0,
  },
  // ---- training
  epochs: {
    flag: '--epochs',
    kind: 'int',
    value: '<n>',
    description: 'passes over the training data (resuming: the total to reach)',
    group: 'training',
    commands: ['train'],
    default: 10,
    min: 1,
  },
  batchSize: {
    flag: '--batch-size',
    kind: 'int',
    value: '<n>',
    description: 'sequences per optimiser step',
    group: 'training',
    commands: ['train', 'eval'],
    default: 32,
    min: 1,
  },
  stepsPerEpoch: {
    flag: '--steps-per-epoch',
    kind: 'int',
    value: '<n>',
    description:
      'at most this many optimiser steps per epoch (a random subset of the batches); default: every batch (lm: 200)',
    group: 'training',
    commands: ['train'],
    min: 1,
  },
  valBatches: {
    flag: '--val-batches',
    kind: 'int',
    value: '<n>',
    description:
      'validate each epoch on at most this many batches (the final test always uses all)',
    group: 'training',
    commands: ['train'],
    min: 1,
  },
  lr: {
    flag: '--lr',
    kind: 'number',
    value: '<x>',
    description: 'AdamW learning rate',
    group: 'training',
    commands: ['train'],
    default: 1e-3,
    min: 0,
    exclusiveMin: true,
  },
  weightDecay: {
    flag: '--weight-decay',
    kind: 'number',
    value: '<x>',
    description: 'AdamW decoupled weight decay',
    group: 'training',
    commands: ['train'],
    default: 0,
    min: 0,
  },
  schedule: {
    flag: '--schedule',
    kind: 'string',
    value: '<kind>',
    description: "learning-rate schedule: 'constant' or 'cosine' (after --warmup steps)",
    group: 'training',
    commands: ['train'],
    default: 'constant',
    choices: ['constant', 'cosine'],
  },
  warmup: {
    flag: '--warmup',
    kind: 'int',
    value: '<steps>',
    description: 'linear learning-rate warm-up steps',
    group: 'training',
    commands: ['train'],
    default: 0,
    min: 0,
  },
  clip: {
    flag: '--clip',
    kind: 'number',
    value: '<norm>',
    description: 'clip the gradient norm to this (0: no clipping)',
    group: 'training',
    commands: ['train'],
    default: 1,
    min: 0,
  },
  patience: {
    flag: '--patience',
    kind: 'int',
    value: '<n>',
    description: 'stop after this many epochs without a better validation score (0: never)',
    group: 'training',
    commands: ['train'],
    default: 3,
    min: 0,
  },
  earlyStopMetric: {
    flag: '--early-stop-metric',
    kind: 'string',
    value: '<metric>',
    description:
      "the validation metric that picks the best epoch and stops early (accuracy is maximised, the others minimised); default: the task's own (forecast mse, classify loss… see the task's validation line); e.g. accuracy for classify",
    group: 'training',
    commands: ['train'],
    choices: ['loss', 'mse', 'mae', 'accuracy', 'nll', 'rmse', 'bpc', 'bpd'],
  },
  testBatches: {
    flag: '--test-batches',
    kind: 'int',
    value: '<n>',
    description:
      'test on at most this many batches, drawn evenly across the test split (a quick partial test; default: all of it)',
    group: 'training',
    commands: ['train'],
    min: 1,
  },
  backend: {
    flag: '--backend',
    kind: 'string',
    value: '<name>',
    description:
      "where the training steps (forward, backward, optimiser) run: 'cpu', or 'webgpu' (a GPU through Dawn in Node; the adapter is printed, and a machine without one gets exit code 2). Validation, test metrics and checkpoints are computed on the CPU from the same weights",
    descriptions: {
      eval: "where the model runs: 'cpu', or 'webgpu' (a GPU through Dawn in Node; the adapter is printed, and a machine without one gets exit code 2). Not with --runtime onnx",
      demo: "where both models train and stream: 'cpu', or 'webgpu' (a GPU through Dawn in Node; the adapter is printed, and a machine without one gets exit code 2)",
      'bench stream':
        "where the models stream: 'cpu', or 'webgpu' (a GPU through Dawn in Node; the adapter is printed, and a machine without one gets exit code 2); each step waits for its output. Not with --runtime onnx",
    },
    group: 'training',
    commands: ['train', 'eval', 'demo', 'bench stream'],
    default: 'cpu',
    choices: ['cpu', 'webgpu'],
  },
  threads: {
    flag: '--threads',
    kind: 'int',
    value: '<n>',
    description:
      "threads of the CPU backend for large matrix products (default: the available cores; 1: the main thread only). Results do not depend on it. With --runtime onnx: onnxruntime's intra-op threads too (default 1)",
    group: 'training',
    commands: ['train', 'eval', 'demo', 'bench stream', 'bench ops', 'reproduce'],
    min: 1,
    max: 256,
  },
  resume: {
    flag: '--resume',
    kind: 'path',
    value: '<run-dir>',
    description:
      'continue the run in this folder (model, optimiser, epoch, random state); flags given again override its saved options (e.g. a larger --epochs)',
    group: 'training',
    commands: ['train'],
  },
  force: {
    flag: '--force',
    kind: 'boolean',
    description:
      'train: replace the run already in --out (its config, checkpoints, history and metrics) instead of refusing',
    group: 'training',
    commands: ['train'],
    default: false,
  },
  // ---- language-model sampling
  sample: {
    flag: '--sample',
    kind: 'int',
    value: '<chars>',
    description: 'lm: print this many generated characters after training or evaluating',
    group: 'output',
    commands: TRAIN_EVAL,
    tasks: ['lm'],
    min: 1,
  },
  prompt: {
    flag: '--prompt',
    kind: 'string',
    value: '<text>',
    description: 'lm: text the sample starts from (default: a newline)',
    group: 'output',
    commands: TRAIN_EVAL,
    tasks: ['lm'],
  },
  temperature: {
    flag: '--temperature',
    kind: 'number',
    value: '<t>',
    description: 'lm: sampling temperature',
    group: 'output',
    commands: TRAIN_EVAL,
    tasks: ['lm'],
    default: 0.8,
    min: 0,
    exclusiveMin: true,
  },
  // ---- benchmarks, demo, info
  tokens: {
    flag: '--tokens',
    kind: 'int',
    value: '<n>',
    description: 'tokens to stream',
    descriptions: {
      'bench stream': 'tokens to stream through each model',
      demo: 'tokens to stream through both models after training',
      info: 'context length at which the state and FLOPs are given',
    },
    group: 'benchmark',
    commands: ['bench stream', 'demo', 'info'],
    default: { 'bench stream': 16384, demo: 2048, info: 1024 },
    min: 1,
  },
  maxSeconds: {
    flag: '--max-seconds',
    kind: 'number',
    value: '<s>',
    description: 'bench stream: stop streaming a model once it has taken this long',
    descriptions: {
      train:
        'wall-clock budget of the training, seconds: stop after the step that passes it, then validate, keep the best weights and test as after the last epoch (the run counts as finished)',
    },
    group: 'benchmark',
    commands: ['bench stream', 'train'],
    default: { 'bench stream': 300 },
    min: 0,
    exclusiveMin: true,
  },
  steps: {
    flag: '--steps',
    kind: 'int',
    value: '<n>',
    description: 'demo: optimiser steps per model',
    group: 'training',
    commands: ['demo'],
    default: 150,
    min: 1,
  },
  runtime: {
    flag: '--runtime',
    kind: 'string',
    value: '<name>',
    description:
      "what runs the model: 'recur' (this library) or 'onnx' (onnxruntime-node, installed beside @recur/cli, on the files of recur export)",
    group: 'benchmark',
    commands: ['eval', 'bench stream'],
    default: 'recur',
    choices: ['recur', 'onnx'],
  },
  onnx: {
    flag: '--onnx',
    kind: 'path',
    value: '<file>',
    description: 'eval --runtime onnx: the model.onnx to run (default <run-dir>/onnx/model.onnx)',
    group: 'data',
    commands: ['eval'],
  },
  externalData: {
    flag: '--external-data',
    kind: 'boolean',
    description:
      'export: weights in side files model.onnx.data and step.onnx.data whatever their size (default: only when a file would pass 2 GB)',
    group: 'output',
    commands: ['export'],
    default: false,
  },
  scale: {
    flag: '--scale',
    kind: 'string',
    value: '<scale>',
    description:
      "reproduce: the experiment's size: 'tiny' (seconds, for tests), 'small' (about 30 minutes on 2 cores), 'paper' (the papers' sizes and budgets)",
    group: 'benchmark',
    commands: ['reproduce'],
    default: 'small',
    choices: ['tiny', 'small', 'paper'],
  },
  seeds: {
    flag: '--seeds',
    kind: 'int',
    value: '<n>',
    description: "reproduce: seeds per model and data set (0, 1, …; default: the scale's)",
    group: 'benchmark',
    commands: ['reproduce'],
    min: 1,
  },
  list: {
    flag: '--list',
    kind: 'boolean',
    description: 'reproduce: list the experiments with their expected runtime at small scale',
    group: 'benchmark',
    commands: ['reproduce'],
    default: false,
  },
  quick: {
    flag: '--quick',
    kind: 'boolean',
    description: 'bench ops: fewer sizes and repetitions',
    group: 'benchmark',
    commands: ['bench ops'],
    default: false,
  },
} as const satisfies Record<string, OptionSpec>;

/** The name of an option in {@link OPTIONS} (and in {@link Options}). */
export type OptionKey = keyof typeof OPTIONS;

type SpecKind<S> = S extends { kind: infer K extends OptionKind } ? K : never;

/** An option's value type: a string or list option with `choices` takes only those strings. */
type OptionValue<S> = S extends { kind: 'string'; choices: readonly (infer C extends string)[] }
  ? C
  : S extends { kind: 'list'; choices: readonly (infer C extends string)[] }
    ? C[]
    : KindValue<SpecKind<S>>;

/** Parsed options: each key's value by its kind (undefined when neither given nor defaulted). */
export type Options = { -readonly [K in OptionKey]?: OptionValue<(typeof OPTIONS)[K]> };

/** Whether command C takes option K and the table gives it a default there. */
type HasDefault<
  K extends OptionKey,
  C extends CommandName,
> = C extends (typeof OPTIONS)[K]['commands'][number]
  ? (typeof OPTIONS)[K] extends { default: infer D }
    ? D extends readonly unknown[] | string | number | boolean
      ? true
      : C extends keyof D
        ? true
        : false
    : false
  : false;

/** The options that always have a value in command C (given, from --config, or defaulted). */
export type DefaultedKey<C extends CommandName> = {
  [K in OptionKey]: HasDefault<K, C> extends true ? K : never;
}[OptionKey];

/**
 * The options of command C as {@link resolveOptions} gives them: those with a default in
 * {@link OPTIONS} are always set, so a command reads `o.epochs`, never `o.epochs ?? 10`.
 */
export type OptionsOf<C extends CommandName> = Omit<Options, DefaultedKey<C>> &
  Required<Pick<Options, DefaultedKey<C>>>;

/**
 * `options` with every default of `command` filled in where unset (what the command line does), for
 * callers that build options themselves.
 */
export function withDefaults<C extends CommandName>(command: C, options: Options): OptionsOf<C> {
  const out: Record<string, unknown> = { ...options };
  for (const [key, spec] of optionsOf(command)) {
    const d = defaultOf(spec, command);
    if (out[key] === undefined && d !== undefined) out[key] = Array.isArray(d) ? [...d] : d;
  }
  // Every key of DefaultedKey<C> has a default for C in OPTIONS, and it was filled in just now.
  return out as OptionsOf<C>;
}

export const OPTION_KEYS = Object.keys(OPTIONS) as OptionKey[];

/** The spec of option `key`, widened to {@link OptionSpec}. */
export function specOf(key: OptionKey): OptionSpec {
  return OPTIONS[key];
}

/** The option specs a command takes, in table order; with `task`, only those that task uses. */
export function optionsOf(command: CommandName, task?: TaskName): [OptionKey, OptionSpec][] {
  return OPTION_KEYS.filter((k) => {
    const spec = specOf(k);
    return spec.commands.includes(command) && (!task || !spec.tasks || spec.tasks.includes(task));
  }).map((k) => [k, specOf(k)]);
}

/** An option's help text for a command. */
export function descriptionOf(spec: OptionSpec, command: CommandName): string {
  return spec.descriptions?.[command] ?? spec.description;
}

/** An option's default for a command (undefined when it has none). */
export function defaultOf(spec: OptionSpec, command: CommandName): unknown {
  const d = spec.default;
  if (d === undefined) return undefined;
  if (typeof d === 'object' && !Array.isArray(d)) return (d as Record<string, unknown>)[command];
  return d;
}

/** An option's key from a flag or config-file name: 'd-model', '--d-model' or 'dModel'. */
export function keyOfName(name: string): OptionKey | undefined {
  const bare = name.replace(/^--/, '');
  for (const k of OPTION_KEYS) {
    if (k === bare || specOf(k).flag === `--${bare}`) return k;
  }
  return undefined;
}

/** How one command is documented: its one-line summary, positional arguments, examples and notes. */
export interface CommandSpec {
  /** What the command does, one line. */
  summary: string;
  /** Positional arguments as shown in the usage line. */
  args?: string;
  /** Runnable examples: shown first in --help. */
  examples: readonly string[];
  /** More text after the options. */
  notes?: string;
}

/**
 * The notes of `recur train --help`: the tasks and their test metrics (from TASK_INFO); with `task`,
 * only that task's.
 */
export function trainNotes(task?: TaskName): string {
  const tasks = task
    ? `Task ${task}: ${TASK_INFO[task].summary}.`
    : `Tasks: ${TASKS.join(', ')}; \`recur train <task> --help\` lists only the options that task uses.`;
  const metrics = (task ? [task] : TASKS).map(describeMetrics).join('; ');
  return `${tasks} Metrics on the test split: ${metrics}. Ctrl-C saves a checkpoint and exits with code 130.`;
}

/** The {@link CommandSpec} of every command, for `--help` and the docs' CLI reference. */
export const COMMANDS: Record<CommandName, CommandSpec> = {
  train: {
    summary: 'train a model on a task and report its test metrics',
    args: '<task>',
    examples: [
      'recur train forecast --model linear --data ETTh1.csv --horizon 96',
      'recur train forecast --model aaren --data ETTh1.csv --epochs 5 --out runs/etth1-aaren',
      'recur train forecast --model aaren --data ETTh1.csv --epochs 5 --backend webgpu',
      'recur train classify --model aaren --data UEA/JapaneseVowels --epochs 30 --json',
      'recur train events --model transformer --data tpp/nhp_synthetic --mixtures 8',
      'recur train lm --model aaren --data input.txt --context 128 --sample 300',
      'recur train image-ar --model aft-local --data cifar10_jpeg --image-size 16 --max-images 5000',
      'recur train --resume runs/etth1-aaren --epochs 10',
    ],
    notes: trainNotes(),
  },
  eval: {
    summary: 'evaluate a trained run on its data (recorded in the run folder) or on new data',
    args: '<run-dir>',
    examples: [
      'recur eval runs/etth1-aaren',
      'recur eval runs/etth1-aaren --data ETTh2.csv',
      'recur eval runs/vowels --data UEA/JapaneseVowels --json',
      'recur eval runs/shakespeare --data input.txt --sample 500 --prompt "ROMEO:"',
    ],
  },
  demo: {
    summary:
      'train Aaren and a Transformer of the same size on a memory task, compare accuracy, then stream both and compare memory and time per token',
    examples: ['recur demo', 'recur demo --out /tmp/recur-demo --tokens 4096', 'recur demo --json'],
  },
  'bench stream': {
    summary:
      'per-token step time and state/KV-cache memory against tokens seen, for models of comparable size',
    examples: [
      'recur bench stream',
      'recur bench stream --tokens 4096 --models aaren,transformer --out bench',
      'recur bench stream --d-model 128 --layers 4 --json',
    ],
  },
  'bench ops': {
    summary:
      'the package benchmarks in one report: matmul and an MLP step against onnxruntime, scans against a copy',
    examples: ['recur bench ops', 'recur bench ops --quick --json'],
  },
  export: {
    summary:
      'write a trained run as ONNX: model.onnx (whole sequences), step.onnx (one token, state in and out) and recur-onnx.json',
    args: '<run-dir>',
    examples: [
      'recur export runs/etth1-aaren',
      'recur export runs/vowels --out deploy/vowels',
      'recur eval runs/etth1-aaren --data ETTh1.csv --runtime onnx',
    ],
  },
  reproduce: {
    summary:
      "run one of the papers' experiments (a checked-in configuration): every model × data set × seed under the same budget; writes results.json, results.md and results.svg, and resumes where a killed run stopped",
    args: '<experiment>',
    examples: [
      'recur reproduce --list',
      'recur reproduce forecast-ett --scale small',
      'recur reproduce rl-offline --scale tiny --seeds 2 --out runs/rl',
      'recur reproduce lm-char --data ../shared/data',
    ],
    notes:
      'Each finished run is saved under <out>/units/ as it ends; running the same command again skips those and finishes the rest. results.json is the format the docs site reads (packages/cli/README.md documents it).',
  },
  info: {
    summary: 'parameters, streaming state and FLOPs per token of a model',
    examples: [
      'recur info --model aaren',
      'recur info --model transformer --d-model 512 --layers 1 --heads 8 --d-ff 2048 --tokens 4096',
    ],
  },
};
