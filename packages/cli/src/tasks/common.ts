import { basename } from 'node:path';
import { type Generator, noGrad, type Tensor, type TypedArray, tidy } from '@recur/tensor';
import type { ReadProgress } from '../data/csv.js';

/** 0..n−1 in a random order (Fisher–Yates with `rng`). */
export function permutation(n: number, rng: Generator): number[] {
  const out = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = rng.nextInt(0, i + 1);
    const t = out[i]!;
    out[i] = out[j]!;
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
