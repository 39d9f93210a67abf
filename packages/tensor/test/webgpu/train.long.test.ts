/** Training on the webgpu backend to convergence (pnpm test:long). */
import { describe, expect, it } from 'vitest';
import { HAS_WEBGPU } from '../helpers/backends.js';
import { expectFlat, trainRings } from './rings.js';

describe.skipIf(!HAS_WEBGPU)('training on webgpu, to convergence', () => {
  it('trains with Adam for 1,000 steps to >= 97 % with GPU live bytes flat', async () => {
    const run = await trainRings(1000);
    expectFlat(run);
    expect(run.losses[0]).toBeGreaterThan(0.4);
    expect(run.losses[run.losses.length - 1]).toBeLessThan(0.1);
    expect(run.accuracy).toBeGreaterThanOrEqual(0.97);
  }, 600_000);
});
