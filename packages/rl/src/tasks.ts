import type { Env } from './env.js';
import { CartPole } from './envs/cartpole.js';
import { Pendulum } from './envs/pendulum.js';
import { PointMass } from './envs/point-mass.js';
import type { NoiseOptions, Policy } from './policies.js';
import {
  averageReturn,
  cartPoleExpert,
  noisyPolicy,
  pendulumExpert,
  pointMassExpert,
  randomPolicy,
} from './policies.js';

/** The built-in tasks. */
export type TaskName = 'cartpole' | 'pendulum' | 'point-mass';

/** An environment with its scripted expert and the noise that makes its "medium" policy. */
export interface Task {
  name: TaskName;
  /** A fresh environment of the task. */
  make(): Env;
  /** The scripted expert policy. */
  expert(): Policy;
  /** Noise on the expert for the medium-quality policy (the analogue of D4RL's half-trained agent). */
  mediumNoise: NoiseOptions;
}

/** Every built-in task by name. */
export const TASKS: Record<TaskName, Task> = {
  cartpole: {
    name: 'cartpole',
    make: () => new CartPole(),
    expert: cartPoleExpert,
    mediumNoise: { epsilon: 0.5 },
  },
  pendulum: {
    name: 'pendulum',
    make: () => new Pendulum(),
    expert: pendulumExpert,
    mediumNoise: { epsilon: 0.5, sigma: 0.5 },
  },
  'point-mass': {
    name: 'point-mass',
    make: () => new PointMass(),
    expert: pointMassExpert,
    mediumNoise: { epsilon: 0.8, sigma: 0.5 },
  },
};

/** The task named `name`; throws naming the known tasks when there is none. */
export function getTask(name: string): Task {
  const task = TASKS[name as TaskName];
  if (!task) {
    throw new Error(`unknown task '${name}' (expected one of: ${Object.keys(TASKS).join(', ')})`);
  }
  return task;
}

/** The medium policy of a task: its expert with the task's noise. */
export function mediumPolicy(task: Task): Policy {
  return noisyPolicy(task.expert(), task.make().actionSpace, task.mediumNoise);
}

/** D4RL's reference returns: the random policy's and the expert's average over seeded episodes. */
export interface ReferenceReturns {
  random: number;
  expert: number;
}

/**
 * The random and expert policies' mean returns over `episodes` seeded episodes: the 0 and 100 of
 * D4RL-style normalised scores.
 */
export function referenceReturns(
  task: Task,
  { episodes = 100, seed = 1_000_000 }: { episodes?: number; seed?: number } = {},
): ReferenceReturns {
  const env = task.make();
  return {
    random: averageReturn(env, randomPolicy(env.actionSpace), episodes, seed),
    expert: averageReturn(env, task.expert(), episodes, seed),
  };
}

/** D4RL-style normalised return: 0 at the random policy's average, 100 at the expert's. */
export function normalisedReturn(ret: number, reference: ReferenceReturns): number {
  return (100 * (ret - reference.random)) / (reference.expert - reference.random);
}
