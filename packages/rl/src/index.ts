/**
 * offline reinforcement learning in the D4RL style — classic-control environments, scripted
 * experts, datasets of three qualities and a Decision Transformer on Aaren or a Transformer.
 *
 * @packageDocumentation
 * @module @recur/rl
 */

export { lqrGain } from './control.js';
export {
  checkDataset,
  DATASET_QUALITIES,
  type DatasetQuality,
  datasetSize,
  episodeRanges,
  episodeReturns,
  type GenerateOptions,
  generateDataset,
  type OfflineDataset,
  recordEpisodes,
  returnToGo,
} from './dataset.js';
export {
  type Backbone,
  DecisionTransformer,
  DecisionTransformerAgent,
  type DecisionTransformerOptions,
  decisionTransformerFor,
  observationStats,
  type TrainOptions,
  type TrainResult,
  type TrajectoryBatch,
  trainDecisionTransformer,
  WindowSampler,
} from './decision-transformer.js';
export { type Action, Env, EnvError, type StepResult } from './env.js';
export { CartPole } from './envs/cartpole.js';
export { Pendulum, wrapAngle } from './envs/pendulum.js';
export { PointMass } from './envs/point-mass.js';
export {
  type EvaluateOptions,
  type EvaluateResult,
  evaluateDecisionTransformer,
} from './evaluate.js';
export { type OfflineRunOptions, type OfflineRunResult, runOfflineRl } from './experiment.js';
export { readD4rlHdf5, writeD4rlHdf5 } from './hdf5.js';
export {
  averageReturn,
  cartPoleExpert,
  type Episode,
  type NoiseOptions,
  noisyPolicy,
  type Policy,
  pendulumExpert,
  pointMassExpert,
  randomPolicy,
  runEpisode,
} from './policies.js';
export {
  type BoxSpace,
  box,
  type DiscreteSpace,
  discrete,
  type Space,
  spaceDim,
} from './spaces.js';
export {
  getTask,
  mediumPolicy,
  normalisedReturn,
  type ReferenceReturns,
  referenceReturns,
  TASKS,
  type Task,
  type TaskName,
} from './tasks.js';
