import { CliError } from '../errors.js';
import {
  type CsvReadOptions,
  readTimeSeriesCsv,
  resolveSplitScheme,
  type SplitBorders,
  type SplitScheme,
  splitBorders,
} from './csv.js';

/** One of the three chronological parts of a forecasting series (see {@link splitBorders}). */
export type Split = 'train' | 'val' | 'test';

/** Per-channel standardisation: z = (x − mean) / std, with the train split's population std. */
export interface Scaler {
  mean: number[];
  std: number[];
}

/**
 * A forecasting data set on the standard protocol: the series standardised with the train split's
 * mean and population std, and sliding windows (step 1) of `lookback` inputs and `horizon` targets
 * inside each split.
 */
export interface ForecastData {
  file: string;
  channels: string[];
  rows: number;
  lookback: number;
  horizon: number;
  scheme: SplitScheme;
  borders: SplitBorders;
  scaler: Scaler;
  /** The standardised series, rows × channels, float64 (closed-form models) … */
  z64: Float64Array;
  /** … and float32 (neural models). */
  z32: Float32Array;
  warnings: string[];
}

/** Windows of a split: window i covers rows [first + i, first + i + lookback + horizon). */
export function windowsOf(data: ForecastData, split: Split): { first: number; count: number } {
  const [a, b] = data.borders[split];
  return { first: a, count: b - a - data.lookback - data.horizon + 1 };
}

/** Train-split mean and population std per channel (a constant channel gets std 1). */
export function fitScaler(
  values: Float64Array,
  channels: number,
  trainRows: number,
): { scaler: Scaler; constant: number[] } {
  const mean: number[] = [];
  const std: number[] = [];
  const constant: number[] = [];
  for (let j = 0; j < channels; j++) {
    let s = 0;
    for (let r = 0; r < trainRows; r++) s += values[r * channels + j]!;
    const m = s / trainRows;
    let v = 0;
    for (let r = 0; r < trainRows; r++) {
      const d = values[r * channels + j]! - m;
      v += d * d;
    }
    let sd = Math.sqrt(v / trainRows);
    if (!(sd > 0)) {
      sd = 1;
      constant.push(j);
    }
    mean.push(m);
    std.push(sd);
  }
  return { scaler: { mean, std }, constant };
}

export interface ForecastDataOptions {
  lookback: number;
  horizon: number;
  split: string;
  /** Use this scaler instead of fitting one (evaluating a trained run). */
  scaler?: Scaler;
  /** Expected channel count (evaluating a trained run). */
  channels?: number;
  /** Progress of reading a large file. */
  onProgress?: CsvReadOptions['onProgress'];
}

/** Reads the CSV, checks that every split holds at least one window, standardises. */
export function loadForecastData(file: string, options: ForecastDataOptions): ForecastData {
  const table = readTimeSeriesCsv(file, { onProgress: options.onProgress });
  const { lookback, horizon } = options;
  const c = table.channels.length;
  if (options.channels !== undefined && options.channels !== c) {
    throw new CliError(
      `--data ${file}: the run was trained on ${options.channels} channel(s), this file has ${c}`,
    );
  }
  const scheme = resolveSplitScheme(options.split, file);
  const borders = splitBorders(scheme, table.rows, lookback, file);
  for (const split of ['train', 'val', 'test'] as const) {
    const [a, b] = borders[split];
    const n = b - a - lookback - horizon + 1;
    if (n < 1) {
      throw new CliError(
        `--horizon ${horizon}: too long for ${file}: its ${split} split (rows ${a}–${b - 1}, ${b - a} rows) holds no window of --lookback ${lookback} + --horizon ${horizon} = ${lookback + horizon} rows`,
      );
    }
  }
  const warnings = [...table.warnings];
  let scaler = options.scaler;
  if (!scaler) {
    const fitted = fitScaler(table.values, c, borders.train[1]);
    scaler = fitted.scaler;
    for (const j of fitted.constant)
      warnings.push(`channel '${table.channels[j]}' is constant on the train split (std set to 1)`);
  }
  const z64 = new Float64Array(table.values.length);
  for (let r = 0; r < table.rows; r++) {
    for (let j = 0; j < c; j++) {
      const i = r * c + j;
      z64[i] = (table.values[i]! - scaler.mean[j]!) / scaler.std[j]!;
    }
  }
  return {
    file,
    channels: table.channels,
    rows: table.rows,
    lookback,
    horizon,
    scheme,
    borders,
    scaler,
    z64,
    z32: Float32Array.from(z64),
    warnings,
  };
}

/** Accumulates squared and absolute errors in float64 over every prediction. */
export class ErrorAccumulator {
  sse = 0;
  sae = 0;
  n = 0;

  /**
   * Adds the errors of `pred` against `target`, element by element (both of one length, in any flat
   * layout).
   */
  add(pred: ArrayLike<number>, target: ArrayLike<number>): void {
    for (let i = 0; i < pred.length; i++) {
      const d = pred[i]! - target[i]!;
      this.sse += d * d;
      this.sae += Math.abs(d);
    }
    this.n += pred.length;
  }

  /** Mean squared error over every element added so far (NaN before any). */
  get mse(): number {
    return this.sse / this.n;
  }

  /** Mean absolute error over every element added so far (NaN before any). */
  get mae(): number {
    return this.sae / this.n;
  }
}

/** Repeat-the-last-value forecast's MSE/MAE over every window of a split. */
export function naiveMetrics(data: ForecastData, split: Split): { mse: number; mae: number } {
  const { first, count } = windowsOf(data, split);
  const c = data.channels.length;
  const { lookback: L, horizon: H, z64 } = data;
  let sse = 0;
  let sae = 0;
  for (let w = 0; w < count; w++) {
    const s = first + w;
    for (let j = 0; j < c; j++) {
      const last = z64[(s + L - 1) * c + j]!;
      for (let h = 0; h < H; h++) {
        const d = last - z64[(s + L + h) * c + j]!;
        sse += d * d;
        sae += Math.abs(d);
      }
    }
  }
  const n = count * c * H;
  return { mse: sse / n, mae: sae / n };
}
