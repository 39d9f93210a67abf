import { basename } from 'node:path';
import { type Generator, nn, type Tensor, tensor } from '@recur/tensor';
import {
  ErrorAccumulator,
  type ForecastData,
  type Scaler,
  type Split,
  windowsOf,
} from '../data/forecast.js';
import type { BackboneConfig } from '../models/backbone.js';
import { ForecastNet } from '../models/nets.js';
import { chunk, evalBatches, evalBatchSize, permutation, readBatch } from './common.js';
import type { Metrics, NeuralTask } from './types.js';

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
    monitor: { metric: 'mse', mode: 'min' },
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
