import { describe, expect, it } from 'vitest';
import { CartPole, EnvError, Pendulum, PointMass } from '../src/index.js';

// Reference transitions written from the published equations, independently of src/.
function cartPoleRef(s: number[], action: number): number[] {
  const [x, xd, th, thd] = s as [number, number, number, number];
  const g = 9.8;
  const mc = 1;
  const mp = 0.1;
  const l = 0.5;
  const F = action === 1 ? 10 : -10;
  const dt = 0.02;
  const temp = (F + mp * l * thd ** 2 * Math.sin(th)) / (mc + mp);
  const thAcc =
    (g * Math.sin(th) - Math.cos(th) * temp) / (l * (4 / 3 - (mp * Math.cos(th) ** 2) / (mc + mp)));
  const xAcc = temp - (mp * l * thAcc * Math.cos(th)) / (mc + mp);
  return [x + dt * xd, xd + dt * xAcc, th + dt * thd, thd + dt * thAcc];
}

function pendulumRef(th: number, thd: number, u: number) {
  const uc = Math.max(-2, Math.min(2, u));
  let a = th;
  while (a >= Math.PI) a -= 2 * Math.PI;
  while (a < -Math.PI) a += 2 * Math.PI;
  const reward = -(a * a + 0.1 * thd * thd + 0.001 * uc * uc);
  const newThd = Math.max(-8, Math.min(8, thd + (1.5 * 10 * Math.sin(th) + 3 * uc) * 0.05));
  return { th: th + newThd * 0.05, thd: newThd, reward };
}

describe('CartPole', () => {
  it('follows the Barto–Sutton–Anderson Euler step', () => {
    const env = new CartPole();
    env.reset(3);
    // Put the cart in an adversarial state (large tilt and spin).
    env.state.set([0.3, -1.2, 0.15, 2.5]);
    for (const action of [1, 0, 0, 1]) {
      const expected = cartPoleRef(Array.from(env.state), action);
      const r = env.step(action);
      expect(r.reward).toBe(1);
      for (let i = 0; i < 4; i++) expect(r.observation[i]).toBeCloseTo(expected[i] as number, 12);
      if (r.terminated) break;
    }
  });

  it('terminates past |x| > 2.4 or |θ| > 12°, truncates at 500 steps', () => {
    const env = new CartPole();
    env.reset(0);
    env.state.set([2.39, 1, 0, 0]); // x' = 2.39 + 0.02 = 2.41
    expect(env.step(1).terminated).toBe(true);
    env.reset(0);
    env.state.set([0, 0, 0.2, 1]); // θ' = 0.22 rad > 12° = 0.2094
    const r = env.step(0);
    expect(r.terminated).toBe(true);
    expect(r.truncated).toBe(false);
    env.reset(0);
    env.state.set([0, 0, 0.2, -1]); // θ' = 0.18 rad: still inside
    expect(env.step(0).terminated).toBe(false);

    const short = new CartPole({ maxEpisodeSteps: 3 });
    short.reset(1);
    expect(short.step(0).truncated).toBe(false);
    expect(short.step(1).truncated).toBe(false);
    const last = short.step(0);
    expect(last.truncated).toBe(true);
    expect(last.terminated).toBe(false);
    expect(new CartPole().maxEpisodeSteps).toBe(500);
  });

  it('starts every coordinate in [−0.05, 0.05], reproducibly by seed', () => {
    const env = new CartPole();
    const a = env.reset(42);
    const b = new CartPole().reset(42);
    expect(Array.from(a)).toEqual(Array.from(b));
    expect(Array.from(env.reset(43))).not.toEqual(Array.from(a));
    for (let seed = 0; seed < 50; seed++) {
      for (const v of env.reset(seed)) expect(Math.abs(v)).toBeLessThanOrEqual(0.05);
    }
  });

  it('rejects bad actions and steps after the end with clear messages', () => {
    const env = new CartPole();
    expect(() => env.step(0)).toThrow(/before reset/);
    env.reset(0);
    expect(() => env.step(2)).toThrow(EnvError);
    expect(() => env.step(2)).toThrow(/expected an integer action in \[0, 1\], got 2/);
    expect(() => env.step(0.5)).toThrow(/got 0.5/);
    expect(() => env.step([1])).toThrow(/got a vector of length 1/);
    expect(() => env.step(Number.NaN)).toThrow(/got NaN/);
    env.state.set([2.4, 10, 0, 0]);
    expect(env.step(1).terminated).toBe(true);
    expect(() => env.step(1)).toThrow(/after the episode ended \(after 1 steps\)/);
  });
});

describe('Pendulum', () => {
  it('follows the Gym Pendulum-v1 equations, with torque clipping and wrapped angles', () => {
    const env = new Pendulum();
    env.reset(0);
    const starts: [number, number, number][] = [
      [3.0, 7.9, 2.5], // clipped torque, speed clipped at 8
      [-2.5, -0.3, -1.1],
      [7.0, 1.0, 0.4], // angle outside [−π, π) in the state: the cost wraps it
      [0.01, 0, 0],
    ];
    for (const [th, thd, u] of starts) {
      env.state.set([th, thd]);
      const ref = pendulumRef(th, thd, u);
      const r = env.step([u]);
      expect(r.reward).toBeCloseTo(ref.reward, 12);
      expect(r.observation[0]).toBeCloseTo(Math.cos(ref.th), 12);
      expect(r.observation[1]).toBeCloseTo(Math.sin(ref.th), 12);
      expect(r.observation[2]).toBeCloseTo(ref.thd, 12);
      expect(r.terminated).toBe(false);
    }
  });

  it('truncates at 200 steps and never terminates; seeds reproduce', () => {
    const env = new Pendulum();
    env.reset(5);
    let r = env.step([0]);
    let n = 1;
    while (!r.truncated) {
      expect(r.terminated).toBe(false);
      r = env.step([1]);
      n++;
    }
    expect(n).toBe(200);
    expect(Array.from(new Pendulum().reset(9))).toEqual(Array.from(new Pendulum().reset(9)));
  });

  it('rejects wrong shapes and non-finite torques', () => {
    const env = new Pendulum();
    env.reset(0);
    expect(() => env.step(1)).toThrow(/expected an action vector of length 1, got 1/);
    expect(() => env.step([1, 2])).toThrow(/length 1, got a vector of length 2/);
    expect(() => env.step([Number.NaN])).toThrow(/action\[0\] is NaN; expected a finite number/);
    expect(() => env.step([Number.POSITIVE_INFINITY])).toThrow(/is Infinity/);
  });
});

describe('PointMass', () => {
  it('integrates damped forces (semi-implicit Euler) and rewards −distance to the goal', () => {
    const env = new PointMass();
    const obs = env.reset(11);
    expect(obs[2]).toBe(0);
    expect(obs[3]).toBe(0);
    let [px, py, vx, vy] = [obs[0] as number, obs[1] as number, 0, 0];
    const [gx, gy] = [obs[4] as number, obs[5] as number];
    for (const [ux, uy] of [
      [0.5, -0.25],
      [3, -7], // clipped to (1, −1)
      [-1, 1],
    ] as const) {
      const cx = Math.max(-1, Math.min(1, ux));
      const cy = Math.max(-1, Math.min(1, uy));
      vx = vx + 0.1 * (cx - vx);
      vy = vy + 0.1 * (cy - vy);
      px += 0.1 * vx;
      py += 0.1 * vy;
      const r = env.step([ux, uy]);
      expect(Array.from(r.observation)).toEqual(
        [px, py, vx, vy, gx, gy].map((v) => expect.closeTo(v, 12)),
      );
      expect(r.reward).toBeCloseTo(-Math.hypot(px - gx, py - gy), 12);
    }
  });

  it('truncates at 100 steps; rejects a 1-d action', () => {
    const env = new PointMass();
    env.reset(0);
    expect(() => env.step([1])).toThrow(/length 2, got a vector of length 1/);
    for (let i = 0; i < 99; i++) expect(env.step([0, 0]).truncated).toBe(false);
    expect(env.step([0, 0]).truncated).toBe(true);
    expect(() => env.step([0, 0])).toThrow(/after the episode ended \(after 100 steps\)/);
  });
});
