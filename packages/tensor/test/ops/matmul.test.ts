import { expect, it } from 'vitest';
import * as T from '../../src/index.js';
import { type Tensor, tensor } from '../../src/index.js';
import { expectExact, expectTensor, expectTensorError } from '../helpers/assert.js';
import { describeBackends } from '../helpers/backends.js';
import { matmulRef, type Nd, ndOf, numel, transposeRef, uniform } from '../helpers/reference.js';

function nd(shape: number[], seed: number): Nd {
  return ndOf(shape, uniform(numel(shape), seed));
}
function t(x: Nd, dtype: 'float32' | 'int32' = 'float32'): Tensor {
  return tensor(Float32Array.from(x.data), { shape: x.shape, dtype });
}

/** |error| <= 1e-5 relative to Σ|a||b| (float32 dot products), checked via a loose elementwise tol. */
const TOL = { rtol: 1e-5, atol: 1e-5 };

describeBackends('matmul against a naive float64 reference', () => {
  const cases: [number[], number[]][] = [
    [[5], [5]], // 1-d · 1-d → scalar
    [[3], [3, 4]], // 1-d @ 2-d → [4]
    [[4, 3], [3]], // 2-d @ 1-d → [4]
    [[2, 3, 4], [4]], // batched @ 1-d
    [[4], [2, 4, 3]], // 1-d @ batched
    [
      [3, 4],
      [4, 5],
    ],
    [
      [1, 1],
      [1, 1],
    ],
    [
      [7, 1],
      [1, 6],
    ], // K = 1 (outer product)
    [
      [1, 9],
      [9, 1],
    ],
    [
      [5, 13],
      [13, 11],
    ], // not multiples of the 4×4 tile
    [
      [2, 3, 4],
      [2, 4, 5],
    ], // batched
    [
      [2, 3, 4],
      [4, 5],
    ], // batch × matrix (folded into one GEMM)
    [
      [3, 4],
      [2, 4, 5],
    ], // matrix × batch
    [
      [2, 1, 3, 4],
      [5, 4, 2],
    ], // batch dims broadcast: [2,1] with [5] → [2,5]
    [
      [1, 3, 2, 4],
      [2, 1, 4, 3],
    ], // both broadcast
    [
      [33, 70],
      [70, 65],
    ], // crosses the cache-block size
  ];
  for (const [sa, sb] of cases) {
    it(`${JSON.stringify(sa)} @ ${JSON.stringify(sb)}`, async () => {
      const a = nd(sa, numel(sa));
      const b = nd(sb, numel(sb) + 1);
      const y = T.matmul(t(a), t(b));
      await expectTensor(y, matmulRef(a, b), TOL);
      expect(t(a).matmul(t(b)).shape).toEqual(matmulRef(a, b).shape);
    });
  }

  it('size-0 operands: K = 0 gives zeros, M or N or batch = 0 gives empty', async () => {
    await expectExact(
      T.matmul(T.ones([2, 0]), T.ones([0, 3])),
      'float32',
      [2, 3],
      [0, 0, 0, 0, 0, 0],
    );
    await expectExact(T.matmul(T.ones([0, 4]), T.ones([4, 3])), 'float32', [0, 3], []);
    await expectExact(T.matmul(T.ones([2, 4]), T.ones([4, 0])), 'float32', [2, 0], []);
    await expectExact(T.matmul(T.ones([0, 2, 4]), T.ones([4, 3])), 'float32', [0, 2, 3], []);
    await expectExact(T.matmul(T.ones([0]), T.ones([0])), 'float32', [], [0]);
    // A batch of rows with K = 0 times a matrix.
    await expectExact(
      T.matmul(T.ones([2, 3, 0]), T.ones([0, 2])),
      'float32',
      [2, 3, 2],
      new Array(12).fill(0),
    );
  });

  it('int32 matmul is exact', async () => {
    const a = ndOf([3, 4], [1, -2, 3, 4, 5, 6, -7, 8, 9, 10, 11, -12]);
    const b = ndOf([4, 2], [1, 2, 3, 4, -5, 6, 7, 8]);
    const y = T.matmul(t(a, 'int32'), t(b, 'int32'));
    expect(y.dtype).toBe('int32');
    await expectTensor(y, matmulRef(a, b), { rtol: 0, atol: 0 });
  });

  it('int32 matmul stays exact for values above 2^24', async () => {
    const a = tensor([[16777217, 1]], { dtype: 'int32' });
    const b = tensor([[1], [2]], { dtype: 'int32' });
    await expectExact(T.matmul(a, b), 'int32', [1, 1], [16777219]);
    // Large enough for the blocked (packed) path: 8 × 64 @ 64 × 64.
    const big = new Int32Array(8 * 64);
    big[0] = 16777217;
    big[65] = -16777219;
    const eye = T.eye(64, 64, { dtype: 'int32' });
    const y = await T.matmul(tensor(big, { shape: [8, 64] }), eye).data();
    expect(y[0]).toBe(16777217);
    expect(y[65]).toBe(-16777219);
  });

  it('NaN and Inf propagate through the product', async () => {
    const y = await T.matmul(
      tensor([
        [Number.NaN, 1],
        [1, 1],
      ]),
      tensor([
        [1, 0],
        [0, 1],
      ]),
    ).data();
    expect(Number.isNaN(y[0])).toBe(true);
    expect(Number.isNaN(y[1])).toBe(true); // NaN·0 is NaN
    expect(y[2]).toBe(1);
    expect(y[3]).toBe(1);
  });
});

describeBackends('matmulT (transposed operands)', () => {
  const shapes: [number[], number[]][] = [
    [
      [3, 4],
      [4, 5],
    ],
    [
      [2, 5, 3],
      [2, 3, 6],
    ],
    [
      [2, 5, 3],
      [3, 6],
    ],
    [
      [5, 3],
      [2, 3, 6],
    ],
    [
      [1, 1],
      [1, 7],
    ],
  ];
  for (const [sa, sb] of shapes) {
    for (const ta of [false, true]) {
      for (const tb of [false, true]) {
        it(`${JSON.stringify(sa)}${ta ? 'ᵀ' : ''} @ ${JSON.stringify(sb)}${tb ? 'ᵀ' : ''}`, async () => {
          const a = nd(sa, 3);
          const b = nd(sb, 4);
          // Store the operands pre-transposed so that op(a) @ op(b) is the product of a and b.
          const aStored = ta ? transposeRef(a) : a;
          const bStored = tb ? transposeRef(b) : b;
          const y = T.matmulT(t(aStored), t(bStored), ta, tb);
          await expectTensor(y, matmulRef(a, b), TOL);
        });
      }
    }
  }

  it('rejects rank < 2', async () => {
    expectTensorError(() => T.matmulT(T.ones([3]), T.ones([3, 2])), 'matmul', '[3]');
  });
});

describeBackends('matmul errors name the op and both shapes', () => {
  it('inner size mismatch', async () => {
    expectTensorError(
      () => T.matmul(T.ones([2, 3]), T.ones([4, 5])),
      'matmul',
      '[2, 3]',
      '[4, 5]',
      '3',
      '4',
    );
    expectTensorError(() => T.matmul(T.ones([3]), T.ones([4])), 'matmul', '3', '4');
  });
  it('batch dims that do not broadcast', async () => {
    expectTensorError(() => T.matmul(T.ones([2, 3, 4]), T.ones([3, 4, 5])), 'matmul', '[2]', '[3]');
  });
  it('rank 0 and dtype mismatch', async () => {
    expectTensorError(() => T.matmul(tensor(2), T.ones([2])), 'matmul', 'rank');
    expectTensorError(
      () => T.matmul(T.ones([2, 2]), T.ones([2, 2], { dtype: 'int32' })),
      'matmul',
      'float32',
      'int32',
    );
  });
});
