import { describe, it } from 'vitest';
import { expectReadmeStreamFlat } from './helpers/readme-stream.js';

// 10,000 tokens here; the 200,000 of issue 13 run in stream.long.test.ts (pnpm test:long).
const TOKENS = Number(process.env.RECUR_STREAM_TOKENS ?? 10_000);

describe("README's streaming loop", () => {
  it(`streams ${TOKENS} tokens with flat memory() and RSS`, () => {
    expectReadmeStreamFlat(TOKENS);
  }, 600_000);
});
