import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

describe('README', () => {
  it('its example (examples/readme.ts) records data, trains a Decision Transformer and rolls it out', () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    const example = readFileSync(new URL('../examples/readme.ts', import.meta.url), 'utf8');
    const code = /```ts\n([\s\S]*?)```/.exec(readme)?.[1] as string;
    expect(code.length).toBeGreaterThan(500);
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
    expect(out).toMatch(/expert return: 500/);
    const loss = /loss (\S+) → (\S+)/.exec(out);
    expect(Number(loss?.[2])).toBeLessThan(Number(loss?.[1]));
    expect(out).toMatch(/returns \d+, \d+; \d+ environment steps\/s/);
  }, 60_000);
});
