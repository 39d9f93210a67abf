import { defineConfig, type Options } from 'tsup';

/**
 * Shared tsup settings for every package: ESM from src/index.ts, ES2022, source maps.
 * `overrides` adds entries (the CLI's bin) or changes what a package needs.
 *
 * The .d.ts files are not bundled: each package's build runs `tsc -p tsconfig.build.json` after
 * tsup, which emits one declaration file per module (dist/index.d.ts and so on). Bundled
 * declarations broke in two ways: a package with two entries (tensor and its ./kernels subpath)
 * gets a shared chunk, and rollup-plugin-dts then declares types re-exported through a namespace
 * (`onnx.OnnxContext`) as values, which a consumer's type check rejects; and the bundler drops
 * `/// <reference types>` directives, so WebGPU's globals had to be re-added as a banner.
 */
export function recurTsupConfig(overrides: Options = {}) {
  return defineConfig({
    entry: ['src/index.ts'],
    format: ['esm'],
    sourcemap: true,
    clean: true,
    target: 'es2022',
    ...overrides,
  });
}
