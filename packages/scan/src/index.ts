/**
 * associative scans over tuples of tensors, with the attention operator of Aaren.
 *
 * @packageDocumentation
 * @module @recur/scan
 */
import './kernels/cpu.js';
import './kernels/webgpu/index.js';

export {
  type AttentionCarry,
  type AttentionScanOptions,
  attentionScan,
  emptyAttentionCarry,
} from './attention-scan.js';
export { sequentialScan, treeScan } from './generic.js';
export {
  defineOperator,
  type Elements,
  type OperatorDef,
  type ScanOperator,
} from './operator.js';
export { attention } from './operators/attention.js';
export { add, linearRecurrence, logaddexp, max } from './operators/basic.js';
export { type ScanAlgorithm, type ScanOptions, type ScanResult, scan } from './scan.js';
