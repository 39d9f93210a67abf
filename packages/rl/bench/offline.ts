// The offline-RL setting of "Attention as an RNN" at a size that runs on a laptop: for each task and
// dataset quality, a Decision Transformer with an Aaren and with a Transformer backbone, same data,
// same budget and seed; normalised return (0 = random, 100 = expert) and environment steps per
// second while rolling out (Aaren: recurrent state; Transformer: KV cache over K = 20 steps).
// Usage: pnpm --filter @recur/rl bench [-- --steps 300 --tasks cartpole,pendulum --seeds 1]
import { parseArgs } from 'node:util';
import {
  DATASET_QUALITIES,
  referenceReturns,
  runOfflineRl,
  TASKS,
  type TaskName,
} from '../src/index.js';

const { values } = parseArgs({
  options: {
    steps: { type: 'string', default: '300' },
    tasks: { type: 'string', default: 'cartpole,pendulum,point-mass' },
    qualities: { type: 'string', default: DATASET_QUALITIES.join(',') },
    seeds: { type: 'string', default: '1' },
    episodes: { type: 'string', default: '5' },
  },
});
const seeds = Number(values.seeds);
console.log(
  '| task | data | backbone | normalised return (mean over seeds) | env steps/s | train s |',
);
console.log('| --- | --- | --- | ---: | ---: | ---: |');
for (const name of values.tasks.split(',') as TaskName[]) {
  const reference = referenceReturns(TASKS[name]);
  for (const quality of values.qualities.split(',') as (typeof DATASET_QUALITIES)[number][]) {
    const speed: Record<string, number> = {};
    for (const backbone of ['aaren', 'transformer'] as const) {
      let norm = 0;
      let sps = 0;
      let secs = 0;
      for (let seed = 0; seed < seeds; seed++) {
        const r = runOfflineRl({
          task: name,
          quality,
          backbone,
          seed,
          trainSteps: Number(values.steps),
          evalEpisodes: Number(values.episodes),
          reference,
        });
        norm += r.normalisedReturn / seeds;
        sps += r.envStepsPerSecond / seeds;
        secs += r.trainSeconds / seeds;
      }
      speed[backbone] = sps;
      console.log(
        `| ${name} | ${quality} | ${backbone} | ${norm.toFixed(1)} | ${sps.toFixed(0)} | ${secs.toFixed(1)} |`,
      );
    }
    console.log(
      `|  |  | aaren / transformer steps/s | ${((speed.aaren as number) / (speed.transformer as number)).toFixed(2)}× |  |  |`,
    );
  }
}
