import { attention as attentionOperator, scan } from '@recur/scan';
import {
  concat,
  full,
  maximum,
  nn,
  SequenceModule,
  type StreamState,
  stack,
  subState,
  type Tensor,
  TensorError,
  zeros,
} from '@recur/tensor';

/**
 * The three projections and the output projection every AFT layer has: Q = X W_Q, K = X W_K,
 * V = X W_V, and y = W_O Y (the projection multi-head attention has after its heads, kept so an AFT
 * layer is a drop-in replacement for it).
 */
export interface Projections {
  wq: nn.Linear;
  wk: nn.Linear;
  wv: nn.Linear;
  wo: nn.Linear;
}

/** Options of the projections: biases, and the key width (dModel, or one key per head for AFT-conv). */
export interface ProjectionOptions {
  /** Biases on the four projections. Default true. */
  bias?: boolean;
  /** Width of K = X W_K. Default dModel. */
  keyDim?: number;
}

/** W_Q, W_V, W_O: dModel → dModel; W_K: dModel → keyDim. */
export function projections(
  dModel: number,
  { bias = true, keyDim }: ProjectionOptions,
): Projections {
  return {
    wq: new nn.Linear(dModel, dModel, { bias }),
    wk: new nn.Linear(dModel, keyDim ?? dModel, { bias }),
    wv: new nn.Linear(dModel, dModel, { bias }),
    wo: new nn.Linear(dModel, dModel, { bias }),
  };
}

/**
 * Base of the 1-d AFT layers. Every layer computes the AFT weighted average
 *
 *     Y_t = σ(Q_t) ⊙ Σ_{t'} exp(K_{t'} + w_{t,t'}) ⊙ V_{t'} / Σ_{t'} exp(K_{t'} + w_{t,t'})
 *
 * over all tokens (`causal: false`) or over t' ≤ t (`causal: true`, the default). Causal layers are
 * `SequenceModule`s: `forward` (parallel), `step` (one token at a time) and `forwardChunked` all
 * derive from `run(x, state)`. Non-causal layers only have `forward`: a token's output depends on
 * later tokens, so there is nothing to stream.
 */
export abstract class AftSequenceLayer extends SequenceModule implements Projections {
  readonly dModel: number;
  readonly causal: boolean;
  wq: nn.Linear;
  wk: nn.Linear;
  wv: nn.Linear;
  wo: nn.Linear;
  /** The names of the entries of this layer's stream state. */
  abstract readonly stateKeys: readonly string[];

  constructor(
    op: string,
    dModel: number,
    causal: boolean | undefined,
    options: ProjectionOptions = {},
  ) {
    super();
    this.dModel = nn.checkPositive(op, 'dModel', dModel);
    if (causal !== undefined && typeof causal !== 'boolean')
      throw new TensorError(op, `expected causal to be a boolean, got ${String(causal)}`);
    this.causal = causal ?? true;
    ({ wq: this.wq, wk: this.wk, wv: this.wv, wo: this.wo } = projections(dModel, options));
  }

  /** Q, K, V of a block of tokens x [B, T, dModel]. */
  protected project(x: Tensor): { q: Tensor; k: Tensor; v: Tensor } {
    return { q: this.wq.forward(x), k: this.wk.forward(x), v: this.wv.forward(x) };
  }

  /** The whole sequence at once when the layer is not causal. */
  protected abstract parallel(x: Tensor): Tensor;
  /** A block of tokens continuing from `state` (causal layers). */
  protected abstract continue(x: Tensor, state: StreamState): { y: Tensor; state: StreamState };
  /** The state before any token (causal layers). */
  protected abstract emptyState(batch: number): StreamState;

  override forward(x: Tensor): Tensor {
    nn.checkTokens(this.constructor.name, x, this.dModel);
    return this.causal ? this.run(x).y : this.parallel(x);
  }

  /** x [B, T, dModel] continuing from `state` (a fresh sequence when left out) → outputs and next state. */
  run(x: Tensor, state?: StreamState): { y: Tensor; state: StreamState } {
    const op = this.constructor.name;
    this.requireCausal(op);
    nn.checkTokens(op, x, this.dModel);
    const batch = x.shape[0]!;
    const s = state ? subState(op, '', state, this.stateKeys) : this.emptyState(batch);
    return this.continue(x, s);
  }

  initState(batch: number): StreamState {
    const op = `${this.constructor.name}.initState`;
    this.requireCausal(op);
    return this.emptyState(nn.checkPositive(op, 'batch', batch));
  }

  private requireCausal(op: string): void {
    if (!this.causal) {
      throw new TensorError(
        op,
        'streaming (run, step, forwardChunked, initState) needs a causal layer: this one was built with causal: false, so every output depends on the whole sequence; use forward(x)',
      );
    }
  }
}

/** σ(Q) ⊙ num / den, then the output projection. */
export function gatedOutput(p: Projections, q: Tensor, num: Tensor, den: Tensor): Tensor {
  return p.wo.forward(q.sigmoid().mul(num.div(den)));
}

/**
 * Causal AFT with biases only inside a window of `s` past tokens (AFT-local, causal AFT-conv1d):
 *
 *     num_t = Σ_{t'≤t} e^{K_{t'}} V_{t'} + Σ_{j<s} (e^{w_{t,t−j}} − 1) e^{K_{t−j}} V_{t−j}
 *
 * and den_t the same with V → 1. The first sum is the per-channel attention scan of @recur/scan:
 * it gives, for every t, the prefix maximum M_t of K and the two prefix sums scaled by e^{−M_t}. The
 * window correction is scaled by the same e^{−M_t}, so every exponent is K_{t'} − M_t ≤ 0 (t' ≤ t)
 * and the sums always include a term e^0 = 1: nothing overflows and nothing underflows to 0/0, at
 * any spread of keys. `coef` holds e^{w} − 1 (from expm1) for lags j = t − t' = 0..s−1, shaped
 * [T or 1, s, 1 or d].
 *
 * The state carries the scan triple (m, u, w) [B, d] and the last s − 1 tokens' keys and values
 * [B, s − 1, d]; positions before the first token hold the key −inf (weight e^{−inf − M_t} = 0, with
 * M_t finite: never −inf − (−inf)).
 */
export function causalWindowed(
  k: Tensor,
  v: Tensor,
  coef: Tensor,
  state: StreamState,
): { num: Tensor; den: Tensor; state: StreamState } {
  const t = k.shape[1]!;
  const s = coef.shape[1]!;
  const { outputs, carry } = scan(attentionOperator, [k, full(k.shape, 1), v], {
    axis: 1,
    carry: [state.m!, state.u!, state.w!],
  });
  const [M, U, W] = outputs as [Tensor, Tensor, Tensor];
  const kAll = concat([state.k!, k], 1); // [B, s − 1 + T, d]
  const vAll = concat([state.v!, v], 1);
  const kLag = lags(kAll, s, t); // [B, T, s, d]: token t − j at [:, t, j]
  const vLag = lags(vAll, s, t);
  // M keeps its gradient. The result depends on M only through the e^{±M} scalings, which cancel;
  // with every use of M differentiated the total is exact whether the scan's backward routes dM
  // (net of the e^{−M} scaling of U and W) or drops it as gauge-invariant. A detached M here would
  // leave the first of those wrong.
  const e = kLag.sub(M.unsqueeze(2)).exp().mul(coef);
  const num = W.add(e.mul(vLag).sum(2));
  const den = U.add(e.sum(2));
  const keep = (x: Tensor) => x.slice(1, x.shape[1]! - (s - 1));
  const [m, u, w] = carry as [Tensor, Tensor, Tensor];
  return { num, den, state: { m, u, w, k: keep(kAll), v: keep(vAll) } };
}

/** x [B, s − 1 + T, …] → [B, T, s, …] with [:, t, j] = x[:, s − 1 + t − j] (token t − j). */
export function lags(x: Tensor, s: number, t: number): Tensor {
  if (s === 1) return x.unsqueeze(2);
  return stack(
    Array.from({ length: s }, (_, j) => x.slice(1, s - 1 - j, s - 1 - j + t)),
    2,
  );
}

/** x [B, width − 1 + T, …] → [B, T, width, …] with [:, t, i] = x[:, t + i]. */
export function windows(x: Tensor, width: number, t: number): Tensor {
  if (width === 1) return x.unsqueeze(2);
  return stack(
    Array.from({ length: width }, (_, i) => x.slice(1, i, i + t)),
    2,
  );
}

/** The empty state of `causalWindowed`: the scan identity and s − 1 absent tokens. */
export function emptyWindowState(batch: number, d: number, s: number): StreamState {
  return {
    m: full([batch, d], Number.NEGATIVE_INFINITY),
    u: zeros([batch, d]),
    w: zeros([batch, d]),
    k: full([batch, s - 1, d], Number.NEGATIVE_INFINITY),
    v: zeros([batch, s - 1, d]),
  };
}

/**
 * Keys of the stream state of the windowed causal layers (AFT-conv 1-d): the scan's attention
 * triple m, u, w and the keys k and values v of the last s − 1 tokens (s the kernel size).
 */
export const WINDOW_STATE_KEYS = ['m', 'u', 'w', 'k', 'v'] as const;

/** Checks a windowed state's shapes against the batch, window and width. */
export function checkWindowState(
  op: string,
  state: StreamState,
  batch: number,
  d: number,
  s: number,
): void {
  for (const key of ['m', 'u', 'w'] as const)
    nn.checkShape(op, `state '${key}'`, state[key]!, [batch, d]);
  for (const key of ['k', 'v'] as const)
    nn.checkShape(op, `state '${key}'`, state[key]!, [batch, s - 1, d]);
}

/**
 * Sums of terms each carried with its own (detached) shift: (num·e^{S}, den·e^{S}) from two parts
 * joined with the larger shift, so every rescaling factor is e^{≤0}.
 */
export interface Shifted {
  num: Tensor;
  den: Tensor;
  shift: Tensor;
}

export function joinShifted(a: Shifted, b: Shifted): Shifted {
  const shift = maximum(a.shift, b.shift);
  const fa = a.shift.sub(shift).exp();
  const fb = b.shift.sub(shift).exp();
  return {
    num: a.num.mul(fa).add(b.num.mul(fb)),
    den: a.den.mul(fa).add(b.den.mul(fb)),
    shift,
  };
}
