import {
  bufOf,
  type GPUTensorBuffer,
  gpuOf,
  type KernelInput,
  registerKernel,
} from '@recur/tensor/kernels';
import type { LinearRecurrenceAttrs, LogcumsumexpAttrs } from '../../operators/basic.js';
import { LINEAR_RECURRENCE_WGSL, LOGADDEXP_WGSL, REVERSE_PAIR_WGSL } from './combines.js';
import { inputAt, run1d, runScan, type ScanProgram } from './engine.js';

/**
 * logcumsumexp and the linear recurrence on WebGPU, elementwise over [outer, T, inner] (one lane per
 * (o, i) line), forward and backward, with the CPU kernels' arithmetic (kernels/cpu.ts).
 */

const P = 'fn p_of(o: u32, k: u32, t: u32) -> u32 { return (o * rs_pu(1u) + t) * rs_pu(2u) + k; }';

const logcumsumexpForward: ScanProgram = {
  key: 'logcumsumexp.forward',
  elem: LOGADDEXP_WGSL,
  elemWords: 1,
  buffers: [{ name: 'x' }, { name: 'out', write: true }],
  load: `${P}
fn leaf(o: u32, k: u32, t: u32) -> Elem { return Elem(x[p_of(o, k, t)]); }`,
  store: 'fn emit(o: u32, k: u32, t: u32, e: Elem) { out[p_of(o, k, t)] = e.v; }',
  reverse: false,
};

/** Z_t = dy_t + e^{out_t − out_{t+1}} Z_{t+1} in reverse; dx_t = e^{x_t − out_t} Z_t. */
const logcumsumexpBackward: ScanProgram = {
  key: 'logcumsumexp.backward',
  elem: LINEAR_RECURRENCE_WGSL,
  elemWords: 2,
  buffers: [{ name: 'x' }, { name: 'out' }, { name: 'dy' }, { name: 'dx', write: true }],
  load: `${P}
fn leaf(o: u32, k: u32, t: u32) -> Elem {
  let p = p_of(o, k, t);
  var f = 0.0;
  if (t + 1u < rs_pu(1u)) { f = exp_diff(out[p], out[p + rs_pu(2u)]); }
  return Elem(f, dy[p]);
}`,
  store: `fn emit(o: u32, k: u32, t: u32, z: Elem) {
  let p = p_of(o, k, t);
  dx[p] = exp_diff(x[p], out[p]) * z.b;
}`,
  reverse: true,
};

registerKernel<LogcumsumexpAttrs>(
  'scan.logcumsumexp',
  'webgpu',
  (backend, inputs, { outer, length: T, inner, hasCarry }) => {
    const gpu = gpuOf(backend);
    const x = inputs[0]!;
    const out = gpu.alloc(x.size * 4);
    // A carry [outer, inner] of f32 is already an array of Elem { v: f32 }.
    const carry = hasCarry ? bufOf(inputs[1]!).buffer : undefined;
    runScan(gpu, logcumsumexpForward, { outer, length: T, inner }, [bufOf(x).buffer, out.buffer], {
      carry,
    });
    return [out];
  },
);

registerKernel<LogcumsumexpAttrs>(
  'scan.logcumsumexpBackward',
  'webgpu',
  (backend, inputs, { outer, length: T, inner, hasCarry }) => {
    const gpu = gpuOf(backend);
    const x = inputs[0]!;
    const base = hasCarry ? 2 : 1;
    const out = inputs[base]!;
    const dy = inputs[base + 1]!;
    const dx = gpu.alloc(x.size * 4);
    const c0 = hasCarry ? inputs[1]! : null;
    const dc0 = c0 ? gpu.alloc(c0.size * 4) : null;
    const lines = outer * inner;
    if (dc0 && T === 0) gpu.clear(dc0);
    if (lines === 0 || T === 0) return dc0 ? [dx, dc0] : [dx];
    const final = dc0 ? gpu.alloc(lines * 8) : null;
    runScan(
      gpu,
      logcumsumexpBackward,
      { outer, length: T, inner },
      [bufOf(x).buffer, bufOf(out).buffer, bufOf(dy).buffer, dx.buffer],
      { final: final?.buffer },
    );
    if (c0 && dc0 && final) {
      run1d(
        gpu,
        'logcumsumexp.dcarry',
        LINEAR_RECURRENCE_WGSL,
        [
          { name: 'z', type: 'Elem' },
          { name: 'c0' },
          { name: 'out' },
          { name: 'dc0', write: true },
        ],
        `  let inner = rs_pu(1u);
  let T = rs_pu(2u);
  dc0[i] = exp_diff(c0[i], out[(i / inner) * T * inner + i % inner]) * z[i].b;`,
        [lines, inner, T],
        [final.buffer, bufOf(c0).buffer, bufOf(out).buffer, dc0.buffer],
      );
      gpu.release(final);
    }
    return dc0 ? [dx, dc0] : [dx];
  },
);

const linearRecurrenceForward: ScanProgram = {
  key: 'linearRecurrence.forward',
  elem: LINEAR_RECURRENCE_WGSL,
  elemWords: 2,
  buffers: [{ name: 'a' }, { name: 'b' }, { name: 'A', write: true }, { name: 'H', write: true }],
  load: `${P}
fn leaf(o: u32, k: u32, t: u32) -> Elem { let p = p_of(o, k, t); return Elem(a[p], b[p]); }`,
  store: `fn emit(o: u32, k: u32, t: u32, e: Elem) {
  let p = p_of(o, k, t);
  A[p] = e.a;
  H[p] = e.b;
}`,
  reverse: false,
};

/**
 * gH_t = dH_t + a_{t+1} gH_{t+1}, gA_t likewise (one reverse scan over (a_{t+1}, gH, gA)); db = gH
 * and, for now, da = gA: the pass after it makes da_t = gH_t·H_{t−1} + gA_t·A_{t−1}.
 */
const linearRecurrenceBackward: ScanProgram = {
  key: 'linearRecurrence.backward',
  elem: REVERSE_PAIR_WGSL,
  elemWords: 3,
  buffers: [
    { name: 'a' },
    { name: 'dA' },
    { name: 'dH' },
    { name: 'da', write: true },
    { name: 'db', write: true },
  ],
  load: `${P}
fn leaf(o: u32, k: u32, t: u32) -> Elem {
  let p = p_of(o, k, t);
  var next = 0.0;
  if (t + 1u < rs_pu(1u)) { next = a[p + rs_pu(2u)]; }
  return Elem(next, dH[p], dA[p]);
}`,
  store: `fn emit(o: u32, k: u32, t: u32, z: Elem) {
  let p = p_of(o, k, t);
  db[p] = z.u;
  da[p] = z.w;
}`,
  reverse: true,
};

registerKernel<LinearRecurrenceAttrs>(
  'scan.linearRecurrence',
  'webgpu',
  (backend, inputs, { outer, length: T, inner, hasCarry }) => {
    const gpu = gpuOf(backend);
    const [a, b] = [inputAt(inputs, 0), inputAt(inputs, 1)];
    const A = gpu.alloc(a.size * 4);
    const H = gpu.alloc(b.size * 4);
    const lines = outer * inner;
    let carry: GPUTensorBuffer | null = null;
    if (hasCarry && lines > 0 && T > 0) {
      carry = gpu.alloc(lines * 8);
      run1d(
        gpu,
        'linearRecurrence.carry',
        LINEAR_RECURRENCE_WGSL,
        [{ name: 'a0' }, { name: 'b0' }, { name: 'out', type: 'Elem', write: true }],
        '  out[i] = Elem(a0[i], b0[i]);',
        [lines],
        [bufOf(inputs[2]!).buffer, bufOf(inputs[3]!).buffer, carry.buffer],
      );
    }
    runScan(
      gpu,
      linearRecurrenceForward,
      { outer, length: T, inner },
      [bufOf(a).buffer, bufOf(b).buffer, A.buffer, H.buffer],
      { carry: carry?.buffer },
    );
    if (carry) gpu.release(carry);
    return [A, H];
  },
);

// Long because of WGSL: most lines are the shader source of its da and carry-gradient passes.
registerKernel<LinearRecurrenceAttrs>(
  'scan.linearRecurrenceBackward',
  'webgpu',
  (backend, inputs, { outer, length: T, inner, hasCarry }) => {
    const gpu = gpuOf(backend);
    const a = inputAt(inputs, 0);
    const base = hasCarry ? 4 : 2;
    const [A, H, dA, dH] = [
      inputAt(inputs, base),
      inputAt(inputs, base + 1),
      inputAt(inputs, base + 2),
      inputAt(inputs, base + 3),
    ];
    const da = gpu.alloc(a.size * 4);
    const db = gpu.alloc(a.size * 4);
    const carry: [KernelInput, KernelInput] | null = hasCarry
      ? [inputAt(inputs, 2), inputAt(inputs, 3)]
      : null;
    const dCarry: [GPUTensorBuffer, GPUTensorBuffer] | null = carry
      ? [gpu.alloc(carry[0].size * 4), gpu.alloc(carry[1].size * 4)]
      : null;
    const lines = outer * inner;
    if (T === 0) for (const g of dCarry ?? []) gpu.clear(g);
    if (lines === 0 || T === 0) return [da, db, ...(dCarry ?? [])];
    const final = carry ? gpu.alloc(lines * 12) : null;
    runScan(
      gpu,
      linearRecurrenceBackward,
      { outer, length: T, inner },
      [bufOf(a).buffer, bufOf(dA).buffer, bufOf(dH).buffer, da.buffer, db.buffer],
      { final: final?.buffer },
    );
    // da_t = gH_t·h_{t−1} + gA_t·A_{t−1}, with (h, A) before the first position the carry (b0, a0)
    // or the identity (0, 1).
    const prev = (name: string, from: string, fallback: string) =>
      `var ${name} = ${fallback};
  if (t > 0u) { ${name} = ${from}[i - inner]; }${carry ? ` else { ${name} = ${from}0[q]; }` : ''}`;
    run1d(
      gpu,
      `linearRecurrence.da.${!!carry}`,
      '',
      [
        { name: 'H' },
        { name: 'A' },
        { name: 'db' },
        { name: 'da', write: true },
        ...(carry ? [{ name: 'H0' }, { name: 'A0' }] : []),
      ],
      `  let T = rs_pu(1u);
  let inner = rs_pu(2u);
  let t = (i / inner) % T;
  let q = (i / (T * inner)) * inner + i % inner;
  ${prev('hPrev', 'H', '0.0')}
  ${prev('aPrev', 'A', '1.0')}
  da[i] = db[i] * hPrev + da[i] * aPrev;`,
      [a.size, T, inner],
      [
        bufOf(H).buffer,
        bufOf(A).buffer,
        db.buffer,
        da.buffer,
        ...(carry ? [bufOf(carry[1]).buffer, bufOf(carry[0]).buffer] : []),
      ],
    );
    if (carry && final && dCarry) {
      const [da0, db0] = dCarry;
      // da0 = a_0·gA_0, db0 = a_0·gH_0.
      run1d(
        gpu,
        'linearRecurrence.dcarry',
        REVERSE_PAIR_WGSL,
        [
          { name: 'z', type: 'Elem' },
          { name: 'a' },
          { name: 'da0', write: true },
          { name: 'db0', write: true },
        ],
        `  let inner = rs_pu(1u);
  let T = rs_pu(2u);
  let a1 = a[(i / inner) * T * inner + i % inner];
  da0[i] = a1 * z[i].w;
  db0[i] = a1 * z[i].u;`,
        [lines, inner, T],
        [final.buffer, bufOf(a).buffer, da0.buffer, db0.buffer],
      );
      gpu.release(final);
    }
    return [da, db, ...(dCarry ?? [])];
  },
);
