/// <reference types="@webgpu/types" preserve="true" />
import { registerBackendFactory } from '../../kernels.js';
import { WebGPUBackend } from './backend.js';
import type { WebGPUOptions } from './device.js';
import './elementwise.js';
import './reduce.js';
import './movement.js';
import './indexing.js';
import './cumulative.js';
import './matmul.js';
import './conv.js';
import './cross-entropy.js';
import './adam.js';
import './attention.js';
import './norm.js';

let options: WebGPUOptions = {};

/**
 * Options for the WebGPU backend's device (a given device, timeouts, Dawn options in Node, pool size).
 * Takes effect when the backend is first initialised (`await setBackend('webgpu')` or
 * `await initBackend('webgpu')`); call it before then.
 */
export function configureWebGPU(opts: WebGPUOptions): void {
  options = { ...opts };
}

// Kernels register now (cheap: WGSL is generated on first use); the device is requested only when
// the backend is first asked for, and the `webgpu` package (Node) is imported only then.
registerBackendFactory('webgpu', () => WebGPUBackend.create(options));

export { WebGPUBackend, type WebGPUOptions };
