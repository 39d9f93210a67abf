// @recur/testing: test helpers shared by the packages' suites (private, never published).
export * from './webgpu.js';
