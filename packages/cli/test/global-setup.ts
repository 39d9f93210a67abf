/**
 * Builds what the end-to-end tests spawn: packages/cli/dist/bin.js, and the dist of every workspace
 * package it imports, each only when its sources are newer than its build (under turbo, `test`
 * depends on `build`, so this finds everything fresh and does nothing).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const cli = resolve(here, '..');
const packages = resolve(cli, '..');

function newest(dir: string): number {
  let t = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    t = Math.max(t, entry.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

function buildIfStale(pkg: string, output: string): void {
  const out = join(pkg, output);
  const fresh =
    existsSync(out) &&
    statSync(out).mtimeMs >= newest(join(pkg, 'src')) &&
    statSync(out).mtimeMs >= statSync(join(pkg, 'package.json')).mtimeMs;
  if (fresh) return;
  process.stderr.write(
    `[recur cli tests] building ${pkg} (its dist is missing or older than src)\n`,
  );
  const tsup = resolve(packages, '..', 'node_modules', 'tsup', 'dist', 'cli-default.js');
  const [cmd, args] = existsSync(tsup) ? [process.execPath, [tsup]] : ['tsup', []];
  execFileSync(cmd, args, { cwd: pkg, stdio: ['ignore', 'ignore', 'inherit'] });
}

export default function setup(): void {
  for (const dep of ['tensor', 'scan', 'aaren', 'aft', 'baselines', 'rl']) {
    buildIfStale(join(packages, dep), 'dist/index.js');
  }
  buildIfStale(cli, 'dist/bin.js');
}
