import type { Action, Env } from './env.js';
import { noisyPolicy, type Policy, runEpisode } from './policies.js';
import { mediumPolicy, type Task } from './tasks.js';

/**
 * An offline dataset in D4RL's field layout: one row per transition, episodes back to back.
 * `terminals[i]` is 1 where the task ended at transition i, `timeouts[i]` where the time limit cut
 * it. Discrete actions are stored as their index (actionDim 1).
 */
export interface OfflineDataset {
  /** [size, observationDim], row-major. */
  observations: Float32Array;
  /** [size, actionDim], row-major. */
  actions: Float32Array;
  rewards: Float32Array;
  terminals: Uint8Array;
  timeouts: Uint8Array;
  observationDim: number;
  actionDim: number;
}

/** The analogues of D4RL's medium, medium-replay and medium-expert datasets. */
export type DatasetQuality = 'medium' | 'medium-replay' | 'medium-expert';
/** Every dataset quality: medium, medium-replay and medium-expert (see generateDataset). */
export const DATASET_QUALITIES: readonly DatasetQuality[] = [
  'medium',
  'medium-replay',
  'medium-expert',
];

/** The number of transitions (steps) in a dataset. */
export function datasetSize(ds: OfflineDataset): number {
  return ds.rewards.length;
}

/** Checks that every field has the length the others imply; throws naming the first that does not. */
export function checkDataset(ds: OfflineDataset, source = 'dataset'): void {
  const n = ds.rewards.length;
  const expect = (field: string, got: number, want: number) => {
    if (got !== want) {
      throw new Error(
        `${source}: '${field}' has ${got} values, expected ${want} (${n} transitions)`,
      );
    }
  };
  if (!Number.isInteger(ds.observationDim) || ds.observationDim < 1) {
    throw new Error(
      `${source}: observationDim must be a positive integer, got ${ds.observationDim}`,
    );
  }
  if (!Number.isInteger(ds.actionDim) || ds.actionDim < 1) {
    throw new Error(`${source}: actionDim must be a positive integer, got ${ds.actionDim}`);
  }
  expect('observations', ds.observations.length, n * ds.observationDim);
  expect('actions', ds.actions.length, n * ds.actionDim);
  expect('terminals', ds.terminals.length, n);
  expect('timeouts', ds.timeouts.length, n);
  for (const field of ['observations', 'actions', 'rewards'] as const) {
    const values = ds[field];
    for (let i = 0; i < values.length; i++) {
      if (!Number.isFinite(values[i])) {
        throw new Error(`${source}: '${field}' value ${i} is ${values[i]}`);
      }
    }
  }
}

/** Episodes as [start, end) row ranges: each ends at a terminal, a timeout or the last row. */
export function episodeRanges(ds: OfflineDataset): [number, number][] {
  const out: [number, number][] = [];
  const n = datasetSize(ds);
  let start = 0;
  for (let i = 0; i < n; i++) {
    if (ds.terminals[i] || ds.timeouts[i] || i === n - 1) {
      out.push([start, i + 1]);
      start = i + 1;
    }
  }
  return out;
}

/** Return-to-go per row: the (discounted) sum of rewards from that row to the end of its episode. */
export function returnToGo(ds: OfflineDataset, gamma = 1): Float32Array {
  const out = new Float32Array(datasetSize(ds));
  for (const [start, end] of episodeRanges(ds)) {
    let acc = 0;
    for (let i = end - 1; i >= start; i--) {
      acc = ds.rewards[i]! + gamma * acc;
      out[i] = acc;
    }
  }
  return out;
}

/** Undiscounted return of every episode, in order. */
export function episodeReturns(ds: OfflineDataset): number[] {
  return episodeRanges(ds).map(([s, e]) => {
    let r = 0;
    for (let i = s; i < e; i++) r += ds.rewards[i]!;
    return r;
  });
}

/** Options of generateDataset: how many episodes to record and their seeds. */
export interface GenerateOptions {
  /** Episodes to record. Default 50. */
  episodes?: number;
  /** Episode i is seeded seed + i. Default 0. */
  seed?: number;
}

/**
 * Records a dataset of one quality for a task:
 * - `medium`: the task's noisy expert (its "half-trained agent");
 * - `medium-replay`: a replay buffer of a policy improving from random to medium — episode i of n
 *   takes a random action with probability ε_i falling linearly from 1 to the medium ε;
 * - `medium-expert`: the first half of the episodes by the expert, the second half medium.
 */
export function generateDataset(
  task: Task,
  quality: DatasetQuality,
  { episodes = 50, seed = 0 }: GenerateOptions = {},
): OfflineDataset {
  if (!Number.isInteger(episodes) || episodes < 1) {
    throw new Error(`generateDataset: episodes must be a positive integer, got ${episodes}`);
  }
  const env = task.make();
  const policyFor = (i: number): Policy => {
    if (quality === 'medium') return mediumPolicy(task);
    if (quality === 'medium-expert') return i < episodes / 2 ? task.expert() : mediumPolicy(task);
    if (quality === 'medium-replay') {
      const f = episodes === 1 ? 1 : i / (episodes - 1);
      const eps = 1 + f * ((task.mediumNoise.epsilon ?? 0) - 1);
      return noisyPolicy(task.expert(), env.actionSpace, { ...task.mediumNoise, epsilon: eps });
    }
    throw new Error(
      `generateDataset: unknown quality '${String(quality)}' (expected ${DATASET_QUALITIES.join(', ')})`,
    );
  };
  return recordEpisodes(
    env,
    Array.from({ length: episodes }, (_, i) => ({ policy: policyFor(i), seed: seed + i })),
  );
}

/** Rolls each (policy, seed) pair out once and stores the transitions in D4RL layout. */
export function recordEpisodes(env: Env, runs: { policy: Policy; seed: number }[]): OfflineDataset {
  const observationDim = env.observationSpace.shape[0];
  const actionDim = env.actionSpace.kind === 'discrete' ? 1 : env.actionSpace.shape[0];
  const episodes = runs.map(({ policy, seed }) => runEpisode(env, policy, seed));
  const size = episodes.reduce((n, e) => n + e.rewards.length, 0);
  const ds: OfflineDataset = {
    observations: new Float32Array(size * observationDim),
    actions: new Float32Array(size * actionDim),
    rewards: new Float32Array(size),
    terminals: new Uint8Array(size),
    timeouts: new Uint8Array(size),
    observationDim,
    actionDim,
  };
  let row = 0;
  for (const ep of episodes) {
    for (let t = 0; t < ep.rewards.length; t++, row++) {
      ds.observations.set(ep.observations[t]!, row * observationDim);
      setAction(ds.actions, row * actionDim, ep.actions[t]!);
      ds.rewards[row] = ep.rewards[t]!;
    }
    ds.terminals[row - 1] = ep.terminated ? 1 : 0;
    ds.timeouts[row - 1] = ep.truncated ? 1 : 0;
  }
  return ds;
}

function setAction(into: Float32Array, offset: number, action: Action): void {
  if (typeof action === 'number') into[offset] = action;
  else for (let i = 0; i < action.length; i++) into[offset + i] = action[i]!;
}
