/**
 * exclusive, reverse and carry: against the float64 fold, and as properties (fast-check): reverse is
 * flip → scan → flip, and scanning in random pieces with the carry passed along equals scanning at
 * once, for every built-in operator and the (non-commutative) matrix operator.
 */
import { full, type Tensor, tidy } from '@recur/tensor';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type ScanAlgorithm, scan } from '../src/index.js';
import { expectClose, toTensor } from './helpers/assert.js';
import { canon, makeCarry, makeInputs, type OpCase, opCase, opCases } from './helpers/cases.js';
import { type Host, refScan } from './helpers/reference.js';

const ALGORITHMS: ScanAlgorithm[] = ['sequential', 'tree', 'chunked', 'auto'];

/** The operators of the property tests: every built-in and the matrix product. */
const PROPERTY_CASES: OpCase[] = opCases.filter((c) => c.label !== 'affine (user-defined)');

function compare(
  c: OpCase,
  got: ArrayLike<number>[],
  want: ArrayLike<number>[],
  what: string,
  scale = 1,
): void {
  const g = canon(c, got);
  const w = canon(c, want);
  w.forEach((x, k) => {
    expectClose(g[k] as ArrayLike<number>, x, {
      rtol: c.rtol,
      atol: c.atol * scale,
      what: `${c.label} ${what} ${k}`,
    });
  });
}

const data = (ts: readonly Tensor[]) => ts.map((t) => t.dataSync());

/** Reverses a host array along `axis` with plain index arithmetic. */
function flipHost(h: Host, axis: number): Host {
  const outer = h.shape.slice(0, axis).reduce((a, b) => a * b, 1);
  const T = h.shape[axis] as number;
  const inner = h.shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  const out = new Float32Array(h.data.length);
  for (let o = 0; o < outer; o++)
    for (let t = 0; t < T; t++)
      out.set(
        h.data.subarray((o * T + t) * inner, (o * T + t + 1) * inner),
        (o * T + (T - 1 - t)) * inner,
      );
  return { shape: h.shape, data: out };
}

describe.each(opCases)('exclusive and reverse: $label', (c) => {
  it('exclusive, with and without a carry, forwards and reversed, equals the fold', () => {
    let seed = 1;
    for (const algorithm of ALGORITHMS) {
      for (const T of [1, 2, 5, 8]) {
        for (const withCarry of [false, true]) {
          for (const reverse of [false, true]) {
            const inputs = makeInputs(c, [2], T, [], seed++);
            const carry = withCarry ? makeCarry(c, [2], [], seed++) : undefined;
            const want = refScan(c.ref, inputs, 1, { exclusive: true, reverse, carry });
            tidy(() => {
              const res = scan(
                c.op,
                inputs.map((h) => toTensor(h)),
                {
                  exclusive: true,
                  reverse,
                  algorithm,
                  chunkSize: 3,
                  carry: carry?.map((h) => toTensor(h)),
                },
              );
              const what = `${algorithm} T=${T} carry=${withCarry} reverse=${reverse}`;
              compare(c, data(res.outputs), want.outputs, `${what} output`);
              compare(c, data(res.carry), want.carry, `${what} carry`);
            });
          }
        }
      }
    }
  });

  it('exclusive output 0 is the identity, or the carry', () => {
    const inputs = makeInputs(c, [2], 4, [], 7);
    const carry = makeCarry(c, [2], [], 8);
    tidy(() => {
      const xs = inputs.map((h) => toTensor(h));
      const plain = scan(c.op, xs, { exclusive: true }).outputs;
      plain.forEach((o, k) => {
        const first = o.slice(1, 0, 1).dataSync();
        for (const v of first) expect(v).toBe(c.op.identity[k]);
      });
      const carried = scan(c.op, xs, {
        exclusive: true,
        carry: carry.map((h) => toTensor(h)),
      }).outputs;
      carried.forEach((o, k) => {
        expect(Array.from(o.slice(1, 0, 1).dataSync())).toEqual(
          Array.from((carry[k] as Host).data),
        );
      });
    });
  });

  it('reverse equals flip → scan → flip (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 24 }),
        fc.integer({ min: 1, max: 3 }),
        fc.constantFrom(...ALGORITHMS),
        fc.boolean(),
        fc.integer({ min: 1, max: 1 << 30 }),
        (T, batch, algorithm, exclusive, seed) => {
          const inputs = makeInputs(c, [batch], T, [], seed);
          const flipped = inputs.map((h) => flipHost(h, 1));
          tidy(() => {
            const rev = scan(
              c.op,
              inputs.map((h) => toTensor(h)),
              { reverse: true, exclusive, algorithm, chunkSize: 4 },
            );
            const fwd = scan(
              c.op,
              flipped.map((h) => toTensor(h)),
              { exclusive, algorithm, chunkSize: 4 },
            );
            const back = fwd.outputs.map((o) =>
              flipHost({ shape: o.shape.slice(), data: o.dataSync() as Float32Array }, 1),
            );
            compare(
              c,
              data(rev.outputs),
              back.map((h) => h.data),
              'reverse vs flip-scan-flip',
            );
            compare(c, data(rev.carry), data(fwd.carry), 'reverse carry');
            // And both equal the fold run from the end.
            const want = refScan(c.ref, inputs, 1, { reverse: true, exclusive });
            compare(c, data(rev.outputs), want.outputs, 'reverse vs fold');
          });
        },
      ),
      { numRuns: 25 },
    );
  });
});

describe.each(PROPERTY_CASES)('carry: $label', (c) => {
  it('scanning in random pieces with the carry passed along equals scanning at once (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 30 }),
        fc.array(fc.integer({ min: 0, max: 30 }), { maxLength: 5 }),
        fc.constantFrom(...ALGORITHMS),
        fc.constantFrom(...ALGORITHMS),
        fc.boolean(),
        fc.integer({ min: 1, max: 1 << 30 }),
        (T, cuts, whole, pieces, startWithCarry, seed) => {
          const inputs = makeInputs(c, [2], T, [], seed);
          const carry0 = startWithCarry ? makeCarry(c, [2], [], seed + 1) : undefined;
          const bounds = [...new Set([0, ...cuts.map((x) => Math.min(x, T)), T])].sort(
            (a, b) => a - b,
          );
          tidy(() => {
            const xs = inputs.map((h) => toTensor(h));
            const all = scan(c.op, xs, {
              algorithm: whole,
              chunkSize: 4,
              carry: carry0?.map((h) => toTensor(h)),
            });
            let carry: Tensor[] | undefined = carry0?.map((h) => toTensor(h));
            const parts: Float32Array[][] = [];
            for (let i = 0; i + 1 < bounds.length; i++) {
              const [a, b] = [bounds[i] as number, bounds[i + 1] as number];
              const res = scan(
                c.op,
                xs.map((x) => x.slice(1, a, b)),
                { algorithm: pieces, chunkSize: 3, carry },
              );
              parts.push(res.outputs.map((o) => o.dataSync() as Float32Array));
              carry = res.carry;
            }
            // Stitch the pieces back along axis 1 of [2, T, ...].
            const stitched = inputs.map((h, k) => {
              const inner = h.data.length / Math.max(1, 2 * T);
              const out = new Float32Array(h.data.length);
              parts.forEach((p, i) => {
                const a = bounds[i] as number;
                const len = (bounds[i + 1] as number) - a;
                for (let o = 0; o < 2; o++)
                  out.set(
                    (p[k] as Float32Array).subarray(o * len * inner, (o + 1) * len * inner),
                    (o * T + a) * inner,
                  );
              });
              return out;
            });
            compare(c, stitched, data(all.outputs), 'pieces vs whole output', 10);
            if (carry) compare(c, data(carry), data(all.carry), 'pieces vs whole carry', 10);
            const want = refScan(c.ref, inputs, 1, { carry: carry0 });
            compare(c, data(all.outputs), want.outputs, 'whole vs fold');
            compare(c, data(all.carry), want.carry, 'whole carry vs fold');
          });
        },
      ),
      { numRuns: 25 },
    );
  });

  it('T = 0: outputs are empty and the final carry is the carry in, or the identity', () => {
    for (const algorithm of ALGORITHMS) {
      tidy(() => {
        const inputs = makeInputs(c, [2, 3], 0, [], 1);
        const xs = inputs.map((h) => toTensor(h));
        const res = scan(c.op, xs, { algorithm });
        res.outputs.forEach((o, k) => {
          expect(o.shape).toEqual((inputs[k] as Host).shape);
        });
        res.carry.forEach((o, k) => {
          const shape = (inputs[k] as Host).shape.filter((_, i) => i !== 2);
          expect(o.shape).toEqual(shape);
          for (const v of o.dataSync()) expect(v).toBe(c.op.identity[k]);
        });
        const carry = makeCarry(c, [2, 3], [], 2);
        const withCarry = scan(c.op, xs, {
          algorithm,
          exclusive: true,
          reverse: true,
          carry: carry.map((h) => toTensor(h)),
        });
        withCarry.carry.forEach((o, k) => {
          expect(Array.from(o.dataSync())).toEqual(Array.from((carry[k] as Host).data));
        });
      });
    }
  });
});

describe('carry with axis not last', () => {
  it('linearRecurrence over axis 0 of [T, 4] with a carry [4] equals the fold', () => {
    const c = opCase('linearRecurrence');
    const inputs = makeInputs(c, [], 9, [4], 3);
    const carry = makeCarry(c, [], [4], 4);
    const want = refScan(c.ref, inputs, 0, { carry });
    for (const algorithm of ALGORITHMS) {
      tidy(() => {
        const res = scan(
          c.op,
          inputs.map((h) => toTensor(h)),
          { axis: 0, algorithm, chunkSize: 2, carry: carry.map((h) => toTensor(h)) },
        );
        compare(c, data(res.outputs), want.outputs, `${algorithm} output`);
        compare(c, data(res.carry), want.carry, `${algorithm} carry`);
      });
    }
  });

  it('the identity carry changes nothing', () => {
    for (const c of PROPERTY_CASES) {
      const inputs = makeInputs(c, [2], 6, [], 5);
      tidy(() => {
        const xs = inputs.map((h) => toTensor(h));
        const ident = xs.map((x, k) =>
          full(
            x.shape.filter((_, i) => i !== 1),
            c.op.identity[k] as number,
          ),
        );
        const a = scan(c.op, xs, { carry: ident });
        const b = scan(c.op, xs);
        compare(c, data(a.outputs), data(b.outputs), 'identity carry');
      });
    }
  });
});
