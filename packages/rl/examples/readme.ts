// The README's example (test/readme.test.ts checks that the README shows exactly this code).
import {
  CartPole,
  decisionTransformerFor,
  episodeReturns,
  evaluateDecisionTransformer,
  generateDataset,
  normalisedReturn,
  referenceReturns,
  returnToGo,
  runEpisode,
  TASKS,
  trainDecisionTransformer,
} from '@recur/rl';

// An environment with a Gym-like API, and its scripted expert.
const env = new CartPole();
const expert = runEpisode(env, TASKS.cartpole.expert(), 0);
console.log(`expert return: ${expert.return}`);

// A D4RL-style "medium" dataset: the expert with 50 % random actions.
const data = generateDataset(TASKS.cartpole, 'medium', { episodes: 20, seed: 0 });
const returns = episodeReturns(data);
const reference = referenceReturns(TASKS.cartpole); // random and expert averages
const dataMean = returns.reduce((a, b) => a + b, 0) / returns.length;
console.log(
  `${data.rewards.length} transitions, first return-to-go ${returnToGo(data)[0]}, ` +
    `data normalised return ${normalisedReturn(dataMean, reference).toFixed(1)}`,
);

// A Decision Transformer with an Aaren backbone, trained by action prediction on windows of K = 20.
const model = decisionTransformerFor(data, {
  actionSpace: env.actionSpace,
  backbone: 'aaren',
  maxTimestep: env.maxEpisodeSteps,
  returnScale: 500,
  dModel: 16,
  nLayers: 1,
  nHeads: 2,
});
const { losses } = trainDecisionTransformer(model, data, { steps: 60, batchSize: 16 });
console.log(`loss ${losses[0]?.toFixed(3)} → ${losses.at(-1)?.toFixed(3)}`);

// Rolled out one token at a time: Aaren carries a constant-size state across the whole episode.
const result = evaluateDecisionTransformer(model, new CartPole({ maxEpisodeSteps: 200 }), {
  episodes: 2,
  targetReturn: Math.max(...returns),
  reference,
});
console.log(
  `returns ${result.returns.join(', ')}; ${result.stepsPerSecond.toFixed(0)} environment steps/s`,
);
