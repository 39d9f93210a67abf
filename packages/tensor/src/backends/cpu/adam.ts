import { registerKernel } from '../../kernels.js';
import type { AdamStepOp } from '../../ops/adam.js';
import { alloc, f32 } from './backend.js';

/** The Adam / AdamW update (ops/adam.ts) in one pass, in float64 per element. */
registerKernel<AdamStepOp>('adamStep', 'cpu', (_b, [pIn, gIn, mIn, vIn, vmIn], a) => {
  const [p, g, m, v] = [f32(pIn), f32(gIn), f32(mIn), f32(vIn)];
  const vm = vmIn && f32(vmIn);
  const n = p.length;
  const [P, M, V] = [alloc('float32', n), alloc('float32', n), alloc('float32', n)];
  const VM = vm ? alloc('float32', n) : null;
  const decay = a.decoupled ? 1 - a.lr * a.weightDecay : 1;
  const l2 = a.decoupled ? 0 : a.weightDecay;
  const sign = a.maximize ? -1 : 1;
  const c1 = 1 - a.beta1;
  const c2 = 1 - a.beta2;
  const bc2 = Math.sqrt(1 - a.beta2 ** a.step);
  const stepSize = a.lr / (1 - a.beta1 ** a.step);
  for (let i = 0; i < n; i++) {
    const pi = p[i]!;
    const gi = sign * g[i]! + l2 * pi;
    const mi = m[i]! + (gi - m[i]!) * c1;
    const vi = a.beta2 * v[i]! + c2 * gi * gi;
    M[i] = mi;
    V[i] = vi;
    let second = Math.fround(vi);
    if (VM && vm) {
      const prev = vm[i]!;
      // NaN propagates as in maximum().
      second = prev !== prev || prev > second ? prev : second;
      VM[i] = second;
    }
    P[i] = pi * decay - (stepSize * Math.fround(mi)) / (Math.sqrt(second) / bc2 + a.eps);
  }
  return VM ? [P, M, V, VM] : [P, M, V];
});
