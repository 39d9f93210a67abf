/**
 * The step-time window of the streaming benchmarks (recur's and onnxruntime's). The median and the
 * seeded inputs come from the benchmarks' shared helpers (@recur/bench, private: tsup bundles it
 * into the CLI, so the published package does not depend on it).
 */
import { median } from '@recur/bench';

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
