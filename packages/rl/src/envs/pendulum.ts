import { type BoxSpace, box } from '../spaces.js';
import { VectorStateEnv } from './vector-state.js';

/** Wraps an angle into [−π, π). */
export function wrapAngle(theta: number): number {
  return ((((theta + Math.PI) % (2 * Math.PI)) + 2 * Math.PI) % (2 * Math.PI)) - Math.PI;
}

/**
 * Torque-limited pendulum swing-up with Gym's Pendulum-v1 dynamics: θ = 0 is upright,
 * θ̈ = 3g/(2l)·sin θ + 3/(m l²)·u with g = 10, m = l = 1, dt = 0.05 (semi-implicit Euler: θ̇ first,
 * clipped to ±8, then θ), torque u clipped to [−2, 2]. Reward −(θ² + 0.1 θ̇² + 0.001 u²) with θ
 * wrapped into [−π, π); never terminates, truncated at 200 steps. Observation [cos θ, sin θ, θ̇];
 * `state` is [θ, θ̇], θ starting uniform in [−π, π), θ̇ in [−1, 1].
 */
export class Pendulum extends VectorStateEnv<BoxSpace> {
  static readonly gravity = 10;
  static readonly mass = 1;
  static readonly poleLength = 1;
  static readonly dt = 0.05;
  static readonly maxTorque = 2;
  static readonly maxSpeed = 8;

  readonly name = 'Pendulum';
  readonly observationSpace = box([-1, -1, -Pendulum.maxSpeed], [1, 1, Pendulum.maxSpeed]);
  readonly actionSpace = box([-Pendulum.maxTorque], [Pendulum.maxTorque]);

  constructor(options: { maxEpisodeSteps?: number } = {}) {
    super(2, 200, options);
  }

  /** θ uniform in ±π and θ̇ in ±1, as Gym. */
  protected resetState(): void {
    this.state[0] = this.uniform(-Math.PI, Math.PI);
    this.state[1] = this.uniform(-1, 1);
  }

  /** (cos θ, sin θ, θ̇). */
  protected observe(): Float64Array {
    const [theta, thetaDot] = [this.state[0]!, this.state[1]!];
    return Float64Array.of(Math.cos(theta), Math.sin(theta), thetaDot);
  }

  /**
   * One step of Gym's Pendulum-v1 under the clipped torque; reward −(θ² + 0.1θ̇² + 0.001u²); never
   * terminates.
   */
  protected transition(action: Float64Array): { reward: number; terminated: boolean } {
    const P = Pendulum;
    const [theta, thetaDot] = [this.state[0]!, this.state[1]!];
    const u = Math.min(P.maxTorque, Math.max(-P.maxTorque, action[0]!));
    const th = wrapAngle(theta);
    const cost = th * th + 0.1 * thetaDot * thetaDot + 0.001 * u * u;
    const acc =
      ((3 * P.gravity) / (2 * P.poleLength)) * Math.sin(theta) +
      (3 / (P.mass * P.poleLength ** 2)) * u;
    const newThetaDot = Math.min(P.maxSpeed, Math.max(-P.maxSpeed, thetaDot + acc * P.dt));
    this.state[0] = theta + newThetaDot * P.dt;
    this.state[1] = newThetaDot;
    return { reward: -cost, terminated: false };
  }
}
