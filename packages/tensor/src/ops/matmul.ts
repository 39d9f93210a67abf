import { fmtShape, TensorError } from '../errors.js';
import { defineOp, run1 } from '../op.js';
import { broadcastShapes, sizeOf } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { reshape, squeeze, unsqueeze } from './movement.js';
import { sumTo } from './reduce.js';

/**
 * Batched matrix product of op(a) [..., M, K] and op(b) [..., K, N], where op transposes the last two
 * axes when transA / transB is set (so gradients and `linear` need no transposed copies). Batch axes
 * broadcast.
 */
export interface MatmulAttrs {
  readonly transA: boolean;
  readonly transB: boolean;
}

function dims(a: Tensor, b: Tensor, { transA, transB }: MatmulAttrs) {
  const ra = a.rank;
  const rb = b.rank;
  const m = a.shape[transA ? ra - 1 : ra - 2]!;
  const ka = a.shape[transA ? ra - 2 : ra - 1]!;
  const kb = b.shape[transB ? rb - 1 : rb - 2]!;
  const n = b.shape[transB ? rb - 2 : rb - 1]!;
  return { m, ka, kb, n };
}

const matmulDef = defineOp<MatmulAttrs, [a: Tensor, b: Tensor]>({
  name: 'matmul',
  infer: ([x, y], attrs) => {
    const { m, ka, kb, n } = dims(x, y, attrs);
    if (ka !== kb) {
      throw new TensorError(
        'matmul',
        `inner sizes differ: ${fmtShape(x.shape)}${attrs.transA ? 'ᵀ' : ''} @ ${fmtShape(y.shape)}${attrs.transB ? 'ᵀ' : ''} (${ka} vs ${kb})`,
      );
    }
    if (x.dtype !== y.dtype)
      throw new TensorError('matmul', `dtypes differ: ${x.dtype} and ${y.dtype}`);
    const batch = broadcastShapes('matmul', x.shape.slice(0, -2), y.shape.slice(0, -2));
    return [{ shape: [...batch, m, n], dtype: x.dtype }];
  },
  grad: (dy, { inputs: [a, b], attrs }) => {
    const { transA, transB } = attrs;
    const da = transA ? matmulT(b, dy, transB, true) : matmulT(dy, b, false, !transB);
    const db = transB ? matmulT(dy, a, true, transA) : matmulT(a, dy, !transA, false);
    return [sumTo(da, a.shape), sumTo(db, b.shape)];
  },
  onnx: ({ g, inputs, attrs, inShapes, altInShapes, outDTypes, outputs }) => {
    const t = (x: string, rank: number) => {
      const perm = Array.from({ length: rank }, (_, i) => i);
      perm[rank - 2] = rank - 1;
      perm[rank - 1] = rank - 2;
      return g.op('Transpose', [x], { perm });
    };
    const a = attrs.transA ? t(inputs[0], inShapes[0].length) : inputs[0];
    const b = attrs.transB ? t(inputs[1], inShapes[1].length) : inputs[1];
    const ra = inShapes[0].length;
    const kAxis = attrs.transA ? ra - 2 : ra - 1;
    if (inShapes[0]?.[kAxis] === altInShapes[0]?.[kAxis]) {
      g.op('MatMul', [a, b], {}, outputs[0]);
      return;
    }
    // The inner size follows the inputs' sizes (a KV cache's length) and can be 0 at run time,
    // where onnxruntime's MatMul leaves its output unwritten: the sum over nothing is 0.
    const mm = g.op('MatMul', [a, b]);
    const k = g.op('Shape', [a], { start: -1 });
    const empty = g.op('Equal', [g.op('Reshape', [k, g.ints([])]), g.scalar(0, 'int64')]);
    g.op('Where', [empty, g.scalar(0, outDTypes[0]), mm], {}, outputs[0]);
  },
});

/** @internal The op's type, for its kernels (`registerKernel<MatmulOp>`). */
export type MatmulOp = typeof matmulDef;

/** op(a) @ op(b) on tensors of rank >= 2; see MatmulAttrs. */
export function matmulT(a: Tensor, b: Tensor, transA = false, transB = false): Tensor {
  if (a.rank < 2 || b.rank < 2) {
    throw new TensorError(
      'matmul',
      `expected rank >= 2, got ${fmtShape(a.shape)} and ${fmtShape(b.shape)}`,
    );
  }
  // A batch of rows times one matrix is one big matrix product: fold the batch into M.
  if (b.rank === 2 && a.rank > 2 && !transA) {
    const k = a.shape[a.rank - 1]!;
    // The row count is explicit: [-1, k] is ambiguous (an error) when k = 0.
    const rows = sizeOf(a.shape.slice(0, -1));
    const out = run1(matmulDef, [reshape(a, [rows, k]), b], { transA, transB });
    return reshape(out, [...a.shape.slice(0, -1), out.shape[1]!]);
  }
  return run1(matmulDef, [a, b], { transA, transB });
}

/** NumPy matmul: 1-d operands are promoted to matrices and the added axis removed afterwards. */
export function matmul(a: Tensor, b: Tensor): Tensor {
  if (a.rank === 0 || b.rank === 0) {
    throw new TensorError(
      'matmul',
      `expected tensors of rank >= 1, got ${fmtShape(a.shape)} and ${fmtShape(b.shape)}`,
    );
  }
  const a2 = a.rank === 1 ? unsqueeze(a, 0) : a;
  const b2 = b.rank === 1 ? unsqueeze(b, -1) : b;
  let out = matmulT(a2, b2);
  if (b.rank === 1) out = squeeze(out, -1);
  if (a.rank === 1) out = squeeze(out, out.rank === 1 ? 0 : -2);
  return out;
}
