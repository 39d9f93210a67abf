import { defineConfig, mergeConfig } from 'vitest/config';
import { recurVitestConfig } from '../../vitest.shared';

export default defineConfig((env) =>
  mergeConfig(recurVitestConfig({ isolate: false })(env), {
    test: {
      // The end-to-end tests spawn the BUILT `recur` (dist/bin.js): globalSetup builds it when stale.
      globalSetup: ['./test/global-setup.ts'],
      testTimeout: 120_000,
      // Tests that run the command in-process (helpers.ts recurHere) read its text without colours,
      // as the spawned ones do: picocolors would otherwise colour it under CI=true.
      env: { NO_COLOR: '1' },
      hookTimeout: 180_000,
    },
  }),
);
