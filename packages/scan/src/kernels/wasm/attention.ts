import { attentionWasmBase64 } from './attention-wasm.generated.js';

/**
 * The attention-scan forward kernel in WebAssembly SIMD (attention.wat), used by the CPU kernel
 * 'scan.attention' where the engine has WebAssembly SIMD. Its outputs are bit-identical to the
 * JavaScript loop it replaces (attentionForwardJs in ../cpu.ts): same float64 arithmetic in the
 * same order, and an exp that is Math.exp's algorithm (fdlibm), so falling back changes nothing.
 *
 * The module has its own linear memory, separate from the tensors' Float32Arrays, so each row is
 * processed in blocks of positions small enough to stay in L2 (BLOCK_BYTES of block and scratch):
 * copy the block's scores, u and values in, run, copy M, U and W out (the kernel overwrites the
 * block in place). The running state (m, u, w) stays in the module's memory between blocks. The memory is
 * grown once to the largest layout needed so far.
 */

/** What attention.wat exports. Offsets are byte offsets into `memory`. */
export interface AttentionWasm {
  readonly memory: WebAssembly.Memory;
  /** e^x in place on `n` float64 at `p` (`n` rounded up to even), for x <= 0, −inf or NaN. */
  exps(p: number, n: number): void;
  /**
   * One score per position: `n` positions of `d` values; state [M, U, w_0..w_{d−1}] (float64) at
   * `state`; scores `m` and `u` (float32 [n]) and values `v` (float32 [n, d]) overwritten by the
   * outputs; `scratch`: 12·n + 8 bytes.
   */
  forwardHead: ForwardFn;
  /** One score per channel: the same with state [M_0.., U_0.., w_0..] (float64, d each), `m` and
   * `u` float32 [n, d], `scratch` 12·n·d + 8 bytes. */
  forwardChannel: ForwardFn;
}

/** A forward export: n positions of d values, the state, scores and values at byte offsets. */
type ForwardFn = (
  n: number,
  d: number,
  state: number,
  m: number,
  u: number,
  v: number,
  scratch: number,
  divide: number,
) => void;

/** Bytes per block (values, scores, u, exponents, flags): small enough to stay in L2 (tuned here). */
const BLOCK_BYTES = 256 * 1024;

/** The module's bytes, decoded from the generated base64 (atob: Node >= 16 and browsers). */
export function attentionWasmBytes(): Uint8Array<ArrayBuffer> {
  const text = atob(attentionWasmBase64);
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  return bytes;
}

let instance: AttentionWasm | null | undefined;
let enabled = true;

/**
 * A new instance of the module, or null where WebAssembly or its SIMD is missing (feature
 * detection: WebAssembly.validate on the module itself, which uses exactly the SIMD instructions
 * the kernel needs). Compiled synchronously: the module is under 4 KiB, which browsers allow on the
 * main thread.
 */
export function instantiateAttentionWasm(): AttentionWasm | null {
  try {
    if (typeof WebAssembly !== 'object' || typeof WebAssembly.validate !== 'function') return null;
    const bytes = attentionWasmBytes();
    if (!WebAssembly.validate(bytes)) return null;
    const exports = new WebAssembly.Instance(new WebAssembly.Module(bytes)).exports;
    return exports as unknown as AttentionWasm;
  } catch {
    return null; // e.g. a content security policy that forbids compiling WebAssembly
  }
}

/** The module's instance (made once), or null where WebAssembly SIMD is not available. */
export function attentionWasm(): AttentionWasm | null {
  if (instance === undefined) instance = instantiateAttentionWasm();
  return instance;
}

/**
 * Turns the WebAssembly path on or off (on by default; for benchmarks and tests). Returns the
 * previous setting.
 */
export function setAttentionWasm(on: boolean): boolean {
  const previous = enabled;
  enabled = on;
  return previous;
}

/** Whether the CPU kernel uses WebAssembly now: enabled and available. */
export function attentionWasmActive(): boolean {
  return enabled && attentionWasm() !== null;
}

/** The arguments of the forward pass, shared with the JavaScript kernel (../cpu.ts). */
export interface AttentionForwardArgs {
  readonly outer: number;
  /** Positions per row. */
  readonly T: number;
  /** Value width. */
  readonly d: number;
  /** Score channels: 1 or d. */
  readonly c: number;
  /** Scores [outer, T, c], u [outer, T, c], values [outer, T, d]. */
  readonly m: Float32Array;
  readonly u: Float32Array;
  readonly w: Float32Array;
  /** The carry in ([outer, c], [outer, c], [outer, d]) or null for a fresh start. */
  readonly m0: Float32Array | null;
  readonly u0: Float32Array | null;
  readonly w0: Float32Array | null;
  /** Outputs, written: M, U [outer, T, c], W [outer, T, d]. */
  readonly M: Float32Array;
  readonly U: Float32Array;
  readonly W: Float32Array;
  /**
   * attentionScan's fused output: W receives the numerator divided by U (0 where M is −inf) instead
   * of the numerator itself.
   */
  readonly divide: boolean;
  /** Where given, written with the numerator after each row's last position ([outer, d]). */
  readonly Wlast: Float32Array | null;
}

const align16 = (bytes: number) => (bytes + 15) & ~15;
const PAGE = 65536;

/** Views of the memory, remade when growing replaces its buffer. */
let viewsOf: ArrayBuffer | null = null;
let f32 = new Float32Array(0);
let f64 = new Float64Array(0);

/**
 * The forward pass through `wasm`. Returns false (having written nothing) when the memory cannot
 * grow to the layout needed, so the caller falls back to JavaScript.
 */
export function attentionForwardWasm(wasm: AttentionWasm, a: AttentionForwardArgs): boolean {
  const { outer, T, d, c, m, u, w, m0, u0, w0, M, U, W, divide, Wlast } = a;
  if (outer === 0) return true;
  if (T === 0) return false; // nothing to scan: the JavaScript loop writes Wlast (the carry in)
  const head = c === 1;
  // Positions per block: about BLOCK_BYTES of block and scratch (at least one position).
  const B = Math.max(1, Math.min(T, Math.floor(BLOCK_BYTES / (4 * d + 20 * c))));
  const stateBytes = align16(head ? 16 + 8 * d : 24 * d);
  const mOff = stateBytes;
  const uOff = mOff + align16(4 * B * c);
  const vOff = uOff + align16(4 * B * c);
  // An exponent (float64, an even count) and a flag (int32) per score.
  const scratch = vOff + align16(4 * B * d);
  const bytes = scratch + 12 * B * c + 8;
  const memory = wasm.memory;
  if (bytes > memory.buffer.byteLength) {
    try {
      memory.grow(Math.ceil((bytes - memory.buffer.byteLength) / PAGE));
    } catch {
      return false;
    }
  }
  if (viewsOf !== memory.buffer) {
    viewsOf = memory.buffer;
    f32 = new Float32Array(viewsOf);
    f64 = new Float64Array(viewsOf);
  }
  const mAt = mOff >> 2;
  const uAt = uOff >> 2;
  const vAt = vOff >> 2;
  for (let o = 0; o < outer; o++) {
    // The carry in, as float64: [M, U, w] (c = 1) or [M_0.., U_0.., w_0..] (c = d).
    if (head) {
      f64[0] = m0 ? m0[o]! : Number.NEGATIVE_INFINITY;
      f64[1] = u0 ? u0[o]! : 0;
      if (w0) for (let k = 0; k < d; k++) f64[2 + k] = w0[o * d + k]!;
      else f64.fill(0, 2, 2 + d);
    } else {
      for (let j = 0; j < d; j++) {
        f64[j] = m0 ? m0[o * d + j]! : Number.NEGATIVE_INFINITY;
        f64[d + j] = u0 ? u0[o * d + j]! : 0;
        f64[2 * d + j] = w0 ? w0[o * d + j]! : 0;
      }
    }
    for (let t = 0; t < T; t += B) {
      const n = Math.min(B, T - t);
      const p = (o * T + t) * c; // index of (o, t, 0) in m, u, M, U
      const q = (o * T + t) * d; // index of (o, t, 0) in w, W
      f32.set(m.subarray(p, p + n * c), mAt);
      f32.set(u.subarray(p, p + n * c), uAt);
      f32.set(w.subarray(q, q + n * d), vAt);
      const div = divide ? 1 : 0;
      if (head) wasm.forwardHead(n, d, 0, mOff, uOff, vOff, scratch, div);
      else wasm.forwardChannel(n, d, 0, mOff, uOff, vOff, scratch, div);
      M.set(f32.subarray(mAt, mAt + n * c), p);
      U.set(f32.subarray(uAt, uAt + n * c), p);
      W.set(f32.subarray(vAt, vAt + n * d), q);
    }
    if (Wlast) {
      const run = head ? 2 : 2 * d; // the numerator's float64 offset in the state
      for (let k = 0; k < d; k++) Wlast[o * d + k] = f64[run + k]!;
    }
  }
  return true;
}
