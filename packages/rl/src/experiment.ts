import {
  type DatasetQuality,
  episodeReturns,
  generateDataset,
  type OfflineDataset,
} from './dataset.js';
import {
  type Backbone,
  decisionTransformerFor,
  trainDecisionTransformer,
} from './decision-transformer.js';
import { evaluateDecisionTransformer } from './evaluate.js';
import { getTask, type ReferenceReturns, referenceReturns, type TaskName } from './tasks.js';

/**
 * Options of one offline run: task, dataset quality, backbone, seed, and the dataset, model,
 * training and evaluation settings.
 */
export interface OfflineRunOptions {
  task: TaskName;
  quality: DatasetQuality;
  backbone: Backbone;
  /** Seeds the dataset, the initialisation, window sampling and the evaluation episodes. */
  seed?: number;
  /** A dataset to train on instead of generating one (for example read with readD4rlHdf5). */
  dataset?: OfflineDataset;
  /** Episodes recorded when the dataset is generated. Default 50. */
  datasetEpisodes?: number;
  trainSteps?: number;
  batchSize?: number;
  lr?: number;
  /** Wall-clock budget for training, seconds. */
  maxSeconds?: number;
  evalEpisodes?: number;
  context?: number;
  dModel?: number;
  nLayers?: number;
  nHeads?: number;
  /** Reference returns for normalisation; measured over 100 seeded episodes when left out. */
  reference?: ReferenceReturns;
}

/**
 * What one offline run reports: its settings, the model's size, the training's steps, time and
 * final loss, the dataset's size and mean return, and the evaluation's returns.
 */
export interface OfflineRunResult {
  task: TaskName;
  quality: DatasetQuality;
  backbone: Backbone;
  seed: number;
  parameters: number;
  trainSteps: number;
  trainSeconds: number;
  finalLoss: number;
  datasetTransitions: number;
  datasetMeanReturn: number;
  /** The return the policy was conditioned on: the best episode return in the dataset. */
  targetReturn: number;
  returns: number[];
  meanReturn: number;
  normalisedReturn: number;
  /** Environment steps per second during evaluation, the model's streaming steps included. */
  envStepsPerSecond: number;
}

/**
 * One offline-RL run of the Aaren paper's setting: record (or take) a dataset, train a Decision
 * Transformer with the given backbone on it, roll it out conditioned on the dataset's best return,
 * and report the D4RL-normalised return and environment steps per second.
 */
export function runOfflineRl(options: OfflineRunOptions): OfflineRunResult {
  const seed = options.seed ?? 0;
  const task = getTask(options.task);
  const env = task.make();
  const ds =
    options.dataset ??
    generateDataset(task, options.quality, {
      episodes: options.datasetEpisodes ?? 50,
      seed: seed * 10_007,
    });
  const rets = episodeReturns(ds);
  const targetReturn = Math.max(...rets);
  const model = decisionTransformerFor(
    ds,
    {
      actionSpace: env.actionSpace,
      backbone: options.backbone,
      maxTimestep: env.maxEpisodeSteps,
      returnScale: Math.max(1, ...rets.map(Math.abs)),
      context: options.context ?? 20,
      dModel: options.dModel ?? 32,
      nLayers: options.nLayers ?? 2,
      nHeads: options.nHeads ?? 2,
    },
    seed,
  );
  const train = trainDecisionTransformer(model, ds, {
    steps: options.trainSteps ?? 300,
    batchSize: options.batchSize ?? 16,
    lr: options.lr ?? 1e-3,
    seed,
    maxSeconds: options.maxSeconds,
  });
  const reference = options.reference ?? referenceReturns(task);
  const ev = evaluateDecisionTransformer(model, env, {
    episodes: options.evalEpisodes ?? 5,
    seed: 1_000 + seed * 100,
    targetReturn,
    reference,
  });
  const tail = train.losses.slice(-20);
  return {
    task: task.name,
    quality: options.quality,
    backbone: options.backbone,
    seed,
    parameters: model.parameters().reduce((n, p) => n + p.size, 0),
    trainSteps: train.steps,
    trainSeconds: train.seconds,
    finalLoss: tail.reduce((a, b) => a + b, 0) / Math.max(1, tail.length),
    datasetTransitions: ds.rewards.length,
    datasetMeanReturn: rets.reduce((a, b) => a + b, 0) / rets.length,
    targetReturn,
    returns: ev.returns,
    meanReturn: ev.meanReturn,
    normalisedReturn: ev.meanNormalisedReturn!,
    envStepsPerSecond: ev.stepsPerSecond,
  };
}
