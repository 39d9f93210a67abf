import { defaultClientConditions, defaultServerConditions } from 'vite';
import { defineConfig } from 'vitest/config';

/** The export condition under which every `@recur/*` package points at its TypeScript sources. */
const source = '@recur/source';

/**
 * Shared vitest settings for every package: `@recur/*` imports resolve through the `@recur/source`
 * export condition (on top of Vite's defaults), so tests run against sources with no prior build.
 * `ssr` covers tests in Node; `resolve` covers browser-mode tests.
 */
export function recurVitestConfig(options: { passWithNoTests?: boolean } = {}) {
  return defineConfig({
    resolve: { conditions: [source, ...defaultClientConditions] },
    ssr: { resolve: { conditions: [source, ...defaultServerConditions] } },
    test: { passWithNoTests: options.passWithNoTests ?? false },
  });
}
