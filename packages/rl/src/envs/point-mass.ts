import { type BoxSpace, box } from '../spaces.js';
import { VectorStateEnv } from './vector-state.js';

/**
 * A 2-d point mass pushed towards a goal (a continuous reaching task in the spirit of D4RL's
 * maze2d, without walls): force u ∈ [−1, 1]² (clipped), v' = v + dt·(u/m − c·v), p' = p + dt·v'
 * (semi-implicit Euler) with m = 1, damping c = 1, dt = 0.1. Reward −‖p' − goal‖; never
 * terminates, truncated at 100 steps. Observation (and `state`) [px, py, vx, vy, gx, gy]: position
 * and goal start uniform in [−1, 1]², velocity at 0.
 */
export class PointMass extends VectorStateEnv<BoxSpace> {
  static readonly mass = 1;
  static readonly damping = 1;
  static readonly dt = 0.1;
  static readonly maxForce = 1;

  readonly name = 'PointMass';
  readonly observationSpace = box(
    [-Infinity, -Infinity, -Infinity, -Infinity, -1, -1],
    [Infinity, Infinity, Infinity, Infinity, 1, 1],
  );
  readonly actionSpace = box(
    [-PointMass.maxForce, -PointMass.maxForce],
    [PointMass.maxForce, PointMass.maxForce],
  );

  constructor(options: { maxEpisodeSteps?: number } = {}) {
    super(6, 100, options);
  }

  /** Position and goal uniform in [−1, 1]², velocity 0. */
  protected resetState(): void {
    const s = this.state;
    s[0] = this.uniform(-1, 1);
    s[1] = this.uniform(-1, 1);
    s[2] = 0;
    s[3] = 0;
    s[4] = this.uniform(-1, 1);
    s[5] = this.uniform(-1, 1);
  }

  /** Position, velocity and goal. */
  protected observe(): Float64Array {
    return Float64Array.from(this.state);
  }

  /** One damped step of dt = 0.1 under the clipped force; reward −‖p − goal‖. */
  protected transition(action: Float64Array): { reward: number; terminated: boolean } {
    const P = PointMass;
    const s = this.state;
    for (let i = 0; i < 2; i++) {
      const u = Math.min(P.maxForce, Math.max(-P.maxForce, action[i]!));
      const v = s[2 + i]! + P.dt * (u / P.mass - P.damping * s[2 + i]!);
      s[2 + i] = v;
      s[i] = s[i]! + P.dt * v;
    }
    const distance = Math.hypot(s[0]! - s[4]!, s[1]! - s[5]!);
    return { reward: -distance, terminated: false };
  }
}
