import { nn, type StreamState, type Tensor, tensor, zeros } from '@recur/tensor';
import {
  causalWindowed,
  checkWindowState,
  emptyWindowState,
  gatedOutput,
  lags,
  windows,
} from './common.js';
import { PositionBiasedLayer, type PositionBiasOptions, positionOf } from './position.js';

/** Options of AftLocal: AftFull's, plus the window inside which the biases are learned. */
export interface AftLocalOptions extends PositionBiasOptions {
  /** Biases are learned where |t − t'| < window; outside they are 0. */
  window: number;
}

/** Keys of causal AFT-local's stream state. */
export const LOCAL_STATE_KEYS = ['m', 'u', 'w', 'k', 'v', 'pos'] as const;

/**
 * AFT-local (Zhai et al. 2021; MATH.md §5): AFT-full whose pair-wise biases w_{t,t'} = (U Vᵀ)_{t,t'}
 * are learned only inside the window |t − t'| < s and are **0 — not −inf — outside it**, so every
 * token still contributes (with weight e^{K_{t'}}): global connectivity at any window size.
 *
 * Computed in O(T·s·d), never O(T²·d), with the identity AFT-conv uses:
 *
 *     Σ_{t'} e^{K_{t'} + w_{t,t'}} V_{t'} = Σ_{t'} e^{K_{t'}} V_{t'} + Σ_{|t−t'|<s} (e^{w_{t,t'}} − 1) e^{K_{t'}} V_{t'}
 *
 * (e^w − 1 from expm1, exact for small w), the denominator alike with V → 1. Keys are shifted by
 * their per-channel maximum over the tokens a row can see: over the whole sequence when not causal;
 * causal, by the running prefix maximum of the attention scan (MATH.md §2), since a global maximum
 * can underflow every earlier term to 0/0.
 *
 * Streaming (causal) keeps the scan triple (m, u, w), the last s − 1 tokens' keys and values and the
 * position: O(s·d) state. The biases depend on absolute positions, so a stream ends at maxLen.
 */
export class AftLocal extends PositionBiasedLayer {
  readonly stateKeys = LOCAL_STATE_KEYS;
  readonly window: number;

  constructor(options: AftLocalOptions) {
    super('AftLocal', options);
    this.window = nn.checkPositive('AftLocal', 'window', options.window);
  }

  protected parallel(x: Tensor): Tensor {
    const t = x.shape[1]!;
    this.checkLength(0, t);
    const s = this.window;
    const { q, k, v } = this.project(x);
    // The whole sequence is visible to every row: shift by the per-channel maximum over time.
    const ek = k.sub(k.max(1, true).detach()).exp(); // [B, T, d], every entry <= 1, one = 1
    const ekv = ek.mul(v);
    // Offsets t' − t = −(s−1)..(s−1): entry i of a row's window is token t + i − (s − 1).
    const width = 2 * s - 1;
    const padTokens = (z: Tensor) =>
      z.pad([
        [0, 0],
        [s - 1, s - 1],
        [0, 0],
      ]);
    const vPos = this.posV
      .slice(0, 0, t)
      .pad([
        [s - 1, s - 1],
        [0, 0],
      ])
      .unsqueeze(0);
    const w = windows(vPos, width, t) // [1, T, 2s−1, d']
      .squeeze(0)
      .mul(this.posU.slice(0, 0, t).unsqueeze(1))
      .sum(-1); // [T, 2s−1]: w_{t, t+i−(s−1)}, 0 where that token does not exist (ek = 0 there)
    const coef = w.expm1().unsqueeze(-1); // [T, 2s−1, 1]
    const num = ekv.sum(1, true).add(windows(padTokens(ekv), width, t).mul(coef).sum(2));
    const den = ek.sum(1, true).add(windows(padTokens(ek), width, t).mul(coef).sum(2));
    return gatedOutput(this, q, num, den);
  }

  protected continue(x: Tensor, state: StreamState): { y: Tensor; state: StreamState } {
    const [b, t] = x.shape as [number, number, number];
    const s = this.window;
    checkWindowState('AftLocal', state, b, this.dModel, s);
    const n = positionOf('AftLocal', state.pos!);
    this.checkLength(n, t);
    const { q, k, v } = this.project(x);
    // w_{t, t−j} for rows n..n+T−1 and lags j = 0..s−1; rows of V before position 0 are 0: V with
    // s − 1 zero rows in front, rows n..n+T+s−2 of that (the same ops at every position, so the
    // step exports as one graph).
    const vPos = this.posV
      .pad([
        [s - 1, 0],
        [0, 0],
      ])
      .slice(0, n, n + t + s - 1)
      .unsqueeze(0);
    const w = lags(vPos, s, t)
      .squeeze(0)
      .mul(this.posU.slice(0, n, n + t).unsqueeze(1))
      .sum(-1); // [T, s]
    const r = causalWindowed(k, v, w.expm1().unsqueeze(-1), state);
    return {
      y: gatedOutput(this, q, r.num, r.den),
      // The position is bookkeeping read on the host every block: keep it on the CPU whatever the
      // backend, so async backends (webgpu) need no synchronous read.
      state: { ...r.state, pos: tensor([n + t], { dtype: 'int32', backend: 'cpu' }) },
    };
  }

  protected emptyState(batch: number): StreamState {
    return {
      ...emptyWindowState(batch, this.dModel, this.window),
      pos: zeros([1], { dtype: 'int32', backend: 'cpu' }),
    };
  }
}
