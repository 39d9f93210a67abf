import { describe, expect, it } from 'vitest';
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

describe('tensor()', () => {
  it('infers the shape of nested arrays, row-major', () => {
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
    expectExact(t, 'float32', [2, 2, 3], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    expect(t.rank).toBe(3);
    expect(t.size).toBe(12);
    expect(t.arraySync()).toEqual([
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

  it('makes rank-0 tensors from numbers', () => {
    const t = tensor(3.5);
    expectExact(t, 'float32', [], [3.5]);
    expect(t.item()).toBe(3.5);
    expect(t.arraySync()).toBe(3.5);
    expectExact(scalar(7, { dtype: 'int32' }), 'int32', [], [7]);
  });

  it('handles empty arrays and size-0 axes', () => {
    expectExact(tensor([]), 'float32', [0], []);
    expectExact(tensor([[], []]), 'float32', [2, 0], []);
    expect(tensor([[], []]).arraySync()).toEqual([[], []]);
  });

  it('keeps the dtype of typed arrays and copies the data', () => {
    const src = new Int32Array([1, -2, 3]);
    const t = tensor(src);
    src[0] = 100;
    expectExact(t, 'int32', [3], [1, -2, 3]);
    const f = new Float32Array([0.5, 1.5, 2.5, 3.5, 4.5, 5.5]);
    const g = tensor(f, { shape: [2, 3] });
    f[0] = 9;
    expectExact(g, 'float32', [2, 3], [0.5, 1.5, 2.5, 3.5, 4.5, 5.5]);
    // dataSync returns a copy: mutating it does not change the tensor.
    const d = g.dataSync();
    d[1] = 42;
    expect(g.dataSync()[1]).toBe(1.5);
  });

  it('converts between dtypes on request (int32 truncates toward zero)', () => {
    expectExact(tensor([1.7, -1.7, 2.5, -0.2], { dtype: 'int32' }), 'int32', [4], [1, -1, 2, 0]);
    expectExact(tensor(new Float32Array([3.9, -3.9]), { dtype: 'int32' }), 'int32', [2], [3, -3]);
    expectExact(tensor(new Int32Array([3, -4]), { dtype: 'float32' }), 'float32', [2], [3, -4]);
  });

  it('rounds JS numbers to float32', () => {
    expect(tensor([0.1]).dataSync()[0]).toBe(Math.fround(0.1));
    expect(tensor([1e-46]).dataSync()[0]).toBe(0);
    expect(tensor([1e39]).dataSync()[0]).toBe(Number.POSITIVE_INFINITY);
  });

  it('keeps NaN, ±Inf and -0', () => {
    const d = tensor([
      Number.NaN,
      Number.POSITIVE_INFINITY,
      Number.NEGATIVE_INFINITY,
      -0,
    ]).dataSync();
    expect(Number.isNaN(d[0])).toBe(true);
    expect(d[1]).toBe(Number.POSITIVE_INFINITY);
    expect(d[2]).toBe(Number.NEGATIVE_INFINITY);
    expect(Object.is(d[3], -0)).toBe(true);
  });

  it('reshapes flat data with the shape option', () => {
    expectExact(
      tensor([1, 2, 3, 4, 5, 6], { shape: [3, 2] }),
      'float32',
      [3, 2],
      [1, 2, 3, 4, 5, 6],
    );
    expectExact(tensor([5], { shape: [] }), 'float32', [], [5]);
  });

  it('rejects ragged nested arrays, naming the depth and sizes', () => {
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

  it('rejects non-numbers', () => {
    expectTensorError(() => tensor(['a'] as never), 'tensor');
    expectTensorError(() => tensor([null] as never), 'tensor');
    expectTensorError(() => tensor(new Float64Array(3) as never), 'tensor', 'Float64Array');
  });

  it('rejects shapes that do not match the data, showing both', () => {
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

  it('sets requiresGrad on request, and only on float32', () => {
    expect(tensor([1, 2], { requiresGrad: true }).requiresGrad).toBe(true);
    expect(tensor([1, 2]).requiresGrad).toBe(false);
    expectTensorError(
      () => tensor([1, 2], { dtype: 'int32', requiresGrad: true }),
      'requiresGrad',
      'int32',
    );
  });
});

describe('filled tensors', () => {
  it('zeros, ones, full with shapes and dtypes', () => {
    expectExact(zeros([2, 3]), 'float32', [2, 3], [0, 0, 0, 0, 0, 0]);
    expectExact(ones([3], { dtype: 'int32' }), 'int32', [3], [1, 1, 1]);
    expectExact(full([2, 2], -2.5), 'float32', [2, 2], [-2.5, -2.5, -2.5, -2.5]);
    expectExact(full([], 4), 'float32', [], [4]);
    expectExact(zeros([0, 5]), 'float32', [0, 5], []);
    expectExact(full([2], 7, { dtype: 'int32' }), 'int32', [2], [7, 7]);
    const n = full([2], Number.NaN).dataSync();
    expect(Number.isNaN(n[0]) && Number.isNaN(n[1])).toBe(true);
  });

  it('rejects bad shapes', () => {
    expectTensorError(() => zeros([2, -1]), 'full', '-1');
    expectTensorError(() => ones([1.5]), 'full', '1.5');
    expectTensorError(() => zeros(3 as never), 'full', 'shape');
  });

  it('*Like copy shape, dtype and allow overrides', () => {
    const i = tensor([[1, 2, 3]], { dtype: 'int32' });
    expectExact(zerosLike(i), 'int32', [1, 3], [0, 0, 0]);
    expectExact(onesLike(i), 'int32', [1, 3], [1, 1, 1]);
    expectExact(fullLike(i, 5, { dtype: 'float32' }), 'float32', [1, 3], [5, 5, 5]);
    expectExact(onesLike(tensor(2)), 'float32', [], [1]);
  });
});

describe('ranges', () => {
  it('arange: int32 for integer arguments, float32 otherwise, NumPy lengths', () => {
    expectExact(arange(5), 'int32', [5], [0, 1, 2, 3, 4]);
    expectExact(arange(2, 7, 2), 'int32', [3], [2, 4, 6]);
    expectExact(arange(5, 0, -2), 'int32', [3], [5, 3, 1]);
    expectExact(arange(3, 3), 'int32', [0], []);
    expectExact(arange(3, 1), 'int32', [0], []);
    const f = arange(0, 1, 0.25);
    expectExact(f, 'float32', [4], [0, 0.25, 0.5, 0.75]);
    // NumPy: ceil((1 - 0) / 0.1) = 10 values.
    expect(arange(0, 1, 0.1).shape).toEqual([10]);
    expectClose(
      arange(0, 1, 0.1).dataSync(),
      Array.from({ length: 10 }, (_, i) => i * 0.1),
    );
    expectExact(arange(0, 3, 1, { dtype: 'float32' }), 'float32', [3], [0, 1, 2]);
  });

  it('arange rejects a zero or non-finite step', () => {
    expectTensorError(() => arange(0, 5, 0), 'arange', 'step', '0');
    expectTensorError(() => arange(0, 5, Number.NaN), 'arange', 'NaN');
    expectTensorError(() => arange(0, Number.POSITIVE_INFINITY), 'arange', 'Infinity');
    expectTensorError(() => arange(Number.NaN), 'arange', 'NaN');
  });

  it('linspace includes both ends', () => {
    expectClose(linspace(0, 1, 5).dataSync(), [0, 0.25, 0.5, 0.75, 1]);
    expectClose(linspace(-1, 1, 3).dataSync(), [-1, 0, 1]);
    expectExact(linspace(2, 5, 1), 'float32', [1], [2]);
    expectExact(linspace(2, 5, 0), 'float32', [0], []);
    const l = linspace(-3, 7, 11).dataSync();
    expect(l[10]).toBe(7);
    expectClose(
      l,
      Array.from({ length: 11 }, (_, i) => -3 + i),
    );
    expectTensorError(() => linspace(0, 1, -1), 'linspace', '-1');
    expectTensorError(() => linspace(0, 1, 2.5), 'linspace', '2.5');
  });

  it('eye: square, rectangular, int32', () => {
    expectExact(eye(3), 'float32', [3, 3], [1, 0, 0, 0, 1, 0, 0, 0, 1]);
    expectExact(eye(2, 3), 'float32', [2, 3], [1, 0, 0, 0, 1, 0]);
    expectExact(eye(3, 2, { dtype: 'int32' }), 'int32', [3, 2], [1, 0, 0, 1, 0, 0]);
    expectExact(eye(0), 'float32', [0, 0], []);
    expectTensorError(() => eye(-1), 'eye', '-1');
  });
});
