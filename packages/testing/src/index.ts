// @recur/testing: test helpers shared by the packages' suites (private, never published).
export * from './gradients.js';
export * from './onnx.js';
export * from './readme.js';
export * from './webgpu.js';
