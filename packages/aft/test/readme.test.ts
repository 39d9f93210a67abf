import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

describe('README', () => {
  it('its example (examples/readme.ts) trains, then streams the same outputs', () => {
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
    const diff = Number(/max difference from the parallel forward: (\S+)/.exec(out)?.[1]);
    expect(diff).toBeLessThan(1e-5);
    const losses = [...out.matchAll(/loss (\S+)/g)].map((m) => Number(m[1]));
    expect(losses.at(-1)).toBeLessThan((losses[0] as number) / 5);
    expect(out).toMatch(/AftConv2d output: \[ 2, 8, 8, 16 \]/);
  }, 60_000);
});
