import { basename } from 'node:path';
import { type Generator, noGrad, type Tensor, type TypedArray, tidy } from '@recur/tensor';
import type { ReadProgress } from '../data/csv.js';
import { CliError } from '../errors.js';
import {
  type BackboneConfig,
  checkModelFits,
  defaultPositions,
  isSequenceModel,
} from '../models/backbone.js';
import type { Options, OptionsOf } from '../options.js';

/** 0..n−1 in a random order (Fisher–Yates with `rng`). */
export function permutation(n: number, rng: Generator): number[] {
  const out = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = rng.nextInt(0, i + 1);
    const t = out[i] as number;
    out[i] = out[j] as number;
    out[j] = t;
  }
  return out;
}

/** `items` cut into consecutive batches of at most `size` (the last one may be smaller). */
export function chunk<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** At most `limit` batches of `size` drawn evenly across 0..n−1 (all of them without a limit). */
export function evalBatches(n: number, size: number, limit?: number): number[][] {
  const all = Array.from({ length: n }, (_, i) => i);
  if (limit === undefined || limit * size >= n) return chunk(all, size);
  const want = limit * size;
  const picked: number[] = [];
  for (let k = 0; k < want; k++) picked.push(Math.floor((k * n) / want));
  return chunk(picked, size);
}

/** Batch size for evaluation: larger than training's (no gradients are kept). */
export function evalBatchSize(batchSize: number): number {
  return Math.max(batchSize, 64);
}

/**
 * One evaluation batch: runs `compute` without gradients, frees every tensor it made except the ones
 * it returns, and reads those to the host. The reads are asynchronous, so evaluation runs on any
 * backend (WebGPU reads asynchronously; the CPU as well as synchronously).
 */
export async function readBatch<K extends string>(
  compute: () => Record<K, Tensor>,
): Promise<Record<K, TypedArray>> {
  const out = noGrad(() => tidy(compute));
  const tensors = Object.entries(out) as [K, Tensor][];
  try {
    const read = await Promise.all(tensors.map(([, t]) => t.data()));
    return Object.fromEntries(tensors.map(([k], i) => [k, read[i]])) as Record<K, TypedArray>;
  } finally {
    for (const [, t] of tensors) t.dispose();
  }
}

/** The options that size a sequence model (info and bench stream have no dropout or positions). */
export type SizeOptions = Pick<
  OptionsOf<'info'>,
  'layers' | 'dModel' | 'heads' | 'dFF' | 'window' | 'posDim'
> &
  Pick<Options, 'dropout' | 'positions'>;

/** The backbone config of the options (sizes, dropout, positions) for sequences up to maxLen. */
export function backboneConfig(name: string, o: SizeOptions, maxLen: number): BackboneConfig {
  if (!isSequenceModel(name)) throw new CliError(`--model ${name} is not a sequence model`);
  const positions = o.positions ?? 'auto';
  const cfg: BackboneConfig = {
    name,
    layers: o.layers,
    dModel: o.dModel,
    heads: o.heads,
    dFF: o.dFF ?? 2 * o.dModel,
    // A window (aft-local bias band, aft-conv kernel) beyond the sequence has no effect past it.
    window: Math.min(o.window, maxLen),
    posDim: o.posDim,
    maxLen,
    dropout: o.dropout ?? 0,
    positions: positions === 'auto' ? defaultPositions(name) : positions === 'sinusoidal',
  };
  checkModelFits(cfg);
  return cfg;
}

/** Turns CSV read progress into lines ('reading x.csv: 1,234,567 rows, 250,000 rows/s, 40 %'). */
export function csvProgress(
  file: string,
  line?: (text: string) => void,
): ((p: ReadProgress) => void) | undefined {
  if (!line) return undefined;
  return (p) =>
    line(
      `reading ${basename(file)}: ${p.rows.toLocaleString('en-US')} rows, ${Math.round(p.rowsPerSecond).toLocaleString('en-US')} rows/s, ${Math.round(p.fraction * 100)} %`,
    );
}

/** The files' base names, comma-separated. */
export function baseNames(files: readonly string[]): string {
  return files.map((f) => basename(f)).join(', ');
}
