/**
 * The WebAssembly SIMD forward kernel (src/kernels/wasm) against the JavaScript loop it replaces:
 * bit-identical outputs (the same float64 arithmetic in the same order, and an exp that is
 * Math.exp's algorithm) on adversarial inputs — −inf and NaN scores, carries (finite, identity,
 * NaN), T = 1, odd d and d not a multiple of 4, rows longer than a block, spreads of ±1e4. Also:
 * the committed module is what the .wat compiles to, and the scan uses the WebAssembly path
 * exactly when it should.
 */
import { readFileSync } from 'node:fs';
import { tensor, tidy } from '@recur/tensor';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { GENERATED_PATH, generatedModule } from '../scripts/build-wasm.js';
import { attention, scan } from '../src/index.js';
import { attentionForwardJs } from '../src/kernels/cpu.js';
import {
  type AttentionForwardArgs,
  attentionForwardWasm,
  attentionWasm,
  attentionWasmActive,
  attentionWasmBytes,
  instantiateAttentionWasm,
  setAttentionWasm,
} from '../src/kernels/wasm/attention.js';
import { normal, rng } from './helpers/reference.js';

const NEG_INF = Number.NEGATIVE_INFINITY;

/** Bitwise equality of two float32 arrays, any NaN matching any NaN; fails naming the index. */
function expectSameBits(got: Float32Array, want: Float32Array, what: string): void {
  expect(got.length, `${what}: length`).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    const a = got[i] as number;
    const b = want[i] as number;
    if (Object.is(a, b) || (Number.isNaN(a) && Number.isNaN(b))) continue;
    expect.fail(`${what}: element ${i} of ${want.length}: wasm ${a}, JavaScript ${b}`);
  }
}

interface Case {
  name: string;
  outer: number;
  T: number;
  d: number;
  c: 'head' | 'channel';
  score: (r: () => number, t: number) => number;
  value?: (r: () => number) => number;
  carry?: 'finite' | 'identity' | 'mixed' | 'nan';
}

function build(k: Case, seed: number, divide = false): AttentionForwardArgs {
  const r = rng(seed);
  const c = k.c === 'head' ? 1 : k.d;
  const { outer, T, d } = k;
  const m = new Float32Array(outer * T * c);
  for (let i = 0; i < m.length; i++) m[i] = k.score(r, Math.floor(i / Math.max(c, 1)) % T);
  const u = Float32Array.from({ length: outer * T * c }, () => 0.25 + r());
  const w = Float32Array.from({ length: outer * T * d }, () => (k.value ? k.value(r) : normal(r)));
  let m0: Float32Array | null = null;
  let u0: Float32Array | null = null;
  let w0: Float32Array | null = null;
  if (k.carry) {
    const kind = k.carry;
    const pick = (row: number) =>
      kind === 'mixed' ? (row % 2 === 0 ? 'finite' : 'identity') : kind;
    m0 = Float32Array.from({ length: outer * c }, (_, i) => {
      const p = pick(Math.floor(i / Math.max(c, 1)));
      return p === 'finite' ? 30 * (2 * r() - 1) : p === 'identity' ? NEG_INF : Number.NaN;
    });
    u0 = Float32Array.from({ length: outer * c }, (_, i) =>
      pick(Math.floor(i / Math.max(c, 1))) === 'identity' ? 0 : 0.5 + r(),
    );
    w0 = Float32Array.from({ length: outer * d }, (_, i) =>
      pick(Math.floor(i / Math.max(d, 1))) === 'identity' ? 0 : normal(r),
    );
  }
  return {
    outer,
    T,
    d,
    c,
    m,
    u,
    w,
    m0,
    u0,
    w0,
    M: new Float32Array(m.length),
    U: new Float32Array(u.length),
    W: new Float32Array(w.length),
    divide,
    Wlast: divide ? new Float32Array(outer * d) : null,
  };
}

/** The same problem with fresh outputs. */
function fresh(a: AttentionForwardArgs): AttentionForwardArgs {
  return {
    ...a,
    M: new Float32Array(a.M.length),
    U: new Float32Array(a.U.length),
    W: new Float32Array(a.W.length),
    Wlast: a.Wlast && new Float32Array(a.Wlast.length),
  };
}

const spread =
  (scale: number, pInf = 0) =>
  (r: () => number) =>
    r() < pInf ? NEG_INF : (2 * r() - 1) * scale;

const CASES: Case[] = [];
for (const c of ['head', 'channel'] as const) {
  for (const d of [1, 2, 3, 4, 5, 7, 8, 13, 64, 67]) {
    CASES.push({ name: `${c} d=${d} T=1`, outer: 3, T: 1, d, c, score: spread(50, 0.2) });
    CASES.push({
      name: `${c} d=${d} ±50, 15% −inf`,
      outer: 2,
      T: 41,
      d,
      c,
      score: spread(50, 0.15),
    });
    CASES.push({
      name: `${c} d=${d} carries (finite and identity)`,
      outer: 4,
      T: 9,
      d,
      c,
      score: spread(30, 0.1),
      carry: 'mixed',
    });
  }
  CASES.push(
    { name: `${c} all −inf`, outer: 2, T: 11, d: 6, c, score: () => NEG_INF },
    {
      name: `${c} all −inf after an identity carry`,
      outer: 2,
      T: 5,
      d: 6,
      c,
      score: () => NEG_INF,
      carry: 'identity',
    },
    {
      name: `${c} leading −inf`,
      outer: 2,
      T: 12,
      d: 5,
      c,
      score: (r, t) => (t < 4 ? NEG_INF : 20 * r()),
    },
    {
      name: `${c} trailing −inf`,
      outer: 2,
      T: 12,
      d: 5,
      c,
      score: (r, t) => (t >= 6 ? NEG_INF : 20 * r()),
    },
    {
      name: `${c} NaN scores`,
      outer: 3,
      T: 20,
      d: 5,
      c,
      score: (r, t) => (t === 7 ? Number.NaN : 10 * r()),
    },
    {
      name: `${c} NaN first`,
      outer: 1,
      T: 6,
      d: 4,
      c,
      score: (r, t) => (t === 0 ? Number.NaN : r()),
    },
    { name: `${c} NaN carry`, outer: 2, T: 6, d: 5, c, score: spread(5), carry: 'nan' },
    {
      name: `${c} +inf scores`,
      outer: 2,
      T: 10,
      d: 5,
      c,
      score: (r, t) => (t % 4 === 1 ? Number.POSITIVE_INFINITY : r()),
    },
    {
      name: `${c} NaN and ±inf values`,
      outer: 2,
      T: 15,
      d: 6,
      c,
      score: spread(5),
      value: (r) => {
        const x = r();
        return x < 0.05 ? Number.NaN : x < 0.1 ? Number.POSITIVE_INFINITY : x < 0.15 ? NEG_INF : x;
      },
    },
    { name: `${c} scores over ±1e4`, outer: 2, T: 3000, d: 6, c, score: spread(1e4, 0.01) },
    {
      name: `${c} exponents near −745 (subnormal coefficients)`,
      outer: 2,
      T: 200,
      d: 5,
      c,
      score: (r) => -740 * r(),
    },
    {
      name: `${c} rows of several blocks, d = 64`,
      outer: 3,
      T: 2500,
      d: 64,
      c,
      score: spread(20, 0.02),
      carry: 'finite',
    },
  );
}
{
  let level = 0;
  CASES.push({
    name: 'head random walk (near-ties), T = 100000',
    outer: 1,
    T: 100_000,
    d: 4,
    c: 'head',
    score: (r) => {
      level += 0.05 * normal(r);
      return level;
    },
  });
}

describe('attention forward: WebAssembly SIMD equals JavaScript bit for bit', () => {
  it('WebAssembly SIMD is available here (Node 20), so the suite exercises the wasm path', () => {
    expect(attentionWasm()).not.toBeNull();
    expect(attentionWasmActive()).toBe(true);
  });

  it.each(CASES.map((k, i) => ({ ...k, seed: 1000 + i })))('$name', (k) => {
    const wasm = attentionWasm();
    if (!wasm) return expect.fail('no WebAssembly SIMD');
    const js = build(k, k.seed);
    const wa = fresh(js);
    attentionForwardJs(js);
    expect(attentionForwardWasm(wasm, wa)).toBe(true);
    expectSameBits(wa.M, js.M, 'M');
    expectSameBits(wa.U, js.U, 'U');
    expectSameBits(wa.W, js.W, 'W');
  });

  // attentionScan's fused output: W/U (0 where M is −inf) and the last numerator, both paths alike.
  it.each(CASES.map((k, i) => ({ ...k, seed: 1000 + i })))('$name, divided by U', (k) => {
    const wasm = attentionWasm();
    if (!wasm) return expect.fail('no WebAssembly SIMD');
    const js = build(k, k.seed, true);
    const wa = fresh(js);
    attentionForwardJs(js);
    expect(attentionForwardWasm(wasm, wa)).toBe(true);
    expectSameBits(wa.M, js.M, 'M');
    expectSameBits(wa.U, js.U, 'U');
    expectSameBits(wa.W, js.W, 'W/U');
    expectSameBits(wa.Wlast as Float32Array, js.Wlast as Float32Array, 'last W');
  });

  it('a value width so large one position fills a block (the memory grows)', () => {
    const wasm = attentionWasm();
    if (!wasm) return expect.fail('no WebAssembly SIMD');
    for (const c of ['head', 'channel'] as const) {
      const js = build({ name: '', outer: 2, T: 3, d: 40_001, c, score: spread(5, 0.2) }, 7);
      const wa = fresh(js);
      attentionForwardJs(js);
      expect(attentionForwardWasm(wasm, wa)).toBe(true);
      expectSameBits(wa.M, js.M, `${c} M`);
      expectSameBits(wa.U, js.U, `${c} U`);
      expectSameBits(wa.W, js.W, `${c} W`);
    }
  });

  it('exps is Math.exp bit for bit on every argument the kernel makes (x <= 0, −inf, NaN)', () => {
    const wasm = attentionWasm();
    if (!wasm) return expect.fail('no WebAssembly SIMD');
    const r = rng(5);
    const n = 1 << 16;
    const xs: number[] = [
      0,
      -0,
      NEG_INF,
      Number.NaN,
      -745.1332191019411,
      -745.1332191019412,
      -745.14,
      -745,
      -744.5,
      -708.39641853226408,
      -708.4,
      -709.78,
      -0.34657359027997264,
      -0.3465735912322998,
      -1.0397207708399179,
      -1.0397186279296875,
      -(2 ** -28),
      -(2 ** -28) * 1.5,
      -(2 ** -29),
      -5e-324,
      -1e-310,
      -1,
      -2,
      -0.5,
      -Math.LN2,
      -1.5 * Math.LN2,
    ];
    for (const scale of [1e-9, 1e-3, 1, 2, 40, 800]) {
      for (let i = 0; i < n / 6; i++) xs.push(-scale * r());
    }
    // Differences of float32 scores, as the kernel makes them.
    for (let i = 0; i < n / 4; i++)
      xs.push(-Math.abs(Math.fround(40 * r() - 20) - Math.fround(40 * r() - 20)));
    const bytes = xs.length * 8 + 16;
    const memory = wasm.memory;
    if (memory.buffer.byteLength < bytes)
      memory.grow(Math.ceil((bytes - memory.buffer.byteLength) / 65536));
    const f64 = new Float64Array(memory.buffer, 0, xs.length);
    f64.set(xs);
    wasm.exps(0, xs.length);
    for (let i = 0; i < xs.length; i++) {
      const want = Math.exp(xs[i] as number);
      const got = f64[i] as number;
      if (!(Object.is(got, want) || (Number.isNaN(got) && Number.isNaN(want))))
        expect.fail(`exp(${xs[i]}): wasm ${got}, Math.exp ${want}`);
    }
  });
});

describe('the scan uses the WebAssembly path when it is on', () => {
  it('scan(attention) gives the same bits with the wasm path on and off', () => {
    for (const c of ['head', 'channel'] as const) {
      const k: Case = {
        name: '',
        outer: 2,
        T: 700,
        d: 9,
        c,
        score: spread(40, 0.1),
        carry: 'mixed',
      };
      const a = build(k, 99);
      const run = () =>
        tidy(() => {
          const cw = a.c;
          const res = scan(
            attention,
            [
              tensor(a.m, { shape: [a.outer, a.T, cw] }),
              tensor(a.u, { shape: [a.outer, a.T, cw] }),
              tensor(a.w, { shape: [a.outer, a.T, a.d] }),
            ],
            {
              algorithm: 'sequential',
              carry: [
                tensor(a.m0 as Float32Array, { shape: [a.outer, cw] }),
                tensor(a.u0 as Float32Array, { shape: [a.outer, cw] }),
                tensor(a.w0 as Float32Array, { shape: [a.outer, a.d] }),
              ],
            },
          );
          return res.outputs.map((t) => t.dataSync() as Float32Array);
        });
      const withWasm = run();
      const before = setAttentionWasm(false);
      let withJs: Float32Array[];
      try {
        expect(attentionWasmActive()).toBe(false);
        withJs = run();
      } finally {
        setAttentionWasm(before);
      }
      ['M', 'U', 'W'].forEach((name, i) => {
        expectSameBits(withWasm[i] as Float32Array, withJs[i] as Float32Array, `${c} ${name}`);
      });
    }
  });
});

describe('the committed WebAssembly module', () => {
  it('is what attention.wat compiles to (run `pnpm build:wasm` after editing the .wat)', async () => {
    const committed = readFileSync(GENERATED_PATH, 'utf8');
    expect(committed).toBe(await generatedModule());
  });

  it('is under 4 KiB, so browsers compile it synchronously on the main thread', () => {
    const bytes = attentionWasmBytes();
    expect(bytes.length).toBeLessThan(4096);
    expect(WebAssembly.validate(bytes)).toBe(true);
  });
});

describe('feature detection', () => {
  afterEach(() => {
    vi.unstubAllGlobals();
  });

  it('finds no module where WebAssembly is missing, rejects the SIMD module or cannot compile', () => {
    const real = WebAssembly;
    expect(instantiateAttentionWasm()).not.toBeNull();
    vi.stubGlobal('WebAssembly', undefined);
    expect(instantiateAttentionWasm()).toBeNull();
    vi.stubGlobal('WebAssembly', {
      validate: () => false,
      Module: real.Module,
      Instance: real.Instance,
    });
    expect(instantiateAttentionWasm()).toBeNull();
    vi.stubGlobal('WebAssembly', {
      validate: (bytes: BufferSource) => real.validate(bytes),
      Module: class {
        constructor() {
          throw new Error('compiling WebAssembly is forbidden here');
        }
      },
      Instance: real.Instance,
    });
    expect(instantiateAttentionWasm()).toBeNull();
    vi.unstubAllGlobals();
    expect(instantiateAttentionWasm()).not.toBeNull();
  });
});
