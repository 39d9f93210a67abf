import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
export const cliRoot = resolve(here, '..');
export const repoRoot = resolve(cliRoot, '../..');
/** The BUILT command (test/global-setup.ts builds it when stale). */
export const BIN = join(cliRoot, 'dist', 'bin.js');
/** The shared public data sets, beside the repository (absent on some machines). */
export const SHARED_DATA = resolve(repoRoot, '../shared/data');

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

const ENV = { ...process.env, NO_COLOR: '1', FORCE_COLOR: undefined };

/** Runs `recur args…` to completion. */
export function recur(
  args: string[],
  options: { cwd?: string; env?: Record<string, string> } = {},
): RunResult {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    cwd: options.cwd,
    env: { ...ENV, ...options.env },
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Starts `recur args…`; `onLine` sees each stdout line as it comes. */
export function recurAsync(
  args: string[],
  onLine: (line: string, child: ReturnType<typeof spawn>) => void,
  options: { cwd?: string } = {},
): Promise<RunResult> {
  return new Promise((resolvePromise) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: options.cwd, env: ENV });
    let stdout = '';
    let stderr = '';
    let pending = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d;
      pending += d;
      let i = pending.indexOf('\n');
      while (i >= 0) {
        onLine(pending.slice(0, i), child);
        pending = pending.slice(i + 1);
        i = pending.indexOf('\n');
      }
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d;
    });
    child.on('close', (code) => resolvePromise({ code, stdout, stderr }));
  });
}

/** The last stdout line parsed as JSON (what --json promises). */
export function lastJson(stdout: string): Record<string, unknown> {
  const lines = stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1] as string) as Record<string, unknown>;
}

/** Every stdout line parsed as JSON (throws if one is not). */
export function jsonLines(stdout: string): Record<string, unknown>[] {
  return stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** A fresh temporary folder, removed by the returned cleanup. */
export function tempDir(prefix = 'recur-cli-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Names in a folder (none if it does not exist). */
export function listing(dir: string): string[] {
  return existsSync(dir) ? readdirSync(dir).sort() : [];
}

/** A small deterministic pseudo-random sequence (an LCG) for generated test data. */
export function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
}

/**
 * Writes a CSV in the ETT layout: 'date' then `channels` numeric columns of seasonal signals with
 * noise, `rows` rows. Returns the values, row-major, as written (rounded to 4 decimals).
 */
export function writeSeriesCsv(
  path: string,
  rows: number,
  channels: number,
  options: { eol?: string; header?: string[] } = {},
): number[][] {
  const rand = lcg(42);
  const eol = options.eol ?? '\n';
  const header = options.header ?? [
    'date',
    ...Array.from({ length: channels }, (_, j) => (j === channels - 1 ? 'OT' : `c${j}`)),
  ];
  const values: number[][] = [];
  const lines = [header.join(',')];
  const start = Date.UTC(2020, 0, 1);
  for (let r = 0; r < rows; r++) {
    const row = Array.from({ length: channels }, (_, j) =>
      Number(
        (
          Math.sin((2 * Math.PI * r) / (12 + 5 * j)) * (1 + j) +
          0.3 * (rand() - 0.5) +
          0.01 * r
        ).toFixed(4),
      ),
    );
    values.push(row);
    const date = new Date(start + r * 3600_000).toISOString().replace('T', ' ').slice(0, 19);
    lines.push([date, ...row].join(','));
  }
  writeFileSync(path, lines.join(eol) + eol);
  return values;
}

/**
 * Runs `recur args…` inside this test process (the sources, not the built bin), capturing what it
 * writes: for checks of arguments, help and errors, where a process start would cost more than the
 * command. Tests of the bin itself, of signals, of `cwd` and of concurrent runs spawn it instead.
 */
export async function recurHere(args: string[]): Promise<RunResult> {
  const { runRecur } = await import('../src/index.js');
  // Collected synchronously, so the text is complete when the command resolves.
  const sink = () => {
    const chunks: string[] = [];
    const stream = new Writable({
      write(chunk: Buffer | string, _enc, done) {
        chunks.push(String(chunk));
        done();
      },
    });
    stream.write = (chunk: unknown) => {
      chunks.push(String(chunk));
      return true;
    };
    return { stream, text: () => chunks.join('') };
  };
  const [out, err] = [sink(), sink()];
  const code = await runRecur(args, { stdout: out.stream, stderr: err.stream });
  return { code, stdout: out.text(), stderr: err.text() };
}
