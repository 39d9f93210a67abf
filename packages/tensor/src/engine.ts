import type { Backend, BackendBuffer } from './backend.js';
import { TensorError } from './errors.js';
import { getBackend, initBackend, isBackendReady, listBackends } from './kernels.js';

/** Live-memory counters of one backend. */
export interface MemoryInfo {
  /** Tensors not yet disposed or garbage-collected. */
  tensors: number;
  /** Bytes held by their buffers (views share their base's buffer and count once). */
  bytes: number;
  /** The most `bytes` has been since start or `resetPeakMemory()`. */
  peakBytes: number;
  /**
   * Bytes of released buffers the backend keeps for reuse (its buffer pool), not counted in `bytes`;
   * absent for backends without a pool. On webgpu, pool buckets round sizes up, so the device holds
   * up to 25% more than `bytes` + `pooledBytes`.
   */
  pooledBytes?: number;
}

const stats = new Map<string, MemoryInfo>();

function statsOf(backend: string): MemoryInfo {
  let s = stats.get(backend);
  if (!s) {
    s = { tensors: 0, bytes: 0, peakBytes: 0 };
    stats.set(backend, s);
  }
  return s;
}

/** Live tensors, live bytes and peak bytes, per backend name. */
export function memory(): Record<string, MemoryInfo> {
  const out: Record<string, MemoryInfo> = {};
  for (const [name, s] of stats) {
    out[name] = { ...s };
    const pooled = isBackendReady(name) ? getBackend(name).pooledBytes?.() : undefined;
    if (pooled !== undefined) out[name].pooledBytes = pooled;
  }
  return out;
}

/**
 * Resets every backend's `peakBytes` (see {@link memory}) to its current `bytes`, to measure the
 * peak of what follows.
 */
export function resetPeakMemory(): void {
  for (const s of stats.values()) s.peakBytes = s.bytes;
}

/**
 * A reference-counted buffer. Tensors that share data (reshape, detach) share a Storage; the buffer is
 * released when the last of them is disposed or collected.
 */
export class Storage {
  private refs = 0;
  private released = false;
  /** Stamp of the last in-place write into the buffer (see Tensor.version). */
  writes = 0;
  /** This backend's counters, looked up once (every tensor touches them twice). */
  private readonly stats: MemoryInfo;
  constructor(
    readonly backend: Backend,
    private current: BackendBuffer,
    readonly bytes: number,
  ) {
    const s = statsOf(backend.name);
    this.stats = s;
    s.bytes += bytes;
    if (s.bytes > s.peakBytes) s.peakBytes = s.bytes;
  }
  /** The backend buffer holding the elements. */
  get buffer(): BackendBuffer {
    return this.current;
  }
  /**
   * Moves the elements to `buffer`, a copy of them the backend made (Backend.resident), and releases
   * the old buffer. The contents do not change, so neither does the version.
   */
  moveTo(buffer: BackendBuffer): void {
    if (this.released) {
      this.backend.release(buffer);
      return;
    }
    const old = this.current;
    this.current = buffer;
    this.backend.release(old);
  }
  /** Whether more than one live tensor uses this buffer. */
  get shared(): boolean {
    return this.refs > 1;
  }
  retain(): void {
    this.refs++;
    this.stats.tensors++;
  }
  drop(): void {
    this.stats.tensors--;
    if (--this.refs > 0 || this.released) return;
    this.released = true;
    this.stats.bytes -= this.bytes;
    this.backend.release(this.buffer);
  }
}

/**
 * Collected tensors give their storage reference back, so `memory()` stays honest without dispose().
 * Registration is costly (about a microsecond), so tensors join only once they outlive every tidy()
 * scope: those a scope disposes never do.
 */
export const finalizer = new FinalizationRegistry<Storage>((storage) => storage.drop());

// ---- default backend -------------------------------------------------------------------------

let defaultBackend = 'cpu';

/** The backend new tensors are created on. */
export function getDefaultBackend(): Backend {
  return getBackend(defaultBackend);
}

/**
 * Sets the backend new tensors are created on ('cpu' by default). A backend that is ready (the CPU,
 * or one initialised before) is set at once and the returned promise is already resolved, so
 * `setBackend('cpu')` needs no await. One that needs a device ('webgpu') is initialised first: await
 * the promise, which rejects (and leaves the default as it was) when no device can be had. An unknown
 * name throws at once.
 */
export function setBackend(name: string): Promise<void> {
  if (isBackendReady(name)) {
    defaultBackend = name;
    return Promise.resolve();
  }
  if (!listBackends().includes(name)) getBackend(name);
  return initBackend(name).then(() => {
    defaultBackend = name;
  });
}

// ---- gradient mode ---------------------------------------------------------------------------

let gradEnabled = true;

/**
 * Whether ops record autograd history now: false inside {@link noGrad}, true by default and inside
 * {@link enableGrad}.
 */
export function isGradEnabled(): boolean {
  return gradEnabled;
}

/** Runs `fn` without recording operations for autograd. */
export function noGrad<T>(fn: () => T): T {
  const prev = gradEnabled;
  gradEnabled = false;
  try {
    const out = fn();
    if (out instanceof Promise) {
      throw new TensorError(
        'noGrad',
        'expected a synchronous function; await inside noGrad is not supported',
      );
    }
    return out;
  } finally {
    gradEnabled = prev;
  }
}

/**
 * Runs `fn` with autograd recording on, also inside a {@link noGrad}, and restores the previous
 * setting afterwards (also when `fn` throws).
 */
export function enableGrad<T>(fn: () => T): T {
  const prev = gradEnabled;
  gradEnabled = true;
  try {
    return fn();
  } finally {
    gradEnabled = prev;
  }
}

// ---- scopes (tidy) ---------------------------------------------------------------------------

interface Disposable {
  dispose(): void;
  readonly isDisposed: boolean;
  /** Called once the object lives outside every tidy() scope: from then on GC must account for it. */
  escapeScopes(): void;
}

const scopes: Set<Disposable>[] = [];

/** Called by every new tensor: the innermost tidy() scope owns it. */
export function trackInScope(t: Disposable): void {
  const top = scopes[scopes.length - 1];
  if (top) top.add(t);
  else t.escapeScopes();
}

/** Removes `t` from every open scope so tidy() will not dispose it. Returns t. */
export function keep<T extends Disposable>(t: T): T {
  for (const s of scopes) s.delete(t);
  t.escapeScopes();
  return t;
}

function collectKept(value: unknown, into: Set<unknown>, seen: Set<unknown>): void {
  if (value === null || typeof value !== 'object' || seen.has(value)) return;
  seen.add(value);
  if ('dispose' in value && 'isDisposed' in value) {
    into.add(value);
    return;
  }
  if (Array.isArray(value)) for (const v of value) collectKept(v, into, seen);
  else if (value instanceof Map) for (const v of value.values()) collectKept(v, into, seen);
  else if (Object.getPrototypeOf(value) === Object.prototype) {
    for (const v of Object.values(value)) collectKept(v, into, seen);
  }
}

/**
 * Runs `fn` and disposes every tensor created inside it that is not part of its result (tensors in a
 * returned array, Map or plain object are kept). Gradients written by backward() are always kept.
 */
export function tidy<T>(fn: () => T): T {
  const scope = new Set<Disposable>();
  scopes.push(scope);
  let result: T;
  try {
    result = fn();
  } catch (e) {
    scopes.pop();
    for (const t of scope) if (!t.isDisposed) t.dispose();
    throw e;
  }
  scopes.pop();
  if (result instanceof Promise) {
    throw new TensorError('tidy', 'expected a synchronous function; it returned a Promise');
  }
  const kept = new Set<unknown>();
  collectKept(result, kept, new Set());
  const parent = scopes[scopes.length - 1];
  for (const t of scope) {
    if (kept.has(t)) {
      if (parent) parent.add(t);
      else t.escapeScopes();
    } else if (!t.isDisposed) t.dispose();
  }
  return result;
}
