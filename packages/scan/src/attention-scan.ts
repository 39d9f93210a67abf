import { full, onesLike, type Tensor, where, zeros } from '@recur/tensor';
import {
  checkAttentionShapes,
  fusedAttentionOutput,
  gaugeInvariantAttention,
} from './operators/attention.js';
import { checkScanInputs, type ScanAlgorithm, scan } from './scan.js';

/**
 * The running state of causal softmax attention after some positions: m the running max of the
 * scores, u the softmax denominator and w the numerator, both scaled by e^{−m}. Per position-scored
 * attention: m, u [..., 1] and w [..., d]; per channel: all [..., d]. It is constant in size however
 * many positions it has seen. Gradients through it hold for what depends on the state itself (u·e^m,
 * w·e^m: passing it back as a carry, w/u, m + log u); m alone is the representation's gauge and gets
 * none (use scan(attention, ...) for the running max as a value).
 */
export interface AttentionCarry {
  m: Tensor;
  u: Tensor;
  w: Tensor;
}

/** Options of attentionScan(): a carry to resume from and the scan algorithm. */
export interface AttentionScanOptions {
  /** The state before the first position (from a previous call's `carry`). */
  carry?: AttentionCarry;
  algorithm?: ScanAlgorithm;
  chunkSize?: number;
}

/**
 * Causal softmax attention as a prefix scan (MATH.md §1–2): out[..., t, :] = Σ_{i≤t} softmax_i(s) v_i.
 *
 * - scores [..., T] with values [..., T, d]: one score per position (an attention head);
 * - scores [..., T, d] with values [..., T, d]: one score per channel (causal AFT-simple).
 *
 * Positions whose scores so far are all −inf output 0. Returns the outputs and the carry after the
 * last position; passing it back as `carry` continues the sequence exactly.
 */
export function attentionScan(
  scores: Tensor,
  values: Tensor,
  options: AttentionScanOptions = {},
): { out: Tensor; carry: AttentionCarry } {
  const kind = checkAttentionShapes('attentionScan', scores, values);
  const m = kind === 'head' ? scores.unsqueeze(-1) : scores;
  const u = onesLike(m, { requiresGrad: false });
  const axis = values.rank - 2;
  const algorithm = options.algorithm ?? 'auto';
  if (algorithm === 'auto' || algorithm === 'sequential') {
    // One kernel for the scan, the division and the carry where the backend has it.
    const carryIn = options.carry ? [options.carry.m, options.carry.u, options.carry.w] : undefined;
    checkScanInputs(gaugeInvariantAttention, [m, u, values], { axis, carry: carryIn });
    const fused = fusedAttentionOutput(m, u, values, carryIn);
    if (fused) {
      const [cm, cu, cw] = fused.carry;
      return { out: fused.out, carry: { m: cm, u: cu, w: cw } };
    }
  }
  // out = W/U and the carry (passed back as a carry) depend on (U·e^M, W·e^M) only.
  const { outputs, carry } = scan(gaugeInvariantAttention, [m, u, values], {
    axis,
    algorithm: options.algorithm,
    chunkSize: options.chunkSize,
    carry: options.carry ? [options.carry.m, options.carry.u, options.carry.w] : undefined,
  });
  const [M, U, W] = [outputs[0]!, outputs[1]!, outputs[2]!];
  // Where every score so far was −inf (M = −inf) the state is the identity, but not always as
  // (−inf, 0, 0): a generic algorithm's first output is the first leaf itself, (−inf, 1, v₀). So
  // test M, not U, and divide by +inf there: the output is 0 and neither it nor its gradient sees
  // 0/0 (elsewhere U > 0).
  const safe = where(M.ne(Number.NEGATIVE_INFINITY), U, Number.POSITIVE_INFINITY);
  const out = W.div(safe);
  const [cm, cu, cw] = [carry[0]!, carry[1]!, carry[2]!];
  return { out, carry: { m: cm, u: cu, w: cw } };
}

/**
 * The carry of a sequence nothing has been seen of: m = −inf, u = 0, w = 0 (the operator's identity).
 * `channels` is 1 for one score per position, or d for one score per channel.
 */
export function emptyAttentionCarry(
  batchShape: readonly number[],
  d: number,
  channels = 1,
): AttentionCarry {
  return {
    m: full([...batchShape, channels], Number.NEGATIVE_INFINITY),
    u: zeros([...batchShape, channels]),
    w: zeros([...batchShape, d]),
  };
}
