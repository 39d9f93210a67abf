import { recurTsupConfig } from '../../tsup.shared';

// The public types mention WebGPU's (GPUDevice, GPUAdapterInfo, …): the bundled .d.ts must pull in
// @webgpu/types itself, or consumers type-checking with skipLibCheck: false get "Cannot find name".
// Two entries (the package and its ./kernels subpath) share their modules as chunks, so both see one
// kernel registry and one WebGPUBackend class.
export default recurTsupConfig({
  entry: { index: 'src/index.ts', 'kernel-kit/index': 'src/kernel-kit/index.ts' },
  dts: { banner: '/// <reference types="@webgpu/types" />' },
});
