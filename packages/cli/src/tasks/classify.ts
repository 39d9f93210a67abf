import { existsSync, statSync } from 'node:fs';
import { basename } from 'node:path';
import { Generator, nn, type Tensor, tensor } from '@recur/tensor';
import { locateTsFiles, readTsFile, type SeriesCase, type SeriesFile } from '../data/uea.js';
import { CliError } from '../errors.js';
import { type BackboneConfig, backboneConfig } from '../models/backbone.js';
import { ClassifyNet, type Pooling } from '../models/nets.js';
import { TASK_INFO } from './catalog.js';
import { chunk, evalBatches, evalBatchSize, permutation, readBatch } from './common.js';
import type { Metrics, NeuralTask, TaskDef } from './types.js';

export interface ClassifyTaskConfig {
  problem: string;
  dims: number;
  labels: string[];
  /** Per-dimension standardisation fitted on the training cases. */
  mean: number[];
  std: number[];
  pool: Pooling;
}

/** Mean and population std of each dimension over every real (non-missing) step of `cases`. */
export function fitCaseScaler(
  cases: readonly SeriesCase[],
  dims: number,
): { mean: number[]; std: number[] } {
  const sum = new Float64Array(dims);
  const sq = new Float64Array(dims);
  const n = new Float64Array(dims);
  for (const c of cases) {
    for (let t = 0; t < c.length; t++) {
      for (let d = 0; d < dims; d++) {
        const v = c.values[t * dims + d]!;
        if (Number.isNaN(v)) continue;
        sum[d] = sum[d]! + v;
        sq[d] = sq[d]! + v * v;
        n[d] = n[d]! + 1;
      }
    }
  }
  const mean = Array.from(sum, (s, d) => s / Math.max(1, n[d]!));
  const std = Array.from(sq, (s, d) => {
    const m = mean[d]!;
    const v = s / Math.max(1, n[d]!) - m * m;
    return v > 1e-12 ? Math.sqrt(v) : 1;
  });
  return { mean, std };
}

/**
 * Padded batch of cases: x [B, T, D] standardised (missing values and padding are 0), mask [B, T],
 * labels [B], with T the longest case in the batch.
 */
export function caseBatch(
  cases: readonly SeriesCase[],
  cfg: ClassifyTaskConfig,
): { x: Tensor; mask: Tensor; labels: Tensor; lengths: number[] } {
  const d = cfg.dims;
  const b = cases.length;
  const t = Math.max(...cases.map((c) => c.length));
  const x = new Float32Array(b * t * d);
  const mask = new Float32Array(b * t);
  const labels = new Int32Array(b);
  cases.forEach((c, i) => {
    for (let s = 0; s < c.length; s++) {
      mask[i * t + s] = 1;
      for (let k = 0; k < d; k++) {
        const v = c.values[s * d + k]!;
        x[(i * t + s) * d + k] = Number.isNaN(v) ? 0 : (v - cfg.mean[k]!) / cfg.std[k]!;
      }
    }
    labels[i] = c.label;
  });
  return {
    x: tensor(x, { shape: [b, t, d] }),
    mask: tensor(mask, { shape: [b, t] }),
    labels: tensor(labels, { shape: [b], dtype: 'int32' }),
    lengths: cases.map((c) => c.length),
  };
}

/** Splits off a validation share of the training cases (stratified by class, seeded). */
export function holdOut(
  cases: readonly SeriesCase[],
  fraction: number,
  rng: Generator,
): { train: SeriesCase[]; val: SeriesCase[] } {
  if (fraction <= 0) return { train: [...cases], val: [] };
  const byClass = new Map<number, SeriesCase[]>();
  for (const c of cases) {
    const list = byClass.get(c.label) ?? [];
    list.push(c);
    byClass.set(c.label, list);
  }
  const train: SeriesCase[] = [];
  const val: SeriesCase[] = [];
  for (const label of [...byClass.keys()].sort((a, b) => a - b)) {
    const list = byClass.get(label)!;
    const order = permutation(list.length, rng);
    const k = list.length > 1 ? Math.round(list.length * fraction) : 0;
    order.forEach((j, i) => {
      (i < k ? val : train).push(list[j]!);
    });
  }
  return { train, val };
}

export function createClassifyTask(
  model: BackboneConfig,
  cfg: ClassifyTaskConfig,
  sets: { train: SeriesCase[]; val: SeriesCase[]; test: SeriesCase[] },
  files: { train: SeriesFile; test: SeriesFile },
  batchSize: number,
): NeuralTask<SeriesCase[]> {
  const net = new ClassifyNet(model, cfg.dims, cfg.labels.length, cfg.pool);
  const evaluate = async (cases: SeriesCase[], limit?: number): Promise<Metrics> => {
    if (cases.length === 0) return {};
    let correct = 0;
    let lossSum = 0;
    let n = 0;
    for (const idx of evalBatches(cases.length, evalBatchSize(batchSize), limit)) {
      const batch = idx.map((i) => cases[i]!);
      const out = await readBatch(() => {
        const { x, mask, labels, lengths } = caseBatch(batch, cfg);
        const logits = net.forward(x, mask, lengths) as Tensor;
        return {
          loss: nn.crossEntropy(logits, labels, { reduction: 'sum' }),
          pred: logits.argmax(1),
        };
      });
      lossSum += out.loss[0]!;
      batch.forEach((c, i) => {
        if (out.pred[i] === c.label) correct++;
      });
      n += batch.length;
    }
    return { accuracy: correct / n, loss: lossSum / n };
  };
  const counts = (cases: SeriesCase[]) => cases.length.toLocaleString('en-US');
  const lengths = files.train.cases.map((c) => c.length);
  return {
    net,
    monitor: TASK_INFO.classify.monitor,
    unit: 'sequences',
    trainBatches: (rng) =>
      chunk(
        permutation(sets.train.length, rng).map((i) => sets.train[i]!),
        batchSize,
      ),
    items: (b) => b.length,
    loss: (batch) => {
      const { x, mask, labels, lengths: lens } = caseBatch(batch, cfg);
      return nn.crossEntropy(net.forward(x, mask, lens) as Tensor, labels);
    },
    validate: (limit) => evaluate(sets.val, limit),
    test: (limit) => evaluate(sets.test, limit),
    describe: () => [
      `data ${cfg.problem} (${basename(files.train.file)}, ${basename(files.test.file)}): ${cfg.dims} dimension(s), ${cfg.labels.length} classes, lengths ${Math.min(...lengths)}–${Math.max(...lengths)}`,
      `cases: train ${counts(sets.train)}, val ${counts(sets.val)}, test ${counts(sets.test)}`,
    ],
  };
}

/** The TEST file to evaluate on: --test, --data itself when it names one, else beside --data. */
function testFileOf(data: string, test: string | undefined): string {
  if (test) return test;
  if (existsSync(data) && statSync(data).isFile() && /TEST/.test(basename(data))) return data;
  return locateTsFiles(data).test;
}

/**
 * The classify task: UEA/UCR .ts files (TRAIN and TEST), cases scaled per dimension; the config
 * holds the labels and the scaler.
 */
export const classifyTask: TaskDef<ClassifyTaskConfig> = {
  ...TASK_INFO.classify,
  prepare({ model: name, data, options: o }) {
    const files = locateTsFiles(data, o.test);
    const train = readTsFile(files.train);
    const test = readTsFile(files.test, train.labels);
    if (test.dims !== train.dims) {
      throw new CliError(
        `${files.test}: has ${test.dims} dimension(s), ${files.train} has ${train.dims}`,
      );
    }
    const { train: tr, val } = holdOut(train.cases, o.valFraction, new Generator(o.seed));
    const { mean, std } = fitCaseScaler(tr, train.dims);
    const taskConfig: ClassifyTaskConfig = {
      problem: train.problem,
      dims: train.dims,
      labels: train.labels,
      mean,
      std,
      pool: o.pool,
    };
    const maxLen = Math.max(
      ...train.cases.map((c) => c.length),
      ...test.cases.map((c) => c.length),
    );
    const model = backboneConfig(name, o, maxLen);
    const warnings = [train, test]
      .filter((f) => f.missing)
      .map(
        (f) => `${basename(f.file)}: missing values ('?') are read as the mean (0 after scaling)`,
      );
    const splits = { train: tr, val, test: test.cases };
    return {
      model,
      taskConfig: { ...taskConfig },
      neural: createClassifyTask(model, taskConfig, splits, { train, test }, o.batchSize),
      warnings,
    };
  },
  restore({ config: cfg, data, options: o, batchSize, backbone }) {
    const testFile = testFileOf(data, o.test);
    const test = readTsFile(testFile, cfg.labels);
    if (test.dims !== cfg.dims)
      throw new CliError(
        `${testFile}: has ${test.dims} dimension(s), the run was trained on ${cfg.dims}`,
      );
    const splits = { train: [], val: [], test: test.cases };
    return {
      neural: createClassifyTask(backbone(), cfg, splits, { train: test, test }, batchSize),
    };
  },
};
