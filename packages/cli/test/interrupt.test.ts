// Ctrl-C at every phase gives exit 130 and a valid checkpoint, and a run stopped anywhere (Ctrl-C
// or SIGKILL) and resumed ends with the same weights, bit for bit, as one never stopped (issue 13,
// case 4, and the kill-at-random-points test).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadSafetensors } from '@recur/tensor';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lastJson, lcg, recur, recurAsync, tempDir, writeSeriesCsv } from './helpers.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());
let csv: string;
beforeAll(() => {
  csv = join(tmp.dir, 'series.csv');
  writeSeriesCsv(csv, 400, 3);
});

const run = (out: string, extra: string[]) => [
  'train',
  'forecast',
  '--model',
  'aaren',
  '--data',
  csv,
  '--lookback',
  '24',
  '--horizon',
  '8',
  '--d-model',
  '8',
  '--layers',
  '1',
  '--heads',
  '2',
  '--dropout',
  '0.1',
  '--schedule',
  'cosine',
  '--warmup',
  '5',
  '--seed',
  '3',
  '--out',
  out,
  '--json',
  ...extra,
];

/** Every tensor of a safetensors file, as raw bytes by name. */
function weights(path: string): Record<string, Buffer> {
  const bytes = readFileSync(path);
  const out: Record<string, Buffer> = {};
  for (const [k, t] of Object.entries(loadSafetensors(new Uint8Array(bytes)))) {
    const d = t.dataSync();
    out[k] = Buffer.from(d.buffer, d.byteOffset, d.byteLength);
  }
  return out;
}

function expectSameWeights(a: string, b: string): void {
  for (const f of ['model.safetensors', 'last.safetensors']) {
    const wa = weights(join(a, f));
    const wb = weights(join(b, f));
    expect(Object.keys(wb).sort(), f).toEqual(Object.keys(wa).sort());
    for (const k of Object.keys(wa))
      expect(Buffer.compare(wa[k] as Buffer, wb[k] as Buffer), `${f} ${k}`).toBe(0);
  }
}

/** Starts a run, sends `signal` once `when(line)` holds; resolves with its result. */
function stopWhen(args: string[], signal: NodeJS.Signals, when: (line: string) => boolean) {
  let sent = false;
  return recurAsync(args, (line, child) => {
    if (!sent && when(line)) {
      sent = true;
      child.kill(signal);
    }
  }).then((r) => ({ ...r, sent }));
}

describe('interrupts and exact resume', () => {
  let reference: string;
  beforeAll(() => {
    reference = join(tmp.dir, 'reference');
    const r = recur(run(reference, ['--epochs', '2', '--batch-size', '8']));
    expect(r.code, r.stderr).toBe(0);
  });

  it('Ctrl-C mid-epoch saves that step; resuming gives the uninterrupted weights bit for bit', async () => {
    const out = join(tmp.dir, 'mid-epoch');
    const r = await stopWhen(run(out, ['--epochs', '2', '--batch-size', '8']), 'SIGINT', (l) =>
      l.includes('"event":"step"'),
    );
    expect(r.sent).toBe(true);
    expect(r.code, r.stderr).toBe(130);
    expect(r.stderr).toMatch(/after 0 complete epoch\(s\) and \d+ batch\(es\) of the next/);
    const resumed = recur(['train', '--resume', out]);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(`${resumed.stdout}${resumed.stderr}`).toMatch(/resuming epoch 1 at batch \d+/);
    expectSameWeights(reference, out);
  });

  it('Ctrl-C during the last epoch validation exits 130 with a checkpoint, not 0', async () => {
    const out = join(tmp.dir, 'in-validation');
    // One training step, then validation over every window: the signal lands in validation.
    const r = await stopWhen(
      run(out, [
        '--epochs',
        '1',
        '--batch-size',
        '8',
        '--steps-per-epoch',
        '1',
        '--lookback',
        '96',
      ]),
      'SIGINT',
      (l) => l.includes('"event":"step"'),
    );
    expect(r.code, r.stderr).toBe(130);
    expect(r.stdout).not.toContain('"event":"result"');
    expect(r.stderr).toContain('--resume');
    const resumed = recur(['train', '--resume', out, '--json']);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(Number.isFinite(lastJson(resumed.stdout).mse)).toBe(true);
  });

  it('killed (SIGKILL or Ctrl-C) at random points and resumed, the weights equal the uninterrupted run', async () => {
    const rand = lcg(2026);
    const out = join(tmp.dir, 'random-kills');
    const fresh = run(out, ['--epochs', '2', '--batch-size', '8']);
    let args = fresh;
    let stops = 0;
    for (let attempt = 0; attempt < 12; attempt++) {
      const signal: NodeJS.Signals = rand() < 0.5 ? 'SIGKILL' : 'SIGINT';
      const delay = 200 + rand() * 2500;
      let timer: NodeJS.Timeout | undefined;
      const r = await recurAsync(args, (_line, child) => {
        timer ??= setTimeout(() => child.kill(signal), delay);
      });
      clearTimeout(timer);
      if (r.code === 0) break;
      stops++;
      expect([null, 130], r.stderr).toContain(r.code);
      // Killed before config.json was written (a few ms after start): train afresh instead.
      args = existsSync(join(out, 'config.json')) ? ['train', '--resume', out, '--json'] : fresh;
    }
    expect(stops).toBeGreaterThan(0);
    expectSameWeights(reference, out);
  });
});
