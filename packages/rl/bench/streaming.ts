// Environment steps per second of a Decision Transformer rolled out token by token, Aaren (state
// carried across the episode) beside the Transformer (KV cache over the last K timesteps), for
// several context lengths K, measured side by side in one run. The models are untrained (speed does
// not depend on the weights); Pendulum never terminates, so every episode has the same length.
// Usage: pnpm --filter @recur/rl bench:streaming [-- --contexts 20,100,300 --steps 600]
import { parseArgs } from 'node:util';
import { getNumThreads } from '@recur/tensor';
import { DecisionTransformer, evaluateDecisionTransformer, Pendulum } from '../src/index.js';

const { values } = parseArgs({
  options: {
    contexts: { type: 'string', default: '20,100,300' },
    steps: { type: 'string', default: '600' },
  },
});
const steps = Number(values.steps);
console.log(`Node ${process.version}, ${getNumThreads()} threads, ${steps}-step Pendulum episode`);
console.log('| K | aaren steps/s | transformer steps/s | aaren / transformer |');
console.log('| ---: | ---: | ---: | ---: |');
for (const K of values.contexts.split(',').map(Number)) {
  const env = new Pendulum({ maxEpisodeSteps: steps });
  const rate = (backbone: 'aaren' | 'transformer') => {
    const model = new DecisionTransformer({
      observationDim: 3,
      actionSpace: env.actionSpace,
      backbone,
      context: K,
      maxTimestep: steps,
      dModel: 32,
      nLayers: 2,
      nHeads: 2,
    });
    model.eval();
    return evaluateDecisionTransformer(model, env, { episodes: 1, targetReturn: 0 }).stepsPerSecond;
  };
  rate('aaren'); // warm-up
  const a = rate('aaren');
  const t = rate('transformer');
  console.log(`| ${K} | ${a.toFixed(0)} | ${t.toFixed(0)} | ${(a / t).toFixed(2)}× |`);
}
