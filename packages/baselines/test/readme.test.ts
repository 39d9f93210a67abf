import { readFileSync } from 'node:fs';
import { format } from 'node:util';
import { describe, expect, it, vi } from 'vitest';

/**
 * Runs examples/readme.ts in this process, on the sources the other tests use (a child Node through
 * tsx cost a process start and a second load of every module), and returns what it logged.
 */
async function runExample(): Promise<string> {
  const lines: string[] = [];
  const log = vi.spyOn(console, 'log').mockImplementation((...args: unknown[]) => {
    lines.push(format(...args));
  });
  try {
    await import('../examples/readme.js');
  } finally {
    log.mockRestore();
  }
  return lines.join('\n');
}

describe('README', () => {
  it('its example (examples/readme.ts) streams the parallel outputs with a linearly growing cache', async () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    const example = readFileSync(new URL('../examples/readme.ts', import.meta.url), 'utf8');
    const code = /```ts\n([\s\S]*?)```/.exec(readme)?.[1] as string;
    expect(example.endsWith(code)).toBe(true);
    const out = await runExample();
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
