import { Generator } from '@recur/tensor';
import { describe, expect, it } from 'vitest';
import { generateDataset, returnToGo, runOfflineRl, TASKS, WindowSampler } from '../src/index.js';

describe('WindowSampler', () => {
  it('draws windows inside one episode, padded at the right, with episode timesteps', () => {
    const ds = generateDataset(TASKS.cartpole, 'medium-replay', { episodes: 5, seed: 2 });
    const rtg = returnToGo(ds);
    const sampler = new WindowSampler(ds, 20);
    const { batch, mask } = sampler.sample(64, new Generator(0));
    let padded = 0;
    for (let b = 0; b < 64; b++) {
      // Find the window's rows again by matching its first observation.
      const first = batch.observations.subarray(b * 20 * 4, b * 20 * 4 + 4);
      let row = -1;
      for (let i = 0; i < ds.rewards.length && row < 0; i++) {
        if (ds.observations.subarray(i * 4, i * 4 + 4).every((v, k) => v === first[k])) row = i;
      }
      expect(row).toBeGreaterThanOrEqual(0);
      let epStart = row;
      while (epStart > 0 && !ds.terminals[epStart - 1] && !ds.timeouts[epStart - 1]) epStart--;
      for (let t = 0; t < 20; t++) {
        const j = b * 20 + t;
        if (!mask[j]) {
          padded++;
          expect(batch.returnsToGo[j]).toBe(0);
          // Once padded, padded to the end, and only after the episode's last row.
          for (let u = t; u < 20; u++) expect(mask[b * 20 + u]).toBe(0);
          expect(ds.terminals[row + t - 1] || ds.timeouts[row + t - 1]).toBeTruthy();
          break;
        }
        expect(batch.timesteps[j]).toBe(row + t - epStart);
        expect(batch.returnsToGo[j]).toBe(rtg[row + t]);
        expect(batch.actions[j]).toBe(ds.actions[row + t]);
      }
    }
    expect(padded).toBeGreaterThan(0); // short random episodes make padding certain
  });
});

describe('runOfflineRl', () => {
  it('runs one small experiment end to end and is reproducible by seed', {
    timeout: 30_000,
  }, () => {
    const reference = { random: 20, expert: 500 };
    const opts = {
      task: 'cartpole' as const,
      quality: 'medium-expert' as const,
      backbone: 'transformer' as const,
      datasetEpisodes: 4,
      trainSteps: 3,
      batchSize: 4,
      evalEpisodes: 1,
      dModel: 8,
      nLayers: 1,
      reference,
    };
    const a = runOfflineRl(opts);
    expect(a.trainSteps).toBe(3);
    expect(a.targetReturn).toBe(500); // the expert half of the data
    expect(a.normalisedReturn).toBeCloseTo((100 * (a.meanReturn - 20)) / 480, 9);
    expect(a.parameters).toBeGreaterThan(0);
    expect(a.envStepsPerSecond).toBeGreaterThan(0);
    const b = runOfflineRl(opts);
    expect(b.returns).toEqual(a.returns);
    expect(b.finalLoss).toBe(a.finalLoss);
    expect(() => runOfflineRl({ ...opts, task: 'hopper' as never })).toThrow(
      /unknown task 'hopper' \(expected one of: cartpole, pendulum, point-mass\)/,
    );
  });
});
