import type { Generator, nn, Tensor } from '@recur/tensor';
import type { BackboneConfig } from '../models/backbone.js';
import type { Options, OptionsOf, TaskName } from '../options.js';

/** Named metric values of a run (mse, mae, accuracy, nll, …), as reported and written to JSON. */
export type Metrics = Record<string, number>;

/** The validation metric early stopping watches. */
export interface Monitor {
  metric: string;
  mode: 'min' | 'max';
}

/**
 * A task with its data loaded and its network built, as the training loop sees it. Batches are
 * small descriptors (index lists); `loss` turns one into a scalar loss with gradients.
 */
export interface NeuralTask<B = unknown> {
  net: nn.Module;
  monitor: Monitor;
  /** Unit of `items` for throughput ('windows', 'sequences', 'chars', 'events'). */
  unit: string;
  /** One epoch's batches in a random order drawn from `rng`. */
  trainBatches(rng: Generator): B[];
  /** Items (windows, sequences, tokens) in a batch, for throughput. */
  items(batch: B): number;
  /**
   * The scalar training loss of one batch, with the net in training mode and gradients recorded.
   */
  loss(batch: B): Tensor;
  /**
   * Validation metrics (the net in eval mode; no gradients are recorded); `limit` caps the batches.
   * Asynchronous: tensors are read with `await t.data()`, so metrics come from any backend.
   */
  validate(limit?: number): Promise<Metrics>;
  /** Test metrics over every test item (as `validate`); `limit` caps the batches (--test-batches). */
  test(limit?: number): Promise<Metrics>;
  /** Human lines describing the data (shown before training). */
  describe(): string[];
  /** Extra output after training or evaluation (lm: a sample). */
  after?(options: Options & { temperature: number }): Promise<string | undefined>;
}

/** What a run folder's config.json holds: enough to rebuild the model and its data pipeline. */
export interface RunConfig {
  format: 'recur-run';
  version: 1;
  task: TaskName;
  /** The sequence model's config, or a closed-form forecaster ('naive', 'linear'). */
  model: BackboneConfig | { name: 'naive' | 'linear' };
  /** Task-specific settings and statistics (window sizes, scalers, labels, vocabulary, …). */
  taskConfig: Record<string, unknown>;
  /** The data the run was trained on (informative). */
  data: string;
  /** The resolved options of the run (for --resume). */
  options: Options;
  /** Parameters of the network. */
  parameters: number;
}

export interface WarningSink {
  warn(message: string): void;
}

/** A closed-form forecaster: metrics computed directly, weights (if any) saved by `save`. */
export interface ClosedForm {
  test(): Metrics;
  save?(path: string): void;
}

/** A task made ready to run: a network to train or test, or a closed-form model. */
export interface TaskSetup {
  neural?: NeuralTask;
  closedForm?: ClosedForm;
  /** Human lines describing the data (default none). */
  describe?: string[];
  warnings?: string[];
}

/** A task made ready to train: its model and settings (for config.json) too. */
export interface TrainingSetup extends TaskSetup {
  model: RunConfig['model'];
  taskConfig: Record<string, unknown>;
}

/** A task made ready, as the train and eval commands see it. */
export interface Prepared extends TrainingSetup {
  task: TaskName;
  describe: string[];
  warnings: string[];
}

/** What preparing a task for training starts from. */
export interface TrainingInput {
  /** The --model given (a forecasting baseline only for forecast). */
  model: string;
  /** The --data given. */
  data: string;
  options: OptionsOf<'train'>;
  /** Progress lines while reading large files. */
  onProgress?: (line: string) => void;
}

/** What rebuilding a trained run's task for new data starts from. */
export interface RestoreInput<C> {
  run: RunConfig;
  /** The run's task config (checked against the task's schema when config.json was read). */
  config: C;
  /** The data to evaluate on. */
  data: string;
  options: Options;
  /** The run's weights (closed-form forecasters read theirs here; networks load them later). */
  weightsPath: string;
  batchSize: number;
  /** The run's sequence model (an error if the run holds a closed-form one). */
  backbone(): BackboneConfig;
  onProgress?: (line: string) => void;
}

/** What a task is, for help and the training loop (the table is TASK_INFO in catalog.ts). */
export interface TaskInfo {
  /** What the task learns from what data, one line. */
  summary: string;
  /** The metrics its test split reports, in report order, each with what it measures. */
  metrics: Readonly<Record<string, string>>;
  /** The validation metric that picks the best epoch unless --early-stop-metric names another. */
  monitor: Monitor;
}

/**
 * One task of `recur train` and `recur eval`: what it is (its {@link TaskInfo}), how it loads its
 * data and builds its model (`prepare`), and how a trained run of it is rebuilt for new data from
 * its config `C` (`restore`).
 */
export interface TaskDef<C> extends TaskInfo {
  /** Loads the data, checks it, fits the task's statistics and builds the model. Creates no file. */
  prepare(input: TrainingInput): TrainingSetup;
  /** The run's model and data pipeline on new data; only its test split is evaluated. */
  restore(input: RestoreInput<C>): TaskSetup;
}
