/**
 * onnxruntime-node as the CPU speed yardstick for matrix multiplication.
 *
 * `matmulModel` writes a one-node ONNX graph `Y = MatMul(A, B)` as ModelProto bytes with the ONNX
 * writer of `toOnnx` (src/onnx/proto.ts).
 * `createOrtMatmul` loads it into an onnxruntime-node session and returns a runner.
 *
 * onnxruntime-node must be installed with `ONNXRUNTIME_NODE_INSTALL=skip`: its CPU binary ships
 * in the package, and its postinstall otherwise tries to download CUDA providers.
 */

import { InferenceSession, Tensor } from 'onnxruntime-node';
import { DataType, encodeModel, type ValueInfoMsg } from '../src/onnx/proto.js';

/** IR version written into the model (10 = ONNX 1.16); onnxruntime-node accepts it. */
export const IR_VERSION = 10;
/** Default ai.onnx opset (21 = ONNX 1.16). MatMul's semantics have not changed since opset 13. */
export const DEFAULT_OPSET = 21;

function checkPositiveInt(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new RangeError(`${name} must be a positive integer, got ${String(value)}`);
  }
}

function floatInput(name: string, dims: number[]): ValueInfoMsg {
  return {
    name,
    type: {
      tensorType: { elemType: DataType.FLOAT, shape: { dim: dims.map((d) => ({ dimValue: d })) } },
    },
  };
}

/** Serialises a one-node ONNX graph Y = MatMul(A, B) with A [m,k], B [k,n] float32 inputs, as ModelProto bytes. */
export function matmulModel(
  m: number,
  k: number,
  n: number,
  opset: number = DEFAULT_OPSET,
): Uint8Array {
  checkPositiveInt('m', m);
  checkPositiveInt('k', k);
  checkPositiveInt('n', n);
  if (!Number.isSafeInteger(opset) || opset < 13) {
    throw new RangeError(`opset must be an integer >= 13, got ${String(opset)}`);
  }
  return encodeModel({
    irVersion: IR_VERSION,
    producerName: '@recur/tensor bench',
    producerVersion: '',
    opsetImport: [{ domain: '', version: opset }],
    metadataProps: [],
    graph: {
      name: 'matmul',
      node: [
        {
          name: 'matmul',
          opType: 'MatMul',
          domain: '',
          input: ['A', 'B'],
          output: ['Y'],
          attribute: [],
        },
      ],
      initializer: [],
      input: [floatInput('A', [m, k]), floatInput('B', [k, n])],
      output: [floatInput('Y', [m, n])],
    },
  });
}

export interface OrtMatmul {
  /** Y = A @ B for row-major A [m,k] and B [k,n]; returns row-major Y [m,n]. */
  run(a: Float32Array, b: Float32Array): Promise<Float32Array>;
  /** Frees the native session; the runner must not be used afterwards. */
  release(): Promise<void>;
}

/** Creates an onnxruntime-node session for it (intraOpNumThreads option, default 1) and returns a runner. */
export async function createOrtMatmul(
  m: number,
  k: number,
  n: number,
  opts: { threads?: number } = {},
): Promise<OrtMatmul> {
  const threads = opts.threads ?? 1;
  checkPositiveInt('threads', threads);
  const session = await InferenceSession.create(matmulModel(m, k, n), {
    executionProviders: ['cpu'],
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
  let released = false;
  return {
    async run(a, b) {
      if (released) throw new Error('OrtMatmul.run: the session has been released');
      if (a.length !== m * k) {
        throw new RangeError(`a must have m*k = ${m}*${k} = ${m * k} elements, got ${a.length}`);
      }
      if (b.length !== k * n) {
        throw new RangeError(`b must have k*n = ${k}*${n} = ${k * n} elements, got ${b.length}`);
      }
      const out = await session.run({
        A: new Tensor('float32', a, [m, k]),
        B: new Tensor('float32', b, [k, n]),
      });
      const y = out.Y;
      if (y === undefined || !(y.data instanceof Float32Array)) {
        throw new Error('OrtMatmul.run: onnxruntime returned no float32 output Y');
      }
      return y.data;
    },
    async release() {
      if (released) return;
      released = true;
      await session.release();
    },
  };
}
