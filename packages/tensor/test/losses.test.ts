import { describe, expect, it } from 'vitest';
import { Generator, nn, type Tensor, TensorError, tensor } from '../src/index.js';

// ---- helpers (float64 references) --------------------------------------------------------------

type Reduction = 'mean' | 'sum' | 'none';

function f64(t: Tensor): number[] {
  return Array.from(t.dataSync());
}

function values(n: number, seed: number, scale = 1, offset = 0): number[] {
  const g = new Generator(seed);
  return Array.from({ length: n }, () => offset + scale * g.nextNormal());
}

function ints(n: number, seed: number, low: number, high: number): number[] {
  const g = new Generator(seed);
  return Array.from({ length: n }, () => g.nextInt(low, high));
}

function expectClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  rtol = 1e-5,
  atol = 1e-6,
): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i] as number;
    const e = expected[i] as number;
    if (Number.isNaN(e) && Number.isNaN(a)) continue;
    if (!(Math.abs(a - e) <= atol + rtol * Math.abs(e))) {
      throw new Error(`element ${i}: got ${a}, expected ${e} (rtol ${rtol}, atol ${atol})`);
    }
  }
}

function numericGrad(f: (x: number[]) => number, x: number[], h = 1e-6): number[] {
  return x.map((_, i) => {
    const xp = x.slice();
    const xm = x.slice();
    xp[i] = (xp[i] as number) + h;
    xm[i] = (xm[i] as number) - h;
    return (f(xp) - f(xm)) / (2 * h);
  });
}

function reduceRef(losses: number[], reduction: Reduction, denominator = losses.length): number[] {
  const s = losses.reduce((a, v) => a + v, 0);
  if (reduction === 'none') return losses;
  return [reduction === 'sum' ? s : s / denominator];
}

const REDUCTIONS: Reduction[] = ['mean', 'sum', 'none'];

/**
 * Cross entropy as PyTorch defines it, in float64, for scores laid out [N, C, K] (K = Π d_i, 1 for
 * [N, C]): per position ℓ = (1 − ε)·(−w_y·logp_y) + ε/C·Σ_c −w_c·logp_c, 0 where y = ignoreIndex;
 * 'mean' divides by Σ w_y over the positions not ignored.
 */
function crossEntropyRef(
  x: number[],
  N: number,
  C: number,
  K: number,
  y: number[],
  opts: { weight?: number[]; ignoreIndex?: number; eps?: number; reduction: Reduction },
): number[] {
  const ignore = opts.ignoreIndex ?? -100;
  const eps = opts.eps ?? 0;
  const w = opts.weight ?? new Array<number>(C).fill(1);
  const losses: number[] = [];
  let denom = 0;
  for (let n = 0; n < N; n++) {
    for (let k = 0; k < K; k++) {
      const at = (c: number) => x[(n * C + c) * K + k] as number;
      let m = Number.NEGATIVE_INFINITY;
      for (let c = 0; c < C; c++) m = Math.max(m, at(c));
      let s = 0;
      for (let c = 0; c < C; c++) s += Math.exp(at(c) - m);
      const lse = m + Math.log(s);
      const t = y[n * K + k] as number;
      if (t === ignore) {
        losses.push(0);
        continue;
      }
      let smooth = 0;
      for (let c = 0; c < C; c++) smooth += -(w[c] as number) * (at(c) - lse);
      losses.push((1 - eps) * -(w[t] as number) * (at(t) - lse) + (eps / C) * smooth);
      denom += w[t] as number;
    }
  }
  return reduceRef(losses, opts.reduction, denom);
}

// ---- regression losses -------------------------------------------------------------------------

describe('mseLoss / l1Loss', () => {
  const xs = values(24, 1, 3);
  const ys = values(24, 2, 3);
  const x = tensor(xs, { shape: [2, 3, 4] });
  const y = tensor(ys, { shape: [2, 3, 4] });
  for (const reduction of REDUCTIONS) {
    it(`match the float64 formulas (${reduction})`, () => {
      const mse = nn.mseLoss(x, y, { reduction });
      const l1 = nn.l1Loss(x, y, { reduction });
      expect(mse.shape).toEqual(reduction === 'none' ? [2, 3, 4] : []);
      const xf = f64(x);
      const yf = f64(y);
      expectClose(
        f64(mse),
        reduceRef(
          xf.map((v, i) => (v - (yf[i] as number)) ** 2),
          reduction,
        ),
      );
      expectClose(
        f64(l1),
        reduceRef(
          xf.map((v, i) => Math.abs(v - (yf[i] as number))),
          reduction,
        ),
      );
    });
  }

  it('gradients are 2(x − y)/n and sign(x − y)/n', () => {
    const xg = tensor(xs, { shape: [24], requiresGrad: true });
    nn.mseLoss(xg, tensor(ys)).backward();
    const xf = f64(xg);
    const yf = f64(tensor(ys));
    expectClose(
      f64(xg.grad as Tensor),
      xf.map((v, i) => (2 * (v - (yf[i] as number))) / 24),
    );
    const xh = tensor(xs, { shape: [24], requiresGrad: true });
    nn.l1Loss(xh, tensor(ys), { reduction: 'sum' }).backward();
    expect(f64(xh.grad as Tensor)).toEqual(xf.map((v, i) => Math.sign(v - (yf[i] as number))));
  });

  it('reject mismatched shapes and bad reductions', () => {
    expect(() => nn.mseLoss(x, tensor([1, 2]))).toThrow(
      "mseLoss: expected target of the input's shape [2, 3, 4], got [2]",
    );
    expect(() => nn.l1Loss(x, y, { reduction: 'avg' as Reduction })).toThrow(
      /reduction 'mean', 'sum' or 'none'/,
    );
  });
});

// ---- cross entropy -----------------------------------------------------------------------------

describe('crossEntropy', () => {
  const N = 7;
  const C = 5;
  const xs = values(N * C, 3, 4);
  const ysRaw = ints(N, 4, 0, C);
  ysRaw[2] = -100; // ignored
  ysRaw[5] = -100;
  const weight = [0.5, 2, 1, 0.25, 3];

  for (const reduction of REDUCTIONS) {
    for (const eps of [0, 0.1]) {
      for (const withWeight of [false, true]) {
        it(`[N, C] with ignoreIndex, labelSmoothing ${eps}, ${withWeight ? 'class weights' : 'no weights'}, ${reduction}`, () => {
          const x = tensor(xs, { shape: [N, C] });
          const y = tensor(ysRaw, { dtype: 'int32' });
          const opts = {
            reduction,
            labelSmoothing: eps,
            weight: withWeight ? tensor(weight) : undefined,
          };
          const out = nn.crossEntropy(x, y, opts);
          expect(out.shape).toEqual(reduction === 'none' ? [N] : []);
          const ref = crossEntropyRef(f64(x), N, C, 1, ysRaw, {
            reduction,
            eps,
            weight: withWeight ? weight : undefined,
          });
          expectClose(f64(out), ref);
        });
      }
    }
  }

  it('[N, C, d1, d2] layout with a custom ignoreIndex', () => {
    const [n, c, d1, d2] = [2, 4, 3, 2];
    const x = values(n * c * d1 * d2, 5, 3);
    const y = ints(n * d1 * d2, 6, 0, c);
    y[1] = 2;
    y[4] = 7; // ignoreIndex 7
    y[9] = 7;
    const xt = tensor(x, { shape: [n, c, d1, d2] });
    const yt = tensor(y, { shape: [n, d1, d2], dtype: 'int32' });
    for (const reduction of REDUCTIONS) {
      const out = nn.crossEntropy(xt, yt, {
        ignoreIndex: 7,
        labelSmoothing: 0.2,
        weight: tensor([1, 2, 3, 0.5]),
        reduction,
      });
      expect(out.shape).toEqual(reduction === 'none' ? [n, d1, d2] : []);
      const ref = crossEntropyRef(f64(xt), n, c, d1 * d2, y, {
        ignoreIndex: 7,
        eps: 0.2,
        weight: [1, 2, 3, 0.5],
        reduction,
      });
      expectClose(f64(out), ref);
    }
  });

  it('a single sample [C] with a scalar target', () => {
    const x = tensor([1, -2, 0.5]);
    const y = tensor(2, { dtype: 'int32' });
    const ref = crossEntropyRef(f64(x), 1, 3, 1, [2], { reduction: 'none' });
    const none = nn.crossEntropy(x, y, { reduction: 'none' });
    expect(none.shape).toEqual([]);
    expectClose(f64(none), ref);
    expectClose(f64(nn.crossEntropy(x, y)), ref);
  });

  it('stays exact for logits spread over ±1e4 (no NaN or Inf)', () => {
    const n = 6;
    const c = 4;
    const x = values(n * c, 7, 1).map((v) => (v > 0 ? 1e4 : -1e4) + v * 100);
    const y = ints(n, 8, 0, c);
    const xt = tensor(x, { shape: [n, c] });
    for (const eps of [0, 0.3]) {
      const none = f64(
        nn.crossEntropy(xt, tensor(y, { dtype: 'int32' }), {
          reduction: 'none',
          labelSmoothing: eps,
        }),
      );
      expect(none.every(Number.isFinite)).toBe(true);
      const ref = crossEntropyRef(f64(xt), n, c, 1, y, { reduction: 'none', eps });
      expectClose(none, ref, 1e-5, 2e-3); // float32 logits near 1e4 carry ~1e-3 absolute rounding
    }
    const xg = tensor(x, { shape: [n, c], requiresGrad: true });
    nn.crossEntropy(xg, tensor(y, { dtype: 'int32' })).backward();
    expect(f64(xg.grad as Tensor).every(Number.isFinite)).toBe(true);
  });

  it('gradient matches finite differences with weights, smoothing and ignored targets', () => {
    const x = tensor(xs, { shape: [N, C], requiresGrad: true });
    const y = tensor(ysRaw, { dtype: 'int32' });
    nn.crossEntropy(x, y, { weight: tensor(weight), labelSmoothing: 0.15 }).backward();
    const xf = f64(x);
    const num = numericGrad(
      (v) =>
        crossEntropyRef(v, N, C, 1, ysRaw, { weight, eps: 0.15, reduction: 'mean' })[0] as number,
      xf,
    );
    expectClose(f64(x.grad as Tensor), num, 1e-4, 1e-6);
    // Ignored rows get no gradient at all.
    expect(f64(x.grad as Tensor).slice(2 * C, 3 * C)).toEqual([0, 0, 0, 0, 0]);
  });

  it('all targets ignored: mean is NaN (0 / 0) and sum is 0, as PyTorch', () => {
    const x = tensor(xs.slice(0, 2 * C), { shape: [2, C] });
    const y = tensor([-100, -100], { dtype: 'int32' });
    expect(Number.isNaN(nn.crossEntropy(x, y).item())).toBe(true);
    expect(nn.crossEntropy(x, y, { reduction: 'sum' }).item()).toBe(0);
  });

  it('class-probability targets (float32), with smoothing and weights', () => {
    const probs = values(N * C, 9).map(Math.exp);
    for (let n = 0; n < N; n++) {
      const s = probs.slice(n * C, n * C + C).reduce((a, v) => a + v, 0);
      for (let c = 0; c < C; c++) probs[n * C + c] = (probs[n * C + c] as number) / s;
    }
    const x = tensor(xs, { shape: [N, C] });
    const t = tensor(probs, { shape: [N, C] });
    const tf = f64(t);
    const xf = f64(x);
    for (const reduction of REDUCTIONS) {
      const out = nn.crossEntropy(x, t, { reduction, labelSmoothing: 0.1, weight: tensor(weight) });
      const losses: number[] = [];
      for (let n = 0; n < N; n++) {
        const row = xf.slice(n * C, n * C + C);
        const m = Math.max(...row);
        const lse = m + Math.log(row.reduce((a, v) => a + Math.exp(v - m), 0));
        let l = 0;
        for (let c = 0; c < C; c++)
          l -=
            (weight[c] as number) *
            ((tf[n * C + c] as number) * 0.9 + 0.1 / C) *
            ((row[c] as number) - lse);
        losses.push(l);
      }
      expectClose(f64(out), reduceRef(losses, reduction));
    }
  });

  it('rejects out-of-range targets, wrong shapes and wrong weights clearly', () => {
    const x = tensor(xs, { shape: [N, C] });
    const bad = ysRaw.slice();
    bad[3] = C;
    expect(() => nn.crossEntropy(x, tensor(bad, { dtype: 'int32' }))).toThrow(
      'crossEntropy: target 5 at flat position 3 is out of range: expected class indices in [0, 5) or ignoreIndex -100',
    );
    bad[3] = -1;
    expect(() => nn.crossEntropy(x, tensor(bad, { dtype: 'int32' }))).toThrow(/target -1/);
    expect(() => nn.crossEntropy(x, tensor([1, 2], { dtype: 'int32' }))).toThrow(
      'crossEntropy: expected int32 class indices of shape [7] for input [7, 5], got [2]',
    );
    expect(() =>
      nn.crossEntropy(x, tensor(ysRaw, { dtype: 'int32' }), { weight: tensor([1, 2]) }),
    ).toThrow(/weight of shape \[5\]/);
    expect(() =>
      nn.crossEntropy(x, tensor(ysRaw, { dtype: 'int32' }), { labelSmoothing: 1.5 }),
    ).toThrow(TensorError);
    expect(() => nn.crossEntropy(tensor(3), tensor(0, { dtype: 'int32' }))).toThrow(/scalar/);
  });
});

describe('nllLoss', () => {
  it('matches −w_y·logp_y with ignoreIndex and weights, every reduction', () => {
    const N = 6;
    const C = 4;
    const lp = values(N * C, 11, 2).map((v) => -Math.abs(v));
    const y = ints(N, 12, 0, C);
    y[0] = -1;
    const w = [1, 0.5, 2, 4];
    const x = tensor(lp, { shape: [N, C] });
    const xf = f64(x);
    for (const reduction of REDUCTIONS) {
      const out = nn.nllLoss(x, tensor(y, { dtype: 'int32' }), {
        weight: tensor(w),
        ignoreIndex: -1,
        reduction,
      });
      const losses = y.map((t, n) =>
        t === -1 ? 0 : -(w[t] as number) * (xf[n * C + t] as number),
      );
      const denom = y.reduce((a, t) => a + (t === -1 ? 0 : (w[t] as number)), 0);
      expectClose(f64(out), reduceRef(losses, reduction, denom));
    }
    expect(() => nn.nllLoss(x, tensor(y))).toThrow(
      'nllLoss: expected int32 class indices, got float32',
    );
  });

  it('equals crossEntropy on logSoftmax output', () => {
    const x = tensor(values(12, 13, 3), { shape: [4, 3] });
    const y = tensor([0, 2, 1, 2], { dtype: 'int32' });
    expectClose(f64(nn.nllLoss(x.logSoftmax(1), y)), f64(nn.crossEntropy(x, y)));
  });
});

// ---- binary cross entropy with logits ----------------------------------------------------------

function bceRef(
  x: number[],
  y: number[],
  pw: number[] | null,
  w: number[] | null,
  C: number,
): number[] {
  return x.map((v, i) => {
    const t = y[i] as number;
    const p = pw ? (pw[i % C] as number) : 1;
    const lw = 1 + (p - 1) * t;
    // (1 − y)·x + lw·(log1p(e^{−|x|}) + max(−x, 0)), PyTorch's stable form.
    const l = (1 - t) * v + lw * (Math.log1p(Math.exp(-Math.abs(v))) + Math.max(-v, 0));
    return l * (w ? (w[i] as number) : 1);
  });
}

describe('bceWithLogits', () => {
  const N = 5;
  const C = 3;
  const xs = values(N * C, 14, 3);
  const ys = values(N * C, 15).map((v) => 1 / (1 + Math.exp(-2 * v))); // soft targets in (0, 1)
  ys[0] = 0;
  ys[1] = 1;
  const pw = [0.5, 2, 3];
  const w = values(N * C, 16).map(Math.abs);

  for (const reduction of REDUCTIONS) {
    it(`matches max(x, 0) − x·y + log(1 + e^{−|x|}), with posWeight and weight (${reduction})`, () => {
      const x = tensor(xs, { shape: [N, C] });
      const y = tensor(ys, { shape: [N, C] });
      const xf = f64(x);
      const yf = f64(y);
      expectClose(
        f64(nn.bceWithLogits(x, y, { reduction })),
        reduceRef(bceRef(xf, yf, null, null, C), reduction),
      );
      const out = nn.bceWithLogits(x, y, {
        reduction,
        posWeight: tensor(pw),
        weight: tensor(w, { shape: [N, C] }),
      });
      expectClose(f64(out), reduceRef(bceRef(xf, yf, pw, f64(tensor(w)), C), reduction));
    });
  }

  it('is finite and exact for logits of ±1e4', () => {
    const x = tensor([1e4, -1e4, 1e4, -1e4, 0, 88, -88, 200]);
    const y = tensor([1, 0, 0, 1, 0.5, 1, 0, 0.3]);
    const out = f64(nn.bceWithLogits(x, y, { reduction: 'none' }));
    expect(out.every(Number.isFinite)).toBe(true);
    expectClose(out, bceRef(f64(x), f64(y), null, null, 1), 1e-6, 1e-6);
    const xg = tensor([1e4, -1e4, 1e4, -1e4, 0], { requiresGrad: true });
    nn.bceWithLogits(xg, tensor([1, 0, 0, 1, 0.25]), { reduction: 'sum' }).backward();
    // d/dx = σ(x) − y
    expectClose(f64(xg.grad as Tensor), [0, 0, 1, -1, 0.25]);
  });

  it('gradient matches finite differences with posWeight', () => {
    const x = tensor(xs, { shape: [N, C], requiresGrad: true });
    const y = tensor(ys, { shape: [N, C] });
    nn.bceWithLogits(x, y, { posWeight: tensor(pw) }).backward();
    const yf = f64(y);
    const num = numericGrad(
      (v) => reduceRef(bceRef(v, yf, pw, null, C), 'mean')[0] as number,
      f64(x),
    );
    expectClose(f64(x.grad as Tensor), num, 1e-4, 1e-7);
  });

  it('rejects mismatched shapes', () => {
    expect(() => nn.bceWithLogits(tensor([1, 2]), tensor([1]))).toThrow(
      /expected target of the input's shape \[2\]/,
    );
    expect(() =>
      nn.bceWithLogits(tensor([[1, 2]]), tensor([[1, 0]]), { posWeight: tensor([[1], [2]]) }),
    ).toThrow(/posWeight \[2, 1\] must broadcast/);
  });
});
