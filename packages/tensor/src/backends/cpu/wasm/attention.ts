import type { TypedArray } from '../../../dtype.js';
import { attentionWasmBase64 } from './attention-wasm.generated.js';
import { gemmEngine } from './gemm.js';

/**
 * The one-query attention kernel in WebAssembly SIMD (module text: scripts/attention-wat.ts) and the
 * memory it reads in place.
 *
 * WebAssembly reads only its own memory, and a streaming step's attention is all reading: the key
 * and value rows of every cached token, once each, for one row of output. Copying them in for each
 * step would cost as much as the step. So buffers read this way live in the module's memory
 * ("resident"): a shared WebAssembly.Memory, whose Float32Array views stay valid when it grows (a
 * private memory's would be detached). A KV cache moves there once (see residentCopy), is written
 * in place there token by token, and each step reads it where it lies. Where shared memory is
 * missing (a page that is not cross-origin isolated), nothing is resident and the JavaScript row
 * kernel runs.
 *
 * The memory is managed here: resident buffers and a scratch area for the kernel's query, scores
 * and output, allocated first fit from a free list, returned when the CPU backend releases a
 * buffer (freeResident). It never shrinks.
 */

interface DecodeExports {
  decode(...args: number[]): void;
  softmaxRows(...args: number[]): void;
  gradRows(...args: number[]): void;
  packA4(...args: number[]): void;
  packAT4(...args: number[]): void;
}

interface Arena {
  readonly memory: WebAssembly.Memory;
  readonly exports: DecodeExports;
}

const PAGE = 65536;
const ALIGN = 16;
/** Largest arena, as for the GEMM workspace (engines on 32-bit hosts reserve less). */
const MAX_ARENA_BYTES = 2 ** 31;

let arena: Arena | null | undefined;
/** Free byte ranges [start, end) below `top`, sorted by start and never adjacent. */
const free: [number, number][] = [];
let top = 0;
/** Resident buffers: their byte offset and length (a multiple of ALIGN) in the memory. */
const resident = new WeakMap<ArrayBufferView, { at: number; bytes: number }>();

function decodeBase64(base64: string): Uint8Array<ArrayBuffer> {
  const text = atob(base64);
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  return bytes;
}

function createArena(): Arena | null {
  try {
    if (typeof SharedArrayBuffer !== 'function' || typeof WebAssembly !== 'object') return null;
    const bytes = decodeBase64(attentionWasmBase64.simdShared);
    if (!WebAssembly.validate(bytes)) return null;
    let memory: WebAssembly.Memory | null = null;
    for (const maximum of [MAX_ARENA_BYTES / PAGE, 16384, 4096]) {
      try {
        memory = new WebAssembly.Memory({ initial: 1, maximum, shared: true });
        break;
      } catch {
        // try a smaller reservation
      }
    }
    if (!memory) return null;
    const module = new WebAssembly.Module(bytes);
    const exports = new WebAssembly.Instance(module, { env: { memory } })
      .exports as unknown as DecodeExports;
    top = 16; // offset 0 is never handed out
    return { memory, exports };
  } catch {
    return null; // no shared memory, no SIMD, or a policy that forbids compiling WebAssembly
  }
}

/**
 * The arena, or null where it cannot run: no shared WebAssembly memory or SIMD here, or the CPU
 * kernels set to 'js' (setCpuKernels) or without WebAssembly.
 */
function arenaNow(): Arena | null {
  if (gemmEngine() === null) return null;
  if (arena === undefined) arena = createArena();
  return arena;
}

/** `bytes` (a multiple of ALIGN) of the memory, first fit; null when the memory cannot grow. */
function allocBytes(a: Arena, bytes: number): number | null {
  for (let i = 0; i < free.length; i++) {
    const range = free[i]!;
    if (range[1] - range[0] < bytes) continue;
    const at = range[0];
    if (range[1] - range[0] === bytes) free.splice(i, 1);
    else range[0] += bytes;
    return at;
  }
  const have = a.memory.buffer.byteLength;
  if (top + bytes > have) {
    try {
      a.memory.grow(Math.ceil((top + bytes - have) / PAGE));
    } catch {
      return null;
    }
  }
  const at = top;
  top += bytes;
  return at;
}

function freeBytes(at: number, bytes: number): void {
  let i = 0;
  while (i < free.length && free[i]![0] < at) i++;
  free.splice(i, 0, [at, at + bytes]);
  // Merge with the neighbours, then give the last range back to the top.
  const next = free[i + 1];
  const cur = free[i]!;
  if (next && next[0] === cur[1]) {
    cur[1] = next[1];
    free.splice(i + 1, 1);
  }
  const prev = free[i - 1];
  if (prev && prev[1] === cur[0]) {
    prev[1] = cur[1];
    free.splice(i, 1);
  }
  const last = free[free.length - 1];
  if (last && last[1] === top) {
    top = last[0];
    free.pop();
  }
}

/** Whether `buffer` lives in the kernel's memory (read in place by decodeAttention). */
export function isResident(buffer: TypedArray): boolean {
  return resident.has(buffer);
}

/**
 * A copy of the float32 buffer `src` in the kernel's memory, or null where there is none (see
 * arenaNow), it cannot grow, or `src` is resident already. The copy is a plain Float32Array (over a
 * SharedArrayBuffer) and may be used as any other buffer; freeResident gives its memory back.
 */
export function residentCopy(src: TypedArray): Float32Array | null {
  if (!(src instanceof Float32Array) || resident.has(src)) return null;
  const a = arenaNow();
  if (!a) return null;
  const bytes = Math.max(ALIGN, Math.ceil(src.byteLength / ALIGN) * ALIGN);
  const at = allocBytes(a, bytes);
  if (at === null) return null;
  const view = new Float32Array(a.memory.buffer, at, src.length);
  view.set(src);
  resident.set(view, { at, bytes });
  return view;
}

/** Gives a resident buffer's memory back; false (nothing done) for any other buffer. */
export function freeResident(buffer: ArrayBufferView): boolean {
  const entry = resident.get(buffer);
  if (!entry) return false;
  resident.delete(buffer);
  freeBytes(entry.at, entry.bytes);
  return true;
}

/** The kernel's scratch: query, output, float64 accumulator, stats, scores. */
let scratch: { at: number; bytes: number } | null = null;

function scratchFor(a: Arena, bytes: number): number | null {
  if (scratch && scratch.bytes >= bytes) return scratch.at;
  // Twice the old size at least, so that a growing cache reallocates it O(log n) times.
  const size = Math.ceil(Math.max(bytes, 2 * (scratch?.bytes ?? 0)) / ALIGN) * ALIGN;
  if (scratch) freeBytes(scratch.at, scratch.bytes);
  scratch = null;
  const at = allocBytes(a, size);
  if (at === null) return null;
  scratch = { at, bytes: size };
  return at;
}

/** Shapes and masking of one decodeAttention call. */
export interface DecodeDims {
  /** Heads (the product of the leading axes). */
  batch: number;
  /** Rows of k and v per head (a cache's capacity). */
  tk: number;
  d: number;
  dv: number;
  /** Keys 0..end−1 are visible to the one query of every head. */
  end: number;
  scale: number;
}

/**
 * One query per head (q [batch, 1, d]) against resident k [batch, tk, d] and v [batch, tk, dv]:
 * out [batch, 1, dv] and lse [batch, 1], as the attention kernel defines them. Returns false
 * (nothing written) when the kernel does not apply: k or v not resident, d or dv not a multiple of
 * 4, or the scratch cannot be had; the caller then runs the JavaScript kernel.
 */
export function decodeAttention(
  Q: TypedArray,
  K: TypedArray,
  V: TypedArray,
  out: TypedArray,
  lse: TypedArray,
  { batch, tk, d, dv, end, scale }: DecodeDims,
): boolean {
  if (!resident.has(K) || !resident.has(V) || d % 4 !== 0 || dv % 4 !== 0 || d === 0 || dv === 0)
    return false;
  const a = arenaNow();
  if (!a) return false;
  if (end === 0) {
    out.fill(0, 0, batch * dv);
    lse.fill(Number.NEGATIVE_INFINITY, 0, batch);
    return true;
  }
  // Scratch layout (bytes): q [d], out [dv], acc [dv] f64, stat (16), scores [⌈end/4⌉·4].
  const qAt = 0;
  const oAt = qAt + d * 4;
  const accAt = oAt + dv * 4;
  const statAt = accAt + dv * 8;
  const sAt = statAt + 16;
  const base = scratchFor(a, sAt + Math.ceil(end / 4) * 16);
  if (base === null) return false;
  const f32 = new Float32Array(a.memory.buffer);
  const f64 = new Float64Array(a.memory.buffer);
  const k0 = K.byteOffset;
  const v0 = V.byteOffset;
  for (let b = 0; b < batch; b++) {
    f32.set(Q.subarray(b * d, (b + 1) * d), (base + qAt) / 4);
    a.exports.decode(
      base + qAt,
      k0 + b * tk * d * 4,
      v0 + b * tk * dv * 4,
      base + oAt,
      base + sAt,
      base + accAt,
      end,
      d,
      dv,
      scale,
      base + statAt,
    );
    out.set(f32.subarray((base + oAt) / 4, (base + oAt) / 4 + dv), b * dv);
    const m = f32[(base + statAt) / 4]!;
    const sum = f64[(base + statAt + 8) / 8]!;
    lse[b] = (m === Number.NEGATIVE_INFINITY ? 0 : m) + Math.log(sum);
  }
  return true;
}

/** Typed arrays the tile kernels take: views of the kernels' memory (see TileKernels.alloc). */
type View = Float32Array | Float64Array | Int32Array;

/**
 * The row-wise work of the tiled attention kernels (attention-tiled.ts) in WebAssembly SIMD: the
 * exponentials, maxima and sums over each tile of scores, on buffers in the kernels' memory.
 */
export interface TileKernels {
  /** A zeroed buffer of `n` elements in the kernels' memory; null when it cannot grow. */
  alloc<T extends View>(
    kind: { new (b: ArrayBufferLike, at: number, n: number): T; BYTES_PER_ELEMENT: number },
    n: number,
  ): T | null;
  /** Gives buffers from alloc back. */
  free(...buffers: View[]): void;
  /** See softmaxRows in scripts/attention-wat.ts. */
  softmaxRows(
    s: Float32Array,
    rows: number,
    cols: number,
    ends: Int32Array,
    mNew: Float64Array,
    sums: Float64Array,
    scale: number,
  ): void;
  /** See gradRows in scripts/attention-wat.ts. */
  gradRows(
    p: Float32Array,
    ds: Float32Array,
    rows: number,
    cols: number,
    ends: Int32Array,
    lse: Float32Array,
    delta: Float32Array,
    scale: number,
  ): void;
}

let tiles: TileKernels | null = null;

/** The tile kernels, or null where the kernels' memory cannot be had (see arenaNow). */
export function tileKernels(): TileKernels | null {
  const a = arenaNow();
  if (!a) return null;
  tiles ??= {
    alloc(kind, n) {
      const bytes = Math.max(ALIGN, Math.ceil((n * kind.BYTES_PER_ELEMENT) / ALIGN) * ALIGN);
      const at = allocBytes(a, bytes);
      if (at === null) return null;
      const view = new kind(a.memory.buffer, at, n);
      view.fill(0);
      resident.set(view, { at, bytes });
      return view;
    },
    free(...buffers) {
      for (const b of buffers) freeResident(b);
    },
    softmaxRows(s, rows, cols, ends, mNew, sums, scale) {
      a.exports.softmaxRows(
        s.byteOffset,
        rows,
        cols,
        cols,
        ends.byteOffset,
        mNew.byteOffset,
        sums.byteOffset,
        scale,
      );
    },
    gradRows(p, ds, rows, cols, ends, lse, delta, scale) {
      a.exports.gradRows(
        p.byteOffset,
        ds.byteOffset,
        rows,
        cols,
        cols,
        ends.byteOffset,
        lse.byteOffset,
        delta.byteOffset,
        scale,
      );
    },
  };
  return tiles;
}

/**
 * The module's functions on the memory of another module (the GEMM's workspace), byte offsets into
 * it: the tiled kernels run their row work and pack probability tiles where the GEMM reads them.
 * softmaxRows(s, rows, cols, ld, ends, mNew, sums, scale), gradRows(p, ds, rows, cols, ld, ends,
 * lse, delta, scale), packA4(src, ld, rows, cols, dst), packAT4(src, ld, rows, cols, dst): see
 * scripts/attention-wat.ts.
 */
export type AttentionExports = DecodeExports;

const instances = new WeakMap<WebAssembly.Memory, AttentionExports | null>();
const modules = new Map<'simd' | 'simdShared', WebAssembly.Module | null>();

/** The module instantiated over `memory`; null where it cannot be (no SIMD, a policy). */
export function attentionOn(memory: WebAssembly.Memory): AttentionExports | null {
  if (instances.has(memory)) return instances.get(memory) ?? null;
  let out: AttentionExports | null = null;
  try {
    const shared =
      typeof SharedArrayBuffer === 'function' && memory.buffer instanceof SharedArrayBuffer;
    const kind = shared ? 'simdShared' : 'simd';
    if (!modules.has(kind)) {
      const bytes = decodeBase64(attentionWasmBase64[kind]);
      modules.set(kind, WebAssembly.validate(bytes) ? new WebAssembly.Module(bytes) : null);
    }
    const module = modules.get(kind);
    if (module)
      out = new WebAssembly.Instance(module, { env: { memory } })
        .exports as unknown as AttentionExports;
  } catch {
    out = null;
  }
  instances.set(memory, out);
  return out;
}
