import { checkLoop, output, runProgram } from '../../kernel-kit/webgpu.js';
import { registerKernel } from '../../kernels.js';
import type { LayerNormGradOp, LayerNormOp } from '../../ops/norm.js';
import { sizeOf } from '../../shape.js';
import { bufOf, f32bits, gpuOf } from './backend.js';

/**
 * LayerNorm (ops/norm.ts) in float32, one thread per row. Each row is divided by
 * s = max(max |x|, 1) first, so neither the sum nor the squares overflow (|x| ≳ 1e19 would give an
 * infinite variance): the kernel normalises x / s with eps / s², which is the same function. The
 * backward kernel writes each row's (s, mean, r) for a second kernel that sums the parameter
 * gradients one thread per column (no atomics).
 */

// The row's scale, mean and r = 1/√(var + eps/s²) of x / s; x̂ = xhat(x_j, …), 0 where x_j / s is
// exactly the mean (r may be +inf for a constant row whose eps/s² underflows).
const STATS = `
  let at = i * n;
  var s = 1.0;
  for (var j = 0u; j < n; j++) { s = max(s, abs(x[at + j])); }
  var sum = 0.0;
  for (var j = 0u; j < n; j++) { sum = sum + x[at + j] / s; }
  let mean = sum / f32(n);
  var sq = 0.0;
  for (var j = 0u; j < n; j++) { let c = x[at + j] / s - mean; sq = sq + c * c; }
  let r = 1.0 / sqrt(sq / f32(n) + eps / (s * s));
  // 1/√(var + eps) of x itself (dx's factor): s·√(…) is 0 only where eps/s² underflowed on a
  // constant row, whose true value is 1/√eps.
  let den = s * sqrt(sq / f32(n) + eps / (s * s));
  let rs = select(1.0 / den, 1.0 / sqrt(eps), den == 0.0);`;

const XHAT =
  'fn xhat(v: f32, s: f32, mean: f32, r: f32) -> f32 { let c = v / s - mean; return select(c * r, 0.0, c == 0.0); }';

registerKernel<LayerNormOp>('layerNorm', 'webgpu', (backend, inputs, a, [spec]) => {
  const gpu = gpuOf(backend);
  const x = inputs[0];
  const n = sizeOf(x.shape.slice(x.shape.length - a.axes));
  const rows = n === 0 ? 0 : x.size / n;
  checkLoop(gpu, 'layerNorm', 4 * n);
  const y = output(gpu, spec);
  const bindings = [{ name: 'x', type: 'f32' as const }];
  if (a.affine >= 1) bindings.push({ name: 'w', type: 'f32' });
  if (a.affine === 2) bindings.push({ name: 'b', type: 'f32' });
  let v = 'xhat(x[at + j], s, mean, r)';
  if (a.affine >= 1) v = `${v} * w[j]`;
  if (a.affine === 2) v = `${v} + b[j]`;
  runProgram(
    gpu,
    {
      name: `layerNorm:${a.affine}`,
      prelude: XHAT,
      bindings: [...bindings, { name: 'y', type: 'f32', write: true }],
      size: rows,
      main: `  if (i >= pu(0u)) { return; }
  let n = pu(1u); let eps = pf(2u);${STATS}
  for (var j = 0u; j < n; j++) { y[at + j] = ${v}; }`,
    },
    [rows, n, f32bits(a.eps)],
    inputs.map((t) => bufOf(t).buffer).concat([y.buffer]),
  );
  return [y];
});

// Long because of WGSL: most lines are the shader source of its row pass and column reductions.
registerKernel<LayerNormGradOp>('layerNormGrad', 'webgpu', (backend, inputs, a, specs) => {
  const gpu = gpuOf(backend);
  const [x, dy, w] = inputs;
  const n = sizeOf(x.shape.slice(x.shape.length - a.axes));
  const rows = n === 0 ? 0 : x.size / n;
  checkLoop(gpu, 'layerNorm', 5 * n);
  checkLoop(gpu, 'layerNorm', rows);
  const dx = output(gpu, specs[0]);
  const stats = gpu.alloc(Math.max(rows, 1) * 12);
  const gOf = w ? 'dy[at + j] * w[j]' : 'dy[at + j]';
  const ins = [
    { name: 'x', type: 'f32' as const },
    { name: 'dy', type: 'f32' as const },
    ...(w ? [{ name: 'w', type: 'f32' as const }] : []),
  ];
  runProgram(
    gpu,
    {
      name: `layerNormGrad:${w ? 1 : 0}`,
      prelude: XHAT,
      bindings: [
        ...ins,
        { name: 'dx', type: 'f32', write: true },
        { name: 'stats', type: 'f32', write: true },
      ],
      size: rows,
      main: `  if (i >= pu(0u)) { return; }
  let n = pu(1u); let eps = pf(2u);${STATS}
  stats[3u * i] = s; stats[3u * i + 1u] = mean; stats[3u * i + 2u] = r;
  var gs = 0.0;
  var gx = 0.0;
  for (var j = 0u; j < n; j++) {
    let g = ${gOf};
    gs = gs + g;
    gx = gx + g * xhat(x[at + j], s, mean, r);
  }
  let ga = gs / f32(n); let gb = gx / f32(n);
  for (var j = 0u; j < n; j++) {
    let g = ${gOf};
    dx[at + j] = rs * (g - ga - xhat(x[at + j], s, mean, r) * gb);
  }`,
    },
    [rows, n, f32bits(a.eps)],
    inputs.map((t) => bufOf(t).buffer).concat([dx.buffer, stats.buffer]),
  );
  if (!w) {
    gpu.release(stats);
    return [dx];
  }
  const dw = output(gpu, specs[1]!);
  const db = output(gpu, specs[2]!);
  runProgram(
    gpu,
    {
      name: 'layerNormGradParams',
      prelude: XHAT,
      bindings: [
        { name: 'x', type: 'f32' },
        { name: 'dy', type: 'f32' },
        { name: 'stats', type: 'f32' },
        { name: 'dw', type: 'f32', write: true },
        { name: 'db', type: 'f32', write: true },
      ],
      size: n,
      main: `  if (i >= pu(1u)) { return; }
  let rows = pu(0u); let n = pu(1u);
  var gw = 0.0;
  var gb = 0.0;
  for (var row = 0u; row < rows; row++) {
    let k = row * n + i;
    gw = gw + dy[k] * xhat(x[k], stats[3u * row], stats[3u * row + 1u], stats[3u * row + 2u]);
    gb = gb + dy[k];
  }
  dw[i] = gw; db[i] = gb;`,
    },
    [rows, n],
    [bufOf(x).buffer, bufOf(dy).buffer, stats.buffer, dw.buffer, db.buffer],
  );
  gpu.release(stats);
  return [dx, dw, db];
});
