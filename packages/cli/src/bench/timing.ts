/** Small timing helpers shared by `bench ops` and the streaming benchmarks (recur's and onnxruntime's). */

/** The median of `xs` (the upper one of the middle two for an even count). */
export function median(xs: ArrayLike<number>): number {
  const s = Array.from(xs).sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/**
 * Sets each point's step time: the median of the steps around its n-th token (a few on either
 * side, up to 32 for long streams), so that one garbage-collection pause does not make a point.
 * `times` holds the `done` steps' milliseconds in order.
 */
export function setStepTimes(
  points: { tokens: number; stepMs: number }[],
  times: Float64Array,
  done: number,
): void {
  for (const p of points) {
    const w = Math.max(4, Math.min(32, Math.floor(p.tokens / 8)));
    p.stepMs = median(times.subarray(Math.max(0, p.tokens - 1 - w), Math.min(done, p.tokens + w)));
  }
}

/** Seeded uniform values in [lo, hi) (an LCG: the values only need to vary). */
export function seededFill(n: number, lo: number, hi: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = lo + ((hi - lo) * s) / 4294967296;
  }
  return out;
}
