/** Unit tests of the library side (imported from source), against plainly written references. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { coerceOption } from '../src/cli.js';
import { splitBorders } from '../src/data/csv.js';
import type { ForecastData } from '../src/data/forecast.js';
import { windowsOf } from '../src/data/forecast.js';
import { ridgeMoments } from '../src/data/linear.js';
import { readTsFile } from '../src/data/uea.js';
import { CliError, DataError } from '../src/errors.js';
import { sinusoid } from '../src/models/backbone.js';
import { lcg, tempDir } from './helpers.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

function fakeData(rows: number, c: number, L: number, H: number, seed: number): ForecastData {
  const rand = lcg(seed);
  // Large offsets and spreads: the prefix sums must not lose the small differences.
  const z64 = Float64Array.from(
    { length: rows * c },
    (_, i) => (i % c === 0 ? 50 : 0) + 20 * (rand() - 0.5),
  );
  return {
    file: 'x.csv',
    channels: Array.from({ length: c }, (_, j) => `c${j}`),
    rows,
    lookback: L,
    horizon: H,
    scheme: 'ratio',
    borders: splitBorders('ratio', rows, L, 'x.csv'),
    scaler: { mean: [], std: [] },
    z64,
    z32: Float32Array.from(z64),
    warnings: [],
  };
}

describe('ridge moments by lagged prefix sums', () => {
  for (const [L, H] of [
    [1, 1],
    [5, 3],
    [7, 11],
  ] as const) {
    it(`equal Σx, Σy, Σxxᵀ, Σxyᵀ summed window by window (L=${L}, H=${H})`, () => {
      const data = fakeData(97, 3, L, H, L * 31 + H);
      const m = ridgeMoments(data, 'train');
      const { first, count } = windowsOf(data, 'train');
      const c = 3;
      const sx = new Array<number>(L).fill(0);
      const sy = new Array<number>(H).fill(0);
      const sxx = new Array<number>(L * L).fill(0);
      const sxy = new Array<number>(L * H).fill(0);
      for (let s = first; s < first + count; s++) {
        for (let j = 0; j < c; j++) {
          const x = Array.from({ length: L }, (_, i) => data.z64[(s + i) * c + j] as number);
          const y = Array.from({ length: H }, (_, h) => data.z64[(s + L + h) * c + j] as number);
          x.forEach((xi, i) => {
            sx[i]! += xi;
            x.forEach((xk, k) => {
              sxx[i * L + k]! += xi * xk;
            });
            y.forEach((yh, h) => {
              sxy[i * H + h]! += xi * yh;
            });
          });
          y.forEach((yh, h) => {
            sy[h]! += yh;
          });
        }
      }
      expect(m.n).toBe(count * c);
      const close = (a: ArrayLike<number>, b: number[]) => {
        for (let i = 0; i < b.length; i++) expect(a[i]).toBeCloseTo(b[i] as number, 6);
      };
      close(m.sx, sx);
      close(m.sy, sy);
      close(m.sxx, sxx);
      close(m.sxy, sxy);
    });
  }
});

describe('split borders', () => {
  it('ETTh and ETTm: the fixed month borders, val and test L rows early', () => {
    expect(splitBorders('etth', 17420, 96, 'ETTh1.csv')).toEqual({
      train: [0, 8640],
      val: [8544, 11520],
      test: [11424, 14400],
    });
    expect(splitBorders('ettm', 69680, 96, 'ETTm1.csv')).toEqual({
      train: [0, 34560],
      val: [34464, 46080],
      test: [45984, 57600],
    });
    expect(() => splitBorders('etth', 1000, 96, 'short.csv')).toThrow(CliError);
  });

  it('ratio: 70 / 10 / 20 with truncation, as Time-Series-Library computes it', () => {
    // Exchange: 7588 rows → 5311 train, 1517 test, 760 val.
    expect(splitBorders('ratio', 7588, 96, 'x.csv')).toEqual({
      train: [0, 5311],
      val: [5215, 6071],
      test: [5975, 7588],
    });
  });
});

describe('.ts reader', () => {
  it('reads comments, headers, unequal lengths and missing values; maps labels in @classLabel order', () => {
    const f = join(tmp.dir, 'X_TRAIN.ts');
    writeFileSync(
      f,
      [
        '# comment',
        '@problemName X',
        '@missing true',
        '@classLabel true b a',
        '@data',
        '1,2,3:4,5,6:a',
        '',
        '7,?:8,9:b',
        '',
      ].join('\r\n'),
    );
    const r = readTsFile(f);
    expect(r.labels).toEqual(['b', 'a']);
    expect(r.dims).toBe(2);
    expect(r.cases.map((c) => [c.length, c.label, c.line])).toEqual([
      [3, 1, 6],
      [2, 0, 8],
    ]);
    expect(Array.from(r.cases[0]?.values ?? [])).toEqual([1, 4, 2, 5, 3, 6]);
    expect(Number.isNaN(r.cases[1]?.values[2])).toBe(true);
    expect(r.missing).toBe(true);
  });

  it('names the line of a case with the wrong number of dimensions', () => {
    const f = join(tmp.dir, 'Y_TRAIN.ts');
    writeFileSync(
      f,
      ['@dimensions 2', '@classLabel true a', '@data', '1,2:3,4:a', '1,2:a'].join('\n'),
    );
    expect(() => readTsFile(f)).toThrow(DataError);
    expect(() => readTsFile(f)).toThrow(/Y_TRAIN\.ts:5: expected 2 dimension/);
  });
});

describe('options and encodings', () => {
  it('coerces and checks values from the table', () => {
    expect(coerceOption('layers', '3', '--layers')).toBe(3);
    expect(() => coerceOption('layers', '0', '--layers')).toThrow(/>= 1/);
    expect(() => coerceOption('layers', '2.5', '--layers')).toThrow(/integer/);
    expect(coerceOption('models', 'aaren, lstm', '--models')).toEqual(['aaren', 'lstm']);
    expect(() => coerceOption('model', 'gpt', '--model')).toThrow(/unknown value 'gpt'/);
    expect(() => coerceOption('lr', 0, '--lr')).toThrow(/> 0/);
  });

  it('sinusoidal positions: sin/cos pairs at geometric frequencies, any offset', () => {
    const d = 6;
    const pe = sinusoid(5, 3, d);
    for (let p = 0; p < 3; p++) {
      for (let i = 0; i < d; i += 2) {
        const a = (5 + p) / 10000 ** (i / d);
        expect(pe[p * d + i]).toBeCloseTo(Math.sin(a), 6);
        expect(pe[p * d + i + 1]).toBeCloseTo(Math.cos(a), 6);
      }
    }
    // Streaming offsets agree with one long block.
    const whole = sinusoid(0, 8, d);
    expect(Array.from(sinusoid(5, 3, d))).toEqual(Array.from(whole.subarray(5 * d, 8 * d)));
  });
});
