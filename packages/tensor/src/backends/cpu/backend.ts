import type { Backend, BackendBuffer, KernelInput } from '../../backend.js';
import { type ArrayOf, allocTyped, type DType, type TypedArray } from '../../dtype.js';
import { TensorError } from '../../errors.js';
import { freeResident, residentCopy } from './wasm/attention.js';
import { forgetCachedMatrix } from './wasm/gemm.js';

/**
 * Large buffers are pooled by exact length: a freshly allocated typed array costs a page fault per
 * 4 KiB on first write (for a 256 MB output, ~10× a memcpy), while reusing a released one costs a
 * memset. Small buffers are left to the garbage collector.
 */
const POOL_MIN_BYTES = 1 << 18;
let poolLimitBytes = 512 * 2 ** 20;
let pooledBytes = 0;
const pool = new Map<string, TypedArray[]>();

const keyOf = (dtype: DType, size: number) => `${dtype}:${size}`;

/** Caps the bytes the CPU backend keeps for reuse (default 512 MiB; 0 turns pooling off). */
export function setCpuPoolLimit(bytes: number): void {
  poolLimitBytes = Math.max(0, bytes);
  if (pooledBytes > poolLimitBytes) {
    pool.clear();
    pooledBytes = 0;
  }
}

/** Bytes held in the CPU pool for reuse (not counted as live by memory()). */
export function cpuPoolBytes(): number {
  return pooledBytes;
}

/** The CPU backend: buffers are typed arrays in the JS heap; every op runs synchronously. */
export const cpu: Backend = {
  name: 'cpu',
  upload: (data: TypedArray) => data.slice(),
  read: async (buffer: BackendBuffer) => (buffer as TypedArray).slice(),
  readSync: (buffer: BackendBuffer) => (buffer as TypedArray).slice(),
  pooledBytes: () => pooledBytes,
  // Float32 buffers move into the WebAssembly memory of the one-query attention kernel (a KV cache
  // read at every streaming step), which then reads them in place; they go back to it when released.
  resident: (buffer: BackendBuffer, dtype: DType) =>
    dtype === 'float32' ? residentCopy(buffer as TypedArray) : null,
  release: (buffer: BackendBuffer) => {
    const a = buffer as TypedArray;
    forgetCachedMatrix(a); // its contents may change once it is reused
    if (freeResident(a)) return; // never pooled: its memory goes back to the kernel's arena
    if (a.byteLength < POOL_MIN_BYTES || pooledBytes + a.byteLength > poolLimitBytes) return;
    const key = keyOf(a instanceof Int32Array ? 'int32' : 'float32', a.length);
    const list = pool.get(key);
    if (list) list.push(a);
    else pool.set(key, [a]);
    pooledBytes += a.byteLength;
  },
};

/** The typed array behind a kernel input. */
export function arr(x: KernelInput): TypedArray {
  return x.buffer as TypedArray;
}

/** The Float32Array behind a float32 kernel input; throws for another buffer. */
export function f32(x: KernelInput): Float32Array {
  if (x.buffer instanceof Float32Array) return x.buffer;
  throw new TensorError('cpu', `expected a float32 buffer, got ${x.dtype}`);
}

/** The Int32Array behind an int32 kernel input; throws for another buffer. */
export function i32(x: KernelInput): Int32Array {
  if (x.buffer instanceof Int32Array) return x.buffer;
  throw new TensorError('cpu', `expected an int32 buffer, got ${x.dtype}`);
}

/**
 * A zero-filled buffer for a kernel's output (reused from the pool when a large one is free). A
 * kernel that writes every element passes `zeroed = false`: a reused buffer then keeps its old
 * contents instead of paying a memset as large as the output.
 */
export function alloc<D extends DType>(dtype: D, size: number, zeroed = true): ArrayOf<D> {
  if (size * 4 >= POOL_MIN_BYTES) {
    // The pool is keyed by dtype, so what it holds under this key is an ArrayOf<D>.
    const reused = pool.get(keyOf(dtype, size))?.pop() as ArrayOf<D> | undefined;
    if (reused) {
      pooledBytes -= reused.byteLength;
      if (zeroed) reused.fill(0);
      return reused;
    }
  }
  return allocTyped(dtype, size);
}
