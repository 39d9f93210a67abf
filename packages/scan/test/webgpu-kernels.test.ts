/**
 * The WebGPU kernels of the fused scans (reduce-then-scan) against the CPU kernels, op by op, forward
 * and backward, on the same float32 inputs: T = 1, prime T, T spanning several blocks and several
 * levels of aggregates (with the default blocks up to T = 3e5, and with tiny blocks so that short
 * sequences go three or four levels deep), with and without carry, both attention forms (c = 1 and c = d),
 * −inf leading scores, NaN scores, score spreads of ±1e4.
 *
 * Runs only where a WebGPU adapter can be had (in Node: the `webgpu` package, Mesa's llvmpipe on
 * machines without a GPU, EGL_PLATFORM=surfaceless); RECUR_REQUIRE_WEBGPU=1 makes its absence a
 * failure. Tolerance: the GPU accumulates in float32 along a tree, the CPU in float64 one element
 * after another, so values agree to about 1e-5 relative to the scale of the quantity (atol =
 * 1e-5·max|expected|), and the running max M exactly.
 */
import {
  defineOp,
  initBackend,
  type OpDef,
  type OutputSpec,
  runOp,
  type Tensor,
  tensor,
  tidy,
} from '@recur/tensor';
import { afterAll, describe, it } from 'vitest';
import '../src/index.js';
import { setScanTiling } from '../src/kernels/webgpu/engine.js';
import { expectClose, maxAbs } from './helpers/assert.js';
import { type Host, host, normal, rng } from './helpers/reference.js';

async function probe(): Promise<boolean> {
  try {
    await initBackend('webgpu');
    return true;
  } catch (e) {
    if (process.env.RECUR_REQUIRE_WEBGPU === '1') {
      throw new Error(`RECUR_REQUIRE_WEBGPU=1 but the webgpu backend did not start: ${e}`);
    }
    console.warn(`[recur] skipping the webgpu scan kernel tests: ${(e as Error).message}`);
    return false;
  }
}
const HAS_WEBGPU = await probe();

const NEG_INF = Number.NEGATIVE_INFINITY;

// The ops by kernel name, with shape rules only: runOp finds each backend's registered kernel.
interface Layout {
  outer: number;
  length: number;
  inner: number;
  hasCarry: boolean;
}
interface AttnAttrs extends Layout {
  channels: number;
  gaugeInvariant: boolean;
}
const sameShapes =
  (count: (hasCarry: boolean) => number) =>
  (inputs: readonly Tensor[], { hasCarry }: Layout) =>
    inputs.slice(0, count(hasCarry)).map((t) => ({ shape: t.shape, dtype: 'float32' as const }));
const ops = {
  attention: defineOp<AttnAttrs, readonly Tensor[], OutputSpec[]>({
    name: 'scan.attention',
    infer: sameShapes(() => 3),
  }),
  attentionBackward: defineOp<AttnAttrs, readonly Tensor[], OutputSpec[]>({
    name: 'scan.attentionBackward',
    infer: sameShapes((c) => (c ? 6 : 3)),
  }),
  logcumsumexp: defineOp<Layout, readonly Tensor[], OutputSpec[]>({
    name: 'scan.logcumsumexp',
    infer: sameShapes(() => 1),
  }),
  logcumsumexpBackward: defineOp<Layout, readonly Tensor[], OutputSpec[]>({
    name: 'scan.logcumsumexpBackward',
    infer: sameShapes((c) => (c ? 2 : 1)),
  }),
  linearRecurrence: defineOp<Layout, readonly Tensor[], OutputSpec[]>({
    name: 'scan.linearRecurrence',
    infer: sameShapes(() => 2),
  }),
  linearRecurrenceBackward: defineOp<Layout, readonly Tensor[], OutputSpec[]>({
    name: 'scan.linearRecurrenceBackward',
    infer: sameShapes((c) => (c ? 4 : 2)),
  }),
};

/** Runs `def` on the CPU and on WebGPU with the same inputs; returns both outputs as host arrays. */
async function both<A>(
  def: OpDef<A, readonly Tensor[], OutputSpec[]>,
  inputs: readonly Host[],
  attrs: A,
): Promise<{ cpu: Float32Array[]; gpu: Float32Array[] }> {
  const cpu = tidy(() =>
    runOp(
      def,
      inputs.map((h) => tensor(h.data, { shape: h.shape })),
      attrs,
    ).map((t) => t.dataSync() as Float32Array),
  );
  const gt = inputs.map((h) => tensor(h.data, { shape: h.shape, backend: 'webgpu' }));
  const outs = runOp(def, gt, attrs);
  const gpu = (await Promise.all(outs.map((t) => t.data()))) as Float32Array[];
  for (const t of [...gt, ...outs]) t.dispose();
  return { cpu, gpu };
}

/** GPU vs CPU output by output: `exact` ones bit for bit (NaN matching NaN), others to tolerance. */
function compare(
  got: { cpu: Float32Array[]; gpu: Float32Array[] },
  names: readonly string[],
  exact: readonly string[] = [],
  rtol = 1e-5,
): void {
  names.forEach((name, i) => {
    const want = got.cpu[i] as Float32Array;
    const have = got.gpu[i] as Float32Array;
    if (exact.includes(name)) expectClose(have, want, { rtol: 0, atol: 0, what: name });
    else expectClose(have, want, { rtol, atol: rtol * Math.max(maxAbs(want), 1e-3), what: name });
  });
}

type Form = 'head' | 'channel';

interface AttnCase {
  form: Form;
  outer: number;
  T: number;
  d: number;
  carry: boolean;
  score: (r: () => number, t: number) => number;
  seed: number;
  nanCarry?: boolean;
}

function attentionInputs(p: AttnCase): Host[] {
  const r = rng(p.seed);
  const c = p.form === 'head' ? 1 : p.d;
  const { outer, T, d } = p;
  const m = host([outer, T, c], (i) => p.score(r, Math.floor(i / c) % T));
  const u = host([outer, T, c], () => 0.5 + 1.5 * r());
  const w = host([outer, T, d], () => normal(r));
  if (!p.carry) return [m, u, w];
  // A carry a previous scan could have produced: u0 = w0 = 0 where m0 = −inf.
  // Identity states (m0 = −inf) at every third score; with nanCarry a NaN m0 first (it sticks in M).
  const m0 = host([outer, c], (i) =>
    p.nanCarry && i === 0 ? Number.NaN : i % 3 === 2 ? NEG_INF : 20 * r() - 10,
  );
  const u0 = host([outer, c], (i) => (m0.data[i] === NEG_INF ? 0 : 0.5 + r()));
  const w0 = host([outer, d], (i) => {
    const j = c === 1 ? Math.floor(i / d) : i;
    return m0.data[j] === NEG_INF ? 0 : normal(r);
  });
  return [m, u, w, m0, u0, w0];
}

function attentionAttrs(p: AttnCase): AttnAttrs {
  return {
    outer: p.outer,
    length: p.T,
    inner: p.d,
    channels: p.form === 'head' ? 1 : p.d,
    hasCarry: p.carry,
    gaugeInvariant: false,
  };
}

async function checkAttention(p: AttnCase): Promise<void> {
  const inputs = attentionInputs(p);
  const attrs = attentionAttrs(p);
  const fwd = await both(ops.attention, inputs, attrs);
  compare(fwd, ['M', 'U', 'W'], ['M']);
  // Backward at the forward's M (the CPU's: exactly the GPU's too), with random output gradients.
  const r = rng(p.seed + 1);
  const M = { shape: inputs[0]?.shape as number[], data: fwd.cpu[0] as Float32Array };
  const dU = host(M.shape, () => normal(r));
  const dW = host(inputs[2]?.shape as number[], () => normal(r));
  const bwd = await both(ops.attentionBackward, [...inputs, M, dU, dW], attrs);
  compare(bwd, ['dm', 'du', 'dw', 'dm0', 'du0', 'dw0'].slice(0, p.carry ? 6 : 3), [], 2e-5);
}

const spread =
  (width: number, pInf = 0) =>
  (r: () => number) =>
    r() < pInf ? NEG_INF : (2 * r() - 1) * width;
const leadingInf = (n: number, width: number) => (r: () => number, t: number) =>
  t < n ? NEG_INF : (2 * r() - 1) * width;

/**
 * Runs `body` twice with tiny blocks — 1 element per thread and 4 threads along the sequence, then
 * 3 elements per thread and 2 threads — so that ~100 positions go three or four levels deep.
 */
async function withTinyBlocks(body: () => Promise<void>): Promise<void> {
  for (const tiny of [
    { k: 1, maxRows: 4 },
    { k: 3, maxRows: 2 },
  ]) {
    const before = setScanTiling(tiny);
    try {
      await body();
    } finally {
      setScanTiling(before);
    }
  }
}

describe.skipIf(!HAS_WEBGPU)(
  'scan kernels on webgpu = the CPU kernels',
  { timeout: 60_000 },
  () => {
    afterAll(() => setScanTiling({}));

    for (const form of ['head', 'channel'] as const) {
      describe(`attention (${form === 'head' ? 'c = 1' : 'c = d'})`, () => {
        for (const carry of [false, true]) {
          it(`T = 1, 7, 61, 1031, 5003${carry ? ', with carry' : ''}`, async () => {
            for (const [T, seed] of [
              [1, 1],
              [7, 2],
              [61, 3],
              [1031, 4],
              [5003, 5],
            ] as const) {
              await checkAttention({
                form,
                outer: 3,
                T,
                d: 5,
                carry,
                score: spread(50, 0.1),
                seed,
              });
            }
          });
        }

        it('several levels of aggregates (tiny blocks), carry and not, leading −inf, ±1e4', async () => {
          await withTinyBlocks(async () => {
            for (const carry of [false, true]) {
              await checkAttention({
                form,
                outer: 2,
                T: 97,
                d: 3,
                carry,
                score: spread(1e4, 0.2),
                seed: 7,
              });
              await checkAttention({
                form,
                outer: 2,
                T: 131,
                d: 3,
                carry,
                score: leadingInf(40, 30),
                seed: 8,
              });
            }
          });
        });

        it('all scores −inf, NaN scores (u and w NaN from there on, M unaffected), a NaN carry', async () => {
          await checkAttention({
            form,
            outer: 2,
            T: 13,
            d: 3,
            carry: true,
            score: () => NEG_INF,
            seed: 9,
          });
          await checkAttention({
            form,
            outer: 2,
            T: 300,
            d: 3,
            carry: false,
            score: (r, t) => (t === 150 ? Number.NaN : 10 * r()),
            seed: 10,
          });
          // A NaN carry max: M NaN everywhere; u, w NaN from the first finite score (−inf ones
          // leave them as the carry's), as on the CPU.
          for (const lead of [0, 5]) {
            await checkAttention({
              form,
              outer: 2,
              T: 40,
              d: 3,
              carry: true,
              nanCarry: true,
              score: leadingInf(lead, 10),
              seed: 15 + lead,
            });
          }
        });

        it('T = 100000, a few rows, small d, scores over ±1e4 with leading −inf, carry', async () => {
          await checkAttention({
            form,
            outer: 2,
            T: 100_000,
            d: form === 'head' ? 3 : 2,
            carry: true,
            score: leadingInf(17, 1e4),
            seed: 11,
          });
        });
      });
    }

    describe('logcumsumexp', () => {
      function inputs(
        outer: number,
        T: number,
        inner: number,
        carry: boolean,
        seed: number,
        w = 50,
      ) {
        const r = rng(seed);
        const x = host([outer, T, inner], (i) =>
          i % 17 === 3 || Math.floor(i / inner) % T < 2 ? NEG_INF : (2 * r() - 1) * w,
        );
        const c0 = host([outer, inner], (i) => (i % 2 === 0 ? NEG_INF : 10 * r()));
        return carry ? [x, c0] : [x];
      }
      async function check(
        outer: number,
        T: number,
        inner: number,
        carry: boolean,
        seed: number,
        w = 50,
      ) {
        const xs = inputs(outer, T, inner, carry, seed, w);
        const attrs = { outer, length: T, inner, hasCarry: carry };
        const fwd = await both(ops.logcumsumexp, xs, attrs);
        compare(fwd, ['out']);
        const r = rng(seed + 1);
        const out = { shape: xs[0]?.shape as number[], data: fwd.cpu[0] as Float32Array };
        const dy = host(out.shape, () => normal(r));
        const bwd = await both(ops.logcumsumexpBackward, [...xs, out, dy], attrs);
        compare(bwd, ['dx', 'dc0'].slice(0, carry ? 2 : 1), [], 2e-5);
      }
      it('T = 1, 7, 1031, inner 1 and 3, carry and not', async () => {
        for (const carry of [false, true]) {
          for (const [T, inner] of [
            [1, 1],
            [7, 3],
            [1031, 1],
            [1031, 3],
          ] as const) {
            await check(2, T, inner, carry, T + inner);
          }
        }
      });
      it('several levels (tiny blocks), and T = 100000 with spreads of ±1e4', async () => {
        await withTinyBlocks(async () => {
          await check(2, 113, 2, true, 5);
          await check(1, 200, 1, false, 6);
        });
        await check(2, 100_000, 1, true, 7, 1e4);
      });
    });

    describe('linear recurrence', () => {
      async function check(outer: number, T: number, inner: number, carry: boolean, seed: number) {
        const r = rng(seed);
        const a = host([outer, T, inner], () => (r() < 0.5 ? -1 : 1) * (0.5 + 0.5 * r()));
        const b = host([outer, T, inner], () => normal(r));
        const a0 = host([outer, inner], () => 2 * r() - 1);
        const b0 = host([outer, inner], () => normal(r));
        const xs = carry ? [a, b, a0, b0] : [a, b];
        const attrs = { outer, length: T, inner, hasCarry: carry };
        const fwd = await both(ops.linearRecurrence, xs, attrs);
        compare(fwd, ['A', 'H'], [], 2e-5);
        const rr = rng(seed + 1);
        const A = { shape: a.shape, data: fwd.cpu[0] as Float32Array };
        const H = { shape: a.shape, data: fwd.cpu[1] as Float32Array };
        const dA = host(a.shape, () => normal(rr));
        const dH = host(a.shape, () => normal(rr));
        const bwd = await both(ops.linearRecurrenceBackward, [...xs, A, H, dA, dH], attrs);
        compare(bwd, ['da', 'db', 'da0', 'db0'].slice(0, carry ? 4 : 2), [], 2e-5);
      }
      it('T = 1, 7, 1031, 100000, inner 1 and 4, carry and not', async () => {
        for (const carry of [false, true]) {
          for (const [T, inner] of [
            [1, 1],
            [7, 4],
            [1031, 1],
            [1031, 4],
          ] as const) {
            await check(2, T, inner, carry, T * 7 + inner);
          }
        }
        await check(1, 100_000, 2, true, 99);
      });
      it('several levels (tiny blocks)', async () => {
        await withTinyBlocks(async () => {
          await check(2, 101, 3, true, 12);
          await check(1, 64, 1, false, 13);
        });
      });
    });

    it('T = 300000: longer than one invocation may loop on llvmpipe (65,535), no loop runs that long', async () => {
      // A kernel that walked T in one invocation would stop early on llvmpipe and leave the tail wrong.
      await checkAttention({
        form: 'channel',
        outer: 1,
        T: 300_000,
        d: 1,
        carry: false,
        score: spread(30),
        seed: 14,
      });
    });
  },
);
