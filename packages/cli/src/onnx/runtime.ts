/**
 * `--runtime onnx`: the exported graphs run by onnxruntime-node (an optional dependency, loaded on
 * demand), and the test-split evaluation of forecast and classify runs on them.
 */

import { existsSync, statSync } from 'node:fs';
import { basename } from 'node:path';
import { nn, tensor } from '@recur/tensor';
import { ErrorAccumulator, loadForecastData, windowsOf } from '../data/forecast.js';
import { locateTsFiles, readTsFile } from '../data/uea.js';
import { CliError, messageOf } from '../errors.js';
import type { Options } from '../options.js';
import { caseBatch } from '../tasks/classify.js';
import { evalBatches, evalBatchSize } from '../tasks/common.js';
import { windowTensors } from '../tasks/forecast.js';
import { isTaskRun } from '../tasks/setup.js';
import type { Metrics, RunConfig } from '../tasks/types.js';

/** The part of onnxruntime-node's API used here. */
export interface OrtTensor {
  readonly data: unknown;
  readonly dims: readonly number[];
}
export interface OrtSession {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  run(feeds: Record<string, OrtTensor>): Promise<Record<string, OrtTensor>>;
  release(): Promise<void>;
}
export interface Ort {
  InferenceSession: {
    create(model: Uint8Array | string, options: Record<string, unknown>): Promise<OrtSession>;
  };
  Tensor: new (
    type: 'float32' | 'int32',
    data: Float32Array | Int32Array,
    dims: readonly number[],
  ) => OrtTensor;
}

/** onnxruntime-node, or a CliError saying how to get it. */
export async function requireOrt(): Promise<Ort> {
  try {
    const name = 'onnxruntime-node';
    const mod = (await import(name)) as Ort & { default?: Ort };
    return mod.InferenceSession ? mod : mod.default!;
  } catch (e) {
    throw new CliError(
      `--runtime onnx needs onnxruntime-node (npm install onnxruntime-node): ${messageOf(e).split('\n')[0]}`,
    );
  }
}

/** A CPU session for an ONNX file or bytes; a file that is missing or does not load is a CliError naming it. */
export async function openSession(
  ort: Ort,
  model: string | Uint8Array,
  threads: number,
  what = typeof model === 'string' ? model : 'the exported model',
): Promise<OrtSession> {
  if (typeof model === 'string') {
    if (!existsSync(model)) throw new CliError(`${model}: no such file (run recur export first)`);
    if (statSync(model).isDirectory())
      throw new CliError(`${model}: expected an .onnx file, got a folder`);
  }
  try {
    return await ort.InferenceSession.create(model, {
      executionProviders: ['cpu'],
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
    });
  } catch (e) {
    const reason = messageOf(e).split('\n')[0]?.replace(/\s+/g, ' ').slice(0, 200);
    throw new CliError(`${what}: not a loadable ONNX model (${reason})`);
  }
}

async function runX(ort: Ort, session: OrtSession, x: Float32Array, dims: number[], file: string) {
  if (
    session.inputNames.length !== 1 ||
    session.inputNames[0] !== 'x' ||
    !session.outputNames.includes('y')
  ) {
    throw new CliError(
      `${file}: expected a model.onnx of recur export (input x, output y), got inputs ${session.inputNames.join(', ')}`,
    );
  }
  const out = await session.run({ x: new ort.Tensor('float32', x, dims) });
  return out.y!;
}

/** The run's test-split metrics computed by onnxruntime on model.onnx (forecast, classify). */
export async function onnxTestMetrics(
  ort: Ort,
  session: OrtSession,
  file: string,
  run: RunConfig,
  o: Options,
): Promise<{ metrics: Metrics; describe: string[]; warnings: string[] }> {
  const data = o.data;
  if (!data) throw new CliError('missing --data: the data to evaluate on');
  if (isTaskRun(run, 'forecast')) {
    const cfg = run.taskConfig;
    const fd = loadForecastData(data, {
      lookback: cfg.lookback,
      horizon: cfg.horizon,
      split: o.split && o.split !== 'auto' ? o.split : cfg.split,
      scaler: cfg.scaler,
      channels: cfg.channels.length,
    });
    const { first, count } = windowsOf(fd, 'test');
    const acc = new ErrorAccumulator();
    const size = evalBatchSize(o.batchSize ?? run.options.batchSize ?? 32);
    for (const idx of evalBatches(count, size)) {
      const { x, y } = windowTensors(
        fd,
        idx.map((i) => first + i),
      );
      const out = await runX(ort, session, x.dataSync() as Float32Array, x.shape.slice(), file);
      acc.add(out.data as Float32Array, y.dataSync());
      x.dispose();
      y.dispose();
    }
    return { metrics: { mse: acc.mse, mae: acc.mae }, describe: [], warnings: fd.warnings };
  }
  if (isTaskRun(run, 'classify')) {
    const cfg = run.taskConfig;
    const testFile = o.test ?? (/TEST/.test(basename(data)) ? data : locateTsFiles(data).test);
    const test = readTsFile(testFile, cfg.labels);
    if (test.dims !== cfg.dims) {
      throw new CliError(
        `${testFile}: has ${test.dims} dimension(s), the run was trained on ${cfg.dims}`,
      );
    }
    // One case at a time: the graph takes unpadded sequences.
    let correct = 0;
    let loss = 0;
    for (const c of test.cases) {
      const { x, labels } = caseBatch([c], cfg);
      const out = await runX(ort, session, x.dataSync() as Float32Array, x.shape.slice(), file);
      const logits = tensor(out.data as Float32Array, { shape: out.dims.slice() });
      loss += nn.crossEntropy(logits, labels, { reduction: 'sum' }).item();
      if (logits.argmax(1).dataSync()[0] === c.label) correct++;
    }
    const n = test.cases.length;
    return { metrics: { accuracy: correct / n, loss: loss / n }, describe: [], warnings: [] };
  }
  throw new CliError(
    `--runtime onnx evaluates forecast and classify runs, this one is '${run.task}'`,
  );
}
