import { usedStateBytes } from '@recur/baselines';
import { noGrad, type StreamState, stateBytes, type Tensor, tidy } from '@recur/tensor';
import { setStepTimes } from './timing.js';

/** One row of a streaming measurement: after `tokens` tokens. */
export interface StreamPoint {
  tokens: number;
  /** Median wall time of the steps around this point (up to 32 on either side), in milliseconds. */
  stepMs: number;
  /**
   * Bytes the state holds (Aaren's (m, u, w), the KV cache's keys and values so far, h and c, …)
   * after `tokens` tokens: a KV cache's unused capacity is not counted (see allocatedBytes).
   */
  stateBytes: number;
  /** Bytes allocated for the state: stateBytes plus a KV cache's unused capacity. */
  allocatedBytes: number;
  /** Wall time of all steps so far, in seconds. */
  cumulativeS: number;
}

/**
 * What {@link measureStream} returns: the measurements at each reported token count, the tokens
 * actually streamed, and whether the time limit cut the stream short.
 */
export interface StreamResult {
  points: StreamPoint[];
  /** Tokens streamed (fewer than asked when the time limit was reached). */
  tokens: number;
  /** Whether the time limit stopped the stream early. */
  truncated: boolean;
}

/** Token counts at which a stream of `n` tokens is reported: 1, 2, 4, …, and n. */
export function checkpointsUpTo(n: number): number[] {
  const out: number[] = [];
  for (let t = 1; t < n; t *= 2) out.push(t);
  out.push(n);
  return out;
}

/** Disposes the tensors of `prev` that `next` does not hold (their buffers are free at once). */
export function releaseState(prev: StreamState, next: StreamState): void {
  const kept = new Set(Object.values(next));
  for (const t of Object.values(prev)) if (!kept.has(t) && !t.isDisposed) t.dispose();
}

/**
 * Runs one step without gradients, freeing what it made except the new state, and waits until its
 * output is computed (a synchronous read on the CPU, an asynchronous one on WebGPU).
 */
async function timedStep(
  step: (x: Tensor, state: StreamState) => { y: Tensor; state: StreamState },
  x: Tensor,
  prev: StreamState,
): Promise<StreamState> {
  const out = noGrad(() => tidy(() => step(x, prev)));
  if (out.y.backend.readSync) out.y.dataSync();
  else await out.y.data();
  out.y.dispose();
  releaseState(prev, out.state);
  return out.state;
}

/** How long a stream runs and whom it tells: see {@link measureStream}. */
export interface StreamOptions {
  maxSeconds?: number;
  onProgress?: (done: number) => void;
  warmup?: number;
}

/**
 * The timed part of a streaming measurement, for any kind of state: `tokens` steps from `state`,
 * each timed (its input made before the clock starts), with a point (sizes from `bytes`) at every checkpoint and where `maxSeconds` runs out.
 * Returns the last state too, for the caller to free.
 */
export async function timeSteps<S, X>(
  state: S,
  input: (t: number) => X,
  step: (state: S, x: X) => Promise<S>,
  bytes: (state: S) => { used: number; allocated: number },
  tokens: number,
  options: StreamOptions,
): Promise<StreamResult & { state: S }> {
  const times = new Float64Array(tokens);
  const marks = new Set(checkpointsUpTo(tokens));
  const points: StreamPoint[] = [];
  let cumulative = 0;
  let truncated = false;
  let done = 0;
  for (let t = 0; t < tokens; t++) {
    const x = input(t);
    const t0 = performance.now();
    state = await step(state, x);
    const dt = performance.now() - t0;
    times[t] = dt;
    cumulative += dt;
    done = t + 1;
    const overTime = options.maxSeconds !== undefined && cumulative / 1e3 > options.maxSeconds;
    if (marks.has(done) || overTime) {
      const { used, allocated } = bytes(state);
      points.push({
        tokens: done,
        stepMs: 0, // set below, from the steps around this point
        stateBytes: used,
        allocatedBytes: allocated,
        cumulativeS: cumulative / 1e3,
      });
    }
    if (done % 256 === 0) options.onProgress?.(done);
    if (overTime && done < tokens) {
      truncated = true;
      break;
    }
  }
  options.onProgress?.(done);
  setStepTimes(points, times, done);
  return { points, tokens: done, truncated, state };
}

/**
 * Streams `tokens` tokens through `step`, one at a time from `init`, timing every step and reading
 * the state's size at the checkpoints. `input(t)` gives token t's input. `onProgress` is called now
 * and then. Stops early after `maxSeconds`. `warmup` untimed steps (default 64) go first. Runs on
 * the backend the model and inputs live on.
 */
export async function measureStream(
  init: () => StreamState,
  step: (x: Tensor, state: StreamState) => { y: Tensor; state: StreamState },
  input: (t: number) => Tensor,
  tokens: number,
  options: StreamOptions = {},
): Promise<StreamResult> {
  // Warm-up steps on a throwaway state: the JIT compiles the step before anything is timed.
  let warm = noGrad(init);
  for (let t = 0; t < (options.warmup ?? 64); t++) warm = await timedStep(step, input(t), warm);
  releaseState(warm, {});
  const { state, ...result } = await timeSteps(
    noGrad(init),
    input,
    (prev, x) => timedStep(step, x, prev),
    (st) => ({ used: usedStateBytes(st), allocated: stateBytes(st) }),
    tokens,
    options,
  );
  releaseState(state, {});
  return result;
}
