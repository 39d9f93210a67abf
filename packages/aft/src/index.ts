/**
 * the Attention Free Transformer family (Zhai et al. 2021) — AFT-full, AFT-local, AFT-simple and
 * AFT-conv (1-d and 2-d), causal and not; causal layers stream.
 *
 * @packageDocumentation
 * @module @recur/aft
 */
export {
  Aft,
  AftBlock,
  type AftBlockOptions,
  type AftOptions,
  type AftVariant,
  aftLayer,
} from './block.js';
export { AftSequenceLayer, WINDOW_STATE_KEYS } from './common.js';
export {
  AftConv1d,
  type AftConv1dOptions,
  AftConv2d,
  type AftConv2dOptions,
  KERNEL_STD_EPS,
  reparameterisedKernel,
} from './conv.js';
export { AftFull, type AftFullOptions, FULL_STATE_KEYS } from './full.js';
export { AftLocal, type AftLocalOptions, LOCAL_STATE_KEYS } from './local.js';
export {
  POSITION_INIT_STD,
  PositionBiasedLayer,
  type PositionBiasOptions,
} from './position.js';
export { AftSimple, type AftSimpleOptions, SIMPLE_STATE_KEYS } from './simple.js';
