import {
  arange,
  concat,
  matmul,
  matmulT,
  nn,
  noGrad,
  type StreamState,
  type Tensor,
  where,
  zeros,
} from '@recur/tensor';
import { gatedOutput, joinShifted, type Shifted } from './common.js';
import { PositionBiasedLayer, type PositionBiasOptions } from './position.js';

/**
 * Options of AftFull: width, the longest sequence its pair-wise biases cover, and their
 * factorisation.
 */
export type AftFullOptions = PositionBiasOptions;

/** Keys of causal AFT-full's stream state: every past token's key and value, k, v [B, n, dModel]. */
export const FULL_STATE_KEYS = ['k', 'v'] as const;

/**
 * AFT-full (Zhai et al. 2021; MATH.md §5) with factorised pair-wise position biases
 * w = U Vᵀ (U, V ∈ R^{maxLen×d'}, trainable):
 *
 *     Y_t = σ(Q_t) ⊙ Σ_{t'} exp(K_{t'} + w_{t,t'}) ⊙ V_{t'} / Σ_{t'} exp(K_{t'} + w_{t,t'})
 *
 * Computed as matrix products, never a T×T×d tensor: with A = exp(w − rowmax(w)) and
 * E = exp(K − colmax(K)), Y = σ(Q) ⊙ [A @ (E ⊙ V)] / [A @ E]. The maximum of w is taken per row
 * (per query t) over the positions that row sees — a per-column maximum does not cancel — and the
 * maximum of K per channel.
 *
 * Causal, each row t sees t' ≤ t only: masked entries of A are exactly 0 (never exp(−inf)), and the
 * key maximum must be over the visible prefix, because a global maximum can underflow every term of
 * an early row to 0/0. A key shift shared by a row's whole prefix cannot vary along it inside one
 * matrix product, so the causal product is split into blocks in a binary tree: the rows of the right
 * half of each node take the left half's columns in one product [h×h] @ [h×d], shifted by that
 * half's key maximum; each row joins its log2(T) block sums and its own diagonal term with
 * max-rescaling (as the attention scan joins states). Every block lies in the row's prefix, so
 * every exponent is ≤ 0 and the row's largest key contributes e^0: exact at any key spread, in
 * O(T²·d) time and O(T·d·log T) memory.
 *
 * Streaming: the biases w_{t,t'} depend on t, so no summary of the past suffices — the state holds
 * every past token's key and value (memory grows by 2·d floats per token and layer), and a stream
 * ends at maxLen. For constant-memory streaming use AFT-simple, AFT-local or AFT-conv1d.
 */
export class AftFull extends PositionBiasedLayer {
  readonly stateKeys = FULL_STATE_KEYS;

  constructor(options: AftFullOptions) {
    super('AftFull', options);
  }

  /** The bias matrix w = U Vᵀ for rows [rowStart, rowEnd) and columns [0, cols). */
  positionBias(rowStart: number, rowEnd: number, cols: number): Tensor {
    return matmulT(this.posU.slice(0, rowStart, rowEnd), this.posV.slice(0, 0, cols), false, true);
  }

  protected parallel(x: Tensor): Tensor {
    const t = x.shape[1]!;
    this.checkLength(0, t);
    const { q, k, v } = this.project(x);
    const w = this.positionBias(0, t, t); // [T, T]
    const a = w.sub(w.max(-1, true).detach()).exp(); // per-row max: every row has a 1
    const e = k.sub(k.max(1, true).detach()).exp(); // per-channel max over all tokens
    return gatedOutput(this, q, matmul(a, e.mul(v)), matmul(a, e));
  }

  protected continue(x: Tensor, state: StreamState): { y: Tensor; state: StreamState } {
    const [b, t] = x.shape as [number, number, number];
    const d = this.dModel;
    const pk = state.k!;
    const pv = state.v!;
    nn.checkShape('AftFull', "state 'k'", pk, [b, null, d]);
    const n = pk.shape[1]!;
    nn.checkShape('AftFull', "state 'v'", pv, [b, n, d]);
    this.checkLength(n, t);
    const { q, k, v } = this.project(x);

    const uRows = this.posU.slice(0, n, n + t); // rows n..n+T−1
    const vRows = this.posV.slice(0, n, n + t);
    const wDiag = uRows.mul(vRows).sum(-1, true); // [T, 1]: w_{t,t}
    // Per-row maximum of w over the visible columns 0..t: a shift that cancels, so no gradient.
    // Masked entries are replaced by the row's own diagonal (visible), never by −inf.
    const rowMax = noGrad(() => {
      const visible = arange(0, n + t)
        .reshape([1, n + t])
        .le(arange(n, n + t).reshape([t, 1]));
      return where(visible, this.positionBias(n, n + t, n + t), wDiag).max(-1, true);
    }); // [T, 1]

    // Each row's own term, shifted by its own (detached) key: e^{K_t − K_t} = 1 in value, but it
    // carries the term's gradient with respect to K_t.
    const shift = k.detach();
    const own = k.sub(shift).exp().mul(wDiag.sub(rowMax).exp()); // [B, T, d]
    let acc: Shifted = { num: own.mul(v), den: own, shift };
    if (t > 1) acc = this.joinWithin(acc, k, v, uRows, vRows, rowMax);
    if (n > 0) {
      // Every past token is visible to every new row: one product, shifted by the past keys' max.
      const pastShift = pk.max(1, true).detach();
      const e = pk.sub(pastShift).exp();
      const a = matmulT(uRows, this.posV.slice(0, 0, n), false, true)
        .sub(rowMax)
        .exp(); // [T, n]
      acc = joinShifted(acc, { num: matmul(a, e.mul(pv)), den: matmul(a, e), shift: pastShift });
    }
    return {
      y: gatedOutput(this, q, acc.num, acc.den),
      state: { k: concat([pk, k], 1), v: concat([pv, v], 1) },
    };
  }

  /**
   * Joins into each row t the block sums over the earlier new tokens t' < t, by the binary tree of
   * the class comment. Sequences are padded to a power of two P with zeros; padded rows are dropped
   * and padded columns only ever reach padded rows.
   */
  private joinWithin(
    acc0: Shifted,
    k: Tensor,
    v: Tensor,
    uRows: Tensor,
    vRows: Tensor,
    rowMax: Tensor,
  ): Shifted {
    const [b, t, d] = k.shape as [number, number, number];
    const p = this.posDim;
    let size = 1;
    while (size < t) size *= 2;
    const extra = size - t;
    const padRows = (z: Tensor) =>
      z.pad(z.shape.map((_, i) => (i === z.rank - 2 ? [0, extra] : [0, 0])));
    const kP = padRows(k);
    const vP = padRows(v);
    const uP = padRows(uRows);
    const vPosP = padRows(vRows);
    const mwP = padRows(rowMax);
    let acc: Shifted = {
      num: padRows(acc0.num),
      den: padRows(acc0.den),
      shift: padRows(acc0.shift),
    };
    for (let h = 1; h < size; h *= 2) {
      const nb = size / (2 * h);
      const tokens = (z: Tensor, which: number) =>
        z
          .reshape([b, nb, 2, h, d])
          .slice(2, which, which + 1)
          .squeeze(2); // [B, nb, h, d]
      const rows = (z: Tensor, which: number, width: number) =>
        z
          .reshape([nb, 2, h, width])
          .slice(1, which, which + 1)
          .squeeze(1); // [nb, h, width]
      const kL = tokens(kP, 0);
      const shift = kL.max(2, true).detach(); // [B, nb, 1, d]
      const e = kL.sub(shift).exp();
      // Bias block: rows of the right half × columns of the left half, all visible.
      const a = matmulT(rows(uP, 1, p), rows(vPosP, 0, p), false, true)
        .sub(rows(mwP, 1, 1))
        .exp(); // [nb, h, h]
      const part: Shifted = {
        num: matmul(a, e.mul(tokens(vP, 0))).unsqueeze(2),
        den: matmul(a, e).unsqueeze(2),
        shift: shift.unsqueeze(2),
      };
      const halves = (z: Tensor) => {
        const r = z.reshape([b, nb, 2, h, d]);
        return [r.slice(2, 0, 1), r.slice(2, 1, 2)] as const;
      };
      const [numL, numR] = halves(acc.num);
      const [denL, denR] = halves(acc.den);
      const [shiftL, shiftR] = halves(acc.shift);
      const right = joinShifted({ num: numR, den: denR, shift: shiftR }, part);
      const merge = (l: Tensor, r: Tensor) => concat([l, r], 2).reshape([b, size, d]);
      acc = {
        num: merge(numL, right.num),
        den: merge(denL, right.den),
        shift: merge(shiftL, right.shift),
      };
    }
    const crop = (z: Tensor) => z.slice(1, 0, t);
    return { num: crop(acc.num), den: crop(acc.den), shift: crop(acc.shift) };
  }

  protected emptyState(batch: number): StreamState {
    return { k: zeros([batch, 0, this.dModel]), v: zeros([batch, 0, this.dModel]) };
  }
}
