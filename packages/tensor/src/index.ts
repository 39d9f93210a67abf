/**
 * n-d tensors with reverse-mode autograd on pluggable backends.
 *
 * @packageDocumentation
 * @module @recur/tensor
 */
import './backends/cpu/index.js';
import './backends/webgpu/index.js';

export type {
  Backend,
  BackendBuffer,
  Kernel,
  KernelInput,
  KernelInputs,
  OutputSpec,
} from './backend.js';
export { alloc as allocCpuBuffer, cpuPoolBytes, setCpuPoolLimit } from './backends/cpu/backend.js';
export { getNumThreads, setNumThreads } from './backends/cpu/threads.js';
export {
  type CpuKernelInfo,
  type CpuKernels,
  cpuKernelInfo,
  setCpuKernels,
} from './backends/cpu/wasm/gemm.js';
export {
  configureWebGPU,
  WebGPUBackend,
  type WebGPUOptions,
} from './backends/webgpu/index.js';
export type { DType, TypedArray } from './dtype.js';
export {
  enableGrad,
  getDefaultBackend,
  isGradEnabled,
  keep,
  type MemoryInfo,
  memory,
  noGrad,
  resetPeakMemory,
  setBackend,
  tidy,
} from './engine.js';
export { TensorError } from './errors.js';
export {
  loadSafetensors,
  loadSafetensorsWithMetadata,
  SafetensorsError,
  saveSafetensors,
  saveSafetensorsAsync,
} from './io/safetensors.js';
export {
  getBackend,
  hasKernel,
  initBackend,
  isBackendReady,
  type KernelOf,
  listBackends,
  registerBackend,
  registerBackendFactory,
  registerKernel,
} from './kernels.js';
export * as nn from './nn/index.js';
export {
  type ExternalDataOptions,
  type OnnxFiles,
  type ToOnnxOptions,
  toOnnx,
  toOnnxFiles,
} from './onnx/export.js';
export * as onnx from './onnx/index.js';
export {
  type AnyOpDef,
  defineOp,
  type GradContext,
  type OpDef,
  type OutputTensors,
  run1,
  runOp,
} from './op.js';
export * from './ops/index.js';
export * as optim from './optim/index.js';
export {
  defaultGenerator,
  Generator,
  manualSeed,
  type RandomOptions,
  rand,
  randint,
  randLike,
  randn,
  randnLike,
  randperm,
} from './random.js';
export { broadcastShapes, normalizeAxis, sizeOf, stridesOf } from './shape.js';
export {
  disposeState,
  type JsonTensor,
  prefixState,
  SequenceModule,
  Stream,
  type Streamable,
  type StreamState,
  stateBytes,
  stateFromJSON,
  stateToJSON,
  subState,
} from './streaming.js';
export { type NestedArray, Tensor, type TensorLike } from './tensor.js';
