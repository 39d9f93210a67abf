// optim: optimisers, gradient clipping and learning-rate schedules (import { optim } from '@recur/tensor').

export { Adam, type AdamHyper, type AdamOptions, AdamW } from './adam.js';
export {
  type ClipGradNormOptions,
  clipGradNorm,
  clipGradNormAsync,
  clipGradValue,
} from './clip.js';
export {
  type GroupHyper,
  Optimizer,
  type OptimizerStateDict,
  type ParamGroup,
  type ParamGroupInput,
  type ParamState,
  type ParamsInput,
} from './optimizer.js';
export {
  LambdaLR,
  LinearWarmupCosine,
  LRScheduler,
  type LRSchedulerStateDict,
  StepLR,
} from './scheduler.js';
export { SGD, type SGDHyper, type SGDOptions } from './sgd.js';
