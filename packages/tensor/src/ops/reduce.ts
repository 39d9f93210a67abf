import { fmtShape, TensorError } from '../errors.js';
import type { OnnxLowering } from '../onnx/lowering.js';
import { DataType } from '../onnx/proto.js';
import { defineOp, type OpDef, run1 } from '../op.js';
import { normalizeAxes, normalizeAxis, shapesEqual, sizeOf } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { where } from './elementwise.js';
import { expand, permute, reshape, squeeze } from './movement.js';

/**
 * Kernels reduce one run of adjacent axes [start, end): the input is read as [outer, r, inner] and the
 * output is [outer, inner]. Other axis sets are reduced one run at a time.
 */
export interface ReduceAttrs {
  readonly start: number;
  readonly end: number;
  readonly keepdim: boolean;
}

function reducedShape(shape: readonly number[], { start, end, keepdim }: ReduceAttrs): number[] {
  const out = shape.slice(0, start);
  if (keepdim) for (let i = start; i < end; i++) out.push(1);
  return out.concat(shape.slice(end));
}

/** The reduced output broadcast back to the input's shape. */
function spread(t: Tensor, inputShape: readonly number[], attrs: ReduceAttrs): Tensor {
  const kept = reducedShape(inputShape, { ...attrs, keepdim: true });
  return expand(reshape(t, kept), inputShape);
}

/**
 * ONNX reductions over [start, end). Opset 17's ReduceSum takes the axes as an input, ReduceMax and
 * ReduceMin as an attribute; ArgMax/ArgMin give int64 (recur: int32).
 */
function reduceOnnx(name: string): OnnxLowering<ReduceAttrs> {
  return ({ g, inputs, attrs, outputs }) => {
    const x = inputs[0]!;
    const axes = Array.from({ length: attrs.end - attrs.start }, (_, i) => attrs.start + i);
    const keepdims = attrs.keepdim ? 1 : 0;
    if (axes.length === 0) {
      g.op('Identity', [x], {}, outputs[0]);
    } else if (name === 'sum') {
      g.op('ReduceSum', [x, g.ints(axes)], { keepdims }, outputs[0]);
    } else if (name === 'max' || name === 'min') {
      g.op(name === 'max' ? 'ReduceMax' : 'ReduceMin', [x], { axes, keepdims }, outputs[0]);
    } else {
      const i = g.op(name === 'argmax' ? 'ArgMax' : 'ArgMin', [x], {
        axis: attrs.start,
        keepdims,
        select_last_index: 0,
      });
      g.op('Cast', [i], { to: DataType.INT32 }, outputs[0]);
    }
  };
}

/** @internal The type of every reduction, for their kernels (`registerKernel<ReduceOp>`). */
export type ReduceOp = OpDef<ReduceAttrs, [x: Tensor]>;

function reduceDef(
  name: string,
  needsElements: boolean,
  grad?: (dy: Tensor, x: Tensor, y: Tensor, a: ReduceAttrs) => Tensor,
) {
  return defineOp<ReduceAttrs, [x: Tensor]>({
    name,
    onnx: reduceOnnx(name),
    infer: ([t], attrs) => {
      if (needsElements && sizeOf(t.shape.slice(attrs.start, attrs.end)) === 0) {
        throw new TensorError(
          name,
          `cannot reduce over an empty axis (shape ${fmtShape(t.shape)})`,
        );
      }
      const dtype = name === 'argmax' || name === 'argmin' ? 'int32' : t.dtype;
      return [{ shape: reducedShape(t.shape, attrs), dtype }];
    },
    grad: grad && ((dy, { inputs: [x], output, attrs }) => [grad(dy, x, output, attrs)]),
  });
}

/** Max and min send the gradient to the elements equal to the result, split evenly among ties. */
function extremumGrad(dy: Tensor, x: Tensor, y: Tensor, a: ReduceAttrs): Tensor {
  const hit = x.eq(spread(y, x.shape, a)).float();
  const count = spread(sumRun(hit, { ...a, keepdim: false }), x.shape, a);
  return spread(dy, x.shape, a).mul(hit).div(count);
}

const sumDef = reduceDef('sum', false, (dy, x, _y, a) => spread(dy, x.shape, a));
const maxDef = reduceDef('max', true, extremumGrad);
const minDef = reduceDef('min', true, extremumGrad);
const argmaxDef = reduceDef('argmax', true);
const argminDef = reduceDef('argmin', true);

function sumRun(x: Tensor, attrs: ReduceAttrs): Tensor {
  return run1(sumDef, [x], attrs);
}

/** Splits sorted axes into runs of adjacent axes, last run first (so earlier indices stay valid). */
function runsOf(axes: number[]): [number, number][] {
  const runs: [number, number][] = [];
  for (const a of axes) {
    const last = runs[runs.length - 1];
    if (last && last[1] === a) last[1] = a + 1;
    else runs.push([a, a + 1]);
  }
  return runs.reverse();
}

/**
 * Reduces `axis` run by run of adjacent axes, or, when `oneRun` (max and min), all in one run so the
 * gradient is split evenly over every tie in a group (as torch.amax does; run by run it would be
 * halved per run): non-adjacent axes are then first moved to the end.
 */
function reduceAxes(
  def: ReturnType<typeof reduceDef>,
  name: string,
  x: Tensor,
  axis: number | readonly number[] | undefined,
  keepdim: boolean,
  oneRun = false,
): Tensor {
  const axes = normalizeAxes(name, axis, x.rank);
  if (axes.length === 0) return run1(def, [x], { start: 0, end: 0, keepdim });
  const runs = runsOf(axes);
  if (!oneRun || runs.length === 1) {
    let y = x;
    for (const [start, end] of runs) y = run1(def, [y], { start, end, keepdim });
    return y;
  }
  if (axes.some((a) => x.shape[a] === 0)) {
    throw new TensorError(name, `cannot reduce over an empty axis (shape ${fmtShape(x.shape)})`);
  }
  const rest = x.shape.map((_, i) => i).filter((i) => !axes.includes(i));
  const y = run1(def, [permute(x, [...rest, ...axes])], {
    start: rest.length,
    end: x.rank,
    keepdim: false,
  });
  return keepdim
    ? reshape(
        y,
        x.shape.map((d, i) => (axes.includes(i) ? 1 : d)),
      )
    : y;
}

/**
 * Sum over `axis` (one axis, several, or all when left out; negative axes count from the end),
 * keeping the reduced axes as size 1 when `keepdim`. Keeps the dtype: int32 sums stay int32; an
 * empty axis sums to 0.
 */
export function sum(x: Tensor, axis?: number | readonly number[], keepdim = false): Tensor {
  return reduceAxes(sumDef, 'sum', x, axis, keepdim);
}

/**
 * Maximum over `axis` (one, several, or all when left out), reduced axes kept as size 1 when
 * `keepdim`; keeps the dtype. The gradient is split evenly among tied maxima; throws on an empty
 * axis. See {@link argmax} for the index.
 */
export function max(x: Tensor, axis?: number | readonly number[], keepdim = false): Tensor {
  return reduceAxes(maxDef, 'max', x, axis, keepdim, true);
}

/**
 * Minimum over `axis` (one, several, or all when left out), reduced axes kept as size 1 when
 * `keepdim`; keeps the dtype. The gradient is split evenly among tied minima; throws on an empty
 * axis. See {@link argmin} for the index.
 */
export function min(x: Tensor, axis?: number | readonly number[], keepdim = false): Tensor {
  return reduceAxes(minDef, 'min', x, axis, keepdim, true);
}

/** x itself when already float32 (a cast would copy it), else its float32 copy. */
function asFloat(x: Tensor): Tensor {
  return x.dtype === 'float32' ? x : x.float();
}

/** Mean over axes (all by default); int32 input gives float32. */
export function mean(x: Tensor, axis?: number | readonly number[], keepdim = false): Tensor {
  const axes = normalizeAxes('mean', axis, x.rank);
  const n = axes.reduce((acc, a) => acc * x.shape[a]!, 1);
  return sum(asFloat(x), axes, keepdim).div(n);
}

/** Variance with Bessel's `correction` (1 = unbiased, as PyTorch's default; 0 = population). */
export function variance(
  x: Tensor,
  axis?: number | readonly number[],
  keepdim = false,
  correction = 1,
): Tensor {
  const axes = normalizeAxes('var', axis, x.rank);
  const n = axes.reduce((acc, a) => acc * x.shape[a]!, 1);
  const xf = asFloat(x);
  const centered = xf.sub(mean(xf, axes, true));
  return sum(centered.square(), axes, keepdim).div(Math.max(0, n - correction));
}

/**
 * Standard deviation over `axis` (all when left out): the square root of {@link variance} with the
 * same Bessel `correction` (1 by default); int32 input gives float32.
 */
export function std(
  x: Tensor,
  axis?: number | readonly number[],
  keepdim = false,
  correction = 1,
): Tensor {
  return variance(x, axis, keepdim, correction).sqrt();
}

/** log Σ exp(x), stabilised by the maximum (rows that are all -inf give -inf). */
export function logsumexp(x: Tensor, axis?: number | readonly number[], keepdim = false): Tensor {
  const axes = normalizeAxes('logsumexp', axis, x.rank);
  // An empty reduction has no maximum: shift by 0 (the sum of no terms is 0, its log -inf).
  const empty = axes.some((a) => x.shape[a] === 0);
  const m0 = (empty ? sum(asFloat(x), axes, true) : max(asFloat(x), axes, true)).detach();
  const m = where(m0.isfinite(), m0, 0);
  const out = sum(x.sub(m).exp(), axes, true).log().add(m);
  return keepdim ? out : squeeze(out, axes);
}

function argReduce(
  def: ReturnType<typeof reduceDef>,
  name: string,
  x: Tensor,
  axis: number | undefined,
  keepdim: boolean,
): Tensor {
  if (axis === undefined) {
    const flat = reshape(x, [x.size]);
    const idx = run1(def, [flat], { start: 0, end: 1, keepdim: false });
    return keepdim
      ? reshape(
          idx,
          x.shape.map(() => 1),
        )
      : idx;
  }
  const a = normalizeAxis(name, axis, x.rank);
  if (x.rank === 0) return run1(def, [reshape(x, [1])], { start: 0, end: 1, keepdim: false });
  return run1(def, [x], { start: a, end: a + 1, keepdim });
}

/** Index of the largest element along `axis` (of the flattened tensor when left out); first on ties, NaN wins. */
export function argmax(x: Tensor, axis?: number, keepdim = false): Tensor {
  return argReduce(argmaxDef, 'argmax', x, axis, keepdim);
}

/**
 * Index (int32) of the smallest element along `axis`, or into the flattened tensor when `axis` is
 * left out; the first on ties, and a NaN counts as the smallest. Throws on an empty axis; not
 * differentiable.
 */
export function argmin(x: Tensor, axis?: number, keepdim = false): Tensor {
  return argReduce(argminDef, 'argmin', x, axis, keepdim);
}

/** Sums a broadcast gradient back down to `shape` (the inverse of broadcasting). */
export function sumTo(g: Tensor, shape: readonly number[]): Tensor {
  if (shapesEqual(g.shape, shape)) return g;
  const lead = g.rank - shape.length;
  const axes: number[] = [];
  for (let i = 0; i < g.rank; i++) {
    if (i < lead || (shape[i - lead] === 1 && g.shape[i] !== 1)) axes.push(i);
  }
  return reshape(sum(g, axes, false), shape);
}
