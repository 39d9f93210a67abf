/**
 * The public API on WebGPU against the same calls on the CPU: attentionScan (both forms, carries,
 * T up to 1e5 with scores over ±1e4), scan() of the built-ins with its options (reverse, exclusive,
 * carry, chunked, an inner axis), gradients through autograd, user-defined operators with a `wgsl`
 * combine (fused on WebGPU where no gradient is needed), and add / max beyond the length one shader
 * invocation may loop over on llvmpipe.
 *
 * Runs only where a WebGPU adapter can be had; RECUR_REQUIRE_WEBGPU=1 makes its absence a failure.
 * Tolerances: float32 on the GPU (tree order) against the CPU kernels (float64 accumulation), see
 * webgpu-kernels.test.ts.
 */
import { initBackend, noGrad, type Tensor, tensor } from '@recur/tensor';
import { describe, expect, it } from 'vitest';
import {
  add,
  attention,
  attentionScan,
  defineOperator,
  linearRecurrence,
  logaddexp,
  max,
  type ScanOperator,
  type ScanOptions,
  scan,
} from '../src/index.js';
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
    console.warn(`[recur] skipping the webgpu scan tests: ${(e as Error).message}`);
    return false;
  }
}
const HAS_WEBGPU = await probe();

const NEG_INF = Number.NEGATIVE_INFINITY;
type Backend = 'cpu' | 'webgpu';

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

interface Run {
  outputs: Float32Array[];
  /** Gradients of Σ_k <g_k, output_k> per input (null where not asked for). */
  grads: (Float32Array | null)[];
  /** Ops on the autograd path of the first output. */
  ran: (name: string) => boolean;
}

/**
 * Runs `f` on `backend` with the inputs as leaves (requiring gradients where `wrt` says), then
 * back-propagates Σ_k <g_k, y_k> with fixed random directions g_k.
 */
async function runOn(
  backend: Backend,
  f: (...xs: Tensor[]) => Tensor[],
  inputs: readonly Host[],
  wrt: readonly number[] = [],
): Promise<Run> {
  const leaves = inputs.map((h, i) =>
    tensor(h.data, { shape: h.shape, backend, requiresGrad: wrt.includes(i) }),
  );
  const ys = f(...leaves);
  const ran = new Set<string>();
  const first = ys[0] as Tensor;
  const fusedOps = [
    'scan.attention',
    'scan.attentionOutput',
    'scan.logcumsumexp',
    'scan.linearRecurrence',
    'scan.wgsl',
  ];
  for (const name of fusedOps) if (graphHas(first, name)) ran.add(name);
  if (wrt.length > 0) {
    let loss: Tensor | null = null;
    ys.forEach((y, k) => {
      const r = rng(100 + k);
      const g = tensor(
        Float32Array.from({ length: y.size }, () => normal(r)),
        { shape: y.shape, backend },
      );
      const term = y.mul(g).sum();
      loss = loss ? loss.add(term) : term;
    });
    (loss as Tensor | null)?.backward();
  }
  const outputs = (await Promise.all(ys.map((y) => y.data()))) as Float32Array[];
  const grads = await Promise.all(
    leaves.map(async (l, i) =>
      wrt.includes(i)
        ? l.grad
          ? ((await l.grad.data()) as Float32Array)
          : new Float32Array(l.size)
        : null,
    ),
  );
  for (const l of leaves) l.dispose();
  return { outputs, grads, ran: (name) => ran.has(name) };
}

/** Runs `f` on both backends and compares outputs and gradients (tolerance relative to scale). */
async function sameOnBoth(
  f: (...xs: Tensor[]) => Tensor[],
  inputs: readonly Host[],
  opts: {
    wrt?: readonly number[];
    rtol?: number;
    grtol?: number;
    what?: string;
    fused?: string;
  } = {},
): Promise<{ cpu: Run; gpu: Run }> {
  const wrt = opts.wrt ?? [];
  const cpu = await runOn('cpu', f, inputs, wrt);
  const gpu = await runOn('webgpu', f, inputs, wrt);
  const what = opts.what ?? '';
  const rtol = opts.rtol ?? 1e-5;
  cpu.outputs.forEach((want, k) => {
    expectClose(gpu.outputs[k] as Float32Array, want, {
      rtol,
      atol: rtol * Math.max(maxAbs(want), 1e-3),
      what: `${what} output ${k}`,
    });
  });
  // Gradients: relative, and absolute at the scale of all of them (a gradient along a score or a
  // carry's max is a difference of terms of that scale: u·ZU + <w, ZW>, nearly cancelling).
  const grtol = opts.grtol ?? 1e-4;
  const scale = Math.max(1e-3, ...cpu.grads.map((g) => (g ? maxAbs(g) : 0)));
  cpu.grads.forEach((want, i) => {
    if (!want) return;
    expectClose(gpu.grads[i] as Float32Array, want, {
      rtol: grtol,
      atol: grtol * scale,
      what: `${what} gradient of input ${i}`,
    });
  });
  if (opts.fused && wrt.length > 0) {
    expect(gpu.ran(opts.fused), `${what}: ${opts.fused} on the webgpu graph`).toBe(true);
    expect(cpu.ran(opts.fused), `${what}: ${opts.fused} on the cpu graph`).toBe(true);
  }
  return { cpu, gpu };
}

type Form = 'head' | 'channel';

function attentionProblem(
  form: Form,
  B: number,
  T: number,
  d: number,
  seed: number,
  score: (r: () => number, t: number) => number,
  withCarry: boolean,
): Host[] {
  const r = rng(seed);
  const c = form === 'head' ? 1 : d;
  const s = host(form === 'head' ? [B, T] : [B, T, d], (i) =>
    score(r, Math.floor(i / (form === 'head' ? 1 : d)) % T),
  );
  const v = host([B, T, d], () => normal(r));
  if (!withCarry) return [s, v];
  const m0 = host([B, c], (i) => (i === 0 ? NEG_INF : 10 * r() - 5));
  const u0 = host([B, c], (i) => (i === 0 ? 0 : 0.5 + r()));
  const w0 = host([B, d], (i) => ((c === 1 ? i < d : i === 0) ? 0 : normal(r)));
  return [s, v, m0, u0, w0];
}

/** attentionScan's output and carry, as a list. */
const attentionFn =
  (opts: { chunkSize?: number } = {}) =>
  (s: Tensor, v: Tensor, m?: Tensor, u?: Tensor, w?: Tensor): Tensor[] => {
    const { out, carry } = attentionScan(s, v, {
      carry: m && u && w ? { m, u, w } : undefined,
      ...(opts.chunkSize ? { algorithm: 'chunked', chunkSize: opts.chunkSize } : {}),
    });
    return [out, carry.m, carry.u, carry.w];
  };

const spread =
  (width: number, pInf: number, lead = 0) =>
  (r: () => number, t: number) =>
    t < lead || r() < pInf ? NEG_INF : (2 * r() - 1) * width;

describe.skipIf(!HAS_WEBGPU)('scan on webgpu = scan on the cpu', { timeout: 60_000 }, () => {
  for (const form of ['head', 'channel'] as const) {
    it(`attentionScan (${form}): T = 1, 13, 2000, carry and not, leading −inf, ±50; gradients`, async () => {
      for (const [T, seed] of [
        [1, 1],
        [13, 2],
        [2000, 3],
      ] as const) {
        for (const withCarry of [false, true]) {
          const inputs = attentionProblem(form, 2, T, 5, seed, spread(50, 0.1, 3), withCarry);
          await sameOnBoth(attentionFn(), inputs, {
            wrt: inputs.map((_, i) => i),
            what: `T = ${T}${withCarry ? ' with carry' : ''}`,
            fused: 'scan.attentionOutput',
          });
        }
      }
    });

    it(`attentionScan (${form}): T = 100000, scores over ±1e4, chunked with a carry too`, async () => {
      const T = 100_000;
      const inputs = attentionProblem(
        form,
        2,
        T,
        form === 'head' ? 4 : 2,
        7,
        spread(1e4, 0.001, 5),
        false,
      );
      await sameOnBoth(attentionFn(), inputs, { what: 'whole' });
      await sameOnBoth(attentionFn({ chunkSize: 30_000 }), inputs, { what: 'chunked' });
    });
  }

  it('scan(attention) with a loss on M, U and W (gradient along M too), carry, reverse', async () => {
    const r = rng(21);
    const T = 300;
    const d = 3;
    const m = host([2, T, 1], (i) => (i % T < 4 ? NEG_INF : 20 * r() - 10));
    const u = host([2, T, 1], () => 0.5 + r());
    const w = host([2, T, d], () => normal(r));
    const m0 = host([2, 1], () => 3 * r());
    const u0 = host([2, 1], () => 0.5 + r());
    const w0 = host([2, d], () => normal(r));
    for (const reverse of [false, true]) {
      await sameOnBoth(
        (a, b, c, a0, b0, c0) =>
          scan(attention, [a, b, c] as Tensor[], {
            reverse,
            carry: [a0, b0, c0] as Tensor[],
          }).outputs,
        [m, u, w, m0, u0, w0],
        { wrt: [0, 1, 2, 3, 4, 5], what: `reverse ${reverse}`, fused: 'scan.attention' },
      );
    }
  });

  it('scan(logaddexp): inner axis, carry, reverse, exclusive, chunked; gradients', async () => {
    const r = rng(31);
    const x = host([3, 777, 4], (i) => (i % 11 === 0 ? NEG_INF : 100 * r() - 50));
    const c0 = host([3, 4], (i) => (i % 3 === 0 ? NEG_INF : 5 * r()));
    const cases: [string, ScanOptions][] = [
      ['plain', {}],
      ['reverse, exclusive', { reverse: true, exclusive: true }],
      ['chunked', { algorithm: 'chunked', chunkSize: 100 }],
    ];
    for (const [what, opts] of cases) {
      await sameOnBoth(
        (t, c) =>
          scan(logaddexp, [t as Tensor], { ...opts, axis: 1, carry: [c as Tensor] }).outputs,
        [x, c0],
        { wrt: [0, 1], what, fused: 'scan.logcumsumexp' },
      );
    }
  });

  it('scan(linearRecurrence): carry, reverse, T = 1 and 5000; gradients', async () => {
    for (const T of [1, 5000]) {
      const r = rng(41 + T);
      const a = host([2, T, 3], () => (r() < 0.5 ? -1 : 1) * (0.5 + 0.5 * r()));
      const b = host([2, T, 3], () => normal(r));
      const a0 = host([2, 3], () => 2 * r() - 1);
      const b0 = host([2, 3], () => normal(r));
      for (const reverse of [false, true]) {
        await sameOnBoth(
          (x, y, x0, y0) =>
            scan(linearRecurrence, [x, y] as Tensor[], {
              axis: 1,
              reverse,
              carry: [x0, y0] as Tensor[],
            }).outputs,
          [a, b, a0, b0],
          {
            wrt: [0, 1, 2, 3],
            rtol: 2e-5,
            what: `T = ${T}, reverse ${reverse}`,
            fused: 'scan.linearRecurrence',
          },
        );
      }
    }
  });

  describe('user-defined operators with a wgsl combine', () => {
    /** Composition of x ↦ a·x + b (a user's copy of linearRecurrence), with its WGSL. */
    const compose: ScanOperator = defineOperator({
      name: 'compose',
      arity: 2,
      identity: [1, 0],
      combine: ([a1, b1], [a2, b2]) => [
        (a1 as Tensor).mul(a2 as Tensor),
        (a2 as Tensor).mul(b1 as Tensor).add(b2 as Tensor),
      ],
      wgsl: `
struct Elem { a: f32, b: f32 }
fn identity() -> Elem { return Elem(1.0, 0.0); }
fn combine(x: Elem, y: Elem) -> Elem { return Elem(x.a * y.a, y.a * x.b + y.b); }`,
    });
    /** Addition whose WGSL adds 1 per combine: tells which path ran. */
    const marked: ScanOperator = defineOperator({
      name: 'marked',
      arity: 1,
      identity: [0],
      combine: ([a], [b]) => [(a as Tensor).add(b as Tensor)],
      wgsl: `
struct Elem { v: f32 }
fn identity() -> Elem { return Elem(0.0); }
fn combine(a: Elem, b: Elem) -> Elem { return Elem(a.v + b.v + 1000.0); }`,
    });

    it('run fused on webgpu (no gradient needed) and equal the tree on the cpu', async () => {
      const T = 20_000;
      const r = rng(51);
      const a = host([2, T], () => (r() < 0.5 ? -1 : 1) * (0.5 + 0.5 * r()));
      const b = host([2, T], () => normal(r));
      const a0 = host([2], () => 2 * r() - 1);
      const b0 = host([2], () => normal(r));
      const f = (x: Tensor, y: Tensor, x0: Tensor, y0: Tensor) =>
        noGrad(() => scan(compose, [x, y], { carry: [x0, y0] }).outputs);
      const { gpu } = await sameOnBoth(f, [a, b, a0, b0], { rtol: 2e-5 });
      expect(gpu.outputs[1]?.length).toBe(2 * T);
    });

    it('the wgsl combine is what runs on webgpu; with a gradient, the tree runs instead', async () => {
      const x = host([1, 5], (i) => i + 1);
      const fused = await runOn('webgpu', (t) => scan(marked, [t]).outputs, [x]);
      // Identity ⊕ x₀ … : one +1000 per combine on the path of each position.
      expect(fused.outputs[0]?.[0]).toBeGreaterThan(1000);
      const tree = await runOn('webgpu', (t) => scan(marked, [t]).outputs, [x], [0]);
      expectClose(tree.outputs[0] as Float32Array, [1, 3, 6, 10, 15], { rtol: 0, atol: 0 });
      expectClose(
        tree.grads[0] as Float32Array,
        Array.from({ length: 5 }, (_, i) => rowSum(i)),
        {
          rtol: 1e-5,
          atol: 1e-5,
        },
      );
      expect(tree.ran('scan.wgsl')).toBe(false);
    });
  });

  it('add and max beyond one invocation’s loop limit on llvmpipe (T = 70000)', async () => {
    const r = rng(61);
    const x = host([2, 70_000], (i) => (i % 5000 === 7 ? NEG_INF : normal(r)));
    const y = host([2, 70_000], () => normal(r));
    await sameOnBoth((t) => noGrad(() => scan(max, [t]).outputs), [x], { rtol: 0 });
    // A float32 tree sum against the CPU's: error ~ depth · ulp of the partial sums (~√T).
    await sameOnBoth((t) => noGrad(() => scan(add, [t], { reverse: true }).outputs), [y], {
      rtol: 2e-5,
    });
  });
});

/**
 * The gradient of Σ_k g_k · cumsum(x)_k with respect to x_i is Σ_{k ≥ i} g_k, with runOn's g for
 * output 0 (rng(100)) on a [1, 5] input.
 */
function rowSum(i: number): number {
  const r = rng(100);
  const g = Array.from({ length: 5 }, () => Math.fround(normal(r)));
  return g.slice(i).reduce((s, v) => s + v, 0);
}
