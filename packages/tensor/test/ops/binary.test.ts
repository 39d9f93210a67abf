import { expect, it } from 'vitest';
import * as T from '../../src/index.js';
import { type Tensor, type TensorLike, tensor } from '../../src/index.js';
import { expectClose, expectExact, expectTensor, expectTensorError } from '../helpers/assert.js';
import { describeBackends } from '../helpers/backends.js';
import {
  broadcastShapeRef,
  mapRef,
  type Nd,
  ndOf,
  numel,
  rng,
  uniform,
} from '../helpers/reference.js';

const NAN = Number.NaN;
const INF = Number.POSITIVE_INFINITY;

type BinaryFn = (a: TensorLike, b: TensorLike) => Tensor;

interface Case {
  name: string;
  op: BinaryFn;
  ref: (a: number, b: number) => number;
  /** Result dtype for float inputs. */
  int?: boolean;
}

const CASES: Case[] = [
  { name: 'add', op: T.add, ref: (a, b) => a + b },
  { name: 'sub', op: T.sub, ref: (a, b) => a - b },
  { name: 'mul', op: T.mul, ref: (a, b) => a * b },
  { name: 'div', op: T.div, ref: (a, b) => a / b },
  { name: 'pow', op: T.pow, ref: Math.pow },
  {
    name: 'maximum',
    op: T.maximum,
    ref: (a, b) => (Number.isNaN(a) || Number.isNaN(b) ? NAN : Math.max(a, b)),
  },
  {
    name: 'minimum',
    op: T.minimum,
    ref: (a, b) => (Number.isNaN(a) || Number.isNaN(b) ? NAN : Math.min(a, b)),
  },
  { name: 'eq', op: T.eq, ref: (a, b) => +(a === b), int: true },
  { name: 'ne', op: T.ne, ref: (a, b) => +(a !== b), int: true },
  { name: 'lt', op: T.lt, ref: (a, b) => +(a < b), int: true },
  { name: 'le', op: T.le, ref: (a, b) => +(a <= b), int: true },
  { name: 'gt', op: T.gt, ref: (a, b) => +(a > b), int: true },
  { name: 'ge', op: T.ge, ref: (a, b) => +(a >= b), int: true },
];

/** Shape pairs that broadcast, including the corners. */
const SHAPES: [number[], number[]][] = [
  [[4], [4]],
  [
    [3, 1],
    [1, 4],
  ],
  [
    [2, 1, 5],
    [4, 1],
  ],
  [
    [4, 1],
    [2, 1, 5],
  ],
  [[], [2, 3]],
  [[2, 3], []],
  [[], []],
  [[1], [3, 2, 1]],
  [
    [2, 3, 4],
    [3, 1],
  ],
  [
    [2, 1, 3, 1],
    [1, 4, 1, 5],
  ],
  [
    [0, 3],
    [1, 3],
  ],
  [
    [2, 0],
    [2, 1],
  ],
  [[0], []],
  [[1, 1], [1]],
  [
    [5, 1, 1],
    [1, 1, 6],
  ],
];

function nd(shape: number[], seed: number, lo = -2, hi = 2): Nd {
  return ndOf(shape, uniform(numel(shape), seed, lo, hi));
}

function t(x: Nd, dtype: 'float32' | 'int32' = 'float32'): Tensor {
  return tensor(Float32Array.from(x.data), { shape: x.shape, dtype });
}

describeBackends('binary ops with broadcasting against a naive reference', (backend) => {
  for (const c of CASES) {
    it(`${c.name}: every broadcast corner`, async () => {
      for (const [k, [sa, sb]] of SHAPES.entries()) {
        const a = nd(sa, 10 + k);
        const b = nd(sb, 100 + k, c.name === 'pow' ? 0.5 : -2, 2);
        // pow: a positive base keeps results real.
        const aa =
          c.name === 'pow'
            ? ndOf(
                sa,
                a.data.map((v) => Math.fround(Math.abs(v) + 0.1)),
              )
            : a;
        const y = c.op(t(aa), t(b));
        expect(y.dtype).toBe(c.int ? 'int32' : 'float32');
        expect(y.shape, `${c.name} ${JSON.stringify([sa, sb])}`).toEqual(broadcastShapeRef(sa, sb));
        const want = mapRef([aa, b], (x, z) => Math.fround(c.ref(x, z)));
        await expectTensor(y, want, {
          // pow on webgpu is 2^(b·log2 a) in float32 (integer exponents are exact).
          rtol: backend === 'webgpu' && c.name === 'pow' ? 1e-6 : 2e-7,
          atol: 0,
          what: `${c.name} ${JSON.stringify([sa, sb])}`,
        });
      }
    });

    it(`${c.name}: ties, NaN, ±Inf and -0`, async () => {
      const av = [1, 1, -0, 0, NAN, 2, NAN, INF, -INF, INF, 3, -5];
      const bv = [1, 2, 0, -0, 2, NAN, NAN, INF, -INF, -INF, -INF, INF];
      const y = c.op(tensor(av), tensor(bv));
      const want = av.map((x, i) => c.ref(x, bv[i] as number));
      expectClose(await y.data(), want, { rtol: 0, atol: 0, what: c.name });
    });
  }

  it('maximum / minimum propagate NaN from either side (as torch.maximum)', async () => {
    const a = tensor([NAN, 1, NAN]);
    const b = tensor([1, NAN, NAN]);
    for (const op of [T.maximum, T.minimum]) {
      const d = await op(a, b).data();
      expect(Array.from(d).every((v) => Number.isNaN(v))).toBe(true);
    }
  });

  it('numbers work as either operand and keep the tensor dtype where they fit', async () => {
    const x = tensor([1, 2, 3]);
    await expectExact(T.sub(10, x), 'float32', [3], [9, 8, 7]);
    await expectExact(x.sub(10), 'float32', [3], [-9, -8, -7]);
    await expectExact(T.div(6, x), 'float32', [3], [6, 3, 2]);
    await expectExact(T.pow(2, x), 'float32', [3], [2, 4, 8]);
    const i = tensor([1, 2, 3], { dtype: 'int32' });
    await expectExact(i.add(1), 'int32', [3], [2, 3, 4]);
    await expectExact(T.mul(3, i), 'int32', [3], [3, 6, 9]);
    await expectExact(i.add(0.5), 'float32', [3], [1.5, 2.5, 3.5]);
    await expectExact(i.mul(NAN).isnan(), 'int32', [3], [1, 1, 1]);
    await expectExact(i.gt(1.5), 'int32', [3], [0, 1, 1]);
    await expectExact(i.lt(INF), 'int32', [3], [1, 1, 1]);
    expectTensorError(() => T.add(1 as never, 2 as never), 'add', 'two numbers');
    expectTensorError(() => T.add(x, '1' as never), 'add', 'string');
  });

  it('promotes int32 with float32 to float32, and int32 / int32 to float32', async () => {
    const i = tensor([3, -7, 4], { dtype: 'int32' });
    const f = tensor([0.5, 0.5, 0.5]);
    await expectExact(i.add(f), 'float32', [3], [3.5, -6.5, 4.5]);
    await expectExact(f.mul(i), 'float32', [3], [1.5, -3.5, 2]);
    await expectExact(T.maximum(i, f), 'float32', [3], [3, 0.5, 4]);
    await expectExact(
      i.div(tensor([2, 2, 3], { dtype: 'int32' })),
      'float32',
      [3],
      [1.5, -3.5, Math.fround(4 / 3)],
    );
    await expectExact(i.sub(tensor([1], { dtype: 'int32' })), 'int32', [3], [2, -8, 3]);
    await expectExact(i.mul(i), 'int32', [3], [9, 49, 16]);
    await expectExact(T.pow(i, tensor([2], { dtype: 'int32' })), 'int32', [3], [9, 49, 16]);
    await expectExact(T.eq(i, tensor([3, 0, 4])), 'int32', [3], [1, 0, 1]);
    // Division by an int32 zero is IEEE: ±Inf / NaN, not an exception.
    await expectExact(
      tensor([1, -1, 0], { dtype: 'int32' })
        .div(tensor([0, 0, 0], { dtype: 'int32' }))
        .isfinite(),
      'int32',
      [3],
      [0, 0, 0],
    );
  });

  it('int32 arithmetic is exact above 2^24', async () => {
    const big = tensor([16777217, -16777219], { dtype: 'int32' });
    await expectExact(
      big.add(tensor([2, -2], { dtype: 'int32' })),
      'int32',
      [2],
      [16777219, -16777221],
    );
    await expectExact(big.sub(1), 'int32', [2], [16777216, -16777220]);
    await expectExact(
      big.eq(tensor([16777217, -16777219], { dtype: 'int32' })),
      'int32',
      [2],
      [1, 1],
    );
  });

  it('rejects shapes that do not broadcast, naming the op and both shapes', async () => {
    expectTensorError(() => T.add(T.zeros([3]), T.zeros([4])), 'add', '[3]', '[4]');
    expectTensorError(() => T.mul(T.zeros([2, 3]), T.zeros([3, 2])), 'mul', '[2, 3]', '[3, 2]');
    expectTensorError(() => T.div(T.zeros([2, 3]), T.zeros([2])), 'div', '[2, 3]', '[2]');
    expectTensorError(() => T.maximum(T.zeros([0]), T.zeros([2])), 'maximum', '[0]', '[2]');
    expectTensorError(() => T.where(T.zeros([2]), T.zeros([3]), 0), 'where', '[2]', '[3]');
  });
});

describeBackends('broadcastShapes', () => {
  it('agrees with the naive rule on 2000 random shape pairs (0, 1, 2, 3 sizes, ranks 0..4)', async () => {
    const r = rng(99);
    const shape = () => Array.from({ length: Math.floor(r() * 5) }, () => Math.floor(r() * 4));
    let ok = 0;
    for (let k = 0; k < 2000; k++) {
      const a = shape();
      const b = shape();
      const want = broadcastShapeRef(a, b);
      if (want === null) {
        expectTensorError(() => T.broadcastShapes('test', a, b), 'test', 'broadcast');
      } else {
        expect(T.broadcastShapes('test', a, b), JSON.stringify([a, b])).toEqual(want);
        ok++;
      }
    }
    expect(ok).toBeGreaterThan(200); // both outcomes are exercised
  });

  it('an op on random broadcastable shapes matches the reference', async () => {
    const r = rng(7);
    for (let k = 0; k < 60; k++) {
      const out = Array.from({ length: Math.floor(r() * 4) }, () => 1 + Math.floor(r() * 3));
      const drop = (s: number[]) =>
        s.slice(Math.floor(r() * (s.length + 1))).map((d) => (r() < 0.4 ? 1 : d));
      const sa = drop(out);
      const sb = drop(out);
      const a = nd(sa, k);
      const b = nd(sb, k + 1000);
      await expectTensor(
        T.sub(t(a), t(b)),
        mapRef([a, b], (x, y) => Math.fround(x - y)),
        { rtol: 0, atol: 0 },
      );
    }
  });
});

describeBackends('where', () => {
  it('selects with broadcasting between condition, a and b', async () => {
    const cond = ndOf([3, 1], [1, 0, 1]);
    const a = nd([1, 4], 1);
    const b = nd([2, 1, 1], 2);
    const y = T.where(t(cond, 'int32'), t(a), t(b));
    const want = mapRef([cond, a, b], (c, x, z) => (c !== 0 ? x : z));
    await expectTensor(y, want, { rtol: 0, atol: 0 });
  });

  it('treats any non-zero (including NaN and -1) as true, and 0 / -0 as false', async () => {
    const cond = tensor([NAN, -1, 0.5, 0, -0]);
    await expectExact(T.where(cond, 1, 2), 'float32', [5], [1, 1, 1, 2, 2]);
  });

  it('takes numbers on either side; dtype promotes; int32 stays int32', async () => {
    const c = tensor([1, 0], { dtype: 'int32' });
    await expectExact(T.where(c, tensor([5, 6], { dtype: 'int32' }), 0), 'int32', [2], [5, 0]);
    await expectExact(
      T.where(c, 0.5, tensor([5, 6], { dtype: 'int32' })),
      'float32',
      [2],
      [0.5, 6],
    );
    await expectExact(
      T.where(c, tensor([1, 2]), tensor([7, 8], { dtype: 'int32' })),
      'float32',
      [2],
      [1, 8],
    );
    await expectExact(tensor([1, 2]).where(c, -1), 'float32', [2], [1, -1]);
  });

  it('handles size-0 and rank-0', async () => {
    expect(T.where(T.zeros([0, 2]), 1, T.ones([2])).shape).toEqual([0, 2]);
    await expectExact(T.where(tensor(1), tensor(2), tensor(3)), 'float32', [], [2]);
  });
});

describeBackends('clamp', () => {
  it('clamps to [min, max], either bound optional, NaN stays NaN', async () => {
    const x = tensor([-3, -1, 0, 1, 3, NAN, INF, -INF]);
    const r = (lo: number, hi: number) => (v: number) =>
      Number.isNaN(v) ? NAN : Math.min(Math.max(v, lo), hi);
    expectClose(await x.clamp(-1, 2).data(), [-3, -1, 0, 1, 3, NAN, INF, -INF].map(r(-1, 2)), {
      rtol: 0,
      atol: 0,
    });
    expectClose(await x.clamp(0).data(), [-3, -1, 0, 1, 3, NAN, INF, -INF].map(r(0, INF)), {
      rtol: 0,
      atol: 0,
    });
    expectClose(await x.clamp(null, 0).data(), [-3, -1, 0, 1, 3, NAN, INF, -INF].map(r(-INF, 0)), {
      rtol: 0,
      atol: 0,
    });
    const same = x.clamp();
    expect(same).not.toBe(x);
    expectClose(await same.data(), await x.data(), { rtol: 0, atol: 0 });
  });

  it('keeps int32 for integer bounds and rejects min > max', async () => {
    await expectExact(
      tensor([-5, 0, 5], { dtype: 'int32' }).clamp(-1, 1),
      'int32',
      [3],
      [-1, 0, 1],
    );
    await expectExact(
      tensor([-5, 0, 5], { dtype: 'int32' }).clamp(-1.5, 1.5),
      'float32',
      [3],
      [-1.5, 0, 1.5],
    );
    expectTensorError(() => tensor([1]).clamp(2, 1), 'clamp', '2', '1');
  });
});
