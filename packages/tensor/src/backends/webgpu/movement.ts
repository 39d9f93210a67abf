import { coords, elementProgram, output, runProgram, wt } from '../../kernel-kit/webgpu.js';
import { registerKernel } from '../../kernels.js';
import type { StridedWriteOp } from '../../ops/inplace.js';
import type { ConcatOp, PadOp, StridedOp, StridedScatterOp } from '../../ops/movement.js';
import { concatLayout, sizeOf, stridesOf } from '../../shape.js';
import { bufOf, f32bits, gpuOf, type WebGPUBackend } from './backend.js';

/** One thread per element: reads binding `input` and writes `out` (both of WGSL type t). */
const copyProgram = (name: string, t: string, input: string, size: number, main: string) =>
  elementProgram(name, t, [{ name: input, type: t }], size, main);

/** Σ c_k · pi(at + k) as a WGSL i32 expression. */
function dot(rank: number, at: number, prefix = 'c'): string {
  if (rank === 0) return '0';
  return Array.from({ length: rank }, (_, k) => `i32(${prefix}${k}) * pi(${at + k}u)`).join(' + ');
}

/** A strided view of a buffer: element i (row-major over shape) is at offset + Σ c_k·strides_k. */
interface View {
  readonly shape: readonly number[];
  readonly strides: readonly number[];
  readonly offset: number;
}

/**
 * One thread per element i of a strided view, reading binding `input` and writing `out` (type t):
 * `body(at)` is the WGSL to run, given `at`, the WGSL expression of element i's flat index under
 * the view. The program is named `${name}:${t}:${rank}${suffix}`.
 */
function runView(
  gpu: WebGPUBackend,
  name: string,
  t: string,
  input: string,
  { shape, strides, offset }: View,
  body: (at: string) => string,
  buffers: readonly GPUBuffer[],
  suffix = '',
): void {
  const n = sizeOf(shape);
  const rank = shape.length;
  const at = `u32(pi(1u) + ${dot(rank, 2 + rank)})`;
  runProgram(
    gpu,
    copyProgram(`${name}:${t}:${rank}${suffix}`, t, input, n, `  ${coords(rank, 2)}\n${body(at)}`),
    [n, offset, ...shape, ...strides],
    buffers,
  );
}

// out[i] = x[offset + Σ c_k·strides_k] (strides may be negative or zero).
registerKernel<StridedOp>('strided', 'webgpu', (backend, [x], view, [o]) => {
  const gpu = gpuOf(backend);
  const out = output(gpu, o);
  const body = (at: string) => `  out[i] = x[${at}];`;
  runView(gpu, 'strided', wt(o.dtype), 'x', view, body, [bufOf(x).buffer, out.buffer]);
  return [out];
});

/**
 * The adjoint of a strided view: zeros, then every element of g written through the view. The view
 * must not overlap itself (slices and flips never do; the op only uses it for those), so no two
 * threads write one element and no atomics are needed.
 */
registerKernel<StridedScatterOp>('stridedScatter', 'webgpu', (backend, [g], view, [o]) => {
  const gpu = gpuOf(backend);
  const out = output(gpu, o);
  gpu.clear(out);
  const body = (at: string) => `  out[${at}] = g[i];`;
  runView(gpu, 'stridedScatter', wt(o.dtype), 'g', view, body, [bufOf(g).buffer, out.buffer]);
  return [out];
});

/** In place: target[view(i)] = src[i], or += src[i]; the view never overlaps itself (no races). */
registerKernel<StridedWriteOp>('stridedWrite', 'webgpu', (backend, [tgt, src], view) => {
  const gpu = gpuOf(backend);
  const rhs = view.accumulate ? 'out[at] + src[i]' : 'src[i]';
  const body = (at: string) => `  let at = ${at};\n  out[at] = ${rhs};`;
  const buffers = [bufOf(src).buffer, bufOf(tgt).buffer];
  runView(gpu, 'stridedWrite', wt(tgt.dtype), 'src', view, body, buffers, `:${view.accumulate}`);
  return [];
});

// Each output element reads the input at its coordinates minus the padding before, or `value`.
registerKernel<PadOp>('pad', 'webgpu', (backend, [input], { pads, value }, [o]) => {
  const gpu = gpuOf(backend);
  const out = output(gpu, o);
  const n = sizeOf(o.shape);
  const rank = o.shape.length;
  const t = wt(o.dtype);
  const inStrides = stridesOf(input.shape);
  const before = o.shape.map((_, k) => pads[k]?.[0] ?? 0);
  // params: n, value, out shape, before, in shape, in strides
  const params = [
    n,
    o.dtype === 'float32' ? f32bits(value) : value | 0,
    ...o.shape,
    ...before,
    ...input.shape,
    ...inStrides,
  ];
  const checks = Array.from(
    { length: rank },
    (_, k) =>
      `{ let d = i32(c${k}) - pi(${2 + rank + k}u); if (d < 0 || d >= pi(${2 + 2 * rank + k}u)) { inside = false; } src = src + d * pi(${2 + 3 * rank + k}u); }`,
  ).join('\n  ');
  runProgram(
    gpu,
    copyProgram(
      `pad:${t}:${rank}`,
      t,
      'x',
      n,
      `  ${coords(rank, 2)}
  var inside = true;
  var src = 0;
  ${checks}
  if (inside) { out[i] = x[u32(src)]; } else { out[i] = bitcast<${t}>(pu(1u)); }`,
    ),
    params,
    [bufOf(input).buffer, out.buffer],
  );
  return [out];
});

// One dispatch per input, copying its [outer, len] rows into their place in each output row.
registerKernel<ConcatOp>('concat', 'webgpu', (backend, inputs, { axis }, [o]) => {
  const gpu = gpuOf(backend);
  const out = output(gpu, o);
  const t = wt(o.dtype);
  const { outer, rowLen, parts } = concatLayout(o.shape, inputs, axis);
  inputs.forEach((x, p) => {
    const { len, at } = parts[p]!;
    const n = outer * len;
    runProgram(
      gpu,
      copyProgram(
        `concat:${t}`,
        t,
        'x',
        n,
        `  let len = pu(1u);
  out[(i / len) * pu(2u) + pu(3u) + i % len] = x[i];`,
      ),
      [n, len, rowLen, at],
      [bufOf(x).buffer, out.buffer],
    );
  });
  return [out];
});
