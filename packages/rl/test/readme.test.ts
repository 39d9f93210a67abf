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
  it('its example (examples/readme.ts) records data, trains a Decision Transformer and rolls it out', async () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    const example = readFileSync(new URL('../examples/readme.ts', import.meta.url), 'utf8');
    const code = /```ts\n([\s\S]*?)```/.exec(readme)?.[1] as string;
    expect(code.length).toBeGreaterThan(500);
    expect(example.endsWith(code)).toBe(true);
    const out = await runExample();
    expect(out).toMatch(/expert return: 500/);
    const loss = /loss (\S+) → (\S+)/.exec(out);
    expect(Number(loss?.[2])).toBeLessThan(Number(loss?.[1]));
    expect(out).toMatch(/returns \d+, \d+; \d+ environment steps\/s/);
  }, 60_000);
});
