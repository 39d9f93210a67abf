import { expect, it } from 'vitest';
import { softmaxAttentionWithLse, type Tensor, tensor, where } from '../../src/index.js';
import { expectClose } from '../helpers/assert.js';
import { describeBackends } from '../helpers/backends.js';
import { gradcheck } from '../helpers/gradcheck.js';
import { numel, uniform } from '../helpers/reference.js';

/**
 * softmaxAttention at sizes where the CPU runs its tiled kernels (64 queries × 128 keys per tile,
 * online softmax): odd and prime Tq and Tk that leave partial tiles, causal blocks with an offset,
 * a spare tail (length < Tk), rows that see no key, and large score spreads, against the definition
 * in float64 (values, and gradients derived here from it). The same cases run on every backend.
 */

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
  spread?: number;
}

/** Forward and the gradient of L = Σ w ⊙ out + Σ u ⊙ lse, all in float64 from the definition. */
function reference(
  q: Float32Array,
  k: Float32Array,
  v: Float32Array,
  w: Float32Array,
  uw: Float32Array,
  c: Case,
) {
  const batch = numel(c.lead);
  const scale = c.scale ?? 1 / Math.sqrt(c.d);
  const length = c.length ?? c.tk;
  const offset = c.offset ?? length - c.tq;
  const out = new Float64Array(batch * c.tq * c.dv);
  const lse = new Float64Array(batch * c.tq);
  const dq = new Float64Array(q.length);
  const dk = new Float64Array(k.length);
  const dv = new Float64Array(v.length);
  for (let b = 0; b < batch; b++) {
    for (let i = 0; i < c.tq; i++) {
      const row = b * c.tq + i;
      const vis: number[] = [];
      for (let j = 0; j < c.tk; j++) if (j < length && (!c.causal || j <= offset + i)) vis.push(j);
      if (vis.length === 0) {
        lse[row] = Number.NEGATIVE_INFINITY;
        continue;
      }
      const s = vis.map((j) => {
        let t = 0;
        for (let x = 0; x < c.d; x++) t += q[row * c.d + x]! * k[(b * c.tk + j) * c.d + x]!;
        return t * scale;
      });
      const m = Math.max(...s);
      const z = s.reduce((a, t) => a + Math.exp(t - m), 0);
      lse[row] = m + Math.log(z);
      const p = s.map((t) => Math.exp(t - lse[row]!));
      vis.forEach((j, n) => {
        for (let x = 0; x < c.dv; x++)
          out[row * c.dv + x]! += p[n]! * v[(b * c.tk + j) * c.dv + x]!;
      });
      // ∂L/∂s_ij = p_ij (w_i · v_j) − p_ij (w_i · out_i) + u_i p_ij  (∂lse_i/∂s_ij = p_ij).
      let wo = 0;
      for (let x = 0; x < c.dv; x++) wo += w[row * c.dv + x]! * out[row * c.dv + x]!;
      vis.forEach((j, n) => {
        const kj = (b * c.tk + j) * c.d;
        const vj = (b * c.tk + j) * c.dv;
        let wv = 0;
        for (let x = 0; x < c.dv; x++) wv += w[row * c.dv + x]! * v[vj + x]!;
        const g = p[n]! * (wv - wo + uw[row]!);
        for (let x = 0; x < c.d; x++) {
          dq[row * c.d + x]! += g * scale * k[kj + x]!;
          dk[kj + x]! += g * scale * q[row * c.d + x]!;
        }
        for (let x = 0; x < c.dv; x++) dv[vj + x]! += p[n]! * w[row * c.dv + x]!;
      });
    }
  }
  return { out, lse, dq, dk, dv };
}

const CASES: Case[] = [
  { lead: [2], tq: 67, tk: 67, d: 8, dv: 5, causal: true }, // training: a partial second query tile
  { lead: [1, 2], tq: 70, tk: 139, d: 4, dv: 6 }, // prime Tk: a partial second key tile, not causal
  { lead: [1], tq: 131, tk: 263, d: 7, dv: 3, causal: true, offset: 100, length: 250 }, // offset, spare tail
  { lead: [2], tq: 67, tk: 131, d: 5, dv: 4, causal: true, offset: -10 }, // rows 0..9 see nothing
  { lead: [1], tq: 17, tk: 300, d: 6, dv: 2, causal: true, length: 200 }, // a prefill after 183 keys
  { lead: [1], tq: 80, tk: 200, d: 3, dv: 3, length: 0 }, // no keys at all
  { lead: [2], tq: 66, tk: 150, d: 4, dv: 3, causal: true, offset: 84, scale: 4, spread: 2 }, // |s| to 64
];

function describeCase(c: Case): string {
  return `q [${[...c.lead, c.tq, c.d]}], k [${[...c.lead, c.tk, c.d]}], dv ${c.dv}${c.causal ? ', causal' : ''}${c.offset !== undefined ? `, offset ${c.offset}` : ''}${c.length !== undefined ? `, length ${c.length}` : ''}${c.scale !== undefined ? `, scale ${c.scale}` : ''}`;
}

describeBackends('softmaxAttention across tiles', () => {
  for (const [n, c] of CASES.entries()) {
    it(`values and gradients match float64: ${describeCase(c)}`, async () => {
      const spread = c.spread ?? 1;
      const q = uniform(numel([...c.lead, c.tq, c.d]), 10 * n + 1, -spread, spread);
      const k = uniform(numel([...c.lead, c.tk, c.d]), 10 * n + 2, -spread, spread);
      const v = uniform(numel([...c.lead, c.tk, c.dv]), 10 * n + 3);
      const w = uniform(numel([...c.lead, c.tq, c.dv]), 10 * n + 4);
      const u = uniform(numel([...c.lead, c.tq]), 10 * n + 5);
      const leaf = (data: Float32Array, shape: number[]) => {
        const t = tensor(data, { shape });
        t.requiresGrad = true;
        return t;
      };
      const qt = leaf(q, [...c.lead, c.tq, c.d]);
      const kt = leaf(k, [...c.lead, c.tk, c.d]);
      const vt = leaf(v, [...c.lead, c.tk, c.dv]);
      const opts = { causal: c.causal, offset: c.offset, length: c.length, scale: c.scale };
      const { out, lse } = softmaxAttentionWithLse(qt, kt, vt, opts);
      const ref = reference(q, k, v, w, u, c); // rows without keys have no gradient anyway
      if (c.spread) expect(Math.max(...Array.from(ref.lse, Math.abs))).toBeGreaterThan(20);
      const tol = c.spread ? { rtol: 1e-4, atol: 1e-5 } : { rtol: 1e-5, atol: 1e-6 };
      expectClose(await out.data(), ref.out, { ...tol, what: 'out' });
      expectClose(await lse.data(), ref.lse, { rtol: 1e-5, atol: 1e-4, what: 'lse' });
      // lse is −∞ on rows that see nothing: weigh it only where it is finite.
      const lseData = await lse.data();
      const finite = tensor(
        Int32Array.from(lseData, (x) => (Number.isFinite(x) ? 1 : 0)),
        { shape: lse.shape },
      );
      const uMasked = Float32Array.from(u, (x, i) => (Number.isFinite(lseData[i]!) ? x : 0));
      const loss = out
        .mul(tensor(w, { shape: out.shape }))
        .sum()
        .add(
          where(finite, lse, 0)
            .mul(tensor(uMasked, { shape: lse.shape }))
            .sum(),
        );
      loss.backward();
      const gtol = c.spread ? { rtol: 1e-3, atol: 1e-4 } : { rtol: 1e-4, atol: 1e-5 };
      for (const [name, t, want] of [
        ['dq', qt, ref.dq],
        ['dk', kt, ref.dk],
        ['dv', vt, ref.dv],
      ] as const) {
        expectClose(await (t as Tensor).grad!.data(), want, { ...gtol, what: name });
      }
    });
  }

  it('gradients by finite differences across tile boundaries (causal, offset, spare tail)', async () => {
    const c = { tq: 66, tk: 131, d: 2, dv: 2 };
    const opts = { causal: true, offset: 60, length: 129 };
    await gradcheck(
      (q, k, v) => {
        const { out, lse } = softmaxAttentionWithLse(q!, k!, v!, opts);
        return out.sum(-1).add(lse.mul(0.5));
      },
      [
        { shape: [c.tq, c.d], data: uniform(c.tq * c.d, 71) },
        { shape: [c.tk, c.d], data: uniform(c.tk * c.d, 72) },
        { shape: [c.tk, c.dv], data: uniform(c.tk * c.dv, 73) },
      ],
      { name: 'tiled attention' },
    );
  });
});
