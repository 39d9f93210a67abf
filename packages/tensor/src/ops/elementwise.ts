import type { OutputSpec } from '../backend.js';
import { type DType, isDType } from '../dtype.js';
import { TensorError } from '../errors.js';
import {
  castTo,
  comparison,
  elementwise,
  type OnnxGraph,
  type OnnxLowering,
} from '../onnx/lowering.js';
import { DataType } from '../onnx/proto.js';
import { defineOp, type OpDef, run1 } from '../op.js';
import { broadcastShapes, shapesEqual } from '../shape.js';
import type { Tensor, TensorLike } from '../tensor.js';
import { sumTo } from './reduce.js';
import { asTensor, asTensors } from './util.js';

// ---- unary -------------------------------------------------------------------------------------

type UnaryGrad = (dy: Tensor, x: Tensor, y: Tensor) => Tensor | null;

/**
 * A unary op's ONNX form: the input (cast to the output dtype when a float-only op reads int32) →
 * the output. `emit` writes the nodes and returns the result's name.
 */
type UnaryOnnx = (g: OnnxGraph, x: string, dtype: DType) => string;

/** One ONNX node of the same name. */
const node =
  (opType: string): UnaryOnnx =>
  (g, x) =>
    g.op(opType, [x]);

function unaryLowering(emit: UnaryOnnx): OnnxLowering<Record<string, never>> {
  return ({ g, inputs, inDTypes, outDTypes, outputs }) => {
    // Float ops read int32 input as float32; int-keeping ops and isnan/isfinite read it as it is.
    const type: DType = outDTypes[0] === 'float32' ? 'float32' : inDTypes[0]!;
    const x = castTo(g, inputs[0]!, inDTypes[0]!, type);
    g.op('Identity', [emit(g, x, type)], {}, outputs[0]);
  };
}

/** @internal The type of every unary elementwise op, for their kernels (`registerKernel<UnaryOp>`). */
export type UnaryOp = OpDef<Record<string, never>, [x: Tensor]>;
/** @internal The type of every binary elementwise op (and geluGrad: dy, x). */
export type BinaryOp = OpDef<Record<string, never>, [a: Tensor, b: Tensor]>;
/**
 * @internal What the generic elementwise kernels serve (`registerKernel<ElementwiseOp>`): any number
 * of inputs, one output, attributes unread.
 */
export type ElementwiseOp = OpDef<unknown, readonly Tensor[]>;

/** Float-only ops turn int32 input into float32 output; the rest keep int32. */
function unaryOp(
  name: string,
  grad: UnaryGrad | null,
  keepsInt = false,
  outDType?: DType,
  onnx?: UnaryOnnx,
) {
  const def: UnaryOp = defineOp({
    name,
    onnx: onnx && unaryLowering(onnx),
    infer: ([x]) => [{ shape: x.shape, dtype: outDType ?? (keepsInt ? x.dtype : 'float32') }],
    grad: grad ? (dy, { inputs: [x], output }) => [grad(dy, x, output)] : undefined,
  });
  return (x: Tensor): Tensor => run1(def, [x], {});
}

const SQRT_1_2 = Math.SQRT1_2;

/** −x elementwise; int32 stays int32. */
export const neg = unaryOp('neg', (dy) => dy.neg(), true, undefined, node('Neg'));
/** |x| elementwise; int32 stays int32. The gradient is sign(x)·dy, 0 at x = 0. */
export const abs = unaryOp('abs', (dy, x) => dy.mul(x.sign()), true, undefined, node('Abs'));
/**
 * −1, 0 or 1 by the sign of each element (0 for ±0), in x's dtype; NaN stays NaN. Not
 * differentiable: the result never requires gradients.
 */
export const sign = unaryOp('sign', null, true, undefined, node('Sign'));
/** eˣ elementwise; int32 input gives float32. */
export const exp = unaryOp('exp', (dy, _x, y) => dy.mul(y), false, undefined, node('Exp'));
// ONNX has no expm1: e^x − 1 loses relative accuracy for |x| below about 1e-4.
/**
 * eˣ − 1 elementwise, accurate for |x| near 0 where `exp(x) - 1` cancels; int32 input gives
 * float32.
 */
export const expm1 = unaryOp(
  'expm1',
  (dy, _x, y) => dy.mul(y.add(1)),
  false,
  undefined,
  (g, x) => g.op('Sub', [g.op('Exp', [x]), g.scalar(1, 'float32')]),
);
/** Natural logarithm elementwise: −Infinity at 0, NaN below; int32 input gives float32. */
export const log = unaryOp('log', (dy, x) => dy.div(x), false, undefined, node('Log'));
/** log(1 + x) elementwise, accurate for |x| near 0; int32 input gives float32. */
export const log1p = unaryOp(
  'log1p',
  (dy, x) => dy.div(x.add(1)),
  false,
  undefined,
  (g, x) => g.op('Log', [g.op('Add', [x, g.scalar(1, 'float32')])]),
);
/** √x elementwise (NaN below 0); int32 input gives float32. */
export const sqrt = unaryOp(
  'sqrt',
  (dy, _x, y) => dy.div(y.mul(2)),
  false,
  undefined,
  node('Sqrt'),
);
/** 1/√x elementwise (Infinity at 0); int32 input gives float32. */
export const rsqrt = unaryOp(
  'rsqrt',
  (dy, _x, y) => dy.mul(y.pow(3)).mul(-0.5),
  false,
  undefined,
  (g, x) => g.op('Reciprocal', [g.op('Sqrt', [x])]),
);
/** Sine elementwise, in radians; int32 input gives float32. */
export const sin = unaryOp('sin', (dy, x) => dy.mul(x.cos()), false, undefined, node('Sin'));
/** Cosine elementwise, in radians; int32 input gives float32. */
export const cos = unaryOp('cos', (dy, x) => dy.mul(x.sin()).neg(), false, undefined, node('Cos'));
/** Hyperbolic tangent elementwise, in (−1, 1); int32 input gives float32. */
export const tanh = unaryOp(
  'tanh',
  (dy, _x, y) => dy.mul(y.square().neg().add(1)),
  false,
  undefined,
  node('Tanh'),
);
/** The error function (2/√π)∫₀ˣ e^(−t²) dt elementwise; int32 input gives float32. */
export const erf = unaryOp(
  'erf',
  (dy, x) =>
    dy.mul(
      x
        .square()
        .neg()
        .exp()
        .mul(2 / Math.sqrt(Math.PI)),
    ),
  false,
  undefined,
  node('Erf'),
);
/** The logistic function 1/(1 + e⁻ˣ) elementwise, in (0, 1); int32 input gives float32. */
export const sigmoid = unaryOp(
  'sigmoid',
  (dy, _x, y) => dy.mul(y.mul(y.neg().add(1))),
  false,
  undefined,
  node('Sigmoid'),
);
/** max(x, 0) elementwise; int32 stays int32. The gradient is 0 at x = 0. */
export const relu = unaryOp('relu', (dy, x) => dy.mul(x.gt(0)), true, undefined, node('Relu'));
/**
 * GELU's backward in one kernel: dy · (Φ(x) + x·φ(x)), inputs dy and x of the same shape. Not
 * differentiable itself (backward records no graph).
 */
const geluGradDef: BinaryOp = defineOp({
  name: 'geluGrad',
  infer: ([dy]) => [{ shape: dy.shape, dtype: 'float32' }],
});

/** Exact GELU, x·Φ(x) with the normal CDF (PyTorch's default, not the tanh approximation). */
export const gelu = unaryOp(
  'gelu',
  (dy, x) => run1(geluGradDef, [dy, x], {}),
  false,
  undefined,
  (g, x) => {
    // x·½(1 + erf(x/√2)); ONNX's Gelu op needs opset 20.
    const cdf = g.op('Add', [
      g.op('Erf', [g.op('Mul', [x, g.scalar(SQRT_1_2, 'float32')])]),
      g.scalar(1, 'float32'),
    ]);
    return g.op('Mul', [g.op('Mul', [x, cdf]), g.scalar(0.5, 'float32')]);
  },
);
/** SiLU (swish), x·σ(x) with σ the {@link sigmoid}; int32 input gives float32. */
export const silu = unaryOp(
  'silu',
  (dy, x) => {
    const s = x.sigmoid();
    return dy.mul(s.mul(x.mul(s.neg().add(1)).add(1)));
  },
  false,
  undefined,
  (g, x) => g.op('Mul', [x, g.op('Sigmoid', [x])]),
);
/** log(1 + eˣ), computed without overflow. */
export const softplus = unaryOp(
  'softplus',
  (dy, x) => dy.mul(x.sigmoid()),
  false,
  undefined,
  (g, x) =>
    // max(x, 0) + log(1 + e^−|x|): no overflow at any x.
    g.op('Add', [
      g.op('Relu', [x]),
      g.op('Log', [
        g.op('Add', [g.op('Exp', [g.op('Neg', [g.op('Abs', [x])])]), g.scalar(1, 'float32')]),
      ]),
    ]),
);
/** x² elementwise; int32 stays int32. */
export const square = unaryOp(
  'square',
  (dy, x) => dy.mul(x).mul(2),
  true,
  undefined,
  (g, x) => g.op('Mul', [x, x]),
);
/** 1/x elementwise (Infinity at 0); int32 input gives float32. */
export const reciprocal = unaryOp(
  'reciprocal',
  (dy, _x, y) => dy.mul(y.square()).neg(),
  false,
  undefined,
  node('Reciprocal'),
);
/**
 * Rounds down to an integer value, in x's dtype (the identity on int32). Not differentiable: the
 * result never requires gradients.
 */
export const floor = unaryOp('floor', null, true, undefined, (g, x, t) =>
  g.op(t === 'int32' ? 'Identity' : 'Floor', [x]),
);
/**
 * Rounds up to an integer value, in x's dtype (the identity on int32). Not differentiable: the
 * result never requires gradients.
 */
export const ceil = unaryOp('ceil', null, true, undefined, (g, x, t) =>
  g.op(t === 'int32' ? 'Identity' : 'Ceil', [x]),
);
/** Rounds half to even, as NumPy and PyTorch do. */
export const round = unaryOp('round', null, true, undefined, (g, x, t) =>
  g.op(t === 'int32' ? 'Identity' : 'Round', [x]),
);
/** 1 where x is NaN, else 0, as int32 (all zeros for int32 input). */
export const isnan = unaryOp('isnan', null, false, 'int32', (g, x, t) =>
  t === 'int32'
    ? g.op('Mul', [x, g.scalar(0, 'int32')])
    : g.op('Cast', [g.op('IsNaN', [x])], { to: DataType.INT32 }),
);
/** 1 where x is neither NaN nor ±Infinity, else 0, as int32 (all ones for int32 input). */
export const isfinite = unaryOp('isfinite', null, false, 'int32', (g, x, t) =>
  t === 'int32'
    ? g.op('Add', [g.op('Mul', [x, g.scalar(0, 'int32')]), g.scalar(1, 'int32')])
    : g.op('Cast', [g.op('Not', [g.op('Or', [g.op('IsInf', [x]), g.op('IsNaN', [x])])])], {
        to: DataType.INT32,
      }),
);

const castDef = defineOp<{ dtype: DType }, [x: Tensor]>({
  name: 'cast',
  infer: ([x], { dtype }) => {
    if (!isDType(dtype))
      throw new TensorError('cast', `expected dtype 'float32' or 'int32', got ${String(dtype)}`);
    return [{ shape: x.shape, dtype }];
  },
  grad: (dy, { inputs: [x] }) => [x.dtype === 'float32' ? dy : null],
  onnx: (ctx) => {
    const y = castTo(ctx.g, ctx.inputs[0], ctx.inDTypes[0], ctx.attrs.dtype);
    ctx.g.op('Identity', [y], {}, ctx.outputs[0]);
  },
});

/** Converts dtype; float → int32 truncates toward zero. Returns a copy even for the same dtype. */
export function cast(x: Tensor, dtype: DType): Tensor {
  return run1(castDef, [x], { dtype });
}

/** A copy with its own buffer (differentiable). */
export function clone(x: Tensor): Tensor {
  return run1(castDef, [x], { dtype: x.dtype });
}

// ---- binary (broadcasting) ------------------------------------------------------------------

type BinaryGrad = (dy: Tensor, a: Tensor, b: Tensor, y: Tensor) => [Tensor | null, Tensor | null];

function binaryInfer(name: string, outDType?: DType) {
  return ([x, y]: [Tensor, Tensor]): [OutputSpec] => {
    const shape = shapesEqual(x.shape, y.shape) ? x.shape : broadcastShapes(name, x.shape, y.shape);
    const dtype =
      outDType ?? (x.dtype === 'float32' || y.dtype === 'float32' ? 'float32' : 'int32');
    return [{ shape, dtype }];
  };
}

function binaryOp(
  name: string,
  grad: BinaryGrad | null,
  outDType: DType | undefined,
  onnx: OnnxLowering<Record<string, never>>,
) {
  const def: BinaryOp = defineOp({
    name,
    onnx,
    infer: binaryInfer(name, outDType),
    grad: grad
      ? (dy, { inputs: [a, b], output }) => {
          const [ga, gb] = grad(dy, a, b, output);
          return [ga && sumTo(ga, a.shape), gb && sumTo(gb, b.shape)];
        }
      : undefined,
  });
  return (a: TensorLike, b: TensorLike): Tensor => run1(def, asTensors(name, a, b), {});
}

/** Where a and b tie, each gets half the gradient (as PyTorch does). */
function tieSplit(a: Tensor, b: Tensor, pick: (a: Tensor, b: Tensor) => Tensor): Tensor {
  return pick(a, b).float().add(a.eq(b).float().mul(0.5));
}

/**
 * a + b elementwise with broadcasting; float32 if either operand is float32, else int32. A number
 * operand takes the tensor's dtype where it fits.
 */
export const add = binaryOp('add', (dy) => [dy, dy], undefined, elementwise('Add'));
/** a − b elementwise with broadcasting; float32 if either operand is float32, else int32. */
export const sub = binaryOp('sub', (dy) => [dy, dy.neg()], undefined, elementwise('Sub'));
/** a · b elementwise with broadcasting; float32 if either operand is float32, else int32. */
export const mul = binaryOp(
  'mul',
  (dy, a, b) => [dy.mul(b), dy.mul(a)],
  undefined,
  elementwise('Mul'),
);
/** True division: int32 / int32 gives float32. */
const divDef: BinaryOp = defineOp({
  name: 'div',
  infer: binaryInfer('div', 'float32'),
  onnx: elementwise('Div'),
  grad: (dy, { inputs: [a, b], output }) => {
    return [sumTo(dy.div(b), a.shape), sumTo(dy.mul(output).div(b).neg(), b.shape)];
  },
});
/**
 * True division a / b elementwise with broadcasting: always float32, also for int32 / int32.
 * Division by 0 gives ±Infinity or NaN.
 */
export function div(a: TensorLike, b: TensorLike): Tensor {
  return run1(divDef, asTensors('div', a, b), {});
}
/**
 * aᵇ elementwise with broadcasting; float32 if either operand is float32, else int32. The gradient
 * in b is taken as 0 where a <= 0, and the gradient in a is 0 where b = 0.
 */
export const pow = binaryOp(
  'pow',
  (dy, a, b, y) => [
    // d/da aᵇ = b·aᵇ⁻¹, exactly 0 where b = 0 (not 0·0⁻¹ = NaN at a = 0; as PyTorch).
    dy.mul(where(b.eq(0), 0, b.mul(a.pow(b.sub(1))))),
    // d/db aᵇ = aᵇ·ln a, taken as 0 where a <= 0 (ln undefined), as the limit is for a = 0.
    dy.mul(where(a.gt(0), y.mul(a.log()), 0)),
  ],
  undefined,
  elementwise('Pow'),
);
/**
 * The larger of a and b elementwise, with broadcasting. Where they tie each gets half the gradient
 * (as in PyTorch); see {@link clamp} for bounds by numbers.
 */
export const maximum = binaryOp(
  'maximum',
  (dy, a, b) => [
    dy.mul(tieSplit(a, b, (x, y) => x.gt(y))),
    dy.mul(tieSplit(b, a, (x, y) => x.gt(y))),
  ],
  undefined,
  elementwise('Max'),
);
/**
 * The smaller of a and b elementwise, with broadcasting. Where they tie each gets half the gradient
 * (as in PyTorch).
 */
export const minimum = binaryOp(
  'minimum',
  (dy, a, b) => [
    dy.mul(tieSplit(a, b, (x, y) => x.lt(y))),
    dy.mul(tieSplit(b, a, (x, y) => x.lt(y))),
  ],
  undefined,
  elementwise('Min'),
);
/**
 * 1 where a = b, else 0, as int32, with broadcasting. Not differentiable: the result never requires
 * gradients.
 */
export const eq = binaryOp('eq', null, 'int32', comparison('Equal'));
/**
 * 1 where a ≠ b, else 0, as int32, with broadcasting (NaN ≠ NaN). Not differentiable: the result
 * never requires gradients.
 */
export const ne = binaryOp('ne', null, 'int32', comparison('Equal', true));
/**
 * 1 where a < b, else 0, as int32, with broadcasting. Not differentiable: the result never requires
 * gradients.
 */
export const lt = binaryOp('lt', null, 'int32', comparison('Less'));
/**
 * 1 where a <= b, else 0, as int32, with broadcasting. Not differentiable: the result never
 * requires gradients.
 */
export const le = binaryOp('le', null, 'int32', comparison('LessOrEqual'));
/**
 * 1 where a > b, else 0, as int32, with broadcasting. Not differentiable: the result never requires
 * gradients.
 */
export const gt = binaryOp('gt', null, 'int32', comparison('Greater'));
/**
 * 1 where a >= b, else 0, as int32, with broadcasting. Not differentiable: the result never
 * requires gradients.
 */
export const ge = binaryOp('ge', null, 'int32', comparison('GreaterOrEqual'));

/**
 * Clamps into [min, max]; either bound may be left out. The full gradient flows where
 * min <= x <= max, bounds included (as PyTorch; maximum/minimum would halve it at the bounds).
 */
export function clamp(x: Tensor, min?: number | null, max?: number | null): Tensor {
  if (min != null && max != null && min > max)
    throw new TensorError('clamp', `expected min <= max, got ${min} > ${max}`);
  let y = x;
  if (min != null) y = where(lt(y, min), min, y);
  if (max != null) y = where(gt(y, max), max, y);
  return y === x ? clone(x) : y;
}

// ---- where (ternary, broadcasting) ------------------------------------------------------------

const whereDef = defineOp<Record<string, never>, [cond: Tensor, a: Tensor, b: Tensor]>({
  name: 'where',
  infer: ([cond, x, y]) => {
    return [
      {
        shape: broadcastShapes('where', cond.shape, x.shape, y.shape),
        dtype: x.dtype === 'float32' || y.dtype === 'float32' ? 'float32' : 'int32',
      },
    ];
  },
  grad: (dy, { inputs: [c, a, b] }) => {
    const zero = asTensor('where', 0, dy);
    return [null, sumTo(where(c, dy, zero), a.shape), sumTo(where(c, zero, dy), b.shape)];
  },
  onnx: ({ g, inputs, inDTypes, outDTypes, outputs }) => {
    const [c, a, b] = inputs;
    const out = outDTypes[0];
    const cond = g.op('Cast', [c], { to: DataType.BOOL });
    const x = castTo(g, a, inDTypes[1], out);
    const y = castTo(g, b, inDTypes[2], out);
    g.op('Where', [cond, x, y], {}, outputs[0]);
  },
});

/**
 * Elementwise `condition ? a : b`; any non-zero condition counts as true. When both branches are
 * numbers they take the condition's dtype where they fit (as a number beside a tensor does).
 */
export function where(condition: Tensor, a: TensorLike, b: TensorLike): Tensor {
  const [x, y] =
    typeof a === 'number' && typeof b === 'number'
      ? [asTensor('where', a, condition), asTensor('where', b, condition)]
      : asTensors('where', a, b);
  return run1(whereDef, [condition, x, y], {});
}
