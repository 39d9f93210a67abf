import type { KernelInput } from '../../backend.js';
import type { DType } from '../../dtype.js';
import { COMMON_WGSL, checkLoop, loopRange, runProgram, wt } from '../../kernel-kit/webgpu.js';
import { registerKernel } from '../../kernels.js';
import type { ReduceAttrs, ReduceOp } from '../../ops/reduce.js';
import { sizeOf } from '../../shape.js';
import { bufOf, type GPUTensorBuffer, gpuOf, type WebGPUBackend } from './backend.js';

/**
 * Reductions of the input read as [outer, r, inner] into [outer, inner].
 *
 * - inner = 1 and r >= 128: one workgroup per output; each thread folds a strided share of the row,
 *   then the workgroup combines the partials as a tree (pairwise: float32 error grows with log r).
 * - otherwise one thread per output walks r. A long r with few outputs is first split into chunks
 *   ([outer, chunks, inner] partials, then reduced again), so the GPU has work for many threads.
 *
 * float32 sums are compensated (Neumaier's two-sum: each addition's rounding error is kept and added
 * back at the end, also through the workgroup tree), so they come out within about an ulp of the
 * exact sum rather than drifting with r as a plain float32 running sum does (the CPU sums in float64). Max/min propagate NaN; argmax/argmin return the
 * first extreme, a NaN counting as the extreme (the CPU kernels' rules).
 */

type Kind = 'sum' | 'max' | 'min';

function init(kind: Kind, t: 'f32' | 'i32'): string {
  if (kind === 'sum') return t === 'f32' ? '0.0' : '0';
  if (t === 'i32') return kind === 'max' ? 'i32(-2147483647 - 1)' : '2147483647';
  return kind === 'max' ? '-inf()' : 'inf()';
}

/** WGSL `fn comb(acc, v) -> T` for max/min (NaN sticks). */
function combine(kind: Kind, t: 'f32' | 'i32'): string {
  if (kind === 'sum') return `fn comb(acc: ${t}, v: ${t}) -> ${t} { return acc + v; }`;
  const cmp = kind === 'max' ? '>' : '<';
  if (t === 'i32')
    return `fn comb(acc: i32, v: i32) -> i32 { return select(acc, v, v ${cmp} acc); }`;
  return `fn comb(acc: f32, v: f32) -> f32 {
  if (is_nan(acc)) { return acc; }
  if (is_nan(v) || v ${cmp} acc) { return v; }
  return acc;
}`;
}

/** A reduction to run: its kind and dtype, and the buffer it reads. */
interface Reduction {
  readonly gpu: WebGPUBackend;
  readonly kind: Kind;
  readonly dtype: DType;
  readonly src: GPUBuffer;
}

/** One thread per output of [outer, inner] folding k in [chunk·c, chunk·c + chunk) ∩ [0, r). */
function perOutput(
  { gpu, kind, dtype, src }: Reduction,
  outer: number,
  r: number,
  inner: number,
  chunks: number,
): GPUTensorBuffer {
  const t = wt(dtype);
  const out = gpu.alloc(outer * chunks * inner * 4);
  const chunk = Math.ceil(r / chunks);
  const n = outer * chunks * inner;
  const fold =
    kind !== 'sum'
      ? `var acc = ${init(kind, t)};
  ${loopRange('k', 'k0', 'k1', 'acc = comb(acc, x[base + k * inner]);')}`
      : t === 'i32'
        ? `var acc = 0;
  ${loopRange('k', 'k0', 'k1', 'acc = acc + x[base + k * inner];')}`
        : `var s = 0.0;
  var comp = 0.0;
  ${loopRange('k', 'k0', 'k1', 'let q = two_sum(s, x[base + k * inner]); s = q.x; comp = comp + q.y;')}
  let acc = finish(s, comp);`;
  runProgram(
    gpu,
    {
      name: `red1:${kind}:${t}`,
      prelude: `${COMMON_WGSL}\n${combine(kind, t)}`,
      bindings: [
        { name: 'x', type: t },
        { name: 'out', type: t, write: true },
      ],
      size: n,
      main: `  let n = pu(0u); let r = pu(1u); let inner = pu(2u); let chunks = pu(3u); let chunk = pu(4u);
  if (i >= n) { return; }
  let ii = i % inner;
  let c = (i / inner) % chunks;
  let o = i / (inner * chunks);
  let k0 = min(c * chunk, r);
  let k1 = min(k0 + chunk, r);
  let base = o * r * inner + ii;
  ${fold}
  out[i] = acc;`,
    },
    [n, r, inner, chunks, chunk],
    [src, out.buffer],
  );
  return out;
}

/** One workgroup per row of a [rows, r] input (inner = 1): strided partials, then a tree. */
function perRow({ gpu, kind, dtype, src }: Reduction, rows: number, r: number): GPUTensorBuffer {
  const t = wt(dtype);
  const out = gpu.alloc(rows * 4);
  const wg = gpu.workgroupSize;
  const key = `redrow:${kind}:${t}`;
  const compensated = kind === 'sum' && t === 'f32';
  const fold =
    kind !== 'sum'
      ? `var acc = ${init(kind, t)};
  ${loopRange('k', 'lid', 'r', 'acc = comb(acc, x[base + k]);', `${wg}u`)}`
      : t === 'i32'
        ? `var acc = 0;
  ${loopRange('k', 'lid', 'r', 'acc = acc + x[base + k];', `${wg}u`)}`
        : `var s = 0.0;
  var c = 0.0;
  ${loopRange('k', 'lid', 'r', 'let q = two_sum(s, x[base + k]); s = q.x; c = c + q.y;', `${wg}u`)}
  let acc = s;`;
  // Compensated sums carry each partial's rounding error through the tree in a second array.
  const tree = compensated
    ? `part[lid] = acc;
  comp[lid] = c;
  workgroupBarrier();
  for (var h = ${wg / 2}u; h > 0u; h = h >> 1u) {
    if (lid < h) {
      let q = two_sum(part[lid], part[lid + h]);
      part[lid] = q.x;
      comp[lid] = comp[lid] + comp[lid + h] + q.y;
    }
    workgroupBarrier();
  }
  if (lid == 0u && row < rows) { out[row] = finish(part[0], comp[0]); }`
    : `part[lid] = acc;
  workgroupBarrier();
  for (var h = ${wg / 2}u; h > 0u; h = h >> 1u) {
    if (lid < h) { part[lid] = comb(part[lid], part[lid + h]); }
    workgroupBarrier();
  }
  if (lid == 0u && row < rows) { out[row] = part[0]; }`;
  runProgram(
    gpu,
    {
      name: key,
      prelude: `${COMMON_WGSL}\n${combine(kind, t)}
var<workgroup> part: array<${t}, ${wg}>;
${compensated ? `var<workgroup> comp: array<f32, ${wg}>;` : ''}`,
      bindings: [
        { name: 'x', type: t },
        { name: 'out', type: t, write: true },
      ],
      workgroups: rows,
      workgroupSize: wg,
      main: `  let row = wid.y * nwg.x + wid.x;
  let rows = pu(0u);
  let r = select(0u, pu(1u), row < rows);
  let base = row * r;
  ${fold}
  ${tree}`,
    },
    [rows, r],
    [src, out.buffer],
  );
  return out;
}

/** Reduces [outer, r, inner] to [outer, inner], choosing the strategy described above. */
function reduce(job: Reduction, outer: number, r: number, inner: number): GPUTensorBuffer {
  const { gpu } = job;
  const outputs = outer * inner;
  const pow2 = (gpu.workgroupSize & (gpu.workgroupSize - 1)) === 0;
  if (inner === 1 && r >= 128 && pow2 && r / gpu.workgroupSize <= 32768) {
    return perRow(job, outer, r);
  }
  if ((r > 512 && outputs < 4096) || r > 32768) {
    // Split r so that about 16k threads work, each on at least 64 and at most 32768 elements.
    const chunks = Math.max(
      2,
      Math.min(Math.ceil(r / 64), Math.ceil(16384 / outputs)),
      Math.ceil(r / 32768),
    );
    const partial = perOutput(job, outer, r, inner, chunks);
    const out = reduce({ ...job, src: partial.buffer }, outer, chunks, inner);
    gpu.release(partial);
    return out;
  }
  return perOutput(job, outer, r, inner, 1);
}

function layout(x: KernelInput, { start, end }: ReduceAttrs) {
  return {
    outer: sizeOf(x.shape.slice(0, start)),
    r: sizeOf(x.shape.slice(start, end)),
    inner: sizeOf(x.shape.slice(end)),
  };
}

for (const kind of ['sum', 'max', 'min'] as const) {
  registerKernel<ReduceOp>(kind, 'webgpu', (backend, [input], attrs, [o]) => {
    const gpu = gpuOf(backend);
    const { outer, r, inner } = layout(input, attrs);
    if (outer * inner === 0) return [gpu.alloc(0)];
    if (r === 0) {
      const out = gpu.alloc(outer * inner * 4);
      gpu.clear(out);
      return [out];
    }
    return [reduce({ gpu, kind, dtype: o.dtype, src: bufOf(input).buffer }, outer, r, inner)];
  });
}

/** Index of the first extreme along r; a NaN counts as the extreme (its first occurrence). */
function argKernel(name: 'argmax' | 'argmin'): void {
  const cmp = name === 'argmax' ? '>' : '<';
  registerKernel<ReduceOp>(name, 'webgpu', (backend, [input], attrs) => {
    const gpu = gpuOf(backend);
    const { outer, r, inner } = layout(input, attrs);
    checkLoop(gpu, name, r);
    const n = outer * inner;
    const out = gpu.alloc(n * 4);
    const t = wt(input.dtype);
    const nanCheck = t === 'f32' ? 'is_nan' : 'never_nan';
    runProgram(
      gpu,
      {
        name: `${name}:${t}`,
        prelude: `${COMMON_WGSL}
fn never_nan(v: i32) -> bool { return false; }
`,
        bindings: [
          { name: 'x', type: t },
          { name: 'out', type: 'i32', write: true },
        ],
        size: n,
        main: `  let n = pu(0u); let r = pu(1u); let inner = pu(2u);
  if (i >= n) { return; }
  let ii = i % inner;
  let o = i / inner;
  let base = o * r * inner + ii;
  var best = x[base];
  var at = 0u;
  var done = ${nanCheck}(best);
  ${loopRange(
    'k',
    '1u',
    'r',
    `if (!done) {
      let v = x[base + k * inner];
      if (${nanCheck}(v)) { at = k; done = true; }
      else if (v ${cmp} best) { best = v; at = k; }
    }`,
    '1u',
    '!done',
  )}
  out[i] = i32(at);`,
      },
      [n, r, inner],
      [bufOf(input).buffer, out.buffer],
    );
    return [out];
  });
}

argKernel('argmax');
argKernel('argmin');
