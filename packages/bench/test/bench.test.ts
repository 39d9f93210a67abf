import { describe, expect, it } from 'vitest';
import { alternate, fill, median, timeAlternating } from '../src/index.js';

describe('median', () => {
  it('is the middle sample of an odd count, the upper middle of an even one, unsorted input', () => {
    expect(median([5, 1, 3])).toBe(3);
    expect(median([4, 1, 3, 2])).toBe(3);
    expect(median([7])).toBe(7);
  });
  it('leaves its input alone and refuses an empty list', () => {
    const xs = [3, 1, 2];
    median(xs);
    expect(xs).toEqual([3, 1, 2]);
    expect(() => median([])).toThrow(/at least one sample, got none/);
  });
});

describe('fill', () => {
  it('gives the same values for a seed, others for another seed, all in [lo, hi)', () => {
    const a = fill(1000, -2, 3, 7);
    expect(fill(1000, -2, 3, 7)).toEqual(a);
    expect(fill(1000, -2, 3, 8)).not.toEqual(a);
    for (const v of a) {
      expect(v).toBeGreaterThanOrEqual(-2);
      expect(v).toBeLessThan(3);
    }
    // Spread over the range: the mean of 1000 uniform values is near the middle.
    const mean = a.reduce((s, v) => s + v, 0) / a.length;
    expect(Math.abs(mean - 0.5)).toBeLessThan(0.2);
  });
});

describe('alternate', () => {
  it('runs the variants in turn, warm-up rounds untimed, and times each call', async () => {
    const order: string[] = [];
    const times = await alternate(
      {
        a: () => order.push('a'),
        b: async () => {
          order.push('b');
          await new Promise((r) => setTimeout(r, 5));
        },
      },
      3,
      { warmup: 2 },
    );
    expect(order).toEqual(['a', 'b', 'a', 'b', 'a', 'b', 'a', 'b', 'a', 'b']);
    expect(times.a).toHaveLength(3);
    expect(times.b).toHaveLength(3);
    for (const ms of times.b as number[]) expect(ms).toBeGreaterThanOrEqual(4);
    const medians = await timeAlternating({ b: () => new Promise((r) => setTimeout(r, 5)) }, 1);
    expect(medians.b).toBeGreaterThanOrEqual(4);
  });
});
