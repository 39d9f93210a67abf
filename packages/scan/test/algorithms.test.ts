/**
 * Every algorithm equals the float64 fold, for every operator (built-in and user-defined), every
 * length from 0 up through primes and odd numbers, with batch axes before the scan axis, extra axes
 * after it, and the axis given positive or negative.
 */
import { type Tensor, tidy } from '@recur/tensor';
import { describe, expect, it } from 'vitest';
import {
  linearRecurrence,
  type ScanOptions,
  scan,
  sequentialScan,
  treeScan,
} from '../src/index.js';
import { expectClose, toTensor } from './helpers/assert.js';
import { canon, makeCarry, makeInputs, type OpCase, opCase, opCases } from './helpers/cases.js';
import { host, normal, refScan, rng } from './helpers/reference.js';

const LENGTHS = [0, 1, 2, 3, 7, 13, 32, 33];

const ALGORITHMS: { label: string; options: ScanOptions }[] = [
  { label: 'sequential', options: { algorithm: 'sequential' } },
  { label: 'tree', options: { algorithm: 'tree' } },
  { label: 'auto', options: { algorithm: 'auto' } },
  { label: 'default', options: {} },
  { label: 'chunked(1)', options: { algorithm: 'chunked', chunkSize: 1 } },
  { label: 'chunked(2)', options: { algorithm: 'chunked', chunkSize: 2 } },
  { label: 'chunked(5)', options: { algorithm: 'chunked', chunkSize: 5 } },
  { label: 'chunked(64 > T)', options: { algorithm: 'chunked', chunkSize: 64 } },
  { label: 'chunked(default)', options: { algorithm: 'chunked' } },
];

/** Layouts: axes before the scan axis (batch), and scalar axes after it (for elementwise operators). */
const LAYOUTS: { label: string; pre: number[]; post: number[] }[] = [
  { label: 'no batch', pre: [], post: [] },
  { label: 'batch [2, 3]', pre: [2, 3], post: [] },
];

function check(
  c: OpCase,
  pre: number[],
  T: number,
  post: number[],
  options: ScanOptions,
  axisForm: 'positive' | 'negative' | 'default',
  seed: number,
  withCarry = false,
): void {
  const inputs = makeInputs(c, pre, T, post, seed);
  const carry = withCarry ? makeCarry(c, pre, post, seed + 1) : undefined;
  const rank0 = (inputs[0] as { shape: number[] }).shape.length;
  const axis = pre.length;
  const given = axisForm === 'positive' ? axis : axisForm === 'negative' ? axis - rank0 : undefined;
  const want = refScan(c.ref, inputs, axis, { carry });
  tidy(() => {
    const res = scan(
      c.op,
      inputs.map((h) => toTensor(h)),
      {
        ...options,
        ...(given === undefined ? {} : { axis: given }),
        ...(carry ? { carry: carry.map((h) => toTensor(h)) } : {}),
      },
    );
    expect(res.outputs.length).toBe(c.op.arity);
    const got = canon(
      c,
      res.outputs.map((o) => o.dataSync()),
    );
    res.outputs.forEach((o, k) => {
      expect(o.shape, `output ${k} shape`).toEqual((inputs[k] as { shape: number[] }).shape);
      expect(o.dtype).toBe('float32');
      expectClose(got[k] as ArrayLike<number>, want.outputs[k] as Float64Array, {
        rtol: c.rtol,
        atol: c.atol,
        what: `output ${k}`,
      });
    });
    const gotCarry = canon(
      c,
      res.carry.map((o) => o.dataSync()),
    );
    res.carry.forEach((o, k) => {
      const shape = (inputs[k] as { shape: number[] }).shape.filter((_, i) => i !== axis);
      expect(o.shape, `carry ${k} shape`).toEqual(shape);
      expectClose(gotCarry[k] as ArrayLike<number>, want.carry[k] as Float64Array, {
        rtol: c.rtol,
        atol: c.atol,
        what: `carry ${k}`,
      });
    });
  });
}

describe.each(opCases)('scan($label) equals the float64 fold', (c) => {
  it.each(ALGORITHMS)('$label, every length, with and without batch axes', ({ options }) => {
    let seed = 1;
    for (const { pre, post } of LAYOUTS) {
      for (const T of LENGTHS) check(c, pre, T, post, options, 'default', seed++);
    }
  });

  it.each(ALGORITHMS)('$label with a carry', ({ options }) => {
    let seed = 100;
    for (const T of [0, 1, 2, 7, 33]) check(c, [2], T, [], options, 'default', seed++, true);
  });

  it('axis given positive and negative, and not the last axis (extra axes after it)', () => {
    let seed = 200;
    for (const { options } of ALGORITHMS.slice(0, 5)) {
      for (const T of [1, 6, 11]) {
        check(c, [2], T, [], options, 'positive', seed++);
        check(c, [2], T, [], options, 'negative', seed++);
        // Extra axes between the scan axis and the element axes: the axis is not the default one.
        check(c, [2], T, [3], options, 'positive', seed++);
        check(c, [], T, [2, 2], options, 'negative', seed++, true);
      }
    }
  });
});

describe('generic algorithms directly', () => {
  it('sequentialScan and treeScan equal the fold for every operator and odd lengths', () => {
    let seed = 300;
    for (const c of opCases) {
      for (const T of [1, 2, 5, 9, 17]) {
        const inputs = makeInputs(c, [2], T, [], seed++);
        const want = refScan(c.ref, inputs, 1);
        tidy(() => {
          for (const f of [sequentialScan, treeScan]) {
            const outs: Tensor[] = f(
              c.op,
              inputs.map((h) => toTensor(h)),
              1,
            );
            const got = canon(
              c,
              outs.map((o) => o.dataSync()),
            );
            outs.forEach((_, k) => {
              expectClose(got[k] as ArrayLike<number>, want.outputs[k] as Float64Array, {
                rtol: c.rtol,
                atol: c.atol,
                what: `${c.label} ${f.name} T=${T} output ${k}`,
              });
            });
          }
        });
      }
    }
  });

  it('linearRecurrence with a broadcast scale (a [2, T, 1], b [2, T, 3]) uses the generic path', () => {
    const c = opCase('linearRecurrence');
    let seed = 350;
    for (const T of [1, 4, 11]) {
      const r = rng(seed++);
      const a = host([2, T, 1], () => (r() < 0.5 ? -1 : 1) * (0.3 + 0.8 * r()));
      const b = host([2, T, 3], () => normal(r));
      const carry = [host([2, 1], () => 0.8), host([2, 3], () => normal(r))];
      const want = refScan(c.ref, [a, b], 1, { carry });
      for (const algorithm of ['sequential', 'tree', 'chunked', 'auto'] as const) {
        tidy(() => {
          const res = scan(linearRecurrence, [toTensor(a), toTensor(b)], {
            axis: 1,
            algorithm,
            chunkSize: 2,
            carry: carry.map((h) => toTensor(h)),
          });
          res.outputs.forEach((o, k) => {
            expectClose(o.dataSync(), want.outputs[k] as Float64Array, {
              rtol: 1e-5,
              atol: 1e-5,
              what: `${algorithm} T=${T} output ${k}`,
            });
          });
        });
      }
    }
  });

  it('a longer tree scan (T = 1000, batch) matches the fold', () => {
    for (const c of opCases) {
      const inputs = makeInputs(c, [2], 1000, [], 400);
      const want = refScan(c.ref, inputs, 1);
      tidy(() => {
        const res = scan(
          c.op,
          inputs.map((h) => toTensor(h)),
          { algorithm: 'tree', axis: 1 },
        );
        const got = canon(
          c,
          res.outputs.map((o) => o.dataSync()),
        );
        res.outputs.forEach((_, k) => {
          expectClose(got[k] as ArrayLike<number>, want.outputs[k] as Float64Array, {
            // Products of 1000 factors: compare relative to each value's own size.
            rtol: c.label === 'add' ? 1e-5 : 2e-4,
            atol: c.label === 'add' ? 1e-4 : 1e-5,
            what: `${c.label} output ${k}`,
          });
        });
      });
    }
  });
});
