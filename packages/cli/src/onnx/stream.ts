import { type SequenceModule, type Tensor, toOnnx } from '@recur/tensor';
import { checkpointsUpTo, type StreamPoint, type StreamResult } from '../bench/stream.js';
import { setStepTimes } from '../bench/timing.js';
import { type Ort, type OrtTensor, openSession } from './runtime.js';

/**
 * measureStream's twin for onnxruntime: `core`'s step graph (exported in memory) streams `tokens`
 * tokens at batch 1, each step's next.* fed back as state.*, timed the same way (warm-up first,
 * the median of the steps around each checkpoint, state bytes at each).
 */
export async function measureOnnxStream(
  ort: Ort,
  core: SequenceModule,
  threads: number,
  input: (t: number) => Tensor,
  tokens: number,
  options: { maxSeconds?: number; onProgress?: (done: number) => void; warmup?: number } = {},
): Promise<StreamResult> {
  const session = await openSession(ort, toOnnx(core, { mode: 'step' }), threads);
  const init = core.initState(1);
  const keys = Object.keys(init);
  const start = (): Record<string, OrtTensor> => {
    const feeds: Record<string, OrtTensor> = {};
    for (const k of keys) {
      const t = init[k]!;
      feeds[`state.${k}`] =
        t.dtype === 'int32'
          ? new ort.Tensor('int32', Int32Array.from(t.dataSync()), t.shape)
          : new ort.Tensor('float32', Float32Array.from(t.dataSync()), t.shape);
    }
    return feeds;
  };
  const xs = Array.from({ length: 16 }, (_, t) => {
    const x = input(t);
    return new ort.Tensor('float32', Float32Array.from(x.dataSync()), x.shape);
  });
  const step = async (feeds: Record<string, OrtTensor>, t: number) => {
    const out = await session.run({ ...feeds, x: xs[t % xs.length]! });
    const next: Record<string, OrtTensor> = {};
    for (const k of keys) next[`state.${k}`] = out[`next.${k}`]!;
    return next;
  };
  const bytes = (feeds: Record<string, OrtTensor>) =>
    Object.values(feeds).reduce((n, t) => n + 4 * t.dims.reduce((a, b) => a * b, 1), 0);
  try {
    let warm = start();
    for (let t = 0; t < (options.warmup ?? 64); t++) warm = await step(warm, t);
    const times = new Float64Array(tokens);
    const marks = new Set(checkpointsUpTo(tokens));
    const points: StreamPoint[] = [];
    let state = start();
    let cumulative = 0;
    let done = 0;
    let truncated = false;
    for (let t = 0; t < tokens; t++) {
      const t0 = performance.now();
      state = await step(state, t);
      const dt = performance.now() - t0;
      times[t] = dt;
      cumulative += dt;
      done = t + 1;
      const overTime = options.maxSeconds !== undefined && cumulative / 1e3 > options.maxSeconds;
      if (marks.has(done) || overTime) {
        points.push({
          tokens: done,
          stepMs: 0,
          stateBytes: bytes(state),
          // The exported step concatenates: its cache has no spare capacity.
          allocatedBytes: bytes(state),
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
    return { points, tokens: done, truncated };
  } finally {
    await session.release();
  }
}
