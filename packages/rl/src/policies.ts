import { Generator } from '@recur/tensor';
import { lqrGain } from './control.js';
import type { Action, Env } from './env.js';
import { CartPole } from './envs/cartpole.js';
import { Pendulum, wrapAngle } from './envs/pendulum.js';
import { PointMass } from './envs/point-mass.js';
import type { Space } from './spaces.js';

/** A policy maps an observation to an action; `rng` is its own seeded generator (for noise). */
export type Policy = (observation: Float64Array, rng: Generator) => Action;

/** Uniformly random actions from a space. */
export function randomPolicy(space: Space): Policy {
  return (_obs, rng) => {
    if (space.kind === 'discrete') return rng.nextInt(0, space.n);
    return Array.from(space.low, (low, i) => low + (space.high[i]! - low) * rng.nextFloat());
  };
}

/**
 * Noise that turns the expert into a weaker policy: random actions with probability epsilon, and
 * Gaussian noise on continuous actions.
 */
export interface NoiseOptions {
  /** Probability of replacing the action by a uniformly random one. */
  epsilon?: number;
  /** Standard deviation of Gaussian noise added to a continuous action, as a fraction of its range. */
  sigma?: number;
}

/** A policy made worse on purpose: ε-random actions and, for continuous spaces, Gaussian noise. */
export function noisyPolicy(
  policy: Policy,
  space: Space,
  { epsilon = 0, sigma = 0 }: NoiseOptions,
): Policy {
  const random = randomPolicy(space);
  return (obs, rng) => {
    if (rng.nextFloat() < epsilon) return random(obs, rng);
    const a = policy(obs, rng);
    if (space.kind === 'discrete' || sigma === 0) return a;
    return Array.from(a as ArrayLike<number>, (v, i) => {
      const low = space.low[i]!;
      const high = space.high[i]!;
      return Math.min(high, Math.max(low, v + sigma * (high - low) * rng.nextNormal()));
    });
  };
}

let cartPoleGain: number[] | undefined;

/**
 * CartPole expert: the LQR gain of the dynamics linearised at the upright rest point (Euler step of
 * τ = 0.02), applied bang-bang — push right when −K·s > 0.
 */
export function cartPoleExpert(): Policy {
  cartPoleGain ??= cartPoleLqr();
  const K = cartPoleGain;
  return (s) => {
    let u = 0;
    for (let i = 0; i < 4; i++) u -= K[i]! * s[i]!;
    return u > 0 ? 1 : 0;
  };
}

function cartPoleLqr(): number[] {
  const C = CartPole;
  const total = C.massCart + C.massPole;
  const den = C.halfLength * (4 / 3 - C.massPole / total);
  // Continuous linearisation: θ̈ = g θ/den − F/(M den); ẍ = F/M − (m l/M) θ̈.
  const thetaTheta = C.gravity / den;
  const thetaF = -1 / (total * den);
  const ml = (C.massPole * C.halfLength) / total;
  const xTheta = -ml * thetaTheta;
  const xF = 1 / total - ml * thetaF;
  const t = C.tau;
  const A = [
    [1, t, 0, 0],
    [0, 1, t * xTheta, 0],
    [0, 0, 1, t],
    [0, 0, t * thetaTheta, 1],
  ];
  const B = [0, t * xF, 0, t * thetaF];
  return lqrGain(
    A,
    B,
    [
      [1, 0, 0, 0],
      [0, 1, 0, 0],
      [0, 0, 10, 0],
      [0, 0, 0, 1],
    ],
    0.1,
  );
}

/**
 * Pendulum expert: energy pumping to swing up (E = ½θ̇² + 15(cos θ − 1) is 0 upright at rest and
 * dE/dt = 3uθ̇, so u ∝ −E·θ̇ drives E to 0), then LQR on the linearisation θ̈ = 15θ + 3u near the top.
 */
export function pendulumExpert(): Policy {
  const P = Pendulum;
  const a = (3 * P.gravity) / (2 * P.poleLength);
  const b = 3 / (P.mass * P.poleLength ** 2);
  const dt = P.dt;
  // Semi-implicit Euler: θ̇' = θ̇ + dt(aθ + bu), θ' = θ + dt θ̇'.
  const A = [
    [1 + dt * dt * a, dt],
    [dt * a, 1],
  ];
  const B = [dt * dt * b, dt * b];
  const K = lqrGain(
    A,
    B,
    [
      [1, 0],
      [0, 0.1],
    ],
    0.001,
  );
  return (obs) => {
    const theta = Math.atan2(obs[1]!, obs[0]!);
    const thetaDot = obs[2]!;
    const clip = (u: number) => Math.min(P.maxTorque, Math.max(-P.maxTorque, u));
    if (Math.abs(wrapAngle(theta)) < 0.6) {
      return [clip(-K[0]! * theta - K[1]! * thetaDot)];
    }
    const energy = 0.5 * thetaDot * thetaDot + a * (Math.cos(theta) - 1);
    return [clip(-2 * energy * thetaDot)];
  };
}

/** Point-mass expert: proportional-derivative control towards the goal. */
export function pointMassExpert(): Policy {
  const kp = 4;
  const kd = 3;
  return (obs) => {
    const out = [0, 0];
    for (let i = 0; i < 2; i++) {
      const u = kp * (obs[4 + i]! - obs[i]!) - kd * obs[2 + i]!;
      out[i] = Math.min(PointMass.maxForce, Math.max(-PointMass.maxForce, u));
    }
    return out;
  };
}

/** One recorded episode: observations, actions and rewards per step, and how it ended. */
export interface Episode {
  observations: Float64Array[];
  actions: Action[];
  rewards: number[];
  terminated: boolean;
  truncated: boolean;
  return: number;
}

/** Runs one episode: the environment is reset with `seed`, the policy's generator seeded from it. */
export function runEpisode(env: Env, policy: Policy, seed: number): Episode {
  const rng = new Generator(seed * 2 + 1);
  let obs = env.reset(seed);
  const episode: Episode = {
    observations: [],
    actions: [],
    rewards: [],
    terminated: false,
    truncated: false,
    return: 0,
  };
  for (;;) {
    const action = policy(obs, rng);
    const step = env.step(action);
    episode.observations.push(obs);
    episode.actions.push(action);
    episode.rewards.push(step.reward);
    episode.return += step.reward;
    obs = step.observation;
    if (step.terminated || step.truncated) {
      episode.terminated = step.terminated;
      episode.truncated = step.truncated;
      return episode;
    }
  }
}

/** Mean undiscounted return over `episodes` episodes seeded seed, seed + 1, … */
export function averageReturn(env: Env, policy: Policy, episodes: number, seed: number): number {
  let total = 0;
  for (let i = 0; i < episodes; i++) total += runEpisode(env, policy, seed + i).return;
  return total / episodes;
}
