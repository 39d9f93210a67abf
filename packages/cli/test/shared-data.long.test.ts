/**
 * End-to-end checks on the public data sets in ../shared/data (outside the repository). They prove
 * the data pipeline against the data README's reference numbers; when the folder is absent they are
 * skipped with a visible message.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { lastJson, recur, SHARED_DATA, tempDir } from './helpers.js';

const ETTH1 = join(SHARED_DATA, 'ETT', 'ETTh1.csv');
const VOWELS = join(SHARED_DATA, 'UEA', 'JapaneseVowels');
const present = existsSync(ETTH1) && existsSync(VOWELS);
if (!present) {
  console.warn(`[recur cli tests] SKIPPED the shared-data tests: ${SHARED_DATA} is absent`);
}

const tmp = tempDir();
afterAll(() => tmp.cleanup());

describe.skipIf(!present)(`public data in ${SHARED_DATA}: training (pnpm test:long)`, () => {
  it('ETTh1: an Aaren forecaster trained briefly beats repeat-the-last-value', () => {
    const r = recur([
      'train',
      'forecast',
      '--model',
      'aaren',
      '--data',
      ETTH1,
      '--horizon',
      '96',
      '--d-model',
      '16',
      '--layers',
      '1',
      '--heads',
      '2',
      '--epochs',
      '2',
      '--steps-per-epoch',
      '25',
      '--val-batches',
      '4',
      '--lr',
      '0.003',
      '--out',
      join(tmp.dir, 'aaren'),
      '--json',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const res = lastJson(r.stdout);
    expect(res.mse as number).toBeLessThan(1.2944);
    expect(res.mae as number).toBeLessThan(0.7132);
  });

  it('JapaneseVowels: a small Aaren classifier is above 90 % on TEST', () => {
    const r = recur([
      'train',
      'classify',
      '--model',
      'aaren',
      '--data',
      VOWELS,
      '--d-model',
      '32',
      '--layers',
      '1',
      '--heads',
      '4',
      '--epochs',
      '15',
      '--lr',
      '0.003',
      '--patience',
      '0',
      '--out',
      join(tmp.dir, 'vowels'),
      '--json',
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(lastJson(r.stdout).accuracy as number).toBeGreaterThan(0.9);
  });
});
