import { basename } from 'node:path';
import {
  type Generator,
  loadSafetensors,
  nn,
  saveSafetensors,
  type Tensor,
  tensor,
} from '@recur/tensor';
import {
  ErrorAccumulator,
  type ForecastData,
  loadForecastData,
  naiveMetrics,
  type Scaler,
  type Split,
  windowsOf,
} from '../data/forecast.js';
import { fitLinearForecaster, type LinearForecaster, linearMetrics } from '../data/linear.js';
import { CliError } from '../errors.js';
import { type BackboneConfig, backboneConfig } from '../models/backbone.js';
import { ForecastNet } from '../models/nets.js';
import { readUserFile, writeFileAtomic } from '../util/files.js';
import { TASK_INFO } from './catalog.js';
import {
  chunk,
  csvProgress,
  evalBatches,
  evalBatchSize,
  permutation,
  readBatch,
} from './common.js';
import type { ClosedForm, Metrics, NeuralTask, TaskDef, TaskSetup } from './types.js';

export interface ForecastTaskConfig {
  lookback: number;
  horizon: number;
  /** The split scheme used ('etth', 'ettm', 'ratio'). */
  split: string;
  channels: string[];
  scaler: Scaler;
  instanceNorm: boolean;
}

export function forecastTaskConfig(data: ForecastData, instanceNorm: boolean): ForecastTaskConfig {
  return {
    lookback: data.lookback,
    horizon: data.horizon,
    split: data.scheme,
    channels: data.channels,
    scaler: data.scaler,
    instanceNorm,
  };
}

export function describeForecastData(data: ForecastData): string[] {
  const w = (s: Split) => windowsOf(data, s).count.toLocaleString('en-US');
  return [
    `data ${basename(data.file)}: ${data.rows.toLocaleString('en-US')} rows × ${data.channels.length} channels, split '${data.scheme}'`,
    `windows (lookback ${data.lookback}, horizon ${data.horizon}): train ${w('train')}, val ${w('val')}, test ${w('test')}`,
  ];
}

/** Builds x [B, L, C] and y [B, H, C] of windows starting at rows `starts`. */
export function windowTensors(
  data: ForecastData,
  starts: readonly number[],
): { x: Tensor; y: Tensor } {
  const c = data.channels.length;
  const { lookback: L, horizon: H, z32 } = data;
  const b = starts.length;
  const x = new Float32Array(b * L * c);
  const y = new Float32Array(b * H * c);
  starts.forEach((s, i) => {
    x.set(z32.subarray(s * c, (s + L) * c), i * L * c);
    y.set(z32.subarray((s + L) * c, (s + L + H) * c), i * H * c);
  });
  return { x: tensor(x, { shape: [b, L, c] }), y: tensor(y, { shape: [b, H, c] }) };
}

export function createForecastTask(
  model: BackboneConfig,
  cfg: ForecastTaskConfig,
  data: ForecastData,
  batchSize: number,
): NeuralTask<number[]> {
  const net = new ForecastNet(model, data.channels.length, data.horizon, cfg.instanceNorm);
  const train = windowsOf(data, 'train');
  const evaluate = async (split: Split, limit?: number): Promise<Metrics> => {
    const { first, count } = windowsOf(data, split);
    const acc = new ErrorAccumulator();
    for (const idx of evalBatches(count, evalBatchSize(batchSize), limit)) {
      const out = await readBatch(() => {
        const { x, y } = windowTensors(
          data,
          idx.map((i) => first + i),
        );
        return { pred: net.forward(x), y };
      });
      acc.add(out.pred, out.y);
    }
    return { mse: acc.mse, mae: acc.mae };
  };
  return {
    net,
    monitor: TASK_INFO.forecast.monitor,
    unit: 'windows',
    trainBatches: (rng: Generator) =>
      chunk(
        permutation(train.count, rng).map((i) => train.first + i),
        batchSize,
      ),
    items: (b) => b.length,
    loss: (b) => {
      const { x, y } = windowTensors(data, b);
      return nn.mseLoss(net.forward(x), y);
    },
    validate: (limit) => evaluate('val', limit),
    test: (limit) => evaluate('test', limit),
    describe: () => describeForecastData(data),
  };
}

function linearToTensors(m: LinearForecaster): Record<string, Tensor> {
  return {
    weight: tensor(Float32Array.from(m.weight), { shape: [m.lookback, m.horizon] }),
    bias: tensor(Float32Array.from(m.bias), { shape: [m.horizon] }),
  };
}

function linearFromFile(path: string): LinearForecaster {
  const bytes = readUserFile(path, 'checkpoint');
  const t = loadSafetensors(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  const w = t.weight;
  const b = t.bias;
  if (!w || !b || w.rank !== 2) throw new CliError(`${path}: not a linear forecaster's weights`);
  return {
    lookback: w.shape[0]!,
    horizon: w.shape[1]!,
    weight: Float64Array.from(w.dataSync()),
    bias: Float64Array.from(b.dataSync()),
  };
}

function forecastClosedForm(
  name: 'naive' | 'linear',
  data: ForecastData,
  ridge: number,
): ClosedForm {
  if (name === 'naive') return { test: () => naiveMetrics(data, 'test') };
  const model = fitLinearForecaster(data, ridge);
  return {
    test: () => linearMetrics(model, data, 'test'),
    save: (path) => writeFileAtomic(path, saveSafetensors(linearToTensors(model))),
  };
}

/** A closed-form forecaster's setup: its test metrics, and the data described. */
function closedFormSetup(data: ForecastData, closedForm: ClosedForm): TaskSetup {
  return { closedForm, describe: describeForecastData(data), warnings: data.warnings };
}

/**
 * The forecast task: windows of a CSV's rows (its split, scaler and window sizes in the config);
 * besides the sequence models, the closed-form baselines naive and linear.
 */
export const forecastTask: TaskDef<ForecastTaskConfig> = {
  ...TASK_INFO.forecast,
  prepare({ model: name, data, options: o, onProgress }) {
    const fd = loadForecastData(data, {
      onProgress: csvProgress(data, onProgress),
      lookback: o.lookback,
      horizon: o.horizon,
      split: o.split,
    });
    const taskConfig = forecastTaskConfig(fd, o.instanceNorm);
    if (name === 'naive' || name === 'linear') {
      return {
        model: { name },
        taskConfig: { ...taskConfig, ridge: name === 'linear' ? o.ridge : undefined },
        ...closedFormSetup(fd, forecastClosedForm(name, fd, o.ridge)),
      };
    }
    const model = backboneConfig(name, o, fd.lookback);
    return {
      model,
      taskConfig: { ...taskConfig },
      neural: createForecastTask(model, taskConfig, fd, o.batchSize),
      warnings: fd.warnings,
    };
  },
  restore({ run, config: cfg, data, options: o, weightsPath, batchSize, backbone, onProgress }) {
    const fd = loadForecastData(data, {
      onProgress: csvProgress(data, onProgress),
      lookback: cfg.lookback,
      horizon: cfg.horizon,
      split: o.split && o.split !== 'auto' ? o.split : cfg.split,
      scaler: cfg.scaler,
      channels: cfg.channels.length,
    });
    if (run.model.name === 'naive') {
      return closedFormSetup(fd, { test: () => naiveMetrics(fd, 'test') });
    }
    if (run.model.name === 'linear') {
      const lin = linearFromFile(weightsPath);
      return closedFormSetup(fd, { test: () => linearMetrics(lin, fd, 'test') });
    }
    return { neural: createForecastTask(backbone(), cfg, fd, batchSize), warnings: fd.warnings };
  },
};
