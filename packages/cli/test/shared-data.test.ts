/**
 * End-to-end checks on the public data sets in ../shared/data (outside the repository). They prove
 * the data pipeline against the data README's reference numbers; when the folder is absent they are
 * skipped with a visible message.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { lastJson, recurHere, SHARED_DATA, tempDir } from './helpers.js';

const ETTH1 = join(SHARED_DATA, 'ETT', 'ETTh1.csv');
const VOWELS = join(SHARED_DATA, 'UEA', 'JapaneseVowels');
const present = existsSync(ETTH1) && existsSync(VOWELS);
if (!present) {
  console.warn(`[recur cli tests] SKIPPED the shared-data tests: ${SHARED_DATA} is absent`);
}

const tmp = tempDir();
afterAll(() => tmp.cleanup());

describe.skipIf(!present)(`public data in ${SHARED_DATA}`, () => {
  it('ETTh1, H = 96: naive and linear reproduce the README numbers to 3 decimals', async () => {
    const naive = await recurHere([
      'train',
      'forecast',
      '--model',
      'naive',
      '--data',
      ETTH1,
      '--horizon',
      '96',
      '--out',
      join(tmp.dir, 'naive'),
      '--json',
    ]);
    expect(naive.code, naive.stderr).toBe(0);
    const n = lastJson(naive.stdout);
    expect(Math.abs((n.mse as number) - 1.2944)).toBeLessThan(5e-4);
    expect(Math.abs((n.mae as number) - 0.7132)).toBeLessThan(5e-4);
    const linear = await recurHere([
      'train',
      'forecast',
      '--model',
      'linear',
      '--data',
      ETTH1,
      '--horizon',
      '96',
      '--out',
      join(tmp.dir, 'linear'),
      '--json',
    ]);
    expect(linear.code, linear.stderr).toBe(0);
    const l = lastJson(linear.stdout);
    expect(Math.abs((l.mse as number) - 0.3815)).toBeLessThan(5e-4);
    expect(Math.abs((l.mae as number) - 0.393)).toBeLessThan(5e-4);
  });
  // Training to a target on the data (Aaren on ETTh1, on JapaneseVowels): shared-data.long.test.ts.
});
