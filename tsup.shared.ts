import { defineConfig, type Options } from 'tsup';

/**
 * Shared tsup settings for every package: ESM + .d.ts from src/index.ts, ES2022, source maps.
 * `overrides` adds entries (the CLI's bin) or changes what a package needs.
 */
export function recurTsupConfig(overrides: Options = {}) {
  return defineConfig({
    entry: ['src/index.ts'],
    format: ['esm'],
    dts: true,
    sourcemap: true,
    clean: true,
    target: 'es2022',
    ...overrides,
  });
}
