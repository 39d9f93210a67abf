import { box, type DiscreteSpace, discrete } from '../spaces.js';
import { VectorStateEnv } from './vector-state.js';

/**
 * Cart-pole balancing (Barto, Sutton & Anderson 1983) with the constants and Euler integration of
 * Gym's CartPole-v1: action 0 pushes the cart left with 10 N, 1 right; reward 1 per step (the last
 * one included); the episode terminates when |x| > 2.4 or |θ| > 12°, and is truncated at 500 steps.
 * Observation (and `state`) [x, ẋ, θ, θ̇]; every coordinate starts uniform in [−0.05, 0.05].
 */
export class CartPole extends VectorStateEnv<DiscreteSpace> {
  static readonly gravity = 9.8;
  static readonly massCart = 1.0;
  static readonly massPole = 0.1;
  /** Half the pole's length. */
  static readonly halfLength = 0.5;
  static readonly forceMag = 10.0;
  static readonly tau = 0.02;
  static readonly xThreshold = 2.4;
  static readonly thetaThreshold = (12 * 2 * Math.PI) / 360;

  readonly name = 'CartPole';
  readonly observationSpace = box(
    [-4.8, -Infinity, -2 * CartPole.thetaThreshold, -Infinity],
    [4.8, Infinity, 2 * CartPole.thetaThreshold, Infinity],
  );
  readonly actionSpace = discrete(2);

  constructor(options: { maxEpisodeSteps?: number } = {}) {
    super(4, 500, options);
  }

  /** Each of x, ẋ, θ, θ̇ uniform in ±0.05, as Gym. */
  protected resetState(): void {
    for (let i = 0; i < 4; i++) this.state[i] = this.uniform(-0.05, 0.05);
  }

  /** (x, ẋ, θ, θ̇). */
  protected observe(): Float64Array {
    return Float64Array.from(this.state);
  }

  /**
   * One Euler step of τ = 0.02 s under a force of ∓10 N; reward 1, terminated when the cart or the
   * pole leaves its bounds.
   */
  protected transition(action: number): { reward: number; terminated: boolean } {
    const C = CartPole;
    const s = this.state;
    const [x, xDot, theta, thetaDot] = [s[0]!, s[1]!, s[2]!, s[3]!];
    const force = action === 1 ? C.forceMag : -C.forceMag;
    const total = C.massCart + C.massPole;
    const poleMassLength = C.massPole * C.halfLength;
    const cos = Math.cos(theta);
    const sin = Math.sin(theta);
    const temp = (force + poleMassLength * thetaDot * thetaDot * sin) / total;
    const thetaAcc =
      (C.gravity * sin - cos * temp) / (C.halfLength * (4 / 3 - (C.massPole * cos * cos) / total));
    const xAcc = temp - (poleMassLength * thetaAcc * cos) / total;
    s[0] = x + C.tau * xDot;
    s[1] = xDot + C.tau * xAcc;
    s[2] = theta + C.tau * thetaDot;
    s[3] = thetaDot + C.tau * thetaAcc;
    const terminated =
      Math.abs(s[0] as number) > C.xThreshold || Math.abs(s[2] as number) > C.thetaThreshold;
    return { reward: 1, terminated };
  }
}
