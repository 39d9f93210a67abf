/**
 * attentionScan against causal softmax attention written naively (O(T²), float64), in both forms —
 * one score per position (scores [.., T], values [.., T, d]) and one per channel (both [.., T, d]) —
 * with the identity cases spelled out (leading, trailing, all −inf scores), huge score spreads over a
 * long sequence, and pieces with a carry against the whole.
 */
import { type Tensor, tensor, tidy } from '@recur/tensor';
import { describe, expect, it } from 'vitest';
import {
  type AttentionCarry,
  attentionScan,
  emptyAttentionCarry,
  type ScanAlgorithm,
} from '../src/index.js';
import { expectClose, expectFinite } from './helpers/assert.js';
import {
  type Host,
  host,
  naiveAttention,
  normal,
  rng,
  streamingAttention,
} from './helpers/reference.js';

const NEG_INF = Number.NEGATIVE_INFINITY;
const ALGORITHMS: { algorithm?: ScanAlgorithm; chunkSize?: number }[] = [
  {},
  { algorithm: 'sequential' },
  { algorithm: 'tree' },
  { algorithm: 'chunked', chunkSize: 1 },
  { algorithm: 'chunked', chunkSize: 4 },
  { algorithm: 'chunked', chunkSize: 1000 },
];
const label = (a: { algorithm?: ScanAlgorithm; chunkSize?: number }) =>
  `${a.algorithm ?? 'default'}${a.chunkSize ? `(${a.chunkSize})` : ''}`;

type Form = 'head' | 'channel';

interface Problem {
  scores: Host;
  values: Host;
  outer: number;
  T: number;
  d: number;
  channels: number;
}

function problem(
  form: Form,
  batch: number[],
  T: number,
  d: number,
  seed: number,
  score: (r: () => number, t: number) => number,
): Problem {
  const r = rng(seed);
  const outer = batch.reduce((a, b) => a * b, 1);
  const channels = form === 'head' ? 1 : d;
  const sShape = form === 'head' ? [...batch, T] : [...batch, T, d];
  const scores = host(sShape, (i) => score(r, Math.floor(i / channels) % Math.max(T, 1)));
  const values = host([...batch, T, d], () => normal(r));
  return { scores, values, outer, T, d, channels };
}

const spread50 = (r: () => number) => (r() < 0.15 ? NEG_INF : (2 * r() - 1) * 50);

function run(p: Problem, opts: object = {}): { out: Tensor; carry: AttentionCarry } {
  return attentionScan(
    tensor(p.scores.data, { shape: p.scores.shape }),
    tensor(p.values.data, { shape: p.values.shape }),
    opts,
  );
}

describe.each<Form>(['head', 'channel'])(
  'attentionScan, %s form, equals naive causal softmax',
  (form) => {
    it.each(ALGORITHMS.map((a) => ({ ...a, name: label(a) })))(
      '$name, batch and odd lengths, scores over ±50 with −inf',
      (opts) => {
        let seed = 1;
        for (const batch of [[], [3], [2, 2]]) {
          for (const T of [1, 2, 7, 16, 33]) {
            const p = problem(form, batch, T, 5, seed++, spread50);
            const want = naiveAttention(p.scores.data, p.values.data, p.outer, T, 5, p.channels);
            tidy(() => {
              const { out, carry } = run(p, opts);
              expect(out.shape).toEqual(p.values.shape);
              const got = out.dataSync();
              expectFinite(got, 'output');
              expectClose(got, want, { rtol: 1e-5, atol: 1e-5, what: `batch [${batch}] T=${T}` });
              // The carry's shapes: m, u [.., c], w [.., d].
              expect(carry.m.shape).toEqual([...batch, p.channels]);
              expect(carry.u.shape).toEqual([...batch, p.channels]);
              expect(carry.w.shape).toEqual([...batch, 5]);
            });
          }
        }
      },
    );

    it.each(ALGORITHMS.map((a) => ({ ...a, name: label(a) })))(
      '$name: leading, middle, trailing and all −inf scores (identity handled explicitly)',
      (opts) => {
        const T = 9;
        const d = 3;
        const patterns: ((t: number) => boolean)[] = [
          (t) => t < 3, // the sequence starts with −inf: outputs 0 there
          (t) => t >= 3 && t < 6, // −inf in the middle: earlier outputs carry on
          (t) => t >= 6, // trailing −inf
          () => true, // all −inf: all outputs 0, no NaN
          (t) => t % 2 === 0, // every other one, starting with −inf
        ];
        patterns.forEach((isInf, n) => {
          const p = problem(form, [2], T, d, 50 + n, (r, t) =>
            isInf(t) ? NEG_INF : (2 * r() - 1) * 20,
          );
          const want = naiveAttention(p.scores.data, p.values.data, p.outer, T, d, p.channels);
          tidy(() => {
            const got = run(p, opts).out.dataSync();
            expectFinite(got, `pattern ${n} output`);
            expectClose(got, want, { rtol: 1e-5, atol: 1e-6, what: `pattern ${n}` });
          });
        });
      },
    );

    it('a carry in equals the naive softmax with the carry as one more earlier position', () => {
      const d = 4;
      let seed = 70;
      for (const opts of ALGORITHMS) {
        for (const T of [1, 6, 13]) {
          const p = problem(form, [2], T, d, seed++, spread50);
          const r = rng(seed++);
          const c = p.channels;
          // Carries: one finite, one the identity (a fresh sequence).
          const m = Float32Array.from({ length: 2 * c }, (_, i) =>
            i < c ? 30 * (2 * r() - 1) : NEG_INF,
          );
          const u = Float32Array.from({ length: 2 * c }, (_, i) => (i < c ? 0.5 + r() : 0));
          const w = Float32Array.from({ length: 2 * d }, (_, i) => (i < d ? normal(r) : 0));
          const want = naiveAttention(p.scores.data, p.values.data, 2, T, d, c, { m, u, w });
          tidy(() => {
            const got = run(p, {
              ...opts,
              carry: {
                m: tensor(m, { shape: [2, c] }),
                u: tensor(u, { shape: [2, c] }),
                w: tensor(w, { shape: [2, d] }),
              },
            }).out.dataSync();
            expectClose(got, want, { rtol: 1e-5, atol: 1e-5, what: `${label(opts)} T=${T}` });
          });
        }
      }
    });

    it('scanning in pieces with the carry passed along equals scanning at once', () => {
      const T = 40;
      const d = 4;
      const p = problem(form, [3], T, d, 90, spread50);
      const want = naiveAttention(p.scores.data, p.values.data, 3, T, d, p.channels);
      for (const cuts of [[1, 2, 3], [7, 20, 21], [39], [0, 13, 40]]) {
        for (const opts of [{}, { algorithm: 'tree' as const }]) {
          tidy(() => {
            const s = tensor(p.scores.data, { shape: p.scores.shape });
            const v = tensor(p.values.data, { shape: p.values.shape });
            const bounds = [0, ...cuts, T];
            let carry: AttentionCarry | undefined;
            const outs: Tensor[] = [];
            for (let i = 0; i + 1 < bounds.length; i++) {
              const [a, b] = [bounds[i] as number, bounds[i + 1] as number];
              const res = attentionScan(s.slice(1, a, b), v.slice(1, a, b), { ...opts, carry });
              outs.push(res.out);
              carry = res.carry;
            }
            // Stitch along axis 1 of [3, T, d] on the host.
            const got = new Float32Array(3 * T * d);
            outs.forEach((o, i) => {
              const a = bounds[i] as number;
              const len = (bounds[i + 1] as number) - a;
              const data = o.dataSync();
              for (let b = 0; b < 3; b++)
                got.set(data.subarray(b * len * d, (b + 1) * len * d), (b * T + a) * d);
            });
            expectClose(got, want, { rtol: 1e-5, atol: 1e-5, what: `cuts ${cuts}` });
            const whole = attentionScan(s, v, opts).carry;
            const last = carry as AttentionCarry;
            // The same state (up to float32 rounding), so the same continuation.
            expectClose(last.m.dataSync(), whole.m.dataSync(), {
              rtol: 0,
              atol: 0,
              what: 'carry m',
            });
            expectClose(last.u.dataSync(), whole.u.dataSync(), { rtol: 1e-5, what: 'carry u' });
            expectClose(last.w.dataSync(), whole.w.dataSync(), {
              rtol: 1e-5,
              atol: 1e-5,
              what: 'carry w',
            });
          });
        }
      }
    });

    it('emptyAttentionCarry is a fresh sequence', () => {
      const p = problem(form, [2], 5, 3, 95, spread50);
      tidy(() => {
        const a = run(p).out.dataSync();
        const b = run(p, { carry: emptyAttentionCarry([2], 3, p.channels) }).out.dataSync();
        expectClose(b, a, { rtol: 0, atol: 0 });
      });
    });
  },
);

describe('attentionScan on long sequences with huge score spreads', () => {
  it('T = 100000, scores over [−1e4, 1e4], one score per position: no NaN/Inf, matches float64 to 1e-5', () => {
    const T = 100_000;
    const d = 4;
    const p = problem('head', [1], T, d, 123, (r) => (2 * r() - 1) * 1e4);
    // A few −inf runs, including at the very start.
    for (let t = 0; t < T; t += 9973)
      for (let i = t; i < Math.min(T, t + 5); i++) p.scores.data[i] = NEG_INF;
    const want = streamingAttention(p.scores.data, p.values.data, 1, T, d, 1);
    tidy(() => {
      const got = run(p).out.dataSync();
      expectFinite(got, 'output');
      expectClose(got, want, { rtol: 1e-5, atol: 1e-6 });
      // The last output: dominated by the position of the largest score so far.
      const got2 = run(p, { algorithm: 'chunked', chunkSize: 4096 }).out.dataSync();
      expectClose(got2, want, { rtol: 1e-5, atol: 1e-6, what: 'chunked' });
    });
  });

  it('T = 100000, scores a slow random walk (many near-ties), tree algorithm too', () => {
    const T = 100_000;
    const d = 2;
    let level = 0;
    const p = problem('head', [1], T, d, 321, (r) => {
      level += 0.05 * normal(r);
      return level;
    });
    const want = streamingAttention(p.scores.data, p.values.data, 1, T, d, 1);
    tidy(() => {
      for (const opts of [{}, { algorithm: 'tree' as const }]) {
        const got = run(p, opts).out.dataSync();
        expectFinite(got, 'output');
        // Each output averages up to 1e5 values: compare at the scale of the values (~1).
        expectClose(got, want, { rtol: 1e-5, atol: 1e-5, what: label(opts) });
      }
    });
  });

  it('T = 20000, one score per channel, scores over [−1e4, 1e4]', () => {
    const T = 20_000;
    const d = 4;
    const p = problem('channel', [1], T, d, 77, (r) =>
      r() < 0.01 ? NEG_INF : (2 * r() - 1) * 1e4,
    );
    const want = streamingAttention(p.scores.data, p.values.data, 1, T, d, d);
    tidy(() => {
      const got = run(p).out.dataSync();
      expectFinite(got, 'output');
      expectClose(got, want, { rtol: 1e-5, atol: 1e-6 });
    });
  });
});

describe('attentionScan reuses pooled buffers without stale values', () => {
  it('a second call into the first one’s released outputs (no memset) equals a fresh run', () => {
    // [2, 1024, 64] float32 outputs are 512 KiB: pooled, and handed back unzeroed to the kernel.
    const [B, T, d] = [2, 1024, 64];
    const values = (seed: number) =>
      Float32Array.from({ length: B * T * d }, (_, i) => Math.sin(i * 0.37 + seed));
    const first = tidy(() =>
      attentionScan(
        tensor(
          Float32Array.from({ length: B * T }, (_, i) => Math.cos(i)),
          { shape: [B, T] },
        ),
        tensor(values(1), { shape: [B, T, d] }),
      ).out.dataSync(),
    );
    expect(first.some((x) => x !== 0)).toBe(true);
    // Leading −inf scores: those outputs must be written as 0, not left from the first call.
    const scores = Float32Array.from({ length: B * T }, (_, i) =>
      i % T < 300 ? Number.NEGATIVE_INFINITY : Math.sin(i),
    );
    const again = tidy(() =>
      attentionScan(
        tensor(scores, { shape: [B, T] }),
        tensor(values(2), { shape: [B, T, d] }),
      ).out.dataSync(),
    );
    const ref = attentionReference(scores, values(2), B, T, d);
    for (let i = 0; i < again.length; i++) {
      if (
        Math.abs((again[i] as number) - (ref[i] as number)) >
        1e-5 * (1 + Math.abs(ref[i] as number))
      ) {
        throw new Error(`element ${i}: got ${again[i]}, want ${ref[i]}`);
      }
    }
  });
});

/** out_t = Σ_{i≤t} softmax_i(s) v_i per row in float64, 0 while every score so far is −inf. */
function attentionReference(s: Float32Array, v: Float32Array, B: number, T: number, d: number) {
  const out = new Float64Array(B * T * d);
  for (let b = 0; b < B; b++) {
    let m = Number.NEGATIVE_INFINITY;
    let u = 0;
    const w = new Float64Array(d);
    for (let t = 0; t < T; t++) {
      const x = s[b * T + t] as number;
      if (x === Number.NEGATIVE_INFINITY) continue;
      const mn = Math.max(m, x);
      const ca = m === Number.NEGATIVE_INFINITY ? 0 : Math.exp(m - mn);
      const cb = Math.exp(x - mn);
      u = u * ca + cb;
      for (let k = 0; k < d; k++)
        w[k] = (w[k] as number) * ca + cb * (v[(b * T + t) * d + k] as number);
      m = mn;
      for (let k = 0; k < d; k++) out[(b * T + t) * d + k] = (w[k] as number) / u;
    }
  }
  return out;
}
