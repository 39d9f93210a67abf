/// <reference types="@webgpu/types" preserve="true" />
import type { Backend, BackendBuffer, KernelInput } from '../../backend.js';
import type { DType, TypedArray } from '../../dtype.js';
import { TensorError } from '../../errors.js';
import { type AcquiredDevice, acquireDevice, type WebGPUOptions } from './device.js';

// GPUBufferUsage / GPUMapMode as numbers: Node has no such globals.
const MAP_READ = 0x1;
const COPY_SRC = 0x4;
const COPY_DST = 0x8;
const UNIFORM = 0x40;
const STORAGE = 0x80;

/** A tensor's memory on the GPU: a pooled buffer of `capacity` bytes holding `bytes` of data. */
export interface GPUTensorBuffer {
  readonly kind: 'webgpu';
  readonly buffer: GPUBuffer;
  /** Bytes of data (size × 4). */
  readonly bytes: number;
  /** The buffer's size (a pool bucket, at least `bytes` and at least 16). */
  readonly capacity: number;
}

/** Rounds a size up to its pool bucket: powers of two split in quarters (at most 25% waste). */
export function bucketOf(bytes: number): number {
  const n = Math.max(16, bytes);
  const p = 2 ** Math.floor(Math.log2(n));
  if (p === n || p < 64) return p === n ? n : p * 2;
  const step = p / 4;
  return Math.ceil(n / step) * step;
}

/** Workgroups for `n` invocations of `size` threads, spread over x and y (65535 per axis). */
export function grid(n: number, size: number): [number, number, number] {
  const groups = Math.max(1, Math.ceil(n / size));
  const x = Math.min(groups, 65535);
  return [x, Math.ceil(groups / x), 1];
}

/** Index-check failures a kernel records on the GPU and the next read reports. */
export const INDEX_OPS = ['gather', 'scatterAdd', 'indexSelect', 'indexAdd'] as const;

/** Bytes of the uniform slot each dispatch gets at most; params beyond this are an internal error. */
const SLOT = 1024;
/** Dispatches per submit: pending work is also flushed by reads, sync() and at the end of a task. */
const MAX_PENDING = 256;

/**
 * The WebGPU backend. Buffers come from a pool bucketed by size; kernels encode dispatches into one
 * command encoder (one compute pass), submitted after MAX_PENDING dispatches, on read, on sync() or
 * in a microtask once the current synchronous code is done. Each dispatch's parameters go into a
 * slot of one uniform buffer per batch, written just before the submit.
 *
 * Buffers released while commands that use them are still being encoded go back to the pool only
 * at the next submit: an upload (queue.writeBuffer, which runs before unsubmitted commands) can then
 * never overwrite data those commands still read.
 */
export class WebGPUBackend implements Backend {
  readonly name = 'webgpu';
  readonly device: GPUDevice;
  /** Where the device came from (e.g. "webgpu (Dawn) backend=opengles"). */
  readonly source: string;
  /** The adapter's description, for messages. */
  readonly adapterName: string;
  /**
   * Most loop iterations one shader invocation may run: unlimited, except on Mesa's llvmpipe, which
   * silently stops an invocation after 65535 (kernels that loop along an axis check it).
   */
  readonly maxLoopIterations: number;
  /** Largest workgroup size the kernels use (256, or less where the device caps it). */
  readonly workgroupSize: number;
  private readonly queue: GPUQueue;
  private readonly owned: boolean;
  private readonly pool = new Map<number, GPUBuffer[]>();
  private readonly deferred: GPUTensorBuffer[] = [];
  private pooled = 0;
  private allocated = 0;
  private readonly poolLimit: number;
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private pending = 0;
  private flushQueued = false;
  private readonly uniformBuffer: GPUBuffer;
  private readonly uniformData: ArrayBuffer;
  private readonly uniformU32: Uint32Array;
  private uniformOffset = 0;
  private readonly uniformAlign: number;
  private readonly pipelines = new Map<string, GPUComputePipeline>();
  /** [failures, op code, value, size, axis] written by index checks; see checkIndices(). */
  readonly errorBuffer: GPUBuffer;
  private indexChecks = 0;
  private failure: Error | null = null;
  private lost = false;
  /** See AcquiredDevice.keepAlive. */
  private readonly keepAlive: readonly unknown[];

  constructor(acquired: AcquiredDevice, opts: WebGPUOptions = {}) {
    this.device = acquired.device;
    this.source = acquired.source;
    this.owned = acquired.owned;
    this.keepAlive = acquired.keepAlive ?? [];
    const info =
      acquired.info ?? (this.device as GPUDevice & { adapterInfo?: GPUAdapterInfo }).adapterInfo;
    this.adapterName =
      [info?.vendor, info?.device, info?.description].filter((x) => x).join(' ') || 'unknown';
    this.maxLoopIterations = /llvmpipe/i.test(this.adapterName) ? 65000 : Number.POSITIVE_INFINITY;
    this.queue = this.device.queue;
    this.poolLimit = opts.poolLimitBytes ?? 256 * 1024 * 1024;
    const lim = this.device.limits;
    this.workgroupSize = Math.min(
      256,
      lim.maxComputeInvocationsPerWorkgroup,
      lim.maxComputeWorkgroupSizeX,
    );
    this.uniformAlign = Math.max(lim.minUniformBufferOffsetAlignment, 16);
    const uniformBytes = MAX_PENDING * Math.max(this.uniformAlign, 256) + SLOT;
    this.uniformBuffer = this.device.createBuffer({
      size: uniformBytes,
      usage: UNIFORM | COPY_DST,
      label: 'recur params',
    });
    this.uniformData = new ArrayBuffer(uniformBytes);
    this.uniformU32 = new Uint32Array(this.uniformData);
    this.errorBuffer = this.device.createBuffer({
      size: 32,
      usage: STORAGE | COPY_SRC | COPY_DST,
      label: 'recur index errors',
    });
    this.device.addEventListener('uncapturederror', (ev) => {
      const e = ev.error;
      this.failure ??= new TensorError('webgpu', `GPU error: ${e.message}`);
    });
    void this.device.lost.then((info) => {
      this.lost = true;
      this.failure ??= new TensorError(
        'webgpu',
        `the GPU device was lost (${info.reason}): ${info.message}`,
      );
    });
  }

  /**
   * Requests a GPU device (or takes `opts.device`) and builds a backend on it, without registering
   * it: `setBackend('webgpu')` does that with the options of {@link configureWebGPU}. Rejects,
   * naming every way it tried, when no adapter is found or a request times out.
   */
  static async create(opts: WebGPUOptions = {}): Promise<WebGPUBackend> {
    return new WebGPUBackend(await acquireDevice(opts), opts);
  }

  // ---- memory ----------------------------------------------------------------------------------

  /** A buffer for `bytes` of data, from the pool when one of its bucket is free. */
  alloc(bytes: number): GPUTensorBuffer {
    this.check();
    const capacity = bucketOf(bytes);
    const free = this.pool.get(capacity);
    let buffer = free?.pop();
    if (buffer) this.pooled -= capacity;
    else {
      buffer = this.device.createBuffer({ size: capacity, usage: STORAGE | COPY_SRC | COPY_DST });
      this.allocated += capacity;
    }
    return { kind: 'webgpu', buffer, bytes, capacity };
  }

  private toPool(b: GPUTensorBuffer): void {
    if (this.pooled + b.capacity > this.poolLimit) {
      b.buffer.destroy();
      this.allocated -= b.capacity;
      return;
    }
    let list = this.pool.get(b.capacity);
    if (!list) {
      list = [];
      this.pool.set(b.capacity, list);
    }
    list.push(b.buffer);
    this.pooled += b.capacity;
  }

  upload(data: TypedArray): BackendBuffer {
    const b = this.alloc(data.byteLength);
    if (data.byteLength > 0) {
      this.queue.writeBuffer(b.buffer, 0, data.buffer, data.byteOffset, data.byteLength);
    }
    return b;
  }

  release(buffer: BackendBuffer): void {
    const b = buffer as GPUTensorBuffer;
    if (this.lost) return;
    if (this.pending > 0) this.deferred.push(b);
    else this.toPool(b);
  }

  /** Bytes in free pooled buffers, and in all buffers the backend created and has not destroyed. */
  memoryStats(): { pooledBytes: number; allocatedBytes: number } {
    return {
      pooledBytes: this.pooled + this.deferred.reduce((s, b) => s + b.capacity, 0),
      allocatedBytes: this.allocated,
    };
  }

  pooledBytes(): number {
    return this.memoryStats().pooledBytes;
  }

  /** Destroys every free pooled buffer (live tensors keep theirs). */
  emptyPool(): void {
    for (const list of this.pool.values()) {
      for (const b of list) b.destroy();
    }
    this.allocated -= this.pooled;
    this.pooled = 0;
    this.pool.clear();
  }

  // ---- command batching ------------------------------------------------------------------------

  private check(): void {
    if (this.lost && this.failure) throw this.failure;
  }

  private beginPass(): GPUComputePassEncoder {
    if (!this.encoder) this.encoder = this.device.createCommandEncoder();
    if (!this.pass) this.pass = this.encoder.beginComputePass();
    return this.pass;
  }

  /** The encoder with no compute pass open, for copies and clears. */
  private plainEncoder(): GPUCommandEncoder {
    if (this.pass) {
      this.pass.end();
      this.pass = null;
    }
    if (!this.encoder) this.encoder = this.device.createCommandEncoder();
    return this.encoder;
  }

  private scheduleFlush(): void {
    if (this.flushQueued) return;
    this.flushQueued = true;
    queueMicrotask(() => {
      this.flushQueued = false;
      this.flush();
    });
  }

  /** Submits everything encoded so far. */
  flush(): void {
    if (!this.encoder) return;
    if (this.pass) {
      this.pass.end();
      this.pass = null;
    }
    if (this.uniformOffset > 0) {
      this.queue.writeBuffer(this.uniformBuffer, 0, this.uniformData, 0, this.uniformOffset);
    }
    this.queue.submit([this.encoder.finish()]);
    this.encoder = null;
    this.pending = 0;
    this.uniformOffset = 0;
    for (const b of this.deferred) this.toPool(b);
    this.deferred.length = 0;
  }

  /** Zeros a buffer (in command order). */
  clear(b: GPUTensorBuffer): void {
    if (b.bytes === 0) return;
    this.plainEncoder().clearBuffer(b.buffer, 0, Math.ceil(b.bytes / 4) * 4);
    this.pending++;
    this.scheduleFlush();
  }

  /** The cached pipeline for `key`, compiled from `source()` on first use. */
  pipeline(key: string, source: () => string): GPUComputePipeline {
    let p = this.pipelines.get(key);
    if (!p) {
      const code = source();
      const module = this.device.createShaderModule({ code, label: key });
      p = this.device.createComputePipeline({
        layout: 'auto',
        compute: { module, entryPoint: 'main' },
        label: key,
      });
      this.pipelines.set(key, p);
    }
    return p;
  }

  /**
   * Encodes one dispatch. `params` (u32 words; use f32bits / i32 values as needed) become the
   * uniform at binding 0 when non-empty; `buffers` are bound at 1, 2, … in order.
   */
  dispatch(
    pipeline: GPUComputePipeline,
    params: readonly number[],
    buffers: readonly GPUBuffer[],
    workgroups: readonly [number, number, number],
  ): void {
    this.check();
    const entries: GPUBindGroupEntry[] = [];
    if (params.length > 0) {
      const bytes = Math.ceil(params.length / 4) * 16;
      if (bytes > SLOT) throw new TensorError('webgpu', `internal: ${bytes} bytes of parameters`);
      if (this.uniformOffset + bytes > this.uniformData.byteLength) this.flush();
      const at = this.uniformOffset;
      const words = this.uniformU32;
      const base = at / 4;
      for (let i = 0; i < params.length; i++) words[base + i] = params[i]! >>> 0;
      this.uniformOffset = Math.ceil((at + bytes) / this.uniformAlign) * this.uniformAlign;
      entries.push({
        binding: 0,
        resource: { buffer: this.uniformBuffer, offset: at, size: bytes },
      });
    }
    buffers.forEach((buffer, i) => {
      entries.push({ binding: i + 1, resource: { buffer } });
    });
    const bindGroup = this.device.createBindGroup({
      layout: pipeline.getBindGroupLayout(0),
      entries,
    });
    const pass = this.beginPass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(workgroups[0], workgroups[1], workgroups[2]);
    this.pending++;
    if (this.pending >= MAX_PENDING) this.flush();
    else this.scheduleFlush();
  }

  /** Marks that an index check ran: the next read also reads back the error buffer. */
  noteIndexCheck(): void {
    this.indexChecks++;
  }

  /** Encodes a buffer-to-buffer copy (in command order). */
  copy(src: GPUBuffer, srcOffset: number, dst: GPUBuffer, dstOffset: number, bytes: number): void {
    if (bytes === 0) return;
    this.plainEncoder().copyBufferToBuffer(src, srcOffset, dst, dstOffset, bytes);
    this.pending++;
    this.scheduleFlush();
  }

  // ---- reads -----------------------------------------------------------------------------------

  /**
   * Snapshots the buffer now (the copy is encoded before this returns, so the tensor may be
   * disposed at once) and resolves with the data once the GPU is done. Rejects with the first GPU
   * error or index-check failure since the last read.
   */
  async read(buffer: BackendBuffer, dtype: DType, size: number): Promise<TypedArray> {
    this.check();
    const b = buffer as GPUTensorBuffer;
    const bytes = size * 4;
    const withErrors = this.indexChecks > 0;
    const errAt = Math.ceil(bytes / 16) * 16;
    const staging = this.device.createBuffer({
      size: Math.max(16, errAt + (withErrors ? 32 : 0)),
      usage: MAP_READ | COPY_DST,
    });
    const enc = this.plainEncoder();
    if (bytes > 0) enc.copyBufferToBuffer(b.buffer, 0, staging, 0, bytes);
    if (withErrors) {
      enc.copyBufferToBuffer(this.errorBuffer, 0, staging, errAt, 32);
      enc.clearBuffer(this.errorBuffer);
      this.indexChecks = 0;
    }
    this.pending++;
    this.flush();
    try {
      await staging.mapAsync(1);
    } catch (e) {
      staging.destroy();
      throw (
        this.failure ?? new TensorError('webgpu', `reading back failed: ${(e as Error).message}`)
      );
    }
    const mapped = staging.getMappedRange();
    const out =
      dtype === 'float32'
        ? new Float32Array(mapped.slice(0, bytes))
        : new Int32Array(mapped.slice(0, bytes));
    const err = withErrors ? new Int32Array(mapped.slice(errAt, errAt + 32)) : null;
    staging.unmap();
    staging.destroy();
    this.throwFailure();
    if (err && err[0]! !== 0) {
      const op = INDEX_OPS[err[1]!] ?? 'index';
      throw new TensorError(
        op,
        `index ${err[2]} is out of range for axis ${err[4]} of size ${err[3]} (found on the GPU by an earlier ${op}; ${err[0]} bad indices; their results read 0)`,
      );
    }
    return out;
  }

  private throwFailure(): void {
    const f = this.failure;
    if (f) {
      if (!this.lost) this.failure = null;
      throw f;
    }
  }

  /** Resolves when all queued work is done; rejects with the first GPU error since the last check. */
  async sync(): Promise<void> {
    this.check();
    this.flush();
    await this.queue.onSubmittedWorkDone();
    this.throwFailure();
  }

  /** Frees the pool and, when the backend created the device, the device itself. */
  destroy(): void {
    this.flush();
    this.emptyPool();
    if (this.owned) this.device.destroy();
  }
}

/** The WebGPU backend behind a kernel's `backend` argument. */
export function gpuOf(backend: Backend): WebGPUBackend {
  if (!(backend instanceof WebGPUBackend)) {
    throw new TensorError('webgpu', `internal: a webgpu kernel ran on backend '${backend.name}'`);
  }
  return backend;
}

/** A kernel input's buffer on the WebGPU backend. */
export function bufOf(x: KernelInput): GPUTensorBuffer {
  return x.buffer as GPUTensorBuffer;
}

/** The bits of a float32, for params. */
export function f32bits(v: number): number {
  f32[0] = v;
  return u32[0]!;
}
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
