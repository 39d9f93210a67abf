// WebGPU kernels of the built-in scans (reduce-then-scan, see engine.ts), and the fused path for
// any operator with a `wgsl` combine.
import './attention.js';
import './basic.js';
import './generic.js';
