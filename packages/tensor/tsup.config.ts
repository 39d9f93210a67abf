import { recurTsupConfig } from '../../tsup.shared';

// The public types mention WebGPU's (GPUDevice, GPUAdapterInfo, …): the bundled .d.ts must pull in
// @webgpu/types itself, or consumers type-checking with skipLibCheck: false get "Cannot find name".
export default recurTsupConfig({ dts: { banner: '/// <reference types="@webgpu/types" />' } });
