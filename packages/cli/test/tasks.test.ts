import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jsonLines, lastJson, lcg, listing, recurHere, tempDir } from './helpers.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

/**
 * A two-dimensional, three-class .ts data set with unequal lengths: class k is a sine of frequency
 * k + 1 (with noise), labels 'low', 'mid', 'high'.
 */
function writeTs(path: string, cases: number, seed: number): void {
  const rand = lcg(seed);
  const names = ['low', 'mid', 'high'];
  const lines = [
    '# generated for the recur CLI tests',
    '#',
    '@problemName Waves',
    '@timeStamps false',
    '@missing false',
    '@univariate false',
    '@dimensions 2',
    '@equalLength false',
    `@classLabel true ${names.join(' ')}`,
    '@data',
  ];
  for (let i = 0; i < cases; i++) {
    const k = i % 3;
    const len = 8 + Math.floor(rand() * 10);
    const dim = (phase: number) =>
      Array.from({ length: len }, (_, t) =>
        (Math.sin(((k + 1) * t) / 3 + phase) + 0.1 * (rand() - 0.5)).toFixed(4),
      ).join(',');
    lines.push(`${dim(0)}:${dim(1)}:${names[k]}`);
  }
  writeFileSync(path, `${lines.join('\n')}\n`);
}

describe('recur train classify (.ts files)', () => {
  let folder: string;
  beforeAll(async () => {
    folder = join(tmp.dir, 'Waves');
    mkdirSync(folder);
    writeTs(join(folder, 'Waves_TRAIN.ts'), 60, 1);
    writeTs(join(folder, 'Waves_TEST.ts'), 30, 2);
  });

  it('trains on unequal-length cases and reports test accuracy; eval rebuilds it', async () => {
    const out = join(tmp.dir, 'waves-run');
    const r = await recurHere([
      'train',
      'classify',
      '--model',
      'aaren',
      '--data',
      folder,
      '--d-model',
      '16',
      '--layers',
      '1',
      '--heads',
      '2',
      '--epochs',
      '12',
      '--lr',
      '0.01',
      '--batch-size',
      '16',
      '--out',
      out,
      '--json',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const res = lastJson(r.stdout);
    expect(res.accuracy).toBeGreaterThan(0.6);
    const cfg = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
    expect(cfg.taskConfig.labels).toEqual(['low', 'mid', 'high']);
    const e = await recurHere(['eval', out, '--data', join(folder, 'Waves_TEST.ts'), '--json']);
    expect(e.code, e.stderr).toBe(0);
    expect(lastJson(e.stdout).accuracy).toBe(res.accuracy);
  });

  it('a malformed .ts line: exit 2 with file and line, nothing written', async () => {
    const bad = join(tmp.dir, 'Bad');
    mkdirSync(bad);
    writeTs(join(bad, 'Bad_TRAIN.ts'), 12, 3);
    writeTs(join(bad, 'Bad_TEST.ts'), 6, 4);
    const lines = readFileSync(join(bad, 'Bad_TRAIN.ts'), 'utf8').split('\n');
    lines[13] = (lines[13] as string).replace(/,/, ',abc,');
    writeFileSync(join(bad, 'Bad_TRAIN.ts'), lines.join('\n'));
    const out = join(tmp.dir, 'bad-run');
    const r = await recurHere(['train', 'classify', '--model', 'gru', '--data', bad, '--out', out]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('Bad_TRAIN.ts:14');
    expect(r.stderr).toContain("'abc'");
    expect(listing(out)).toEqual([]);
    // A label the header does not list.
    lines[13] = (lines[13] as string).replace(/,abc,/, ',').replace(/:(low|mid|high)$/, ':huge');
    writeFileSync(join(bad, 'Bad_TRAIN.ts'), lines.join('\n'));
    const r2 = await recurHere([
      'train',
      'classify',
      '--model',
      'gru',
      '--data',
      bad,
      '--out',
      out,
    ]);
    expect(r2.code).toBe(2);
    expect(r2.stderr).toContain('Bad_TRAIN.ts:14');
    expect(r2.stderr).toContain("'huge'");
    expect(listing(out)).toEqual([]);
  });
});

/** Sequences of a self-exciting-ish process with two marks. */
function eventSequences(n: number, len: number, seed: number) {
  const rand = lcg(seed);
  return Array.from({ length: n }, (_, i) => {
    let t = 0;
    const times: number[] = [];
    const types: number[] = [];
    for (let k = 0; k < len; k++) {
      const mark = k > 0 && types[k - 1] === 0 ? 1 : rand() < 0.5 ? 0 : 1;
      t += mark === 1 ? 0.1 + 0.2 * rand() : 1 + rand();
      times.push(Number(t.toFixed(5)));
      types.push(mark);
    }
    return {
      dim_process: 2,
      seq_idx: i,
      seq_len: len,
      time_since_start: times,
      time_since_last_event: times.map((x, k) =>
        k === 0 ? 0 : Number((x - (times[k - 1] as number)).toFixed(5)),
      ),
      type_event: types,
    };
  });
}

describe('recur train events (JSON and RMTPP layouts)', () => {
  it('JSON folder: NLL per event, time RMSE and mark accuracy', async () => {
    const folder = join(tmp.dir, 'tpp');
    mkdirSync(folder);
    writeFileSync(join(folder, 'train.json'), JSON.stringify(eventSequences(24, 12, 1)));
    writeFileSync(join(folder, 'dev.json'), JSON.stringify(eventSequences(6, 12, 2)));
    writeFileSync(join(folder, 'test.json'), JSON.stringify(eventSequences(6, 12, 3)));
    const r = await recurHere([
      'train',
      'events',
      '--model',
      'transformer',
      '--data',
      folder,
      '--d-model',
      '16',
      '--layers',
      '1',
      '--heads',
      '2',
      '--epochs',
      '3',
      '--mixtures',
      '3',
      '--batch-size',
      '8',
      '--out',
      join(tmp.dir, 'tpp-run'),
      '--json',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const res = lastJson(r.stdout);
    for (const k of ['nll', 'rmse', 'accuracy'])
      expect(Number.isFinite(res[k] as number), k).toBe(true);
    expect(res.accuracy).toBeGreaterThan(0.4);
  });

  it('RMTPP text layout, and a bad mark line is exit 2 naming file and line', async () => {
    const folder = join(tmp.dir, 'rmtpp');
    mkdirSync(folder);
    const write = (split: string, seqs: ReturnType<typeof eventSequences>) => {
      writeFileSync(
        join(folder, `time-${split}.txt`),
        `${seqs.map((s) => s.time_since_start.join(' ')).join('\n')}\n`,
      );
      writeFileSync(
        join(folder, `event-${split}.txt`),
        `${seqs.map((s) => s.type_event.map((m) => m + 1).join(' ')).join('\n')}\n`,
      );
    };
    write('train', eventSequences(20, 10, 4));
    write('test', eventSequences(5, 10, 5));
    const r = await recurHere([
      'train',
      'events',
      '--model',
      'lstm',
      '--data',
      folder,
      '--d-model',
      '8',
      '--layers',
      '1',
      '--epochs',
      '1',
      '--out',
      join(tmp.dir, 'rmtpp-run'),
      '--json',
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(Number.isFinite(lastJson(r.stdout).nll as number)).toBe(true);
    const ev = readFileSync(join(folder, 'event-test.txt'), 'utf8').split('\n');
    ev[2] = (ev[2] as string).replace(/^\d/, '0');
    writeFileSync(join(folder, 'event-test.txt'), ev.join('\n'));
    const out = join(tmp.dir, 'rmtpp-bad');
    const bad = await recurHere([
      'train',
      'events',
      '--model',
      'lstm',
      '--data',
      folder,
      '--out',
      out,
    ]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('event-test.txt:3');
    expect(bad.stderr).toContain('1-based mark');
    expect(listing(out)).toEqual([]);
  });
});

describe('recur train lm (character-level)', () => {
  it('reports bits per character and prints a sample with --sample', async () => {
    const text = join(tmp.dir, 'text.txt');
    const words = ['the ', 'cat ', 'sat ', 'on ', 'a ', 'mat.\n'];
    const rand = lcg(9);
    writeFileSync(
      text,
      Array.from({ length: 1500 }, () => words[Math.floor(rand() * words.length)]).join(''),
    );
    const r = await recurHere([
      'train',
      'lm',
      '--model',
      'aaren',
      '--data',
      text,
      '--context',
      '32',
      '--d-model',
      '16',
      '--layers',
      '1',
      '--heads',
      '2',
      '--epochs',
      '2',
      '--steps-per-epoch',
      '15',
      '--lr',
      '0.01',
      '--sample',
      '40',
      '--prompt',
      'the ',
      '--out',
      join(tmp.dir, 'lm-run'),
      '--json',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const res = lastJson(r.stdout);
    expect(res.bpc).toBeGreaterThan(0);
    // Uniform over the 14 characters would be log2(14) = 3.8 bits.
    expect(res.bpc).toBeLessThan(3.6);
    const sample = jsonLines(r.stdout).find((e) => e.event === 'sample') as { text: string };
    expect(sample.text.startsWith('the ')).toBe(true);
    expect(sample.text.length).toBe(44);
  });

  it('says the estimated duration first, and labels throughput by what it counts (batches/s, chars/s)', async () => {
    const text = join(tmp.dir, 'rate.txt');
    writeFileSync(text, 'to be or not to be, that is the question.\n'.repeat(40));
    const out = join(tmp.dir, 'lm-rate');
    const r = await recurHere([
      'train',
      'lm',
      '--model',
      'gru',
      '--data',
      text,
      '--context',
      '16',
      '--d-model',
      '8',
      '--layers',
      '1',
      '--epochs',
      '1',
      '--steps-per-epoch',
      '3',
      '--batch-size',
      '4',
      '--out',
      out,
    ]);
    expect(r.code, r.stderr).toBe(0);
    const history = JSON.parse(readFileSync(join(out, 'history.json'), 'utf8')) as {
      chars_per_s: number;
      seconds: number;
    }[];
    const perSecond = history[0]?.chars_per_s as number;
    // 3 batches of 4 sequences of 16 characters.
    expect(perSecond * (history[0]?.seconds as number)).toBeCloseTo(3 * 4 * 16, 6);
    const all = r.stdout + r.stderr;
    const lines = all.split('\n');
    // The run's estimated duration comes before the first epoch ends.
    const estimate = lines.findIndex((l) =>
      /^estimated: \S+ of training for 1 epoch\(s\) × 3 steps/.test(l),
    );
    expect(estimate, all).toBeGreaterThanOrEqual(0);
    expect(estimate).toBeLessThan(lines.findIndex((l) => l.startsWith('epoch 1/1:')));
    const epochLine = all.split('\n').find((l) => l.startsWith('epoch 1/1:')) as string;
    const shown = Number(/([\d,.]+) chars\/s/.exec(epochLine)?.[1]?.replace(/,/g, ''));
    expect(Math.abs(shown - perSecond) / perSecond).toBeLessThan(0.01);
    for (const line of all.split('\n').filter((l) => /^epoch 1\/1 \d+\/\d+ /.test(l))) {
      expect(line).toMatch(/ batches\/s /);
      expect(line).not.toMatch(/chars\/s/);
    }
  });
});
