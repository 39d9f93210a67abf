/**
 * The training flags `recur reproduce` relies on: --max-seconds, --early-stop-metric,
 * --test-batches, the lm task's held-out test split, naive/linear refusing what they ignore,
 * events --max-events / --split-seed and the baselines' NLL, and the image-ar task.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadSafetensorsWithMetadata, saveSafetensors } from '@recur/tensor';
import jpeg from 'jpeg-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EventSequence, loadEvents, windowSequences } from '../src/data/events.js';
import { downscale, evenlySpaced, locateImagePack, readImages } from '../src/data/images.js';
import { fitEventBaselines, intervals } from '../src/tasks/events.js';
import { imageBatch, START } from '../src/tasks/image.js';
import { jsonLines, lastJson, lcg, recurHere, tempDir, writeSeriesCsv } from './helpers.js';

const tmp = tempDir('recur-flags-');
afterAll(() => tmp.cleanup());
const csv = join(tmp.dir, 'series.csv');
beforeAll(async () => {
  writeSeriesCsv(csv, 400, 2);
});
const small = ['--d-model', '8', '--layers', '1', '--heads', '2'];
const forecast = ['train', 'forecast', '--data', csv, '--lookback', '16', '--horizon', '4'];

describe('naive and linear refuse the flags they would ignore', () => {
  it('naive: --epochs and --ridge are errors naming the flag; linear takes --ridge but no --d-model', async () => {
    const a = await recurHere([
      ...forecast,
      '--model',
      'naive',
      '--epochs',
      '3',
      '--out',
      join(tmp.dir, 'n1'),
    ]);
    expect(a.code).toBe(2);
    expect(a.stderr).toMatch(/--model naive .* does not train, so --epochs would have no effect/);
    const b = await recurHere([
      ...forecast,
      '--model',
      'naive',
      '--ridge',
      '2',
      '--out',
      join(tmp.dir, 'n2'),
    ]);
    expect(b.code).toBe(2);
    expect(b.stderr).toContain('--ridge');
    const c = await recurHere([
      ...forecast,
      '--model',
      'linear',
      '--ridge',
      '2',
      '--out',
      join(tmp.dir, 'l1'),
    ]);
    expect(c.code, c.stderr).toBe(0);
    const d = await recurHere([
      ...forecast,
      '--model',
      'linear',
      '--d-model',
      '8',
      '--lr',
      '0.1',
      '--out',
      join(tmp.dir, 'l2'),
    ]);
    expect(d.code).toBe(2);
    expect(d.stderr).toMatch(/--d-model, --lr would have no effect; leave them out/);
  });
});

describe('--max-seconds', () => {
  it('stops training once the budget is spent, then tests the best weights', async () => {
    const out = join(tmp.dir, 'budget');
    const t0 = performance.now();
    const r = await recurHere([
      ...forecast,
      '--model',
      'aaren',
      ...small,
      '--epochs',
      '100000',
      '--batch-size',
      '4',
      '--max-seconds',
      '1',
      '--out',
      out,
      '--json',
    ]);
    const secs = (performance.now() - t0) / 1e3;
    expect(r.code, r.stderr).toBe(0);
    const events = jsonLines(r.stdout);
    const spent = events.find((e) => e.event === 'budget_spent');
    expect(spent).toBeDefined();
    const epochs = events.filter((e) => e.event === 'epoch');
    expect(epochs.length).toBeLessThan(100000);
    expect(spent?.epoch).toBe(epochs.length);
    expect(Number.isFinite(lastJson(r.stdout).mse as number)).toBe(true);
    expect(secs).toBeLessThan(60);
    const history = JSON.parse(readFileSync(join(out, 'history.json'), 'utf8'));
    const trained = history.reduce((a: number, h: { seconds: number }) => a + h.seconds, 0);
    expect(trained).toBeGreaterThanOrEqual(0.9);
    expect(trained).toBeLessThan(10);
  });

  it('a resumed run spends what is left of its budget, not a fresh one', async () => {
    const out = join(tmp.dir, 'budget-resume');
    const args = [...forecast, '--model', 'aaren', ...small, '--steps-per-epoch', '2'];
    const first = await recurHere([...args, '--epochs', '1', '--max-seconds', '600', '--out', out]);
    expect(first.code, first.stderr).toBe(0);
    // As if the first process had trained for 600 s before it was killed after its checkpoint.
    const last = join(out, 'last.safetensors');
    const { tensors, metadata } = loadSafetensorsWithMetadata(new Uint8Array(readFileSync(last)));
    const trainer = JSON.parse(metadata['recur.trainer'] as string);
    expect(trainer.spentSeconds).toBeGreaterThan(0);
    expect(trainer.spentSeconds).toBeLessThan(600);
    trainer.spentSeconds = 600;
    writeFileSync(
      last,
      saveSafetensors(tensors, { ...metadata, 'recur.trainer': JSON.stringify(trainer) }),
    );
    const resumed = await recurHere(['train', '--resume', out, '--epochs', '5', '--json']);
    expect(resumed.code, resumed.stderr).toBe(0);
    const events = jsonLines(resumed.stdout);
    // One step (the budget is looked at after each), then the budget is spent: not 4 more epochs.
    expect(events.find((e) => e.event === 'budget_spent')).toMatchObject({ epoch: 2, step: 3 });
    expect(events.filter((e) => e.event === 'epoch')).toHaveLength(1);
  });
});

/** One sequence of an NHP-style events file. */
interface NhpSequence {
  dim_process: number;
  seq_idx: number;
  seq_len: number;
  time_since_start: number[];
  time_since_last_event: number[];
  type_event: number[];
}

/**
 * Writes 10 sequences of `events` two-mark events (gaps 0.1 + U[0, 1), rounded to 4 decimals;
 * mark 0 with probability `pMark0`) as an NHP-style JSON file under the temp folder; returns its path and the sequences written.
 */
function writeEventsFile(
  name: string,
  { seed, events, pMark0 }: { seed: number; events: number; pMark0: number },
): { file: string; items: NhpSequence[] } {
  const rand = lcg(seed);
  const items = Array.from({ length: 10 }, (_, i) => {
    let t = 0;
    const times: number[] = [];
    const types: number[] = [];
    for (let k = 0; k < events; k++) {
      t += Number((0.1 + rand()).toFixed(4));
      times.push(Number(t.toFixed(4)));
      types.push(rand() < pMark0 ? 0 : 1);
    }
    return {
      dim_process: 2,
      seq_idx: i,
      seq_len: events,
      time_since_start: times,
      time_since_last_event: times.map(() => 0),
      type_event: types,
    };
  });
  const file = join(tmp.dir, `${name}.json`);
  writeFileSync(file, JSON.stringify(items));
  return { file, items };
}

/** A three-class .ts problem whose classes differ in frequency. */
function writeTs(path: string, cases: number, seed: number): void {
  const rand = lcg(seed);
  const names = ['a', 'b', 'c'];
  const lines = [
    '@problemName W',
    '@dimensions 1',
    '@equalLength true',
    `@classLabel true ${names.join(' ')}`,
    '@data',
  ];
  for (let i = 0; i < cases; i++) {
    const k = i % 3;
    const xs = Array.from({ length: 12 }, (_, t) =>
      (Math.sin(((k + 1) * t) / 3) + 0.8 * (rand() - 0.5)).toFixed(4),
    );
    lines.push(`${xs.join(',')}:${names[k]}`);
  }
  writeFileSync(path, `${lines.join('\n')}\n`);
}

describe('--early-stop-metric', () => {
  let folder: string;
  beforeAll(async () => {
    folder = join(tmp.dir, 'W');
    mkdirSync(folder);
    writeTs(join(folder, 'W_TRAIN.ts'), 60, 1);
    writeTs(join(folder, 'W_TEST.ts'), 15, 2);
  });

  it('accuracy: the best epoch is the one with the highest validation accuracy, not the lowest loss', async () => {
    const r = await recurHere([
      'train',
      'classify',
      '--data',
      folder,
      '--model',
      'lstm',
      ...small,
      '--epochs',
      '8',
      '--patience',
      '0',
      '--val-fraction',
      '0.3',
      '--early-stop-metric',
      'accuracy',
      '--out',
      join(tmp.dir, 'acc'),
      '--json',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const epochs = jsonLines(r.stdout).filter((e) => e.event === 'epoch');
    expect(epochs.length).toBe(8);
    let bestAcc = -Infinity;
    for (const e of epochs) {
      const acc = e.val_accuracy as number;
      expect(e.best, `epoch ${e.epoch}`).toBe(acc > bestAcc);
      bestAcc = Math.max(bestAcc, acc);
    }
  });

  it('a metric the validation does not give is exit 2 naming those it gives', async () => {
    const r = await recurHere([
      ...forecast,
      '--model',
      'aaren',
      ...small,
      '--epochs',
      '1',
      '--early-stop-metric',
      'accuracy',
      '--out',
      join(tmp.dir, 'bad-metric'),
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(
      '--early-stop-metric accuracy: the validation gives mse, mae, not accuracy',
    );
  });
});

describe('--test-batches', () => {
  it('tests on part of the test split: other numbers than the full test of the same weights', async () => {
    const out = join(tmp.dir, 'partial');
    const r = await recurHere([
      ...forecast,
      '--model',
      'aaren',
      ...small,
      '--epochs',
      '1',
      '--test-batches',
      '1',
      '--batch-size',
      '8',
      '--out',
      out,
      '--json',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const partial = lastJson(r.stdout);
    const full = lastJson((await recurHere(['eval', out, '--json'])).stdout);
    expect(Number.isFinite(partial.mse as number)).toBe(true);
    expect(partial.mse).not.toBeCloseTo(full.mse as number, 6);
    // The test split has fewer than 128 windows: two evaluation batches of 64 cover all of it.
    const again = lastJson(
      (
        await recurHere([
          ...forecast,
          '--model',
          'aaren',
          ...small,
          '--epochs',
          '1',
          '--test-batches',
          '2',
          '--batch-size',
          '8',
          '--out',
          join(tmp.dir, 'partial2'),
          '--json',
        ])
      ).stdout,
    );
    expect(again.mse).toBeCloseTo(full.mse as number, 5);
  });
});

describe('lm: a held-out test split distinct from validation', () => {
  it('the last 5 % tests, the 5 % before it validates', async () => {
    // 95 % of the text is one cycle ('abc'), the last 5 % the reverse one ('cba'): a model of the
    // first predicts the validation part well and the test part badly.
    const n = 6000;
    const cut = Math.floor(n * 0.95);
    let text = '';
    for (let i = 0; i < n; i++) text += i < cut ? 'abc'[i % 3] : 'cba'[i % 3];
    const file = join(tmp.dir, 'cycle.txt');
    writeFileSync(file, text);
    const out = join(tmp.dir, 'lm');
    const r = await recurHere([
      'train',
      'lm',
      '--data',
      file,
      '--model',
      'lstm',
      '--d-model',
      '16',
      '--layers',
      '1',
      '--context',
      '16',
      // One epoch of 40 steps learns the cycle: validation 0.02 bpc, test 4.5 (3 × 40: 0.004, 5.9).
      '--epochs',
      '1',
      '--steps-per-epoch',
      '40',
      '--lr',
      '0.01',
      '--out',
      out,
      '--json',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const metrics = JSON.parse(readFileSync(join(out, 'metrics.json'), 'utf8'));
    expect(metrics.split).toBe('test');
    const history = JSON.parse(readFileSync(join(out, 'history.json'), 'utf8'));
    const val = Math.min(...history.map((h: { val_bpc: number }) => h.val_bpc));
    expect(val).toBeLessThan(0.5);
    expect(metrics.bpc).toBeGreaterThan(val + 1);
  });
});

describe('events: windows, shuffled splits, baselines', () => {
  const seq = (times: number[], marks: number[]): EventSequence => ({
    times: Float64Array.from(times),
    marks: Int32Array.from(marks),
  });

  it('--max-events windows keep every event, its mark and its inter-event time', async () => {
    const s = seq([0.5, 1.5, 1.75, 3, 4.5], [0, 1, 1, 0, 1]);
    const w = windowSequences([s], 2);
    expect(w.map((x) => Array.from(x.marks))).toEqual([[0, 1], [1, 0], [1]]);
    const tau = w.flatMap((x) => Array.from(intervals(x).tau));
    expect(tau).toEqual([0.5, 1, 0.25, 1.25, 1.5]);
    expect(windowSequences([s], 5)[0]).toBe(s);
  });

  it('--split-seed shuffles a single file before splitting it; the same seed the same split', async () => {
    const file = join(tmp.dir, 'ev.json');
    const items = Array.from({ length: 20 }, (_, i) => ({
      dim_process: 2,
      seq_idx: i,
      seq_len: 2,
      time_since_start: [i + 1, i + 2],
      time_since_last_event: [0, 1],
      type_event: [0, 1],
    }));
    writeFileSync(file, JSON.stringify(items));
    const first = (s: { train: EventSequence[] }) => s.train.map((x) => x.times[0]);
    const inOrder = loadEvents(file);
    expect(first(inOrder)).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
    const a = loadEvents(file, { splitSeed: 3 });
    const b = loadEvents(file, { splitSeed: 3 });
    const c = loadEvents(file, { splitSeed: 4 });
    expect(first(a)).toEqual(first(b));
    expect(first(a)).not.toEqual(first(inOrder));
    expect(first(a)).not.toEqual(first(c));
    const all = [...a.train, ...a.val, ...a.test]
      .map((x) => x.times[0])
      .sort((x, y) => (x as number) - (y as number));
    expect(all).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
  });

  it('the mark-frequency and Poisson baselines: fitted on train, scored per test event', async () => {
    const train = [seq([1, 3], [0, 0]), seq([2], [1])];
    const base = fitEventBaselines(train, 3);
    // Marks 0, 0, 1 of 3 marks, add-one smoothed: (2+1)/6, (1+1)/6, (0+1)/6; rate 3 events / 5 time.
    expect(base.markLogProb.map(Math.exp)).toEqual(
      [3 / 6, 2 / 6, 1 / 6].map((p) => expect.closeTo(p, 12)),
    );
    expect(base.rate).toBeCloseTo(3 / 5, 12);

    // End to end: the reported NLLs equal the formulas on the file's own splits.
    const { file, items } = writeEventsFile('ev2', { seed: 7, events: 6, pMark0: 0.7 });
    const r = await recurHere([
      'train',
      'events',
      '--data',
      file,
      '--model',
      'lstm',
      ...small,
      '--mixtures',
      '2',
      '--epochs',
      '1',
      '--out',
      join(tmp.dir, 'ev2'),
      '--json',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const res = lastJson(r.stdout);
    // 60/20/20 in file order: train the first 6, test the last 2.
    const trainItems = items.slice(0, 6);
    const testItems = items.slice(8);
    const counts = [0, 0];
    let events = 0;
    let total = 0;
    for (const it of trainItems) {
      for (const m of it.type_event) counts[m] = (counts[m] as number) + 1;
      events += it.seq_len;
      total += it.time_since_start[it.seq_len - 1] as number;
    }
    const rate = events / total;
    let markNll = 0;
    let timeNll = 0;
    let n = 0;
    for (const it of testItems) {
      it.type_event.forEach((m, k) => {
        markNll -= Math.log(((counts[m] as number) + 1) / (events + 2));
        const tau =
          (it.time_since_start[k] as number) -
          (k === 0 ? 0 : (it.time_since_start[k - 1] as number));
        timeNll += rate * tau - Math.log(rate);
        n++;
      });
    }
    expect(res.nll_mark_frequency).toBeCloseTo(markNll / n, 6);
    expect(res.nll_poisson).toBeCloseTo((markNll + timeNll) / n, 6);
  });

  it('recur eval uses the --max-events and --split-seed the run recorded, and honours explicit ones', async () => {
    // 10 sequences of 9 events each; windows of at most 4 events cut each into 4 + 4 + 1.
    const { file } = writeEventsFile('ev3', { seed: 11, events: 9, pMark0: 0.6 });
    const out = join(tmp.dir, 'ev3');
    const t = await recurHere([
      'train',
      'events',
      '--data',
      file,
      '--model',
      'lstm',
      ...small,
      '--mixtures',
      '2',
      '--epochs',
      '1',
      '--max-events',
      '4',
      '--split-seed',
      '5',
      '--out',
      out,
      '--json',
    ]);
    expect(t.code, t.stderr).toBe(0);
    // The metrics compared below, each of which `--json` reports.
    const names = ['nll', 'rmse', 'accuracy', 'nll_poisson', 'nll_mark_frequency'] as const;
    type Metrics = Record<(typeof names)[number], number>;
    const trained = lastJson(t.stdout) as Metrics;
    // The test split the run was scored on: the last 2 of 10 sequences after the seed-5 shuffle,
    // each cut into 3 windows.
    const split = loadEvents(file, { splitSeed: 5 });
    expect(split.test).toHaveLength(2);
    expect(windowSequences(split.test, 4)).toHaveLength(6);
    // The metrics (--json), and the lines describing the data (stderr without --json).
    const evaluate = async (...flags: string[]) => {
      const e = await recurHere(['eval', out, ...flags, '--json']);
      expect(e.code, e.stderr).toBe(0);
      return lastJson(e.stdout) as Metrics;
    };
    const dataLines = async (...flags: string[]) => {
      const e = await recurHere(['eval', out, ...flags]);
      expect(e.code, e.stderr).toBe(0);
      return e.stderr;
    };
    // Without flags: the run's data, windows and split, so the run's own test metrics.
    const recorded = await evaluate();
    for (const k of names) expect(recorded[k], k).toBeCloseTo(trained[k], 5);
    expect(await dataLines()).toMatch(
      /test 6 sequences \(windows of at most 4 events\), split seed 5/,
    );
    // --data given explicitly: still the recorded windows and split seed.
    expect((await evaluate('--data', file)).nll).toBeCloseTo(trained.nll, 5);
    // Explicit flags win: windows of at most 2 events cut each of the 2 test sequences into 5;
    // at most 9 leaves them whole.
    expect(await dataLines('--max-events', '2')).toMatch(
      /test 10 sequences \(windows of at most 2/,
    );
    expect((await evaluate('--max-events', '9')).nll).not.toBeCloseTo(trained.nll, 5);
    // Another split seed: another test split, so other baselines' NLL on it.
    const other = loadEvents(file, { splitSeed: 6 }).test;
    expect(other.map((s) => s.times[0])).not.toEqual(split.test.map((s) => s.times[0]));
    expect((await evaluate('--split-seed', '6')).nll_mark_frequency).not.toBeCloseTo(
      trained.nll_mark_frequency,
      5,
    );
  });
});

describe('image-ar', () => {
  it('downscales by averaging blocks, and shifts sub-pixels one step right behind a start token', async () => {
    // A 4×4 RGB image: sub-pixel value = 10·row + col (+ 100·channel).
    const img = new Uint8Array(4 * 4 * 3);
    for (let y = 0; y < 4; y++)
      for (let x = 0; x < 4; x++)
        for (let c = 0; c < 3; c++) img[(y * 4 + x) * 3 + c] = 10 * y + x + 100 * c;
    const d = downscale(img, 4, 4, 2, 'test');
    // Block (0,0): rows 0–1, cols 0–1 → mean of 0, 1, 10, 11 = 5.5 → 6 (rounded).
    expect(Array.from(d.subarray(0, 3))).toEqual([6, 106, 206]);
    expect(Array.from(d.subarray(9, 12))).toEqual([Math.round((22 + 23 + 32 + 33) / 4), 128, 228]);
    expect(() => downscale(img, 4, 4, 3, 'test')).toThrow(
      /--image-size 3 must divide the image's side/,
    );
    const { x, y } = imageBatch([Uint8Array.from([7, 8, 9])], 3);
    expect(Array.from(x.dataSync())).toEqual([START, 7, 8]);
    expect(Array.from(y.dataSync())).toEqual([7, 8, 9]);
    expect(evenlySpaced(10, 4)).toEqual([0, 2, 5, 7]);
  });

  it('trains on a few images of a JPEG pack and reports bits per dimension', async () => {
    const pack = join(tmp.dir, 'pack');
    mkdirSync(pack);
    const rand = lcg(3);
    for (const split of ['train', 'test'] as const) {
      const count = split === 'train' ? 12 : 4;
      const parts: Buffer[] = [];
      const rows = ['offset,length,label,class_name,filename'];
      let offset = 0;
      for (let i = 0; i < count; i++) {
        // 8×8 images of one flat colour each (JPEG keeps flat colours nearly exactly).
        const colour = [
          Math.floor(rand() * 256),
          Math.floor(rand() * 256),
          Math.floor(rand() * 256),
        ];
        const data = Buffer.alloc(8 * 8 * 4);
        for (let p = 0; p < 64; p++) data.set([...colour, 255], p * 4);
        const enc = jpeg.encode({ width: 8, height: 8, data }, 100).data;
        parts.push(enc);
        rows.push(`${offset},${enc.length},${i % 2},c${i % 2},${split}/${i}.jpg`);
        offset += enc.length;
        if (split === 'test' && i === 0)
          writeFileSync(join(tmp.dir, 'colour.json'), JSON.stringify(colour));
      }
      writeFileSync(join(pack, `toy_${split}.bin`), Buffer.concat(parts));
      writeFileSync(join(pack, `toy_${split}_index.csv`), `${rows.join('\n')}\n`);
    }
    const decoded = readImages(locateImagePack(pack).test, 4, (n) => evenlySpaced(n));
    const colour = JSON.parse(readFileSync(join(tmp.dir, 'colour.json'), 'utf8')) as number[];
    expect(decoded.images.length).toBe(4);
    for (let c = 0; c < 3; c++)
      expect(
        Math.abs((decoded.images[0]?.[c] as number) - (colour[c] as number)),
      ).toBeLessThanOrEqual(3);
    const r = await recurHere([
      'train',
      'image-ar',
      '--data',
      pack,
      '--model',
      'aft-local',
      ...small,
      '--window',
      '8',
      '--pos-dim',
      '4',
      '--image-size',
      '4',
      '--epochs',
      '2',
      '--batch-size',
      '4',
      '--out',
      join(tmp.dir, 'img'),
      '--json',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const res = lastJson(r.stdout);
    expect(res.bpd as number).toBeGreaterThan(0);
    expect(res.bpd as number).toBeLessThan(8.5);
    expect(res.bpd as number).toBeCloseTo((res.loss as number) / Math.LN2, 10);
    const bad = await recurHere([
      'train',
      'image-ar',
      '--data',
      pack,
      '--model',
      'aaren',
      '--image-size',
      '3',
      '--out',
      join(tmp.dir, 'img3'),
    ]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--image-size 3 must divide');
  });
});
