import { defineConfig, mergeConfig } from 'vitest/config';
import { recurVitestConfig } from '../../vitest.shared';

export default defineConfig((env) =>
  mergeConfig(recurVitestConfig()(env), {
    test: {
      // The end-to-end tests spawn the BUILT `recur` (dist/bin.js): globalSetup builds it when stale.
      globalSetup: ['./test/global-setup.ts'],
      testTimeout: 120_000,
      hookTimeout: 180_000,
    },
  }),
);
