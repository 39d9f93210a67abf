import { expect, it } from 'vitest';
import {
  Generator,
  manualSeed,
  rand,
  randint,
  randLike,
  randn,
  randnLike,
  randperm,
  zeros,
} from '../../src/index.js';
import { expectTensorError } from '../helpers/assert.js';
import { describeBackends } from '../helpers/backends.js';

async function values(t: { data(): Promise<ArrayLike<number>> }): Promise<number[]> {
  return Array.from(await t.data());
}

describeBackends('seeded randomness', () => {
  it('manualSeed makes every sampler repeat exactly', async () => {
    const draw = async () => [
      await values(rand([50])),
      await values(randn([51])), // odd: Box–Muller's spare value must not leak across a reseed
      await values(randint(-5, 5, [20])),
      await values(randperm(17)),
    ];
    manualSeed(123);
    const a = await draw();
    manualSeed(123);
    const b = await draw();
    expect(b).toEqual(a);
    manualSeed(124);
    const c = await draw();
    expect(c[0]).not.toEqual(a[0]);
    expect(c[1]).not.toEqual(a[1]);
  });

  it('consecutive draws differ', async () => {
    manualSeed(7);
    expect(await values(rand([10]))).not.toEqual(await values(rand([10])));
  });

  it('a reseed in the middle of a randn pair drops the spare normal', async () => {
    manualSeed(5);
    const first = await values(randn([2]));
    manualSeed(5);
    randn([1]); // leaves a spare
    manualSeed(5);
    expect(await values(randn([2]))).toEqual(first);
  });

  it('generator objects are independent of each other and of the default generator', async () => {
    const g1 = new Generator(42);
    const g2 = new Generator(42);
    const a = await values(rand([8], { generator: g1 }));
    manualSeed(0);
    rand([100]); // advancing the default generator must not move g2
    const b = await values(rand([8], { generator: g2 }));
    expect(b).toEqual(a);
    // Using g1 does not advance the default generator.
    manualSeed(9);
    const d1 = await values(rand([5]));
    manualSeed(9);
    rand([30], { generator: g1 });
    expect(await values(rand([5]))).toEqual(d1);
  });

  it('generator state round-trips (checkpoints), including a pending spare normal', async () => {
    const g = new Generator(3);
    randn([3], { generator: g }); // odd count leaves a spare
    const state = g.getState();
    const next = await values(randn([5], { generator: g }));
    const h = new Generator(0);
    h.setState(state);
    expect(await values(randn([5], { generator: h }))).toEqual(next);
  });

  it('different seeds give different streams; the seed is an integer', async () => {
    expect(await values(rand([4], { generator: new Generator(1) }))).not.toEqual(
      await values(rand([4], { generator: new Generator(2) })),
    );
    expectTensorError(() => manualSeed(Number.NaN), 'manualSeed', 'NaN');
  });
});

describeBackends('distributions', () => {
  it('rand is in [0, 1) with mean ≈ 1/2 and variance ≈ 1/12', async () => {
    const g = new Generator(11);
    const v = await values(rand([20000], { generator: g }));
    let s = 0;
    let s2 = 0;
    for (const x of v) {
      expect(x >= 0 && x < 1).toBe(true);
      s += x;
      s2 += x * x;
    }
    const mean = s / v.length;
    const variance = s2 / v.length - mean * mean;
    // Standard error of the mean: sqrt(1/12/20000) ≈ 0.002.
    expect(Math.abs(mean - 0.5)).toBeLessThan(0.01);
    expect(Math.abs(variance - 1 / 12)).toBeLessThan(0.005);
    // Every decile is populated about evenly.
    const bins = new Array(10).fill(0);
    for (const x of v) bins[Math.floor(x * 10)]++;
    for (const b of bins) expect(Math.abs(b - 2000)).toBeLessThan(200);
  });

  it('rand with low/high stays in range', async () => {
    const v = await values(rand([1000], { low: -3, high: -2, generator: new Generator(1) }));
    for (const x of v) expect(x >= -3 && x < -2).toBe(true);
    expectTensorError(() => rand([2], { low: 1, high: 1 }), 'rand', '1');
  });

  it('randn has mean ≈ 0, variance ≈ 1, skew ≈ 0, kurtosis ≈ 3, and honours mean/std', async () => {
    const v = await values(randn([20000], { generator: new Generator(2) }));
    const n = v.length;
    const mean = v.reduce((a, b) => a + b, 0) / n;
    const m2 = v.reduce((a, b) => a + (b - mean) ** 2, 0) / n;
    const m3 = v.reduce((a, b) => a + (b - mean) ** 3, 0) / n;
    const m4 = v.reduce((a, b) => a + (b - mean) ** 4, 0) / n;
    expect(Math.abs(mean)).toBeLessThan(0.03);
    expect(Math.abs(m2 - 1)).toBeLessThan(0.04);
    expect(Math.abs(m3 / m2 ** 1.5)).toBeLessThan(0.1);
    expect(Math.abs(m4 / m2 ** 2 - 3)).toBeLessThan(0.2);
    // About 68.3% within one standard deviation.
    const within = v.filter((x) => Math.abs(x) < 1).length / n;
    expect(Math.abs(within - 0.6827)).toBeLessThan(0.015);
    for (const x of v) expect(Number.isFinite(x)).toBe(true);
    const w = await values(randn([5000], { mean: 10, std: 0.5, generator: new Generator(3) }));
    const wm = w.reduce((a, b) => a + b, 0) / w.length;
    const ws = Math.sqrt(w.reduce((a, b) => a + (b - wm) ** 2, 0) / w.length);
    expect(Math.abs(wm - 10)).toBeLessThan(0.05);
    expect(Math.abs(ws - 0.5)).toBeLessThan(0.03);
    expectTensorError(() => randn([2], { std: -1 }), 'randn', '-1');
  });

  it('randint covers [low, high) uniformly and never reaches high', async () => {
    const t = randint(-3, 4, [7000], { generator: new Generator(4) });
    expect(t.dtype).toBe('int32');
    const counts = new Map<number, number>();
    for (const x of await values(t)) {
      expect(Number.isInteger(x) && x >= -3 && x < 4).toBe(true);
      counts.set(x, (counts.get(x) ?? 0) + 1);
    }
    expect(counts.size).toBe(7);
    for (const c of counts.values()) expect(Math.abs(c - 1000)).toBeLessThan(150);
    expect(await values(randint(5, 6, [10]))).toEqual(new Array(10).fill(5));
    expectTensorError(() => randint(3, 3, [2]), 'randint', '3');
    expectTensorError(() => randint(0, 2.5, [2]), 'randint', '2.5');
  });

  it('randint over the whole int32 range stays in int32', async () => {
    const v = await values(randint(-(2 ** 31), 2 ** 31, [1000], { generator: new Generator(8) }));
    let neg = 0;
    for (const x of v) {
      expect(x >= -(2 ** 31) && x < 2 ** 31).toBe(true);
      if (x < 0) neg++;
    }
    expect(neg).toBeGreaterThan(400);
    expect(neg).toBeLessThan(600);
  });

  it('randperm is a permutation of 0..n-1 and shuffles', async () => {
    for (const n of [0, 1, 2, 10, 257]) {
      const p = randperm(n, { generator: new Generator(n) });
      expect(p.dtype).toBe('int32');
      expect(p.shape).toEqual([n]);
      const sorted = (await values(p)).sort((a, b) => a - b);
      expect(sorted).toEqual(Array.from({ length: n }, (_, i) => i));
    }
    const p = await values(randperm(100, { generator: new Generator(1) }));
    expect(p).not.toEqual(Array.from({ length: 100 }, (_, i) => i));
    // Position 0 takes every value of 0..3 over many shuffles.
    const g = new Generator(2);
    const first = new Set<number>();
    for (let k = 0; k < 64; k++)
      first.add((await randperm(4, { generator: g }).data())[0] as number);
    expect(first.size).toBe(4);
    expectTensorError(() => randperm(-1), 'randperm', '-1');
  });

  it('randLike / randnLike copy the shape and are float32', async () => {
    const z = zeros([2, 3], { dtype: 'int32' });
    const r = randLike(z);
    expect(r.shape).toEqual([2, 3]);
    expect(r.dtype).toBe('float32');
    expect(randnLike(z).shape).toEqual([2, 3]);
    expect(rand([0, 3]).shape).toEqual([0, 3]);
    expectTensorError(() => rand([-1]), 'rand', '-1');
  });
});
