import type { Backend, Kernel } from './backend.js';
import { TensorError } from './errors.js';

const backends = new Map<string, Backend>();
const kernels = new Map<string, Map<string, Kernel<never>>>();

export function registerBackend(backend: Backend): void {
  backends.set(backend.name, backend);
}

export function getBackend(name: string): Backend {
  const b = backends.get(name);
  if (!b) {
    throw new TensorError(
      'backend',
      `no backend named '${name}' is registered (have: ${[...backends.keys()].join(', ')})`,
    );
  }
  return b;
}

export function listBackends(): string[] {
  return [...backends.keys()];
}

/** Registers the implementation of kernel `name` on backend `backend`. */
export function registerKernel<A>(name: string, backend: string, kernel: Kernel<A>): void {
  let byBackend = kernels.get(name);
  if (!byBackend) {
    byBackend = new Map();
    kernels.set(name, byBackend);
  }
  byBackend.set(backend, kernel as Kernel<never>);
}

export function getKernel<A>(name: string, backend: string): Kernel<A> {
  const k = kernels.get(name)?.get(backend);
  if (!k) throw new TensorError(name, `no kernel '${name}' is registered for backend '${backend}'`);
  return k as unknown as Kernel<A>;
}

export function hasKernel(name: string, backend: string): boolean {
  return kernels.get(name)?.has(backend) ?? false;
}
