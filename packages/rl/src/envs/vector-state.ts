import { Env } from '../env.js';
import type { Space } from '../spaces.js';

/**
 * What the built-in environments share: the state is one Float64Array of a fixed length, and
 * episodes are truncated at the constructor's `maxEpisodeSteps` option or the environment's default.
 * Not exported: each environment keeps its own public constructor `(options?: { maxEpisodeSteps })`.
 */
export abstract class VectorStateEnv<A extends Space> extends Env<A> {
  readonly maxEpisodeSteps: number;
  /** The environment's state vector (each environment's doc names its coordinates). */
  readonly state: Float64Array;

  protected constructor(
    stateLength: number,
    defaultMaxEpisodeSteps: number,
    options: { maxEpisodeSteps?: number },
  ) {
    super();
    this.state = new Float64Array(stateLength);
    this.maxEpisodeSteps = options.maxEpisodeSteps ?? defaultMaxEpisodeSteps;
  }
}
