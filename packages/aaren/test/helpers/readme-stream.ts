import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';

/**
 * Streams `tokens` tokens through the README's loop (stream-memory-child.ts, a child process with
 * --expose-gc) and asserts flat memory() and RSS: issue 13's figure is 200,000 tokens (in
 * `pnpm test:long`); the default suite streams 10,000, which a leak of even one tensor per token fails.
 */
export function expectReadmeStreamFlat(tokens: number): void {
  const out = execFileSync(
    process.execPath,
    [
      '--expose-gc',
      '--import',
      'tsx',
      '--conditions=@recur/source',
      fileURLToPath(new URL('../stream-memory-child.ts', import.meta.url)),
      String(tokens),
    ],
    { encoding: 'utf8', cwd: fileURLToPath(new URL('../..', import.meta.url)) },
  );
  const r = JSON.parse(out.trim().split('\n').at(-1) as string) as {
    tokens: number;
    maxDiff: number;
    samples: { t: number; tensors: number; bytes: number; rss: number }[];
  };
  expect(r.tokens).toBe(tokens);
  const first = r.samples[1] as (typeof r.samples)[number]; // after the first tenth: JIT warm
  const half = r.samples[5] as (typeof r.samples)[number]; // the heap has grown to its working size
  const last = r.samples.at(-1) as (typeof r.samples)[number];
  expect(last.tensors, JSON.stringify(r.samples)).toBe(first.tensors);
  expect(last.bytes).toBe(first.bytes);
  // RSS wanders by ±30 MB with the garbage collector's timing (measured over 200,000 tokens);
  // the leak this guards against grew it by 785 MB.
  expect(last.rss - half.rss, JSON.stringify(r.samples)).toBeLessThan(64 * 2 ** 20);
}
