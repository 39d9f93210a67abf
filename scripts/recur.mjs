#!/usr/bin/env node
// `pnpm recur …` from a clone: builds @recur/cli and what it imports (turbo; a cache hit when
// nothing changed), then runs the built `recur` with the given arguments in the folder pnpm was
// started from, so that `--data`, `--out` and printed paths are relative to it. The build's output
// is shown only when it fails.
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const root = resolve(import.meta.dirname, '..');
const turbo = resolve(root, 'node_modules', 'turbo', 'bin', 'turbo');
const build = spawnSync(
  process.execPath,
  [turbo, 'run', 'build', '--filter=@recur/cli...', '--output-logs=errors-only'],
  {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, TURBO_TELEMETRY_DISABLED: '1', TURBO_NO_UPDATE_NOTIFIER: '1' },
  },
);
if (build.status !== 0) {
  process.stderr.write(`${build.stdout ?? ''}${build.stderr ?? ''}`);
  process.stderr.write(
    `recur: building @recur/cli failed (${build.error ?? `exit ${build.status}`})\n`,
  );
  process.exit(1);
}
// pnpm runs root scripts in the repository root and says where it was started in INIT_CWD.
// biome-ignore lint/suspicious/noUndeclaredEnvVars: pnpm runs this script, not turbo
const startedIn = process.env.INIT_CWD;
if (startedIn) process.chdir(startedIn);
await import(pathToFileURL(resolve(root, 'packages', 'cli', 'dist', 'bin.js')).href);
