import { describe, expect, it } from 'vitest';
import { Generator, nn, optim, type Tensor, TensorError, tensor, zeros } from '../src/index.js';

// ---- helpers -----------------------------------------------------------------------------------

function f64(t: Tensor): number[] {
  return Array.from(t.dataSync());
}

function values(n: number, seed: number, scale = 1, offset = 0): number[] {
  const g = new Generator(seed);
  return Array.from({ length: n }, () => offset + scale * g.nextNormal());
}

function expectClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  rtol = 1e-5,
  atol = 1e-6,
  what = '',
): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i] as number;
    const e = expected[i] as number;
    if (!(Math.abs(a - e) <= atol + rtol * Math.abs(e))) {
      throw new Error(`${what} element ${i}: got ${a}, expected ${e} (rtol ${rtol}, atol ${atol})`);
    }
  }
}

/**
 * The objective used by every optimiser test, per parameter: scale_t · Σ (c·p²/2 + d·p − cos p), so
 * ∇ = scale_t · (c·p + d + sin p). The scale varies by step (the second moment then rises and
 * falls, which AMSGrad's running maximum must notice).
 */
const SCALES = [1, 0.1, 2, 0.05, 1, 0.01, 0.5, 3, 0.2, 1];
const SHAPES = [[3, 4], [5]];
const C = SHAPES.map((s, i) =>
  values(
    s.reduce((a, b) => a * b, 1),
    100 + i,
    0.5,
    1,
  ),
);
const D = SHAPES.map((s, i) =>
  values(
    s.reduce((a, b) => a * b, 1),
    200 + i,
  ),
);
const P0 = SHAPES.map((s, i) =>
  f64(
    tensor(
      values(
        s.reduce((a, b) => a * b, 1),
        300 + i,
        2,
      ),
    ),
  ),
); // float32-exact start

function makeParams(): Tensor[] {
  return SHAPES.map((s, i) => nn.parameter(tensor(P0[i] as number[], { shape: s })));
}

function backwardAt(params: Tensor[], t: number): void {
  let loss: Tensor | null = null;
  params.forEach((p, i) => {
    const c = tensor(C[i] as number[], { shape: p.shape });
    const d = tensor(D[i] as number[], { shape: p.shape });
    const term = p.square().mul(c).mul(0.5).add(p.mul(d)).sub(p.cos()).sum();
    loss = loss ? loss.add(term) : term;
  });
  (loss as unknown as Tensor).mul(SCALES[t] as number).backward();
}

function gradRef(p: number[][], t: number): number[][] {
  const s = SCALES[t] as number;
  return p.map((pi, i) =>
    pi.map((v, j) => s * ((C[i]?.[j] as number) * v + (D[i]?.[j] as number) + Math.sin(v))),
  );
}

/** Runs `steps` optimiser steps against a float64 reference update, comparing after every step. */
function compare(
  make: (params: Tensor[]) => optim.Optimizer<optim.GroupHyper>,
  refUpdate: (p: number[][], g: number[][], step: number) => void,
  steps = 8,
  rtol = 2e-5,
): Tensor[] {
  const params = makeParams();
  const opt = make(params);
  const ref = P0.map((p) => p.slice());
  for (let t = 0; t < steps; t++) {
    opt.zeroGrad();
    backwardAt(params, t);
    opt.step();
    refUpdate(ref, gradRef(ref, t), t + 1);
    params.forEach((p, i) => {
      expectClose(f64(p), ref[i] as number[], rtol, 1e-6, `step ${t + 1} param ${i}`);
    });
  }
  return params;
}

// ---- SGD ---------------------------------------------------------------------------------------

interface SGDCase {
  lr: number;
  momentum?: number;
  dampening?: number;
  nesterov?: boolean;
  weightDecay?: number;
  maximize?: boolean;
}

/** torch.optim.SGD's update, written out in float64. */
function sgdRef(o: SGDCase) {
  const {
    lr,
    momentum = 0,
    dampening = 0,
    nesterov = false,
    weightDecay = 0,
    maximize = false,
  } = o;
  const bufs: (number[] | null)[] = [null, null];
  return (p: number[][], g: number[][]) => {
    p.forEach((pi, i) => {
      let d = (g[i] as number[]).map((v) => (maximize ? -v : v));
      d = d.map((v, j) => v + weightDecay * (pi[j] as number));
      if (momentum !== 0) {
        let buf = bufs[i];
        if (!buf) buf = d.slice();
        else buf = buf.map((b, j) => momentum * b + (1 - dampening) * (d[j] as number));
        bufs[i] = buf;
        d = nesterov ? d.map((v, j) => v + momentum * (buf?.[j] as number)) : buf.slice();
      }
      for (let j = 0; j < pi.length; j++) pi[j] = (pi[j] as number) - lr * (d[j] as number);
    });
  };
}

describe('SGD', () => {
  const cases: SGDCase[] = [
    { lr: 0.1 },
    { lr: 0.05, momentum: 0.9 },
    { lr: 0.05, momentum: 0.9, dampening: 0.3, weightDecay: 0.01 },
    { lr: 0.05, momentum: 0.8, nesterov: true, weightDecay: 0.1 },
    { lr: 0.02, momentum: 0.5, maximize: true },
  ];
  for (const c of cases) {
    it(`matches PyTorch's update equations ${JSON.stringify(c)}`, () => {
      compare((ps) => new optim.SGD(ps, c), sgdRef(c));
    });
  }

  it('validates its hyperparameters', () => {
    const ps = makeParams();
    expect(() => new optim.SGD(ps, { lr: -1 })).toThrow('SGD: expected lr >= 0, got -1');
    expect(() => new optim.SGD(ps, { lr: 0.1, nesterov: true })).toThrow(
      /nesterov needs momentum > 0/,
    );
    expect(() => new optim.SGD([], { lr: 0.1 })).toThrow(/empty parameter list/);
    expect(() => new optim.SGD([ps[0] as Tensor, ps[0] as Tensor], { lr: 0.1 })).toThrow(
      /more than once/,
    );
    expect(() => new optim.SGD([zeros([2], { dtype: 'int32' })], { lr: 0.1 })).toThrow(
      /float32 leaf/,
    );
    expect(() => new optim.SGD(ps, {} as optim.SGDOptions)).toThrow(/learning rate/);
  });
});

// ---- Adam / AdamW ------------------------------------------------------------------------------

interface AdamCase {
  lr?: number;
  betas?: [number, number];
  eps?: number;
  weightDecay?: number;
  amsgrad?: boolean;
  maximize?: boolean;
}

/** torch.optim.Adam / AdamW's update, written out in float64. */
function adamRef(o: AdamCase, decoupled: boolean) {
  const { lr = 1e-3, betas = [0.9, 0.999], eps = 1e-8, amsgrad = false, maximize = false } = o;
  const weightDecay = o.weightDecay ?? (decoupled ? 1e-2 : 0);
  const [b1, b2] = betas;
  const m = P0.map((p) => p.map(() => 0));
  const v = P0.map((p) => p.map(() => 0));
  const vmax = P0.map((p) => p.map(() => 0));
  return (p: number[][], g: number[][], t: number) => {
    p.forEach((pi, i) => {
      const mi = m[i] as number[];
      const vi = v[i] as number[];
      const vm = vmax[i] as number[];
      for (let j = 0; j < pi.length; j++) {
        let gj = (g[i]?.[j] as number) * (maximize ? -1 : 1);
        let pj = pi[j] as number;
        if (decoupled) pj *= 1 - lr * weightDecay;
        else gj += weightDecay * pj;
        mi[j] = b1 * (mi[j] as number) + (1 - b1) * gj;
        vi[j] = b2 * (vi[j] as number) + (1 - b2) * gj * gj;
        const bc1 = 1 - b1 ** t;
        const bc2 = 1 - b2 ** t;
        let second = vi[j] as number;
        if (amsgrad) {
          vm[j] = Math.max(vm[j] as number, second);
          second = vm[j] as number;
        }
        const denom = Math.sqrt(second) / Math.sqrt(bc2) + eps;
        pi[j] = pj - (lr / bc1) * ((mi[j] as number) / denom);
      }
    });
  };
}

describe('Adam / AdamW', () => {
  const cases: AdamCase[] = [
    { lr: 0.05 },
    { lr: 0.05, weightDecay: 0.1 },
    { lr: 0.05, amsgrad: true, betas: [0.8, 0.9] },
    { lr: 0.02, eps: 1e-3, betas: [0.5, 0.99], maximize: true },
    {},
  ];
  for (const c of cases) {
    it(`Adam matches PyTorch's update equations ${JSON.stringify(c)}`, () => {
      compare((ps) => new optim.Adam(ps, c), adamRef(c, false), 10);
    });
  }
  const wcases: AdamCase[] = [
    { lr: 0.05 },
    { lr: 0.05, weightDecay: 0.5, amsgrad: true, betas: [0.8, 0.9] },
  ];
  for (const c of wcases) {
    it(`AdamW matches PyTorch's update equations ${JSON.stringify(c)}`, () => {
      compare((ps) => new optim.AdamW(ps, c), adamRef(c, true), 10);
    });
  }

  it('AMSGrad changes the trajectory when the second moment falls (the test can tell)', () => {
    const a = compare(
      (ps) => new optim.Adam(ps, { lr: 0.05, amsgrad: true, betas: [0.8, 0.9] }),
      adamRef({ lr: 0.05, amsgrad: true, betas: [0.8, 0.9] }, false),
    );
    const b = compare(
      (ps) => new optim.Adam(ps, { lr: 0.05, betas: [0.8, 0.9] }),
      adamRef({ lr: 0.05, betas: [0.8, 0.9] }, false),
    );
    const diff = f64(a[0] as Tensor).reduce(
      (s, v, i) => s + Math.abs(v - (f64(b[0] as Tensor)[i] as number)),
      0,
    );
    expect(diff).toBeGreaterThan(1e-3);
  });

  it('keeps per-parameter state visible in stateDict()', () => {
    const ps = makeParams();
    const opt = new optim.Adam(ps, { lr: 0.05 });
    backwardAt(ps, 0);
    opt.step();
    const sd = opt.stateDict();
    expect(sd.paramGroups).toEqual([
      {
        lr: 0.05,
        betas: [0.9, 0.999],
        eps: 1e-8,
        weightDecay: 0,
        amsgrad: false,
        maximize: false,
        params: [0, 1],
      },
    ]);
    expect(sd.state[0]?.step).toBe(1);
    // m₁ = (1 − β₁)·g₁ with g from the float64 reference at the starting point.
    const g = gradRef(P0, 0);
    expectClose(
      f64(sd.state[1]?.expAvg as Tensor),
      (g[1] as number[]).map((v) => 0.1 * v),
      1e-5,
      1e-7,
    );
    expectClose(
      f64(sd.state[1]?.expAvgSq as Tensor),
      (g[1] as number[]).map((v) => 0.001 * v * v),
      1e-5,
      1e-9,
    );
  });

  it('validates its hyperparameters', () => {
    const ps = makeParams();
    expect(() => new optim.Adam(ps, { betas: [1, 0.9] })).toThrow(
      'Adam: expected betas[0] in [0, 1), got 1',
    );
    expect(() => new optim.AdamW(ps, { eps: -1 })).toThrow('AdamW: expected eps >= 0, got -1');
    expect(() => new optim.Adam(ps, { lr: Number.NaN })).toThrow(/lr/);
  });
});

// ---- groups, zeroGrad, stateDict ---------------------------------------------------------------

describe('Optimizer', () => {
  it('param groups use their own hyperparameters; params without a gradient are skipped', () => {
    const [a, b] = makeParams() as [Tensor, Tensor];
    const frozen = nn.parameter(tensor([1, 2, 3]));
    const opt = new optim.SGD(
      [
        { params: [a], lr: 0.1 },
        { params: [b, frozen], momentum: 0.9 },
      ],
      { lr: 0.01 },
    );
    expect(opt.paramGroups.map((g) => [g.lr, g.momentum])).toEqual([
      [0.1, 0],
      [0.01, 0.9],
    ]);
    const refA = sgdRef({ lr: 0.1 });
    const refB = sgdRef({ lr: 0.01, momentum: 0.9 });
    const ref = P0.map((p) => p.slice());
    for (let t = 0; t < 3; t++) {
      opt.zeroGrad();
      backwardAt([a, b], t);
      opt.step();
      const g = gradRef(ref, t);
      const pa = [ref[0] as number[], []];
      refA(pa, [g[0] as number[], []]);
      const pb = [ref[1] as number[], []];
      refB(pb, [g[1] as number[], []]);
    }
    expectClose(f64(a), ref[0] as number[], 1e-5);
    expectClose(f64(b), ref[1] as number[], 1e-5);
    expect(f64(frozen)).toEqual([1, 2, 3]);
    expect(opt.stateDict().state[2]).toBeUndefined();
  });

  it('zeroGrad sets gradients to null and disposes them', () => {
    const ps = makeParams();
    const opt = new optim.Adam(ps);
    backwardAt(ps, 0);
    const grads = ps.map((p) => p.grad as Tensor);
    opt.zeroGrad();
    expect(ps.map((p) => p.grad)).toEqual([null, null]);
    expect(grads.every((g) => g.isDisposed)).toBe(true);
  });

  it('stateDict / loadStateDict resume bit-identically', () => {
    for (const make of [
      (ps: Tensor[]) => new optim.Adam(ps, { lr: 0.05, amsgrad: true }),
      (ps: Tensor[]) => new optim.SGD(ps, { lr: 0.05, momentum: 0.9, nesterov: true }),
    ]) {
      const ps = makeParams();
      const opt = make(ps);
      for (let t = 0; t < 3; t++) {
        opt.zeroGrad();
        backwardAt(ps, t);
        opt.step();
      }
      const saved = { params: ps.map((p) => p.detach()), opt: opt.stateDict() };
      for (let t = 3; t < 6; t++) {
        opt.zeroGrad();
        backwardAt(ps, t);
        opt.step();
      }
      // The snapshot did not move with the later steps.
      expect(f64(saved.params[0] as Tensor)).not.toEqual(f64(ps[0] as Tensor));
      const qs = makeParams();
      qs.forEach((q, i) => {
        q.assign(saved.params[i] as Tensor);
      });
      const opt2 = make(qs);
      opt2.loadStateDict(saved.opt);
      for (let t = 3; t < 6; t++) {
        opt2.zeroGrad();
        backwardAt(qs, t);
        opt2.step();
      }
      qs.forEach((q, i) => {
        expect(f64(q)).toEqual(f64(ps[i] as Tensor));
      });
    }
  });

  it('loadStateDict restores hyperparameters and rejects mismatches', () => {
    const ps = makeParams();
    const opt = new optim.Adam(ps, { lr: 0.05 });
    backwardAt(ps, 0);
    opt.step();
    const sd = opt.stateDict();
    const other = new optim.Adam(makeParams(), { lr: 0.5 });
    other.loadStateDict({ ...sd, paramGroups: sd.paramGroups.map((g) => ({ ...g, lr: 0.01 })) });
    expect(other.paramGroups[0]?.lr).toBe(0.01);
    expect(other.stateDict().state[0]?.step).toBe(1);
    const single = new optim.Adam([nn.parameter(zeros([3, 4]))]);
    expect(() => single.loadStateDict(sd)).toThrow(
      'Adam.loadStateDict: group 0: expected 1 parameters, got 2',
    );
    const twoGroups = new optim.Adam([
      { params: makeParams() },
      { params: [nn.parameter(zeros([1]))] },
    ]);
    expect(() => twoGroups.loadStateDict(sd)).toThrow(/expected 2 parameter group\(s\), got 1/);
    const swapped = new optim.Adam(makeParams().reverse());
    expect(() => swapped.loadStateDict(sd)).toThrow(
      /state 'expAvg' of parameter 0: expected float32 \[5\], got float32 \[3, 4\]/,
    );
    // A number where a moment buffer belongs loads, but the next step names it.
    const ps3 = makeParams();
    const numbered = new optim.Adam(ps3);
    numbered.loadStateDict({ ...sd, state: { ...sd.state, 0: { ...sd.state[0], expAvg: 3 } } });
    backwardAt(ps3, 0);
    expect(() => numbered.step()).toThrow(
      "Adam: expected state 'expAvg' to be a Tensor, got the number 3",
    );
  });
});

// ---- clipping ----------------------------------------------------------------------------------

describe('clipGradNorm / clipGradValue', () => {
  function withGrads(gs: number[][]): Tensor[] {
    return gs.map((g) => {
      const p = nn.parameter(zeros([g.length]));
      p.grad = tensor(g);
      return p;
    });
  }
  const G = [values(6, 41, 2), values(3, 42, 5), values(1, 43)];
  const flat = G.flat().map((v) => Math.fround(v));

  for (const normType of [2, 1, 3, Number.POSITIVE_INFINITY]) {
    it(`norm ${normType}: returns the total norm and scales by maxNorm / (total + 1e-6)`, () => {
      const total =
        normType === Number.POSITIVE_INFINITY
          ? Math.max(...flat.map(Math.abs))
          : flat.reduce((s, v) => s + Math.abs(v) ** normType, 0) ** (1 / normType);
      // Clipped.
      let ps = withGrads(G);
      const maxNorm = total / 3;
      const got = optim.clipGradNorm(ps, maxNorm, normType);
      expect(Math.abs(got - total)).toBeLessThan(1e-5 * total);
      const coef = maxNorm / (total + 1e-6);
      expectClose(
        ps.flatMap((p) => f64(p.grad as Tensor)),
        flat.map((v) => v * coef),
        1e-6,
        1e-7,
      );
      // Not clipped: gradients untouched.
      ps = withGrads(G);
      const before = ps.map((p) => p.grad);
      expect(Math.abs(optim.clipGradNorm(ps, total * 2, normType) - total)).toBeLessThan(
        1e-5 * total,
      );
      expect(ps.map((p) => p.grad)).toEqual(before);
      expect(ps.flatMap((p) => f64(p.grad as Tensor))).toEqual(flat);
    });
  }

  it('skips parameters without gradients and scales a shared gradient once', () => {
    const a = nn.parameter(zeros([2]));
    const b = nn.parameter(zeros([2]));
    const c = nn.parameter(zeros([2]));
    const g = tensor([3, 4]);
    a.grad = g;
    b.grad = g;
    // Total over distinct gradients: the shared one counts once.
    expect(optim.clipGradNorm([a, b, c], 1)).toBeCloseTo(5, 5);
    expect(a.grad).toBe(b.grad);
    expect(c.grad).toBeNull();
    expectClose(f64(a.grad as Tensor), [3 / (5 + 1e-6), 4 / (5 + 1e-6)]);
    expect(g.isDisposed).toBe(true);
    expect(optim.clipGradNorm([c], 1)).toBe(0);
    expect(() => optim.clipGradNorm([a], -1)).toThrow(/maxNorm >= 0/);
  });

  it('errorIfNonfinite reports an infinite norm', () => {
    const ps = withGrads([[1, Number.POSITIVE_INFINITY]]);
    expect(() => optim.clipGradNorm(ps, 1, 2, { errorIfNonfinite: true })).toThrow(/is Infinity/);
  });

  it('clipGradValue clamps every element', () => {
    const ps = withGrads(G);
    optim.clipGradValue(ps, 1.5);
    expect(ps.flatMap((p) => f64(p.grad as Tensor))).toEqual(
      flat.map((v) => Math.min(1.5, Math.max(-1.5, v))),
    );
  });
});

// ---- schedules ---------------------------------------------------------------------------------

describe('LR schedules', () => {
  function twoGroupOpt(): optim.SGD {
    return new optim.SGD(
      [{ params: [nn.parameter(zeros([1]))], lr: 0.2 }, { params: [nn.parameter(zeros([1]))] }],
      { lr: 1 },
    );
  }

  it('StepLR: base · gamma^⌊step / stepSize⌋', () => {
    const opt = twoGroupOpt();
    const s = new optim.StepLR(opt, { stepSize: 3, gamma: 0.5 });
    const seen: number[][] = [s.getLastLr()];
    for (let i = 0; i < 9; i++) {
      s.step();
      seen.push(s.getLastLr());
    }
    const factors = [1, 1, 1, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.125];
    expect(seen).toEqual(factors.map((f) => [0.2 * f, 1 * f]));
    expect(opt.paramGroups.map((g) => g.lr)).toEqual([0.2 * 0.125, 0.125]);
    expect(() => new optim.StepLR(opt, { stepSize: 0 })).toThrow(/stepSize >= 1/);
  });

  it('LinearWarmupCosine: 0 → base over warm-up, then cosine to minLr, then flat', () => {
    const opt = twoGroupOpt();
    const s = new optim.LinearWarmupCosine(opt, { warmupSteps: 4, totalSteps: 12, minLr: 0.01 });
    const got: number[][] = [s.getLastLr()];
    for (let i = 0; i < 14; i++) {
      s.step();
      got.push(s.getLastLr());
    }
    const ref = (step: number, base: number) => {
      if (step < 4) return (base * step) / 4;
      const progress = Math.min(1, (step - 4) / 8);
      return 0.01 + 0.5 * (base - 0.01) * (1 + Math.cos(Math.PI * progress));
    };
    got.forEach((lrs, step) => {
      expectClose(lrs, [ref(step, 0.2), ref(step, 1)], 1e-12, 1e-15);
    });
    expect(got[0]).toEqual([0, 0]);
    expectClose(got[2] as number[], [0.1, 0.5], 1e-12);
    expectClose(got[4] as number[], [0.2, 1], 1e-12);
    expectClose(got[8] as number[], [(0.2 + 0.01) / 2, (1 + 0.01) / 2], 1e-12);
    expectClose(got[12] as number[], [0.01, 0.01], 1e-12);
    expectClose(got[14] as number[], [0.01, 0.01], 1e-12);
    expect(() => new optim.LinearWarmupCosine(opt, { warmupSteps: 5, totalSteps: 4 })).toThrow(
      /totalSteps >= warmupSteps/,
    );
  });

  it('drives the optimiser (the step uses the scheduled lr) and resumes from stateDict', () => {
    const p = nn.parameter(zeros([1]));
    const opt = new optim.SGD([p], { lr: 0.5 });
    const s = new optim.StepLR(opt, { stepSize: 1, gamma: 0.1 });
    const xs: number[] = [];
    for (let i = 0; i < 3; i++) {
      opt.zeroGrad();
      p.grad = tensor([1]);
      opt.step();
      s.step();
      xs.push(p.item());
    }
    expectClose(xs, [-0.5, -0.55, -0.555], 1e-6);
    const opt2 = new optim.SGD([nn.parameter(zeros([1]))], { lr: 123 });
    const s2 = new optim.StepLR(opt2, { stepSize: 1, gamma: 0.1 });
    s2.loadStateDict(s.stateDict());
    expect(s2.lastEpoch).toBe(3);
    expect(s2.getLastLr()[0]).toBeCloseTo(0.0005, 12);
    expect(opt2.paramGroups[0]?.lr).toBeCloseTo(0.0005, 12);
    expect(() => s2.loadStateDict({ lastEpoch: -1, baseLrs: [1] })).toThrow(TensorError);
  });

  it('LambdaLR multiplies the base lr by the factor', () => {
    const opt = twoGroupOpt();
    const s = new optim.LambdaLR(opt, (step) => 1 / (step + 1));
    s.step();
    s.step();
    expect(s.getLastLr()).toEqual([0.2 / 3, 1 / 3]);
  });
});
