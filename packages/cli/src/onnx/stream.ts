import { type SequenceModule, type Tensor, toOnnx } from '@recur/tensor';
import { type StreamOptions, type StreamResult, timeSteps } from '../bench/stream.js';
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
  options: StreamOptions = {},
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
  const step = async (feeds: Record<string, OrtTensor>, x: OrtTensor) => {
    const out = await session.run({ ...feeds, x });
    const next: Record<string, OrtTensor> = {};
    for (const k of keys) next[`state.${k}`] = out[`next.${k}`]!;
    return next;
  };
  const bytes = (feeds: Record<string, OrtTensor>) =>
    Object.values(feeds).reduce((n, t) => n + 4 * t.dims.reduce((a, b) => a * b, 1), 0);
  try {
    let warm = start();
    for (let t = 0; t < (options.warmup ?? 64); t++) warm = await step(warm, xs[t % xs.length]!);
    // The exported step concatenates: its cache has no spare capacity.
    const sizes = (feeds: Record<string, OrtTensor>) => ({
      used: bytes(feeds),
      allocated: bytes(feeds),
    });
    const { state: _, ...result } = await timeSteps(
      start(),
      (t) => xs[t % xs.length]!,
      step,
      sizes,
      tokens,
      options,
    );
    return result;
  } finally {
    await session.release();
  }
}
