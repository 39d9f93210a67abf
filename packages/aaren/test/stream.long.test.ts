import { describe, it } from 'vitest';
import { expectReadmeStreamFlat } from './helpers/readme-stream.js';
import { expectFlatStream } from './helpers/stream.js';

describe('Aaren streams long sequences (pnpm test:long)', () => {
  it('streams 100,000 tokens with a constant state size and flat live memory', () => {
    expectFlatStream(100_000);
  }, 600_000);

  it("streams 200,000 tokens through the README's loop with flat memory() and RSS", () => {
    expectReadmeStreamFlat(200_000);
  }, 600_000);
});
