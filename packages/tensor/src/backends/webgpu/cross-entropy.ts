import type { KernelInput } from '../../backend.js';
import { COMMON_WGSL, checkLoop, output, runProgram } from '../../kernel-kit/webgpu.js';
import { registerKernel } from '../../kernels.js';
import type {
  CrossEntropyRowsAttrs,
  CrossEntropyRowsGradOp,
  CrossEntropyRowsOp,
} from '../../ops/cross-entropy.js';
import { bufOf, f32bits, gpuOf } from './backend.js';

/**
 * Softmax cross entropy per row (ops/cross-entropy.ts), one thread per row in float32: the row's max
 * and log Σ exp(x − max) (recomputed by the backward, as the CPU kernel does), then the loss or dx.
 */

const STATS = `
  let at = i * C;
  var m = -inf();
  for (var c = 0u; c < C; c++) { m = max(m, x[at + c]); }
  let shift = select(0.0, m, is_finite(m));
  var s = 0.0;
  for (var c = 0u; c < C; c++) { s = s + exp(x[at + c] - shift); }
  let logZ = log(s);`;

function bindings(weighted: boolean, extra: string[]) {
  return [
    { name: 'x', type: 'f32' as const },
    { name: 't', type: 'i32' as const },
    ...extra.map((name) => ({ name, type: 'f32' as const })),
    ...(weighted ? [{ name: 'w', type: 'f32' as const }] : []),
  ];
}

const weightOf = (weighted: boolean, c: string) => (weighted ? `w[${c}]` : '1.0');

function setup(backend: Parameters<typeof gpuOf>[0], x: KernelInput, a: CrossEntropyRowsAttrs) {
  const gpu = gpuOf(backend);
  const [R, C] = [x.shape[0]!, x.shape[1]!];
  checkLoop(gpu, 'crossEntropy', 4 * C);
  return { gpu, R, C, params: [R, C, a.ignoreIndex, f32bits(a.smoothing)] };
}

registerKernel<CrossEntropyRowsOp>('crossEntropyRows', 'webgpu', (backend, inputs, a, [spec]) => {
  const x = inputs[0];
  const weighted = inputs.length > 2;
  const { gpu, R, params } = setup(backend, x, a);
  const loss = output(gpu, spec);
  const W = (c: string) => weightOf(weighted, c);
  runProgram(
    gpu,
    {
      name: `crossEntropyRows:${weighted ? 1 : 0}`,
      prelude: COMMON_WGSL,
      bindings: [...bindings(weighted, []), { name: 'loss', type: 'f32', write: true }],
      size: R,
      main: `  if (i >= pu(0u)) { return; }
  let C = pu(1u); let eps = pf(3u);
  let y = t[i];
  if (y == pi(2u)) { loss[i] = 0.0; return; }${STATS}
  let yc = u32(y);
  var l = -${W('yc')} * (x[at + yc] - shift - logZ) * (1.0 - eps);
  if (eps > 0.0) {
    var sm = 0.0;
    for (var c = 0u; c < C; c++) { sm = sm - ${W('c')} * (x[at + c] - shift - logZ); }
    l = l + eps / f32(C) * sm;
  }
  loss[i] = l;`,
    },
    params,
    inputs.map((t) => bufOf(t).buffer).concat([loss.buffer]),
  );
  return [loss];
});

registerKernel<CrossEntropyRowsGradOp>(
  'crossEntropyRowsGrad',
  'webgpu',
  (backend, inputs, a, [spec]) => {
    const x = inputs[0];
    const weighted = inputs.length > 3;
    const { gpu, R, params } = setup(backend, x, a);
    const dx = output(gpu, spec);
    const W = (c: string) => weightOf(weighted, c);
    runProgram(
      gpu,
      {
        name: `crossEntropyRowsGrad:${weighted ? 1 : 0}`,
        prelude: COMMON_WGSL,
        bindings: [...bindings(weighted, ['g']), { name: 'dx', type: 'f32', write: true }],
        size: R,
        main: `  if (i >= pu(0u)) { return; }
  let C = pu(1u); let eps = pf(3u) / f32(pu(1u));
  let y = t[i];
  if (y == pi(2u)) {
    for (var c = 0u; c < C; c++) { dx[i * C + c] = 0.0; }
    return;
  }${STATS}
  let yc = u32(y);
  var wsum = f32(C);
  ${weighted ? 'wsum = 0.0; for (var c = 0u; c < C; c++) { wsum = wsum + w[c]; }' : ''}
  let wy = (1.0 - pf(3u)) * ${W('yc')};
  for (var c = 0u; c < C; c++) {
    let p = exp(x[at + c] - shift - logZ);
    var d = wy * select(p, p - 1.0, c == yc);
    if (eps > 0.0) { d = d + eps * (p * wsum - ${W('c')}); }
    dx[at + c] = g[i] * d;
  }`,
      },
      params,
      inputs.map((t) => bufOf(t).buffer).concat([dx.buffer]),
    );
    return [dx];
  },
);
