import { expect, it } from 'vitest';
import * as T from '../../src/index.js';
import { Generator, tensor } from '../../src/index.js';
import { expectClose, expectExact, expectTensorError } from '../helpers/assert.js';
import { describeBackends } from '../helpers/backends.js';
import { uniform, unravel } from '../helpers/reference.js';

const NAN = Number.NaN;
const INF = Number.POSITIVE_INFINITY;

/** Softmax and log-softmax along `axis` of a row-major array, in float64, max-shifted. */
function softmaxRef(
  data: ArrayLike<number>,
  shape: number[],
  axis: number,
  log: boolean,
): number[] {
  const out = new Array<number>(data.length);
  const n = shape[axis] as number;
  const strides = shape.map((_, k) => shape.slice(k + 1).reduce((a, b) => a * b, 1));
  const step = strides[axis] as number;
  for (let i = 0; i < data.length; i++) {
    const idx = unravel(i, shape);
    if (idx[axis] !== 0) continue;
    const row = Array.from({ length: n }, (_, r) => data[i + r * step] as number);
    const m = Math.max(...row);
    const shift = Number.isFinite(m) ? m : 0;
    const s = row.reduce((a, v) => a + Math.exp(v - shift), 0);
    row.forEach((v, r) => {
      out[i + r * step] = log ? v - shift - Math.log(s) : Math.exp(v - shift) / s;
    });
  }
  return out;
}

describeBackends('softmax / logSoftmax', () => {
  it('match the reference along every axis of a 3-d tensor', async () => {
    const shape = [3, 4, 5];
    const data = uniform(60, 1, -5, 5);
    for (let axis = -3; axis < 3; axis++) {
      const a = (axis + 3) % 3;
      const x = tensor(data, { shape });
      expectClose(await T.softmax(x, axis).data(), softmaxRef(data, shape, a, false), {
        rtol: 1e-6,
        atol: 1e-7,
      });
      expectClose(await T.logSoftmax(x, axis).data(), softmaxRef(data, shape, a, true), {
        rtol: 1e-6,
        atol: 1e-6,
      });
    }
  });

  it('stay exact with scores spread over ±1e4', async () => {
    const rows = [
      [1e4, -1e4, 0, 1e4 - 1],
      [-1e4, -1e4 + 0.5, -1e4 + 1, -1e4 + 30],
      [5000, -5000, 0.25, 100],
    ];
    const data = rows.flat();
    const x = tensor(rows);
    const sm = await T.softmax(x).data();
    const lsm = await T.logSoftmax(x).data();
    expectClose(sm, softmaxRef(data, [3, 4], 1, false), { rtol: 1e-6, atol: 1e-30 });
    // log-softmax keeps the huge negative log-probabilities that softmax underflows to 0.
    expectClose(lsm, softmaxRef(data, [3, 4], 1, true), { rtol: 1e-6, atol: 1e-6 });
    expect(lsm[1]).toBeCloseTo(-2e4, 0);
    for (let r = 0; r < 3; r++) {
      const s =
        (sm[r * 4] as number) +
        (sm[r * 4 + 1] as number) +
        (sm[r * 4 + 2] as number) +
        (sm[r * 4 + 3] as number);
      expect(Math.abs(s - 1)).toBeLessThan(1e-6);
    }
  });

  it('rows with some -inf give them probability 0; all -inf rows give NaN (as PyTorch)', async () => {
    const x = tensor([
      [-INF, 0, -INF, 0],
      [-INF, -INF, -INF, -INF],
    ]);
    const sm = await T.softmax(x).data();
    expectClose(sm.slice(0, 4), [0, 0.5, 0, 0.5], { rtol: 0, atol: 0 });
    expect(Array.from(sm.slice(4)).every(Number.isNaN)).toBe(true);
    const lsm = await T.logSoftmax(x).data();
    expectClose(lsm.slice(0, 4), [-INF, -Math.LN2, -INF, -Math.LN2].map(Math.fround), {
      rtol: 1e-7,
      atol: 0,
    });
    expect(Array.from(lsm.slice(4)).every(Number.isNaN)).toBe(true);
  });

  it('+inf and NaN entries', async () => {
    const sm = await T.softmax(
      tensor([
        [INF, 0, 1],
        [NAN, 0, 1],
      ]),
    ).data();
    // exp(inf - inf) is NaN: the row is NaN, not a silent one-hot.
    expect(Number.isNaN(sm[0])).toBe(true);
    expect(Array.from(sm.slice(3)).every(Number.isNaN)).toBe(true);
  });

  it('a single element gives 1 (log 0); size-0 axes give empty results', async () => {
    await expectExact(T.softmax(tensor([[7], [-1e4]])), 'float32', [2, 1], [1, 1]);
    await expectExact(T.logSoftmax(tensor([[7], [-1e4]])), 'float32', [2, 1], [0, 0]);
    expect(T.softmax(T.zeros([2, 0])).shape).toEqual([2, 0]);
    expect(T.logSoftmax(T.zeros([2, 0]), 1).shape).toEqual([2, 0]);
    expect(T.softmax(T.zeros([0, 3])).shape).toEqual([0, 3]);
  });

  it('int32 input gives float32 probabilities', async () => {
    const y = T.softmax(tensor([1, 1], { dtype: 'int32' }));
    await expectExact(y, 'float32', [2], [0.5, 0.5]);
  });

  it('rejects a bad axis naming the op', async () => {
    expectTensorError(() => T.softmax(T.zeros([2, 3]), 2), 'softmax', '2', 'rank 2');
    expectTensorError(() => T.logSoftmax(T.zeros([2, 3]), -3), 'logSoftmax', '-3');
  });
});

describeBackends('dropout', () => {
  it('zeros about p of the elements and scales the rest by 1/(1-p)', async () => {
    const x = T.ones([100, 100]);
    const y = await T.dropout(x, 0.3, { generator: new Generator(1) }).data();
    let zeros = 0;
    for (const v of y) {
      if (v === 0) zeros++;
      else expect(v).toBeCloseTo(1 / 0.7, 6);
    }
    // 10000 Bernoulli(0.3): sd ≈ 46.
    expect(Math.abs(zeros - 3000)).toBeLessThan(250);
    // Expectation is preserved.
    let s = 0;
    for (const v of y) s += v;
    expect(Math.abs(s / 10000 - 1)).toBeLessThan(0.05);
  });

  it('keeps the values it does not drop', async () => {
    const data = uniform(1000, 5, -3, 3);
    const y = await T.dropout(tensor(data), 0.5, { generator: new Generator(2) }).data();
    for (let i = 0; i < 1000; i++) {
      const v = y[i] as number;
      if (v !== 0) expect(v).toBeCloseTo((data[i] as number) * 2, 5);
    }
  });

  it('p = 0 and eval mode are the identity; p = 1 gives zeros', async () => {
    const x = tensor([1, -2, 3]);
    expectClose(await T.dropout(x, 0).data(), [1, -2, 3], { rtol: 0, atol: 0 });
    expectClose(await T.dropout(x, 0.9, { training: false }).data(), [1, -2, 3], {
      rtol: 0,
      atol: 0,
    });
    expectClose(await T.dropout(x, 1).data(), [0, 0, 0], { rtol: 0, atol: 0 });
  });

  it('is deterministic for a seeded generator and differs between seeds', async () => {
    const x = T.ones([64]);
    const a = Array.from(await T.dropout(x, 0.5, { generator: new Generator(9) }).data());
    const b = Array.from(await T.dropout(x, 0.5, { generator: new Generator(9) }).data());
    const c = Array.from(await T.dropout(x, 0.5, { generator: new Generator(10) }).data());
    expect(b).toEqual(a);
    expect(c).not.toEqual(a);
    T.manualSeed(4);
    const d = Array.from(await T.dropout(x, 0.5).data());
    T.manualSeed(4);
    expect(Array.from(await T.dropout(x, 0.5).data())).toEqual(d);
  });

  it('gradient is the same mask, scaled', async () => {
    const x = tensor(uniform(50, 3), { requiresGrad: true });
    const y = T.dropout(x, 0.4, { generator: new Generator(3) });
    y.sum().backward();
    const g = (await x.grad?.data()) as Float32Array;
    const yv = await y.data();
    for (let i = 0; i < 50; i++) {
      expect(g[i]).toBeCloseTo(yv[i] === 0 ? 0 : 1 / 0.6, 5);
    }
  });

  it('rejects p outside [0, 1]', async () => {
    expectTensorError(() => T.dropout(T.ones([2]), 1.5), 'dropout', '1.5');
    expectTensorError(() => T.dropout(T.ones([2]), -0.1), 'dropout', '-0.1');
    expectTensorError(() => T.dropout(T.ones([2]), NAN), 'dropout', 'NaN');
  });
});
