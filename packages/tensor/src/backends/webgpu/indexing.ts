import type { KernelInput, OutputSpec } from '../../backend.js';
import {
  checkLoop,
  coords,
  elementProgram,
  loopRange,
  output,
  runProgram,
  wt,
} from '../../kernel-kit/webgpu.js';
import { registerKernel } from '../../kernels.js';
import type { GatherOp, ScatterAddOp } from '../../ops/indexing.js';
import { sizeOf, stridesOf } from '../../shape.js';
import { bufOf, type GPUTensorBuffer, gpuOf, INDEX_OPS, type WebGPUBackend } from './backend.js';

/**
 * Gather and scatter on the GPU.
 *
 * Indices cannot be checked on the host without a synchronous read, so every op that reads indices
 * first runs a check kernel that records the first bad index in the backend's error buffer; the
 * next read (`await t.data()`) rejects with a TensorError naming the op, the index, the axis and its
 * size. Kernels read a bad index as "no element": gathers give 0 there, scatters skip it.
 *
 * Scatter-adds are deterministic and need no atomics: each output element loops over the source
 * positions that may land on it (scatterAdd: along the axis; indexAdd: over the index list) and adds
 * the matching ones in ascending order, the order the CPU kernel adds them in, so both backends give
 * the same float32 sums. The cost is outputs × (index length along the axis).
 */

/** Encodes the index check of op `op` (an INDEX_OPS name): values of `index` must lie in [0, size). */
function checkIndices(
  gpu: WebGPUBackend,
  op: (typeof INDEX_OPS)[number],
  index: KernelInput,
  size: number,
  axis: number,
): void {
  if (index.size === 0) return;
  gpu.noteIndexCheck();
  runProgram(
    gpu,
    {
      name: 'indexcheck',
      bindings: [
        { name: 'idx', type: 'i32' },
        { name: 'err', type: 'atomic<u32>', write: true },
      ],
      size: index.size,
      main: `  if (i >= pu(0u)) { return; }
  let v = idx[i];
  if (v < 0 || v >= pi(1u)) {
    if (atomicAdd(&err[0], 1u) == 0u) {
      atomicStore(&err[1], pu(2u));
      atomicStore(&err[2], bitcast<u32>(v));
      atomicStore(&err[3], pu(1u));
      atomicStore(&err[4], pu(3u));
    }
  }`,
    },
    [index.size, size, INDEX_OPS.indexOf(op), axis],
    [bufOf(index).buffer, gpu.errorBuffer],
  );
}

/** One thread per element: reads binding `input` (WGSL type t) and int32 `idx`, writes `out`. */
const indexedProgram = (name: string, t: string, input: string, size: number, main: string) =>
  elementProgram(
    name,
    t,
    [
      { name: input, type: t },
      { name: 'idx', type: 'i32' },
    ],
    size,
    main,
  );

registerKernel<GatherOp>('gather', 'webgpu', (backend, [X, I], { axis }, [o]) => {
  const gpu = gpuOf(backend);
  const out = output(gpu, o);
  const size = X.shape[axis]!;
  checkIndices(gpu, 'gather', I, size, axis);
  const rank = I.shape.length;
  const t = wt(o.dtype);
  const xs = stridesOf(X.shape);
  const terms = Array.from({ length: rank }, (_, k) =>
    k === axis ? `u32(v) * pu(${2 + rank + k}u)` : `c${k} * pu(${2 + rank + k}u)`,
  ).join(' + ');
  runProgram(
    gpu,
    indexedProgram(
      `gather:${t}:${rank}:${axis}`,
      t,
      'x',
      I.size,
      `  ${coords(rank, 2)}
  let v = idx[i];
  if (v < 0 || v >= pi(1u)) { out[i] = ${t}(0); return; }
  out[i] = x[${terms}];`,
    ),
    [I.size, size, ...I.shape, ...xs],
    [bufOf(X).buffer, bufOf(I).buffer, out.buffer],
  );
  return [out];
});

registerKernel<ScatterAddOp>('scatterAdd', 'webgpu', (backend, [S, I], { axis, shape }, [o]) => {
  const gpu = gpuOf(backend);
  const out = output(gpu, o);
  const n = sizeOf(shape);
  const size = shape[axis]!;
  checkIndices(gpu, 'scatterAdd', I, size, axis);
  checkLoop(gpu, 'scatterAdd', I.shape[axis]!);
  const rank = shape.length;
  const t = wt(o.dtype);
  // params: n, len along axis, out shape, index shape, index strides, source strides
  const params = [
    n,
    I.shape[axis]!,
    ...shape,
    ...I.shape,
    ...stridesOf(I.shape),
    ...stridesOf(S.shape),
  ];
  const idxAt = 2 + rank;
  const istrAt = 2 + 2 * rank;
  const sstrAt = 2 + 3 * rank;
  const offAxis = Array.from({ length: rank }, (_, k) => k).filter((k) => k !== axis);
  const fits = offAxis.map((k) => `c${k} < pu(${idxAt + k}u)`).join(' && ') || 'true';
  const ibase = offAxis.map((k) => `c${k} * pu(${istrAt + k}u)`).join(' + ') || '0u';
  const sbase = offAxis.map((k) => `c${k} * pu(${sstrAt + k}u)`).join(' + ') || '0u';
  runProgram(
    gpu,
    indexedProgram(
      `scatterAdd:${t}:${rank}:${axis}`,
      t,
      'src',
      n,
      `  ${coords(rank, 2)}
  var acc = ${t}(0);
  if (${fits}) {
    let ib = ${ibase};
    let sb = ${sbase};
    let want = i32(c${axis});
    ${loopRange(
      'j',
      '0u',
      'pu(1u)',
      `if (idx[ib + j * pu(${istrAt + axis}u)] == want) { acc = acc + src[sb + j * pu(${sstrAt + axis}u)]; }`,
    )}
  }
  out[i] = acc;`,
    ),
    params,
    [bufOf(S).buffer, bufOf(I).buffer, out.buffer],
  );
  return [out];
});

/**
 * One thread per output element of an op along `axis` with a list of k indices (take, indexAdd):
 * params are [n, size, k, inner] and `body` (WGSL for type t) starts with `size`, `k`, `inner` and
 * `ii` = i % inner in scope; it reads binding `input` (the data) and `idx`.
 */
function runIndexList(
  gpu: WebGPUBackend,
  op: string,
  input: string,
  [data, I]: readonly KernelInput[],
  o: OutputSpec,
  size: number,
  inner: number,
  body: (t: string) => string,
): GPUTensorBuffer[] {
  const out = output(gpu, o);
  const n = sizeOf(o.shape);
  const t = wt(o.dtype);
  const main = `  let size = pu(1u); let k = pu(2u); let inner = pu(3u);
  let ii = i % inner;
${body(t)}`;
  runProgram(
    gpu,
    indexedProgram(`${op}:${t}`, t, input, n, main),
    [n, size, I!.size, inner],
    [bufOf(data!).buffer, bufOf(I!).buffer, out.buffer],
  );
  return [out];
}

/** [outer, n, inner] input, k flat indices → [outer, k, inner]. */
registerKernel<GatherOp>('take', 'webgpu', (backend, inputs, { axis }, [o]) => {
  const gpu = gpuOf(backend);
  const [X, I] = inputs;
  const size = X.shape[axis]!;
  checkIndices(gpu, 'indexSelect', I, size, axis);
  const inner = sizeOf(X.shape.slice(axis + 1));
  return runIndexList(
    gpu,
    'take',
    'x',
    inputs,
    o,
    size,
    inner,
    (t) => `  let j = (i / inner) % k;
  let o = i / (inner * k);
  let v = idx[j];
  if (v < 0 || u32(v) >= size) { out[i] = ${t}(0); return; }
  out[i] = x[(o * size + u32(v)) * inner + ii];`,
  );
});

registerKernel<ScatterAddOp>('indexAdd', 'webgpu', (backend, inputs, { axis, shape }, [o]) => {
  const gpu = gpuOf(backend);
  const I = inputs[1];
  const size = shape[axis]!;
  checkIndices(gpu, 'indexAdd', I, size, axis);
  checkLoop(gpu, 'indexAdd', I.size);
  const inner = sizeOf(shape.slice(axis + 1));
  const add = 'if (idx[j] == v) { acc = acc + src[(o * k + j) * inner + ii]; }';
  return runIndexList(
    gpu,
    'indexAdd',
    'src',
    inputs,
    o,
    size,
    inner,
    (t) => `  let v = i32((i / inner) % size);
  let o = i / (inner * size);
  var acc = ${t}(0);
  ${loopRange('j', '0u', 'k', add)}
  out[i] = acc;`,
  );
});
