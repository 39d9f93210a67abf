import type { TypedArray } from '../../../dtype.js';
import { TensorError } from '../../../errors.js';
import { type Pack, packPanels } from '../matmul-js.js';
import {
  getNumThreads,
  type Job,
  MAX_CHUNKS,
  readyWorkers,
  runParallel,
  threadsFor,
  threadsSupported,
} from '../threads.js';
import { gemmWasmBase64, GEMM_MR as MR, GEMM_NR as NR } from './gemm-wasm.generated.js';

/**
 * The CPU backend's matrix products in WebAssembly SIMD (module text: scripts/gemm-wat.ts).
 *
 * Tensors live in JavaScript typed arrays, so each product copies its operands into the module's
 * memory, packed the way the micro-kernel reads them (O(MK + KN) copies for O(MNK) work), runs, and
 * copies C out. The memory is a workspace that grows to the largest product so far and is reused;
 * it is shared with the worker threads, which compute disjoint panels of C from the same packing.
 * Products with fewer than MR rows (a token's matrix-vector products) skip packing: the matrix is
 * copied as it is and walked by the matrix-vector kernels.
 */

/** Which CPU kernels run the matrix products: the best WebAssembly the engine has, plain SIMD, or JS. */
export type CpuKernels = 'auto' | 'simd' | 'js';

/** What the CPU backend runs now. */
export interface CpuKernelInfo {
  /** What was asked for (setCpuKernels or RECUR_CPU_KERNELS; default 'auto'). */
  readonly requested: CpuKernels;
  /** What runs: relaxed-SIMD FMA, plain SIMD, or the JavaScript fallback. */
  readonly active: 'wasm-relaxed-simd' | 'wasm-simd' | 'js';
  /** Whether worker threads can share memory here (SharedArrayBuffer and workers). */
  readonly threadsSupported: boolean;
  /** Threads set by setNumThreads (1 where threads are not supported). */
  readonly threads: number;
  /** Worker threads started and ready (they start on the first product large enough to split). */
  readonly workers: number;
  /**
   * Bytes of the WebAssembly memory (the largest product's workspace so far, plus weights kept for
   * matrix-vector products, at most 256 MiB of them). It never shrinks, and memory() does not
   * count it.
   */
  readonly memoryBytes: number;
}

interface GemmExports {
  gemm(...args: number[]): void;
  gemvT(...args: number[]): void;
  gemvN(...args: number[]): void;
}

/** One compiled variant over the shared workspace memory. */
interface Engine {
  readonly module: WebAssembly.Module;
  readonly memory: WebAssembly.Memory;
  readonly exports: GemmExports;
  readonly relaxed: boolean;
}

type Variant = 'relaxed' | 'simd';

const PAGE = 65536;
/** Largest workspace: products that need more run in JavaScript. */
const MAX_WORKSPACE_BYTES = 2 ** 31;
/** k-block length: an MR×KC panel of A and a KC×NR panel of B stay in L1. */
const KC = 256;
/** A panels per L2 block (MC = 32·MR rows: 128 × 256 floats = 128 KiB). */
const MCP = 32;

const KERNELS: readonly CpuKernels[] = ['auto', 'simd', 'js'];

function initialKernels(): CpuKernels {
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process
    ?.env?.RECUR_CPU_KERNELS;
  if (env === undefined || env === '') return 'auto';
  if ((KERNELS as readonly string[]).includes(env)) return env as CpuKernels;
  throw new TensorError(
    'RECUR_CPU_KERNELS',
    `expected one of ${KERNELS.join(', ')}, got '${env}' (unset it for the default, 'auto')`,
  );
}

let requested: CpuKernels = initialKernels();
/** Each variant, compiled on first use (null: not supported here), over one workspace memory. */
const engines = new Map<Variant, Engine | null>();
let memory: WebAssembly.Memory | null = null;
let view = new Float32Array(0);

/**
 * Chooses the CPU backend's matrix kernels: 'auto' (default) runs WebAssembly with relaxed-SIMD FMA
 * where the engine has it (Node ≥ 22, current browsers; Node 20 behind
 * `--experimental-wasm-relaxed-simd`) and plain WebAssembly SIMD otherwise; 'simd' never uses the
 * relaxed instructions; 'js' forces the pure-JavaScript kernels, for comparison and debugging. The
 * environment variable RECUR_CPU_KERNELS sets the starting value. Where WebAssembly SIMD is missing,
 * every setting runs JavaScript.
 */
export function setCpuKernels(kernels: CpuKernels): void {
  if (!KERNELS.includes(kernels)) {
    throw new TensorError(
      'setCpuKernels',
      `expected one of ${KERNELS.join(', ')}, got '${kernels}'`,
    );
  }
  requested = kernels;
}

/** What runs the CPU backend's matrix products now. */
export function cpuKernelInfo(): CpuKernelInfo {
  const e = gemmEngine();
  return {
    requested,
    active: e ? (e.relaxed ? 'wasm-relaxed-simd' : 'wasm-simd') : 'js',
    threadsSupported: threadsSupported(),
    threads: getNumThreads(),
    workers: readyWorkers(),
    memoryBytes: memory?.buffer.byteLength ?? 0,
  };
}

function decode(base64: string): Uint8Array<ArrayBuffer> {
  const text = atob(base64);
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  return bytes;
}

/** A shared memory as large as this engine allows (browsers on 32-bit hosts reserve less). */
function newMemory(shared: boolean): WebAssembly.Memory {
  if (!shared) return new WebAssembly.Memory({ initial: 16 });
  for (const maximum of [MAX_WORKSPACE_BYTES / PAGE, 16384, 4096]) {
    try {
      return new WebAssembly.Memory({ initial: 16, maximum, shared: true });
    } catch {
      // try a smaller reservation
    }
  }
  throw new Error('no shared memory');
}

function createEngine(kind: Variant): Engine | null {
  try {
    if (typeof WebAssembly !== 'object' || typeof WebAssembly.validate !== 'function') return null;
    const shared = threadsSupported();
    const bytes = decode(gemmWasmBase64[shared ? (`${kind}Shared` as const) : kind]);
    if (!WebAssembly.validate(bytes)) return null; // feature detection: the module's own instructions
    memory ??= newMemory(shared);
    const module = new WebAssembly.Module(bytes);
    const exports = new WebAssembly.Instance(module, { env: { memory } })
      .exports as unknown as GemmExports;
    return { module, memory, exports, relaxed: kind === 'relaxed' };
  } catch {
    return null; // e.g. a content security policy that forbids compiling WebAssembly
  }
}

function engineOf(kind: Variant): Engine | null {
  if (!engines.has(kind)) engines.set(kind, createEngine(kind));
  return engines.get(kind) ?? null;
}

/** The engine for the current setting; null runs JavaScript. */
export function gemmEngine(): Engine | null {
  if (requested === 'js') return null;
  return (requested === 'auto' ? engineOf('relaxed') : null) ?? engineOf('simd');
}

/** The memory as floats, grown to hold at least `floats`; null when that is past the limit. */
function workspace(e: Engine, floats: number): Float32Array | null {
  const bytes = floats * 4;
  if (bytes > MAX_WORKSPACE_BYTES) return null;
  const have = e.memory.buffer.byteLength;
  if (bytes > have) {
    try {
      e.memory.grow(Math.ceil((bytes - have) / PAGE));
    } catch {
      return null;
    }
  }
  if (view.buffer !== e.memory.buffer) view = new Float32Array(e.memory.buffer);
  return view;
}

/*
 * Matrices of matrix-vector products stay in the memory between calls: a token's step reads the
 * same weights every time, and copying them in cost twice the product itself. The cache sits at
 * the start of the memory ([0, cacheTop) floats) and each product's workspace after it; when full,
 * it starts over. A buffer's entry is dropped when the CPU backend releases the buffer (a released
 * buffer is reused for other data); tensors never change their buffer's contents otherwise
 * (assign() swaps buffers).
 */
const CACHE_LIMIT_FLOATS = 64 * 2 ** 20; // 256 MiB
/** Smaller matrices are copied each time (64 KiB: the copy is cheap next to a call). */
const CACHE_MIN_FLOATS = 1 << 14;
let cache = new WeakMap<TypedArray, Map<number, number>>();
let cacheTop = 0;

/** Forgets the cached copy of `buffer` (the CPU backend calls it when it releases a buffer). */
export function forgetCachedMatrix(buffer: TypedArray): void {
  cache.delete(buffer);
}

/** Where `len` floats of `src` from `off` sit in the memory, copied there if they are not yet. */
function cachedMatrix(e: Engine, src: TypedArray, off: number, len: number): number | null {
  const hit = cache.get(src)?.get(off);
  if (hit !== undefined) return hit;
  if (cacheTop + len > CACHE_LIMIT_FLOATS) {
    cache = new WeakMap();
    cacheTop = 0;
  }
  const mem = workspace(e, cacheTop + len);
  if (!mem) return null;
  const at = cacheTop;
  mem.set(src.subarray(off, off + len), at);
  cacheTop = at + Math.ceil(len / 4) * 4; // keep 16-byte alignment
  const byOffset = cache.get(src) ?? new Map<number, number>();
  byOffset.set(off, at);
  cache.set(src, byOffset);
  return at;
}

/** Packs op(A) (m × k; A stored k × m when trans) per k-block and MR-row panel, zero-padded. */
export const packA: Pack = (src, off, trans, m, k, dst, at = 0) =>
  packPanels(src, off, trans, m, k, dst, at, MR, KC);

/** Packs op(B) (k × n; B stored n × k when trans) per k-block and NR-column panel, zero-padded. */
export const packB: Pack = (src, off, trans, k, n, dst, at = 0) =>
  packPanels(src, off, !trans, n, k, dst, at, NR, KC);

/** [start, end) of part `p` of `count` when `total` items are split evenly (ends rounded to `align`). */
function part(total: number, count: number, p: number, align = 1): [number, number] {
  const cut = (q: number) =>
    q === count ? total : Math.min(total, Math.round((total * q) / count / align) * align);
  return [cut(p), cut(p + 1)];
}

/**
 * How many chunks to cut `units` (panels or columns) into for `threads`: one per thread would leave
 * every thread waiting on the slowest (on a loaded machine, one that is not scheduled yet), so
 * several per thread, which the threads claim as they go.
 */
function chunksFor(threads: number, units: number): number {
  return threads === 1 ? 1 : Math.max(1, Math.min(units, threads * 4, MAX_CHUNKS));
}

function run(e: Engine, jobs: Job[]): void {
  const local = (job: Job) => e.exports[job.fn](...job.args);
  if (jobs.length === 1) local(jobs[0]!);
  else runParallel(local, jobs);
}

/** One matrix product in a batch: operand offsets into the sources and the output. */
export interface GemmItem {
  readonly aOff: number;
  readonly bOff: number;
  readonly outOff: number;
}

/** A batch of products out[item] = op(A) @ op(B), each m × k times k × n. */
export interface GemmBatch {
  readonly a: TypedArray;
  readonly transA: boolean;
  readonly b: TypedArray;
  readonly transB: boolean;
  readonly out: TypedArray;
  readonly m: number;
  readonly k: number;
  readonly n: number;
  readonly items: readonly GemmItem[];
}

/**
 * Runs the batch in WebAssembly; false (nothing written) when the memory cannot hold the operands,
 * for the caller to run JavaScript instead. An operand shared by consecutive items (a broadcast
 * batch axis) is packed once.
 */
export function gemmWasm(e: Engine, batch: GemmBatch): boolean {
  return batch.m < MR ? gemvRows(e, batch) : gemmPanels(e, batch);
}

function gemmPanels(e: Engine, batch: GemmBatch): boolean {
  const { a, transA, b, transB, out, m, k, n, items } = batch;
  const mp = Math.ceil(m / MR);
  const np = Math.ceil(n / NR);
  const aAt = cacheTop;
  const bAt = aAt + mp * MR * k;
  const cAt = bAt + np * NR * k;
  const ldc = np * NR;
  const view = workspace(e, cAt + mp * MR * ldc);
  if (!view) return false;
  const jobs = gemmJobs(e, aAt, bAt, cAt, m, k, n);
  let lastA = -1;
  let lastB = -1;
  for (const { aOff, bOff, outOff } of items) {
    if (aOff !== lastA) packA(a, aOff, transA, m, k, view, aAt);
    if (bOff !== lastB) packB(b, bOff, transB, k, n, view, bAt);
    lastA = aOff;
    lastB = bOff;
    if (k === 0) {
      out.fill(0, outOff, outOff + m * n);
      continue;
    }
    run(e, jobs);
    if (ldc === n) out.set(view.subarray(cAt, cAt + m * n), outOff);
    else
      for (let i = 0; i < m; i++)
        out.set(view.subarray(cAt + i * ldc, cAt + i * ldc + n), outOff + i * n);
  }
  return true;
}

/**
 * @internal For a kernel that packs its own operands (attention-tiled.ts): `floats` floats of the
 * workspace, after the weight cache; the memory as floats and the region's first float. Valid
 * until the next product through gemmWasm (which uses the same workspace) or a growth.
 */
export function reserveWorkspace(
  e: Engine,
  floats: number,
): { view: Float32Array; base: number } | null {
  const view = workspace(e, cacheTop + floats);
  return view ? { view, base: cacheTop } : null;
}

/**
 * @internal C = A·B on operands packed already (float offsets into the memory): A (m × k) by packA
 * at aAt, B (k × n) by packB at bAt; C at cAt is ⌈m/MR⌉·MR rows of ⌈n/NR⌉·NR floats (its pitch),
 * padding rows and columns included. k > 0.
 */
export function gemmPacked(...product: Parameters<typeof gemmJobs>): void {
  run(product[0], gemmJobs(...product));
}

/**
 * The jobs of one packed product C = A·B (float offsets aAt, bAt, cAt): the larger of the two
 * panel counts is split into chunks, one per thread, each owning whole panels of C.
 */
function gemmJobs(
  e: Engine,
  aAt: number,
  bAt: number,
  cAt: number,
  m: number,
  k: number,
  n: number,
): Job[] {
  const mp = Math.ceil(m / MR);
  const np = Math.ceil(n / NR);
  const byN = np >= mp;
  const chunks = chunksFor(threadsFor(e.module, e.memory, m * n * k), byN ? np : mp);
  const jobs: Job[] = [];
  for (let t = 0; t < chunks; t++) {
    const [lo, hi] = part(byN ? np : mp, chunks, t);
    if (lo === hi) continue;
    const [m0, m1, n0, n1] = byN ? [0, mp, lo, hi] : [lo, hi, 0, np];
    jobs.push({
      fn: 'gemm',
      args: [aAt * 4, bAt * 4, cAt * 4, m0, m1, n0, n1, mp, np, k, KC, MCP],
    });
  }
  return jobs;
}

/** Rows and columns of the GEMM's register tile, and its k-block length. */
export const GEMM_TILE = { MR, NR, KC } as const;

/**
 * Fewer rows than the register tile: each row of op(A) times op(B) as a matrix-vector product, the
 * matrix copied as it is (a [n, k] weight read by rows when transB, a [k, n] matrix by columns),
 * and kept in the memory for the next call when it is one matrix of some size (a weight).
 */
function gemvRows(e: Engine, batch: GemmBatch): boolean {
  const { a, transA, b, transB, out, m, k, n, items } = batch;
  // One matrix of a size worth keeping: from the cache; else copied for this call.
  const len = k * n;
  const cached =
    items.length === 1 && len >= CACHE_MIN_FLOATS && len <= CACHE_LIMIT_FLOATS
      ? cachedMatrix(e, b, items[0]!.bOff, len)
      : null;
  const xAt = cacheTop;
  const yAt = xAt + k + 4;
  const copyAt = yAt + n + 4;
  const view = workspace(e, copyAt + (cached === null ? len : 0));
  if (!view) return false;
  const bAt = cached ?? copyAt;
  const chunks = chunksFor(threadsFor(e.module, e.memory, len), Math.ceil(n / 16));
  const jobs: Job[] = [];
  for (let t = 0; t < chunks; t++) {
    // gemvN takes blocks of 16 columns: cut at multiples of 16.
    const [n0, n1] = part(n, chunks, t, transB ? 1 : 16);
    if (n0 === n1) continue;
    jobs.push(
      transB
        ? { fn: 'gemvT', args: [xAt * 4, bAt * 4, yAt * 4, k, n0, n1] }
        : { fn: 'gemvN', args: [xAt * 4, bAt * 4, yAt * 4, k, n, n0, n1] },
    );
  }
  let lastB = -1;
  for (const { aOff, bOff, outOff } of items) {
    if (cached === null && bOff !== lastB) view.set(b.subarray(bOff, bOff + len), bAt);
    lastB = bOff;
    for (let i = 0; i < m; i++) {
      if (transA) for (let kk = 0; kk < k; kk++) view[xAt + kk] = a[aOff + kk * m + i]!;
      else view.set(a.subarray(aOff + i * k, aOff + (i + 1) * k), xAt);
      run(e, jobs);
      out.set(view.subarray(yAt, yAt + n), outOff + i * n);
    }
  }
  return true;
}
