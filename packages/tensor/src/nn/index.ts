// nn: modules, layers, initialisation and losses (import { nn } from '@recur/tensor').

export { HeadedAttention, type HeadedAttentionOptions } from './heads.js';
export * as init from './init.js';
export {
  Dropout,
  Embedding,
  type EmbeddingOptions,
  GELU,
  Identity,
  LayerNorm,
  type LayerNormOptions,
  Linear,
  type LinearOptions,
  ReLU,
  Sigmoid,
  SiLU,
  Softplus,
  Tanh,
} from './layers.js';
export {
  type BceWithLogitsOptions,
  bceWithLogits,
  type CrossEntropyOptions,
  crossEntropy,
  l1Loss,
  mseLoss,
  type NllLossOptions,
  nllLoss,
  type Reduction,
  type ReductionOptions,
} from './losses.js';
export {
  type LoadStateDictOptions,
  type LoadStateDictResult,
  Module,
  parameter,
  Sequential,
  type StateDict,
} from './module.js';
export {
  type ActivationName,
  activation,
  checkPositive,
  checkShape,
  checkTokens,
  type Mixer,
  PreNormBlock,
  type PreNormBlockOptions,
  SequenceStack,
} from './sequence.js';
