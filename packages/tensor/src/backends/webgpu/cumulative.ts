import type { KernelInput } from '../../backend.js';
import {
  COMMON_WGSL,
  checkLoop,
  loopRange,
  output,
  runProgram,
  wt,
} from '../../kernel-kit/webgpu.js';
import { registerKernel } from '../../kernels.js';
import type { CummaxOp, CumsumOp } from '../../ops/cumulative.js';
import { sizeOf } from '../../shape.js';
import { bufOf, gpuOf } from './backend.js';

/**
 * Cumulative ops along an axis of [outer, r, inner]: one thread per (outer, inner) line walks r in
 * order (a workgroup scan is the scan package's business). float32 running sums are compensated
 * (two_sum), so each output is within about an ulp of the exact prefix sum.
 */

function layout(x: KernelInput, axis: number) {
  return {
    outer: sizeOf(x.shape.slice(0, axis)),
    r: x.shape[axis]!,
    inner: sizeOf(x.shape.slice(axis + 1)),
  };
}

const LINE = `let ii = i % inner;
  let o = i / inner;
  let base = o * r * inner + ii;`;

registerKernel<CumsumOp>(
  'cumsum',
  'webgpu',
  (backend, [input], { axis, reverse, exclusive }, [o]) => {
    const gpu = gpuOf(backend);
    const out = output(gpu, o);
    const { outer, r, inner } = layout(input, axis);
    checkLoop(gpu, 'cumsum', r);
    const n = outer * inner;
    const t = wt(o.dtype);
    // float32: a compensated running sum (two_sum, see reduce.ts); int32 wraps like the CPU.
    const step =
      t === 'f32'
        ? exclusive
          ? 'out[p] = finish(s, c); let q = two_sum(s, v); s = q.x; c = c + q.y;'
          : 'let q = two_sum(s, v); s = q.x; c = c + q.y; out[p] = finish(s, c);'
        : exclusive
          ? 'out[p] = s; s = s + v;'
          : 's = s + v; out[p] = s;';
    runProgram(
      gpu,
      {
        name: `cumsum:${t}:${reverse}:${exclusive}`,
        prelude: COMMON_WGSL,
        bindings: [
          { name: 'x', type: t },
          { name: 'out', type: t, write: true },
        ],
        size: n,
        main: `  let n = pu(0u); let r = pu(1u); let inner = pu(2u);
  if (i >= n) { return; }
  ${LINE}
  var s = ${t}(0);
  var c = ${t}(0);
  ${loopRange(
    'j',
    '0u',
    'r',
    `let k = ${reverse ? 'r - 1u - j' : 'j'};
    let p = base + k * inner;
    let v = x[p];
    ${step}`,
  )}`,
      },
      [n, r, inner],
      [bufOf(input).buffer, out.buffer],
    );
    return [out];
  },
);

// Latest index among equal maxima; a NaN sticks once seen and each later NaN takes the index.
registerKernel<CummaxOp>('cummax', 'webgpu', (backend, [input], { axis }, [o]) => {
  const gpu = gpuOf(backend);
  const values = output(gpu, o);
  const indices = gpu.alloc(input.size * 4);
  const { outer, r, inner } = layout(input, axis);
  checkLoop(gpu, 'cummax', r);
  const n = outer * inner;
  const t = wt(o.dtype);
  const take = t === 'f32' ? 'is_nan(v) || (!is_nan(best) && v >= best)' : 'k == 0u || v >= best';
  runProgram(
    gpu,
    {
      name: `cummax:${t}`,
      prelude: COMMON_WGSL,
      bindings: [
        { name: 'x', type: t },
        { name: 'values', type: t, write: true },
        { name: 'indices', type: 'i32', write: true },
      ],
      size: n,
      main: `  let n = pu(0u); let r = pu(1u); let inner = pu(2u);
  if (i >= n) { return; }
  ${LINE}
  var best = ${t === 'f32' ? '-inf()' : '0'};
  var at = 0u;
  ${loopRange(
    'k',
    '0u',
    'r',
    `let p = base + k * inner;
    let v = x[p];
    if (${take}) { best = v; at = k; }
    values[p] = best;
    indices[p] = i32(at);`,
  )}`,
    },
    [n, r, inner],
    [bufOf(input).buffer, values.buffer, indices.buffer],
  );
  return [values, indices];
});
