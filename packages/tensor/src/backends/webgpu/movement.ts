import { coords, output, runProgram, type WebGPUProgram, wt } from '../../kernel-kit/webgpu.js';
import { registerKernel } from '../../kernels.js';
import type { StridedWriteOp } from '../../ops/inplace.js';
import type { ConcatOp, PadOp, StridedOp, StridedScatterOp } from '../../ops/movement.js';
import { sizeOf, stridesOf } from '../../shape.js';
import { bufOf, f32bits, gpuOf } from './backend.js';

/**
 * A program of one thread per element i < size that reads binding `input` and writes `out` (both of
 * WGSL type t); `main` runs for the threads inside the size.
 */
function copyProgram(
  name: string,
  t: string,
  input: string,
  size: number,
  main: string,
): WebGPUProgram {
  return {
    name,
    bindings: [
      { name: input, type: t },
      { name: 'out', type: t, write: true },
    ],
    size,
    main: `  if (i >= pu(0u)) { return; }
${main}`,
  };
}

/** Σ c_k · pi(at + k) as a WGSL i32 expression. */
function dot(rank: number, at: number, prefix = 'c'): string {
  if (rank === 0) return '0';
  return Array.from({ length: rank }, (_, k) => `i32(${prefix}${k}) * pi(${at + k}u)`).join(' + ');
}

// out[i] = x[offset + Σ c_k·strides_k] (strides may be negative or zero).
registerKernel<StridedOp>('strided', 'webgpu', (backend, [x], { shape, strides, offset }, [o]) => {
  const gpu = gpuOf(backend);
  const out = output(gpu, o);
  const n = sizeOf(shape);
  const rank = shape.length;
  const t = wt(o.dtype);
  runProgram(
    gpu,
    copyProgram(
      `strided:${t}:${rank}`,
      t,
      'x',
      n,
      `  ${coords(rank, 2)}
  out[i] = x[u32(pi(1u) + ${dot(rank, 2 + rank)})];`,
    ),
    [n, offset, ...shape, ...strides],
    [bufOf(x).buffer, out.buffer],
  );
  return [out];
});

/**
 * The adjoint of a strided view: zeros, then every element of g written through the view. The view
 * must not overlap itself (slices and flips never do; the op only uses it for those), so no two
 * threads write one element and no atomics are needed.
 */
registerKernel<StridedScatterOp>(
  'stridedScatter',
  'webgpu',
  (backend, [g], { shape, strides, offset }, [o]) => {
    const gpu = gpuOf(backend);
    const out = output(gpu, o);
    gpu.clear(out);
    const n = sizeOf(shape);
    const rank = shape.length;
    const t = wt(o.dtype);
    runProgram(
      gpu,
      copyProgram(
        `stridedScatter:${t}:${rank}`,
        t,
        'g',
        n,
        `  ${coords(rank, 2)}
  out[u32(pi(1u) + ${dot(rank, 2 + rank)})] = g[i];`,
      ),
      [n, offset, ...shape, ...strides],
      [bufOf(g).buffer, out.buffer],
    );
    return [out];
  },
);

/** In place: target[view(i)] = src[i], or += src[i]; the view never overlaps itself (no races). */
registerKernel<StridedWriteOp>(
  'stridedWrite',
  'webgpu',
  (backend, [tgt, src], { shape, strides, offset, accumulate }) => {
    const gpu = gpuOf(backend);
    const n = sizeOf(shape);
    const rank = shape.length;
    const t = wt(tgt.dtype);
    const rhs = accumulate ? 'out[at] + src[i]' : 'src[i]';
    runProgram(
      gpu,
      copyProgram(
        `stridedWrite:${t}:${rank}:${accumulate}`,
        t,
        'src',
        n,
        `  ${coords(rank, 2)}
  let at = u32(pi(1u) + ${dot(rank, 2 + rank)});
  out[at] = ${rhs};`,
      ),
      [n, offset, ...shape, ...strides],
      [bufOf(src).buffer, bufOf(tgt).buffer],
    );
    return [];
  },
);

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
  const outer = sizeOf(o.shape.slice(0, axis));
  const inner = sizeOf(o.shape.slice(axis + 1));
  const rowLen = o.shape[axis]! * inner;
  let at = 0;
  for (const x of inputs) {
    const len = x.shape[axis]! * inner;
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
    at += len;
  }
  return [out];
});
