import { runReadmeExample } from '@recur/testing';
import { describe, expect, it } from 'vitest';

describe('README', () => {
  it('its example (examples/readme.ts) records data, trains a Decision Transformer and rolls it out', async () => {
    const { code, out } = await runReadmeExample(
      new URL('..', import.meta.url),
      () => import('../examples/readme.js'),
    );
    expect(code.length).toBeGreaterThan(500);
    expect(out).toMatch(/expert return: 500/);
    const loss = /loss (\S+) → (\S+)/.exec(out);
    expect(Number(loss?.[2])).toBeLessThan(Number(loss?.[1]));
    expect(out).toMatch(/returns \d+, \d+; \d+ environment steps\/s/);
  }, 60_000);
});
