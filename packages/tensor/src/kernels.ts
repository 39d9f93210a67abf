import type { Backend, Kernel, OutputSpec } from './backend.js';
import { TensorError } from './errors.js';
import type { OpDef } from './op.js';

const backends = new Map<string, Backend>();
const factories = new Map<string, () => Promise<Backend>>();
const starting = new Map<string, Promise<Backend>>();
const kernels = new Map<string, Map<string, Kernel<never>>>();

/**
 * Makes a ready backend available under its `name`, replacing one registered under that name; see
 * {@link registerBackendFactory} for backends that start asynchronously.
 */
export function registerBackend(backend: Backend): void {
  backends.set(backend.name, backend);
}

/**
 * Registers a backend that needs asynchronous set-up (a GPU device): `create` runs once, on the first
 * `initBackend(name)` (or `await setBackend(name)`), and its backend is registered when it resolves.
 */
export function registerBackendFactory(name: string, create: () => Promise<Backend>): void {
  factories.set(name, create);
}

/**
 * The backend `name`, initialised if it has a factory and is not yet ready (a failed start is not
 * cached: a later call tries again).
 */
export function initBackend(name: string): Promise<Backend> {
  const ready = backends.get(name);
  if (ready) return Promise.resolve(ready);
  const inFlight = starting.get(name);
  if (inFlight) return inFlight;
  const create = factories.get(name);
  if (!create) {
    return Promise.reject(
      new TensorError(
        'backend',
        `no backend named '${name}' is registered (have: ${listBackends().join(', ')})`,
      ),
    );
  }
  const p = create().then(
    (b) => {
      starting.delete(name);
      registerBackend(b);
      return b;
    },
    (e: unknown) => {
      starting.delete(name);
      throw e;
    },
  );
  starting.set(name, p);
  return p;
}

/**
 * The registered backend `name`. Throws when none has that name, or when it starts asynchronously
 * and {@link initBackend} has not finished yet.
 */
export function getBackend(name: string): Backend {
  const b = backends.get(name);
  if (!b) {
    const hint = factories.has(name)
      ? `backend '${name}' is not initialised yet; await setBackend('${name}') or initBackend('${name}') first`
      : `no backend named '${name}' is registered (have: ${listBackends().join(', ')})`;
    throw new TensorError('backend', hint);
  }
  return b;
}

/** Backends ready to use, then those that start on first use (initBackend). */
export function listBackends(): string[] {
  return [...new Set([...backends.keys(), ...factories.keys()])];
}

/** Whether backend `name` is initialised and ready for synchronous use. */
export function isBackendReady(name: string): boolean {
  return backends.has(name);
}

/**
 * The kernel type for `Op`, when `Op` is an op's type (`typeof matmulOp`): its attributes, input
 * tuple and output specs. Any other type is taken as the attributes of a kernel of open arity.
 */
export type KernelOf<Op> =
  Op extends OpDef<infer A, infer In, infer Out>
    ? Kernel<A, In, Out>
    : Kernel<Op, readonly unknown[], readonly OutputSpec[]>;

/**
 * Registers the implementation of kernel `name` on backend `backend`. Give the op's type,
 * `registerKernel<typeof matmulOp>('matmul', 'cpu', (backend, [a, b], attrs, [spec]) => …)`, and the
 * kernel is checked against the op's attributes, input tuple and outputs (an `import type` of the
 * op is enough). An attributes type in its place (`registerKernel<ReduceAttrs>`) registers a kernel
 * of open arity, for kernels that several differently-typed ops share.
 */
export function registerKernel<Op = unknown>(
  name: string,
  backend: string,
  kernel: KernelOf<Op>,
): void {
  let byBackend = kernels.get(name);
  if (!byBackend) {
    byBackend = new Map();
    kernels.set(name, byBackend);
  }
  byBackend.set(backend, kernel as Kernel<never>);
}

/**
 * The kernel registered as `name` on `backend`, typed as the caller says (the registry holds kernels
 * of every type; {@link registerKernel} checked each against its op).
 */
export function getKernel<
  A,
  In extends readonly unknown[] = readonly unknown[],
  Out extends readonly OutputSpec[] = readonly OutputSpec[],
>(name: string, backend: string): Kernel<A, In, Out> {
  const k = kernels.get(name)?.get(backend);
  if (!k) throw new TensorError(name, `no kernel '${name}' is registered for backend '${backend}'`);
  return k as unknown as Kernel<A, In, Out>;
}

/** Whether a kernel for op `name` is registered on `backend` (see {@link registerKernel}). */
export function hasKernel(name: string, backend: string): boolean {
  return kernels.get(name)?.has(backend) ?? false;
}
