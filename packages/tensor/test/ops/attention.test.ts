import { expect, it } from 'vitest';
import {
  matmulT,
  softmaxAttention,
  softmaxAttentionWithLse,
  type Tensor,
  tensor,
  where,
} from '../../src/index.js';
import { expectClose, expectTensorError } from '../helpers/assert.js';
import { describeBackends } from '../helpers/backends.js';
import { gradcheck } from '../helpers/gradcheck.js';
import { numel, uniform } from '../helpers/reference.js';

interface Case {
  lead: number[];
  tq: number;
  tk: number;
  d: number;
  dv: number;
  causal?: boolean;
  offset?: number;
  length?: number;
  scale?: number;
}

/** The definition, in float64, written out directly: masked scores, a max-shifted softmax, a sum. */
function reference(q: Float32Array, k: Float32Array, v: Float32Array, c: Case) {
  const batch = numel(c.lead);
  const scale = c.scale ?? 1 / Math.sqrt(c.d);
  const length = c.length ?? c.tk;
  const offset = c.offset ?? length - c.tq;
  const out = new Float64Array(batch * c.tq * c.dv);
  const lse = new Float64Array(batch * c.tq);
  for (let b = 0; b < batch; b++) {
    for (let i = 0; i < c.tq; i++) {
      const scores: number[] = [];
      for (let j = 0; j < c.tk; j++) {
        const visible = j < length && (!c.causal || j <= offset + i);
        let s = 0;
        for (let x = 0; x < c.d; x++)
          s += q[(b * c.tq + i) * c.d + x]! * k[(b * c.tk + j) * c.d + x]!;
        scores.push(visible ? s * scale : Number.NEGATIVE_INFINITY);
      }
      const m = Math.max(...scores);
      const row = b * c.tq + i;
      if (m === Number.NEGATIVE_INFINITY) {
        lse[row] = m;
        continue;
      }
      const e = scores.map((s) => Math.exp(s - m));
      const z = e.reduce((a, x) => a + x, 0);
      lse[row] = m + Math.log(z);
      for (let j = 0; j < c.tk; j++)
        for (let x = 0; x < c.dv; x++)
          out[row * c.dv + x]! += (e[j]! / z) * v[(b * c.tk + j) * c.dv + x]!;
    }
  }
  return { out, lse };
}

function inputs(c: Case, seed: number, spread = 1) {
  const q = uniform(numel([...c.lead, c.tq, c.d]), seed, -spread, spread);
  const k = uniform(numel([...c.lead, c.tk, c.d]), seed + 1, -spread, spread);
  const v = uniform(numel([...c.lead, c.tk, c.dv]), seed + 2);
  return { q, k, v };
}

const CASES: Case[] = [
  { lead: [2, 3], tq: 5, tk: 5, d: 4, dv: 3, causal: true }, // the training case
  { lead: [2], tq: 7, tk: 11, d: 3, dv: 5 }, // prime lengths, not causal
  { lead: [1, 2], tq: 3, tk: 7, d: 2, dv: 2, causal: true }, // a block after 4 cached keys
  { lead: [2], tq: 1, tk: 6, d: 5, dv: 4, causal: true, length: 4 }, // one token, a spare tail
  { lead: [3], tq: 1, tk: 1, d: 1, dv: 1, causal: true }, // T = 1
  { lead: [2], tq: 4, tk: 4, d: 3, dv: 2, causal: true, offset: -2 }, // first two queries see nothing
  { lead: [], tq: 3, tk: 4, d: 2, dv: 3, length: 0 }, // no keys at all
];

function describeCase(c: Case): string {
  return `q [${[...c.lead, c.tq, c.d]}], k [${[...c.lead, c.tk, c.d]}], dv ${c.dv}${c.causal ? ', causal' : ''}${c.offset !== undefined ? `, offset ${c.offset}` : ''}${c.length !== undefined ? `, length ${c.length}` : ''}`;
}

describeBackends('softmaxAttention (fused)', () => {
  for (const c of CASES) {
    it(`matches the float64 definition: ${describeCase(c)}`, async () => {
      const { q, k, v } = inputs(c, 3);
      const { out, lse } = softmaxAttentionWithLse(
        tensor(q, { shape: [...c.lead, c.tq, c.d] }),
        tensor(k, { shape: [...c.lead, c.tk, c.d] }),
        tensor(v, { shape: [...c.lead, c.tk, c.dv] }),
        { causal: c.causal, offset: c.offset, length: c.length },
      );
      const ref = reference(q, k, v, c);
      expect(out.shape).toEqual([...c.lead, c.tq, c.dv]);
      expect(lse.shape).toEqual([...c.lead, c.tq]);
      expectClose(await out.data(), ref.out, { rtol: 1e-5, atol: 1e-6, what: 'out' });
      expectClose(await lse.data(), ref.lse, { rtol: 1e-5, atol: 1e-5, what: 'lse' });
    });
  }

  it('scores spread over ±50 and more: no overflow, the same as the float64 definition', async () => {
    const c: Case = { lead: [2], tq: 6, tk: 6, d: 4, dv: 3, causal: true, scale: 4 };
    const { q, k, v } = inputs(c, 9, 2); // |s| up to 4 · 4 · 2 · 2 = 64
    const { out, lse } = softmaxAttentionWithLse(
      tensor(q, { shape: [2, 6, 4] }),
      tensor(k, { shape: [2, 6, 4] }),
      tensor(v, { shape: [2, 6, 3] }),
      { causal: true, scale: 4 },
    );
    const ref = reference(q, k, v, c);
    expect(Math.max(...Array.from(ref.lse, Math.abs))).toBeGreaterThan(20);
    expectClose(await out.data(), ref.out, { rtol: 1e-4, atol: 1e-5, what: 'out' });
    expectClose(await lse.data(), ref.lse, { rtol: 1e-5, atol: 1e-4, what: 'lse' });
  });

  it('equals the unfused composition softmax(q kᵀ / √d + mask) v, values and gradients', async () => {
    const c: Case = { lead: [2], tq: 4, tk: 4, d: 3, dv: 2, causal: true };
    const { q, k, v } = inputs(c, 11);
    const leaves = () => {
      const ts = [
        tensor(q, { shape: [2, 4, 3] }),
        tensor(k, { shape: [2, 4, 3] }),
        tensor(v, { shape: [2, 4, 2] }),
      ];
      for (const t of ts) t.requiresGrad = true;
      return ts as [Tensor, Tensor, Tensor];
    };
    const w = tensor(uniform(16, 12), { shape: [2, 4, 2] });
    const [q1, k1, v1] = leaves();
    const fused = softmaxAttention(q1, k1, v1, { causal: true });
    fused.mul(w).sum().backward();
    const [q2, k2, v2] = leaves();
    const lower = tensor(new Int32Array([1, 0, 0, 0, 1, 1, 0, 0, 1, 1, 1, 0, 1, 1, 1, 1]), {
      shape: [4, 4],
    });
    const scores = where(lower, matmulT(q2, k2, false, true).mul(1 / Math.sqrt(3)), -Infinity);
    const plain = matmulT(scores.softmax(-1), v2);
    plain.mul(w).sum().backward();
    expectClose(await fused.data(), await plain.data(), { rtol: 1e-5, atol: 1e-6 });
    for (const [a, b] of [
      [q1, q2],
      [k1, k2],
      [v1, v2],
    ] as const) {
      expectClose(await a.grad!.data(), await b.grad!.data(), { rtol: 1e-4, atol: 1e-6 });
    }
  });

  for (const c of CASES.slice(0, 6)) {
    it(`gradients of out and lse by finite differences: ${describeCase(c)}`, async () => {
      const { q, k, v } = inputs(c, 5);
      const opts = { causal: c.causal, offset: c.offset, length: c.length };
      // lse enters the loss only where every row sees a key (elsewhere it is −∞).
      const withLse = c.offset === undefined || c.offset >= 0;
      await gradcheck(
        (qt, kt, vt) => {
          const { out, lse } = softmaxAttentionWithLse(qt!, kt!, vt!, opts);
          return withLse ? out.sum(-1).add(lse.mul(0.5)) : out.sum(-1);
        },
        [
          { shape: [...c.lead, c.tq, c.d], data: q },
          { shape: [...c.lead, c.tk, c.d], data: k },
          { shape: [...c.lead, c.tk, c.dv], data: v },
        ],
        { name: describeCase(c) },
      );
    });
  }

  it('names what was expected on bad input', () => {
    const q = tensor(uniform(12, 1), { shape: [2, 3, 2] });
    const k = tensor(uniform(8, 2), { shape: [2, 2, 2] });
    const v = tensor(uniform(6, 3), { shape: [2, 3, 1] });
    expectTensorError(() => softmaxAttention(q, k, v), 'softmaxAttention', /equal leading axes/);
    expectTensorError(
      () => softmaxAttention(q, k, k.reshape([2, 2, 2]), { length: 3 }),
      'softmaxAttention',
      /length in \[0, 2\]/,
    );
    expectTensorError(
      () => softmaxAttention(q, q, q, { offset: 0.5 }),
      'softmaxAttention',
      /integer offset/,
    );
    expectTensorError(
      () => softmaxAttention(tensor([1, 2]), tensor([1, 2]), tensor([1, 2])),
      'softmaxAttention',
      /rank >= 2/,
    );
  });
});
