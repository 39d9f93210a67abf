/**
 * The CPU backend's WebAssembly SIMD GEMM (src/backends/cpu/wasm) and its threads, against a naive
 * float64 product written here: every transpose, shapes that cross the micro-kernel tile (4 × 8),
 * the k-block (256) and the L2 block (128 rows), fewer rows than the tile (the matrix-vector
 * kernels), broadcast batches, non-finite values; identical bits at 1, 2 and 3 threads; the
 * relaxed-SIMD FMA variant (in a child Node with the flag Node 20 needs); the JavaScript fallback
 * switch; workers that do not keep a process alive; and that the committed module is current.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { GENERATED_PATH, generatedModule } from '../scripts/build-wasm.js';
import {
  cpuKernelInfo,
  getNumThreads,
  matmul,
  matmulT,
  setCpuKernels,
  setNumThreads,
  sliceAssign,
  type Tensor,
  TensorError,
  tensor,
} from '../src/index.js';

/** xorshift32 in [-1, 1): the test's own generator, independent of the library's. */
function values(n: number, seed: number, scale = 1): Float32Array {
  let s = seed * 2654435761 || 1;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = (((s >>> 0) / 2 ** 32) * 2 - 1) * scale;
  }
  return out;
}

interface Product {
  shapeA: number[];
  shapeB: number[];
  transA: boolean;
  transB: boolean;
}

/** op(A) @ op(B) in float64 with plain loops, and Σ|a||b| per element (the error bound's scale). */
function reference(a: Float32Array, b: Float32Array, p: Product) {
  const ra = p.shapeA.length;
  const rb = p.shapeB.length;
  const m = p.shapeA[p.transA ? ra - 1 : ra - 2] as number;
  const k = p.shapeA[p.transA ? ra - 2 : ra - 1] as number;
  const n = p.shapeB[p.transB ? rb - 2 : rb - 1] as number;
  const batchA = p.shapeA.slice(0, -2);
  const batchB = p.shapeB.slice(0, -2);
  const rank = Math.max(batchA.length, batchB.length);
  const padA = [...Array(rank - batchA.length).fill(1), ...batchA];
  const padB = [...Array(rank - batchB.length).fill(1), ...batchB];
  const batch = padA.map((d, i) => Math.max(d, padB[i] as number));
  const nb = batch.reduce((x, y) => x * y, 1);
  const value = new Float64Array(nb * m * n);
  const scale = new Float64Array(nb * m * n);
  for (let t = 0; t < nb; t++) {
    // Multi-index of batch t, then each operand's (broadcast) batch offset.
    let rest = t;
    const idx = batch.map(() => 0);
    for (let d = rank - 1; d >= 0; d--) {
      idx[d] = rest % (batch[d] as number);
      rest = Math.floor(rest / (batch[d] as number));
    }
    let oa = 0;
    let ob = 0;
    for (let d = 0; d < rank; d++) {
      oa = oa * (padA[d] as number) + ((padA[d] as number) === 1 ? 0 : (idx[d] as number));
      ob = ob * (padB[d] as number) + ((padB[d] as number) === 1 ? 0 : (idx[d] as number));
    }
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        let abs = 0;
        for (let kk = 0; kk < k; kk++) {
          const x = a[oa * m * k + (p.transA ? kk * m + i : i * k + kk)] as number;
          const y = b[ob * k * n + (p.transB ? j * k + kk : kk * n + j)] as number;
          s += x * y;
          abs += Math.abs(x * y);
        }
        value[t * m * n + i * n + j] = s;
        scale[t * m * n + i * n + j] = abs;
      }
    }
  }
  return { value, scale, k };
}

function product(
  p: Product,
  seed: number,
  scale = 1,
): { a: Float32Array; b: Float32Array; y: Tensor } {
  const a = values(
    p.shapeA.reduce((x, y) => x * y, 1),
    seed,
    scale,
  );
  const b = values(
    p.shapeB.reduce((x, y) => x * y, 1),
    seed + 1,
    scale,
  );
  const y = matmulT(
    tensor(a, { shape: p.shapeA }),
    tensor(b, { shape: p.shapeB }),
    p.transA,
    p.transB,
  );
  return { a, b, y };
}

/** |got − want| ≤ k·2⁻²³·Σ|a||b| (the float32 dot-product bound, with room for either order). */
function expectClose(got: Float32Array, want: ReturnType<typeof reference>, what: string): void {
  expect(got.length, `${what}: size`).toBe(want.value.length);
  const eps = 2 ** -23;
  for (let i = 0; i < got.length; i++) {
    const err = Math.abs((got[i] as number) - (want.value[i] as number));
    const bound = want.k * eps * (want.scale[i] as number) + 1e-30;
    if (!(err <= bound)) {
      expect.fail(
        `${what}: element ${i}: got ${got[i]}, want ${want.value[i]} (error ${err} > ${bound})`,
      );
    }
  }
}

afterEach(() => {
  setCpuKernels('auto');
  setNumThreads(2);
});

describe('WebAssembly GEMM', { timeout: 60_000 }, () => {
  it('is what runs by default here (Node 20 has WebAssembly SIMD)', () => {
    expect(cpuKernelInfo().active).toMatch(/^wasm-/);
  });

  const shapes: [number, number, number][] = [
    [1, 1, 1],
    [1, 300, 20], // one row: matrix-vector kernels
    [2, 33, 17],
    [3, 257, 45],
    [4, 8, 8], // exactly one tile
    [5, 3, 9], // K = 3
    [7, 256, 8],
    [9, 257, 7], // crosses the k-block
    [13, 513, 31],
    [129, 70, 33], // crosses the 128-row L2 block
    [64, 1, 40], // K = 1: an outer product
  ];
  for (const [m, k, n] of shapes) {
    for (const transA of [false, true]) {
      for (const transB of [false, true]) {
        it(`${m}×${k} @ ${k}×${n}, transA ${transA}, transB ${transB}`, () => {
          const p: Product = {
            shapeA: transA ? [k, m] : [m, k],
            shapeB: transB ? [n, k] : [k, n],
            transA,
            transB,
          };
          const { a, b, y } = product(p, m * 31 + k * 7 + n);
          expectClose(y.dataSync() as Float32Array, reference(a, b, p), 'wasm');
        });
      }
    }
  }

  it('broadcast batches: one operand shared by every product, and both broadcast', () => {
    const cases: Product[] = [
      { shapeA: [3, 17, 40], shapeB: [40, 9], transA: false, transB: false },
      { shapeA: [40, 17], shapeB: [3, 9, 40], transA: true, transB: true },
      { shapeA: [2, 1, 6, 20], shapeB: [1, 3, 20, 11], transA: false, transB: false },
      { shapeA: [4, 1, 50], shapeB: [4, 50, 64], transA: false, transB: false }, // batched vectors
    ];
    for (const [i, p] of cases.entries()) {
      const { a, b, y } = product(p, 100 + i);
      expectClose(y.dataSync() as Float32Array, reference(a, b, p), `case ${i}`);
    }
  });

  it('large magnitudes and non-finite values propagate as in the reference', () => {
    const p: Product = { shapeA: [6, 20], shapeB: [20, 10], transA: false, transB: false };
    const a = values(120, 5, 1e18);
    const b = values(200, 6, 1e18);
    a[3] = Number.POSITIVE_INFINITY; // row 0
    b[10 * 4 + 2] = Number.NaN; // row 4 of B: every output of column 2
    const y = matmulT(tensor(a, { shape: p.shapeA }), tensor(b, { shape: p.shapeB })).dataSync();
    const want = reference(a, b, p);
    for (let i = 0; i < y.length; i++) {
      const w = want.value[i] as number;
      if (Number.isFinite(w)) {
        const bound = 20 * 2 ** -23 * (want.scale[i] as number);
        expect(Math.abs((y[i] as number) - w), `element ${i}`).toBeLessThanOrEqual(bound);
      } else {
        expect(Object.is(y[i], w) || (Number.isNaN(y[i]) && Number.isNaN(w)), `element ${i}`).toBe(
          true,
        );
      }
    }
    // The zero padding of the tile must not leak NaN into real outputs: 0·∞ stays in the padding.
    expect(Number.isNaN(y[1] as number)).toBe(false);
  });

  it('gives identical bits on 1, 2 and 3 threads (each output element is one thread’s)', () => {
    const cases: Product[] = [
      { shapeA: [200, 300], shapeB: [300, 96], transA: false, transB: false }, // split over N
      { shapeA: [300, 600], shapeB: [300, 24], transA: true, transB: false }, // split over M
      { shapeA: [1, 700], shapeB: [900, 700], transA: false, transB: true }, // gemvT split
      { shapeA: [2, 800], shapeB: [800, 1000], transA: false, transB: false }, // gemvN split
    ];
    for (const [i, p] of cases.entries()) {
      const runs = [1, 2, 3].map((threads) => {
        setNumThreads(threads);
        return product(p, 7 + i).y.dataSync() as Float32Array;
      });
      expect(
        Buffer.from(runs[1]?.buffer as ArrayBuffer).equals(
          Buffer.from(runs[0]?.buffer as ArrayBuffer),
        ),
        `case ${i}: 2 threads`,
      ).toBe(true);
      expect(
        Buffer.from(runs[2]?.buffer as ArrayBuffer).equals(
          Buffer.from(runs[0]?.buffer as ArrayBuffer),
        ),
        `case ${i}: 3 threads`,
      ).toBe(true);
      const { a, b } = product(p, 7 + i);
      expectClose(runs[0] as Float32Array, reference(a, b, p), `case ${i}`);
    }
  });

  it('falls back to the JavaScript kernels when asked, with the same results to float32 rounding', () => {
    const p: Product = { shapeA: [37, 90], shapeB: [90, 21], transA: false, transB: false };
    setCpuKernels('js');
    expect(cpuKernelInfo().active).toBe('js');
    const js = product(p, 11);
    setCpuKernels('auto');
    const wasm = product(p, 11);
    const want = reference(js.a, js.b, p);
    expectClose(js.y.dataSync() as Float32Array, want, 'js');
    expectClose(wasm.y.dataSync() as Float32Array, want, 'wasm');
    setCpuKernels('simd');
    expect(cpuKernelInfo().active).toBe('wasm-simd');
  });

  it('a weight kept in memory for matrix-vector products is never read stale', () => {
    // [128, 512] floats = 256 KiB: large enough to be cached, and pooled when released, so the
    // next 256 KiB output reuses the very same buffer with other contents.
    const x = tensor(values(512, 21), { shape: [1, 512] });
    const w1 = tensor(values(128 * 512, 22), { shape: [128, 512] });
    const p: Product = { shapeA: [1, 512], shapeB: [128, 512], transA: false, transB: true };
    const first = matmulT(x, w1, false, true).dataSync() as Float32Array;
    expectClose(
      first,
      reference(x.dataSync() as Float32Array, w1.dataSync() as Float32Array, p),
      'w1',
    );
    expect(matmulT(x, w1, false, true).dataSync()).toEqual(first); // from the cache
    const w1Data = w1.dataSync() as Float32Array;
    const doubled = w1.mul(2); // a fresh buffer
    w1.dispose(); // back to the pool
    const w2 = doubled.add(1); // reuses w1's buffer
    const w2Data = w2.dataSync() as Float32Array;
    expect(w2Data[0]).toBeCloseTo(2 * (w1Data[0] as number) + 1, 5);
    const second = matmulT(x, w2, false, true).dataSync() as Float32Array;
    expectClose(second, reference(x.dataSync() as Float32Array, w2Data, p), 'w2');
    // A weight replaced by assign() (an optimiser step) gets a new buffer: read afresh too.
    const w3 = tensor(values(128 * 512, 23), { shape: [128, 512] });
    w2.assign(w3);
    const third = matmulT(x, w2, false, true).dataSync() as Float32Array;
    expectClose(
      third,
      reference(x.dataSync() as Float32Array, w3.dataSync() as Float32Array, p),
      'w3',
    );
  });

  it('a weight written in place (sliceAssign) is read afresh by matrix-vector products', () => {
    const x = tensor(values(512, 31), { shape: [1, 512] });
    const w = tensor(values(64 * 512, 32), { shape: [64, 512] }); // 128 KiB: cached
    const p: Product = { shapeA: [1, 512], shapeB: [64, 512], transA: false, transB: true };
    matmulT(x, w, false, true).dataSync(); // cached now
    sliceAssign(w, 0, 10, tensor(values(5 * 512, 33), { shape: [5, 512] }));
    const got = matmulT(x, w, false, true).dataSync() as Float32Array;
    expectClose(
      got,
      reference(x.dataSync() as Float32Array, w.dataSync() as Float32Array, p),
      'after sliceAssign',
    );
  });

  it('int32 products stay exact (JavaScript path, no float32 rounding above 2^24)', () => {
    const a = tensor(new Int32Array(64 * 64).fill(4097), { shape: [64, 64], dtype: 'int32' });
    const b = tensor(new Int32Array(64 * 64).fill(4097), { shape: [64, 64], dtype: 'int32' });
    expect(matmul(a, b).dataSync()[0]).toBe(4097 * 4097 * 64);
  });

  it('rejects bad settings with errors that name what was expected', () => {
    expect(() => setNumThreads(0)).toThrow(TensorError);
    expect(() => setNumThreads(1.5)).toThrow(/integer from 1 to 256, got 1.5/);
    expect(() => setCpuKernels('fast' as never)).toThrow(/auto, simd, js, got 'fast'/);
    setNumThreads(3);
    expect(getNumThreads()).toBe(3);
  });
});

const here = (path: string) => fileURLToPath(new URL(path, import.meta.url));
const tsxLoader = import.meta.resolve('tsx');
/** Node 20 has relaxed SIMD only behind a V8 flag; later versions ship it. */
const relaxedFlags =
  Number(process.versions.node.split('.')[0]) < 22 ? ['--experimental-wasm-relaxed-simd'] : [];

/** Runs a TypeScript snippet in a child Node (the tensor sources through tsx) and returns stdout. */
function child(code: string, flags: string[] = [], env: Record<string, string> = {}) {
  return spawnSync(
    process.execPath,
    [
      ...flags,
      '--import',
      tsxLoader,
      '--conditions=@recur/source',
      '--input-type=module',
      '-e',
      code,
    ],
    { encoding: 'utf8', timeout: 60_000, env: { ...process.env, ...env }, cwd: here('..') },
  );
}

describe('WebAssembly GEMM in a fresh process', { timeout: 120_000 }, () => {
  const src = JSON.stringify(here('../src/index.ts'));

  // One child (each costs a Node start and a load of the sources through tsx) checks three things:
  // the relaxed-SIMD FMA variant runs and matches, every committed module variant validates, and
  // the worker threads of a threaded product do not keep the process from exiting.
  it('relaxed-SIMD FMA (Node 20: --experimental-wasm-relaxed-simd) runs and matches; every committed variant validates; worker threads do not keep the process alive', () => {
    const generated = JSON.stringify(here('../src/backends/cpu/wasm/gemm-wasm.generated.ts'));
    const code = `
      import { cpuKernelInfo, getNumThreads, matmul, randn, setNumThreads, tensor } from ${src};
      import { gemmWasmBase64 } from ${generated};
      const valid = Object.fromEntries(Object.entries(gemmWasmBase64).map(([k, v]) => [k, WebAssembly.validate(Buffer.from(v, 'base64'))]));
      const m = 37, k = 300, n = 29;
      const a = Float32Array.from({ length: m * k }, (_, i) => Math.sin(i));
      const b = Float32Array.from({ length: k * n }, (_, i) => Math.cos(i));
      const y = matmul(tensor(a, { shape: [m, k] }), tensor(b, { shape: [k, n] })).dataSync();
      let worst = 0;
      for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) {
        let s = 0, abs = 0;
        for (let kk = 0; kk < k; kk++) { s += a[i * k + kk] * b[kk * n + j]; abs += Math.abs(a[i * k + kk] * b[kk * n + j]); }
        worst = Math.max(worst, Math.abs(y[i * n + j] - s) / (abs * k * 2 ** -23));
      }
      setNumThreads(2);
      matmul(randn([256, 256]), randn([256, 256])).dataSync();
      console.log(JSON.stringify({ active: cpuKernelInfo().active, worst, valid, threads: getNumThreads() }));`;
    const started = performance.now();
    const r = child(code, relaxedFlags);
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout.trim());
    expect(out.active).toBe('wasm-relaxed-simd');
    expect(out.worst).toBeLessThanOrEqual(1);
    expect(out.valid).toEqual({ simd: true, simdShared: true, relaxed: true, relaxedShared: true });
    // Exited by itself (spawnSync returned, status 0) after a product on 2 worker threads.
    expect(out.threads).toBe(2);
    expect(performance.now() - started).toBeLessThan(30_000);
  });

  it('RECUR_CPU_KERNELS=js forces JavaScript; a bad value is an error naming the choices', () => {
    const code = `import { cpuKernelInfo } from ${src}; console.log(cpuKernelInfo().active);`;
    const r = child(code, [], { RECUR_CPU_KERNELS: 'js' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe('js');
    const bad = child(code, [], { RECUR_CPU_KERNELS: 'gpu' });
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toMatch(/RECUR_CPU_KERNELS.*expected one of auto, simd, js, got 'gpu'/);
  });
});

describe('the committed module', { timeout: 60_000 }, () => {
  it('is what scripts/gemm-wat.ts compiles to (run `pnpm build:wasm` when this fails)', async () => {
    expect(readFileSync(GENERATED_PATH, 'utf8')).toBe(await generatedModule());
  });
});
