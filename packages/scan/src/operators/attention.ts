import {
  concat,
  defineOp,
  hasKernel,
  maximum,
  type OpDef,
  type OutputSpec,
  type onnx,
  runOp,
  scatterAdd,
  type Tensor,
  TensorError,
  where,
  zeros,
} from '@recur/tensor';
import { fmtShape } from '@recur/tensor/kernels';
import { ATTENTION_WGSL } from '../kernels/webgpu/combines.js';
import { defineOperator } from '../operator.js';
import { layoutOf, type ScanLayout, servedBy } from './layout.js';

/**
 * The attention triple of MATH.md §2: (m, u, w) = (running max of scores, softmax denominator,
 * numerator), both sums scaled by e^{-m}. m and u are [..., T, c] and w is [..., T, d] with c = 1
 * (one score per position: Aaren's heads) or c = d (one score per channel: causal AFT-simple).
 */
export interface AttentionAttrs extends ScanLayout {
  /** Score channels: 1, or d (= inner, the value width). */
  readonly channels: number;
  readonly hasCarry: boolean;
  /**
   * The caller promises that the loss depends on (U·e^M, W·e^M) only (attentionScan: out = W/U and
   * a carry fed to the next scan), so the gradient along M is 0 and is not computed (see grad).
   */
  readonly gaugeInvariant: boolean;
}

function attrsFor(
  m: Tensor,
  w: Tensor,
  axis: number,
  hasCarry: boolean,
  gaugeInvariant: boolean,
): AttentionAttrs {
  const mLayout = layoutOf(m.shape, axis);
  const wLayout = layoutOf(w.shape, axis);
  return { ...wLayout, channels: mLayout.inner, hasCarry, gaugeInvariant };
}

/**
 * ONNX: a Scan along the scanned axis whose body is the combine below, exactly as the kernel folds
 * one position after another (running max, exponents <= 0, the identity's −inf as coefficient 0):
 * no global maximum, so any score spread is safe. Outputs every prefix state (M, U, W).
 */
function attentionOnnx(ctx: onnx.OnnxContext<AttentionAttrs, MuwInputs>): void {
  const { g, inputs, outputs, attrs } = ctx;
  const axis = ctx.inShapes[0].length - 2;
  const [m, u, w] = inputs;
  let init: string[];
  if (attrs.hasCarry) init = inputs.slice(3, 6);
  else {
    // The identity (−inf, 0, 0), shaped like one position of each input.
    const fill = (x: string, value: number) => {
      const one = g.op('ReduceSum', [x, g.ints([axis])], { keepdims: 0 });
      return g.op('Expand', [g.scalar(value, 'float32'), g.op('Shape', [one])]);
    };
    init = [fill(m, Number.NEGATIVE_INFINITY), fill(u, 0), fill(w, 0)];
  }
  const b = g.subgraph();
  const [ma, ua, wa, mb, ub, wb] = [
    b.fresh('ma'),
    b.fresh('ua'),
    b.fresh('wa'),
    b.fresh('mb'),
    b.fresh('ub'),
    b.fresh('wb'),
  ];
  const mn = b.op('Max', [ma, mb]);
  const finite = b.op('Not', [b.op('Or', [b.op('IsInf', [mn]), b.op('IsNaN', [mn])])]);
  const shift = b.op('Where', [finite, mn, b.scalar(0, 'float32')]);
  const ca = b.op('Exp', [b.op('Sub', [ma, shift])]);
  const cb = b.op('Exp', [b.op('Sub', [mb, shift])]);
  const un = b.op('Add', [b.op('Mul', [ua, ca]), b.op('Mul', [ub, cb])]);
  const wn = b.op('Add', [b.op('Mul', [wa, ca]), b.op('Mul', [wb, cb])]);
  const scanOut = [mn, un, wn].map((v) => b.op('Identity', [v]));
  const f = (name: string) => [name, 'float32'] as const;
  const body = b.body(
    'attention_combine',
    [ma, ua, wa, mb, ub, wb].map(f),
    [mn, un, wn, ...scanOut].map(f),
  );
  g.node(
    'Scan',
    [...init, m, u, w],
    [g.fresh('M_last'), g.fresh('U_last'), g.fresh('W_last'), ...outputs],
    {
      body,
      num_scan_inputs: 3,
      scan_input_axes: [axis, axis, axis],
      scan_output_axes: [axis, axis, axis],
    },
  );
}

/** The scan ops' inputs: m, u, w, then (with a carry) m0, u0, w0, then (backward) M, dU, dW. */
type MuwInputs = readonly [m: Tensor, u: Tensor, w: Tensor, ...rest: Tensor[]];

const forwardDef: OpDef<AttentionAttrs, MuwInputs, [M: OutputSpec, U: OutputSpec, W: OutputSpec]> =
  defineOp({
    name: 'scan.attention',
    onnx: attentionOnnx,
    infer: ([m, u, w]) => [
      { shape: m.shape, dtype: 'float32' },
      { shape: u.shape, dtype: 'float32' },
      { shape: w.shape, dtype: 'float32' },
    ],
    // The kernel's gradients hold M fixed. But U and W are scaled by e^{−M} (∂U/∂M = −U, ∂W/∂M = −W)
    // and a loss may read M itself, so the net gradient along M is r = dM − dU·U − <dW, W>. It is 0
    // for gauge-invariant uses — out = W/U, a carry fed to the next scan — which depend on
    // (U·e^M, W·e^M) only; otherwise (a loss on M, or on U or W alone) it flows, as through a running
    // max, to the element that set M. Where the caller vouches for gauge invariance it is skipped: in
    // float32 r is a difference of large nearly equal terms, and its rounding would be noise.
    grad: (_dy, { inputs, outputs: [M, U, W], outputGrads, attrs }) => {
      const dU = outputGrads[1] ?? U.mul(0);
      const dW = outputGrads[2] ?? W.mul(0);
      const grads = runOp(backwardDef, [...inputs, M, dU, dW], attrs);
      if (attrs.gaugeInvariant) return grads;
      const dWW = dW.mul(W);
      let r = (attrs.channels === 1 ? dWW.sum(-1, true) : dWW).add(dU.mul(U)).neg();
      if (outputGrads[0]) r = r.add(outputGrads[0]);
      const axis = M.rank - 2;
      const m0 = attrs.hasCarry ? inputs[3]!.unsqueeze(axis) : null;
      const all = m0 ? concat([m0, inputs[0]], axis) : inputs[0];
      const { indices } = all.cummax(axis);
      const routed = scatterAdd(all.shape, axis, m0 ? indices.slice(axis, 1) : indices, r);
      grads[0] = grads[0]!.add(m0 ? routed.slice(axis, 1) : routed);
      if (m0) grads[3] = grads[3]!.add(routed.slice(axis, 0, 1).squeeze(axis));
      return grads;
    },
  });

/** Inputs m, u, w, [m0, u0, w0], M, dU, dW → gradients of m, u, w, [m0, u0, w0] (reverse scans). */
const backwardDef: OpDef<AttentionAttrs, MuwInputs, OutputSpec[]> = defineOp({
  name: 'scan.attentionBackward',
  infer: (inputs, { hasCarry }) =>
    inputs.slice(0, hasCarry ? 6 : 3).map((t) => ({ shape: t.shape, dtype: 'float32' as const })),
});

/**
 * ONNX of attentionScan's fused output: the Scan above, then out = W/U (0 where M is −inf) and the
 * states at the last position (the carry).
 */
function outputOnnx(ctx: onnx.OnnxContext<AttentionAttrs, MuwInputs, OutputSpecs>): void {
  const { g, outputs } = ctx;
  const axis = ctx.inShapes[0].length - 2;
  const [out, M, U, mLast, uLast, wLast] = outputs;
  const W = g.fresh('W');
  attentionOnnx({ ...ctx, outputs: [M, U, W] });
  const empty = g.op('IsInf', [M], { detect_positive: 0 });
  g.op('Where', [empty, g.scalar(0, 'float32'), g.op('Div', [W, U])], {}, out);
  const last = (x: string, name: string) => {
    const end = g.ints([Number.MAX_SAFE_INTEGER]);
    const slice = g.op('Slice', [x, g.ints([-1]), end, g.ints([axis])]);
    g.op('Squeeze', [slice, g.ints([axis])], {}, name);
  };
  last(M, mLast);
  last(U, uLast);
  last(W, wLast);
}

/** A gradient `last` of the state at the last position, as a full-length one (zeros before it). */
function atLast(full: Tensor, last: Tensor | null, axis: number): Tensor {
  if (!last) return full;
  const T = full.shape[axis]!;
  const before = [...full.shape];
  before[axis] = T - 1;
  return full.add(
    concat([zeros(before, { backend: full.backend.name }), last.unsqueeze(axis)], axis),
  );
}

/**
 * attentionScan's forward in one kernel: the scan of (m, u, w) with out = W/U written in place of
 * W (0 where M is still −inf, the guard against 0/0) and the states at the last position (the
 * carry), so neither the division nor the guard nor the carry's slices run as separate ops. Outputs
 * out, M, U, m_last, u_last, w_last. Only for gauge-invariant uses (out and the carry are), so the
 * gradient along M is 0 (see forwardDef); the backward is the scan's ('scan.attentionBackward')
 * after the division's own chain rule: dW = dOut / U, dU = −Σ dOut·out / U.
 */
/** out, M, U and the carry m_last, u_last, w_last. */
type OutputSpecs = [OutputSpec, OutputSpec, OutputSpec, OutputSpec, OutputSpec, OutputSpec];

const outputDef: OpDef<AttentionAttrs, MuwInputs, OutputSpecs> = defineOp({
  name: 'scan.attentionOutput',
  onnx: outputOnnx,
  infer: ([mt, , wt]) => {
    const axis = mt.rank - 2;
    const drop = (s: readonly number[]) => [...s.slice(0, axis), ...s.slice(axis + 1)];
    const f32 = (shape: readonly number[]): OutputSpec => ({ shape, dtype: 'float32' });
    return [
      f32(wt.shape),
      f32(mt.shape),
      f32(mt.shape),
      f32(drop(mt.shape)),
      f32(drop(mt.shape)),
      f32(drop(wt.shape)),
    ];
  },
  grad: (dOut, { inputs, outputs: [out, M, U], outputGrads, attrs }) => {
    const axis = M.rank - 2;
    const safe = where(M.ne(Number.NEGATIVE_INFINITY), U, Number.POSITIVE_INFINITY);
    const prod = dOut.mul(out);
    let dU = (attrs.channels === 1 ? prod.sum(-1, true) : prod).div(safe).neg();
    if (outputGrads[2]) dU = dU.add(outputGrads[2]);
    dU = atLast(dU, outputGrads[4] ?? null, axis);
    const dW = atLast(dOut.div(safe), outputGrads[5] ?? null, axis);
    return runOp(backwardDef, [...inputs, M, dU, dW], attrs);
  },
});

/**
 * attentionScan through 'scan.attentionOutput' where the backend has it and the sequence is not
 * empty: { out, carry } or undefined (the caller composes the scan and the division instead).
 */
export function fusedAttentionOutput(
  m: Tensor,
  u: Tensor,
  w: Tensor,
  carry: readonly Tensor[] | undefined,
): { out: Tensor; carry: [Tensor, Tensor, Tensor] } | undefined {
  const axis = w.rank - 2;
  const all: MuwInputs = carry ? [m, u, w, ...carry] : [m, u, w];
  if (w.shape[axis]! === 0) return undefined;
  if (!servedBy(all, hasKernel, 'scan.attentionOutput', 'scan.attentionBackward')) return undefined;
  const [out, , , mLast, uLast, wLast] = runOp(
    outputDef,
    all,
    attrsFor(m, w, axis, carry !== undefined, true),
  );
  return { out, carry: [mLast, uLast, wLast] };
}

function fused(
  [m, u, w]: readonly [Tensor, Tensor, Tensor],
  axis: number,
  carry: readonly Tensor[] | undefined,
  gaugeInvariant = false,
): Tensor[] | undefined {
  const all: MuwInputs = carry ? [m, u, w, ...carry] : [m, u, w];
  if (!servedBy(all, hasKernel, 'scan.attention', 'scan.attentionBackward')) return undefined;
  const c = m.rank > axis + 1 ? m.shape[m.rank - 1]! : 1;
  const d = w.rank > axis + 1 ? w.shape[w.rank - 1]! : 1;
  // The kernel layout: one trailing element axis on each, u shaped like m, c ∈ {1, d}.
  if (
    m.rank !== axis + 2 ||
    w.rank !== axis + 2 ||
    u.rank !== m.rank ||
    u.shape.some((s, i) => s !== m.shape[i]) ||
    (c !== 1 && c !== d)
  ) {
    return undefined;
  }
  return runOp(forwardDef, all, attrsFor(m, w, axis, carry !== undefined, gaugeInvariant));
}

/** (m_A, u_A, w_A) ⊕ (m_B, u_B, w_B), with the identity's −inf handled without −inf − (−inf). */
function combine(
  [ma, ua, wa]: readonly [Tensor, Tensor, Tensor],
  [mb, ub, wb]: readonly [Tensor, Tensor, Tensor],
): Tensor[] {
  const m = maximum(ma, mb);
  // Where m is −inf both sides are the identity: use 0 as the shift so every exponent is −inf − 0.
  const shift = where(m.isfinite(), m, 0);
  const ca = ma.sub(shift).exp();
  const cb = mb.sub(shift).exp();
  return [m, ua.mul(ca).add(ub.mul(cb)), wa.mul(ca).add(wb.mul(cb))];
}

/**
 * The attention operator: combines (m, u, w) triples with a shared running max, so that a scan of
 * it is softmax attention over each prefix (MATH.md §2).
 */
export const attention = defineOperator({
  name: 'attention',
  arity: 3,
  identity: [Number.NEGATIVE_INFINITY, 0, 0],
  elementRanks: [1, 1, 1],
  combine,
  fused: (inputs, axis, carry) => fused(inputs, axis, carry, false),
  // Per channel (m, u, w); with one score per position the kernels share m and u across channels.
  wgsl: ATTENTION_WGSL,
});

/**
 * The same operator for callers whose loss depends on (U·e^M, W·e^M) only (attentionScan): its fused
 * gradient leaves out the gradient along M, which is then exactly 0. Not exported from the package.
 */
export const gaugeInvariantAttention = defineOperator({
  ...attention,
  arity: 3,
  combine,
  fused: (inputs, axis, carry) => fused(inputs, axis, carry, true),
});

export function checkAttentionShapes(
  op: string,
  scores: Tensor,
  values: Tensor,
): 'head' | 'channel' {
  if (values.rank < 2)
    throw new TensorError(op, `expected values [..., T, d], got ${fmtShape(values.shape)}`);
  const lead = values.shape.slice(0, -1);
  if (scores.rank === values.rank - 1 && scores.shape.every((s, i) => s === lead[i])) return 'head';
  if (scores.rank === values.rank && scores.shape.every((s, i) => s === values.shape[i]))
    return 'channel';
  throw new TensorError(
    op,
    `expected scores [..., T] (one per position) or [..., T, d] (one per channel) for values ${fmtShape(values.shape)}, got ${fmtShape(scores.shape)}`,
  );
}
