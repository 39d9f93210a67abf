import { fileURLToPath } from 'node:url';
import { defaultClientConditions, defaultServerConditions } from 'vite';
import { configDefaults, defineConfig } from 'vitest/config';

/** The export condition under which every `@recur/*` package points at its TypeScript sources. */
const source = '@recur/source';

/**
 * Long runs (convergence to an accuracy, streams of 100,000 tokens) live in `*.long.test.ts`: the
 * default run leaves them out so that `pnpm test` stays within minutes; `vitest run --mode long`
 * (`pnpm test:long`) runs only them.
 */
const LONG = '**/*.long.test.ts';

/**
 * Shared vitest settings for every package: `@recur/*` imports resolve through the `@recur/source`
 * export condition (on top of Vite's defaults), so tests run against sources with no prior build.
 * `ssr` covers tests in Node; `resolve` covers browser-mode tests.
 */
export function recurVitestConfig(
  options: {
    passWithNoTests?: boolean;
    /**
     * false: one worker process runs its files one after another without reloading the sources for
     * each file. Loading them (a fresh process, then every module) cost about half of a package's
     * CPU time (tensor: 68 s of CPU isolated, 38 s not). vitest.setup.ts then resets, before each
     * file, the global state a file may rely on (the default generator's seed); files that change
     * other settings (threads, kernels, backend, pool limit) put them back themselves.
     */
    isolate?: boolean;
  } = {},
) {
  const isolate = options.isolate ?? true;
  return defineConfig(({ mode }) => ({
    resolve: { conditions: [source, ...defaultClientConditions] },
    ssr: { resolve: { conditions: [source, ...defaultServerConditions] } },
    test:
      mode === 'long'
        ? { include: [LONG], passWithNoTests: true }
        : {
            exclude: [...configDefaults.exclude, LONG],
            isolate,
            setupFiles: isolate
              ? []
              : [fileURLToPath(new URL('./vitest.setup.ts', import.meta.url))],
            passWithNoTests: options.passWithNoTests ?? false,
            // vitest's 5 s default fails tests of a few seconds when turbo runs two suites on two
            // busy cores (seen: aft's 2-layer gradient check at 7 s); slow tests set their own.
            testTimeout: 30_000,
          },
  }));
}
