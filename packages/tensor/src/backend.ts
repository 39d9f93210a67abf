import type { DType, TypedArray } from './dtype.js';

/** Opaque handle to memory owned by a backend (a typed array on the CPU, a GPUBuffer on WebGPU). */
export type BackendBuffer = unknown;

/** What a kernel sees of a tensor: its buffer plus layout. Buffers are always dense row-major. */
export interface KernelInput {
  readonly buffer: BackendBuffer;
  readonly shape: readonly number[];
  readonly dtype: DType;
  readonly size: number;
}

/** The shape and dtype an op's shape rule promises for each output. */
export interface OutputSpec {
  readonly shape: readonly number[];
  readonly dtype: DType;
}

/**
 * A backend owns memory and runs kernels. Kernels are registered separately (see kernels.ts) so a new
 * backend adds kernels without touching op or gradient code.
 */
export interface Backend {
  readonly name: string;
  /** Copies host data into a new buffer owned by the backend. */
  upload(data: TypedArray): BackendBuffer;
  /** Reads a buffer back to the host. Always a fresh copy the caller may mutate. */
  read(buffer: BackendBuffer, dtype: DType, size: number): Promise<TypedArray>;
  /** Synchronous read, for backends that can (the CPU); others leave it out. */
  readSync?(buffer: BackendBuffer, dtype: DType, size: number): TypedArray;
  /** Frees a buffer; called once when the last tensor using it is disposed or collected. */
  release(buffer: BackendBuffer): void;
  /** Resolves when all queued work is done (a no-op for synchronous backends). */
  sync?(): Promise<void>;
  /**
   * A copy of `buffer` in memory that the backend's fused kernels read in place (the CPU: its
   * WebAssembly memory), for a buffer an op reads whole many times over (a KV cache, at each
   * streaming step); null where there is no such memory or the buffer is there already. The tensor's
   * storage then moves to the copy (Storage.moveTo), and the old buffer is released.
   */
  resident?(buffer: BackendBuffer, dtype: DType, size: number): BackendBuffer | null;
  /** Bytes of released buffers kept for reuse (reported by memory() as pooledBytes). */
  pooledBytes?(): number;
}

/**
 * What a kernel sees of its op's inputs: a {@link KernelInput} per input, a tuple of the same length
 * when the op's inputs are a tuple (`[Tensor, Tensor]` → `[KernelInput, KernelInput]`).
 */
export type KernelInputs<In extends readonly unknown[]> = { readonly [K in keyof In]: KernelInput };

/**
 * A kernel writes the outputs its op promised and returns their buffers, in order. `In` is the op's
 * input tuple and `Out` its output specs (see `OpDef`), so `(backend, [x, w], attrs, [spec]) =>`
 * is typed; the defaults leave the arity open.
 */
export type Kernel<
  A = unknown,
  In extends readonly unknown[] = readonly unknown[],
  Out extends readonly OutputSpec[] = readonly OutputSpec[],
> = (backend: Backend, inputs: KernelInputs<In>, attrs: A, outputs: Out) => BackendBuffer[];
