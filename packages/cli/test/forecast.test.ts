import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  jsonLines,
  lastJson,
  listing,
  recur,
  recurAsync,
  recurHere,
  tempDir,
  writeSeriesCsv,
} from './helpers.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

const ROWS = 400;
const C = 3;
const L = 24;
const H = 8;
let csv: string;
let values: number[][];

beforeAll(async () => {
  csv = join(tmp.dir, 'series.csv');
  values = writeSeriesCsv(csv, ROWS, C);
});

/** The protocol written out plainly: 70/10/20 split, train mean and population std, step-1 windows. */
function reference(): { z: number[][]; testStarts: number[]; trainStarts: number[] } {
  const nTrain = Math.trunc(ROWS * 0.7);
  const nTest = Math.trunc(ROWS * 0.2);
  const z = values.map((r) => r.slice());
  for (let j = 0; j < C; j++) {
    const col = values.slice(0, nTrain).map((r) => r[j] as number);
    const mean = col.reduce((a, b) => a + b, 0) / nTrain;
    const std = Math.sqrt(col.reduce((a, b) => a + (b - mean) ** 2, 0) / nTrain);
    for (const r of z) r[j] = ((r[j] as number) - mean) / std;
  }
  const starts = (a: number, b: number) =>
    Array.from({ length: b - a - L - H + 1 }, (_, i) => a + i);
  return { z, testStarts: starts(ROWS - nTest - L, ROWS), trainStarts: starts(0, nTrain) };
}

/** Solves A x = b by Gaussian elimination with partial pivoting (dense, float64). */
function solve(a: number[][], b: number[][]): number[][] {
  const n = a.length;
  const m = a.map((row, i) => [...row, ...(b[i] as number[])]);
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(m[r]![c]!) > Math.abs(m[p]![c]!)) p = r;
    [m[c], m[p]] = [m[p]!, m[c]!];
    for (let r = 0; r < n; r++) {
      if (r === c) continue;
      const f = m[r]![c]! / m[c]![c]!;
      for (let k = c; k < m[r]!.length; k++) m[r]![k]! -= f * m[c]![k]!;
    }
  }
  return m.map((row, i) => row.slice(n).map((v) => v / row[i]!));
}

describe('recur train forecast (built command, generated CSV)', () => {
  it('naive: MSE/MAE equal the protocol computed independently', async () => {
    const r = await recurHere([
      'train',
      'forecast',
      '--model',
      'naive',
      '--data',
      csv,
      '--lookback',
      String(L),
      '--horizon',
      String(H),
      '--out',
      join(tmp.dir, 'naive'),
      '--json',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const res = lastJson(r.stdout);
    const { z, testStarts } = reference();
    let se = 0;
    let ae = 0;
    let n = 0;
    for (const s of testStarts) {
      for (let j = 0; j < C; j++) {
        for (let h = 0; h < H; h++) {
          const d = z[s + L - 1]![j]! - z[s + L + h]![j]!;
          se += d * d;
          ae += Math.abs(d);
          n++;
        }
      }
    }
    expect(res.mse).toBeCloseTo(se / n, 9);
    expect(res.mae).toBeCloseTo(ae / n, 9);
  });

  it('linear: the closed-form ridge map equals an explicit design-matrix solve', async () => {
    const r = await recurHere([
      'train',
      'forecast',
      '--model',
      'linear',
      '--data',
      csv,
      '--lookback',
      String(L),
      '--horizon',
      String(H),
      '--out',
      join(tmp.dir, 'linear'),
      '--json',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const res = lastJson(r.stdout);
    // Ridge with an unpenalised bias: [X 1]ᵀ[X 1] + diag(λ,…,λ,0) on the normal equations.
    const { z, trainStarts, testStarts } = reference();
    const p = L + 1;
    const a = Array.from({ length: p }, () => new Array<number>(p).fill(0));
    const b = Array.from({ length: p }, () => new Array<number>(H).fill(0));
    for (const s of trainStarts) {
      for (let j = 0; j < C; j++) {
        const x = [...Array.from({ length: L }, (_, i) => z[s + i]![j]!), 1];
        for (let i = 0; i < p; i++) {
          for (let k = 0; k < p; k++) a[i]![k]! += x[i]! * x[k]!;
          for (let h = 0; h < H; h++) b[i]![h]! += x[i]! * z[s + L + h]![j]!;
        }
      }
    }
    for (let i = 0; i < L; i++) a[i]![i]! += 1;
    const w = solve(a, b);
    let se = 0;
    let ae = 0;
    let n = 0;
    for (const s of testStarts) {
      for (let j = 0; j < C; j++) {
        for (let h = 0; h < H; h++) {
          let y = w[L]![h]!;
          for (let i = 0; i < L; i++) y += w[i]![h]! * z[s + i]![j]!;
          const d = y - z[s + L + h]![j]!;
          se += d * d;
          ae += Math.abs(d);
          n++;
        }
      }
    }
    expect(res.mse).toBeCloseTo(se / n, 8);
    expect(res.mae).toBeCloseTo(ae / n, 8);
    // eval reloads the saved map (float32 weights) and reproduces the numbers; without --data it
    // evaluates on the data the run recorded.
    const e = await recurHere(['eval', join(tmp.dir, 'linear'), '--json']);
    expect(e.code, e.stderr).toBe(0);
    expect(lastJson(e.stdout).mse).toBeCloseTo(se / n, 5);
  });

  it('a malformed CSV line: exit 2, file, line and column named, no output left', async () => {
    const bad = join(tmp.dir, 'bad.csv');
    const lines = readFileSync(csv, 'utf8').split('\n');
    const cells = (lines[7] as string).split(',');
    cells[2] = 'n/a';
    lines[7] = cells.join(',');
    writeFileSync(bad, lines.join('\n'));
    const out = join(tmp.dir, 'bad-run');
    const r = await recurHere([
      'train',
      'forecast',
      '--model',
      'aaren',
      '--data',
      bad,
      '--out',
      out,
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${bad}:8`);
    expect(r.stderr).toContain("column 'c1'");
    expect(r.stderr).toContain("'n/a'");
    expect(listing(out)).toEqual([]);
    // A row with a missing field.
    lines[7] = cells.slice(0, 2).join(',');
    writeFileSync(bad, lines.join('\n'));
    const r2 = await recurHere([
      'train',
      'forecast',
      '--model',
      'naive',
      '--data',
      bad,
      '--out',
      out,
    ]);
    expect(r2.code).toBe(2);
    expect(r2.stderr).toContain(`${bad}:8`);
    expect(listing(out)).toEqual([]);
  });

  it('a horizon longer than the data: exit 2 naming --horizon, no output left', async () => {
    const out = join(tmp.dir, 'long-run');
    const r = await recurHere([
      'train',
      'forecast',
      '--model',
      'linear',
      '--data',
      csv,
      '--horizon',
      '300',
      '--out',
      out,
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--horizon 300');
    expect(r.stderr).toContain('too long');
    expect(listing(out)).toEqual([]);
  });

  it("reads Weather's layout: undecodable header bytes, CRLF, a duplicate timestamp", async () => {
    const w = join(tmp.dir, 'weather.csv');
    const header = ['date', 'p (mbar)', 'SWDR (W/m\uFFFD)', 'OT'];
    writeSeriesCsv(w, 300, 3, { eol: '\r\n', header });
    const text = readFileSync(w, 'utf8').split('\r\n');
    text[11] = `${(text[10] as string).split(',')[0]},${(text[11] as string).split(',').slice(1).join(',')}`;
    writeFileSync(w, text.join('\r\n'));
    const r = await recurHere([
      'train',
      'forecast',
      '--model',
      'naive',
      '--data',
      w,
      '--lookback',
      '24',
      '--horizon',
      '8',
      '--out',
      join(tmp.dir, 'weather-run'),
      '--json',
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('duplicate timestamp');
    expect(r.stderr).toContain('line 12');
    expect(Number.isFinite(lastJson(r.stdout).mse)).toBe(true);
  });

  it('trains Aaren with --json (one event per line, metrics last), reproducibly, and resumes exactly', async () => {
    const common = [
      'train',
      'forecast',
      '--model',
      'aaren',
      '--data',
      csv,
      '--lookback',
      String(L),
      '--horizon',
      String(H),
      '--d-model',
      '8',
      '--layers',
      '1',
      '--heads',
      '2',
      '--batch-size',
      '16',
      '--seed',
      '7',
      '--json',
    ];
    const full = await recurHere([...common, '--epochs', '2', '--out', join(tmp.dir, 'a-full')]);
    expect(full.code, full.stderr).toBe(0);
    const events = jsonLines(full.stdout);
    expect(events.map((e) => e.event)).toContain('epoch');
    const res = lastJson(full.stdout);
    expect(res.event).toBe('result');
    expect(typeof res.mse).toBe('number');
    expect(typeof res.mae).toBe('number');
    for (const f of [
      'config.json',
      'model.safetensors',
      'last.safetensors',
      'metrics.json',
      'history.json',
    ]) {
      expect(existsSync(join(tmp.dir, 'a-full', f)), f).toBe(true);
    }
    expect(listing(join(tmp.dir, 'a-full')).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    // One epoch, then --resume to two: the same numbers as two epochs straight. The resume runs the
    // built bin in a fresh process, so nothing of the first epoch's process carries over; the other
    // runs of this test run in-process.
    const half = await recurHere([...common, '--epochs', '1', '--out', join(tmp.dir, 'a-half')]);
    expect(half.code, half.stderr).toBe(0);
    const resumed = recur([
      'train',
      '--resume',
      join(tmp.dir, 'a-half'),
      '--epochs',
      '2',
      '--json',
    ]);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(lastJson(resumed.stdout).mse).toBe(res.mse);
    // The saved config alone rebuilds the model: eval gives the test metrics again.
    const ev = await recurHere(['eval', join(tmp.dir, 'a-full'), '--data', csv, '--json']);
    expect(ev.code, ev.stderr).toBe(0);
    expect(lastJson(ev.stdout).mse).toBeCloseTo(res.mse as number, 6);
    // A finished run folder is not overwritten.
    const again = await recurHere([...common, '--epochs', '1', '--out', join(tmp.dir, 'a-full')]);
    expect(again.code).toBe(2);
    expect(again.stderr).toContain('--resume');
  });

  it('every sequence model trains, and its saved config alone rebuilds it for eval', async () => {
    for (const model of [
      'aaren',
      'transformer',
      'aft-full',
      'aft-local',
      'aft-simple',
      'aft-conv',
      'lstm',
      'gru',
    ]) {
      const out = join(tmp.dir, `every-${model}`);
      const r = await recurHere([
        'train',
        'forecast',
        '--model',
        model,
        '--data',
        csv,
        '--lookback',
        '16',
        '--horizon',
        '4',
        '--d-model',
        '8',
        '--layers',
        '1',
        '--heads',
        '2',
        '--window',
        '4',
        '--epochs',
        '1',
        '--steps-per-epoch',
        '3',
        '--out',
        out,
        '--json',
      ]);
      expect(r.code, `${model}: ${r.stderr}`).toBe(0);
      const mse = lastJson(r.stdout).mse as number;
      expect(Number.isFinite(mse), model).toBe(true);
      const e = await recurHere(['eval', out, '--data', csv, '--json']);
      expect(e.code, `${model}: ${e.stderr}`).toBe(0);
      expect(lastJson(e.stdout).mse as number, model).toBeCloseTo(mse, 5);
    }
  });

  it('Ctrl-C saves a checkpoint and exits 130; --resume continues the run', async () => {
    const out = join(tmp.dir, 'interrupted');
    let sent = false;
    const r = await recurAsync(
      [
        'train',
        'forecast',
        '--model',
        'aaren',
        '--data',
        csv,
        '--lookback',
        String(L),
        '--horizon',
        String(H),
        '--d-model',
        '8',
        '--layers',
        '1',
        '--heads',
        '2',
        '--batch-size',
        '4',
        '--epochs',
        '50',
        '--out',
        out,
        '--json',
      ],
      (line, child) => {
        if (!sent && line.includes('"event":"step"')) {
          sent = true;
          child.kill('SIGINT');
        }
      },
    );
    expect(sent).toBe(true);
    expect(r.code, r.stderr).toBe(130);
    expect(r.stderr).toContain('--resume');
    expect(existsSync(join(out, 'last.safetensors'))).toBe(true);
    expect(existsSync(join(out, 'model.safetensors'))).toBe(true);
    const resumed = recur(['train', '--resume', out, '--epochs', '1', '--json']);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(typeof lastJson(resumed.stdout).mse).toBe('number');
  });
});
