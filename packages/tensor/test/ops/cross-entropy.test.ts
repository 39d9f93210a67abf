import { expect, it } from 'vitest';
import { nn, type Tensor, tensor } from '../../src/index.js';
import { expectClose } from '../helpers/assert.js';
import { describeBackends } from '../helpers/backends.js';
import { gradcheck, vjp } from '../helpers/gradcheck.js';
import { rng, uniform } from '../helpers/reference.js';

interface Case {
  R: number;
  C: number;
  weight?: boolean;
  smoothing?: number;
  ignore?: boolean;
  spread?: number;
}

/** Per-sample loss and ∂loss_r/∂x in float64, written from the definition (a log-softmax per row). */
function reference(x: ArrayLike<number>, t: Int32Array, w: ArrayLike<number> | null, c: Case) {
  const { R, C } = c;
  const eps = c.smoothing ?? 0;
  const loss = new Float64Array(R);
  const grad = new Float64Array(R * C);
  for (let r = 0; r < R; r++) {
    const y = t[r] as number;
    if (y === -100) continue;
    const row = Array.from({ length: C }, (_, k) => x[r * C + k] as number);
    const m = Math.max(...row);
    const z = Math.log(row.reduce((s, v) => s + Math.exp(v - m), 0));
    const logp = row.map((v) => v - m - z);
    const wt = (k: number) => (w ? (w[k] as number) : 1);
    loss[r] = -(1 - eps) * wt(y) * (logp[y] as number);
    for (let k = 0; k < C; k++) loss[r] = loss[r]! - (eps / C) * wt(k) * (logp[k] as number);
    let wSum = 0;
    for (let k = 0; k < C; k++) wSum += wt(k);
    for (let k = 0; k < C; k++) {
      const p = Math.exp(logp[k] as number);
      grad[r * C + k] =
        (1 - eps) * wt(y) * (p - (k === y ? 1 : 0)) + (eps / C) * (p * wSum - wt(k));
    }
  }
  return { loss, grad };
}

function problem(c: Case, seed: number) {
  const x = uniform(c.R * c.C, seed, -(c.spread ?? 3), c.spread ?? 3);
  const r = rng(seed + 1);
  const t = Int32Array.from({ length: c.R }, (_, i) =>
    c.ignore && i % 3 === 1 ? -100 : Math.floor(r() * c.C),
  );
  const w = c.weight ? uniform(c.C, seed + 2, 0.5, 2) : null;
  return { x, t, w };
}

const CASES: Case[] = [
  { R: 5, C: 7 },
  { R: 6, C: 4, weight: true, ignore: true },
  { R: 4, C: 5, smoothing: 0.1, weight: true },
  { R: 3, C: 6, smoothing: 0.2, ignore: true },
  { R: 1, C: 1 },
  { R: 260, C: 3, weight: true, smoothing: 0.05, ignore: true }, // rows cross a workgroup
  { R: 4, C: 6, spread: 1e4 }, // scores spread over ±1e4
];

const label = (c: Case) =>
  `[${c.R}, ${c.C}]${c.weight ? ', weight' : ''}${c.smoothing ? `, smoothing ${c.smoothing}` : ''}${c.ignore ? ', ignored rows' : ''}${c.spread ? `, ±${c.spread}` : ''}`;

describeBackends('crossEntropy over [N, C] (fused softmax + cross entropy)', () => {
  for (const c of CASES) {
    it(`loss and gradient match the float64 definition: ${label(c)}`, async () => {
      const { x, t, w } = problem(c, 3);
      const opts = { weight: w ? tensor(w) : undefined, labelSmoothing: c.smoothing };
      const loss = nn.crossEntropy(tensor(x, { shape: [c.R, c.C] }), tensor(t), {
        ...opts,
        reduction: 'none',
      });
      const ref = reference(x, t, w, c);
      expect(loss.shape).toEqual([c.R]);
      expectClose(await loss.data(), ref.loss, { rtol: 1e-5, atol: 1e-5 });
      const dl = uniform(c.R, 9);
      const { grads } = await vjp(
        (xt) => nn.crossEntropy(xt, tensor(t), { ...opts, reduction: 'none' }),
        [{ shape: [c.R, c.C], data: x }],
        dl,
      );
      const want = ref.grad.map((g, i) => g * (dl[Math.floor(i / c.C)] as number));
      expectClose(grads[0] as Float64Array, want, { rtol: 1e-4, atol: 1e-6 });
    });
  }

  for (const c of CASES.slice(0, 4)) {
    it(`'mean' gradient by finite differences: ${label(c)}`, async () => {
      const { x, t, w } = problem(c, 5);
      await gradcheck(
        (xt) =>
          nn.crossEntropy(xt as Tensor, tensor(t), {
            weight: w ? tensor(w) : undefined,
            labelSmoothing: c.smoothing,
          }),
        [{ shape: [c.R, c.C], data: x }],
        { name: label(c) },
      );
    });
  }
});
