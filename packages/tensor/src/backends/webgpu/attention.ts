import type { KernelInput } from '../../backend.js';
import { COMMON_WGSL, checkLoop, output, runProgram } from '../../kernel-kit/webgpu.js';
import { registerKernel } from '../../kernels.js';
import {
  type AttentionAttrs,
  type AttentionDims,
  type AttentionGradOp,
  type AttentionOp,
  attentionDims,
} from '../../ops/attention.js';
import { bufOf, f32bits, gpuOf, type WebGPUBackend } from './backend.js';

/**
 * Fused softmax attention (ops/attention.ts): one thread per query row with an online softmax (a
 * running maximum rescales the running sum and output), so no score matrix exists. The gradient
 * recomputes probabilities from lse: δ per row, then dq per query row and dk, dv per key row (each
 * thread owns its output row: no atomics). d and dv are compiled in (private accumulators).
 */

// params: n, tq, tk, d, dv, offset (i32), length, causal, scale (f32)
function paramsOf(n: number, dims: Dims, a: AttentionAttrs): number[] {
  return [
    n,
    dims.tq,
    dims.tk,
    dims.d,
    dims.dv,
    a.offset,
    a.length,
    a.causal ? 1 : 0,
    f32bits(a.scale),
  ];
}

const PRELUDE = `
fn vend(qi: u32) -> u32 {
  var e = i32(pu(6u));
  if (pu(7u) == 1u) { e = min(e, pi(5u) + i32(qi) + 1); }
  return u32(max(e, 0));
}`;

type Dims = AttentionDims;

function consts(dims: Dims): string {
  // A zero-length accumulator is not valid WGSL: size 1 and never read.
  return `const D = ${dims.d}u;\nconst DV = ${dims.dv}u;\nconst DA = ${Math.max(dims.d, 1)}u;\nconst DVA = ${Math.max(dims.dv, 1)}u;`;
}

function checks(gpu: WebGPUBackend, dims: Dims): void {
  checkLoop(gpu, 'attention', dims.tk);
  checkLoop(gpu, 'attention', dims.tq);
}

registerKernel<AttentionOp>('attention', 'webgpu', (backend, [q, k, v], a, [oSpec, lSpec]) => {
  const gpu = gpuOf(backend);
  const dims = attentionDims(q, k, v);
  checks(gpu, dims);
  const out = output(gpu, oSpec);
  const lse = output(gpu, lSpec);
  const n = dims.batch * dims.tq;
  runProgram(
    gpu,
    {
      name: `attention:${dims.d}:${dims.dv}`,
      prelude: `${COMMON_WGSL}\n${consts(dims)}\n${PRELUDE}`,
      bindings: [
        { name: 'q', type: 'f32' },
        { name: 'k', type: 'f32' },
        { name: 'v', type: 'f32' },
        { name: 'out', type: 'f32', write: true },
        { name: 'lse', type: 'f32', write: true },
      ],
      size: n,
      main: `  if (i >= pu(0u)) { return; }
  let tq = pu(1u); let tk = pu(2u); let scale = pf(8u);
  let b = i / tq;
  let end = vend(i % tq);
  let qo = i * D; let kb = b * tk * D; let vb = b * tk * DV;
  var m = -inf();
  var l = 0.0;
  var acc: array<f32, DVA>;
  for (var x = 0u; x < DV; x++) { acc[x] = 0.0; }
  for (var j = 0u; j < end; j++) {
    var dot = 0.0;
    for (var x = 0u; x < D; x++) { dot = dot + q[qo + x] * k[kb + j * D + x]; }
    let s = dot * scale;
    let mn = max(m, s);
    let c = select(exp(m - mn), 0.0, j == 0u);
    let p = exp(s - mn);
    l = l * c + p;
    for (var x = 0u; x < DV; x++) { acc[x] = acc[x] * c + p * v[vb + j * DV + x]; }
    m = mn;
  }
  let oo = i * DV;
  if (end == 0u) {
    lse[i] = -inf();
    for (var x = 0u; x < DV; x++) { out[oo + x] = 0.0; }
    return;
  }
  lse[i] = m + log(l);
  for (var x = 0u; x < DV; x++) { out[oo + x] = acc[x] / l; }`,
    },
    paramsOf(n, dims, a),
    [q, k, v].map((t) => bufOf(t).buffer).concat([out.buffer, lse.buffer]),
  );
  return [out, lse];
});

// Long because of WGSL: most lines are the shader source of its passes (δ, dq, then dk and dv).
registerKernel<AttentionGradOp>(
  'attentionGrad',
  'webgpu',
  (backend, [q, k, v, o, lse, dO, dL], a, [dqSpec, dkSpec, dvSpec]) => {
    const gpu = gpuOf(backend);
    const dims = attentionDims(q, k, v);
    checks(gpu, dims);
    const buf = (t: KernelInput) => bufOf(t).buffer;
    const rows = dims.batch * dims.tq;
    // δ_i = dOut_i · out_i − dLse_i, one per query row.
    const delta = gpu.alloc(Math.max(rows, 1) * 4);
    runProgram(
      gpu,
      {
        name: `attentionDelta:${dims.dv}`,
        prelude: consts(dims),
        bindings: [
          { name: 'o', type: 'f32' },
          { name: 'g', type: 'f32' },
          { name: 'gl', type: 'f32' },
          { name: 'delta', type: 'f32', write: true },
        ],
        size: rows,
        main: `  if (i >= pu(0u)) { return; }
  var s = -gl[i];
  for (var x = 0u; x < DV; x++) { s = s + g[i * DV + x] * o[i * DV + x]; }
  delta[i] = s;`,
      },
      paramsOf(rows, dims, a),
      [buf(o), buf(dO), buf(dL), delta.buffer],
    );
    const dq = output(gpu, dqSpec);
    const dk = output(gpu, dkSpec);
    const dv = output(gpu, dvSpec);
    const inputs = [
      { name: 'q', type: 'f32' },
      { name: 'k', type: 'f32' },
      { name: 'v', type: 'f32' },
      { name: 'lse', type: 'f32' },
      { name: 'g', type: 'f32' },
      { name: 'delta', type: 'f32' },
    ] as const;
    const ins = [buf(q), buf(k), buf(v), buf(lse), buf(dO), delta.buffer];
    // dq_i = scale Σ_j p_ij (dOut_i · v_j − δ_i) k_j, one thread per query row.
    runProgram(
      gpu,
      {
        name: `attentionGradQ:${dims.d}:${dims.dv}`,
        prelude: `${consts(dims)}\n${PRELUDE}`,
        bindings: [...inputs, { name: 'dq', type: 'f32', write: true }],
        size: rows,
        main: `  if (i >= pu(0u)) { return; }
  let tq = pu(1u); let tk = pu(2u); let scale = pf(8u);
  let b = i / tq;
  let end = vend(i % tq);
  let qo = i * D; let go = i * DV; let kb = b * tk * D; let vb = b * tk * DV;
  var acc: array<f32, DA>;
  for (var x = 0u; x < D; x++) { acc[x] = 0.0; }
  for (var j = 0u; j < end; j++) {
    var dot = 0.0;
    for (var x = 0u; x < D; x++) { dot = dot + q[qo + x] * k[kb + j * D + x]; }
    let p = exp(dot * scale - lse[i]);
    var dp = 0.0;
    for (var x = 0u; x < DV; x++) { dp = dp + g[go + x] * v[vb + j * DV + x]; }
    let ds = p * (dp - delta[i]) * scale;
    for (var x = 0u; x < D; x++) { acc[x] = acc[x] + ds * k[kb + j * D + x]; }
  }
  for (var x = 0u; x < D; x++) { dq[qo + x] = acc[x]; }`,
      },
      paramsOf(rows, dims, a),
      [...ins, dq.buffer],
    );
    // dk_j = scale Σ_i ds_ij q_i and dv_j = Σ_i p_ij dOut_i, one thread per key row.
    const keys = dims.batch * dims.tk;
    runProgram(
      gpu,
      {
        name: `attentionGradKV:${dims.d}:${dims.dv}`,
        prelude: `${consts(dims)}\n${PRELUDE}`,
        bindings: [
          ...inputs,
          { name: 'dk', type: 'f32', write: true },
          { name: 'dv', type: 'f32', write: true },
        ],
        size: keys,
        main: `  if (i >= pu(0u)) { return; }
  let tq = pu(1u); let tk = pu(2u); let scale = pf(8u);
  let b = i / tk;
  let j = i % tk;
  let ko = i * D; let vo = i * DV;
  var gk: array<f32, DA>;
  var gv: array<f32, DVA>;
  for (var x = 0u; x < D; x++) { gk[x] = 0.0; }
  for (var x = 0u; x < DV; x++) { gv[x] = 0.0; }
  for (var qi = 0u; qi < tq; qi++) {
    if (vend(qi) <= j) { continue; }
    let row = b * tq + qi;
    let qo = row * D; let go = row * DV;
    var dot = 0.0;
    for (var x = 0u; x < D; x++) { dot = dot + q[qo + x] * k[ko + x]; }
    let p = exp(dot * scale - lse[row]);
    var dp = 0.0;
    for (var x = 0u; x < DV; x++) {
      dp = dp + g[go + x] * v[vo + x];
      gv[x] = gv[x] + p * g[go + x];
    }
    let ds = p * (dp - delta[row]) * scale;
    for (var x = 0u; x < D; x++) { gk[x] = gk[x] + ds * q[qo + x]; }
  }
  for (var x = 0u; x < D; x++) { dk[ko + x] = gk[x]; }
  for (var x = 0u; x < DV; x++) { dv[vo + x] = gv[x]; }`,
      },
      paramsOf(keys, dims, a),
      [...ins, dk.buffer, dv.buffer],
    );
    gpu.release(delta);
    return [dq, dk, dv];
  },
);
