import { Generator } from '@recur/tensor';
import type { BoxSpace, DiscreteSpace, Space } from './spaces.js';

/** What `step` returns, as in Gymnasium: `terminated` ends the task, `truncated` the time limit. */
export interface StepResult {
  observation: Float64Array;
  reward: number;
  terminated: boolean;
  truncated: boolean;
}

/** An action: an integer for a discrete space, a vector of the box's length for a continuous one. */
export type Action = number | ArrayLike<number>;

/**
 * The error an environment throws on misuse (a bad seed, a step before reset() or after the end, an
 * action outside the space), prefixed with the environment's name.
 */
export class EnvError extends Error {
  constructor(env: string, message: string) {
    super(`${env}: ${message}`);
    this.name = 'EnvError';
  }
}

/**
 * A small Gym-like environment: `reset(seed)` starts an episode (the seed fixes everything random
 * in it), `step(action)` advances one step. Subclasses implement the dynamics in `transition`; the
 * base class checks actions, counts steps, applies the time limit and refuses steps after the end.
 */
export abstract class Env<A extends Space = Space> {
  abstract readonly name: string;
  abstract readonly observationSpace: BoxSpace;
  abstract readonly actionSpace: A;
  /** Episodes are truncated after this many steps. */
  abstract readonly maxEpisodeSteps: number;

  protected rng = new Generator(0);
  private stepsTaken = 0;
  private done = true;

  /** Starts an episode. With a seed it is reproducible; without one it continues the generator. */
  reset(seed?: number): Float64Array {
    if (seed !== undefined) {
      if (!Number.isInteger(seed)) {
        throw new EnvError(this.name, `reset: expected an integer seed, got ${seed}`);
      }
      this.rng = new Generator(seed);
    }
    this.stepsTaken = 0;
    this.done = false;
    this.resetState();
    return this.observe();
  }

  /**
   * Applies `action` and returns the next observation, the reward and whether the episode
   * terminated or was truncated at maxEpisodeSteps; throws before reset() and after the end.
   */
  step(action: Action): StepResult {
    if (this.done) {
      throw new EnvError(
        this.name,
        this.stepsTaken === 0
          ? 'step called before reset()'
          : `step called after the episode ended (after ${this.stepsTaken} steps); call reset() first`,
      );
    }
    const checked = this.checkAction(action);
    const { reward, terminated } = this.transition(checked);
    this.stepsTaken++;
    const truncated = !terminated && this.stepsTaken >= this.maxEpisodeSteps;
    this.done = terminated || truncated;
    return { observation: this.observe(), reward, terminated, truncated };
  }

  /** Steps taken in the current episode. */
  get elapsedSteps(): number {
    return this.stepsTaken;
  }

  /** Draws the initial state from the environment's generator (seeded by reset). */
  protected abstract resetState(): void;
  /** The observation of the current state. */
  protected abstract observe(): Float64Array;
  /** Advances the state by one checked action; returns the reward and whether the task ended. */
  protected abstract transition(action: A extends DiscreteSpace ? number : Float64Array): {
    reward: number;
    terminated: boolean;
  };

  /** Uniform in [low, high) from the episode's generator. */
  protected uniform(low: number, high: number): number {
    return low + (high - low) * this.rng.nextFloat();
  }

  private checkAction(action: Action): A extends DiscreteSpace ? number : Float64Array {
    const space = this.actionSpace;
    if (space.kind === 'discrete') {
      if (
        typeof action !== 'number' ||
        !Number.isInteger(action) ||
        action < 0 ||
        action >= space.n
      ) {
        throw new EnvError(
          this.name,
          `expected an integer action in [0, ${space.n - 1}], got ${describe(action)}`,
        );
      }
      return action as never;
    }
    const dim = space.shape[0];
    if (typeof action === 'number' || action.length !== dim) {
      throw new EnvError(
        this.name,
        `expected an action vector of length ${dim}, got ${describe(action)}`,
      );
    }
    const out = new Float64Array(dim);
    for (let i = 0; i < dim; i++) {
      const v = Number(action[i]);
      if (!Number.isFinite(v)) {
        throw new EnvError(this.name, `action[${i}] is ${v}; expected a finite number`);
      }
      out[i] = v;
    }
    return out as never;
  }
}

function describe(action: unknown): string {
  if (typeof action === 'number') return String(action);
  if (action !== null && typeof action === 'object' && 'length' in action) {
    return `a vector of length ${(action as ArrayLike<number>).length}`;
  }
  return typeof action;
}
