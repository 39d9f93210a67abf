import type { OutputSpec } from '../backend.js';
import { fmtShape, TensorError } from '../errors.js';
import { intsOf, type OnnxContext } from '../onnx/lowering.js';
import { defineOp, type OpDef, runOp } from '../op.js';
import { shapesEqual, sizeOf } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { zerosLike } from './creation.js';

/**
 * Fused softmax attention over the last two axes of q [..., Tq, d], k [..., Tk, d], v [..., Tk, dv]
 * (leading axes equal). For every leading index and query i, with V(i) the visible keys
 *
 *     V(i) = { j : j < length  and  (not causal  or  j <= offset + i) }     (always a prefix 0..e(i)−1)
 *     s_ij = scale · q_i · k_j                                             (j in V(i))
 *     lse_i = log Σ_{j∈V(i)} exp(s_ij)                                      (−∞ when V(i) is empty)
 *     out_i = Σ_{j∈V(i)} exp(s_ij − lse_i) · v_j                            (0 when V(i) is empty)
 *
 * i.e. softmax(q kᵀ · scale + mask) v with the mask −∞ outside V(i). Outputs `out` [..., Tq, dv] and
 * `lse` [..., Tq] (both differentiable). The kernels never hold the [Tq, Tk] score matrix: the CPU
 * works on tiles of 64 queries × 128 keys with the WebAssembly GEMM and an online softmax (a
 * streaming step's few queries walk rows, four at a time), the GPU one thread per row with an
 * online softmax; the gradient ('attentionGrad') recomputes the probabilities from `lse` tile by
 * tile (as FlashAttention does).
 */
export interface AttentionAttrs {
  readonly scale: number;
  readonly causal: boolean;
  /** Query i sits at key position offset + i (for causal masking). */
  readonly offset: number;
  /** Keys at positions >= length are never attended (a preallocated cache's unused tail). */
  readonly length: number;
}

/** The sizes of q [..., Tq, D], k [..., Tk, D] and v [..., Tk, Dv]; `batch` is the product of `...`. */
export interface AttentionDims {
  readonly batch: number;
  readonly tq: number;
  readonly tk: number;
  readonly d: number;
  readonly dv: number;
}

type Shaped = { readonly shape: readonly number[] };

/** {@link AttentionDims} of q, k, v (shared by the op and every backend's kernels). */
export function attentionDims(q: Shaped, k: Shaped, v: Shaped): AttentionDims {
  const r = q.shape.length;
  return {
    batch: sizeOf(q.shape.slice(0, -2)),
    tq: q.shape[r - 2]!,
    tk: k.shape[r - 2]!,
    d: q.shape[r - 1]!,
    dv: v.shape[r - 1]!,
  };
}

/** One past the last key query i sees: the visible keys are always the prefix 0..end−1. */
export function visibleEnd(a: AttentionAttrs, i: number): number {
  return Math.max(0, a.causal ? Math.min(a.length, a.offset + i + 1) : a.length);
}

/**
 * ONNX: the scores as a MatMul, the visible set as a mask built from ranges (so any Tq, Tk, length
 * and offset that follow the inputs' sizes stay symbolic), then a max-shifted softmax. A row that
 * sees no key gets out = 0 and lse = −∞, as the kernel gives.
 */
function attentionOnnx(
  ctx: OnnxContext<AttentionAttrs, [Tensor, Tensor, Tensor], [OutputSpec, OutputSpec]>,
): void {
  const { g, attrs, altAttrs, inputs, outputs } = ctx;
  const [q, k, v] = inputs;
  const r = ctx.inShapes[0].length;
  const [tqA, tkA] = [ctx.inShapes[0][r - 2]!, ctx.inShapes[1][r - 2]!];
  const [tqB, tkB] = [ctx.altInShapes[0][r - 2]!, ctx.altInShapes[1][r - 2]!];
  const perm = Array.from({ length: r }, (_, i) => (i < r - 2 ? i : 2 * r - 3 - i));
  const scores = g.op('Mul', [
    g.op('MatMul', [q, g.op('Transpose', [k], { perm })]),
    g.scalar(attrs.scale, 'float32'),
  ]);
  const scalarOf = (x: string) => g.op('Reshape', [x, g.ints([])]);
  const tq = scalarOf(g.op('Shape', [q], { start: r - 2, end: r - 1 }));
  const tk = scalarOf(g.op('Shape', [k], { start: r - 2, end: r - 1 }));
  const symbolic = (a: number, b: number, what: string): string => {
    const s = g.size(a, b);
    if (s === null) ctx.fail(`cannot express the ${what} ${a} (${b} in the second trace)`);
    return typeof s === 'number' ? g.scalar(s, 'int64') : scalarOf(s);
  };
  const allKeys = attrs.length === tkA && altAttrs.length === tkB;
  const length = allKeys ? tk : symbolic(attrs.length, altAttrs.length, 'length');
  const defaultOffset =
    attrs.offset === attrs.length - tqA && altAttrs.offset === altAttrs.length - tqB;
  const offset = defaultOffset
    ? g.op('Sub', [length, tq])
    : symbolic(attrs.offset, altAttrs.offset, 'offset');
  const one = g.scalar(1, 'int64');
  const zero = g.scalar(0, 'int64');
  const cols = g.op('Unsqueeze', [g.op('Range', [zero, tk, one]), g.ints([0])]); // [1, Tk]
  const rows = g.op('Unsqueeze', [g.op('Range', [zero, tq, one]), g.ints([1])]); // [Tq, 1]
  let visible = g.op('Less', [cols, length]);
  if (attrs.causal) {
    const last = g.op('Add', [rows, offset]);
    visible = g.op('And', [visible, g.op('LessOrEqual', [cols, last])]);
  }
  const masked = g.op('Where', [visible, scores, g.scalar(Number.NEGATIVE_INFINITY, 'float32')]);
  const m = g.op('ReduceMax', [masked], { axes: [-1], keepdims: 1 });
  const shift = g.op('Where', [g.op('IsInf', [m]), g.scalar(0, 'float32'), m]);
  const e = g.op('Exp', [g.op('Sub', [masked, shift])]);
  const sum = g.op('ReduceSum', [e, g.ints([-1])], { keepdims: 1 });
  // A visible row's sum is >= 1 (its maximum contributes e^0); an empty row's is 0 and gives 0.
  const p = g.op('Div', [e, g.op('Max', [sum, g.scalar(1, 'float32')])]);
  g.op('MatMul', [p, v], {}, outputs[0]);
  const lse = g.op('Add', [g.op('Log', [sum]), shift]);
  g.op('Squeeze', [lse, intsOf(g, [-1])], {}, outputs[1]);
}

/** q, k, v → out, lse. */
const attentionDef: OpDef<
  AttentionAttrs,
  [q: Tensor, k: Tensor, v: Tensor],
  [out: OutputSpec, lse: OutputSpec]
> = defineOp({
  name: 'attention',
  onnx: attentionOnnx,
  infer: ([q, k, v]) => {
    const { tq, dv } = attentionDims(q, k, v);
    const lead = q.shape.slice(0, -2);
    return [
      { shape: [...lead, tq, dv], dtype: 'float32' },
      { shape: [...lead, tq], dtype: 'float32' },
    ];
  },
  grad: (dy, { inputs, outputs: [out, lse], outputGrads, attrs }) => {
    const dLse = outputGrads[1] ?? zerosLike(lse);
    return runOp(attentionGradDef, [...inputs, out, lse, dy, dLse], attrs);
  },
});

/**
 * The gradient of 'attention': inputs q, k, v, out, lse, dOut, dLse → dq, dk, dv. With
 * p_ij = exp(s_ij − lse_i) (recomputed) and δ_i = dOut_i · out_i − dLse_i:
 *
 *     ds_ij = p_ij · (dOut_i · v_j − δ_i)      dq_i = scale Σ_j ds_ij k_j
 *     dk_j  = scale Σ_i ds_ij q_i              dv_j = Σ_i p_ij dOut_i
 *
 * (sums over visible pairs only). Not differentiable itself (backward records no graph).
 */
const attentionGradDef: OpDef<
  AttentionAttrs,
  [q: Tensor, k: Tensor, v: Tensor, out: Tensor, lse: Tensor, dOut: Tensor, dLse: Tensor],
  [dq: OutputSpec, dk: OutputSpec, dv: OutputSpec]
> = defineOp({
  name: 'attentionGrad',
  infer: ([q, k, v]) => [
    { shape: q.shape, dtype: 'float32' },
    { shape: k.shape, dtype: 'float32' },
    { shape: v.shape, dtype: 'float32' },
  ],
});

/** @internal The ops' types, for their kernels (`registerKernel<AttentionOp>`). */
export type AttentionOp = typeof attentionDef;
/** @internal The attention gradient op's type, for its kernels. */
export type AttentionGradOp = typeof attentionGradDef;

/**
 * Options of {@link softmaxAttention}: causal masking, the score scale, where the queries sit among
 * the keys, and how many keys are valid.
 */
export interface AttentionOptions {
  /** Mask keys after each query's position (default false). */
  causal?: boolean;
  /** Multiplies q · k (default 1/√d). */
  scale?: number;
  /** Query i sits at key position offset + i (default length − Tq: the queries are the last ones). */
  offset?: number;
  /** Only keys 0..length−1 are attended (default Tk, all of them). */
  length?: number;
}

function check(q: Tensor, k: Tensor, v: Tensor): void {
  const op = 'softmaxAttention';
  for (const [name, t] of [
    ['q', q],
    ['k', k],
    ['v', v],
  ] as const) {
    if (t.dtype !== 'float32')
      throw new TensorError(op, `expected a float32 ${name}, got ${t.dtype}`);
    if (t.rank < 2) {
      throw new TensorError(
        op,
        `expected ${name} of rank >= 2 ([..., tokens, features]), got ${fmtShape(t.shape)}`,
      );
    }
  }
  const lead = q.shape.slice(0, -2);
  const r = q.rank;
  const ok =
    k.rank === r &&
    v.rank === r &&
    shapesEqual(k.shape.slice(0, -2), lead) &&
    shapesEqual(v.shape.slice(0, -2), lead) &&
    k.shape[r - 1] === q.shape[r - 1] &&
    v.shape[r - 2] === k.shape[r - 2];
  if (!ok) {
    throw new TensorError(
      op,
      `expected q [..., Tq, d], k [..., Tk, d], v [..., Tk, dv] with equal leading axes, got q ${fmtShape(q.shape)}, k ${fmtShape(k.shape)}, v ${fmtShape(v.shape)}`,
    );
  }
}

function attrsOf(q: Tensor, k: Tensor, opts: AttentionOptions): AttentionAttrs {
  const op = 'softmaxAttention';
  const tq = q.shape[q.rank - 2]!;
  const tk = k.shape[k.rank - 2]!;
  const d = q.shape[q.rank - 1]!;
  const length = opts.length ?? tk;
  if (!Number.isInteger(length) || length < 0 || length > tk) {
    throw new TensorError(op, `expected an integer length in [0, ${tk}] (keys), got ${length}`);
  }
  const offset = opts.offset ?? length - tq;
  if (!Number.isInteger(offset))
    throw new TensorError(op, `expected an integer offset, got ${offset}`);
  const scale = opts.scale ?? 1 / Math.sqrt(Math.max(d, 1));
  if (!Number.isFinite(scale)) throw new TensorError(op, `expected a finite scale, got ${scale}`);
  return { scale, causal: opts.causal ?? false, offset, length };
}

/**
 * softmax(q kᵀ · scale + mask) v in one op, forward and backward, without materialising the
 * [..., Tq, Tk] scores (see AttentionAttrs for the exact definition). q [..., Tq, d], k [..., Tk, d],
 * v [..., Tk, dv] → [..., Tq, dv]. A query that sees no key gets zeros.
 */
export function softmaxAttention(
  q: Tensor,
  k: Tensor,
  v: Tensor,
  opts: AttentionOptions = {},
): Tensor {
  return softmaxAttentionWithLse(q, k, v, opts).out;
}

/** softmaxAttention plus each query's log Σ exp(scores) (`lse` [..., Tq]; −∞ where no key is visible). */
export function softmaxAttentionWithLse(
  q: Tensor,
  k: Tensor,
  v: Tensor,
  opts: AttentionOptions = {},
): { out: Tensor; lse: Tensor } {
  check(q, k, v);
  // A streaming step (one query) reads k and v whole for one row of output: where the backend's
  // kernels read such buffers in place from memory of their own, they move there (once: a cache
  // written in place by sliceAssign stays there).
  if (q.shape[q.rank - 2] === 1) {
    k.makeResident();
    v.makeResident();
  }
  const [out, lse] = runOp(attentionDef, [q, k, v], attrsOf(q, k, opts));
  return { out, lse };
}
