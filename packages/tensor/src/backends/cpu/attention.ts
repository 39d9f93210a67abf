import type { KernelInput, OutputSpec } from '../../backend.js';
import type { TypedArray } from '../../dtype.js';
import { registerKernel } from '../../kernels.js';
import type { AttentionAttrs } from '../../ops/attention.js';
import { sizeOf } from '../../shape.js';
import { alloc, arr } from './backend.js';

/**
 * Fused softmax attention (ops/attention.ts), one query row at a time: the row's scores live in a
 * scratch of Tk floats, so memory is O(Tk) per call, never O(Tq·Tk). Sums run in float64.
 */

/** One past the last key query i sees: the visible keys are always the prefix 0..end−1. */
function visibleEnd(a: AttentionAttrs, i: number): number {
  return Math.max(0, a.causal ? Math.min(a.length, a.offset + i + 1) : a.length);
}

function dimsOf(q: KernelInput, k: KernelInput, v: KernelInput) {
  const r = q.shape.length;
  return {
    batch: sizeOf(q.shape.slice(0, -2)),
    tq: q.shape[r - 2] as number,
    tk: k.shape[r - 2] as number,
    d: q.shape[r - 1] as number,
    dv: v.shape[r - 1] as number,
  };
}

registerKernel<AttentionAttrs>('attention', 'cpu', (_b, [q, k, v], a, [oSpec, lSpec]) => {
  const { batch, tq, tk, d, dv } = dimsOf(q as KernelInput, k as KernelInput, v as KernelInput);
  const Q = arr(q as KernelInput);
  const K = arr(k as KernelInput);
  const V = arr(v as KernelInput);
  const out = alloc('float32', sizeOf((oSpec as OutputSpec).shape));
  const lse = alloc('float32', sizeOf((lSpec as OutputSpec).shape));
  const s = new Float64Array(tk);
  const acc = new Float64Array(dv);
  for (let b = 0; b < batch; b++) {
    const kb = b * tk * d;
    const vb = b * tk * dv;
    for (let i = 0; i < tq; i++) {
      const row = b * tq + i;
      const end = visibleEnd(a, i);
      if (end === 0) {
        lse[row] = Number.NEGATIVE_INFINITY;
        continue;
      }
      const qo = row * d;
      let m = Number.NEGATIVE_INFINITY;
      for (let j = 0; j < end; j++) {
        const ko = kb + j * d;
        let dot = 0;
        for (let x = 0; x < d; x++) dot += (Q[qo + x] as number) * (K[ko + x] as number);
        const sj = dot * a.scale;
        s[j] = sj;
        if (sj > m || Number.isNaN(sj)) m = sj;
      }
      // All scores −∞ (infinite inputs): exp(s − m) would be NaN; there is nothing to weigh.
      const shift = m === Number.NEGATIVE_INFINITY ? 0 : m;
      let sum = 0;
      acc.fill(0);
      for (let j = 0; j < end; j++) {
        const p = Math.exp((s[j] as number) - shift);
        sum += p;
        const vo = vb + j * dv;
        for (let x = 0; x < dv; x++) acc[x] = (acc[x] as number) + p * (V[vo + x] as number);
      }
      const oo = row * dv;
      for (let x = 0; x < dv; x++) out[oo + x] = (acc[x] as number) / sum;
      lse[row] = shift + Math.log(sum);
    }
  }
  return [out, lse];
});

registerKernel<AttentionAttrs>(
  'attentionGrad',
  'cpu',
  (_b, [q, k, v, o, lse, dO, dL], a, [dqSpec, dkSpec, dvSpec]) => {
    const { batch, tq, tk, d, dv } = dimsOf(q as KernelInput, k as KernelInput, v as KernelInput);
    const [Q, K, V, O, L, DO, DL] = [q, k, v, o, lse, dO, dL].map((x) => arr(x as KernelInput)) as [
      TypedArray,
      TypedArray,
      TypedArray,
      TypedArray,
      TypedArray,
      TypedArray,
      TypedArray,
    ];
    const dq = alloc('float32', sizeOf((dqSpec as OutputSpec).shape));
    const dk = alloc('float32', sizeOf((dkSpec as OutputSpec).shape));
    const dvOut = alloc('float32', sizeOf((dvSpec as OutputSpec).shape));
    const gq = new Float64Array(d);
    const gk = new Float64Array(tk * d);
    const gv = new Float64Array(tk * dv);
    const scale = a.scale;
    for (let b = 0; b < batch; b++) {
      const kb = b * tk * d;
      const vb = b * tk * dv;
      gk.fill(0);
      gv.fill(0);
      for (let i = 0; i < tq; i++) {
        const row = b * tq + i;
        const end = visibleEnd(a, i);
        if (end === 0) continue;
        const qo = row * d;
        const oo = row * dv;
        let delta = -(DL[row] as number);
        for (let x = 0; x < dv; x++) delta += (DO[oo + x] as number) * (O[oo + x] as number);
        const l = L[row] as number;
        gq.fill(0);
        for (let j = 0; j < end; j++) {
          const ko = kb + j * d;
          const vo = vb + j * dv;
          let dot = 0;
          for (let x = 0; x < d; x++) dot += (Q[qo + x] as number) * (K[ko + x] as number);
          const p = Math.exp(dot * scale - l);
          let dp = 0;
          for (let x = 0; x < dv; x++) {
            const g = DO[oo + x] as number;
            dp += g * (V[vo + x] as number);
            gv[j * dv + x] = (gv[j * dv + x] as number) + p * g;
          }
          const ds = p * (dp - delta) * scale;
          for (let x = 0; x < d; x++) {
            gq[x] = (gq[x] as number) + ds * (K[ko + x] as number);
            gk[j * d + x] = (gk[j * d + x] as number) + ds * (Q[qo + x] as number);
          }
        }
        for (let x = 0; x < d; x++) dq[qo + x] = gq[x] as number;
      }
      for (let x = 0; x < tk * d; x++) dk[kb + x] = gk[x] as number;
      for (let x = 0; x < tk * dv; x++) dvOut[vb + x] = gv[x] as number;
    }
    return [dq, dk, dvOut];
  },
);
