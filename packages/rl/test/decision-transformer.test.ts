import { Generator, noGrad } from '@recur/tensor';
import { describe, expect, it } from 'vitest';
import {
  CartPole,
  DecisionTransformer,
  DecisionTransformerAgent,
  decisionTransformerFor,
  evaluateDecisionTransformer,
  generateDataset,
  observationStats,
  Pendulum,
  referenceReturns,
  TASKS,
  type TrajectoryBatch,
  trainDecisionTransformer,
  WindowSampler,
} from '../src/index.js';

const data = generateDataset(TASKS.cartpole, 'medium', { episodes: 12, seed: 0 });

function tinyModel(backbone: 'aaren' | 'transformer', nLayers = 1) {
  const env = new CartPole();
  return decisionTransformerFor(
    data,
    {
      actionSpace: env.actionSpace,
      backbone,
      maxTimestep: env.maxEpisodeSteps,
      returnScale: 500,
      dModel: 16,
      nHeads: 2,
      nLayers,
    },
    7,
  );
}

/** The agent's history from `from` on, as one parallel batch. */
function historyBatch(agent: DecisionTransformerAgent, from = 0): TrajectoryBatch {
  const h = agent.history;
  const T = h.timesteps.length - from;
  return {
    returnsToGo: Float32Array.from(h.returnsToGo.slice(from)),
    observations: Float32Array.from(h.observations.slice(from).flat()),
    // The last action is not fed before the last output, and a causal model cannot see it anyway.
    actions: Float32Array.from([...h.actions.slice(from).flat(), 0].slice(0, T)),
    timesteps: Int32Array.from(h.timesteps.slice(from)),
    batch: 1,
    length: T,
  };
}

/** Streams `steps` CartPole steps and returns every output of the head. */
function stream(model: DecisionTransformer, steps: number) {
  const env = new CartPole();
  const agent = new DecisionTransformerAgent(model, 400);
  agent.reset();
  let obs = env.reset(3);
  const outputs: Float32Array[] = [];
  for (let t = 0; t < steps; t++) {
    const { action, output } = agent.act(obs);
    outputs.push(output);
    const r = env.step(action);
    agent.observe(r.reward);
    obs = r.observation;
    if (r.terminated || r.truncated) obs = env.reset(4 + t); // keep streaming on a fresh start
  }
  return { agent, outputs };
}

describe('DecisionTransformer', { timeout: 30_000 }, () => {
  it('trains on CartPole medium data: the loss on a fixed batch falls', () => {
    const model = tinyModel('aaren');
    const fixed = new WindowSampler(data, model.options.context).sample(64, new Generator(99));
    const lossOf = () => noGrad(() => model.loss(fixed.batch, fixed.mask).item());
    const before = lossOf();
    const { steps } = trainDecisionTransformer(model, data, { steps: 40, batchSize: 8, lr: 3e-3 });
    expect(steps).toBe(40);
    expect(lossOf()).toBeLessThan(0.9 * before);
  });

  it("Aaren's recurrent step mode gives the parallel forward's actions on the same context", () => {
    const model = tinyModel('aaren', 2);
    trainDecisionTransformer(model, data, { steps: 5, batchSize: 4 });
    // 30 steps: beyond K = 20, Aaren carries its state over the whole episode.
    const { agent, outputs } = stream(model, 30);
    const parallel = noGrad(() => model.forward(historyBatch(agent)).dataSync());
    let maxDiff = 0;
    outputs.forEach((o, t) => {
      for (let i = 0; i < o.length; i++) {
        maxDiff = Math.max(maxDiff, Math.abs((o[i] as number) - (parallel[t * 2 + i] as number)));
      }
    });
    expect(maxDiff).toBeLessThan(1e-4);
    // And the logits are not all alike (the comparison means something).
    expect(Math.abs((outputs[0]?.[0] as number) - (outputs[29]?.[0] as number))).toBeGreaterThan(
      1e-4,
    );
  });

  it("the Transformer's KV cache covers exactly the last K timesteps (1 layer: exact window)", () => {
    const model = tinyModel('transformer', 1);
    trainDecisionTransformer(model, data, { steps: 5, batchSize: 4 });
    const K = model.options.context;
    const { agent, outputs } = stream(model, 33);
    for (const t of [0, 7, K - 1, K, 32]) {
      const from = Math.max(0, t - K + 1);
      const b = historyBatch(agent, from);
      const window = { ...b, length: t - from + 1 };
      window.returnsToGo = b.returnsToGo.slice(0, window.length);
      window.observations = b.observations.slice(0, window.length * 4);
      window.actions = b.actions.slice(0, window.length);
      window.timesteps = b.timesteps.slice(0, window.length);
      const parallel = noGrad(() => model.forward(window).dataSync());
      const last = parallel.slice(-2);
      const o = outputs[t] as Float32Array;
      expect(Math.abs((o[0] as number) - (last[0] as number))).toBeLessThan(1e-4);
      expect(Math.abs((o[1] as number) - (last[1] as number))).toBeLessThan(1e-4);
    }
    // Against the whole history instead of the window, step 32 differs: the cache was trimmed.
    const full = noGrad(() => model.forward(historyBatch(agent)).dataSync());
    expect(Math.abs((outputs[32]?.[0] as number) - (full[64] as number))).toBeGreaterThan(1e-6);
  });

  it('rolls out with normalised returns and steps per second, reproducibly by seed', () => {
    const ref = referenceReturns(TASKS.cartpole, { episodes: 10 });
    const run = () => {
      const model = tinyModel('aaren');
      const train = trainDecisionTransformer(model, data, { steps: 15, batchSize: 8, seed: 1 });
      const env = new CartPole({ maxEpisodeSteps: 60 });
      return {
        losses: train.losses,
        ev: evaluateDecisionTransformer(model, env, {
          episodes: 2,
          seed: 5,
          targetReturn: 500,
          reference: ref,
        }),
      };
    };
    const a = run();
    const b = run();
    expect(b.losses).toEqual(a.losses);
    expect(b.ev.returns).toEqual(a.ev.returns);
    expect(a.ev.envSteps).toBe(a.ev.returns.reduce((x, y) => x + y, 0)); // reward 1 per step
    expect(a.ev.stepsPerSecond).toBeGreaterThan(0);
    expect(a.ev.meanNormalisedReturn).toBeCloseTo(
      (100 * (a.ev.meanReturn - ref.random)) / (ref.expert - ref.random),
      9,
    );
  });

  it('continuous actions: tanh head inside the torque box, masked MSE', () => {
    const pdata = generateDataset(TASKS.pendulum, 'medium', { episodes: 2 });
    const env = new Pendulum({ maxEpisodeSteps: 10 });
    const model = decisionTransformerFor(pdata, {
      actionSpace: env.actionSpace,
      backbone: 'transformer',
      maxTimestep: 200,
      returnScale: 1000,
      dModel: 16,
      nHeads: 2,
      nLayers: 1,
    });
    const { losses } = trainDecisionTransformer(model, pdata, { steps: 3, batchSize: 4 });
    expect(losses.every(Number.isFinite)).toBe(true);
    const ev = evaluateDecisionTransformer(model, env, { episodes: 1, targetReturn: -100 });
    expect(ev.envSteps).toBe(10);
  });

  it('rejects bad options and out-of-order calls', () => {
    const env = new CartPole();
    expect(
      () =>
        new DecisionTransformer({
          observationDim: 4,
          actionSpace: env.actionSpace,
          backbone: 'lstm' as never,
          maxTimestep: 10,
        }),
    ).toThrow(/unknown backbone 'lstm' \(expected aaren or transformer\)/);
    expect(
      () =>
        new DecisionTransformer({
          observationDim: 4,
          actionSpace: env.actionSpace,
          backbone: 'aaren',
          maxTimestep: 10,
          stateMean: [0, 0],
        }),
    ).toThrow(/stateMean\/stateStd must have 4 values, got 2\/4/);
    const agent = new DecisionTransformerAgent(tinyModel('aaren'), 100);
    expect(() => agent.act([0, 0, 0, 0])).toThrow(/call reset\(\) before act\(\)/);
    agent.reset();
    expect(() => agent.observe(1)).toThrow(/observe\(\) without a preceding act\(\)/);
  });
});

describe('observationStats', () => {
  it('is the per-coordinate mean and population std, in float64, std floored at 1e-6', () => {
    const dim = 3;
    // Coordinate 2 is constant: its std is the floor.
    const rows = [
      [1, -2, 5],
      [4, 0.5, 5],
      [-3, 7, 5],
      [10, 1e-3, 5],
    ];
    const ds = {
      observations: Float32Array.from(rows.flat()),
      actions: new Float32Array(rows.length),
      rewards: new Float32Array(rows.length),
      terminals: new Uint8Array(rows.length),
      timeouts: new Uint8Array(rows.length),
      observationDim: dim,
      actionDim: 1,
    };
    const { mean, std } = observationStats(ds);
    for (let j = 0; j < dim; j++) {
      const col = rows.map((r) => Math.fround(r[j]!));
      const m = col.reduce((a, b) => a + b, 0) / col.length;
      const v = col.reduce((a, b) => a + (b - m) ** 2, 0) / col.length;
      expect(mean[j]).toBeCloseTo(m, 5);
      expect(std[j]).toBeCloseTo(Math.max(Math.sqrt(v), 1e-6), 5);
    }
    expect(std[2]).toBeCloseTo(1e-6, 12);
  });
});
