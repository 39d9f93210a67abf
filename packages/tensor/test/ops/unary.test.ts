import { expect, it } from 'vitest';
import * as T from '../../src/index.js';
import { type Tensor, tensor } from '../../src/index.js';
import { expectClose, expectExact } from '../helpers/assert.js';
import { describeBackends } from '../helpers/backends.js';
import {
  erfRef,
  geluRef,
  roundHalfEvenRef,
  sigmoidRef,
  softplusRef,
  uniform,
} from '../helpers/reference.js';

const INF = Number.POSITIVE_INFINITY;
const NAN = Number.NaN;

/** Extreme and ordinary inputs every unary op is run on. */
const EXTREME = [
  0,
  -0,
  1e-30,
  -1e-30,
  1e-40, // float32 subnormal
  1e-7,
  -1e-7,
  0.3,
  -0.3,
  0.5,
  -0.5,
  1,
  -1,
  2.5,
  -2.5,
  10,
  -10,
  30,
  -30,
  88,
  -88,
  100,
  -100,
  1e4,
  -1e4,
  3e38,
  -3e38,
  INF,
  -INF,
  NAN,
];

const f32 = (xs: readonly number[]) => Array.from(Float32Array.from(xs));

interface Case {
  name: string;
  op: (x: Tensor) => Tensor;
  ref: (x: number) => number;
  rtol?: number;
  atol?: number;
  /** Inputs to leave out (outside the domain the reference handles). */
  skip?: (x: number) => boolean;
  signedZero?: boolean;
}

const CASES: Case[] = [
  { name: 'neg', op: T.neg, ref: (x) => -x, rtol: 0, atol: 0, signedZero: true },
  { name: 'abs', op: T.abs, ref: Math.abs, rtol: 0, atol: 0, signedZero: true },
  { name: 'sign', op: T.sign, ref: Math.sign, rtol: 0, atol: 0 },
  { name: 'exp', op: T.exp, ref: Math.exp, atol: 1e-45 },
  { name: 'expm1', op: T.expm1, ref: Math.expm1, atol: 1e-45, signedZero: true },
  { name: 'log', op: T.log, ref: Math.log },
  { name: 'log1p', op: T.log1p, ref: Math.log1p, atol: 1e-45, signedZero: true },
  { name: 'sqrt', op: T.sqrt, ref: Math.sqrt, signedZero: true },
  { name: 'rsqrt', op: T.rsqrt, ref: (x) => 1 / Math.sqrt(x) },
  { name: 'sin', op: T.sin, ref: Math.sin, atol: 1e-45, skip: (x) => Math.abs(x) > 1e5 },
  { name: 'cos', op: T.cos, ref: Math.cos, atol: 1e-45, skip: (x) => Math.abs(x) > 1e5 },
  { name: 'tanh', op: T.tanh, ref: Math.tanh, atol: 1e-45, signedZero: true },
  { name: 'erf', op: T.erf, ref: erfRef, rtol: 1e-6, atol: 1e-45, signedZero: true },
  { name: 'sigmoid', op: T.sigmoid, ref: sigmoidRef, atol: 1e-45 },
  { name: 'relu', op: T.relu, ref: (x) => Math.max(x, 0), rtol: 0, atol: 0 },
  // gelu(-inf) is -inf·0: NaN in PyTorch too (the limit, 0, is not what x·Φ(x) evaluates to).
  { name: 'gelu', op: T.gelu, ref: geluRef, rtol: 1e-6, atol: 1e-45, skip: (x) => x === -INF },
  {
    name: 'silu',
    op: T.silu,
    ref: (x) => x * sigmoidRef(x),
    atol: 1e-45,
    skip: (x) => x === -INF,
  },
  { name: 'softplus', op: T.softplus, ref: softplusRef, atol: 1e-45 },
  { name: 'square', op: T.square, ref: (x) => x * x, atol: 1e-45 },
  { name: 'reciprocal', op: T.reciprocal, ref: (x) => 1 / x, signedZero: true },
  { name: 'floor', op: T.floor, ref: Math.floor, rtol: 0, atol: 0 },
  { name: 'ceil', op: T.ceil, ref: Math.ceil, rtol: 0, atol: 0 },
  { name: 'round', op: T.round, ref: roundHalfEvenRef, rtol: 0, atol: 0 },
  { name: 'isnan', op: T.isnan, ref: (x) => (Number.isNaN(x) ? 1 : 0), rtol: 0, atol: 0 },
  { name: 'isfinite', op: T.isfinite, ref: (x) => (Number.isFinite(x) ? 1 : 0), rtol: 0, atol: 0 },
];

/** float32 subnormals: WGSL lets GPUs flush them to zero, in inputs and in results. */
const subnormal = (v: number) => v !== 0 && Math.abs(v) < 1.1754943508222875e-38;

/**
 * Tolerances on webgpu: float math is the GPU's float32 (our exp, log, tanh, erf, … formulas are
 * within a few ulps, not correctly rounded like the CPU's float64 math), so relative 1e-6 (2e-6
 * for gelu) where the CPU is held to 2e-7; exact results stay exact.
 */
function gpuRtol(backend: string, rtol: number | undefined, name: string): number {
  const base = rtol ?? 2e-7;
  if (backend !== 'webgpu' || base === 0) return base;
  return Math.max(base, name === 'gelu' ? 2e-6 : 1e-6);
}

describeBackends('unary ops against float64 references', (backend) => {
  for (const c of CASES) {
    it(`${c.name}: extreme inputs (±1e4, ±Inf, NaN, -0, tiny, huge)`, async () => {
      const xs = f32(EXTREME)
        .filter((x) => !c.skip?.(x))
        .filter(
          (x) =>
            backend !== 'webgpu' ||
            (!subnormal(x) && !subnormal(Math.fround(c.ref(x))) && c.name !== 'log') ||
            (c.name === 'log' && !subnormal(x)),
        );
      const y = c.op(tensor(xs));
      expect(y.shape).toEqual([xs.length]);
      // The float64 reference, rounded to float32 (what a correctly rounded kernel returns).
      const want = xs.map((x) => Math.fround(c.ref(x)));
      expectClose(await y.data(), want, {
        rtol: gpuRtol(backend, c.rtol, c.name),
        atol: c.atol ?? 0,
        signedZero: c.signedZero,
        what: c.name,
      });
    });

    it(`${c.name}: 2000 random inputs over a wide range`, async () => {
      const xs = Array.from(uniform(2000, c.name.length * 31 + 7, -12, 12));
      if (['log', 'sqrt', 'rsqrt'].includes(c.name))
        for (let i = 0; i < xs.length; i++) xs[i] = Math.fround(Math.abs(xs[i] as number) + 1e-3);
      if (c.name === 'log1p')
        for (let i = 0; i < xs.length; i++) xs[i] = Math.fround(Math.abs(xs[i] as number) - 0.999);
      const y = c.op(tensor(xs, { shape: [40, 50] }));
      expect(y.shape).toEqual([40, 50]);
      const want = xs.map((x) => Math.fround(c.ref(x)));
      expectClose(await y.data(), want, {
        rtol: gpuRtol(backend, c.rtol, c.name),
        atol: c.atol ?? 0,
        what: c.name,
      });
    });
  }
});

describeBackends('accuracy of the special functions', (backend) => {
  it('erf is accurate to 1e-6 relative across the range, including tiny and near-one values', async () => {
    const xs: number[] = [];
    for (let i = -600; i <= 600; i++) xs.push(i / 100);
    for (let e = -38; e <= -1; e++) xs.push(10 ** e, -(10 ** e));
    const x32 = f32(xs);
    expectClose(await T.erf(tensor(x32)).data(), x32.map(erfRef), {
      rtol: 1e-6,
      atol: 0,
      what: 'erf',
    });
  });

  it('gelu is exact GELU x·Φ(x) to 1e-6 relative, in both tails', async () => {
    const xs: number[] = [];
    for (let i = -1300; i <= 1300; i++) xs.push(i / 100);
    xs.push(1e-20, -1e-20, 1e-6, -1e-6);
    const x32 = f32(xs);
    const got = await T.gelu(tensor(x32)).data();
    expectClose(got, x32.map(geluRef), {
      rtol: gpuRtol(backend, 1e-6, 'gelu'),
      atol: 1e-44,
      what: 'gelu',
    });
    // Not the tanh approximation: at x = 1 they differ by ~1.5e-4.
    expect(Math.abs((got[1400] as number) - geluRef(1))).toBeLessThan(1e-6);
  });

  it('sigmoid, softplus and silu do not overflow at ±1e4 and ±88..±100', async () => {
    const xs = f32([-1e4, -1000, -100, -89, -88, 88, 89, 100, 1000, 1e4]);
    const s = await T.sigmoid(tensor(xs)).data();
    const sp = await T.softplus(tensor(xs)).data();
    const si = await T.silu(tensor(xs)).data();
    for (let i = 0; i < xs.length; i++) {
      expect(Number.isFinite(s[i] as number)).toBe(true);
      expect(Number.isFinite(sp[i] as number)).toBe(true);
      expect(Number.isFinite(si[i] as number)).toBe(true);
    }
    expect(s[0]).toBe(0);
    expect(s[9]).toBe(1);
    expect(sp[9]).toBe(1e4);
    expect(sp[0]).toBe(0);
    expect(si[9]).toBe(1e4);
    expect(si[0] === 0).toBe(true);
    // softplus keeps the tiny tail exp(x) instead of flushing log1p(exp(x)) too early.
    expectClose(await T.softplus(tensor([-30, -50])).data(), f32([Math.exp(-30), Math.exp(-50)]), {
      rtol: 1e-6,
    });
  });

  it('round is half-to-even; floor/ceil/round keep int32', async () => {
    await expectExact(
      T.round(tensor([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 2.4999, 2.5001, -3.5])),
      'float32',
      [9],
      [0, 2, 2, -0, -2, -2, 2, 3, -4],
    );
    for (const op of [T.floor, T.ceil, T.round, T.abs, T.neg, T.sign, T.square, T.relu]) {
      expect(op(tensor([-3, 0, 4], { dtype: 'int32' })).dtype).toBe('int32');
    }
    await expectExact(T.abs(tensor([-3, 0, 4], { dtype: 'int32' })), 'int32', [3], [3, 0, 4]);
    await expectExact(T.sign(tensor([-3, 0, 4], { dtype: 'int32' })), 'int32', [3], [-1, 0, 1]);
    await expectExact(T.relu(tensor([-3, 0, 4], { dtype: 'int32' })), 'int32', [3], [0, 0, 4]);
    await expectExact(T.square(tensor([-3, 0, 4], { dtype: 'int32' })), 'int32', [3], [9, 0, 16]);
  });

  it('float-only ops turn int32 into float32', async () => {
    const i = tensor([1, 4, 9], { dtype: 'int32' });
    for (const op of [T.exp, T.log, T.sqrt, T.sigmoid, T.tanh, T.erf, T.reciprocal]) {
      expect(op(i).dtype).toBe('float32');
    }
    expectClose(await T.sqrt(i).data(), [1, 2, 3]);
    expectClose(await T.reciprocal(i).data(), f32([1, 1 / 4, 1 / 9]));
  });

  it('isnan / isfinite give int32 masks; on int32 input everything is finite', async () => {
    await expectExact(T.isnan(tensor([NAN, 1, INF])), 'int32', [3], [1, 0, 0]);
    await expectExact(T.isfinite(tensor([NAN, 1, INF, -INF])), 'int32', [4], [0, 1, 0, 0]);
    await expectExact(T.isnan(tensor([1, 2], { dtype: 'int32' })), 'int32', [2], [0, 0]);
    await expectExact(T.isfinite(tensor([1, 2], { dtype: 'int32' })), 'int32', [2], [1, 1]);
  });

  it('sign of NaN is NaN and of -0 is -0 (PyTorch)', async () => {
    const d = await T.sign(tensor([NAN, -0, 0])).data();
    expect(Number.isNaN(d[0])).toBe(true);
    expect(Object.is(d[1], -0)).toBe(true);
    expect(Object.is(d[2], 0)).toBe(true);
  });

  it('unary ops on size-0 and rank-0 tensors', async () => {
    expect(T.exp(T.zeros([0, 3])).shape).toEqual([0, 3]);
    expectClose(await T.exp(tensor(1)).data(), [Math.fround(Math.E)]);
    expect(T.exp(tensor(1)).shape).toEqual([]);
  });
});

describeBackends('cast', () => {
  it('float → int32 truncates toward zero; NaN becomes 0', async () => {
    await expectExact(
      T.cast(tensor([1.9, -1.9, 0.5, -0.5, 1e6, NAN]), 'int32'),
      'int32',
      [6],
      [1, -1, 0, 0, 1e6, 0],
    );
  });

  it('int32 → float32 is exact below 2^24; same-dtype cast is a copy', async () => {
    const i = tensor([-16777216, 3, 16777216], { dtype: 'int32' });
    await expectExact(T.cast(i, 'float32'), 'float32', [3], [-16777216, 3, 16777216]);
    const c = T.cast(i, 'int32');
    expect(c).not.toBe(i);
    await expectExact(c, 'int32', [3], [-16777216, 3, 16777216]);
    expect(i.float().dtype).toBe('float32');
    expect((await tensor([2.7]).int().data())[0]).toBe(2);
  });

  it('rejects unknown dtypes', async () => {
    expect(() => T.cast(tensor([1]), 'float64' as never)).toThrow(/cast.*float64/);
  });
});
