/**
 * Gradients of every differentiable op: central finite differences (gradcheck) for all of them, and
 * exact float64 reference gradients for the key ones.
 */
import { expect, it } from 'vitest';
import * as T from '../../src/index.js';
import { defineOp, Generator, run1, type Tensor, tensor } from '../../src/index.js';
import { expectClose } from '../helpers/assert.js';
import { describeBackends } from '../helpers/backends.js';
import { direction, type GradInput, gradcheck, vjp } from '../helpers/gradcheck.js';
import {
  at,
  awayFromZero,
  distinct,
  mapRef,
  matmulRef,
  type Nd,
  ndOf,
  normalCdfRef,
  numel,
  sigmoidRef,
  sumToRef,
  transposeRef,
  uniform,
  unravel,
} from '../helpers/reference.js';

/** A float32 gradcheck input with uniform values in [lo, hi). */
function u(shape: number[], seed: number, lo = -1, hi = 1): GradInput {
  return { shape, data: uniform(numel(shape), seed, lo, hi) };
}
/** Values bounded away from 0 (for kinks at 0 and for 1/x). */
function away(shape: number[], seed: number, lo = 0.3, hi = 1.5): GradInput {
  return { shape, data: awayFromZero(numel(shape), seed, lo, hi) };
}
/** Distinct values (no ties), for max/min/cummax. */
function dist(shape: number[], seed: number, spread = 2): GradInput {
  return { shape, data: distinct(numel(shape), seed, spread) };
}
function idx(shape: number[], values: number[]): Tensor {
  return tensor(Int32Array.from(values), { shape });
}
function asNd(x: GradInput): Nd {
  return ndOf(x.shape, (x as { data: ArrayLike<number> }).data);
}

describeBackends('gradcheck: unary ops', () => {
  const cases: [string, (x: Tensor) => Tensor, GradInput][] = [
    ['neg', T.neg, u([2, 3], 1)],
    ['abs', T.abs, away([2, 3], 2)],
    ['exp', T.exp, u([2, 3], 3)],
    ['expm1', T.expm1, u([2, 3], 4)],
    ['log', T.log, u([2, 3], 5, 0.5, 2)],
    ['log1p', T.log1p, u([2, 3], 6, -0.5, 2)],
    ['sqrt', T.sqrt, u([2, 3], 7, 0.5, 2)],
    ['rsqrt', T.rsqrt, u([2, 3], 8, 0.5, 2)],
    ['sin', T.sin, u([2, 3], 9, -3, 3)],
    ['cos', T.cos, u([2, 3], 10, -3, 3)],
    ['tanh', T.tanh, u([2, 3], 11, -2, 2)],
    ['erf', T.erf, u([2, 3], 12, -2, 2)],
    ['sigmoid', T.sigmoid, u([2, 3], 13, -4, 4)],
    ['relu', T.relu, away([2, 3], 14)],
    ['gelu', T.gelu, u([2, 3], 15, -3, 3)],
    ['silu', T.silu, u([2, 3], 16, -4, 4)],
    ['softplus', T.softplus, u([2, 3], 17, -4, 4)],
    ['square', T.square, u([2, 3], 18, -2, 2)],
    ['reciprocal', T.reciprocal, away([2, 3], 19, 0.5, 2)],
    ['clone', T.clone, u([2, 3], 20)],
    ['cast float32→float32', (x) => T.cast(x, 'float32'), u([2, 3], 21)],
    ['clamp(-0.5, 0.5)', (x) => x.clamp(-0.5, 0.5), u([3, 4], 22)],
    ['clamp(min only)', (x) => x.clamp(0.1), u([3, 4], 23)],
    ['clamp(max only)', (x) => x.clamp(null, -0.1), u([3, 4], 24)],
    ['rank 0', (x) => x.exp().mul(x), u([], 25)],
  ];
  for (const [name, f, x] of cases) {
    it(name, async () => await gradcheck(f, [x], { name }));
  }

  it('ops without a gradient (sign, floor, round, comparisons) pass none', async () => {
    for (const f of [T.sign, T.floor, T.ceil, T.round, (x: Tensor) => x.gt(0)]) {
      const x = tensor([0.5, -1.5], { requiresGrad: true });
      const y = f(x);
      expect(y.requiresGrad).toBe(false);
      expect(() => y.sum().backward()).toThrow(/does not require gradients/);
    }
    // Through a float → int → float round trip no gradient flows either.
    const x = tensor([0.5, 2.5], { requiresGrad: true });
    expect(x.int().float().requiresGrad).toBe(false);
  });
});

describeBackends(
  'gradcheck: binary ops with broadcasting (gradients sum back to the input shapes)',
  () => {
    const shapes: [number[], number[]][] = [
      [
        [2, 3],
        [2, 3],
      ],
      [
        [3, 1],
        [1, 4],
      ],
      [
        [2, 1, 3],
        [4, 1],
      ],
      [[], [2, 3]],
      [[2, 3], [3]],
      [
        [1, 1],
        [2, 1, 2],
      ],
    ];
    const ops: [
      string,
      (a: Tensor, b: Tensor) => Tensor,
      (s: number[], seed: number, which: number) => GradInput,
    ][] = [
      ['add', T.add, (s, k) => u(s, k)],
      ['sub', T.sub, (s, k) => u(s, k)],
      ['mul', T.mul, (s, k) => u(s, k, -2, 2)],
      ['div', T.div, (s, k, which) => (which === 0 ? u(s, k, -2, 2) : away(s, k, 0.5, 2))],
      ['pow', T.pow, (s, k, which) => (which === 0 ? u(s, k, 0.5, 2) : u(s, k, -2, 2))],
      ['maximum', T.maximum, (s, k, which) => dist(s, k + which * 100, 3)],
      ['minimum', T.minimum, (s, k, which) => dist(s, k + which * 100, 3)],
    ];
    for (const [name, op, gen] of ops) {
      for (const [sa, sb] of shapes) {
        it(`${name} ${JSON.stringify(sa)} ⊕ ${JSON.stringify(sb)}`, async () => {
          await gradcheck(op, [gen(sa, 3, 0), gen(sb, 4, 1)], { name });
        });
      }
    }

    it('numbers as operands', async () => {
      await gradcheck((x) => T.sub(3, x).mul(2).div(x.add(5)), [u([4], 1)]);
      await gradcheck((x) => T.pow(2, x), [u([4], 2)]);
      await gradcheck((x) => x.pow(3), [u([4], 3)]);
    });

    it('where with broadcast condition and branches', async () => {
      const c = idx([3, 1], [1, 0, 1]);
      await gradcheck((a, b) => T.where(c, a, b), [u([1, 4], 1), u([2, 3, 4], 2)]);
      await gradcheck((a) => T.where(c, a, 0), [u([4], 3)]);
      await gradcheck((b) => T.where(c, 1.5, b), [u([3, 4], 4)]);
    });
  },
);

describeBackends('exact float64 reference gradients for key ops', () => {
  const tol = { rtol: 2e-5, atol: 1e-6 };

  it('broadcast add / mul gradients are the reduced sums', async () => {
    const a = u([2, 1, 3], 1);
    const b = u([4, 1], 2);
    const w = direction(24, 1);
    const W = ndOf([2, 4, 3], w);
    const add = await vjp(T.add, [a, b], w);
    expectClose(add.grads[0] as Float64Array, sumToRef(W, [2, 1, 3]).data, tol);
    expectClose(add.grads[1] as Float64Array, sumToRef(W, [4, 1]).data, tol);
    const mul = await vjp(T.mul, [a, b], w);
    const wb = mapRef([W, asNd(b)], (x, y) => x * y);
    const wa = mapRef([W, asNd(a)], (x, y) => x * y);
    expectClose(mul.grads[0] as Float64Array, sumToRef(wb, [2, 1, 3]).data, tol);
    expectClose(mul.grads[1] as Float64Array, sumToRef(wa, [4, 1]).data, tol);
  });

  it('div and pow', async () => {
    const a = u([5], 3, 0.5, 2);
    const b = u([5], 4, -2, 2);
    const w = direction(5, 2);
    const A = asNd(a).data;
    const B = asNd(b).data;
    const d = await vjp(T.div, [a, b], w);
    expectClose(
      d.grads[0] as Float64Array,
      A.map((_, i) => (w[i] as number) / (B[i] as number)),
      tol,
    );
    expectClose(
      d.grads[1] as Float64Array,
      A.map((x, i) => (-(w[i] as number) * x) / (B[i] as number) ** 2),
      tol,
    );
    const p = await vjp(T.pow, [a, b], w);
    expectClose(
      p.grads[0] as Float64Array,
      A.map((x, i) => (w[i] as number) * (B[i] as number) * x ** ((B[i] as number) - 1)),
      tol,
    );
    expectClose(
      p.grads[1] as Float64Array,
      A.map((x, i) => (w[i] as number) * x ** (B[i] as number) * Math.log(x)),
      tol,
    );
  });

  it('pow: d/da of x^0 is 0 everywhere, also at x = 0 (not 0·0⁻¹ = NaN)', async () => {
    const p = await vjp((x) => x.pow(0), [{ shape: [3], data: [0, -1, 2] }], [1, 1, 1]);
    expectClose(p.grads[0] as Float64Array, [0, 0, 0], { rtol: 0, atol: 0 });
    const q = await vjp((x) => x.pow(1), [{ shape: [2], data: [0, 3] }], [1, 1]);
    expectClose(q.grads[0] as Float64Array, [1, 1], { rtol: 0, atol: 0 });
  });

  it('pow: d/db at a <= 0 is 0, d/da of x^2 at negative x is 2x', async () => {
    const p = await vjp(
      T.pow,
      [
        { shape: [3], data: [-2, 0, 3] },
        { shape: [3], data: [2, 2, 2] },
      ],
      [1, 1, 1],
    );
    expectClose(p.grads[0] as Float64Array, [-4, 0, 6], tol);
    expectClose(p.grads[1] as Float64Array, [0, 0, 9 * Math.log(3)], tol);
  });

  it('erf, gelu, sigmoid, silu, softplus, tanh over a wide range', async () => {
    const xs = {
      shape: [41],
      data: Array.from({ length: 41 }, (_, i) => Math.fround(-10 + i * 0.5)),
    };
    const X = xs.data;
    const w = direction(41, 3);
    const pdf = (x: number) => Math.exp(-0.5 * x * x) / Math.sqrt(2 * Math.PI);
    const refs: [string, (x: Tensor) => Tensor, (x: number) => number][] = [
      ['erf', T.erf, (x) => (2 / Math.sqrt(Math.PI)) * Math.exp(-x * x)],
      ['gelu', T.gelu, (x) => normalCdfRef(x) + x * pdf(x)],
      ['sigmoid', T.sigmoid, (x) => sigmoidRef(x) * (1 - sigmoidRef(x))],
      ['silu', T.silu, (x) => sigmoidRef(x) * (1 + x * (1 - sigmoidRef(x)))],
      ['softplus', T.softplus, (x) => sigmoidRef(x)],
      ['tanh', T.tanh, (x) => 1 - Math.tanh(x) ** 2],
    ];
    for (const [name, f, d] of refs) {
      const g = (await vjp(f, [xs], w)).grads[0] as Float64Array;
      // Backward rules built from float32 outputs (sigmoid's y(1 − y), gelu's (1 + erf)/2, as in
      // PyTorch) cancel in the saturated tails: there they are accurate to float32 resolution near 1,
      // not relatively. erf's rule uses exp(−x²) directly and stays relatively exact.
      const atol = name === 'erf' ? 1e-12 : 2e-7;
      expectClose(
        g,
        X.map((x, i) => (w[i] as number) * d(x)),
        { rtol: 1e-5, atol, what: name },
      );
    }
  });

  it('softmax, logSoftmax and logsumexp, with scores spread over ±1e4', async () => {
    const rows = [
      [1e4, -1e4, 0, 1e4 - 1],
      [0.5, -0.25, 1, 2],
      [-1e4, -1e4 + 1, -1e4 + 2, -1e4],
    ];
    const x = { shape: [3, 4], data: rows.flat().map(Math.fround) };
    const w = direction(12, 4);
    const sm = rows.map((r) => {
      const m = Math.max(...r.map(Math.fround));
      const e = r.map((v) => Math.exp(Math.fround(v) - m));
      const s = e.reduce((a, b) => a + b, 0);
      return e.map((v) => v / s);
    });
    const dSoftmax: number[] = [];
    const dLogSoftmax: number[] = [];
    const dLse: number[] = [];
    const w1 = direction(3, 5);
    rows.forEach((_, r) => {
      const p = sm[r] as number[];
      const wr = Array.from(w.slice(r * 4, r * 4 + 4));
      const dot = wr.reduce((a, v, j) => a + v * (p[j] as number), 0);
      const sw = wr.reduce((a, v) => a + v, 0);
      for (let j = 0; j < 4; j++) {
        dSoftmax.push((p[j] as number) * ((wr[j] as number) - dot));
        dLogSoftmax.push((wr[j] as number) - (p[j] as number) * sw);
        dLse.push((w1[r] as number) * (p[j] as number));
      }
    });
    expectClose((await vjp((t) => T.softmax(t), [x], w)).grads[0] as Float64Array, dSoftmax, {
      rtol: 1e-5,
      atol: 1e-7,
    });
    expectClose((await vjp((t) => T.logSoftmax(t), [x], w)).grads[0] as Float64Array, dLogSoftmax, {
      rtol: 1e-5,
      atol: 1e-6,
    });
    expectClose((await vjp((t) => t.logsumexp(1), [x], w1)).grads[0] as Float64Array, dLse, {
      rtol: 1e-5,
      atol: 1e-7,
    });
  });

  it('matmul: dA = W Bᵀ, dB = Aᵀ W, batched with broadcast batch dims', async () => {
    const a = u([2, 1, 3, 4], 6);
    const b = u([5, 4, 2], 7);
    const w = direction(2 * 5 * 3 * 2, 6);
    const W = ndOf([2, 5, 3, 2], w);
    const A = asNd(a);
    const B = asNd(b);
    const g = await vjp(T.matmul, [a, b], w);
    const dA = sumToRef(matmulRef(W, transposeRef(B)), [2, 1, 3, 4]);
    const dB = sumToRef(matmulRef(transposeRef(A), W), [5, 4, 2]);
    expectClose(g.grads[0] as Float64Array, dA.data, { rtol: 1e-5, atol: 1e-5 });
    expectClose(g.grads[1] as Float64Array, dB.data, { rtol: 1e-5, atol: 1e-5 });
  });

  it('var and std', async () => {
    const x = u([3, 5], 8);
    const X = asNd(x);
    const w = direction(3, 7);
    const g = (await vjp((t) => t.var(1), [x], w)).grads[0] as Float64Array;
    const gs = (await vjp((t) => t.std(1, false, 0), [x], w)).grads[0] as Float64Array;
    const want: number[] = [];
    const wantStd: number[] = [];
    for (let r = 0; r < 3; r++) {
      const row = Array.from({ length: 5 }, (_, j) => at(X, [r, j]));
      const m = row.reduce((a, v) => a + v, 0) / 5;
      const sd0 = Math.sqrt(row.reduce((a, v) => a + (v - m) ** 2, 0) / 5);
      for (const v of row) {
        want.push(((w[r] as number) * 2 * (v - m)) / 4);
        wantStd.push(((w[r] as number) * (v - m)) / (5 * sd0));
      }
    }
    expectClose(g, want, { rtol: 1e-5, atol: 1e-6 });
    expectClose(gs, wantStd, { rtol: 1e-5, atol: 1e-6 });
  });
});

describeBackends('gradcheck: reductions', () => {
  const x = u([2, 3, 4], 30, -2, 2);
  const xd = dist([2, 3, 4], 31, 4);
  const cases: [string, (t: Tensor) => Tensor, GradInput][] = [
    ['sum all', (t) => t.sum(), x],
    ['sum [0, 2] keepdim', (t) => t.sum([0, 2], true), x],
    ['sum -1', (t) => t.sum(-1), x],
    ['mean [1]', (t) => t.mean(1), x],
    ['mean [0, 2]', (t) => t.mean([0, 2]), x],
    ['var [1, 2]', (t) => t.var([1, 2]), x],
    ['var 0 correction 0', (t) => t.var(0, true, 0), x],
    ['std [0, 2]', (t) => t.std([0, 2]), x],
    ['logsumexp [0, 2]', (t) => t.logsumexp([0, 2]), x],
    ['logsumexp all', (t) => t.logsumexp(), x],
    ['max 1', (t) => t.max(1), xd],
    ['max [0, 2] (non-adjacent)', (t) => t.max([0, 2]), xd],
    ['min all', (t) => t.min(), xd],
    ['min [-1, -2] keepdim', (t) => t.min([-1, -2], true), xd],
    ['softmax 1', (t) => T.softmax(t, 1), x],
    ['softmax -1', (t) => T.softmax(t), x],
    ['logSoftmax 0', (t) => T.logSoftmax(t, 0), x],
  ];
  for (const [name, f, input] of cases) {
    it(name, async () => await gradcheck(f, [input], { name }));
  }
});

describeBackends('tie-breaking gradients', () => {
  it('maximum / minimum split the gradient evenly at ties (PyTorch)', async () => {
    const a = { shape: [3], data: [1, 2, 3] };
    const b = { shape: [3], data: [1, 0, 3] };
    const mx = await vjp(T.maximum, [a, b], [1, 1, 1]);
    expectClose(mx.grads[0] as Float64Array, [0.5, 1, 0.5], { rtol: 0, atol: 0 });
    expectClose(mx.grads[1] as Float64Array, [0.5, 0, 0.5], { rtol: 0, atol: 0 });
    const mn = await vjp(T.minimum, [a, b], [1, 1, 1]);
    expectClose(mn.grads[0] as Float64Array, [0.5, 0, 0.5], { rtol: 0, atol: 0 });
    expectClose(mn.grads[1] as Float64Array, [0.5, 1, 0.5], { rtol: 0, atol: 0 });
    // Broadcast tie: a scalar tying with two elements collects both halves.
    const s = await vjp(
      T.maximum,
      [
        { shape: [], data: [2] },
        { shape: [3], data: [2, 2, 1] },
      ],
      [1, 1, 1],
    );
    expectClose(s.grads[0] as Float64Array, [2], { rtol: 0, atol: 0 });
    expectClose(s.grads[1] as Float64Array, [0.5, 0.5, 0], { rtol: 0, atol: 0 });
  });

  it('max/min reductions split the gradient evenly among all tied elements', async () => {
    const x = { shape: [2, 3], data: [5, 1, 5, 2, 2, 0] };
    expectClose(
      (await vjp((t) => t.max(1), [x], [1, 1])).grads[0] as Float64Array,
      [0.5, 0, 0.5, 0.5, 0.5, 0],
      { rtol: 0, atol: 0 },
    );
    expectClose(
      (await vjp((t) => t.max(), [x], [1])).grads[0] as Float64Array,
      [0.5, 0, 0.5, 0, 0, 0],
      {
        rtol: 0,
        atol: 0,
      },
    );
    expectClose(
      (await vjp((t) => t.min(0), [x], [1, 1, 1])).grads[0] as Float64Array,
      [0, 1, 0, 1, 0, 1],
      {
        rtol: 0,
        atol: 0,
      },
    );
  });

  it('max over non-adjacent axes splits evenly over the whole group (torch.amax)', async () => {
    // Three 5s in one reduction group: each gets 1/3, whatever the layout.
    const x = { shape: [2, 1, 2], data: [5, 5, 5, 3] };
    const g = (await vjp((t) => t.max([0, 2]), [x], [1])).grads[0] as Float64Array;
    expectClose(g, [1 / 3, 1 / 3, 1 / 3, 0], { rtol: 1e-6, atol: 0 });
    const gm = (
      await vjp((t) => t.min([0, 2], true), [{ shape: [2, 1, 2], data: [1, 4, 1, 1] }], [1])
    ).grads[0] as Float64Array;
    expectClose(gm, [1 / 3, 0, 1 / 3, 1 / 3], { rtol: 1e-6, atol: 0 });
  });

  it('clamp passes the full gradient for min <= x <= max, bounds included (PyTorch)', async () => {
    const x = { shape: [5], data: [-2, -1, 0, 1, 2] };
    const g = (await vjp((t) => t.clamp(-1, 1), [x], [1, 1, 1, 1, 1])).grads[0] as Float64Array;
    expectClose(g, [0, 1, 1, 1, 0], { rtol: 0, atol: 0 });
  });

  it('relu and abs have gradient 0 at 0 (PyTorch)', async () => {
    const x = { shape: [3], data: [-1, 0, 1] };
    expectClose((await vjp(T.relu, [x], [1, 1, 1])).grads[0] as Float64Array, [0, 0, 1], {
      rtol: 0,
      atol: 0,
    });
    expectClose((await vjp(T.abs, [x], [1, 1, 1])).grads[0] as Float64Array, [-1, 0, 1], {
      rtol: 0,
      atol: 0,
    });
  });
});

describeBackends('gradcheck: matmul', () => {
  const cases: [number[], number[]][] = [
    [[4], [4]],
    [[3], [3, 2]],
    [[2, 3], [3]],
    [
      [2, 3],
      [3, 4],
    ],
    [
      [2, 3, 4],
      [4, 2],
    ],
    [
      [3, 4],
      [2, 4, 2],
    ],
    [
      [2, 1, 2, 3],
      [3, 3, 2],
    ],
    [
      [5, 1],
      [1, 3],
    ],
  ];
  for (const [sa, sb] of cases) {
    it(`${JSON.stringify(sa)} @ ${JSON.stringify(sb)}`, async () => {
      await gradcheck(T.matmul, [u(sa, 1), u(sb, 2)]);
    });
  }
  for (const ta of [false, true]) {
    for (const tb of [false, true]) {
      it(`matmulT transA=${ta} transB=${tb}, batched`, async () => {
        await gradcheck(
          (a, b) => T.matmulT(a, b, ta, tb),
          // Stored shapes such that op(a) is [2, 3, 4] and op(b) is [2, 4, 3].
          [ta ? u([2, 4, 3], 3) : u([2, 3, 4], 3), tb ? u([2, 3, 4], 4) : u([2, 4, 3], 4)],
        );
      });
    }
  }
});

describeBackends('gradcheck: movement ops', () => {
  const x = u([2, 3, 4], 40);
  const cases: [string, (t: Tensor) => Tensor, GradInput][] = [
    ['reshape -1', (t) => t.reshape([4, -1]).mul(t.reshape([4, -1])), x],
    ['flatten', (t) => t.flatten(1).exp(), x],
    ['squeeze / unsqueeze', (t) => t.unsqueeze(1).squeeze(1).exp(), x],
    ['permute', (t) => t.permute([2, 0, 1]).exp(), x],
    [
      'transpose',
      (t) => t.transpose(0, 2).matmul(tensor(Float32Array.from([1, -1]), { shape: [2, 1] })),
      x,
    ],
    ['expand', (t) => t.slice(1, 0, 1).expand([3, 2, 3, 4]).exp(), x],
    ['slice step 2', (t) => t.slice(2, 1, undefined, 2).square(), x],
    ['slice negative step', (t) => t.slice(1, -1, undefined, -2).exp(), x],
    ['slice negative indices', (t) => t.slice(-1, -3, -1).square(), x],
    [
      'flip',
      (t) => t.flip([0, 2]).mul(tensor(Float32Array.from(uniform(24, 1)), { shape: [2, 3, 4] })),
      x,
    ],
    [
      'pad',
      (t) =>
        t
          .pad(
            [
              [1, 0],
              [0, 2],
              [1, 1],
            ],
            0.5,
          )
          .square(),
      x,
    ],
    [
      'pad crop',
      (t) =>
        t
          .pad(
            [
              [0, 0],
              [-1, 1],
              [-1, -2],
            ],
            3,
          )
          .square(),
      x,
    ],
    ['split', (t) => t.split([1, 2], 1)[1]!.square(), x],
    ['split equal', (t) => T.concat(t.split(3, 2).reverse(), 2).square(), x],
    ['tril', (t) => t.tril(1).square(), x],
    ['triu', (t) => t.triu(-1).exp(), x],
  ];
  for (const [name, f, input] of cases) {
    it(name, async () => await gradcheck(f, [input], { name }));
  }

  it('concat and stack route each slice back to its input', async () => {
    await gradcheck(
      (a, b, c) => T.concat([a, b, c], 1).square(),
      [u([2, 1, 3], 1), u([2, 2, 3], 2), u([2, 0, 3], 3)],
    );
    await gradcheck((a, b) => T.stack([a, b], -1).exp(), [u([2, 3], 4), u([2, 3], 5)]);
    await gradcheck((a) => T.concat([a, a.mul(2)], 0).square(), [u([2, 2], 6)]);
  });
});

describeBackends('gradcheck: indexing and cumulative ops', () => {
  it('gather (repeated indices accumulate) and scatterAdd', async () => {
    const index = idx([2, 3], [2, 0, 2, 1, 1, 1]);
    await gradcheck((x) => T.gather(x, 0, index).square(), [u([3, 3], 1)]);
    await gradcheck(
      (x) => T.gather(x, 1, idx([3, 2], [0, 0, 3, 1, 2, 2])).square(),
      [u([3, 4], 2)],
    );
    await gradcheck((s) => T.scatterAdd([3, 3], 0, index, s).square(), [u([2, 3], 3)]);
  });

  it('scatterAdd with a source larger than the index: uncovered elements get zero, covered get gathered', async () => {
    const index = idx([2, 2], [1, 1, 0, 2]);
    await gradcheck((s) => T.scatterAdd([2, 3], 1, index, s).square(), [u([3, 4], 4)]);
  });

  it('indexSelect with a 2-d index and indexAdd (repeats accumulate)', async () => {
    const index = idx([2, 2], [2, 0, 2, 2]);
    await gradcheck((x) => T.indexSelect(x, 0, index).square(), [u([3, 2], 5)]);
    await gradcheck((x) => T.indexSelect(x, 1, idx([3], [1, 1, 0])).exp(), [u([2, 2], 6)]);
    await gradcheck((s) => T.indexAdd([3, 2], 0, index, s).square(), [u([2, 2, 2], 7)]);
  });

  it('cumsum: forward, reverse, exclusive, each axis', async () => {
    for (const reverse of [false, true]) {
      for (const exclusive of [false, true]) {
        for (const axis of [0, -1]) {
          await gradcheck((x) => x.cumsum(axis, { reverse, exclusive }).square(), [u([3, 4], 8)], {
            name: `cumsum ${axis} ${reverse} ${exclusive}`,
          });
        }
      }
    }
  });

  it('cummax routes the gradient to the running argmax', async () => {
    await gradcheck((x) => x.cummax(1).values.square(), [dist([2, 5], 9, 4)]);
    await gradcheck((x) => x.cummax(0).values.exp(), [dist([4, 3], 10, 4)]);
    // Exact: every output position sends its gradient to the element it came from.
    const g = (
      await vjp((t) => t.cummax().values, [{ shape: [5], data: [1, 3, 2, 3, 0] }], [1, 2, 3, 4, 5])
    ).grads[0] as Float64Array;
    expectClose(g, [1, 2 + 3, 0, 4 + 5, 0], { rtol: 0, atol: 0 });
  });

  it('dropout with a seeded generator', async () => {
    await gradcheck(
      (x) => T.dropout(x, 0.4, { generator: new Generator(7) }).square(),
      [u([4, 5], 11)],
    );
  });
});

describeBackends('gradients in larger graphs', () => {
  it('an input used twice accumulates (x·x, x + exp(x), shared subexpressions)', async () => {
    await gradcheck((x) => x.mul(x), [u([5], 1)]);
    await gradcheck((x) => x.add(x.exp()).mul(x.sin()), [u([5], 2)]);
    await gradcheck(
      (x) => {
        const h = x.tanh();
        return h.mul(h).add(h.sum()).sub(h.mean(0, true));
      },
      [u([3, 2], 3)],
    );
    await gradcheck((x) => x.matmul(x), [u([3, 3], 4)]);
    await gradcheck((x) => T.maximum(x, x.flip(0)), [dist([4], 5)]);
    const g = (await vjp((x) => x.add(x).add(x), [{ shape: [2], data: [1, 2] }], [1, 1]))
      .grads[0] as Float64Array;
    expectClose(g, [3, 3], { rtol: 0, atol: 0 });
  });

  it('a small MLP: matmul + bias broadcast + gelu + logSoftmax', async () => {
    await gradcheck(
      (x, w1, b1, w2) => T.logSoftmax(T.gelu(x.matmul(w1).add(b1)).matmul(w2), -1).sum(-1),
      [u([3, 4], 1), u([4, 5], 2), u([5], 3), u([5, 3], 4)],
    );
  });

  it('attention-like scores with a causal mask via where and -inf', async () => {
    const mask = T.tril(T.ones([3, 3], { dtype: 'int32' }));
    await gradcheck(
      (q, k, v) =>
        T.softmax(T.where(mask, q.matmul(k.transpose()), Number.NEGATIVE_INFINITY)).matmul(v),
      [u([3, 2], 1), u([3, 2], 2), u([3, 2], 3)],
    );
  });

  it('gradcheck catches a wrong gradient rule (the helper can fail)', async () => {
    const badExp = defineOp<Record<string, never>>({
      name: 'badExp',
      kernel: 'exp',
      infer: ([x]) => [{ shape: (x as Tensor).shape, dtype: 'float32' }],
      grad: (dy) => [dy], // wrong: should be dy·exp(x)
    });
    await expect(gradcheck((x) => run1(badExp, [x], {}), [u([3], 1, 0.5, 1)])).rejects.toThrow(
      /gradient of input 0/,
    );
    // And a rule that returns the right shape but sums wrongly over a broadcast axis.
    const badAdd = defineOp<Record<string, never>>({
      name: 'badAdd',
      kernel: 'add',
      infer: ([a, b]) => [
        {
          shape: T.broadcastShapes('badAdd', (a as Tensor).shape, (b as Tensor).shape),
          dtype: 'float32',
        },
      ],
      grad: (dy, { inputs }) => [dy, dy.slice(0, 0, 1).reshape((inputs[1] as Tensor).shape)],
    });
    await expect(
      gradcheck((a, b) => run1(badAdd, [a, b], {}), [u([2, 3], 1), u([3], 2)]),
    ).rejects.toThrow(/gradient of input 1/);
  });

  it('unravel sanity (the reference index math is self-consistent)', async () => {
    expect(unravel(23, [2, 3, 4])).toEqual([1, 2, 3]);
    expect(unravel(5, [2, 3])).toEqual([1, 2]);
  });
});
