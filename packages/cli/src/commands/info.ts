import { usedStateBytes } from '@recur/baselines';
import { manualSeed, noGrad, randn, type StreamState, tidy } from '@recur/tensor';
import { releaseState } from '../bench/stream.js';
import type { Invocation } from '../cli.js';
import { CliError } from '../errors.js';
import {
  type BackboneConfig,
  backboneConfig,
  createCore,
  isSequenceModel,
  MODEL_DEFS,
} from '../models/backbone.js';
import { fmtBytes, fmtNumber, formatTable, type Reporter } from '../util/output.js';

/**
 * FLOPs (a multiply-add is 2) to process one token at position n (n tokens already seen) in
 * streaming mode, counting matrix products, attention over the cache, the scan update and the
 * element-wise work of norms and activations to first order.
 */
export function flopsPerToken(cfg: BackboneConfig, n: number): number {
  const { layers, dModel: d, dFF: f, heads, window: s, posDim: p } = cfg;
  return MODEL_DEFS[cfg.name].flops({ layers, d, f, heads, s, p }, n);
}

/** State bytes after 1 and after `tokens` tokens, streaming up to 256 and extrapolating the trend. */
export function measureState(
  cfg: BackboneConfig,
  tokens: number,
): { first: number; atTokens: number; perToken: number; exact: boolean } {
  const core = createCore(cfg);
  core.eval();
  const probe = Math.min(tokens, 256);
  const sizes: number[] = [];
  noGrad(() => {
    let state: StreamState = core.initState(1);
    const x = randn([1, cfg.dModel]);
    for (let t = 0; t < probe; t++) {
      const prev = state;
      state = tidy(() => core.step(x, prev).state);
      releaseState(prev, state);
      // Held bytes: a KV cache's spare capacity (it doubles when full) is not state per token.
      sizes.push(usedStateBytes(state));
    }
  });
  const first = sizes[0]!;
  const last = sizes[probe - 1]!;
  if (probe === tokens)
    return {
      first,
      atTokens: last,
      perToken: probe > 1 ? last - sizes[probe - 2]! : 0,
      exact: true,
    };
  // Growth over the last 64 probed tokens, assumed to continue (KV cache: linear; windows: 0).
  const back = sizes[probe - 65]!;
  const perToken = (last - back) / 64;
  return { first, atTokens: last + perToken * (tokens - probe), perToken, exact: false };
}

export async function infoCommand(inv: Invocation<'info'>, reporter: Reporter): Promise<number> {
  const o = inv.options;
  const name = o.model;
  if (!name) throw new CliError('--model <name> is required');
  if (!isSequenceModel(name)) {
    const params = name === 'linear' ? '(lookback + 1) × horizon' : '0';
    reporter.print(`${name}: a closed-form forecasting baseline (no state; parameters ${params})`);
    reporter.result({ event: 'result', model: name, parameters: null });
    return 0;
  }
  const tokens = o.tokens;
  manualSeed(o.seed);
  const cfg = { ...backboneConfig(name, o, tokens), positions: false };
  const core = createCore(cfg);
  const parameters = core.numParameters();
  const state = measureState(cfg, tokens);
  const flops = flopsPerToken(cfg, tokens - 1);
  let total = 0;
  for (let n = 0; n < tokens; n++) total += flopsPerToken(cfg, n);
  const rows: [string, string][] = [
    [
      'model',
      `${name} (${cfg.layers} layer(s), d ${cfg.dModel}, heads ${cfg.heads}, d_ff ${cfg.dFF}${name.startsWith('aft-') && name !== 'aft-simple' ? `, window ${cfg.window}, pos-dim ${cfg.posDim}` : ''})`,
    ],
    ['parameters', parameters.toLocaleString('en-US')],
    ['state after 1 token', fmtBytes(state.first)],
    [
      `state after ${tokens.toLocaleString('en-US')} tokens`,
      `${fmtBytes(state.atTokens)}${state.exact ? '' : ' (extrapolated)'}`,
    ],
    [
      'state growth per token',
      state.perToken === 0 ? 'none (constant)' : `${fmtBytes(state.perToken)}`,
    ],
    [`FLOPs for token ${tokens.toLocaleString('en-US')}`, fmtNumber(flops, 4)],
    [`FLOPs for all ${tokens.toLocaleString('en-US')} tokens`, fmtNumber(total, 4)],
  ];
  reporter.print(formatTable(['', 'value'], rows));
  reporter.result({
    event: 'result',
    model: name,
    config: cfg,
    parameters,
    tokens,
    state_bytes_first: state.first,
    state_bytes: state.atTokens,
    state_bytes_per_token: state.perToken,
    flops_per_token: flops,
    flops_total: total,
  });
  return 0;
}
