/**
 * Runs before every test file of a package whose vitest config passes `isolate: false` to
 * recurVitestConfig (vitest.shared.ts): its files share one worker process, so a file no longer
 * starts from freshly loaded modules. This puts the state a file may rely on back where a fresh load
 * leaves it: the default random generator gets its initial seed (0) again, so a file's unseeded
 * draws do not depend on the files that ran before it in the same worker.
 */
import { manualSeed } from './packages/tensor/src/index.js';

manualSeed(0);
