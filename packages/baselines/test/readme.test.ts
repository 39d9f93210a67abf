import { runReadmeExample } from '@recur/testing';
import { describe, expect, it } from 'vitest';

describe('README', () => {
  it('its example (examples/readme.ts) streams the parallel outputs with a linearly growing cache', async () => {
    const { out } = await runReadmeExample(
      new URL('..', import.meta.url),
      () => import('../examples/readme.js'),
    );
    const diff = Number(/max difference from the parallel forward: (\S+)/.exec(out)?.[1]);
    expect(diff).toBeLessThan(1e-5);
    const caches = [
      ...out.matchAll(
        /after (\d+) tokens: cache of (\d+) tokens, (\d+) bytes \((\d+) allocated\)/g,
      ),
    ].map((m) => [Number(m[1]), Number(m[2]), Number(m[3]), Number(m[4])]);
    // Used bytes exactly linear; the capacity 16 tokens, then 32.
    expect(caches).toEqual([
      [8, 8, 8 * 512, 16 * 512],
      [16, 16, 16 * 512, 16 * 512],
      [24, 24, 24 * 512, 32 * 512],
    ]);
    expect(out).toContain('LSTM: y [2,24,32], h [2,2,32], c [2,2,32]');
  }, 60_000);
});
