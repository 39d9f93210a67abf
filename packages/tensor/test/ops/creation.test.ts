import { expect, it } from 'vitest';
import {
  arange,
  eye,
  full,
  fullLike,
  linspace,
  ones,
  onesLike,
  scalar,
  tensor,
  zeros,
  zerosLike,
} from '../../src/index.js';
import { expectClose, expectExact, expectTensorError } from '../helpers/assert.js';
import { describeBackends } from '../helpers/backends.js';

describeBackends('tensor()', () => {
  it('infers the shape of nested arrays, row-major', async () => {
    const t = tensor([
      [
        [1, 2, 3],
        [4, 5, 6],
      ],
      [
        [7, 8, 9],
        [10, 11, 12],
      ],
    ]);
    await expectExact(t, 'float32', [2, 2, 3], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    expect(t.rank).toBe(3);
    expect(t.size).toBe(12);
    expect(await t.array()).toEqual([
      [
        [1, 2, 3],
        [4, 5, 6],
      ],
      [
        [7, 8, 9],
        [10, 11, 12],
      ],
    ]);
  });

  it('makes rank-0 tensors from numbers', async () => {
    const t = tensor(3.5);
    await expectExact(t, 'float32', [], [3.5]);
    expect((await t.data())[0]).toBe(3.5);
    expect(await t.array()).toBe(3.5);
    await expectExact(scalar(7, { dtype: 'int32' }), 'int32', [], [7]);
  });

  it('handles empty arrays and size-0 axes', async () => {
    await expectExact(tensor([]), 'float32', [0], []);
    await expectExact(tensor([[], []]), 'float32', [2, 0], []);
    expect(await tensor([[], []]).array()).toEqual([[], []]);
  });

  it('keeps the dtype of typed arrays and copies the data', async () => {
    const src = new Int32Array([1, -2, 3]);
    const t = tensor(src);
    src[0] = 100;
    await expectExact(t, 'int32', [3], [1, -2, 3]);
    const f = new Float32Array([0.5, 1.5, 2.5, 3.5, 4.5, 5.5]);
    const g = tensor(f, { shape: [2, 3] });
    f[0] = 9;
    await expectExact(g, 'float32', [2, 3], [0.5, 1.5, 2.5, 3.5, 4.5, 5.5]);
    // dataSync returns a copy: mutating it does not change the tensor.
    const d = await g.data();
    d[1] = 42;
    expect((await g.data())[1]).toBe(1.5);
  });

  it('converts between dtypes on request (int32 truncates toward zero)', async () => {
    await expectExact(
      tensor([1.7, -1.7, 2.5, -0.2], { dtype: 'int32' }),
      'int32',
      [4],
      [1, -1, 2, 0],
    );
    await expectExact(
      tensor(new Float32Array([3.9, -3.9]), { dtype: 'int32' }),
      'int32',
      [2],
      [3, -3],
    );
    await expectExact(
      tensor(new Int32Array([3, -4]), { dtype: 'float32' }),
      'float32',
      [2],
      [3, -4],
    );
  });

  it('rounds JS numbers to float32', async () => {
    expect((await tensor([0.1]).data())[0]).toBe(Math.fround(0.1));
    expect((await tensor([1e-46]).data())[0]).toBe(0);
    expect((await tensor([1e39]).data())[0]).toBe(Number.POSITIVE_INFINITY);
  });

  it('keeps NaN, ±Inf and -0', async () => {
    const d = await tensor([
      Number.NaN,
      Number.POSITIVE_INFINITY,
      Number.NEGATIVE_INFINITY,
      -0,
    ]).data();
    expect(Number.isNaN(d[0])).toBe(true);
    expect(d[1]).toBe(Number.POSITIVE_INFINITY);
    expect(d[2]).toBe(Number.NEGATIVE_INFINITY);
    expect(Object.is(d[3], -0)).toBe(true);
  });

  it('reshapes flat data with the shape option', async () => {
    await expectExact(
      tensor([1, 2, 3, 4, 5, 6], { shape: [3, 2] }),
      'float32',
      [3, 2],
      [1, 2, 3, 4, 5, 6],
    );
    await expectExact(tensor([5], { shape: [] }), 'float32', [], [5]);
  });

  it('rejects ragged nested arrays, naming the depth and sizes', async () => {
    expectTensorError(() => tensor([[1, 2], [3]]), 'tensor', 'ragged', '2', '1');
    expectTensorError(() => tensor([[1, 2], 3] as never), 'tensor', 'ragged');
    expectTensorError(() => tensor([1, [2, 3]] as never), 'tensor', 'ragged');
    expectTensorError(
      () =>
        tensor([
          [[1], [2]],
          [[3], [4, 5]],
        ]),
      'tensor',
      'ragged',
    );
    expectTensorError(() => tensor([[], [1]]), 'tensor', 'ragged');
  });

  it('rejects non-numbers', async () => {
    expectTensorError(() => tensor(['a'] as never), 'tensor');
    expectTensorError(() => tensor([null] as never), 'tensor');
    expectTensorError(() => tensor(new Float64Array(3) as never), 'tensor', 'Float64Array');
  });

  it('rejects shapes that do not match the data, showing both', async () => {
    expectTensorError(() => tensor([1, 2, 3], { shape: [2, 2] }), 'tensor', '[2, 2]', '4', '3');
    expectTensorError(
      () => tensor(new Float32Array(5), { shape: [2, 3] }),
      'tensor',
      '[2, 3]',
      '5',
    );
    expectTensorError(() => tensor([1, 2], { shape: [-1, 2] }), 'tensor', '-1');
    expectTensorError(() => tensor([1, 2], { shape: [2.5] }), 'tensor', '2.5');
    expectTensorError(() => tensor([1], { dtype: 'float64' as never }), 'tensor', 'float64');
  });

  it('sets requiresGrad on request, and only on float32', async () => {
    expect(tensor([1, 2], { requiresGrad: true }).requiresGrad).toBe(true);
    expect(tensor([1, 2]).requiresGrad).toBe(false);
    expectTensorError(
      () => tensor([1, 2], { dtype: 'int32', requiresGrad: true }),
      'requiresGrad',
      'int32',
    );
  });
});

describeBackends('filled tensors', () => {
  it('zeros, ones, full with shapes and dtypes', async () => {
    await expectExact(zeros([2, 3]), 'float32', [2, 3], [0, 0, 0, 0, 0, 0]);
    await expectExact(ones([3], { dtype: 'int32' }), 'int32', [3], [1, 1, 1]);
    await expectExact(full([2, 2], -2.5), 'float32', [2, 2], [-2.5, -2.5, -2.5, -2.5]);
    await expectExact(full([], 4), 'float32', [], [4]);
    await expectExact(zeros([0, 5]), 'float32', [0, 5], []);
    await expectExact(full([2], 7, { dtype: 'int32' }), 'int32', [2], [7, 7]);
    const n = await full([2], Number.NaN).data();
    expect(Number.isNaN(n[0]) && Number.isNaN(n[1])).toBe(true);
  });

  it('rejects bad shapes', async () => {
    expectTensorError(() => zeros([2, -1]), 'full', '-1');
    expectTensorError(() => ones([1.5]), 'full', '1.5');
    expectTensorError(() => zeros(3 as never), 'full', 'shape');
  });

  it('*Like copy shape, dtype and allow overrides', async () => {
    const i = tensor([[1, 2, 3]], { dtype: 'int32' });
    await expectExact(zerosLike(i), 'int32', [1, 3], [0, 0, 0]);
    await expectExact(onesLike(i), 'int32', [1, 3], [1, 1, 1]);
    await expectExact(fullLike(i, 5, { dtype: 'float32' }), 'float32', [1, 3], [5, 5, 5]);
    await expectExact(onesLike(tensor(2)), 'float32', [], [1]);
  });
});

describeBackends('ranges', () => {
  it('arange: int32 for integer arguments, float32 otherwise, NumPy lengths', async () => {
    await expectExact(arange(5), 'int32', [5], [0, 1, 2, 3, 4]);
    await expectExact(arange(2, 7, 2), 'int32', [3], [2, 4, 6]);
    await expectExact(arange(5, 0, -2), 'int32', [3], [5, 3, 1]);
    await expectExact(arange(3, 3), 'int32', [0], []);
    await expectExact(arange(3, 1), 'int32', [0], []);
    const f = arange(0, 1, 0.25);
    await expectExact(f, 'float32', [4], [0, 0.25, 0.5, 0.75]);
    // NumPy: ceil((1 - 0) / 0.1) = 10 values.
    expect(arange(0, 1, 0.1).shape).toEqual([10]);
    expectClose(
      await arange(0, 1, 0.1).data(),
      Array.from({ length: 10 }, (_, i) => i * 0.1),
    );
    await expectExact(arange(0, 3, 1, { dtype: 'float32' }), 'float32', [3], [0, 1, 2]);
  });

  it('arange rejects a zero or non-finite step', async () => {
    expectTensorError(() => arange(0, 5, 0), 'arange', 'step', '0');
    expectTensorError(() => arange(0, 5, Number.NaN), 'arange', 'NaN');
    expectTensorError(() => arange(0, Number.POSITIVE_INFINITY), 'arange', 'Infinity');
    expectTensorError(() => arange(Number.NaN), 'arange', 'NaN');
  });

  it('linspace includes both ends', async () => {
    expectClose(await linspace(0, 1, 5).data(), [0, 0.25, 0.5, 0.75, 1]);
    expectClose(await linspace(-1, 1, 3).data(), [-1, 0, 1]);
    await expectExact(linspace(2, 5, 1), 'float32', [1], [2]);
    await expectExact(linspace(2, 5, 0), 'float32', [0], []);
    const l = await linspace(-3, 7, 11).data();
    expect(l[10]).toBe(7);
    expectClose(
      l,
      Array.from({ length: 11 }, (_, i) => -3 + i),
    );
    expectTensorError(() => linspace(0, 1, -1), 'linspace', '-1');
    expectTensorError(() => linspace(0, 1, 2.5), 'linspace', '2.5');
  });

  it('eye: square, rectangular, int32', async () => {
    await expectExact(eye(3), 'float32', [3, 3], [1, 0, 0, 0, 1, 0, 0, 0, 1]);
    await expectExact(eye(2, 3), 'float32', [2, 3], [1, 0, 0, 0, 1, 0]);
    await expectExact(eye(3, 2, { dtype: 'int32' }), 'int32', [3, 2], [1, 0, 0, 1, 0, 0]);
    await expectExact(eye(0), 'float32', [0, 0], []);
    expectTensorError(() => eye(-1), 'eye', '-1');
  });
});
