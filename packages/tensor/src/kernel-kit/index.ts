/**
 * For kernel authors: registering kernels for an op on a backend, and the building blocks of
 * WebGPU kernels (WGSL declarations and special values, {@link WebGPUProgram} / {@link runProgram},
 * buffer and parameter helpers) that recur's own WebGPU kernels and `@recur/scan`'s are written with.
 *
 * @packageDocumentation
 * @module @recur/tensor/kernels
 */
export type { Backend, BackendBuffer, Kernel, KernelInput, OutputSpec } from '../backend.js';
export {
  bufOf,
  f32bits,
  type GPUTensorBuffer,
  gpuOf,
  grid,
  WebGPUBackend,
} from '../backends/webgpu/backend.js';
export { fmtShape, TensorError } from '../errors.js';
export { hasKernel, registerKernel } from '../kernels.js';
export {
  type Binding,
  COMMON_WGSL,
  checkLoop,
  convert,
  coords,
  entry,
  header,
  loopRange,
  output,
  runProgram,
  SPECIAL_VALUES_WGSL,
  type WebGPUProgram,
  wt,
} from './webgpu.js';
