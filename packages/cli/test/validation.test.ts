// Bad input of every kind is one line and exit 2, never a stack trace (exit 1) or a hang (issue 13,
// case 6), and values that would be accepted silently are refused (case 7).
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadSafetensorsWithMetadata, saveSafetensors } from '@recur/tensor';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CliError } from '../src/errors.js';
import { fsError } from '../src/util/files.js';
import { BIN, type RunResult, recurHere, tempDir, writeSeriesCsv } from './helpers.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());
let csv: string;
beforeAll(() => {
  csv = join(tmp.dir, 'series.csv');
  writeSeriesCsv(csv, 300, 2);
});

/** `recur args…`, killed after `seconds` (a hang is a failure, not a stuck suite). */
function recurWithin(args: string[], seconds = 20): RunResult & { ms: number } {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [BIN, ...args], {
    encoding: 'utf8',
    timeout: seconds * 1000,
    env: { ...process.env, NO_COLOR: '1' },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, ms: performance.now() - t0 };
}

/** Exit 2 with one error line (the last on stderr), no stack trace. */
function expectCleanError(r: RunResult, pattern: RegExp): void {
  expect(r.code, r.stderr).toBe(2);
  const lines = r.stderr.trim().split('\n');
  expect(lines.filter((l) => l.startsWith('error:'))).toHaveLength(1);
  expect(lines.at(-1)).toMatch(pattern);
  expect(r.stderr).not.toMatch(/\n\s+at /);
}

const forecast = (extra: string[]) => [
  'train',
  'forecast',
  '--data',
  csv,
  '--lookback',
  '16',
  '--horizon',
  '4',
  '--out',
  join(tmp.dir, 'never'),
  ...extra,
];

describe('sizes that cannot be allocated', () => {
  it.each([
    [['--model', 'aaren', '--d-model', '100000000']],
    [['--model', 'aaren', '--layers', '100000']],
    [['--model', 'aft-full', '--pos-dim', '1000000000']],
  ])('%j is refused at once with the memory it would need', (args) => {
    const r = recurWithin(forecast(args), 45);
    expectCleanError(r, /is too large: about .* parameters need about [\d.]+ GB/);
    // Refused before allocating: a process start and a config check (about 1 s idle; up to 15 s
    // seen with the test command's four tasks on two loaded cores), not minutes of allocation.
    expect(r.ms).toBeLessThan(30_000);
  });

  it('an --aft-local window longer than the sequence trains (the band covers it all)', () => {
    const r = recurWithin(
      forecast([
        '--model',
        'aft-local',
        '--window',
        '1000000000',
        '--d-model',
        '8',
        '--layers',
        '1',
        '--epochs',
        '1',
        '--steps-per-epoch',
        '2',
        '--force',
      ]),
      60,
    );
    expect(r.code, r.stderr).toBe(0);
  });
});

describe('file-system errors', () => {
  it('--out where no folder can be made is one line, exit 2, at once', () => {
    const naive = (out: string) => [
      'train',
      'forecast',
      '--model',
      'naive',
      '--data',
      csv,
      '--lookback',
      '16',
      '--horizon',
      '4',
      '--out',
      out,
    ];
    expectCleanError(recurWithin(naive('/proc/recur-x/run')), /--out \/proc\/recur-x\/run/);
    expectCleanError(recurWithin(naive(join(csv, 'run'))), /ENOTDIR/);
  });

  it('EACCES, EROFS and ENOSPC become one-line CliErrors with exit 2', () => {
    for (const [code, words] of [
      ['EACCES', 'permission denied'],
      ['EROFS', 'the file system is read-only'],
      ['ENOSPC', 'no space left on the device'],
    ]) {
      const e = fsError(Object.assign(new Error('raw'), { code }), 'cannot write x');
      expect(e).toBeInstanceOf(CliError);
      expect((e as CliError).exitCode).toBe(2);
      expect((e as CliError).message).toBe(`cannot write x (${code}: ${words})`);
    }
  });
});

describe('run folders and checkpoints with wrong contents', () => {
  let run: string;
  beforeAll(async () => {
    run = join(tmp.dir, 'good-run');
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
      '--d-model',
      '8',
      '--layers',
      '1',
      '--epochs',
      '1',
      '--out',
      run,
    ]);
    expect(r.code, r.stderr).toBe(0);
  });

  it('wrong types in config.json name the field', async () => {
    const path = join(run, 'config.json');
    const good = readFileSync(path, 'utf8');
    try {
      const cfg = JSON.parse(good);
      cfg.model.layers = '1';
      writeFileSync(path, JSON.stringify(cfg));
      expectCleanError(
        await recurHere(['eval', run, '--data', csv]),
        /config\.json: not a recur run config: model\.layers: /,
      );
      cfg.model.layers = 1;
      cfg.options.batchSize = 'many';
      writeFileSync(path, JSON.stringify(cfg));
      expectCleanError(
        await recurHere(['eval', run, '--data', csv]),
        /options\.batchSize: expected an integer, got 'many'/,
      );
      // The task's own settings too: a wrong type, and a scaler for other channels.
      const fresh = JSON.parse(good);
      fresh.taskConfig.lookback = 'sixteen';
      writeFileSync(path, JSON.stringify(fresh));
      expectCleanError(await recurHere(['eval', run, '--data', csv]), /taskConfig\.lookback: /);
      fresh.taskConfig.lookback = 16;
      fresh.taskConfig.scaler.mean = [...fresh.taskConfig.scaler.mean, 0];
      writeFileSync(path, JSON.stringify(fresh));
      expectCleanError(
        await recurHere(['eval', run, '--data', csv]),
        /taskConfig: expected scaler\.mean and scaler\.std to have one number per channel/,
      );
    } finally {
      writeFileSync(path, good);
    }
  });

  it('invalid JSON in checkpoint metadata is one line naming the checkpoint', async () => {
    const path = join(run, 'last.safetensors');
    const good = readFileSync(path);
    try {
      const { tensors, metadata } = loadSafetensorsWithMetadata(new Uint8Array(good));
      writeFileSync(
        path,
        saveSafetensors(tensors, { ...metadata, 'recur.trainer': '{"epoch": 1,' }),
      );
      expectCleanError(
        await recurHere(['train', '--resume', run, '--epochs', '2']),
        /last\.safetensors: trainer state .*not valid JSON/,
      );
      writeFileSync(
        path,
        saveSafetensors(tensors, {
          ...metadata,
          'recur.trainer': JSON.stringify({
            ...JSON.parse(metadata['recur.trainer'] as string),
            epoch: 'one',
          }),
        }),
      );
      expectCleanError(
        await recurHere(['train', '--resume', run, '--epochs', '2']),
        /trainer state \(metadata 'recur\.trainer'\): epoch: /,
      );
    } finally {
      writeFileSync(path, good);
    }
  });
});

describe('event data', () => {
  const events = (dim: unknown, marks = [0, 1, 0, 1, 0, 1]) =>
    JSON.stringify(
      Array.from({ length: 10 }, (_, i) => ({
        dim_process: dim,
        seq_idx: i,
        seq_len: 6,
        time_since_start: [0.5, 1, 2, 2.5, 4, 5],
        time_since_last_event: [0.5, 0.5, 1, 0.5, 1.5, 1],
        type_event: marks,
      })),
    );
  const train = async (file: string) =>
    await recurHere([
      'train',
      'events',
      '--model',
      'gru',
      '--data',
      file,
      '--out',
      join(tmp.dir, 'ev-never'),
    ]);

  it.each([[1e12], [5.5], ['3']])('dim_process %j is refused naming it', async (dim) => {
    const file = join(tmp.dir, 'dim.json');
    writeFileSync(file, events(dim));
    expectCleanError(await train(file), /dim_process must be an integer from 1 to 1048576/);
  });

  it('a mark >= dim_process is refused, not a new class', async () => {
    const file = join(tmp.dir, 'mark.json');
    writeFileSync(file, events(2, [0, 1, 2, 1, 0, 1]));
    expectCleanError(await train(file), /event 2: type_event 2 is not below dim_process 2/);
  });

  it('an RMTPP mark or time written in hexadecimal is refused', async () => {
    const folder = join(tmp.dir, 'rmtpp-hex');
    const { mkdirSync } = require('node:fs') as typeof import('node:fs');
    mkdirSync(folder, { recursive: true });
    for (const split of ['train', 'dev', 'test']) {
      writeFileSync(join(folder, `time-${split}.txt`), '0.5 1 2 3\n0.5 1 2 3\n0.5 1 2 3\n');
      writeFileSync(join(folder, `event-${split}.txt`), '1 2 1 2\n1 2 1 2\n1 0x2 1 2\n');
    }
    expectCleanError(await train(folder), /expected a 1-based mark up to \d+, got '0x2'/);
  });
});

describe('strict CSV numbers (case 7) and the chunked reader (case 8)', () => {
  const withCell = (name: string, cell: string): string => {
    const file = join(tmp.dir, name);
    const lines = readFileSync(csv, 'utf8').split('\n');
    const cols = (lines[41] as string).split(',');
    cols[2] = cell;
    lines[41] = cols.join(',');
    writeFileSync(file, lines.join('\n'));
    return file;
  };
  const naive = async (file: string) =>
    await recurHere([
      'train',
      'forecast',
      '--model',
      'linear',
      '--data',
      file,
      '--lookback',
      '16',
      '--horizon',
      '4',
      '--out',
      join(tmp.dir, 'csv-never'),
    ]);

  it.each([['0x1F'], ['Infinity'], ['']])(
    'the cell %j is refused with file:line and column',
    async (cell) => {
      const file = withCell('cell.csv', cell);
      expectCleanError(await naive(file), /cell\.csv:42: column 'OT': expected a decimal number/);
    },
  );

  it.each([['-1.7e308'], ['3e20']])(
    'the cell %s, beyond what float32 statistics hold, is refused with file:line',
    async (cell) => {
      const file = withCell('huge.csv', cell);
      expectCleanError(await naive(file), /huge\.csv:42: column 'OT': .* is beyond ±1e\+15/);
    },
  );

  it('reads a file of many 1 MiB chunks exactly as a plain split of its lines', async () => {
    const { readTimeSeriesCsv } = await import('../src/data/csv.js');
    const file = join(tmp.dir, 'big.csv');
    // Quoted fields and CRLF line ends cross chunk borders somewhere in 3+ MiB.
    const rows = 60_000;
    const lines = ['"date","a","b","c"'];
    for (let r = 0; r < rows; r++)
      lines.push(`"2020-01-01 ${r}",${(r * 0.001).toFixed(3)},"${-r}",${(r % 7) / 8}`);
    writeFileSync(file, `${lines.join('\r\n')}\r\n`);
    const table = readTimeSeriesCsv(file);
    expect(table.rows).toBe(rows);
    expect(table.channels).toEqual(['a', 'b', 'c']);
    for (let r = 0; r < rows; r += 997) {
      expect(table.values[r * 3]).toBe(Number((r * 0.001).toFixed(3)));
      expect(table.values[r * 3 + 1]).toBe(-r + 0);
      expect(table.values[r * 3 + 2]).toBe((r % 7) / 8);
    }
    expect(table.values[(rows - 1) * 3 + 1]).toBe(-(rows - 1));
  });
});

describe('lm text and prompt (case 7)', () => {
  const lm = async (file: string, extra: string[] = []) =>
    await recurHere([
      'train',
      'lm',
      '--model',
      'gru',
      '--data',
      file,
      '--context',
      '8',
      '--d-model',
      '8',
      '--layers',
      '1',
      '--epochs',
      '1',
      '--steps-per-epoch',
      '2',
      '--out',
      join(tmp.dir, 'lm-never'),
      ...extra,
    ]);
  const text = 'the quick brown fox jumps over the lazy dog\n'.repeat(20);

  it('UTF-16 text is refused, not trained on', async () => {
    const file = join(tmp.dir, 'utf16.txt');
    writeFileSync(file, Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, 'utf16le')]));
    expectCleanError(await lm(file), /utf16\.txt:1: a UTF-16 byte-order mark: .*UTF-8/);
    writeFileSync(file, Buffer.from(text, 'utf16le'));
    expectCleanError(await lm(file), /utf16\.txt:1: a NUL byte/);
  });

  it('binary or Latin-1 bytes are refused with their line', async () => {
    const file = join(tmp.dir, 'latin1.txt');
    writeFileSync(
      file,
      Buffer.concat([Buffer.from(text), Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x0a])]),
    );
    expectCleanError(await lm(file), /latin1\.txt:21: not valid UTF-8 \(byte 883\)/);
  });

  it('a --prompt with characters outside the text is refused before training', async () => {
    const file = join(tmp.dir, 'ok.txt');
    writeFileSync(file, text);
    const r = await lm(file, ['--sample', '10', '--prompt', 'QUIZ']);
    expectCleanError(r, /--prompt: character "Q" is not in the model's vocabulary/);
    expect(r.stderr).not.toContain('epoch 1/1');
  });
});
