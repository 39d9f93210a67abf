import type { Generator, nn, Tensor } from '@recur/tensor';
import type { BackboneConfig } from '../models/backbone.js';
import type { Options, TaskName } from '../options.js';

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
  after?(options: Options): Promise<string | undefined>;
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
