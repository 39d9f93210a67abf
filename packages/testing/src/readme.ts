import { readFileSync } from 'node:fs';
import { format } from 'node:util';
import { expect, vi } from 'vitest';

/**
 * Runs a package's README example in this process, on the sources the other tests use (a child Node
 * through tsx cost a process start and a second load of every module). First checks that
 * `examples/readme.ts` under `packageDir` ends with the README's first ```ts block (so the README
 * shows what runs); `load` imports the example (`() => import('../examples/readme.js')`, written in
 * the test so that it resolves from there). Returns the block and what the example logged.
 */
export async function runReadmeExample(
  packageDir: URL,
  load: () => Promise<unknown>,
): Promise<{ code: string; out: string }> {
  const readme = readFileSync(new URL('README.md', packageDir), 'utf8');
  const example = readFileSync(new URL('examples/readme.ts', packageDir), 'utf8');
  const code = /```ts\n([\s\S]*?)```/.exec(readme)?.[1] ?? '';
  expect(code, 'README.md has no ```ts block').not.toBe('');
  expect(example.endsWith(code), 'examples/readme.ts does not end with the README block').toBe(
    true,
  );
  const lines: string[] = [];
  const log = vi.spyOn(console, 'log').mockImplementation((...args: unknown[]) => {
    lines.push(format(...args));
  });
  try {
    await load();
  } finally {
    log.mockRestore();
  }
  return { code, out: lines.join('\n') };
}
