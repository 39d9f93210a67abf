/**
 * Every built-in combine (the tensor-op form the generic algorithms use) is associative to float32
 * tolerance on random inputs with −inf entries, has its identity on both sides, and agrees with the
 * float64 combine written in the test.
 */
import { type Tensor, tensor, tidy } from '@recur/tensor';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { expectClose, maxAbs } from './helpers/assert.js';
import { canon, D, type OpCase, opCases } from './helpers/cases.js';
import type { Elem } from './helpers/reference.js';

const NEG_INF = Number.NEGATIVE_INFINITY;
const N = 6; // lanes per element (a batch of 6 independent combines)

/** fast-check arbitraries of one member's values, by operator and member. */
function memberArb(c: OpCase, k: number): fc.Arbitrary<number> {
  const f32 = (min: number, max: number) =>
    fc.double({ min, max, noNaN: true }).map((x) => Math.fround(x));
  const logLike = fc.oneof(
    { weight: 1, arbitrary: fc.constant(NEG_INF) },
    { weight: 4, arbitrary: f32(-50, 50) },
  );
  switch (c.label) {
    case 'add':
      return f32(-100, 100);
    case 'max':
    case 'logaddexp':
      return logLike;
    case 'linearRecurrence':
      return f32(-3, 3);
    case 'attention (head)':
    case 'attention (channel)':
      return k === 0 ? logLike : k === 1 ? f32(0, 10) : f32(-10, 10);
    case 'mat2 (user-defined)':
      return f32(-2, 2);
    default:
      return f32(-2, 2);
  }
}

/** One element: per member, N lanes times the member's element size. */
function elemArb(c: OpCase): fc.Arbitrary<Float32Array[]> {
  return fc.tuple(
    ...c.elem.map((e, k) => {
      const n = N * e.reduce((a, b) => a * b, 1);
      return fc
        .array(memberArb(c, k), { minLength: n, maxLength: n })
        .map((xs) => Float32Array.from(xs));
    }),
  );
}

function toTensors(c: OpCase, x: Float32Array[]): Tensor[] {
  return x.map((v, k) => tensor(v, { shape: [N, ...(c.elem[k] as number[])] }));
}

describe.each(opCases)('combine of $label', (c) => {
  it('is associative to tolerance, −inf entries included (property)', () => {
    fc.assert(
      fc.property(elemArb(c), elemArb(c), elemArb(c), (a, b, d) => {
        tidy(() => {
          const [A, B, C] = [a, b, d].map((x) => toTensors(c, x));
          const left = c.op.combine(c.op.combine(A as Tensor[], B as Tensor[]), C as Tensor[]);
          const right = c.op.combine(A as Tensor[], c.op.combine(B as Tensor[], C as Tensor[]));
          const l = canon(
            c,
            left.map((t) => t.dataSync()),
          );
          const r = canon(
            c,
            right.map((t) => t.dataSync()),
          );
          r.forEach((x, k) => {
            // Sums of products round at the scale of their largest term.
            const scale = Math.max(maxAbs(x), maxAbs(l[k] as ArrayLike<number>), 1);
            expectClose(l[k] as ArrayLike<number>, x, {
              rtol: 1e-5,
              atol: 1e-5 * scale,
              what: `member ${k}`,
            });
          });
        });
      }),
      { numRuns: 60 },
    );
  });

  it('matches the float64 combine and has the identity on both sides (property)', () => {
    fc.assert(
      fc.property(elemArb(c), elemArb(c), (a, b) => {
        tidy(() => {
          const got = canon(
            c,
            c.op.combine(toTensors(c, a), toTensors(c, b)).map((t) => t.dataSync()),
          );
          // The float64 combine, lane by lane (each lane is an independent element).
          const sizes = c.elem.map((e) => e.reduce((p, q) => p * q, 1));
          const want = sizes.map((s) => new Float64Array(N * s));
          for (let i = 0; i < N; i++) {
            const pick = (x: Float32Array[]): Elem =>
              x.map((v, k) =>
                Float64Array.from(
                  v.subarray(i * (sizes[k] as number), (i + 1) * (sizes[k] as number)),
                ),
              );
            c.ref.combine(pick(a), pick(b)).forEach((v, k) => {
              (want[k] as Float64Array).set(v, i * (sizes[k] as number));
            });
          }
          const w = canon(c, want);
          w.forEach((x, k) => {
            const scale = Math.max(maxAbs(x), 1);
            expectClose(got[k] as ArrayLike<number>, x, {
              rtol: 1e-5,
              atol: 1e-6 * scale,
              what: `member ${k}`,
            });
          });
          const ident = c.elem.map((e, k) =>
            tensor(new Float32Array(N * (sizes[k] as number)).fill(c.op.identity[k] as number), {
              shape: [N, ...e],
            }),
          );
          const x = canon(c, a);
          for (const side of [
            c.op.combine(ident, toTensors(c, a)),
            c.op.combine(toTensors(c, a), ident),
          ]) {
            const s = canon(
              c,
              side.map((t) => t.dataSync()),
            );
            // Exactly (−0 and +0 alike: the identity may turn −0 into +0).
            s.forEach((v, k) => {
              expectClose(v, x[k] as ArrayLike<number>, {
                rtol: 0,
                atol: 0,
                what: `identity ${k}`,
              });
            });
          }
        });
      }),
      { numRuns: 40 },
    );
  });
});

describe('the attention combine at the identity', () => {
  it('never evaluates −inf − (−inf): two identities give the identity, not NaN', () => {
    tidy(() => {
      const id = () => [
        tensor([NEG_INF], { shape: [1, 1] }),
        tensor([0], { shape: [1, 1] }),
        tensor(new Float32Array(D), { shape: [1, D] }),
      ];
      const c = opCases.find((x) => x.label === 'attention (head)') as OpCase;
      const out = c.op.combine(id(), id()).map((t) => Array.from(t.dataSync()));
      expect(out).toEqual([[NEG_INF], [0], [0, 0, 0]]);
    });
  });
});
