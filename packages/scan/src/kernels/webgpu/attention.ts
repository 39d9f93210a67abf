import {
  bufOf,
  checkLoop,
  gpuOf,
  type Kernel,
  type KernelInput,
  registerKernel,
} from '@recur/tensor/kernels';
import type { AttentionAttrs } from '../../operators/attention.js';
import { ATTENTION_WGSL, REVERSE_PAIR_WGSL } from './combines.js';
import { inputAt, run1d, runScan, type ScanProgram } from './engine.js';

/**
 * The attention scan on WebGPU (MATH.md §2), [outer, T, ·] with one score per position (c = 1, m and
 * u [outer, T, 1]) or per channel (c = d). One lane per value channel k: for c = 1 each lane scans
 * (m_t, u_t, w_{t,k}) — m and u recomputed by every lane in the same order, so they agree, and
 * written by lane 0.
 *
 * Backward, as the CPU kernel: Z_t = dX_t + e^{M_t − M_{t+1}} Z_{t+1} for X = U and W (a reverse
 * linear-recurrence scan), du = e·ZU, dw = e·ZW with e = e^{m_t − M_t}, then dm = u·du + Σ w·dw
 * (= e·(u·ZU + <w, ZW>)) in a second pass, and the carry's gradients from Z_0.
 */

/** Index helpers: pw = (o, t, k) in w, pm = (o, t, channel of k) in m and u. */
const indices = (head: boolean) => `
fn pw_of(o: u32, k: u32, t: u32) -> u32 { return (o * rs_pu(1u) + t) * rs_pu(2u) + k; }
fn pm_of(o: u32, k: u32, t: u32) -> u32 { return ${head ? 'o * rs_pu(1u) + t' : 'pw_of(o, k, t)'}; }`;

/**
 * The forward scan. With `divide` (attentionScan's fused output, 'scan.attentionOutput') W gets
 * w/u, 0 where m is still −inf. Same bindings either way: adapters may allow only 8 storage buffers
 * per shader (the scan engine uses two of them), so the carry comes from a second, small kernel.
 */
function forwardProgram(head: boolean, divide = false): ScanProgram {
  return {
    key: `attention.forward.${head ? 'head' : 'channel'}${divide ? '.divide' : ''}`,
    elem: ATTENTION_WGSL,
    elemWords: 3,
    buffers: [
      { name: 'm' },
      { name: 'u' },
      { name: 'w' },
      { name: 'M', write: true },
      { name: 'U', write: true },
      { name: 'W', write: true },
    ],
    load: `${indices(head)}
fn leaf(o: u32, k: u32, t: u32) -> Elem {
  let pm = pm_of(o, k, t);
  return Elem(m[pm], u[pm], w[pw_of(o, k, t)]);
}`,
    store: `fn emit(o: u32, k: u32, t: u32, e: Elem) {
  W[pw_of(o, k, t)] = ${divide ? 'select(e.w / e.u, 0.0, is_neg_inf(e.m))' : 'e.w'};
  ${head ? 'if (k == 0u) ' : ''}{
    let pm = pm_of(o, k, t);
    M[pm] = e.m;
    U[pm] = e.u;
  }
}`,
    reverse: false,
  };
}

function backwardProgram(head: boolean): ScanProgram {
  return {
    key: `attention.backward.${head ? 'head' : 'channel'}`,
    elem: REVERSE_PAIR_WGSL,
    elemWords: 3,
    buffers: [
      { name: 'm' },
      { name: 'M' },
      { name: 'dU' },
      { name: 'dW' },
      { name: 'du', write: true },
      { name: 'dw', write: true },
    ],
    load: `${indices(head)}
fn leaf(o: u32, k: u32, t: u32) -> Elem {
  let pm = pm_of(o, k, t);
  var f = 0.0;
  if (t + 1u < rs_pu(1u)) { f = exp_diff(M[pm], M[pm_of(o, k, t + 1u)]); }
  return Elem(f, dU[pm], dW[pw_of(o, k, t)]);
}`,
    store: `fn emit(o: u32, k: u32, t: u32, z: Elem) {
  let pm = pm_of(o, k, t);
  let e = exp_diff(m[pm], M[pm]);
  dw[pw_of(o, k, t)] = e * z.w;
  ${head ? 'if (k == 0u) ' : ''}{ du[pm] = e * z.u; }
}`,
    reverse: true,
  };
}

const programs = {
  forward: { head: forwardProgram(true), channel: forwardProgram(false) },
  output: { head: forwardProgram(true, true), channel: forwardProgram(false, true) },
  backward: { head: backwardProgram(true), channel: backwardProgram(false) },
};

/** The forward scan, or with `divide` attentionScan's fused output (see forwardProgram). */
function forward(divide: boolean): Kernel<AttentionAttrs> {
  return (backend, inputs, { outer, length: T, inner: d, channels: c, hasCarry }) => {
    const gpu = gpuOf(backend);
    const [m, u, w] = three(inputs, 0);
    const M = gpu.alloc(m.size * 4);
    const U = gpu.alloc(u.size * 4);
    const W = gpu.alloc(w.size * 4);
    type Buf = ReturnType<typeof gpu.alloc>;
    const last: [Buf, Buf, Buf] | null = divide
      ? [gpu.alloc(outer * c * 4), gpu.alloc(outer * c * 4), gpu.alloc(outer * d * 4)]
      : null;
    const head = c === 1;
    const lines = outer * d;
    let carry: ReturnType<typeof gpu.alloc> | null = null;
    if (hasCarry && lines > 0 && T > 0) {
      // The carry as Elem (m0, u0, w0) per lane.
      carry = gpu.alloc(lines * 12);
      run1d(
        gpu,
        `attention.carry.${head ? 'head' : 'channel'}`,
        ATTENTION_WGSL,
        [
          { name: 'm0' },
          { name: 'u0' },
          { name: 'w0' },
          { name: 'out', type: 'Elem', write: true },
        ],
        `  let j = ${head ? 'i / rs_pu(1u)' : 'i'};
  out[i] = Elem(m0[j], u0[j], w0[i]);`,
        [lines, d],
        [...inputs.slice(3, 6).map((x) => bufOf(x).buffer), carry.buffer],
      );
    }
    const program = (divide ? programs.output : programs.forward)[head ? 'head' : 'channel'];
    runScan(
      gpu,
      program,
      { outer, length: T, inner: d },
      [bufOf(m).buffer, bufOf(u).buffer, bufOf(w).buffer, M.buffer, U.buffer, W.buffer],
      { carry: carry?.buffer },
    );
    if (carry) gpu.release(carry);
    if (!last) return [M, U, W];
    // The carry: M and U at the last position, and the numerator there as out · U (out is 0 where
    // M is −inf, and so is the numerator).
    const [Ml, Ul, Wl] = last;
    run1d(
      gpu,
      'attention.last',
      '',
      [
        { name: 'M' },
        { name: 'U' },
        { name: 'W' },
        { name: 'Ml', write: true },
        { name: 'Ul', write: true },
        { name: 'Wl', write: true },
      ],
      `  let d = rs_pu(1u); let T = rs_pu(2u); let c = rs_pu(3u);
  let o = i / d; let k = i % d;
  let at = o * T + T - 1u;
  let pm = select(at * d + k, at, c == 1u);
  Wl[i] = W[at * d + k] * U[pm];
  if (c != 1u || k == 0u) {
    let j = select(i, o, c == 1u);
    Ml[j] = M[pm];
    Ul[j] = U[pm];
  }`,
      [outer * d, d, T, c],
      [M.buffer, U.buffer, W.buffer, Ml.buffer, Ul.buffer, Wl.buffer],
    );
    // attentionScan's output first (the op's order), then the states.
    return [W, M, U, Ml, Ul, Wl];
  };
}

registerKernel<AttentionAttrs>('scan.attention', 'webgpu', forward(false));
registerKernel<AttentionAttrs>('scan.attentionOutput', 'webgpu', forward(true));

/** Inputs `at`, `at + 1` and `at + 2` (m, u, w or their like). */
function three(
  inputs: readonly KernelInput[],
  at: number,
): [KernelInput, KernelInput, KernelInput] {
  return [inputAt(inputs, at), inputAt(inputs, at + 1), inputAt(inputs, at + 2)];
}

// Long because of WGSL: most lines are the shader source of its dm and carry-gradient passes.
registerKernel<AttentionAttrs>(
  'scan.attentionBackward',
  'webgpu',
  (backend, inputs, { outer, length: T, inner: d, channels: c, hasCarry }) => {
    const gpu = gpuOf(backend);
    const [m, u, w] = three(inputs, 0);
    const [M, dU, dW] = three(inputs, hasCarry ? 6 : 3);
    const head = c === 1;
    const lines = outer * d;
    const dm = gpu.alloc(m.size * 4);
    const du = gpu.alloc(u.size * 4);
    const dw = gpu.alloc(w.size * 4);
    const grads = [dm, du, dw];
    const carry = hasCarry ? three(inputs, 3) : null;
    type Buf = ReturnType<typeof gpu.alloc>;
    const dCarry: [Buf, Buf, Buf] | null = carry
      ? [gpu.alloc(carry[0].size * 4), gpu.alloc(carry[1].size * 4), gpu.alloc(carry[2].size * 4)]
      : null;
    if (lines === 0) return [...grads, ...(dCarry ?? [])];
    if (T === 0) {
      // Nothing after the carry: its gradients are 0 (as e = 0 on the CPU).
      for (const g of dCarry ?? []) gpu.clear(g);
      return [...grads, ...(dCarry ?? [])];
    }
    if (head) checkLoop(gpu, 'scan.attentionBackward', d);
    const final = hasCarry ? gpu.alloc(lines * 12) : null;
    runScan(
      gpu,
      head ? programs.backward.head : programs.backward.channel,
      { outer, length: T, inner: d },
      [bufOf(m).buffer, bufOf(M).buffer, bufOf(dU).buffer, bufOf(dW).buffer, du.buffer, dw.buffer],
      { final: final?.buffer },
    );
    // dm = u·du + <w, dw> per score.
    run1d(
      gpu,
      `attention.dm.${head ? 'head' : 'channel'}`,
      '',
      [{ name: 'u' }, { name: 'w' }, { name: 'du' }, { name: 'dw' }, { name: 'dm', write: true }],
      head
        ? `  let d = rs_pu(1u);
  var sdot = 0.0;
  for (var k = 0u; k < d; k = k + 1u) { sdot = sdot + w[i * d + k] * dw[i * d + k]; }
  dm[i] = u[i] * du[i] + sdot;`
        : '  dm[i] = u[i] * du[i] + w[i] * dw[i];',
      [m.size, d],
      [bufOf(u).buffer, bufOf(w).buffer, du.buffer, dw.buffer, dm.buffer],
    );
    if (final && carry && dCarry) {
      const [m0, u0, w0] = carry;
      const [dm0, du0, dw0] = dCarry;
      // Per carry score j: e = e^{m0 − M_0}, du0 = e·ZU_0, dw0 = e·ZW_0, dm0 = e·(u0·ZU_0 + <w0, ZW_0>).
      run1d(
        gpu,
        `attention.dcarry.${head ? 'head' : 'channel'}`,
        REVERSE_PAIR_WGSL,
        [
          { name: 'z', type: 'Elem' },
          { name: 'm0' },
          { name: 'u0' },
          { name: 'w0' },
          { name: 'M' },
          { name: 'dm0', write: true },
          { name: 'du0', write: true },
          { name: 'dw0', write: true },
        ],
        head
          ? `  let d = rs_pu(1u);
  let T = rs_pu(2u);
  let e = exp_diff(m0[i], M[i * T]);
  let zu = z[i * d].u;
  du0[i] = e * zu;
  var sdot = 0.0;
  for (var k = 0u; k < d; k = k + 1u) {
    let zw = z[i * d + k].w;
    dw0[i * d + k] = e * zw;
    sdot = sdot + w0[i * d + k] * zw;
  }
  dm0[i] = e * (u0[i] * zu + sdot);`
          : `  let d = rs_pu(1u);
  let T = rs_pu(2u);
  let o = i / d;
  let e = exp_diff(m0[i], M[o * T * d + i % d]);
  let zi = z[i];
  du0[i] = e * zi.u;
  dw0[i] = e * zi.w;
  dm0[i] = e * (u0[i] * zi.u + w0[i] * zi.w);`,
        [outer * c, d, T],
        [
          final.buffer,
          bufOf(m0).buffer,
          bufOf(u0).buffer,
          bufOf(w0).buffer,
          bufOf(M).buffer,
          dm0.buffer,
          du0.buffer,
          dw0.buffer,
        ],
      );
      gpu.release(final);
    }
    return [...grads, ...(dCarry ?? [])];
  },
);
