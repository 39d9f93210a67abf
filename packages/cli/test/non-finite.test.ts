// A non-finite metric or loss is an error (exit 3 naming the metric and what to try), never a
// success with null or NaN in the results (issue 13, case 5).
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadSafetensorsWithMetadata, saveSafetensors, type Tensor, tensor } from '@recur/tensor';
import { afterAll, describe, expect, it } from 'vitest';
import { lastJson, recurHere, tempDir, writeSeriesCsv } from './helpers.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

/** Rewrites a safetensors file with NaN in every tensor whose name passes `which`. */
function poison(path: string, which: (name: string) => boolean): void {
  const bytes = readFileSync(path);
  const view = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length);
  const { tensors, metadata } = loadSafetensorsWithMetadata(view);
  const out: Record<string, Tensor> = {};
  for (const [k, v] of Object.entries(tensors)) {
    out[k] = which(k)
      ? tensor(
          Array.from(v.dataSync(), () => Number.NaN),
          { shape: v.shape },
        )
      : v;
  }
  writeFileSync(path, saveSafetensors(out, metadata));
}

const small = ['--d-model', '8', '--layers', '1', '--heads', '2', '--epochs', '1', '--json'];

/** A GRU forecaster trained for one small epoch on a fresh CSV: its data file and run folder. */
async function trainedRun(name: string): Promise<{ csv: string; out: string }> {
  const csv = join(tmp.dir, `${name}.csv`);
  writeSeriesCsv(csv, 300, 2);
  const out = join(tmp.dir, name);
  const r = await recurHere([
    'train',
    'forecast',
    '--model',
    'gru',
    '--data',
    csv,
    '--lookback',
    '16',
    '--horizon',
    '4',
    '--out',
    out,
    ...small,
  ]);
  expect(r.code, r.stderr).toBe(0);
  return { csv, out };
}

describe('non-finite results', () => {
  it('lm: a validation split too short to score is refused, not bpc null', async () => {
    const text = join(tmp.dir, 'tiny.txt');
    writeFileSync(text, 'abcdefghij'); // 10 characters: 0 of validation (90–95 %), 1 of test
    const r = await recurHere([
      'train',
      'lm',
      '--model',
      'aaren',
      '--data',
      text,
      '--context',
      '2',
      '--steps-per-epoch',
      '2',
      '--out',
      join(tmp.dir, 'lm'),
      ...small,
    ]);
    expect(r.code, r.stdout).toBe(2);
    expect(r.stderr).toContain('the validation part (90–95 %) has 0 character(s)');
    expect(r.stdout).not.toContain('"bpc":null');
  });

  it('training whose loss turns non-finite exits 3 naming the loss and what to try', async () => {
    const { out } = await trainedRun('diverge');
    poison(join(out, 'last.safetensors'), (k) => k.startsWith('model.'));
    const resumed = await recurHere(['train', '--resume', out, '--epochs', '2', '--json']);
    expect(resumed.code, resumed.stderr).toBe(3);
    expect(resumed.stderr).toMatch(/loss is NaN/);
    expect(resumed.stderr).toMatch(/--lr/);
  });

  it('eval of a checkpoint holding NaN weights exits 3 naming the metric, not NaN with exit 0', async () => {
    const { csv, out } = await trainedRun('nan-run');
    poison(join(out, 'model.safetensors'), () => true);
    const e = await recurHere(['eval', out, '--data', csv, '--json']);
    expect(e.code, e.stdout).toBe(3);
    expect(e.stderr).toMatch(/mse/);
    expect(e.stderr).toMatch(/not finite|NaN/);
    expect(lastJson(e.stdout).event).toBe('error');
  });
});
