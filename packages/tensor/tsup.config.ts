import { recurTsupConfig } from '../../tsup.shared';

// Two entries (the package and its ./kernels subpath) share their modules as chunks, so both see one
// kernel registry and one WebGPUBackend class. The public types mention WebGPU's (GPUDevice, …):
// src/backends/webgpu keeps `/// <reference types="@webgpu/types" preserve="true" />`, so the
// emitted .d.ts pull them in for consumers type-checking with skipLibCheck: false.
export default recurTsupConfig({
  entry: { index: 'src/index.ts', 'kernel-kit/index': 'src/kernel-kit/index.ts' },
});
