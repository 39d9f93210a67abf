import { expect, it } from 'vitest';
import { layerNorm, type Tensor, tensor } from '../../src/index.js';
import { expectClose, expectTensorError } from '../helpers/assert.js';
import { describeBackends } from '../helpers/backends.js';
import { gradcheck } from '../helpers/gradcheck.js';
import { numel, uniform } from '../helpers/reference.js';

/** The definition in float64: per row of n, (x − mean) / √(var + eps) · w + b (population var). */
function reference(
  x: ArrayLike<number>,
  n: number,
  w: ArrayLike<number> | null,
  b: ArrayLike<number> | null,
  eps: number,
): Float64Array {
  const y = new Float64Array(x.length);
  for (let r = 0; r < x.length / n; r++) {
    let mean = 0;
    for (let j = 0; j < n; j++) mean += x[r * n + j] as number;
    mean /= n;
    let v = 0;
    for (let j = 0; j < n; j++) v += ((x[r * n + j] as number) - mean) ** 2;
    const rstd = 1 / Math.sqrt(v / n + eps);
    for (let j = 0; j < n; j++) {
      y[r * n + j] =
        ((x[r * n + j] as number) - mean) * rstd * (w ? (w[j] as number) : 1) +
        (b ? (b[j] as number) : 0);
    }
  }
  return y;
}

interface Case {
  shape: number[];
  norm: number[];
  affine: 0 | 1 | 2;
  eps?: number;
}

const CASES: Case[] = [
  { shape: [2, 3, 5], norm: [5], affine: 2 },
  { shape: [4, 2, 3], norm: [2, 3], affine: 2 }, // two normalised axes
  { shape: [3, 7], norm: [7], affine: 1, eps: 1e-3 }, // weight only, prime n
  { shape: [5, 4], norm: [4], affine: 0 },
  { shape: [1, 1], norm: [1], affine: 2 }, // n = 1: variance 0, y = bias
  { shape: [260, 2], norm: [2], affine: 2 }, // rows cross a 256-thread workgroup
  { shape: [2, 260], norm: [260], affine: 2 }, // the parameter-gradient threads cross it too
];

function args(c: Case, seed: number, spread = 2) {
  const n = numel(c.norm);
  const x = uniform(numel(c.shape), seed, -spread, spread);
  const w = c.affine >= 1 ? uniform(n, seed + 1, 0.5, 1.5) : null;
  const b = c.affine === 2 ? uniform(n, seed + 2) : null;
  return { n, x, w, b };
}

const label = (c: Case) =>
  `x [${c.shape}], normalised [${c.norm}], ${['no affine', 'weight', 'weight and bias'][c.affine]}`;

describeBackends('layerNorm (fused)', () => {
  for (const c of CASES) {
    it(`matches the float64 definition: ${label(c)}`, async () => {
      const { n, x, w, b } = args(c, 3);
      const y = layerNorm(
        tensor(x, { shape: c.shape }),
        c.norm,
        w && tensor(w, { shape: c.norm }),
        b && tensor(b, { shape: c.norm }),
        c.eps,
      );
      expect(y.shape).toEqual(c.shape);
      expectClose(await y.data(), reference(x, n, w, b, c.eps ?? 1e-5), { rtol: 1e-5, atol: 2e-5 });
    });
  }

  it('is exact for any finite input: rows of |x| from 1e-30 to 3e38 and constant rows', async () => {
    const n = 6;
    const rows: number[] = [];
    for (const scale of [1e-30, 1e-3, 1e19, 1e25, 1e35, 3e38]) {
      rows.push(
        ...Array.from(uniform(n, 40 + rows.length, -0.4, 0.4), (v) => Math.fround(v * scale)),
      );
    }
    rows.push(1e30, -1e30, 1e30, -1e30, 1e30, 1e30);
    rows.push(3e38, 3e38, 3e38, 3e38, 3e38, 3e38); // constant: every x̂ is 0
    const x = Float32Array.from(rows);
    const w = uniform(n, 50, 0.5, 1.5);
    const b = uniform(n, 51);
    const xt = tensor(x, { shape: [x.length / n, n], requiresGrad: true });
    const y = layerNorm(xt, [n], tensor(w), tensor(b));
    expectClose(await y.data(), reference(x, n, w, b, 1e-5), { rtol: 1e-4, atol: 1e-4 });
    y.sum().backward();
    expect(Array.from(await (xt.grad as Tensor).data()).every(Number.isFinite)).toBe(true);
  });

  for (const c of CASES.slice(0, 5)) {
    it(`gradients by finite differences: ${label(c)}`, async () => {
      const { x, w, b } = args(c, 7, 1);
      const inputs = [{ shape: c.shape, data: x }];
      if (w) inputs.push({ shape: c.norm, data: w });
      if (b) inputs.push({ shape: c.norm, data: b });
      await gradcheck(
        (xt, wt, bt) => layerNorm(xt!, c.norm, wt ?? null, bt ?? null, c.eps),
        inputs,
        {
          name: label(c),
        },
      );
    });
  }

  it('gradients across workgroup boundaries equal the float64 formula', async () => {
    // x̂ rows of 260 and 260 rows: dx per row, and dweight / dbias per column, in float64.
    for (const c of CASES.slice(5)) {
      const { n, x, w, b } = args(c, 9);
      const dy = uniform(x.length, 12);
      const xt = tensor(x, { shape: c.shape, requiresGrad: true });
      const wt = tensor(w as Float32Array, { shape: c.norm, requiresGrad: true });
      const bt = tensor(b as Float32Array, { shape: c.norm, requiresGrad: true });
      layerNorm(xt, c.norm, wt, bt).backward(tensor(dy, { shape: c.shape }));
      const rows = x.length / n;
      const dx = new Float64Array(x.length);
      const dw = new Float64Array(n);
      const db = new Float64Array(n);
      const xhat = reference(x, n, null, null, 1e-5);
      for (let r = 0; r < rows; r++) {
        let mean = 0;
        for (let j = 0; j < n; j++) mean += x[r * n + j] as number;
        mean /= n;
        let v = 0;
        for (let j = 0; j < n; j++) v += ((x[r * n + j] as number) - mean) ** 2;
        const rstd = 1 / Math.sqrt(v / n + 1e-5);
        let ga = 0;
        let gb = 0;
        for (let j = 0; j < n; j++) {
          const g = (dy[r * n + j] as number) * (w?.[j] as number);
          ga += g / n;
          gb += (g * (xhat[r * n + j] as number)) / n;
          dw[j] = (dw[j] as number) + (dy[r * n + j] as number) * (xhat[r * n + j] as number);
          db[j] = (db[j] as number) + (dy[r * n + j] as number);
        }
        for (let j = 0; j < n; j++) {
          const g = (dy[r * n + j] as number) * (w?.[j] as number);
          dx[r * n + j] = rstd * (g - ga - (xhat[r * n + j] as number) * gb);
        }
      }
      expectClose(await (xt.grad as Tensor).data(), dx, { rtol: 1e-4, atol: 1e-4, what: 'dx' });
      expectClose(await (wt.grad as Tensor).data(), dw, { rtol: 1e-4, atol: 1e-4, what: 'dw' });
      expectClose(await (bt.grad as Tensor).data(), db, { rtol: 1e-4, atol: 1e-4, what: 'db' });
    }
  });

  it('names what was expected on bad input', () => {
    const x = tensor(uniform(6, 1), { shape: [2, 3] });
    expectTensorError(
      () => layerNorm(x, [2]),
      'layerNorm',
      /\[\.\.\., 2\] \(normalizedShape\), got \[2, 3\]/,
    );
    expectTensorError(
      () => layerNorm(x, [3], tensor([1, 2])),
      'layerNorm',
      /weight of shape \[3\]/,
    );
    expectTensorError(() => layerNorm(x, [3], null, tensor([1, 2, 3])), 'layerNorm', /bias only/);
    expectTensorError(() => layerNorm(x, [3], null, null, -1), 'layerNorm', /eps >= 0/);
  });
});
