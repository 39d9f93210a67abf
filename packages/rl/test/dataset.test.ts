import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import h5wasm from 'h5wasm/node';
import { afterAll, describe, expect, it } from 'vitest';
import {
  averageReturn,
  episodeRanges,
  episodeReturns,
  generateDataset,
  mediumPolicy,
  type OfflineDataset,
  readD4rlHdf5,
  returnToGo,
  TASKS,
  writeD4rlHdf5,
} from '../src/index.js';

const dir = mkdtempSync(join(tmpdir(), 'recur-rl-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function mean(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

describe('offline datasets', () => {
  it('store episodes in D4RL layout with terminals and timeouts where they ended', () => {
    const ds = generateDataset(TASKS.cartpole, 'medium', { episodes: 6, seed: 3 });
    const ranges = episodeRanges(ds);
    expect(ranges).toHaveLength(6);
    expect(ds.observations.length).toBe(ds.rewards.length * 4);
    expect(ds.actions.length).toBe(ds.rewards.length);
    for (const [s, e] of ranges) {
      const flags = (ds.terminals[e - 1] as number) + (ds.timeouts[e - 1] as number);
      expect(flags).toBe(1);
      for (let i = s; i < e - 1; i++) expect(ds.terminals[i]! + ds.timeouts[i]!).toBe(0);
      // A timeout only at the 500-step limit.
      expect(ds.timeouts[e - 1]).toBe(e - s === 500 ? 1 : 0);
    }
    // Identical for the same seed.
    const again = generateDataset(TASKS.cartpole, 'medium', { episodes: 6, seed: 3 });
    expect(again.observations).toEqual(ds.observations);
  });

  it('return-to-go is the sum of the rest of the episode (naive double loop)', () => {
    const ds: OfflineDataset = {
      observations: new Float32Array(5),
      actions: new Float32Array(5),
      rewards: Float32Array.of(1, 2, 3, -4, 5),
      terminals: Uint8Array.of(0, 1, 0, 0, 0),
      timeouts: Uint8Array.of(0, 0, 0, 0, 0), // last episode cut at the end of the data
      observationDim: 1,
      actionDim: 1,
    };
    expect(Array.from(returnToGo(ds))).toEqual([3, 2, 4, 1, 5]);
    const g = 0.5;
    const disc = returnToGo(ds, g);
    const ends = [2, 2, 5, 5, 5];
    for (let i = 0; i < 5; i++) {
      let want = 0;
      for (let j = i; j < (ends[i] as number); j++)
        want += g ** (j - i) * (ds.rewards[j] as number);
      expect(disc[i]).toBeCloseTo(want, 6);
    }
  });

  it('qualities order as in D4RL: medium-replay < medium < medium-expert', () => {
    for (const task of [TASKS.cartpole, TASKS.pendulum]) {
      const ret = (q: 'medium' | 'medium-replay' | 'medium-expert') =>
        mean(episodeReturns(generateDataset(task, q, { episodes: 10, seed: 1 })));
      const medium = ret('medium');
      expect(ret('medium-replay')).toBeLessThan(medium);
      expect(ret('medium-expert')).toBeGreaterThan(medium);
      // The medium data is the medium policy's.
      expect(medium).toBeCloseTo(averageReturn(task.make(), mediumPolicy(task), 10, 1), 3);
    }
    const replay = episodeReturns(
      generateDataset(TASKS.cartpole, 'medium-replay', { episodes: 20 }),
    );
    expect(mean(replay.slice(10))).toBeGreaterThan(mean(replay.slice(0, 10))); // getting better
  });

  it('rejects a bad number of episodes', () => {
    expect(() => generateDataset(TASKS.cartpole, 'medium', { episodes: 0 })).toThrow(
      /episodes must be a positive integer, got 0/,
    );
    expect(() => generateDataset(TASKS.cartpole, 'expert' as never, { episodes: 1 })).toThrow(
      /unknown quality 'expert'/,
    );
  });
});

describe('D4RL HDF5 files', () => {
  it('round-trip through writeD4rlHdf5 / readD4rlHdf5', async () => {
    const ds = generateDataset(TASKS.pendulum, 'medium-expert', { episodes: 2 });
    const path = join(dir, 'pendulum.hdf5');
    await writeD4rlHdf5(path, ds);
    expect(readdirSync(dir)).toEqual(['pendulum.hdf5']);
    const back = await readD4rlHdf5(path);
    expect(back).toEqual(ds);
  });

  it('refuse to write a bad dataset, and leave no file behind when writing fails', async () => {
    const ds = generateDataset(TASKS.cartpole, 'medium', { episodes: 1 });
    const before = readdirSync(dir);
    const bad = { ...ds, rewards: ds.rewards.map((r, i) => (i === 2 ? Number.NaN : r)) };
    await expect(writeD4rlHdf5(join(dir, 'bad.hdf5'), bad)).rejects.toThrow(
      /'rewards' value 2 is NaN/,
    );
    const short = { ...ds, timeouts: ds.timeouts.subarray(1) };
    await expect(writeD4rlHdf5(join(dir, 'short.hdf5'), short)).rejects.toThrow(
      new RegExp(`'timeouts' has ${ds.rewards.length - 1} values, expected ${ds.rewards.length}`),
    );
    await expect(writeD4rlHdf5(join(dir, 'missing-dir', 'x.hdf5'), ds)).rejects.toThrow(
      /the directory .*missing-dir does not exist/,
    );
    expect(readdirSync(dir)).toEqual(before);
  });

  it("read a file laid out as D4RL's (float64, bool-like int8 flags, extra keys)", async () => {
    await h5wasm.ready;
    const path = join(dir, 'd4rl-like.hdf5');
    const f = new h5wasm.File(path, 'w');
    f.create_dataset({
      name: 'observations',
      data: Float64Array.of(1, 2, 3, 4, 5, 6),
      shape: [3, 2],
    });
    f.create_dataset({ name: 'actions', data: Float64Array.of(0.5, -0.5, 0.25), shape: [3, 1] });
    f.create_dataset({ name: 'rewards', data: Float64Array.of(1, 0, 2), shape: [3] });
    f.create_dataset({ name: 'terminals', data: Int8Array.of(0, 1, 0), shape: [3], dtype: '<b' });
    f.create_dataset({ name: 'timeouts', data: Int8Array.of(0, 0, 1), shape: [3], dtype: '<b' });
    f.create_dataset({ name: 'next_observations', data: new Float64Array(6), shape: [3, 2] });
    f.create_group('infos').create_dataset({ name: 'qpos', data: new Float64Array(3), shape: [3] });
    f.close();
    const ds = await readD4rlHdf5(path);
    expect(ds.observationDim).toBe(2);
    expect(ds.actionDim).toBe(1);
    expect(Array.from(ds.observations)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(Array.from(ds.actions)).toEqual([0.5, -0.5, 0.25]);
    expect(Array.from(ds.terminals)).toEqual([0, 1, 0]);
    expect(Array.from(ds.timeouts)).toEqual([0, 0, 1]);
    expect(Array.from(returnToGo(ds))).toEqual([1, 0, 2]);
  });

  it('name a missing file and a file that is not HDF5', async () => {
    await expect(readD4rlHdf5(join(dir, 'absent.hdf5'))).rejects.toThrow(/no such file .*absent/);
    const text = join(dir, 'not.hdf5');
    writeFileSync(text, 'observations,actions\n1,2\n');
    await expect(readD4rlHdf5(text)).rejects.toThrow(/not\.hdf5 is not an HDF5 file/);
    rmSync(text);
  });

  it('name the missing key, and refuse mismatched lengths', async () => {
    await h5wasm.ready;
    const path = join(dir, 'broken.hdf5');
    const f = new h5wasm.File(path, 'w');
    f.create_dataset({ name: 'observations', data: new Float32Array(4), shape: [2, 2] });
    f.create_dataset({ name: 'actions', data: new Float32Array(2), shape: [2, 1] });
    f.create_dataset({ name: 'rewards', data: new Float32Array(3), shape: [3] });
    f.close();
    await expect(readD4rlHdf5(path)).rejects.toThrow(
      /expected a dataset 'terminals'.*found nothing/,
    );
    const g = new h5wasm.File(path, 'a');
    g.create_dataset({ name: 'terminals', data: new Uint8Array(3), shape: [3] });
    g.create_dataset({ name: 'timeouts', data: new Uint8Array(3), shape: [3] });
    g.close();
    await expect(readD4rlHdf5(path)).rejects.toThrow(/'rewards' has 3 rows, 'observations' 2/);
  });
});
