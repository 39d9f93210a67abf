import {
  allocCpuBuffer,
  type Kernel,
  type KernelInput,
  registerKernel,
  TensorError,
} from '@recur/tensor';
import type { AttentionAttrs } from '../operators/attention.js';
import type { LinearRecurrenceAttrs, LogcumsumexpAttrs } from '../operators/basic.js';
import {
  type AttentionForwardArgs,
  attentionForwardWasm,
  attentionWasm,
  attentionWasmActive,
} from './wasm/attention.js';

/**
 * CPU kernels of the built-in operators: one sequential pass per row of the [outer, T, inner] layout,
 * forward, and one reverse pass for the gradient (the stabilised reverse scans of MATH.md §2), so
 * memory is O(T·d) and no T×T matrix appears. Exponents are always ≤ 0, and a −inf exponent base
 * gives an explicit 0 coefficient, never exp(−inf − (−inf)).
 */

/** The Float32Array behind a CPU kernel input; throws for another buffer. */
function f32(x: KernelInput): Float32Array {
  if (x.buffer instanceof Float32Array) return x.buffer;
  throw new TensorError('scan', `expected a float32 buffer, got ${x.dtype}`);
}

/** Input `i`'s data; a kernel called with fewer inputs than its layout needs is an error. */
function at(inputs: readonly KernelInput[], i: number): Float32Array {
  const x = inputs[i];
  if (!x) throw new TensorError('scan', `expected an input ${i}, got ${inputs.length} inputs`);
  return f32(x);
}
const NEG_INF = Number.NEGATIVE_INFINITY;

/** e^{a − b} for a ≤ b, with 0 when a is −inf (the identity contributes nothing). */
function expDiff(a: number, b: number): number {
  return a === NEG_INF ? 0 : Math.exp(a - b);
}

/** The forward scan, or with `divide` attentionScan's fused output W/U and the last state. */
function forward(divide: boolean): Kernel<AttentionAttrs> {
  return (_b, inputs, { outer, length: T, inner: d, channels: c, hasCarry }) => {
    const [m, u, w] = [at(inputs, 0), at(inputs, 1), at(inputs, 2)];
    // Outputs from the backend's pool: a reused large buffer saves the page faults of a fresh one.
    const args: AttentionForwardArgs = {
      outer,
      T,
      d,
      c,
      m,
      u,
      w,
      m0: hasCarry ? at(inputs, 3) : null,
      u0: hasCarry ? at(inputs, 4) : null,
      w0: hasCarry ? at(inputs, 5) : null,
      // Every element is written: no memset of a reused buffer.
      M: allocCpuBuffer('float32', m.length, false),
      U: allocCpuBuffer('float32', u.length, false),
      W: allocCpuBuffer('float32', w.length, false),
      divide,
      Wlast: divide ? allocCpuBuffer('float32', outer * d) : null,
    };
    // WebAssembly SIMD where the engine has it (faster from a single position of d = 64 on); its
    // outputs are bit-identical to the JavaScript loop's.
    const wasm = attentionWasmActive() ? attentionWasm() : null;
    if (!wasm || !attentionForwardWasm(wasm, args)) attentionForwardJs(args);
    if (!divide) return [args.M, args.U, args.W];
    // The carry's m and u: the states at the last position (T >= 1 here).
    const Ml = allocCpuBuffer('float32', outer * c);
    const Ul = allocCpuBuffer('float32', outer * c);
    for (let o = 0; o < outer; o++) {
      const at = (o * T + T - 1) * c;
      Ml.set(args.M.subarray(at, at + c), o * c);
      Ul.set(args.U.subarray(at, at + c), o * c);
    }
    return [args.W, args.M, args.U, Ml, Ul, args.Wlast];
  };
}

registerKernel<AttentionAttrs>('scan.attention', 'cpu', forward(false));
registerKernel<AttentionAttrs>('scan.attentionOutput', 'cpu', forward(true));

/**
 * What each stored output value is multiplied by (wasm/attention.wat's $scaleOf): 1 for the
 * numerator W, or with `divide` attentionScan's 1/U, and 0 while the running max is −inf.
 */
function scaleOf(u: number, m: number, divide: boolean): number {
  if (!divide) return 1;
  return m === NEG_INF ? 0 : 1 / u;
}

/**
 * The forward pass in plain JavaScript: the reference for the WebAssembly kernel (wasm/attention.wat
 * does the same arithmetic in the same order) and the fallback where WebAssembly SIMD is missing.
 */
export function attentionForwardJs(args: AttentionForwardArgs): void {
  const { outer, T, d, c, m, u, w, m0, u0, w0, M, U, W, divide, Wlast } = args;
  const runM = new Float64Array(c);
  const runU = new Float64Array(c);
  const runW = new Float64Array(d);
  // One exponential per channel and position: the running sums are rescaled (by ca) only when the
  // max moves, otherwise the new element is scaled (by cb). Written as x·1 and x + y·1 this is the
  // same arithmetic in double precision, without the multiplications by 1; the loops walk one
  // running index so the d-wide inner loop is a plain streaming pass.
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < c; j++) {
      runM[j] = m0 ? m0[o * c + j]! : NEG_INF;
      runU[j] = u0 ? u0[o * c + j]! : 0;
    }
    for (let k = 0; k < d; k++) runW[k] = w0 ? w0[o * d + k]! : 0;
    let q = o * T * d; // index of (o, t, 0) in w and W
    if (c === 1) {
      let rm = runM[0]!;
      let ru = runU[0]!;
      for (let p = o * T, end = p + T; p < end; p++) {
        const mi = m[p]!;
        if (mi > rm) {
          const ca = expDiff(rm, mi);
          rm = mi;
          ru = ru * ca + u[p]!;
          const f = scaleOf(ru, rm, divide);
          for (let k = 0; k < d; k++, q++) {
            const x = runW[k]! * ca + w[q]!;
            runW[k] = x;
            W[q] = x * f;
          }
        } else {
          const cb = expDiff(mi, rm);
          ru = ru + u[p]! * cb;
          const f = scaleOf(ru, rm, divide);
          for (let k = 0; k < d; k++, q++) {
            const x = runW[k]! + w[q]! * cb;
            runW[k] = x;
            W[q] = x * f;
          }
        }
        M[p] = rm;
        U[p] = ru;
      }
    } else {
      // c = d: every channel its own (m, u, w), at the same index q in all three.
      for (let t = 0; t < T; t++) {
        for (let j = 0; j < d; j++, q++) {
          const mi = m[q]!;
          const prev = runM[j]!;
          let x: number;
          let y: number;
          if (mi > prev) {
            const ca = expDiff(prev, mi);
            runM[j] = mi;
            y = runU[j]! * ca + u[q]!;
            x = runW[j]! * ca + w[q]!;
          } else {
            const cb = expDiff(mi, prev);
            y = runU[j]! + u[q]! * cb;
            x = runW[j]! + w[q]! * cb;
          }
          runU[j] = y;
          runW[j] = x;
          M[q] = runM[j]!;
          U[q] = y;
          W[q] = x * scaleOf(y, runM[j]!, divide);
        }
      }
    }
    if (Wlast) for (let k = 0; k < d; k++) Wlast[o * d + k] = runW[k]!;
  }
}

registerKernel<AttentionAttrs>(
  'scan.attentionBackward',
  'cpu',
  (_b, inputs, { outer, length: T, inner: d, channels: c, hasCarry }) => {
    const [m, u, w] = [at(inputs, 0), at(inputs, 1), at(inputs, 2)];
    const base = hasCarry ? 6 : 3;
    const M = at(inputs, base);
    const dU = at(inputs, base + 1);
    const dW = at(inputs, base + 2);
    const dm = new Float32Array(m.length);
    const du = new Float32Array(u.length);
    const dw = new Float32Array(w.length);
    type Three = [Float32Array, Float32Array, Float32Array];
    const carry: Three | null = hasCarry ? [at(inputs, 3), at(inputs, 4), at(inputs, 5)] : null;
    const dCarry: Three | null = carry
      ? [
          new Float32Array(carry[0].length),
          new Float32Array(carry[1].length),
          new Float32Array(carry[2].length),
        ]
      : null;
    // ZU, ZW: Σ_{k ≥ t} dX_k · e^{M_t − M_k}, carried backwards with factor e^{M_t − M_{t+1}} ≤ 1.
    const ZU = new Float64Array(c);
    const ZW = new Float64Array(d);
    for (let o = 0; o < outer; o++) {
      ZU.fill(0);
      ZW.fill(0);
      for (let t = T - 1; t >= 0; t--) {
        const pc = (o * T + t) * c;
        const pd = (o * T + t) * d;
        for (let j = 0; j < c; j++) {
          const f = t === T - 1 ? 0 : expDiff(M[pc + j]!, M[pc + c + j]!);
          ZU[j] = ZU[j]! * f + dU[pc + j]!;
          if (c === 1) for (let k = 0; k < d; k++) ZW[k] = ZW[k]! * f + dW[pd + k]!;
          else ZW[j] = ZW[j]! * f + dW[pd + j]!;
          const e = expDiff(m[pc + j]!, M[pc + j]!);
          du[pc + j] = e * ZU[j]!;
          let dot = 0;
          if (c === 1) {
            for (let k = 0; k < d; k++) {
              dw[pd + k] = e * ZW[k]!;
              dot += w[pd + k]! * ZW[k]!;
            }
          } else {
            dw[pd + j] = e * ZW[j]!;
            dot = w[pd + j]! * ZW[j]!;
          }
          dm[pc + j] = e * (u[pc + j]! * ZU[j]! + dot);
        }
      }
      if (carry && dCarry) {
        const [m0, u0, w0] = carry;
        const [dm0, du0, dw0] = dCarry;
        for (let j = 0; j < c; j++) {
          const e = T === 0 ? 0 : expDiff(m0[o * c + j]!, M[o * T * c + j]!);
          du0[o * c + j] = e * ZU[j]!;
          let dot = 0;
          if (c === 1) {
            for (let k = 0; k < d; k++) {
              dw0[o * d + k] = e * ZW[k]!;
              dot += w0[o * d + k]! * ZW[k]!;
            }
          } else {
            dw0[o * d + j] = e * ZW[j]!;
            dot = w0[o * d + j]! * ZW[j]!;
          }
          dm0[o * c + j] = e * (u0[o * c + j]! * ZU[j]! + dot);
        }
      }
    }
    return [dm, du, dw, ...(dCarry ?? [])];
  },
);

registerKernel<LogcumsumexpAttrs>(
  'scan.logcumsumexp',
  'cpu',
  (_b, inputs, { outer, length: T, inner, hasCarry }) => {
    const x = at(inputs, 0);
    const c0 = hasCarry ? at(inputs, 1) : null;
    const out = new Float32Array(x.length);
    for (let o = 0; o < outer; o++) {
      for (let i = 0; i < inner; i++) {
        let acc = c0 ? c0[o * inner + i]! : NEG_INF;
        for (let t = 0; t < T; t++) {
          const p = (o * T + t) * inner + i;
          const v = x[p]!;
          // Math.max/min propagate NaN, so a NaN input poisons the rest of the row.
          const hi = Math.max(v, acc);
          const lo = Math.min(v, acc);
          acc = hi === NEG_INF ? NEG_INF : hi + Math.log1p(Math.exp(lo - hi));
          out[p] = acc;
        }
      }
    }
    return [out];
  },
);

registerKernel<LogcumsumexpAttrs>(
  'scan.logcumsumexpBackward',
  'cpu',
  (_b, inputs, { outer, length: T, inner, hasCarry }) => {
    const x = at(inputs, 0);
    const c0 = hasCarry ? at(inputs, 1) : null;
    const base = hasCarry ? 2 : 1;
    const out = at(inputs, base);
    const dy = at(inputs, base + 1);
    const dx = new Float32Array(x.length);
    const dc0 = c0 ? new Float32Array(c0.length) : null;
    for (let o = 0; o < outer; o++) {
      for (let i = 0; i < inner; i++) {
        // Z_t = Σ_{k ≥ t} dy_k e^{out_t − out_k}; out is non-decreasing in t so every factor is ≤ 1.
        let z = 0;
        for (let t = T - 1; t >= 0; t--) {
          const p = (o * T + t) * inner + i;
          const f = t === T - 1 ? 0 : expDiff(out[p]!, out[p + inner]!);
          z = z * f + dy[p]!;
          dx[p] = expDiff(x[p]!, out[p]!) * z;
        }
        if (c0 && dc0 && T > 0) {
          const q = o * inner + i;
          dc0[q] = expDiff(c0[q]!, out[o * T * inner + i]!) * z;
        }
      }
    }
    return dc0 ? [dx, dc0] : [dx];
  },
);

registerKernel<LinearRecurrenceAttrs>(
  'scan.linearRecurrence',
  'cpu',
  (_b, inputs, { outer, length: T, inner, hasCarry }) => {
    const a = at(inputs, 0);
    const b = at(inputs, 1);
    const a0 = hasCarry ? at(inputs, 2) : null;
    const b0 = hasCarry ? at(inputs, 3) : null;
    const A = new Float32Array(a.length);
    const H = new Float32Array(b.length);
    for (let o = 0; o < outer; o++) {
      for (let i = 0; i < inner; i++) {
        let pa = a0 ? a0[o * inner + i]! : 1;
        let h = b0 ? b0[o * inner + i]! : 0;
        for (let t = 0; t < T; t++) {
          const p = (o * T + t) * inner + i;
          const at = a[p]!;
          pa *= at;
          h = at * h + b[p]!;
          A[p] = pa;
          H[p] = h;
        }
      }
    }
    return [A, H];
  },
);

registerKernel<LinearRecurrenceAttrs>(
  'scan.linearRecurrenceBackward',
  'cpu',
  (_b, inputs, { outer, length: T, inner, hasCarry }) => {
    const a = at(inputs, 0);
    const base = hasCarry ? 4 : 2;
    const a0 = hasCarry ? at(inputs, 2) : null;
    const b0 = hasCarry ? at(inputs, 3) : null;
    const A = at(inputs, base);
    const H = at(inputs, base + 1);
    const dA = at(inputs, base + 2);
    const dH = at(inputs, base + 3);
    const da = new Float32Array(a.length);
    const db = new Float32Array(a.length);
    const da0 = a0 ? new Float32Array(a0.length) : null;
    const db0 = b0 ? new Float32Array(b0.length) : null;
    for (let o = 0; o < outer; o++) {
      for (let i = 0; i < inner; i++) {
        const q = o * inner + i;
        // gH_t = dH_t + a_{t+1} gH_{t+1}; gA_t likewise: the reverse linear recurrence.
        let gH = 0;
        let gA = 0;
        for (let t = T - 1; t >= 0; t--) {
          const p = (o * T + t) * inner + i;
          const next = t === T - 1 ? 0 : a[p + inner]!;
          gH = dH[p]! + next * gH;
          gA = dA[p]! + next * gA;
          const hPrev = t > 0 ? H[p - inner]! : b0 ? b0[q]! : 0;
          const aPrev = t > 0 ? A[p - inner]! : a0 ? a0[q]! : 1;
          db[p] = gH;
          da[p] = gH * hPrev + gA * aPrev;
        }
        if (da0 && db0 && T > 0) {
          const a1 = a[o * T * inner + i]!;
          db0[q] = a1 * gH;
          da0[q] = a1 * gA;
        }
      }
    }
    return da0 && db0 ? [da, db, da0, db0] : [da, db];
  },
);
