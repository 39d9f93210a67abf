import { type DecisionTransformer, DecisionTransformerAgent } from './decision-transformer.js';
import type { Env } from './env.js';
import { normalisedReturn, type ReferenceReturns } from './tasks.js';

/**
 * Options of evaluate: episodes and their seed, the target return, and reference returns for
 * normalised scores.
 */
export interface EvaluateOptions {
  /** Episodes to roll out, seeded seed, seed + 1, … Default 5. */
  episodes?: number;
  seed?: number;
  /** The return the policy is conditioned on at the first step. */
  targetReturn: number;
  /** When given, the result carries D4RL-style normalised returns. */
  reference?: ReferenceReturns;
}

/**
 * What evaluate returns: each episode's return and their mean, normalised too when references were
 * given, and the steps taken.
 */
export interface EvaluateResult {
  returns: number[];
  meanReturn: number;
  /** 100 · (return − random) / (expert − random), when a reference was given. */
  normalisedReturns?: number[];
  meanNormalisedReturn?: number;
  /** Environment steps taken over all episodes. */
  envSteps: number;
  /** Environment steps per second of wall time, the model's streaming steps included. */
  stepsPerSecond: number;
}

/** Rolls a Decision Transformer out in an environment, streaming one token at a time. */
export function evaluateDecisionTransformer(
  model: DecisionTransformer,
  env: Env,
  { episodes = 5, seed = 0, targetReturn, reference }: EvaluateOptions,
): EvaluateResult {
  const agent = new DecisionTransformerAgent(model, targetReturn);
  const returns: number[] = [];
  let envSteps = 0;
  const started = performance.now();
  for (let e = 0; e < episodes; e++) {
    agent.reset();
    let obs = env.reset(seed + e);
    let total = 0;
    for (;;) {
      const { action } = agent.act(obs);
      const r = env.step(action);
      agent.observe(r.reward);
      total += r.reward;
      envSteps++;
      obs = r.observation;
      if (r.terminated || r.truncated) break;
    }
    returns.push(total);
  }
  const seconds = (performance.now() - started) / 1000;
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const result: EvaluateResult = {
    returns,
    meanReturn: mean(returns),
    envSteps,
    stepsPerSecond: envSteps / seconds,
  };
  if (reference) {
    result.normalisedReturns = returns.map((r) => normalisedReturn(r, reference));
    result.meanNormalisedReturn = mean(result.normalisedReturns);
  }
  return result;
}
