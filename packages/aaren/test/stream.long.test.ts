import { describe, it } from 'vitest';
import { expectFlatStream } from './helpers/stream.js';

describe('Aaren streams long sequences (pnpm test:long)', () => {
  it('streams 100,000 tokens with a constant state size and flat live memory', () => {
    expectFlatStream(100_000);
  }, 600_000);
});
