import { existsSync, statSync } from 'node:fs';
import { basename } from 'node:path';
import { Generator, loadSafetensors, saveSafetensors, type Tensor, tensor } from '@recur/tensor';
import type { ReadProgress } from '../data/csv.js';
import { loadEvents, windowSequences } from '../data/events.js';
import { type ForecastData, loadForecastData, naiveMetrics } from '../data/forecast.js';
import { evenlySpaced, locateImagePack, readImages } from '../data/images.js';
import { fitLinearForecaster, type LinearForecaster, linearMetrics } from '../data/linear.js';
import { locateTsFiles, readTsFile } from '../data/uea.js';
import { CliError } from '../errors.js';
import {
  type BackboneConfig,
  checkModelFits,
  defaultPositions,
  isSequenceModel,
} from '../models/backbone.js';
import type { Pooling } from '../models/nets.js';
import type { Options, TaskName } from '../options.js';
import { readUserFile, writeFileAtomic } from '../util/files.js';
import { type ClassifyTaskConfig, createClassifyTask, fitCaseScaler, holdOut } from './classify.js';
import { permutation } from './common.js';
import {
  createEventsTask,
  type EventsTaskConfig,
  fitEventBaselines,
  fitLogTimes,
} from './events.js';
import {
  createForecastTask,
  describeForecastData,
  type ForecastTaskConfig,
  forecastTaskConfig,
} from './forecast.js';
import { createImageTask, type ImageTaskConfig, imageLength } from './image.js';
import { createLmTask, type LmTaskConfig, loadText, promptIdsOf } from './lm.js';
import type { Metrics, NeuralTask, RunConfig } from './types.js';

/** A closed-form forecaster: metrics computed directly, weights (if any) saved by `save`. */
export interface ClosedForm {
  test(): Metrics;
  save?(path: string): void;
}

export interface Prepared {
  task: TaskName;
  model: RunConfig['model'];
  taskConfig: Record<string, unknown>;
  neural?: NeuralTask;
  closedForm?: ClosedForm;
  describe: string[];
  warnings: string[];
}

/** The backbone config of the options (sizes, dropout, positions) for sequences up to maxLen. */
export function backboneConfig(name: string, o: Options, maxLen: number): BackboneConfig {
  if (!isSequenceModel(name)) throw new CliError(`--model ${name} is not a sequence model`);
  const dModel = o.dModel ?? 64;
  const positions = o.positions ?? 'auto';
  const cfg: BackboneConfig = {
    name,
    layers: o.layers ?? 2,
    dModel,
    heads: o.heads ?? 4,
    dFF: o.dFF ?? 2 * dModel,
    // A window (aft-local bias band, aft-conv kernel) beyond the sequence has no effect past it.
    window: Math.min(o.window ?? 16, maxLen),
    posDim: o.posDim ?? 32,
    maxLen,
    dropout: o.dropout ?? 0,
    positions: positions === 'auto' ? defaultPositions(name) : positions === 'sinusoidal',
  };
  checkModelFits(cfg);
  return cfg;
}

/** Turns CSV read progress into lines ('reading x.csv: 1,234,567 rows, 250,000 rows/s, 40 %'). */
function csvProgress(
  file: string,
  line?: (text: string) => void,
): ((p: ReadProgress) => void) | undefined {
  if (!line) return undefined;
  return (p) =>
    line(
      `reading ${basename(file)}: ${p.rows.toLocaleString('en-US')} rows, ${Math.round(p.rowsPerSecond).toLocaleString('en-US')} rows/s, ${Math.round(p.fraction * 100)} %`,
    );
}

function requireData(o: Options): string {
  if (!o.data) throw new CliError('--data <path> is required');
  return o.data;
}

function linearToTensors(m: LinearForecaster): Record<string, Tensor> {
  return {
    weight: tensor(Float32Array.from(m.weight), { shape: [m.lookback, m.horizon] }),
    bias: tensor(Float32Array.from(m.bias), { shape: [m.horizon] }),
  };
}

function forecastClosedForm(name: 'naive' | 'linear', data: ForecastData, o: Options): ClosedForm {
  if (name === 'naive') return { test: () => naiveMetrics(data, 'test') };
  const model = fitLinearForecaster(data, o.ridge ?? 1);
  return {
    test: () => linearMetrics(model, data, 'test'),
    save: (path) => writeFileAtomic(path, saveSafetensors(linearToTensors(model))),
  };
}

// ---------------------------------------------------------------- training

/** Loads the data of a task, checks it, and builds the model to train. Creates no file. */
export function prepareTraining(
  task: TaskName,
  o: Options,
  onProgress?: (line: string) => void,
): Prepared {
  const name = o.model;
  if (!name) throw new CliError('--model <name> is required');
  if ((name === 'naive' || name === 'linear') && task !== 'forecast') {
    throw new CliError(
      `--model ${name} is a forecasting baseline: it works with the forecast task only`,
    );
  }
  const data = requireData(o);
  const batchSize = o.batchSize ?? 32;
  const seedRng = new Generator(o.seed ?? 0);
  switch (task) {
    case 'forecast': {
      const fd = loadForecastData(data, {
        onProgress: csvProgress(data, onProgress),
        lookback: o.lookback ?? 96,
        horizon: o.horizon ?? 96,
        split: o.split ?? 'auto',
      });
      const taskConfig = forecastTaskConfig(fd, o.instanceNorm ?? true);
      if (name === 'naive' || name === 'linear') {
        return {
          task,
          model: { name },
          taskConfig: { ...taskConfig, ridge: name === 'linear' ? (o.ridge ?? 1) : undefined },
          closedForm: forecastClosedForm(name, fd, o),
          describe: describeForecastData(fd),
          warnings: fd.warnings,
        };
      }
      const model = backboneConfig(name, o, fd.lookback);
      return {
        task,
        model,
        taskConfig: { ...taskConfig },
        neural: createForecastTask(model, taskConfig, fd, batchSize),
        describe: [],
        warnings: fd.warnings,
      };
    }
    case 'classify': {
      const files = locateTsFiles(data, o.test);
      const train = readTsFile(files.train);
      const test = readTsFile(files.test, train.labels);
      if (test.dims !== train.dims) {
        throw new CliError(
          `${files.test}: has ${test.dims} dimension(s), ${files.train} has ${train.dims}`,
        );
      }
      const { train: tr, val } = holdOut(train.cases, o.valFraction ?? 0.1, seedRng);
      const { mean, std } = fitCaseScaler(tr, train.dims);
      const taskConfig: ClassifyTaskConfig = {
        problem: train.problem,
        dims: train.dims,
        labels: train.labels,
        mean,
        std,
        pool: (o.pool ?? 'mean') as Pooling,
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
      return {
        task,
        model,
        taskConfig: { ...taskConfig },
        neural: createClassifyTask(
          model,
          taskConfig,
          { train: tr, val, test: test.cases },
          { train, test },
          batchSize,
        ),
        describe: [],
        warnings,
      };
    }
    case 'events': {
      const ev = loadEvents(data, { splitSeed: o.splitSeed });
      let { train, val } = ev;
      let test = ev.test;
      if (val.length === 0) {
        const n = Math.round(train.length * (o.valFraction ?? 0.1));
        val = train.slice(train.length - n);
        train = train.slice(0, train.length - n);
      }
      if (o.maxEvents !== undefined) {
        train = windowSequences(train, o.maxEvents);
        val = windowSequences(val, o.maxEvents);
        test = windowSequences(test, o.maxEvents);
      }
      if (train.length === 0) throw new CliError(`--data ${data}: no training sequences`);
      const times = fitLogTimes(train);
      const taskConfig: EventsTaskConfig = {
        marks: ev.marks,
        mixtures: o.mixtures ?? 8,
        logMean: times.logMean,
        logStd: times.logStd,
        baseline: fitEventBaselines(train, ev.marks),
        ...(o.maxEvents !== undefined ? { bucketed: true } : {}),
      };
      const all = [...train, ...val, ...test];
      const maxLen = Math.max(...all.map((s) => s.marks.length));
      const model = backboneConfig(name, o, maxLen);
      const count = (s: { marks: Int32Array }[]) =>
        s.reduce((a, x) => a + x.marks.length, 0).toLocaleString('en-US');
      const describe = [
        `data ${ev.sources.map((s) => basename(s)).join(', ')} (${ev.layout}): ${ev.marks} mark(s), sequences up to ${maxLen} events`,
        `sequences (events): train ${train.length} (${count(train)}), val ${val.length} (${count(val)}), test ${test.length} (${count(test)})${o.maxEvents !== undefined ? ` (windows of at most ${o.maxEvents} events)` : ''}`,
      ];
      const warnings =
        times.floored > 0
          ? [`${times.floored} inter-event time(s) of 0 in the training data were raised to 1e-8`]
          : [];
      return {
        task,
        model,
        taskConfig: { ...taskConfig },
        neural: createEventsTask(model, taskConfig, { train, val, test }, batchSize, describe),
        describe: [],
        warnings,
      };
    }
    case 'lm': {
      const { data: text, vocab } = loadText(data);
      // A bad --prompt is reported now, not after training.
      if (o.prompt !== undefined) promptIdsOf(vocab, o.prompt);
      const context = o.context ?? 128;
      const taskConfig: LmTaskConfig = { vocab, context };
      const model = backboneConfig(name, o, context);
      return {
        task,
        model,
        taskConfig: { ...taskConfig },
        neural: createLmTask(model, taskConfig, text, batchSize, o.stepsPerEpoch ?? 200),
        describe: [],
        warnings: [],
      };
    }
    case 'image-ar': {
      const pack = locateImagePack(data);
      const size = o.imageSize ?? 16;
      const train = readImages(pack.train, size, (n) => evenlySpaced(n, o.maxImages));
      const test = readImages(pack.test, size, (n) =>
        evenlySpaced(
          n,
          o.maxImages === undefined ? undefined : Math.max(1, Math.ceil(o.maxImages / 5)),
        ),
      );
      const order = permutation(train.images.length, seedRng);
      const nVal = Math.round(train.images.length * (o.valFraction ?? 0.1));
      const val = order.slice(0, nVal).map((i) => train.images[i] as Uint8Array);
      const tr = order.slice(nVal).map((i) => train.images[i] as Uint8Array);
      if (tr.length === 0)
        throw new CliError(`--data ${data}: no training images left after the validation share`);
      const taskConfig: ImageTaskConfig = { size, channels: 3 };
      const model = backboneConfig(name, o, imageLength(taskConfig));
      const describe = [
        `data ${basename(pack.train.bin)}, ${basename(pack.test.bin)}: ${size}×${size}×3 = ${imageLength(taskConfig)} sub-pixels per image in raster order; images train ${tr.length}, val ${val.length} (of ${train.available}), test ${test.images.length} (of ${test.available})`,
      ];
      return {
        task,
        model,
        taskConfig: { ...taskConfig },
        neural: createImageTask(
          model,
          taskConfig,
          { train: tr, val, test: test.images },
          batchSize,
          describe,
        ),
        describe: [],
        warnings: [],
      };
    }
  }
}

// ---------------------------------------------------------------- evaluation

function linearFromFile(path: string): LinearForecaster {
  const bytes = readUserFile(path, 'checkpoint');
  const t = loadSafetensors(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  const w = t.weight;
  const b = t.bias;
  if (!w || !b || w.rank !== 2) throw new CliError(`${path}: not a linear forecaster's weights`);
  return {
    lookback: w.shape[0] as number,
    horizon: w.shape[1] as number,
    weight: Float64Array.from(w.dataSync()),
    bias: Float64Array.from(b.dataSync()),
  };
}

/**
 * Rebuilds a trained run's model and data pipeline for new data (its scaler, labels or vocabulary
 * come from the run). Only the test split is evaluated (lm: the last 5 %).
 */
export function prepareEvaluation(
  run: RunConfig,
  o: Options,
  weightsPath: string,
  onProgress?: (line: string) => void,
): Prepared {
  const data = requireData(o);
  const batchSize = o.batchSize ?? run.options.batchSize ?? 32;
  const tc = run.taskConfig;
  const model = run.model;
  const neuralModel = () => {
    if (!isSequenceModel(model.name))
      throw new CliError(`config.json: unknown model '${model.name}'`);
    return model as BackboneConfig;
  };
  switch (run.task) {
    case 'forecast': {
      const cfg = tc as unknown as ForecastTaskConfig;
      const fd = loadForecastData(data, {
        onProgress: csvProgress(data, onProgress),
        lookback: cfg.lookback,
        horizon: cfg.horizon,
        split: o.split && o.split !== 'auto' ? o.split : cfg.split,
        scaler: cfg.scaler,
        channels: cfg.channels.length,
      });
      if (model.name === 'naive') {
        return {
          task: run.task,
          model,
          taskConfig: tc,
          closedForm: { test: () => naiveMetrics(fd, 'test') },
          describe: describeForecastData(fd),
          warnings: fd.warnings,
        };
      }
      if (model.name === 'linear') {
        const lin = linearFromFile(weightsPath);
        return {
          task: run.task,
          model,
          taskConfig: tc,
          closedForm: { test: () => linearMetrics(lin, fd, 'test') },
          describe: describeForecastData(fd),
          warnings: fd.warnings,
        };
      }
      return {
        task: run.task,
        model,
        taskConfig: tc,
        neural: createForecastTask(neuralModel(), cfg, fd, batchSize),
        describe: [],
        warnings: fd.warnings,
      };
    }
    case 'classify': {
      const cfg = tc as unknown as ClassifyTaskConfig;
      let testFile: string;
      if (o.test) testFile = o.test;
      else if (existsSync(data) && statSync(data).isFile() && /TEST/.test(basename(data)))
        testFile = data;
      else testFile = locateTsFiles(data).test;
      const test = readTsFile(testFile, cfg.labels);
      if (test.dims !== cfg.dims)
        throw new CliError(
          `${testFile}: has ${test.dims} dimension(s), the run was trained on ${cfg.dims}`,
        );
      const files = { train: test, test };
      return {
        task: run.task,
        model,
        taskConfig: tc,
        neural: createClassifyTask(
          neuralModel(),
          cfg,
          { train: [], val: [], test: test.cases },
          files,
          batchSize,
        ),
        describe: [],
        warnings: [],
      };
    }
    case 'events': {
      const cfg = tc as unknown as EventsTaskConfig;
      const ev = loadEvents(data, { splitSeed: o.splitSeed });
      if (ev.marks > cfg.marks)
        throw new CliError(
          `--data ${data}: has ${ev.marks} marks, the run was trained on ${cfg.marks}`,
        );
      const test = o.maxEvents === undefined ? ev.test : windowSequences(ev.test, o.maxEvents);
      const describe = [
        `data ${ev.sources.map((s) => basename(s)).join(', ')}: test ${test.length} sequences${o.maxEvents !== undefined ? ` (windows of at most ${o.maxEvents} events)` : ''}${o.splitSeed !== undefined ? `, split seed ${o.splitSeed}` : ''}`,
      ];
      return {
        task: run.task,
        model,
        taskConfig: tc,
        neural: createEventsTask(
          neuralModel(),
          cfg,
          { train: [], val: [], test },
          batchSize,
          describe,
        ),
        describe: [],
        warnings: [],
      };
    }
    case 'lm': {
      const cfg = tc as unknown as LmTaskConfig;
      const { data: text } = loadText(data, cfg.vocab);
      if (o.prompt !== undefined) promptIdsOf(cfg.vocab, o.prompt);
      return {
        task: run.task,
        model,
        taskConfig: tc,
        neural: createLmTask(neuralModel(), cfg, text, batchSize, 1),
        describe: [],
        warnings: [],
      };
    }
    case 'image-ar': {
      const cfg = tc as unknown as ImageTaskConfig;
      const pack = locateImagePack(data);
      const test = readImages(pack.test, cfg.size, (n) => evenlySpaced(n));
      return {
        task: run.task,
        model,
        taskConfig: tc,
        neural: createImageTask(
          neuralModel(),
          cfg,
          { train: [], val: [], test: test.images },
          batchSize,
          [`data ${basename(pack.test.bin)}: test ${test.images.length} images`],
        ),
        describe: [],
        warnings: [],
      };
    }
    default:
      throw new CliError(`config.json: unknown task '${String(run.task)}'`);
  }
}
