/**
 * The one-query attention kernel in WebAssembly (src/backends/cpu/wasm/attention.ts) and the memory
 * it reads in place, against the definition written here in float64: cache lengths that are not
 * multiples of the 4-key pass (1, 2, 3, prime), across the kernel's 256-key float32 block, large
 * score spreads (exp's range reduction and underflow), several heads, a spare capacity tail, no
 * visible key, NaN; that a cache moves into the kernel's memory once, is written there in place
 * (sliceAssign) and read fresh, and goes back when disposed; that head sizes which are not
 * multiples of 4 and setCpuKernels('js') run the JavaScript kernel with the same results; and
 * that the committed module is current.
 */
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { ATTENTION_GENERATED_PATH, attentionGeneratedModule } from '../scripts/build-wasm.js';
import { attentionOn, isResident, tileKernels } from '../src/backends/cpu/wasm/attention.js';
import { packA } from '../src/backends/cpu/wasm/gemm.js';
import {
  setCpuKernels,
  sliceAssign,
  softmaxAttentionWithLse,
  type Tensor,
  tensor,
} from '../src/index.js';
import { expectClose } from './helpers/assert.js';
import { uniform } from './helpers/reference.js';

interface Case {
  heads: number;
  capacity: number;
  d: number;
  dv: number;
  /** Cached tokens the query sees (keys 0..length−1). */
  length: number;
  scale: number;
  /** Queries and keys drawn from ±spread. */
  spread: number;
}

/** One query per head against keys 0..length−1, in float64 with plain loops. */
function reference(q: Float32Array, k: Float32Array, v: Float32Array, c: Case) {
  const out = new Float64Array(c.heads * c.dv);
  const lse = new Float64Array(c.heads);
  for (let h = 0; h < c.heads; h++) {
    if (c.length === 0) {
      lse[h] = Number.NEGATIVE_INFINITY;
      continue;
    }
    const s: number[] = [];
    for (let j = 0; j < c.length; j++) {
      let dot = 0;
      for (let x = 0; x < c.d; x++) dot += q[h * c.d + x]! * k[(h * c.capacity + j) * c.d + x]!;
      s.push(dot * c.scale);
    }
    const m = Math.max(...s);
    const e = s.map((x) => Math.exp(x - m));
    const z = e.reduce((a, b) => a + b, 0);
    lse[h] = m + Math.log(z);
    for (let j = 0; j < c.length; j++)
      for (let x = 0; x < c.dv; x++)
        out[h * c.dv + x]! += (e[j]! / z) * v[(h * c.capacity + j) * c.dv + x]!;
  }
  return { out, lse };
}

function run(c: Case, seed: number) {
  const q = uniform(c.heads * c.d, seed, -c.spread, c.spread);
  const k = uniform(c.heads * c.capacity * c.d, seed + 1, -c.spread, c.spread);
  const v = uniform(c.heads * c.capacity * c.dv, seed + 2);
  const kt = tensor(k, { shape: [c.heads, c.capacity, c.d] });
  const vt = tensor(v, { shape: [c.heads, c.capacity, c.dv] });
  const got = softmaxAttentionWithLse(tensor(q, { shape: [c.heads, 1, c.d] }), kt, vt, {
    causal: true,
    length: c.length,
    scale: c.scale,
  });
  return { got, want: reference(q, k, v, c), kt, vt };
}

const CASES: Case[] = [
  { heads: 2, capacity: 1, d: 4, dv: 4, length: 1, scale: 0.5, spread: 1 }, // cache length 1
  { heads: 3, capacity: 5, d: 8, dv: 4, length: 2, scale: 0.35, spread: 1 },
  { heads: 1, capacity: 3, d: 4, dv: 8, length: 3, scale: 0.5, spread: 1 },
  { heads: 4, capacity: 40, d: 12, dv: 8, length: 37, scale: 0.29, spread: 1 }, // prime, a spare tail
  { heads: 2, capacity: 263, d: 16, dv: 12, length: 263, scale: 0.25, spread: 1 }, // past one block
  { heads: 2, capacity: 97, d: 8, dv: 4, length: 97, scale: 4, spread: 3 }, // |s| up to ~290
  { heads: 2, capacity: 8, d: 4, dv: 4, length: 0, scale: 1, spread: 1 }, // no visible key
];

const describeCase = (c: Case) =>
  `heads ${c.heads}, cache ${c.length}/${c.capacity}, d ${c.d}, dv ${c.dv}, scale ${c.scale}, spread ±${c.spread}`;

describe('one-query attention in WebAssembly (CPU)', () => {
  afterEach(() => setCpuKernels('auto'));

  for (const c of CASES) {
    it(`matches the float64 definition: ${describeCase(c)}`, async () => {
      const { got, want, kt, vt } = run(c, 7);
      // The cache moved into the kernel's memory (where shared memory exists, as in Node).
      expect(isResident(kt.buffer as Float32Array)).toBe(true);
      expect(isResident(vt.buffer as Float32Array)).toBe(true);
      const tol = c.spread > 1 ? { rtol: 1e-4, atol: 1e-5 } : { rtol: 1e-5, atol: 1e-6 };
      expectClose(await got.out.data(), want.out, { ...tol, what: 'out' });
      expectClose(await got.lse.data(), want.lse, { rtol: 1e-5, atol: 1e-4, what: 'lse' });
    });
  }

  it('the scores span exp’s whole range: keys far below the maximum weigh 0, not garbage', async () => {
    // One key 200 above the others: their weights e^−200 underflow float32 and must be 0.
    const c: Case = { heads: 1, capacity: 6, d: 4, dv: 4, length: 6, scale: 1, spread: 1 };
    const q = new Float32Array([10, 0, 0, 0]);
    const k = new Float32Array(24);
    k[3 * 4] = 20; // key 3 scores 200; the rest 0
    const v = uniform(24, 3);
    const got = softmaxAttentionWithLse(
      tensor(q, { shape: [1, 1, 4] }),
      tensor(k, { shape: [1, 6, 4] }),
      tensor(v, { shape: [1, 6, 4] }),
      { causal: true, length: 6, scale: 1 },
    );
    const want = reference(q, k, v, c);
    expectClose(await got.out.data(), want.out, { rtol: 1e-6, atol: 1e-7, what: 'out' });
    expectClose(await got.lse.data(), want.lse, { rtol: 1e-6, atol: 1e-5, what: 'lse' });
  });

  it('a NaN score makes that head’s output NaN (as the definition does), not the others’', async () => {
    const k = uniform(2 * 5 * 4, 2);
    k[4 * 4 + 1] = Number.NaN; // head 0, key 4
    const got = softmaxAttentionWithLse(
      tensor(uniform(8, 1), { shape: [2, 1, 4] }),
      tensor(k, { shape: [2, 5, 4] }),
      tensor(uniform(40, 3), { shape: [2, 5, 4] }),
      { causal: true },
    );
    const out = await got.out.data();
    expect(Array.from(out.subarray(0, 4)).every(Number.isNaN)).toBe(true);
    expect(Array.from(out.subarray(4)).every(Number.isFinite)).toBe(true);
  });

  it('a cache written in place (sliceAssign) stays in the kernel’s memory and is read fresh', async () => {
    const c: Case = { heads: 2, capacity: 12, d: 8, dv: 4, length: 5, scale: 0.35, spread: 1 };
    const { kt, vt } = run(c, 11);
    const buffer = kt.buffer;
    // Token 5 and 6 written into the resident buffers, then read by the next steps.
    const k = (await kt.data()).slice() as Float32Array;
    const v = (await vt.data()).slice() as Float32Array;
    for (const pos of [5, 6]) {
      const kNew = uniform(2 * 8, 20 + pos);
      const vNew = uniform(2 * 4, 40 + pos);
      sliceAssign(kt, 1, pos, tensor(kNew, { shape: [2, 1, 8] }));
      sliceAssign(vt, 1, pos, tensor(vNew, { shape: [2, 1, 4] }));
      for (let h = 0; h < 2; h++) {
        k.set(kNew.subarray(h * 8, h * 8 + 8), (h * 12 + pos) * 8);
        v.set(vNew.subarray(h * 4, h * 4 + 4), (h * 12 + pos) * 4);
      }
      const q = uniform(16, 60 + pos);
      const got = softmaxAttentionWithLse(tensor(q, { shape: [2, 1, 8] }), kt, vt, {
        causal: true,
        length: pos + 1,
        scale: c.scale,
      });
      expect(kt.buffer).toBe(buffer); // no copy per step
      const want = reference(q, k, v, { ...c, length: pos + 1 });
      expectClose(await got.out.data(), want.out, { rtol: 1e-5, atol: 1e-6, what: 'out' });
      expectClose(await got.lse.data(), want.lse, { rtol: 1e-5, atol: 1e-5, what: 'lse' });
    }
    kt.dispose();
    expect(isResident(buffer as Float32Array)).toBe(false); // its memory went back
  });

  it('head sizes that are not multiples of 4, and setCpuKernels("js"), run JavaScript: same results', async () => {
    const odd: Case = { heads: 2, capacity: 9, d: 5, dv: 3, length: 9, scale: 0.4, spread: 1 };
    const a = run(odd, 13);
    expectClose(await a.got.out.data(), a.want.out, { rtol: 1e-5, atol: 1e-6, what: 'out' });
    const c: Case = { heads: 2, capacity: 9, d: 8, dv: 4, length: 9, scale: 0.4, spread: 1 };
    const wasm = run(c, 17);
    setCpuKernels('js');
    const js = run(c, 17);
    expect(isResident(js.kt.buffer as Float32Array)).toBe(false);
    expectClose(await js.got.out.data(), js.want.out, { rtol: 1e-5, atol: 1e-6, what: 'out' });
    expectClose(await wasm.got.out.data(), await js.got.out.data(), { rtol: 1e-5, atol: 1e-6 });
  });

  it('many queries (a training block) leave the cache where it is', () => {
    const k = tensor(uniform(2 * 6 * 4, 1), { shape: [2, 6, 4] }) as Tensor;
    const q = tensor(uniform(2 * 3 * 4, 2), { shape: [2, 3, 4] });
    softmaxAttentionWithLse(q, k, k, { causal: true });
    expect(isResident(k.buffer as Float32Array)).toBe(false);
  });

  it('softmaxRows (the tiled forward’s row work) matches the float64 definition', () => {
    const tk = tileKernels();
    if (!tk) throw new Error('expected the WebAssembly kernels in Node');
    // Odd widths (vector passes plus a scalar tail), rows ending before, at and past the tile,
    // rows with nothing visible, a running maximum above and below the tile's, spreads to ~±200.
    for (const [rows, cols] of [
      [5, 7],
      [3, 1],
      [4, 13],
    ] as const) {
      const s = tk.alloc(Float32Array, rows * cols)!;
      const ends = tk.alloc(Int32Array, rows)!;
      const mNew = tk.alloc(Float64Array, rows)!;
      const sums = tk.alloc(Float64Array, rows)!;
      try {
        const src = uniform(rows * cols, rows * 31 + cols, -50, 50);
        s.set(src);
        const scale = 4;
        for (let r = 0; r < rows; r++) {
          ends[r] = [cols, 0, cols - 1, cols + 3, -2][r % 5] as number;
          mNew[r] = [Number.NEGATIVE_INFINITY, 10, 150, -300, 0][r % 5] as number;
        }
        const mOld = Float64Array.from(mNew);
        tk.softmaxRows(s, rows, cols, ends, mNew, sums, scale);
        for (let r = 0; r < rows; r++) {
          const end = Math.max(0, Math.min(cols, ends[r] as number));
          let m = mOld[r] as number;
          for (let c = 0; c < end; c++) m = Math.max(m, (src[r * cols + c] as number) * scale);
          if (end > 0) expect(mNew[r]).toBeCloseTo(m, 3);
          else expect(mNew[r]).toBe(mOld[r]);
          const shift = m === Number.NEGATIVE_INFINITY ? 0 : m;
          const want = Array.from({ length: cols }, (_, c) =>
            c < end ? Math.exp((src[r * cols + c] as number) * scale - shift) : 0,
          );
          expectClose(s.subarray(r * cols, (r + 1) * cols), want, {
            rtol: 1e-4,
            atol: 1e-30,
            what: `row ${r}`,
          });
          const z = want.reduce((x, y) => x + y, 0);
          // Terms below e^−87 (under float32's normal range) are flushed to 0: 1e-30 absolute.
          expect(Math.abs((sums[r] as number) - z)).toBeLessThanOrEqual(1e-4 * z + 1e-30);
        }
      } finally {
        tk.free(s, ends, mNew, sums);
      }
    }
  });

  it('gradRows (the tiled backward’s row work) matches the float64 definition', () => {
    const tk = tileKernels();
    if (!tk) throw new Error('expected the WebAssembly kernels in Node');
    const [rows, cols] = [6, 11];
    const p = tk.alloc(Float32Array, rows * cols)!;
    const ds = tk.alloc(Float32Array, rows * cols)!;
    const ends = tk.alloc(Int32Array, rows)!;
    const lse = tk.alloc(Float32Array, rows)!;
    const delta = tk.alloc(Float32Array, rows)!;
    try {
      const s = uniform(rows * cols, 3, -20, 20);
      const dp = uniform(rows * cols, 4);
      p.set(s);
      ds.set(dp);
      const scale = 0.7;
      for (let r = 0; r < rows; r++) {
        ends[r] = [cols, 1, 0, 5, cols + 1, 10][r] as number;
        // lse at or above each row's largest visible score, as the forward makes it.
        let m = Number.NEGATIVE_INFINITY;
        for (let c = 0; c < cols; c++) m = Math.max(m, (s[r * cols + c] as number) * scale);
        lse[r] = m + 1.5;
        delta[r] = (r - 2) * 0.3;
      }
      tk.gradRows(p, ds, rows, cols, ends, lse, delta, scale);
      for (let r = 0; r < rows; r++) {
        const end = Math.max(0, Math.min(cols, ends[r] as number));
        const wantP: number[] = [];
        const wantDs: number[] = [];
        for (let c = 0; c < cols; c++) {
          const i = r * cols + c;
          const pc = c < end ? Math.exp((s[i] as number) * scale - (lse[r] as number)) : 0;
          wantP.push(pc);
          wantDs.push(c < end ? pc * ((dp[i] as number) - (delta[r] as number)) * scale : 0);
        }
        expectClose(p.subarray(r * cols, (r + 1) * cols), wantP, {
          rtol: 1e-5,
          atol: 1e-7,
          what: `p row ${r}`,
        });
        expectClose(ds.subarray(r * cols, (r + 1) * cols), wantDs, {
          rtol: 1e-4,
          atol: 1e-7,
          what: `ds row ${r}`,
        });
      }
    } finally {
      tk.free(p, ds, ends, lse, delta);
    }
  });

  it('packA4 and packAT4 lay out a tile (and its transpose) as the GEMM packs its A operand', () => {
    const memory = new WebAssembly.Memory({ initial: 2 });
    const kx = attentionOn(memory);
    if (!kx) throw new Error('expected the WebAssembly kernels in Node');
    const f32 = new Float32Array(memory.buffer);
    // rows and cols that are not multiples of 4 (partial panels), a pitch wider than cols.
    for (const [rows, cols, ld] of [
      [7, 13, 16],
      [4, 4, 8],
      [1, 5, 8],
      [64, 128, 128],
    ] as const) {
      const src = uniform(rows * ld, rows + cols);
      f32.fill(0);
      f32.set(src, 0); // padding rows past `rows` are zeros
      const dst = 16384;
      // Only the first `rows` rows (A) or `cols` rows (Aᵀ) of each panel matter: the GEMM's
      // padding rows come out as padding rows of C, which are never read.
      const tile = Float32Array.from({ length: rows * cols }, (_, i) => {
        const r = Math.floor(i / cols);
        return src[r * ld + (i % cols)] as number;
      });
      const want = new Float32Array(8192);
      kx.packA4(0, ld, rows, cols, dst * 4);
      packA(tile, 0, false, rows, cols, want, 0);
      for (let r = 0; r < rows; r++)
        for (let c = 0; c < cols; c++) {
          const at = Math.floor(r / 4) * cols * 4 + c * 4 + (r % 4);
          expect(f32[dst + at], `A row ${r} col ${c}`).toBe(want[at]);
        }
      kx.packAT4(0, ld, rows, cols, dst * 4);
      want.fill(0);
      packA(tile, 0, true, cols, rows, want, 0);
      for (let c = 0; c < cols; c++)
        for (let r = 0; r < rows; r++) {
          const at = Math.floor(c / 4) * rows * 4 + r * 4 + (c % 4);
          expect(f32[dst + at], `Aᵀ row ${c} col ${r}`).toBe(want[at]);
        }
    }
  });

  it('the committed module is the one scripts/attention-wat.ts generates', async () => {
    expect(readFileSync(ATTENTION_GENERATED_PATH, 'utf8')).toBe(await attentionGeneratedModule());
  }, 60_000);
});
