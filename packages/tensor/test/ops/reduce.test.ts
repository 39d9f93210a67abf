import { expect, it } from 'vitest';
import * as T from '../../src/index.js';
import { type Tensor, tensor } from '../../src/index.js';
import { expectClose, expectExact, expectTensor, expectTensorError } from '../helpers/assert.js';
import { describeBackends } from '../helpers/backends.js';
import {
  axisSubsets,
  type Nd,
  ndOf,
  numel,
  reduceRef,
  uniform,
  unravel,
} from '../helpers/reference.js';

const NAN = Number.NaN;
const INF = Number.POSITIVE_INFINITY;

function nd(shape: number[], seed: number, lo = -3, hi = 3): Nd {
  return ndOf(shape, uniform(numel(shape), seed, lo, hi));
}
function t(x: Nd): Tensor {
  return tensor(Float32Array.from(x.data), { shape: x.shape });
}

const sumRef = (x: Nd, axes: number[], keep: boolean) =>
  reduceRef(x, axes, keep, 0, (a, v) => a + v);
const meanRef = (x: Nd, axes: number[], keep: boolean) =>
  reduceRef(
    x,
    axes,
    keep,
    0,
    (a, v) => a + v,
    (a, n) => a / n,
  );
const maxRef = (x: Nd, axes: number[], keep: boolean) =>
  reduceRef(x, axes, keep, -INF, (a, v) =>
    Number.isNaN(a) || Number.isNaN(v) ? NAN : Math.max(a, v),
  );
const minRef = (x: Nd, axes: number[], keep: boolean) =>
  reduceRef(x, axes, keep, INF, (a, v) =>
    Number.isNaN(a) || Number.isNaN(v) ? NAN : Math.min(a, v),
  );
/** Two-pass variance in float64 with Bessel's correction. */
function varRef(x: Nd, axes: number[], keep: boolean, correction: number): Nd {
  const m = meanRef(x, axes, true);
  const set = new Set(axes);
  const centered = ndOf(
    x.shape,
    Array.from(x.data, (v, i) => {
      const idx = unravel(i, x.shape).map((c, k) => (set.has(k) ? 0 : c));
      let flat = 0;
      for (let k = 0; k < idx.length; k++)
        flat = flat * (m.shape[k] as number) + (idx[k] as number);
      return (v - (m.data[flat] as number)) ** 2;
    }),
  );
  return reduceRef(
    centered,
    axes,
    keep,
    0,
    (a, v) => a + v,
    (a, n) => a / Math.max(0, n - correction),
  );
}
function lseRef(x: Nd, axes: number[], keep: boolean): Nd {
  const m = maxRef(x, axes, true);
  const set = new Set(axes);
  const e = ndOf(
    x.shape,
    Array.from(x.data, (v, i) => {
      const idx = unravel(i, x.shape).map((c, k) => (set.has(k) ? 0 : c));
      let flat = 0;
      for (let k = 0; k < idx.length; k++)
        flat = flat * (m.shape[k] as number) + (idx[k] as number);
      const mm = m.data[flat] as number;
      return Number.isFinite(mm) ? Math.exp(v - mm) : Math.exp(v);
    }),
  );
  const s = reduceRef(e, axes, true, 0, (a, v) => a + v);
  const out = Array.from(s.data, (v, i) => {
    const mm = m.data[i] as number;
    return Math.log(v) + (Number.isFinite(mm) ? mm : 0);
  });
  return ndOf(keep ? s.shape : s.shape.filter((_, k) => !set.has(k)), out);
}

interface Case {
  name: string;
  op: (x: Tensor, axes: number[], keep: boolean) => Tensor;
  ref: (x: Nd, axes: number[], keep: boolean) => Nd;
  rtol: number;
  atol: number;
}

const CASES: Case[] = [
  { name: 'sum', op: (x, a, k) => x.sum(a, k), ref: sumRef, rtol: 1e-6, atol: 1e-6 },
  { name: 'mean', op: (x, a, k) => x.mean(a, k), ref: meanRef, rtol: 1e-6, atol: 1e-6 },
  { name: 'max', op: (x, a, k) => x.max(a, k), ref: maxRef, rtol: 0, atol: 0 },
  { name: 'min', op: (x, a, k) => x.min(a, k), ref: minRef, rtol: 0, atol: 0 },
  {
    name: 'var',
    op: (x, a, k) => x.var(a, k),
    ref: (x, a, k) => varRef(x, a, k, 1),
    rtol: 1e-5,
    atol: 1e-6,
  },
  {
    name: 'var(correction 0)',
    op: (x, a, k) => x.var(a, k, 0),
    ref: (x, a, k) => varRef(x, a, k, 0),
    rtol: 1e-5,
    atol: 1e-6,
  },
  {
    name: 'std',
    op: (x, a, k) => x.std(a, k),
    ref: (x, a, k) => {
      const v = varRef(x, a, k, 1);
      return { shape: v.shape, data: v.data.map(Math.sqrt) };
    },
    rtol: 1e-5,
    atol: 1e-6,
  },
  { name: 'logsumexp', op: (x, a, k) => x.logsumexp(a, k), ref: lseRef, rtol: 1e-6, atol: 1e-6 },
];

describeBackends('reductions over every axis subset', () => {
  const shapes = [[2, 3, 4], [3, 1, 2, 2], [5], [1, 1]];
  for (const c of CASES) {
    it(`${c.name}: every subset, positive and negative axes, keepdim`, async () => {
      for (const [s, shape] of shapes.entries()) {
        const x = nd(shape, 7 + s);
        for (const axes of axisSubsets(shape.length)) {
          if (axes.length === 0) continue;
          for (const keep of [false, true]) {
            const want = c.ref(x, axes, keep);
            const what = `${c.name} ${JSON.stringify(shape)} axes ${JSON.stringify(axes)} keepdim ${keep}`;
            await expectTensor(c.op(t(x), axes, keep), want, { rtol: c.rtol, atol: c.atol, what });
            // The same axes written negatively, in reverse order.
            const neg = axes.map((a) => a - shape.length).reverse();
            await expectTensor(c.op(t(x), neg, keep), want, {
              rtol: c.rtol,
              atol: c.atol,
              what: `${what} (negative)`,
            });
          }
        }
        // No axis: all of them.
        const all = shape.map((_, k) => k);
        const allT =
          c.name.startsWith('var') || c.name === 'std'
            ? null
            : c.op(t(x), undefined as never, false);
        if (allT)
          await expectTensor(allT, c.ref(x, all, false), {
            rtol: c.rtol,
            atol: c.atol,
            what: `${c.name} all`,
          });
      }
    });
  }

  it('a single number axis works like a one-element list', async () => {
    const x = nd([2, 3], 1);
    await expectTensor(t(x).sum(1), sumRef(x, [1], false), { rtol: 1e-6 });
    await expectTensor(t(x).max(-2, true), maxRef(x, [0], true), { rtol: 0 });
  });

  it('sum accumulates in more than float32 precision', async () => {
    // 1 + 1e-8 * many: a float32 running sum would never move off 1e8 by adding 1s.
    const n = 20000;
    const data = new Float32Array(n).fill(1);
    data[0] = 1e8;
    const s = (await tensor(data).sum().data())[0];
    expect(s).toBe(Math.fround(1e8 + n - 1));
  });

  it('mean/var/std of a rank-0 tensor and default no-axis forms', async () => {
    await expectExact(tensor(3).sum(), 'float32', [], [3]);
    await expectExact(tensor(3).mean(), 'float32', [], [3]);
    await expectExact(tensor(3).max(), 'float32', [], [3]);
    const x = tensor([1, 2, 3, 4]);
    expectClose([(await x.var().data())[0]!], [5 / 3]);
    expectClose([(await x.std().data())[0]!], [Math.sqrt(5 / 3)]);
    expectClose([(await x.var(undefined, false, 0).data())[0]!], [1.25]);
  });

  it('var over a single element is NaN with correction 1 (as PyTorch), 0 with correction 0', async () => {
    expect(Number.isNaN((await tensor([5]).var().data())[0])).toBe(true);
    expect((await tensor([5]).var(undefined, false, 0).data())[0]).toBe(0);
  });

  it('var is shift invariant (no catastrophic cancellation at a large offset)', async () => {
    const base = [1, 2, 3, 4];
    const v = (
      await tensor(base.map((b) => b + 1e4))
        .var()
        .data()
    )[0] as number;
    expectClose([v], [5 / 3], { rtol: 1e-3 });
  });

  it('int32 inputs: sum/max/min stay int32, mean/var become float32', async () => {
    const i = tensor(
      [
        [1, 2],
        [3, 5],
      ],
      { dtype: 'int32' },
    );
    await expectExact(i.sum(0), 'int32', [2], [4, 7]);
    await expectExact(i.max(1), 'int32', [2], [2, 5]);
    await expectExact(i.min(), 'int32', [], [1]);
    await expectExact(i.mean(1), 'float32', [2], [1.5, 4]);
    expectClose(await i.var(0).data(), [2, 4.5]);
    expect(i.logsumexp(1).dtype).toBe('float32');
  });

  it('size-1 dims and keepdim shapes', async () => {
    const x = T.ones([1, 3, 1]);
    expect(x.sum(0).shape).toEqual([3, 1]);
    expect(x.sum([0, 2]).shape).toEqual([3]);
    expect(x.sum([0, 2], true).shape).toEqual([1, 3, 1]);
    expect(x.max([0, 1, 2], true).shape).toEqual([1, 1, 1]);
    expect(x.sum().shape).toEqual([]);
  });
});

describeBackends('empty reductions', () => {
  it('sum of an empty axis is 0; mean of it is NaN', async () => {
    await expectExact(T.zeros([0]).sum(), 'float32', [], [0]);
    await expectExact(T.zeros([2, 0]).sum(1), 'float32', [2], [0, 0]);
    await expectExact(T.zeros([0, 3]).sum(0, true), 'float32', [1, 3], [0, 0, 0]);
    await expectExact(T.zeros([0, 3]).sum(1), 'float32', [0], []);
    expect(Array.from(await T.zeros([2, 0]).mean(1).data()).every(Number.isNaN)).toBe(true);
    await expectExact(T.zeros([0], { dtype: 'int32' }).sum(), 'int32', [], [0]);
  });

  it('max/min/argmax/argmin of an empty axis are errors naming the op and shape', async () => {
    expectTensorError(() => T.zeros([0]).max(), 'max', 'empty', '[0]');
    expectTensorError(() => T.zeros([3, 0]).min(1), 'min', 'empty', '[3, 0]');
    expectTensorError(() => T.zeros([0, 2]).argmax(0), 'argmax', 'empty');
    expectTensorError(() => T.zeros([0, 3, 2]).max([0, 2]), 'max', 'empty', '[0, 3, 2]');
    expectTensorError(() => T.zeros([0]).argmin(), 'argmin', 'empty');
    // Reducing a non-empty axis of a tensor that is empty elsewhere is fine.
    expect(T.zeros([0, 3]).max(1).shape).toEqual([0]);
  });

  it('logsumexp of an empty axis is -inf (log of an empty sum)', async () => {
    await expectExact(T.zeros([2, 0]).logsumexp(1), 'float32', [2], [-INF, -INF]);
  });
});

describeBackends('max / min / argmax / argmin semantics', () => {
  it('NaN wins in max and min (as PyTorch), ±Inf are ordinary', async () => {
    const x = tensor([
      [1, NAN, 3],
      [-INF, 2, INF],
      [NAN, NAN, 1],
    ]);
    expectClose(await x.max(1).data(), [NAN, INF, NAN], { rtol: 0, atol: 0 });
    expectClose(await x.min(1).data(), [NAN, -INF, NAN], { rtol: 0, atol: 0 });
    expectClose(await x.max(0).data(), [NAN, NAN, INF], { rtol: 0, atol: 0 });
    expectClose(await tensor([-INF, -INF]).max(0, true).data(), [-INF], { rtol: 0, atol: 0 });
  });

  it('argmax/argmin: first index on ties, NaN counts as the extreme', async () => {
    const x = tensor([
      [3, 1, 3, 1],
      [NAN, 5, NAN, 5],
      [2, 2, 2, 2],
      [0, 9, NAN, 9],
    ]);
    await expectExact(x.argmax(1), 'int32', [4], [0, 0, 0, 2]);
    await expectExact(x.argmin(1), 'int32', [4], [1, 0, 0, 2]);
    await expectExact(x.argmax(0, true), 'int32', [1, 4], [1, 3, 1, 3]);
  });

  it('argmax without an axis indexes the flattened tensor; keepdim gives all-ones shape', async () => {
    const x = tensor([
      [1, 7, 2],
      [7, 0, 3],
    ]);
    await expectExact(x.argmax(), 'int32', [], [1]);
    await expectExact(x.argmin(), 'int32', [], [4]);
    await expectExact(x.argmax(undefined, true), 'int32', [1, 1], [1]);
    await expectExact(x.argmax(-1), 'int32', [2], [1, 0]);
    await expectExact(tensor(5).argmax(), 'int32', [], [0]);
  });

  it('argmax against a reference on random data over each axis', async () => {
    const shape = [3, 4, 5];
    const x = nd(shape, 3);
    for (let axis = 0; axis < 3; axis++) {
      const got = await t(x).argmax(axis).data();
      const gotMin = await t(x).argmin(axis).data();
      const outShape = shape.filter((_, k) => k !== axis);
      for (let o = 0; o < got.length; o++) {
        const idx = unravel(o, outShape);
        let best = -INF;
        let worst = INF;
        let at = -1;
        let atMin = -1;
        for (let r = 0; r < (shape[axis] as number); r++) {
          const full = idx.slice();
          full.splice(axis, 0, r);
          let flat = 0;
          for (let k = 0; k < 3; k++) flat = flat * (shape[k] as number) + (full[k] as number);
          const v = x.data[flat] as number;
          if (v > best) {
            best = v;
            at = r;
          }
          if (v < worst) {
            worst = v;
            atMin = r;
          }
        }
        expect(got[o]).toBe(at);
        expect(gotMin[o]).toBe(atMin);
      }
    }
  });

  it('rejects bad axes, naming the op, the axis and the rank', async () => {
    expectTensorError(() => T.zeros([2, 3]).sum(2), 'sum', '2', 'rank 2');
    expectTensorError(() => T.zeros([2, 3]).max(-3), 'max', '-3', 'rank 2');
    expectTensorError(() => T.zeros([2, 3]).mean([0, 0]), 'mean', 'repeated');
    expectTensorError(() => T.zeros([2, 3]).sum([1, -1]), 'sum', 'repeated');
    expectTensorError(() => T.zeros([2, 3]).argmax(5), 'argmax', '5');
    expectTensorError(() => T.zeros([2, 3]).logsumexp(1.5), 'logsumexp', '1.5');
    expectTensorError(() => T.zeros([2, 3]).var(3), 'var', '3');
  });
});

describeBackends('logsumexp at extreme spreads', () => {
  it('scores spread over ±1e4 and all -inf rows', async () => {
    const rows = [
      [1e4, -1e4, 0, 9999],
      [-1e4, -1e4 + 1, -1e4 + 2, -1e4 + 3],
      [-INF, -INF, -INF, -INF],
      [-INF, 0, -INF, -INF],
      [INF, 0, 1, 2],
      [NAN, 0, 1, 2],
      [88, 89, 90, 91],
    ];
    const x = tensor(rows);
    const got = await x.logsumexp(1).data();
    const want = rows.map((r) => {
      if (r.some(Number.isNaN)) return NAN;
      const m = Math.max(...r);
      if (m === -INF) return -INF;
      if (m === INF) return INF;
      return m + Math.log(r.reduce((a, v) => a + Math.exp(v - m), 0));
    });
    expectClose(got, want.map(Math.fround), { rtol: 1e-6, atol: 0 });
    // Over axis 0, with keepdim.
    const lse0 = tensor([
      [1e4, -INF],
      [-1e4, -INF],
    ]).logsumexp(0, true);
    await expectExact(lse0, 'float32', [1, 2], [1e4, -INF]);
  });
});
