/**
 * ONNX parity, shared by the model packages' suites: a module exported with toOnnx and run by
 * onnxruntime-node must give what recur gives — the parallel graph on whole sequences, and the step
 * graph streamed token by token, its own `next.*` outputs fed back as `state.*`, against `forward`
 * on the whole sequence.
 */

import { type nn, noGrad, type StreamState, type Tensor, toOnnx } from '@recur/tensor';
import { InferenceSession, Tensor as OrtTensor } from 'onnxruntime-node';

type Module = nn.Module;

/** An onnxruntime tensor holding `t`'s values. */
export function ortTensor(t: Tensor): OrtTensor {
  const dims = t.shape.slice();
  return t.dtype === 'int32'
    ? new OrtTensor('int32', Int32Array.from(t.dataSync()), dims)
    : new OrtTensor('float32', Float32Array.from(t.dataSync()), dims);
}

/** A one-thread CPU session for ONNX bytes. */
export function ortSession(bytes: Uint8Array): Promise<InferenceSession> {
  return InferenceSession.create(bytes, {
    executionProviders: ['cpu'],
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
  });
}

/**
 * max |got − want| / max |want| (the error relative to the output's scale), with the position of
 * the worst element; NaN or a length mismatch is an error.
 */
export function relativeError(
  got: ArrayLike<number>,
  want: ArrayLike<number>,
): { error: number; at: number } {
  if (got.length !== want.length) {
    throw new Error(`expected ${want.length} values, got ${got.length}`);
  }
  let scale = 0;
  for (let i = 0; i < want.length; i++) scale = Math.max(scale, Math.abs(want[i]!));
  let error = 0;
  let at = -1;
  for (let i = 0; i < want.length; i++) {
    const e = Math.abs(got[i]! - want[i]!);
    if (!(e <= error)) {
      error = e;
      at = i;
    }
  }
  return { error: scale > 0 ? error / scale : error, at };
}

interface SequenceModel extends Module {
  forward(x: Tensor): Tensor;
  initState(batch: number): StreamState;
}

/** The parallel graph's y for x, beside recur's forward: the relative error. */
export async function parallelError(
  session: InferenceSession,
  model: SequenceModel,
  x: Tensor,
): Promise<number> {
  const want = noGrad(() => model.forward(x));
  const out = await session.run({ x: ortTensor(x) });
  const y = out.y;
  if (!y) throw new Error('the parallel graph returned no y');
  if (y.dims.join() !== want.shape.join()) {
    throw new Error(`y has shape [${y.dims.join(', ')}], recur gives [${want.shape.join(', ')}]`);
  }
  return relativeError(y.data as Float32Array, want.dataSync()).error;
}

/**
 * Streams x [B, T, features] through the step graph from initState, feeding each `next.<key>` back
 * as `state.<key>`, and returns the relative error of the stacked outputs against forward(x).
 */
export async function streamError(
  session: InferenceSession,
  model: SequenceModel,
  x: Tensor,
): Promise<number> {
  const [b, t] = x.shape as [number, number, number];
  const want = noGrad(() => model.forward(x));
  const keys = Object.keys(model.initState(b));
  let feeds: Record<string, OrtTensor> = {};
  for (const [k, v] of Object.entries(model.initState(b))) feeds[`state.${k}`] = ortTensor(v);
  const xs = x.dataSync();
  const f = x.shape[2]!;
  const dy = want.shape[2]!;
  const got = new Float32Array(want.size);
  for (let i = 0; i < t; i++) {
    const xt = new Float32Array(b * f);
    for (let j = 0; j < b; j++) xt.set(xs.subarray((j * t + i) * f, (j * t + i + 1) * f), j * f);
    feeds.x = new OrtTensor('float32', xt, [b, f]);
    const out = await session.run(feeds);
    const y = out.y?.data as Float32Array;
    for (let j = 0; j < b; j++) got.set(y.subarray(j * dy, (j + 1) * dy), (j * t + i) * dy);
    const next: Record<string, OrtTensor> = {};
    for (const k of keys) {
      const v = out[`next.${k}`];
      if (!v) throw new Error(`the step graph returned no next.${k}`);
      next[`state.${k}`] = v;
    }
    feeds = next;
  }
  return relativeError(got, want.dataSync()).error;
}

/** Both graphs of a model as sessions. */
export async function exportBoth(
  model: Module,
): Promise<{ parallel: InferenceSession; step: InferenceSession }> {
  return {
    parallel: await ortSession(toOnnx(model, { mode: 'parallel' })),
    step: await ortSession(toOnnx(model, { mode: 'step' })),
  };
}
