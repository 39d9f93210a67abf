import { TensorError } from '../../errors.js';

/**
 * The CPU backend's threads: workers that each instantiate the GEMM module over the same shared
 * `WebAssembly.Memory` and wait on a control block of shared integers. A dispatch is a list of
 * chunks (calls of the module's exports on disjoint parts of the output). The calling thread
 * writes them, bumps a generation counter that wakes the workers, and then every thread, the
 * caller included, claims chunks from a shared counter until none is left. So a worker that the
 * operating system has not scheduled yet (a loaded machine) delays nothing: the caller takes its
 * chunks, and only waits (Atomics.wait in Node; a spin where the thread may not block, as a page's
 * main thread) for chunks that a worker has claimed and not finished.
 *
 * Workers are `worker_threads` in Node (unref'd: they never keep a process alive) and Web Workers in
 * browsers. Where SharedArrayBuffer is missing (a page that is not cross-origin isolated) or workers
 * cannot start, everything runs on the calling thread.
 */

/** Exports of the GEMM module a job may call, by index. */
export const JOB_FNS = ['gemm', 'gemvT', 'gemvN'] as const;
export type JobFn = (typeof JOB_FNS)[number];
/** One call: the export and its (integer) arguments. */
export interface Job {
  readonly fn: JobFn;
  readonly args: readonly number[];
}

// Control block layout (Int32 indices).
const GEN = 0; // bumped once per dispatch; idle workers wait on it
const NEXT = 1; // the next chunk to claim
const COUNT = 2; // chunks in this dispatch
const DONE = 3; // chunks finished
const READY = 4; // workers that have started
const FAILED = 5; // set when a worker's call threw
const STOPPED = 6; // set to make the workers return
const CHUNKS = 16; // chunk slots: CHUNK ints each, [fn index, args...]
const CHUNK = 16;
/** Most chunks in one dispatch. */
export const MAX_CHUNKS = 64;
/** NEXT while a dispatch is being written: no claim can succeed. */
const CLOSED = 1 << 30;

/** The worker's program (a string, so it needs no file next to the bundle). */
const WORKER_SOURCE = `
const start = ({ module, memory, control }) => {
  const exports = new WebAssembly.Instance(module, { env: { memory } }).exports;
  const fns = ${JSON.stringify(JOB_FNS)}.map((name) => exports[name]);
  const c = new Int32Array(control);
  let gen = Atomics.load(c, ${GEN});
  Atomics.add(c, ${READY}, 1);
  Atomics.notify(c, ${READY});
  for (;;) {
    Atomics.wait(c, ${GEN}, gen);
    gen = Atomics.load(c, ${GEN});
    if (Atomics.load(c, ${STOPPED})) return;
    for (;;) {
      const k = Atomics.add(c, ${NEXT}, 1);
      const count = Atomics.load(c, ${COUNT});
      if (k >= count) break;
      const s = ${CHUNKS} + k * ${CHUNK};
      try {
        fns[c[s]](c[s + 1], c[s + 2], c[s + 3], c[s + 4], c[s + 5], c[s + 6], c[s + 7], c[s + 8], c[s + 9], c[s + 10], c[s + 11], c[s + 12]);
      } catch {
        Atomics.store(c, ${FAILED}, 1);
      }
      if (Atomics.add(c, ${DONE}, 1) + 1 === count) Atomics.notify(c, ${DONE});
    }
  }
};
if (typeof require === 'function') start(require('node:worker_threads').workerData);
else self.onmessage = (event) => start(event.data);
`;

interface NodeWorker {
  unref(): void;
  terminate(): Promise<number>;
  on(event: 'error', listener: (error: unknown) => void): void;
}
interface WorkerThreads {
  Worker: new (source: string, options: { eval: true; workerData: unknown }) => NodeWorker;
}

/** Node's worker_threads, synchronously (process.getBuiltinModule: Node >= 20.16), or null. */
function workerThreads(): WorkerThreads | null {
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  const mod = proc?.getBuiltinModule?.('node:worker_threads') as WorkerThreads | undefined;
  return mod?.Worker ? mod : null;
}

/** Logical cores: os.availableParallelism in Node, navigator.hardwareConcurrency in browsers. */
function availableCores(): number {
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  const os = proc?.getBuiltinModule?.('node:os') as
    | { availableParallelism?: () => number; cpus: () => unknown[] }
    | undefined;
  if (os) return Math.max(1, os.availableParallelism?.() ?? os.cpus().length);
  const nav = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator;
  return Math.max(1, nav?.hardwareConcurrency ?? 1);
}

/** Whether threads can share memory here at all. */
export function threadsSupported(): boolean {
  if (typeof SharedArrayBuffer !== 'function' || typeof Atomics !== 'object') return false;
  if (workerThreads()) return true;
  const g = globalThis as { Worker?: unknown; crossOriginIsolated?: boolean };
  return typeof g.Worker === 'function' && g.crossOriginIsolated === true;
}

/** Whether this thread may block in Atomics.wait (Node's main thread and workers may; a page may not). */
function canBlock(): boolean {
  if (workerThreads()) return true;
  const g = globalThis as { document?: unknown };
  return g.document === undefined; // a Web Worker
}

let requested = availableCores();

/**
 * Sets the number of threads the CPU backend uses for large matrix products (default: the number
 * of available cores). 1 runs everything on the calling thread. Results do not depend on it: each
 * output element is computed by one thread, in the same order. Where SharedArrayBuffer is not
 * available (a page that is not cross-origin isolated), the CPU backend runs on one thread whatever
 * is set; `getNumThreads()` then returns 1.
 */
export function setNumThreads(n: number): void {
  if (!Number.isInteger(n) || n < 1 || n > 256) {
    throw new TensorError('setNumThreads', `expected an integer from 1 to 256, got ${n}`);
  }
  if (n === requested) return;
  requested = n;
  stopPool();
}

/** The number of threads the CPU backend uses (1 where threads are not supported). */
export function getNumThreads(): number {
  return threadsSupported() ? requested : 1;
}

/** Worker threads started and ready (0 before the first large product, or without threads). */
export function readyWorkers(): number {
  return pool?.ready() ? pool.workers.length : 0;
}

interface Pool {
  readonly module: WebAssembly.Module;
  readonly control: Int32Array;
  readonly workers: { terminate(): unknown }[];
  /** Whether every worker has started (browsers start them asynchronously). */
  ready(): boolean;
}

let pool: Pool | null = null;
let poolFailed = false;

function stopPool(): void {
  if (!pool) return;
  const { control, workers } = pool;
  Atomics.store(control, STOPPED, 1);
  Atomics.add(control, GEN, 1);
  Atomics.notify(control, GEN);
  for (const worker of workers) worker.terminate();
  pool = null;
  poolFailed = false;
}

/** Starts `count` workers over `memory`; null where they cannot start. */
function startPool(
  module: WebAssembly.Module,
  memory: WebAssembly.Memory,
  count: number,
): Pool | null {
  const control = new Int32Array(new SharedArrayBuffer(4 * (CHUNKS + CHUNK * MAX_CHUNKS)));
  control[NEXT] = CLOSED;
  const data = { module, memory, control: control.buffer };
  const node = workerThreads();
  const workers: { terminate(): unknown }[] = [];
  try {
    if (node) {
      for (let w = 0; w < count; w++) {
        const worker = new node.Worker(WORKER_SOURCE, { eval: true, workerData: data });
        worker.unref();
        worker.on('error', () => Atomics.store(control, FAILED, 1));
        workers.push(worker);
      }
      // Node starts workers on their own threads: wait here (at most 10 s) so the first product
      // that asks for threads gets them.
      const deadline = performance.now() + 10_000;
      for (;;) {
        const ready = Atomics.load(control, READY);
        if (ready === count) break;
        const left = deadline - performance.now();
        if (left <= 0 || Atomics.load(control, FAILED)) throw new Error('workers did not start');
        Atomics.wait(control, READY, ready, left);
      }
    } else {
      const url = URL.createObjectURL(new Blob([WORKER_SOURCE], { type: 'text/javascript' }));
      for (let w = 0; w < count; w++) {
        const worker = new Worker(url);
        worker.postMessage(data);
        workers.push(worker);
      }
    }
  } catch {
    for (const worker of workers) worker.terminate();
    return null;
  }
  return {
    module,
    control,
    workers,
    ready: () => Atomics.load(control, READY) === count,
  };
}

/**
 * Runs `chunks` (at most MAX_CHUNKS) on this thread (through `local`) and the workers; returns when
 * all are done. Call only after `threadsFor` said more than one thread.
 */
export function runParallel(local: (job: Job) => void, chunks: readonly Job[]): void {
  const { control } = pool!;
  const count = chunks.length;
  // Close claims, write the chunks, then open them: a late worker of an earlier dispatch can only
  // claim a chunk of this one once it is complete.
  Atomics.store(control, NEXT, CLOSED);
  for (let k = 0; k < count; k++) {
    const { fn, args } = chunks[k]!;
    const s = CHUNKS + k * CHUNK;
    control[s] = JOB_FNS.indexOf(fn);
    for (let i = 0; i < args.length; i++) control[s + 1 + i] = args[i]!;
  }
  Atomics.store(control, COUNT, count);
  Atomics.store(control, DONE, 0);
  Atomics.store(control, NEXT, 0);
  Atomics.add(control, GEN, 1);
  Atomics.notify(control, GEN);
  for (;;) {
    const k = Atomics.add(control, NEXT, 1);
    if (k >= count) break;
    local(chunks[k]!);
    Atomics.add(control, DONE, 1);
  }
  const block = canBlock();
  for (;;) {
    const done = Atomics.load(control, DONE);
    if (done === count) break;
    if (Atomics.load(control, FAILED)) {
      stopPool();
      poolFailed = true;
      throw new TensorError(
        'matmul',
        'a CPU worker thread failed; threads are now off (setNumThreads to retry)',
      );
    }
    if (block) Atomics.wait(control, DONE, done, 1000);
  }
}

/**
 * How many threads to use for a job of `work` multiply-adds over shared `memory` (compiled as
 * `module`): 1 when small, unsupported, or the workers are not ready yet.
 */
export function threadsFor(
  module: WebAssembly.Module,
  memory: WebAssembly.Memory,
  work: number,
): number {
  const want = Math.min(getNumThreads(), Math.floor(work / MIN_WORK_PER_THREAD));
  if (want < 2 || poolFailed) return 1;
  if (pool && pool.module !== module) stopPool();
  if (!pool) {
    pool = startPool(module, memory, requested - 1);
    if (!pool) {
      poolFailed = true;
      return 1;
    }
  }
  return pool.ready() ? Math.min(want, pool.workers.length + 1) : 1;
}

/** Multiply-adds a thread must get for waking it to pay (a wake-up costs ~10–50 µs). */
const MIN_WORK_PER_THREAD = 1 << 19;
