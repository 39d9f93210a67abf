import { expect, it } from 'vitest';
import * as T from '../../src/index.js';
import { type Tensor, tensor } from '../../src/index.js';
import {
  expectExact,
  expectKernelError,
  expectTensor,
  expectTensorError,
} from '../helpers/assert.js';
import { describeBackends } from '../helpers/backends.js';
import {
  at,
  type Nd,
  ndFrom,
  ndOf,
  numel,
  ravel,
  rng,
  uniform,
  unravel,
} from '../helpers/reference.js';

const EXACT = { rtol: 0, atol: 0 };

function nd(shape: number[], seed: number): Nd {
  return ndOf(shape, uniform(numel(shape), seed));
}
function t(x: Nd): Tensor {
  return tensor(Float32Array.from(x.data), { shape: x.shape });
}
function ints(shape: number[], seed: number, high: number): { shape: number[]; data: Int32Array } {
  const r = rng(seed);
  return { shape, data: Int32Array.from({ length: numel(shape) }, () => Math.floor(r() * high)) };
}
function ti(x: { shape: number[]; data: Int32Array }): Tensor {
  return tensor(x.data, { shape: x.shape });
}

describeBackends('gather', () => {
  it('out[i][j][k] = x[..index..] along each axis, index smaller than x off the axis', async () => {
    const x = nd([3, 4, 5], 1);
    for (let axis = 0; axis < 3; axis++) {
      const idxShape = [2, 3, 4];
      idxShape[axis] = 6; // may be larger than x along the axis
      const index = ints(idxShape, axis + 10, x.shape[axis] as number);
      const want = ndFrom(idxShape, (p) => {
        const src = p.slice();
        src[axis] = index.data[ravel(p, idxShape)] as number;
        return at(x, src);
      });
      await expectTensor(T.gather(t(x), axis, ti(index)), want, {
        ...EXACT,
        what: `gather axis ${axis}`,
      });
      await expectTensor(t(x).gather(axis - 3, ti(index)), want, {
        ...EXACT,
        what: `gather axis ${axis - 3}`,
      });
    }
  });

  it('keeps int32 data and handles empty indices', async () => {
    const x = tensor(
      [
        [1, 2],
        [3, 4],
      ],
      { dtype: 'int32' },
    );
    await expectExact(
      T.gather(
        x,
        1,
        tensor(
          [
            [1, 1],
            [0, 1],
          ],
          { dtype: 'int32' },
        ),
      ),
      'int32',
      [2, 2],
      [2, 2, 3, 4],
    );
    await expectExact(T.gather(x, 1, T.zeros([2, 0], { dtype: 'int32' })), 'int32', [2, 0], []);
  });

  it('errors: out of range, negative, float index, wrong rank, too large off-axis', async () => {
    const x = T.zeros([3, 4]);
    await expectKernelError(
      () => T.gather(x, 0, tensor([[3, 0, 0, 0]], { dtype: 'int32' })),
      'gather',
      '3',
      'size 3',
    );
    await expectKernelError(
      () => T.gather(x, 1, tensor([[-1]], { dtype: 'int32' })),
      'gather',
      '-1',
    );
    expectTensorError(() => T.gather(x, 0, tensor([[0]])), 'gather', 'int32', 'float32');
    expectTensorError(
      () => T.gather(x, 0, tensor([0], { dtype: 'int32' })),
      'gather',
      '[1]',
      '[3, 4]',
    );
    expectTensorError(
      () => T.gather(x, 0, T.zeros([1, 5], { dtype: 'int32' })),
      'gather',
      '[1, 5]',
    );
    expectTensorError(() => T.gather(x, 2, T.zeros([1, 1], { dtype: 'int32' })), 'gather', '2');
    // Not a silent NaN read from a scalar.
    expectTensorError(
      () => T.gather(tensor(3), 0, tensor(0, { dtype: 'int32' })),
      'gather',
      'scalar',
    );
    expectTensorError(
      () => T.scatterAdd([], 0, tensor(0, { dtype: 'int32' }), tensor(1)),
      'scatterAdd',
      '[]',
    );
  });
});

describeBackends('scatterAdd', () => {
  it('adds src into zeros at the indexed positions; repeated indices accumulate', async () => {
    const shape = [4, 3];
    const index = tensor(
      [
        [0, 1, 0],
        [0, 1, 3],
        [2, 1, 0],
      ],
      { dtype: 'int32' },
    );
    const src = nd([3, 3], 2);
    const want = new Float64Array(12);
    for (let i = 0; i < 3; i++) {
      for (let j = 0; j < 3; j++) {
        const r = (await index.data())[i * 3 + j] as number;
        want[r * 3 + j] = want[r * 3 + j]! + at(src, [i, j]);
      }
    }
    await expectTensor(
      T.scatterAdd(shape, 0, index, t(src)),
      { shape, data: want },
      { rtol: 1e-6, atol: 1e-7 },
    );
  });

  it('along the last axis with a source larger than the index (torch semantics)', async () => {
    const src = nd([2, 5], 3);
    const index = tensor(
      [
        [2, 2],
        [0, 1],
      ],
      { dtype: 'int32' },
    );
    const want = new Float64Array(6);
    want[2] = at(src, [0, 0]) + at(src, [0, 1]);
    want[3] = at(src, [1, 0]);
    want[4] = at(src, [1, 1]);
    await expectTensor(
      T.scatterAdd([2, 3], 1, index, t(src)),
      { shape: [2, 3], data: want },
      { rtol: 1e-6, atol: 1e-7 },
    );
  });

  it('is the adjoint of gather: <gather(x, i), y> = <x, scatterAdd(i, y)>', async () => {
    const x = nd([4, 5, 3], 4);
    const index = ints([4, 7, 3], 5, 5);
    const y = nd([4, 7, 3], 6);
    const lhs = (await T.gather(t(x), 1, ti(index)).mul(t(y)).sum().data())[0]!;
    const rhs = (await T.scatterAdd([4, 5, 3], 1, ti(index), t(y)).mul(t(x)).sum().data())[0]!;
    expect(Math.abs(lhs - rhs)).toBeLessThan(1e-4);
  });

  it('errors name the op and the bad index', async () => {
    await expectKernelError(
      () => T.scatterAdd([2, 2], 0, tensor([[2, 0]], { dtype: 'int32' }), T.ones([1, 2])),
      'scatterAdd',
      '2',
    );
    expectTensorError(
      () => T.scatterAdd([2, 2], 0, tensor([[0, 0]]), T.ones([1, 2])),
      'scatterAdd',
      'int32',
    );
    expectTensorError(
      () => T.scatterAdd([2, 2], 0, T.zeros([1, 3], { dtype: 'int32' }), T.ones([1, 2])),
      'scatterAdd',
      '[1, 3]',
    );
  });
});

describeBackends('indexSelect', () => {
  it('index of any shape replaces the axis: x.shape[:a] + index.shape + x.shape[a+1:]', async () => {
    const x = nd([3, 4, 5], 7);
    const cases: [number, number[]][] = [
      [0, [2]],
      [1, [2, 3]],
      [2, [4, 1, 2]],
      [-1, []],
      [1, [0]],
    ];
    for (const [axis, idxShape] of cases) {
      const a = (axis + 3) % 3;
      const index = ints(idxShape, a + idxShape.length, x.shape[a] as number);
      const outShape = [...x.shape.slice(0, a), ...idxShape, ...x.shape.slice(a + 1)];
      const want = ndFrom(outShape, (p) => {
        const ip = p.slice(a, a + idxShape.length);
        const v = index.data[ravel(ip, idxShape)] as number;
        return at(x, [...p.slice(0, a), v, ...p.slice(a + idxShape.length)]);
      });
      await expectTensor(T.indexSelect(t(x), axis, ti(index)), want, {
        ...EXACT,
        what: `indexSelect ${axis} ${idxShape}`,
      });
    }
  });

  it('embedding lookup with repeats, int32 table', async () => {
    const table = tensor(
      [
        [1, 2],
        [3, 4],
        [5, 6],
      ],
      { dtype: 'int32' },
    );
    const ids = tensor(
      [
        [2, 0],
        [2, 2],
      ],
      { dtype: 'int32' },
    );
    await expectExact(table.indexSelect(0, ids), 'int32', [2, 2, 2], [5, 6, 1, 2, 5, 6, 5, 6]);
  });

  it('errors: out of range, negative, float index, rank 0', async () => {
    const x = T.zeros([3, 2]);
    await expectKernelError(
      () => T.indexSelect(x, 0, tensor([0, 3], { dtype: 'int32' })),
      'indexSelect',
      '3',
      'size 3',
    );
    await expectKernelError(
      () => T.indexSelect(x, 1, tensor([-1], { dtype: 'int32' })),
      'indexSelect',
      '-1',
    );
    expectTensorError(() => T.indexSelect(x, 0, tensor([0])), 'indexSelect', 'int32');
    expectTensorError(
      () => T.indexSelect(tensor(1), 0, tensor([0], { dtype: 'int32' })),
      'indexSelect',
      'rank',
    );
    expectTensorError(
      () => T.indexSelect(x, 2, tensor([0], { dtype: 'int32' })),
      'indexSelect',
      '2',
    );
  });
});

describeBackends('indexAdd', () => {
  it('adds slices at the indexed positions; repeated indices accumulate', async () => {
    const src = nd([2, 5, 3], 8); // index of shape [5] along axis 1 of a [2, 4, 3] output
    const index = tensor([3, 0, 3, 1, 3], { dtype: 'int32' });
    const want = new Float64Array(24);
    for (let p = 0; p < 30; p++) {
      const [i, j, k] = unravel(p, [2, 5, 3]) as [number, number, number];
      const r = (await index.data())[j] as number;
      const at_ = ravel([i, r, k], [2, 4, 3]);
      want[at_] = want[at_]! + (src.data[p] as number);
    }
    await expectTensor(
      T.indexAdd([2, 4, 3], 1, index, t(src)),
      { shape: [2, 4, 3], data: want },
      { rtol: 1e-6, atol: 1e-7 },
    );
  });

  it('is the adjoint of indexSelect, with a 2-d index', async () => {
    const x = nd([5, 3], 9);
    const index = ints([2, 4], 10, 5);
    const y = nd([2, 4, 3], 11);
    const lhs = (await T.indexSelect(t(x), 0, ti(index)).mul(t(y)).sum().data())[0]!;
    const rhs = (await T.indexAdd([5, 3], 0, ti(index), t(y)).mul(t(x)).sum().data())[0]!;
    expect(Math.abs(lhs - rhs)).toBeLessThan(1e-4);
  });

  it('errors: out of range index, float index, source of the wrong shape', async () => {
    await expectKernelError(
      () => T.indexAdd([3, 2], 0, tensor([3], { dtype: 'int32' }), T.ones([1, 2])),
      'indexAdd',
      '3',
    );
    expectTensorError(
      () => T.indexAdd([3, 2], 0, tensor([1]), T.ones([1, 2])),
      'indexAdd',
      'int32',
    );
    // Same element count, wrong shape: [2, 1] is not [1, 2].
    expectTensorError(
      () => T.indexAdd([3, 2], 0, tensor([1], { dtype: 'int32' }), T.ones([2, 1])),
      'indexAdd',
      '[2, 1]',
      '[1, 2]',
    );
  });
});

describeBackends('cumsum', (backend) => {
  function cumsumRef(x: Nd, axis: number, reverse: boolean, exclusive: boolean): Nd {
    return ndFrom(x.shape.slice(), (p) => {
      const n = x.shape[axis] as number;
      const i = p[axis] as number;
      let s = 0;
      for (let j = 0; j < n; j++) {
        const inRange = reverse ? (exclusive ? j > i : j >= i) : exclusive ? j < i : j <= i;
        if (!inRange) continue;
        const q = p.slice();
        q[axis] = j;
        s += at(x, q);
      }
      return s;
    });
  }

  it('forward/reverse × inclusive/exclusive along every axis', async () => {
    const x = nd([3, 4, 5], 12);
    for (let axis = -3; axis < 3; axis++) {
      for (const reverse of [false, true]) {
        for (const exclusive of [false, true]) {
          const want = cumsumRef(x, (axis + 3) % 3, reverse, exclusive);
          await expectTensor(t(x).cumsum(axis, { reverse, exclusive }), want, {
            rtol: 1e-6,
            atol: 1e-6,
            what: `cumsum ${axis} ${reverse} ${exclusive}`,
          });
        }
      }
    }
  });

  it('int32, rank 0, size 0, long sequences accumulate exactly', async () => {
    await expectExact(tensor([1, 2, 3], { dtype: 'int32' }).cumsum(), 'int32', [3], [1, 3, 6]);
    await expectExact(tensor(4).cumsum(), 'float32', [], [4]);
    expect(T.zeros([2, 0]).cumsum(1).shape).toEqual([2, 0]);
    // llvmpipe (the software adapter CI uses) stops a shader invocation after 65535 loop
    // iterations, so the webgpu backend refuses longer axes there; stay below it.
    const n = backend === 'webgpu' ? 60000 : 100000;
    const last = (await T.full([n], 0.1).cumsum().data())[n - 1] as number;
    expect(Math.abs(last - n / 10)).toBeLessThan(1e-3);
    expectTensorError(() => T.zeros([2]).cumsum(1), 'cumsum', '1');
  });
});

describeBackends('cummax', () => {
  it('running maxima with the latest index among ties', async () => {
    const { values, indices } = tensor([1, 3, 2, 3, 5, 5, 0]).cummax();
    await expectExact(values, 'float32', [7], [1, 3, 3, 3, 5, 5, 5]);
    await expectExact(indices, 'int32', [7], [0, 1, 1, 3, 4, 5, 5]);
  });

  it('NaN propagates from where it appears (as PyTorch)', async () => {
    const { values, indices } = tensor([1, Number.NaN, 5, Number.NaN, 2]).cummax();
    const v = await values.data();
    expect(v[0]).toBe(1);
    expect(Array.from(v.slice(1)).every(Number.isNaN)).toBe(true);
    // PyTorch: each NaN updates the index; values after it keep the latest NaN's index.
    await expectExact(indices, 'int32', [5], [0, 1, 1, 3, 3]);
  });

  it('along each axis against a reference, -inf first element, int32', async () => {
    const x = nd([3, 4, 5], 13);
    for (let axis = 0; axis < 3; axis++) {
      const { values, indices } = t(x).cummax(axis);
      const vi = ndFrom(x.shape.slice(), (p) => {
        let best = Number.NEGATIVE_INFINITY;
        for (let j = 0; j <= (p[axis] as number); j++) {
          const q = p.slice();
          q[axis] = j;
          best = Math.max(best, at(x, q));
        }
        return best;
      });
      await expectTensor(values, vi, EXACT);
      // The index points at an element equal to the running max.
      const idx = await indices.data();
      for (let f = 0; f < idx.length; f++) {
        const p = unravel(f, x.shape);
        p[axis] = idx[f] as number;
        expect(at(x, p)).toBe(vi.data[f]);
      }
    }
    const { values, indices } = tensor([
      Number.NEGATIVE_INFINITY,
      Number.NEGATIVE_INFINITY,
      1,
    ]).cummax();
    await expectExact(
      values,
      'float32',
      [3],
      [Number.NEGATIVE_INFINITY, Number.NEGATIVE_INFINITY, 1],
    );
    await expectExact(indices, 'int32', [3], [0, 1, 2]);
    await expectExact(
      tensor([2, 1, 4], { dtype: 'int32' }).cummax().values,
      'int32',
      [3],
      [2, 2, 4],
    );
    const r0 = tensor(3).cummax();
    await expectExact(r0.values, 'float32', [], [3]);
    await expectExact(r0.indices, 'int32', [], [0]);
  });
});
