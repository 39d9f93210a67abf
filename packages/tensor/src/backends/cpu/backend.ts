import type { Backend, BackendBuffer, KernelInput } from '../../backend.js';
import { allocTyped, type DType, type TypedArray } from '../../dtype.js';

/** The CPU backend: buffers are typed arrays in the JS heap; every op runs synchronously. */
export const cpu: Backend = {
  name: 'cpu',
  upload: (data: TypedArray) => data.slice(),
  read: async (buffer: BackendBuffer) => (buffer as TypedArray).slice(),
  readSync: (buffer: BackendBuffer) => (buffer as TypedArray).slice(),
  release: () => {},
};

/** The typed array behind a kernel input. */
export function arr(x: KernelInput): TypedArray {
  return x.buffer as TypedArray;
}

export function alloc(dtype: DType, size: number): TypedArray {
  return allocTyped(dtype, size);
}
