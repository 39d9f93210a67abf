import { it } from 'vitest';
import { optim, type Tensor, tensor } from '../../src/index.js';
import { expectClose } from '../helpers/assert.js';
import { describeBackends } from '../helpers/backends.js';
import { uniform } from '../helpers/reference.js';

interface Case {
  decoupled: boolean;
  lr: number;
  betas: [number, number];
  eps: number;
  weightDecay: number;
  amsgrad: boolean;
  maximize: boolean;
}

const CASES: Case[] = [
  {
    decoupled: false,
    lr: 0.05,
    betas: [0.9, 0.999],
    eps: 1e-8,
    weightDecay: 0,
    amsgrad: false,
    maximize: false,
  },
  {
    decoupled: false,
    lr: 0.02,
    betas: [0.8, 0.9],
    eps: 1e-3,
    weightDecay: 0.1,
    amsgrad: true,
    maximize: false,
  },
  {
    decoupled: true,
    lr: 0.05,
    betas: [0.9, 0.99],
    eps: 1e-8,
    weightDecay: 0.05,
    amsgrad: false,
    maximize: true,
  },
  {
    decoupled: true,
    lr: 0.01,
    betas: [0.5, 0.6],
    eps: 1e-6,
    weightDecay: 0.2,
    amsgrad: true,
    maximize: false,
  },
];

/**
 * The fused update ('adamStep', one kernel per parameter) against torch.optim.Adam / AdamW's
 * equations in float64, over 5 steps with gradients that change sign, on 260 elements (more than
 * one 256-thread workgroup).
 */
describeBackends('Adam / AdamW fused update', () => {
  for (const c of CASES) {
    it(`matches the float64 equations: ${JSON.stringify(c)}`, async () => {
      const n = 260;
      const p0 = uniform(n, 1);
      const p = tensor(p0, { requiresGrad: true });
      const opts = {
        lr: c.lr,
        betas: c.betas,
        eps: c.eps,
        weightDecay: c.weightDecay,
        amsgrad: c.amsgrad,
        maximize: c.maximize,
      };
      const opt = c.decoupled ? new optim.AdamW([p], opts) : new optim.Adam([p], opts);
      const ref = Float64Array.from(p0);
      const m = new Float64Array(n);
      const v = new Float64Array(n);
      const vmax = new Float64Array(n);
      const [b1, b2] = c.betas;
      for (let t = 1; t <= 5; t++) {
        const g = uniform(n, 10 + t, -2, 2);
        p.grad = tensor(g);
        opt.step();
        for (let j = 0; j < n; j++) {
          let gj = (g[j] as number) * (c.maximize ? -1 : 1);
          let pj = ref[j] as number;
          if (c.decoupled) pj *= 1 - c.lr * c.weightDecay;
          else gj += c.weightDecay * pj;
          m[j] = b1 * (m[j] as number) + (1 - b1) * gj;
          v[j] = b2 * (v[j] as number) + (1 - b2) * gj * gj;
          let second = v[j] as number;
          if (c.amsgrad) {
            vmax[j] = Math.max(vmax[j] as number, second);
            second = vmax[j] as number;
          }
          const denom = Math.sqrt(second) / Math.sqrt(1 - b2 ** t) + c.eps;
          ref[j] = pj - (c.lr / (1 - b1 ** t)) * ((m[j] as number) / denom);
        }
        expectClose(await (p as Tensor).data(), ref, { rtol: 2e-5, atol: 1e-6, what: `step ${t}` });
        const state = opt.stateDict().state[0] as Record<string, Tensor>;
        expectClose(await (state.expAvg as Tensor).data(), m, {
          rtol: 2e-5,
          atol: 1e-6,
          what: `m, step ${t}`,
        });
        expectClose(await (state.expAvgSq as Tensor).data(), v, {
          rtol: 2e-5,
          atol: 1e-7,
          what: `v, step ${t}`,
        });
      }
    });
  }
});
