import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

describe('README', () => {
  it('its example (examples/readme.ts) streams the parallel outputs with a linearly growing cache', () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    const example = readFileSync(new URL('../examples/readme.ts', import.meta.url), 'utf8');
    const code = /```ts\n([\s\S]*?)```/.exec(readme)?.[1] as string;
    expect(example.endsWith(code)).toBe(true);
    const out = execFileSync(
      process.execPath,
      [
        '--import',
        'tsx',
        '--conditions=@recur/source',
        fileURLToPath(new URL('../examples/readme.ts', import.meta.url)),
      ],
      { encoding: 'utf8', cwd: fileURLToPath(new URL('..', import.meta.url)) },
    );
    const diff = Number(/max difference from the parallel forward: (\S+)/.exec(out)?.[1]);
    expect(diff).toBeLessThan(1e-5);
    const caches = [
      ...out.matchAll(
        /after (\d+) tokens: cache of (\d+) tokens, (\d+) bytes \((\d+) allocated\)/g,
      ),
    ].map((m) => [Number(m[1]), Number(m[2]), Number(m[3]), Number(m[4])]);
    // Used bytes exactly linear; the capacity 16 tokens, then 32.
    expect(caches).toEqual([
      [8, 8, 8 * 512, 16 * 512],
      [16, 16, 16 * 512, 16 * 512],
      [24, 24, 24 * 512, 32 * 512],
    ]);
    expect(out).toContain('LSTM: y [2,24,32], h [2,2,32], c [2,2,32]');
  }, 60_000);
});
