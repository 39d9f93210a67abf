/**
 * Gradients of the fused kernels: against central finite differences, against exact float64
 * references (attention: MATH.md §2's reverse-scan formulas, written as O(T²) loops here), and
 * against autograd through the generic tree algorithm (the same function by another route) on
 * adversarial inputs. Plus: finite with −inf scores, and no T×T matrix in the backward pass.
 */
import { memory, resetPeakMemory, type Tensor, tensor, tidy } from '@recur/tensor';
import { describe, expect, it } from 'vitest';
import {
  add,
  attention,
  attentionScan,
  linearRecurrence,
  logaddexp,
  max,
  type ScanAlgorithm,
  type ScanOperator,
  scan,
} from '../src/index.js';
import { expectFinite } from './helpers/assert.js';
import { analyticGrads, direction, expectGradsClose, gradcheck } from './helpers/gradcheck.js';
import {
  type Host,
  host,
  linearAttentionGrads,
  naiveAttentionGrads,
  normal,
  rng,
} from './helpers/reference.js';

const NEG_INF = Number.NEGATIVE_INFINITY;

/** True when the op named `name` is on the autograd path into `t` (the fused kernel really ran). */
function graphHas(t: Tensor, name: string): boolean {
  const seen = new Set<unknown>();
  const stack = [t];
  while (stack.length > 0) {
    const node = (stack.pop() as Tensor).gradNode;
    if (!node || seen.has(node)) continue;
    seen.add(node);
    if (node.op.name === name) return true;
    stack.push(...node.inputs);
  }
  return false;
}

type Form = 'head' | 'channel';

function attentionInputs(
  form: Form,
  B: number,
  T: number,
  d: number,
  seed: number,
  score: (r: () => number) => number,
  withCarry: boolean,
): Host[] {
  const r = rng(seed);
  const c = form === 'head' ? 1 : d;
  const s = host(form === 'head' ? [B, T] : [B, T, d], () => score(r));
  const v = host([B, T, d], () => normal(r));
  if (!withCarry) return [s, v];
  const m0 = host([B, c], () => 2 * r() - 1);
  const u0 = host([B, c], () => 0.5 + r());
  const w0 = host([B, d], () => normal(r));
  return [s, v, m0, u0, w0];
}

function attentionFn(algorithm?: ScanAlgorithm, chunkSize?: number) {
  return (s: Tensor, v: Tensor, m?: Tensor, u?: Tensor, w?: Tensor): Tensor[] => [
    attentionScan(s, v, {
      algorithm,
      chunkSize,
      carry: m && u && w ? { m, u, w } : undefined,
    }).out,
  ];
}

const LABELS = ['scores', 'values', 'carry m', 'carry u', 'carry w'];

describe.each<Form>(['head', 'channel'])('attention gradients, %s form', (form) => {
  for (const withCarry of [false, true]) {
    const tag = withCarry ? 'with a carry' : 'without a carry';

    it(`fused kernel ${tag}: central finite differences`, () => {
      const inputs = attentionInputs(form, 2, 6, 3, 1, (r) => 3 * (2 * r() - 1), withCarry);
      tidy(() => {
        const [s, v, m, u, w] = inputs.map((h) =>
          tensor(h.data, { shape: h.shape, requiresGrad: true }),
        );
        const probe = attentionFn()(s as Tensor, v as Tensor, m, u, w);
        expect(graphHas(probe[0] as Tensor, 'scan.attentionOutput')).toBe(true);
      });
      gradcheck(attentionFn(), inputs, { eps: 1e-2, atol: 2e-3, rtol: 1e-2, name: tag });
    });

    it(`fused kernel ${tag}: exact float64 reference (MATH.md §2), scores over ±50 with −inf`, () => {
      for (const [B, T, d] of [
        [1, 1, 2],
        [2, 9, 3],
        [3, 17, 4],
      ] as const) {
        const inputs = attentionInputs(
          form,
          B,
          T,
          d,
          10 + T,
          (r) => (r() < 0.2 ? NEG_INF : 50 * (2 * r() - 1)),
          withCarry,
        );
        if (withCarry) (inputs[2] as Host).data[0] = 60; // a carry that dominates some prefixes
        const c = form === 'head' ? 1 : d;
        const g = direction(B * T * d, 5);
        const want = naiveAttentionGrads(
          (inputs[0] as Host).data,
          (inputs[1] as Host).data,
          g,
          B,
          T,
          d,
          c,
          withCarry
            ? {
                m: (inputs[2] as Host).data,
                u: (inputs[3] as Host).data,
                w: (inputs[4] as Host).data,
              }
            : undefined,
        );
        const got = analyticGrads(
          attentionFn(),
          inputs,
          g,
          inputs.map((_, i) => i),
        ).grads;
        got.forEach((x, i) => {
          expectFinite(x as Float64Array, `gradient of ${LABELS[i]}`);
        });
        expectGradsClose(
          got,
          [want.ds, want.dv, want.dm, want.du, want.dw].slice(0, inputs.length),
          {
            atol: 1e-5,
            rtol: 1e-4,
            name: `[${B}, ${T}, ${d}] ${tag}`,
            labels: LABELS,
          },
        );
      }
    });

    it(`fused kernel ${tag} equals autograd through the tree and chunked algorithms (adversarial)`, () => {
      const inputs = attentionInputs(
        form,
        2,
        23,
        4,
        40,
        (r) => (r() < 0.25 ? NEG_INF : 50 * (2 * r() - 1)),
        withCarry,
      );
      // Leading −inf scores in row 0; an all −inf row 1 when there is no carry.
      const s = (inputs[0] as Host).data;
      const perRow = s.length / 2;
      for (let i = 0; i < perRow / 4; i++) s[i] = NEG_INF;
      if (!withCarry) for (let i = perRow; i < 2 * perRow; i++) s[i] = NEG_INF;
      const g = direction(2 * 23 * 4, 9);
      const wrt = inputs.map((_, i) => i);
      const fused = analyticGrads(attentionFn(), inputs, g, wrt);
      const tree = analyticGrads(attentionFn('tree'), inputs, g, wrt);
      const chunked = analyticGrads(attentionFn('chunked', 5), inputs, g, wrt);
      for (const x of [...fused.grads, ...tree.grads, ...chunked.grads])
        expectFinite(x as Float64Array, 'gradient');
      expectGradsClose(tree.grads, fused.grads, {
        atol: 1e-5,
        rtol: 1e-4,
        name: 'tree',
        labels: LABELS,
      });
      expectGradsClose(chunked.grads, fused.grads, {
        atol: 1e-5,
        rtol: 1e-4,
        name: 'chunked',
        labels: LABELS,
      });
    });
  }

  it('gradients stay finite (no NaN) with −inf scores: leading, all, isolated', () => {
    const d = 3;
    const T = 8;
    const c = form === 'head' ? 1 : d;
    const r = rng(3);
    const s = host(form === 'head' ? [3, T] : [3, T, d], (i) => {
      const row = Math.floor(i / (T * c));
      const t = Math.floor(i / c) % T;
      if (row === 0) return NEG_INF; // all −inf
      if (row === 1 && t < 4) return NEG_INF; // leading
      return r() < 0.3 ? NEG_INF : 40 * (2 * r() - 1);
    });
    const v = host([3, T, d], () => normal(r));
    for (const algorithm of [undefined, 'tree', 'chunked'] as const) {
      const { output, grads } = analyticGrads(
        attentionFn(algorithm, 3),
        [s, v],
        direction(3 * T * d, 2),
        [0, 1],
      );
      expectFinite(output, 'output');
      for (let k = 0; k < T * d; k++)
        expect(Math.abs(output[k] as number), 'all −inf row outputs 0').toBe(0);
      const [ds, dv] = grads as [Float64Array, Float64Array];
      expectFinite(ds, `${algorithm} gradient of scores`);
      expectFinite(dv, `${algorithm} gradient of values`);
      // Positions that never count get no gradient.
      for (let i = 0; i < s.data.length; i++)
        if (s.data[i] === NEG_INF) expect(Math.abs(ds[i] as number)).toBe(0);
    }
  });
});

describe('attention: loss on the raw scan state', () => {
  // A loss on out = W/U, or log U + M (log Σ e^s), is gauge invariant; one on M itself (the running
  // max of the scores, a real function of them) or on U or W alone is not, and must still get its
  // gradient: the fused kernel, the tree and finite differences must agree on all of them.
  const f =
    (algorithm: ScanAlgorithm, which: 'm' | 'mu' | 'uw') =>
    (...ts: Tensor[]): Tensor[] => {
      const carry = ts.length > 3 ? ts.slice(3) : undefined;
      const { outputs, carry: last } = scan(attention, ts.slice(0, 3), { algorithm, carry });
      const [M, U, W] = outputs as [Tensor, Tensor, Tensor];
      if (which === 'm') return [M, last[0] as Tensor];
      if (which === 'mu') return [M.add(U.log())];
      return [U, W, last[2] as Tensor];
    };
  const makeInputs = (c: number, withCarry: boolean) => {
    const r = rng(8 + c);
    const T = 7;
    const d = 3;
    // Distinct scores, far apart compared with eps, so max never hits a tie.
    const perm = Array.from({ length: 2 * T * c + 2 * c }, (_, i) => i).sort(() => r() - 0.5);
    const xs = [
      host([2, T, c], (i) => 0.7 * (perm[i] as number) - 4),
      host([2, T, c], () => 0.5 + r()),
      host([2, T, d], () => normal(r)),
    ];
    if (!withCarry) return xs;
    return [
      ...xs,
      host([2, c], (i) => 0.7 * (perm[2 * T * c + i] as number) - 4),
      host([2, c], () => 0.5 + r()),
      host([2, d], () => normal(r)),
    ];
  };

  for (const c of [1, 3]) {
    for (const withCarry of [false, true]) {
      for (const which of ['uw', 'mu', 'm'] as const) {
        it(`c = ${c}, ${withCarry ? 'with' : 'without'} a carry, loss on ${which}: fused equals tree and finite differences`, () => {
          const inputs = makeInputs(c, withCarry);
          gradcheck(f('sequential', which), inputs, { eps: 1e-2, name: `fused ${which}` });
          const g = direction(200, 3);
          const wrt = inputs.map((_, i) => i);
          const fused = analyticGrads(f('sequential', which), inputs, g, wrt).grads;
          const tree = analyticGrads(f('tree', which), inputs, g, wrt).grads;
          expectGradsClose(fused, tree, { atol: 1e-5, rtol: 1e-4, name: which });
        });
      }
    }
  }
});

// ---- the other fused kernels -----------------------------------------------------------------------

interface BasicCase {
  label: string;
  op: ScanOperator;
  kernel: string;
  gen: ((r: () => number) => number)[];
  /** Adversarial inputs for fused vs tree (−inf, spreads). */
  wild: ((r: () => number) => number)[];
  /**
   * Adjusts the adversarial inputs of [2, T, 3]: logaddexp outputs −inf while its prefix is all −inf,
   * and a loss reading −inf has no meaningful gradient (out₀ = x₀ gives 1, the kernel's −inf
   * convention 0), so each row starts finite.
   */
  fix?: (xs: Host[], T: number) => void;
}

const distinct = (() => {
  // Values a multiple of 0.25 apart: central differences with eps = 1e-2 never cross a tie.
  let k = 0;
  return (r: () => number) => 0.25 * ((k++ * 7919) % 97) - 12 + 0 * r();
})();

const BASIC: BasicCase[] = [
  {
    label: 'add',
    op: add,
    kernel: 'cumsum',
    gen: [(r) => normal(r)],
    wild: [(r) => 1e3 * normal(r)],
  },
  {
    label: 'max',
    op: max,
    kernel: 'cummax',
    gen: [distinct],
    wild: [(r) => 50 * (2 * r() - 1)],
  },
  {
    label: 'logaddexp',
    op: logaddexp,
    kernel: 'scan.logcumsumexp',
    gen: [(r) => 3 * (2 * r() - 1)],
    wild: [(r) => (r() < 0.2 ? NEG_INF : 50 * (2 * r() - 1))],
    fix: ([x], T) => {
      const data = (x as Host).data;
      for (let o = 0; o < 2; o++) for (let i = 0; i < 3; i++) data[o * T * 3 + i] = 7 * (o - i);
    },
  },
  {
    label: 'linearRecurrence',
    op: linearRecurrence,
    kernel: 'scan.linearRecurrence',
    gen: [(r) => (r() < 0.5 ? -1 : 1) * (0.3 + 0.8 * r()), (r) => normal(r)],
    wild: [(r) => (r() < 0.5 ? -1 : 1) * (0.2 + r()), (r) => 10 * normal(r)],
  },
];

function basicInputs(gens: BasicCase['gen'], T: number, seed: number, carry: boolean): Host[] {
  const r = rng(seed);
  const xs = gens.map((g) => host([2, T, 3], () => g(r)));
  // axis 1 of [2, T, 3]: not the last axis.
  if (!carry) return xs;
  return [...xs, ...gens.map((g) => host([2, 3], () => g(r)))];
}

function basicFn(c: BasicCase, algorithm: ScanAlgorithm, reverse = false) {
  return (...ts: Tensor[]): Tensor[] => {
    const n = c.op.arity;
    const carry = ts.length > n ? ts.slice(n) : undefined;
    return scan(c.op, ts.slice(0, n), { axis: 1, algorithm, carry, reverse, chunkSize: 3 }).outputs;
  };
}

describe.each(BASIC)('$label gradients', (c) => {
  for (const withCarry of [false, true]) {
    const tag = withCarry ? 'with a carry' : 'without a carry';
    it(`fused kernel ${tag}: finite differences`, () => {
      const inputs = basicInputs(c.gen, 7, 1, withCarry);
      tidy(() => {
        const out = basicFn(
          c,
          'auto',
        )(...inputs.map((h) => tensor(h.data, { shape: h.shape, requiresGrad: true })));
        expect(graphHas(out[c.op.arity - 1] as Tensor, c.kernel), `uses ${c.kernel}`).toBe(true);
      });
      gradcheck(basicFn(c, 'auto'), inputs, { eps: 1e-2, atol: 2e-3, rtol: 1e-2, name: tag });
      gradcheck(basicFn(c, 'auto', true), inputs, {
        eps: 1e-2,
        atol: 2e-3,
        rtol: 1e-2,
        name: `reverse ${tag}`,
      });
    });

    it(`fused kernel ${tag} equals autograd through the tree algorithm (adversarial)`, () => {
      const inputs = basicInputs(c.wild, 19, 2, withCarry);
      c.fix?.(inputs, 19);
      const wrt = inputs.map((_, i) => i);
      const g = direction(2 * 2 * 19 * 3, 4);
      const fused = analyticGrads(basicFn(c, 'auto'), inputs, g, wrt);
      const tree = analyticGrads(basicFn(c, 'tree'), inputs, g, wrt);
      const chunked = analyticGrads(basicFn(c, 'chunked'), inputs, g, wrt);
      for (const x of fused.grads) expectFinite(x as Float64Array, 'fused gradient');
      expectGradsClose(tree.grads, fused.grads, { atol: 1e-5, rtol: 1e-4, name: 'tree' });
      expectGradsClose(chunked.grads, fused.grads, { atol: 1e-5, rtol: 1e-4, name: 'chunked' });
    });
  }
});

describe('float64 references for the basic kernels', () => {
  it('logaddexp: d/dx_i of Σ_t g_t·lse(x_≤t) = Σ_{t≥i} g_t·softmax_t(x)_i, with −inf entries', () => {
    const r = rng(21);
    const T = 12;
    const x = host([1, T], () => (r() < 0.25 ? NEG_INF : 40 * (2 * r() - 1)));
    x.data[0] = NEG_INF;
    const g = direction(T, 6);
    const want = new Float64Array(T);
    for (let t = 0; t < T; t++) {
      let mx = NEG_INF;
      for (let i = 0; i <= t; i++) mx = Math.max(mx, x.data[i] as number);
      if (mx === NEG_INF) continue;
      let den = 0;
      for (let i = 0; i <= t; i++) den += Math.exp((x.data[i] as number) - mx);
      for (let i = 0; i <= t; i++)
        want[i]! += ((g[t] as number) * Math.exp((x.data[i] as number) - mx)) / den;
    }
    const got = analyticGrads(
      (t) => [scan(logaddexp, [t]).outputs[0] as Tensor],
      [x],
      g,
      [0],
    ).grads;
    expectGradsClose(got, [want], { atol: 1e-6, rtol: 1e-5, name: 'logaddexp' });
  });

  it('linearRecurrence: gradients by the reverse recurrence in float64, with a carry', () => {
    const r = rng(22);
    const T = 15;
    const a = host([1, T], () => (r() < 0.5 ? -1 : 1) * (0.5 + 0.6 * r()));
    const b = host([1, T], () => normal(r));
    const a0 = host([1], () => 0.9);
    const b0 = host([1], () => -1.5);
    const gA = direction(T, 7);
    const gH = direction(T, 8);
    // Forward in float64, then the adjoint recurrences.
    const A = new Float64Array(T);
    const H = new Float64Array(T);
    let pa = 0.9;
    let h = -1.5;
    for (let t = 0; t < T; t++) {
      pa *= a.data[t] as number;
      h = (a.data[t] as number) * h + (b.data[t] as number);
      A[t] = pa;
      H[t] = h;
    }
    const da = new Float64Array(T);
    const db = new Float64Array(T);
    let lamH = 0;
    let lamA = 0;
    for (let t = T - 1; t >= 0; t--) {
      const next = t + 1 < T ? (a.data[t + 1] as number) : 0;
      lamH = (gH[t] as number) + next * lamH;
      lamA = (gA[t] as number) + next * lamA;
      db[t] = lamH;
      da[t] =
        lamH * (t > 0 ? (H[t - 1] as number) : -1.5) + lamA * (t > 0 ? (A[t - 1] as number) : 0.9);
    }
    const a1 = a.data[0] as number;
    const want = [da, db, Float64Array.of(a1 * lamA), Float64Array.of(a1 * lamH)];
    const w = new Float32Array([...gA, ...gH]);
    const got = analyticGrads(
      (x, y, c1, c2) =>
        scan(linearRecurrence, [x as Tensor, y as Tensor], { carry: [c1 as Tensor, c2 as Tensor] })
          .outputs,
      [a, b, a0, b0],
      w,
      [0, 1, 2, 3],
    ).grads;
    expectGradsClose(got, want, { atol: 1e-5, rtol: 1e-5, name: 'linearRecurrence' });
  });
});

describe('attention gradients over a long sequence', () => {
  it('T = 20000, whole and chunked (carry chained), match a float64 O(T·d) reference', () => {
    // One early score dominates, so every output is ≈ v₀ and the score gradients are tiny sums of
    // nearly cancelling terms: ill-conditioned in float32 (an absolute error of order ε·Σ|g||o|/U
    // is inherent), but no worse chunked than whole.
    const T = 20_000;
    const d = 8;
    const r = rng(1);
    const s = host([1, T], () => 5 * (2 * r() - 1));
    s.data[0] = 30;
    const v = host([1, T, d], () => normal(r));
    const g = direction(T * d, 2);
    const want = linearAttentionGrads(s.data, v.data, g, T, d);
    for (const [algorithm, chunkSize] of [
      [undefined, undefined],
      ['chunked', 2000],
      ['chunked', 777],
    ] as const) {
      const got = analyticGrads(attentionFn(algorithm, chunkSize), [s, v], g, [0, 1]).grads;
      expectGradsClose(got, [want.ds, want.dv], {
        atol: 1e-4,
        rtol: 1e-4,
        name: `${algorithm ?? 'whole'}${chunkSize ? `(${chunkSize})` : ''}`,
        labels: ['scores', 'values'],
      });
    }
  });
});

describe('backward memory', () => {
  it('attention backward at T = 20000, d = 8 stays O(T·d): no T×T matrix', () => {
    const T = 20_000;
    const d = 8;
    const r = rng(99);
    const s = host([1, T], () => 20 * (2 * r() - 1));
    const v = host([1, T, d], () => normal(r));
    tidy(() => {
      const st = tensor(s.data, { shape: s.shape, requiresGrad: true });
      const vt = tensor(v.data, { shape: v.shape, requiresGrad: true });
      const before = memory().cpu?.bytes ?? 0;
      resetPeakMemory();
      const out = attentionScan(st, vt).out;
      out.backward(tensor(direction(T * d, 1), { shape: out.shape }));
      const peak = (memory().cpu?.peakBytes ?? 0) - before;
      const rowBytes = T * d * 4;
      expect(peak, `peak ${peak} bytes`).toBeGreaterThan(rowBytes); // it did allocate outputs
      expect(peak, `peak ${peak} bytes vs T·d·4 = ${rowBytes}`).toBeLessThan(40 * rowBytes);
      expect(peak).toBeLessThan((T * T * 4) / 100);
      expectFinite(st.grad?.dataSync() ?? [], 'gradient of scores');
      expectFinite(vt.grad?.dataSync() ?? [], 'gradient of values');
      st.grad?.dispose();
      vt.grad?.dispose();
    });
  });
});
