/**
 * The API reference's checks, with the site's own TypeDoc settings, on two small fixtures: a broken
 * {@link} and an undocumented export each fail the build, and say which.
 */
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { apiReference } from '../scripts/api-reference.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const here = (path: string) => fileURLToPath(new URL(path, import.meta.url));

describe('the API reference build', () => {
  afterEach(() => vi.restoreAllMocks());

  it('fails on a broken {@link} and on an undocumented export', async () => {
    const said: string[] = [];
    for (const level of ['log', 'warn', 'error'] as const) {
      vi.spyOn(console, level).mockImplementation(
        (...args: unknown[]) => void said.push(args.join(' ')),
      );
    }
    await expect(
      apiReference(
        ROOT,
        {
          entryPoints: [
            here('./fixtures/typedoc/broken-link.ts'),
            here('./fixtures/typedoc/undocumented.ts'),
          ],
          tsconfig: here('./fixtures/typedoc/tsconfig.json'),
          // Not the site's typedoc.json in the working folder, whose tsconfig lists the packages.
          options: here('./fixtures/typedoc/typedoc.json'),
          // The fixtures belong to this package, so its exports must be documented.
          packagesRequiringDocumentation: ['@recur/docs'],
        },
        false,
      ),
    ).rejects.toThrow(/TypeDoc: \d+ errors, 2 warnings/);
    const text = said.join('\n');
    expect(text).toMatch(/NoSuchSymbol/);
    expect(text).toMatch(/undocumented.*does not have any documentation/);
    // The documented export in the same file is not reported.
    expect(text).not.toMatch(/documented \(Variable\).*does not have/);
  }, 60_000);
});
