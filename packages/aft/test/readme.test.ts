import { runReadmeExample } from '@recur/testing';
import { describe, expect, it } from 'vitest';

describe('README', () => {
  it('its example (examples/readme.ts) trains, then streams the same outputs', async () => {
    const { code, out } = await runReadmeExample(
      new URL('..', import.meta.url),
      () => import('../examples/readme.js'),
    );
    expect(code.length).toBeGreaterThan(500);
    const diff = Number(/max difference from the parallel forward: (\S+)/.exec(out)?.[1]);
    expect(diff).toBeLessThan(1e-5);
    const losses = [...out.matchAll(/loss (\S+)/g)].map((m) => Number(m[1]));
    expect(losses.at(-1)).toBeLessThan((losses[0] as number) / 5);
    expect(out).toMatch(/AftConv2d output: \[ 2, 8, 8, 16 \]/);
  }, 60_000);
});
