/**
 * Helpers shared by the packages' benchmarks: the median of repeated timings, seeded input data and
 * timing loops that alternate the variants compared (this machine is shared and noisy: ratios
 * measured side by side in one run are the figures, absolute times only notes).
 */

/** The median of `xs`: the middle sample, the upper of the two middle ones for an even count. */
export function median(xs: ArrayLike<number>): number {
  if (xs.length === 0) throw new Error('median: expected at least one sample, got none');
  const s = Array.from(xs).sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/**
 * `n` seeded uniform values in [lo, hi) as float32, the same on every run (a fast LCG: benchmark
 * inputs only need to be varied and reproducible).
 */
export function fill(n: number, lo: number, hi: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = lo + ((hi - lo) * s) / 4294967296;
  }
  return out;
}

/** The wall time of one call of `run`, awaited when it returns a promise, in ms. */
export async function timeMs(run: () => unknown): Promise<number> {
  const t0 = performance.now();
  await run();
  return performance.now() - t0;
}

/**
 * Times every variant of `runs` `reps` times, in turn (one of each per round, in order), after
 * `warmup` untimed rounds (JIT, pipeline compilation, pools); every sample in ms, by name.
 */
export async function alternate<K extends string>(
  runs: Record<K, () => unknown>,
  reps: number,
  { warmup = 1 }: { warmup?: number } = {},
): Promise<Record<K, number[]>> {
  const names = Object.keys(runs) as K[];
  const times = Object.fromEntries(names.map((name) => [name, [] as number[]])) as Record<
    K,
    number[]
  >;
  for (let r = 0; r < warmup + reps; r++) {
    for (const name of names) {
      const ms = await timeMs(runs[name]);
      if (r >= warmup) times[name].push(ms);
    }
  }
  return times;
}

/** {@link alternate}'s medians, in ms, by name. */
export async function timeAlternating<K extends string>(
  runs: Record<K, () => unknown>,
  reps: number,
  options: { warmup?: number } = {},
): Promise<Record<K, number>> {
  const times = await alternate(runs, reps, options);
  const names = Object.keys(times) as K[];
  return Object.fromEntries(names.map((name) => [name, median(times[name])])) as Record<K, number>;
}
