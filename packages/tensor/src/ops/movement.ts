import { fmtShape, TensorError } from '../errors.js';
import { intsOf, type OnnxContext, SLICE_BEGIN, SLICE_END } from '../onnx/lowering.js';
import { defineOp, type OpDef, run1 } from '../op.js';
import {
  broadcastShapes,
  checkShape,
  normalizeAxes,
  normalizeAxis,
  shapesEqual,
  sizeOf,
  stridesOf,
} from '../shape.js';
import type { Tensor } from '../tensor.js';
import { arange } from './creation.js';
import { where } from './elementwise.js';
import { writeStrided } from './inplace.js';
import { sumTo } from './reduce.js';

/**
 * Layout ops read the (dense) input through a strided view — out[i] = in[offset + Σ iₖ·stridesₖ] —
 * one kernel ('strided') for permute, expand, slice and flip; its adjoint ('stridedScatter') writes
 * a gradient back through the same view.
 */
export interface StridedAttrs {
  readonly shape: readonly number[];
  readonly strides: readonly number[];
  readonly offset: number;
}

interface StridedOpAttrs extends StridedAttrs {
  readonly grad: 'permute' | 'expand' | 'scatter';
  readonly axes?: readonly number[];
}

/** Per axis, where a slice or flip starts and its step (the view's offset in mixed radix). */
function sliceOf(inShape: readonly number[], a: StridedAttrs): { start: number[]; step: number[] } {
  const src = stridesOf(inShape);
  let rest = a.offset;
  const start = src.map((s) => {
    const v = s === 0 ? 0 : Math.floor(rest / s);
    rest -= v * s;
    return v;
  });
  const step = a.strides.map((s, i) => (src[i]! === 0 ? 1 : s / src[i]!));
  return { start, step };
}

/**
 * One ONNX node per use of the strided kernel: Transpose (permute), Expand (broadcast), Slice (slice,
 * flip). Bounds that follow the input's sizes are written relative to a size symbol or to the end.
 */
function stridedOnnx(ctx: OnnxContext<StridedOpAttrs, [Tensor]>): void {
  const { g, attrs, altAttrs, inputs, outputs } = ctx;
  const [x] = inputs;
  const [inA, inB] = [ctx.inShapes[0], ctx.altInShapes[0]];
  if (attrs.grad === 'permute') {
    g.op('Transpose', [x], { perm: attrs.axes as number[] }, outputs[0]);
    return;
  }
  if (attrs.grad === 'expand') {
    const lead = attrs.shape.length - inA.length;
    const parts = attrs.shape.map((d, i) => {
      const e = altAttrs.shape[i]!;
      // 1 keeps the input's own size (Expand broadcasts like NumPy).
      if (i >= lead && inA[i - lead] === d && inB[i - lead] === e) return 1;
      const s = g.size(d, e);
      if (s === null) ctx.fail(`cannot express the broadcast size ${d} (${e} in the second trace)`);
      return s;
    });
    g.op('Expand', [x, intsOf(g, parts)], {}, outputs[0]);
    return;
  }
  const a = sliceOf(inA, attrs);
  const b = sliceOf(inB, altAttrs);
  const axes: number[] = [];
  const starts: (number | string)[] = [];
  const ends: (number | string)[] = [];
  const steps: number[] = [];
  const bound = (va: number, vb: number, na: number, nb: number, what: string): number | string => {
    const s = g.size(va, vb);
    if (s !== null) return s;
    if (va - na === vb - nb) return va - na; // counted from the end
    return ctx.fail(`cannot express the slice ${what} ${va} (${vb} in the second trace)`);
  };
  inA.forEach((n, i) => {
    const m = inB[i]!;
    const step = a.step[i]!;
    const lenA = attrs.shape[i]!;
    const lenB = altAttrs.shape[i]!;
    if (step === 1 && a.start[i] === 0 && b.start[i] === 0 && lenA === n && lenB === m) return;
    if (step !== b.step[i]) ctx.fail('the slice step differs between traces');
    const sa = a.start[i]!;
    const sb = b.start[i]!;
    const ea = sa + lenA * step;
    const eb = sb + lenB * step;
    axes.push(i);
    steps.push(step);
    starts.push(bound(sa, sb, n, m, 'start'));
    if (step > 0) ends.push(ea === n && eb === m ? SLICE_END : bound(ea, eb, n, m, 'end'));
    else ends.push(ea === -1 && eb === -1 ? SLICE_BEGIN : bound(ea, eb, n, m, 'end'));
  });
  if (axes.length === 0) {
    g.op('Identity', [x], {}, outputs[0]);
    return;
  }
  g.op(
    'Slice',
    [x, intsOf(g, starts), intsOf(g, ends), g.ints(axes), g.ints(steps)],
    {},
    outputs[0],
  );
}

const stridedDef: OpDef<StridedOpAttrs, [x: Tensor]> = defineOp({
  name: 'strided',
  onnx: stridedOnnx,
  infer: ([x], a) => [{ shape: a.shape, dtype: x.dtype }],
  grad: (dy, { inputs: [x], attrs }) => {
    if (attrs.grad === 'expand') return [sumTo(dy, x.shape)];
    if (attrs.grad === 'permute') {
      const inv = new Array<number>(attrs.axes?.length ?? 0);
      attrs.axes?.forEach((a, i) => {
        inv[a] = i;
      });
      return [permute(dy, inv)];
    }
    return [run1(scatterDef, [dy], { ...attrs, inputShape: x.shape })];
  },
  // Slices and flips add dy through the view into the input's gradient, where backward keeps it.
  gradInto: (attrs) =>
    attrs.grad === 'scatter'
      ? (acc, dy) =>
          writeStrided(acc, dy, {
            shape: attrs.shape,
            strides: attrs.strides,
            offset: attrs.offset,
            accumulate: true,
          })
      : undefined,
});

interface ScatterAttrs extends StridedAttrs {
  readonly inputShape: readonly number[];
}

/** Adjoint of a non-overlapping strided view: zeros of `inputShape` with dy written through the view. */
const scatterDef: OpDef<ScatterAttrs, [dy: Tensor]> = defineOp({
  name: 'stridedScatter',
  infer: ([dy], a) => [{ shape: a.inputShape, dtype: dy.dtype }],
  grad: (g, { attrs }) => [
    run1(stridedDef, [g], {
      shape: attrs.shape,
      strides: attrs.strides,
      offset: attrs.offset,
      grad: 'scatter',
    }),
  ],
});

/** @internal The ops' types, for their kernels (`registerKernel<StridedOp>`). */
export type StridedOp = typeof stridedDef;
/** @internal The strided scatter op's type, for its kernels. */
export type StridedScatterOp = typeof scatterDef;

// ---- views that share the buffer --------------------------------------------------------------

/**
 * Reshape with sizes that may follow the input's: 0 copies the input's size at the same axis, one
 * other varying size is -1 (inferred), more are computed from the size symbols.
 */
function reshapeOnnx(ctx: OnnxContext<{ shape: readonly number[] }, [Tensor]>): void {
  const { g, attrs, altAttrs, inputs, outputs } = ctx;
  const [inA, inB] = [ctx.inShapes[0], ctx.altInShapes[0]];
  const out = attrs.shape;
  const alt = altAttrs.shape;
  const copies = out.map((d, i) => d !== alt[i] && inA[i] === d && inB[i] === alt[i]);
  const varying = out.map((d, i) => d !== alt[i] && !copies[i]);
  const inferred = varying.filter(Boolean).length === 1 ? varying.indexOf(true) : -1;
  const parts = out.map((d, i) => {
    if (copies[i]) return 0;
    if (i === inferred) return -1;
    if (d === 0) ctx.fail('reshape to a size-0 axis cannot be written (ONNX reads 0 as copy)');
    const s = g.size(d, alt[i]!);
    if (s === null) ctx.fail(`cannot express the size ${d} (${alt[i]} in the second trace)`);
    return s;
  });
  g.op('Reshape', [inputs[0], intsOf(g, parts)], {}, outputs[0]);
}

const reshapeDef = defineOp<{ shape: readonly number[] }, [x: Tensor]>({
  name: 'reshape',
  view: true,
  onnx: reshapeOnnx,
  infer: ([x], { shape }) => [{ shape, dtype: x.dtype }],
  grad: (dy, { inputs: [x] }) => [reshape(dy, x.shape)],
});

/**
 * A new tensor object sharing x's buffer and gradient path. Ops whose result equals their input
 * return this rather than x itself, so disposing the result never disposes the input.
 */
export function alias(x: Tensor): Tensor {
  return run1(reshapeDef, [x], { shape: x.shape });
}

/** Same data, another shape of the same size; one size may be -1 (inferred). Shares the buffer. */
export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  const target = shape.slice();
  const free = target.indexOf(-1);
  if (free !== target.lastIndexOf(-1))
    throw new TensorError('reshape', `only one size may be -1, got ${fmtShape(shape)}`);
  if (free >= 0) {
    const rest = sizeOf(target.filter((_, i) => i !== free));
    if (rest === 0 || x.size % rest !== 0) {
      throw new TensorError(
        'reshape',
        `cannot reshape ${fmtShape(x.shape)} (${x.size} elements) to ${fmtShape(shape)}`,
      );
    }
    target[free] = x.size / rest;
  }
  checkShape('reshape', target);
  if (sizeOf(target) !== x.size) {
    throw new TensorError(
      'reshape',
      `cannot reshape ${fmtShape(x.shape)} (${x.size} elements) to ${fmtShape(shape)}`,
    );
  }
  if (shapesEqual(target, x.shape)) return alias(x);
  return run1(reshapeDef, [x], { shape: target });
}

/** Merges axes startAxis..endAxis into one. */
export function flatten(x: Tensor, startAxis = 0, endAxis = -1): Tensor {
  if (x.rank === 0) return reshape(x, [1]);
  const s = normalizeAxis('flatten', startAxis, x.rank);
  const e = normalizeAxis('flatten', endAxis, x.rank);
  if (s > e)
    throw new TensorError(
      'flatten',
      `expected startAxis <= endAxis, got ${startAxis} > ${endAxis}`,
    );
  return reshape(x, [
    ...x.shape.slice(0, s),
    sizeOf(x.shape.slice(s, e + 1)),
    ...x.shape.slice(e + 1),
  ]);
}

/** Removes size-1 axes (all of them, or the ones named; naming a larger axis is an error). */
export function squeeze(x: Tensor, axis?: number | readonly number[]): Tensor {
  const axes =
    axis === undefined
      ? x.shape.flatMap((d, i) => (d === 1 ? [i] : []))
      : normalizeAxes('squeeze', axis, x.rank);
  for (const a of axes) {
    if (x.shape[a] !== 1)
      throw new TensorError(
        'squeeze',
        `axis ${a} has size ${x.shape[a]}, expected 1 (shape ${fmtShape(x.shape)})`,
      );
  }
  return reshape(
    x,
    x.shape.filter((_, i) => !axes.includes(i)),
  );
}

/** Inserts a size-1 axis at `axis` (in the output's numbering, so -1 appends). */
export function unsqueeze(x: Tensor, axis: number): Tensor {
  const a = normalizeAxis('unsqueeze', axis, x.rank + 1);
  const shape = x.shape.slice();
  shape.splice(a, 0, 1);
  return reshape(x, shape);
}

// ---- strided copies ---------------------------------------------------------------------------

/**
 * Reorders the axes: output axis i is input axis `axes[i]` (negative axes count from the end), e.g.
 * [B, T, H, d] with [0, 2, 1, 3] → [B, H, T, d]. Copies unless `axes` is the identity; throws
 * unless `axes` names each axis exactly once.
 */
export function permute(x: Tensor, axes: readonly number[]): Tensor {
  if (axes.length !== x.rank) {
    throw new TensorError(
      'permute',
      `expected ${x.rank} axes for shape ${fmtShape(x.shape)}, got [${axes.join(', ')}]`,
    );
  }
  const norm = axes.map((a) => normalizeAxis('permute', a, x.rank));
  if (new Set(norm).size !== norm.length)
    throw new TensorError('permute', `repeated axis in [${axes.join(', ')}]`);
  if (norm.every((a, i) => a === i)) return alias(x);
  const src = stridesOf(x.shape);
  return run1(stridedDef, [x], {
    shape: norm.map((a) => x.shape[a]!),
    strides: norm.map((a) => src[a]!),
    offset: 0,
    grad: 'permute',
    axes: norm,
  });
}

/** Swaps two axes (the last two by default). */
export function transpose(x: Tensor, axis0 = -2, axis1 = -1): Tensor {
  if (x.rank < 2 && axis0 === -2 && axis1 === -1) return alias(x);
  const a = normalizeAxis('transpose', axis0, x.rank);
  const b = normalizeAxis('transpose', axis1, x.rank);
  const axes = x.shape.map((_, i) => i);
  axes[a] = b;
  axes[b] = a;
  return permute(x, axes);
}

/** Broadcasts to `shape` (NumPy rules; -1 keeps a size). Copies. */
export function expand(x: Tensor, shape: readonly number[]): Tensor {
  const lead = shape.length - x.rank;
  if (lead < 0)
    throw new TensorError(
      'expand',
      `cannot expand ${fmtShape(x.shape)} to fewer axes ${fmtShape(shape)}`,
    );
  const target = shape.map((d, i) => (d === -1 && i >= lead ? x.shape[i - lead]! : d));
  checkShape('expand', target);
  const out = broadcastShapes('expand', x.shape, target);
  if (!shapesEqual(out, target)) {
    throw new TensorError('expand', `cannot expand ${fmtShape(x.shape)} to ${fmtShape(shape)}`);
  }
  if (shapesEqual(target, x.shape)) return alias(x);
  const src = stridesOf(x.shape);
  const strides = target.map((_, i) => (i < lead || x.shape[i - lead] === 1 ? 0 : src[i - lead]!));
  return run1(stridedDef, [x], { shape: target, strides, offset: 0, grad: 'expand' });
}

/** The same as {@link expand}: broadcasts x to `shape` by NumPy rules. */
export function broadcastTo(x: Tensor, shape: readonly number[]): Tensor {
  return expand(x, shape);
}

/**
 * Elements start, start + step, … before end along `axis` (Python slice rules: negative indices count
 * from the end, bounds are clipped; step may be negative).
 */
export function slice(x: Tensor, axis: number, start?: number, end?: number, step = 1): Tensor {
  if (x.rank === 0) throw new TensorError('slice', 'expected a tensor of rank >= 1, got a scalar');
  const a = normalizeAxis('slice', axis, x.rank);
  if (!Number.isInteger(step) || step === 0)
    throw new TensorError('slice', `expected a non-zero integer step, got ${step}`);
  const n = x.shape[a]!;
  const clip = (v: number, lo: number, hi: number) => Math.min(Math.max(v, lo), hi);
  const norm = (v: number | undefined, dflt: number, lo: number, hi: number) =>
    v === undefined ? dflt : clip(v < 0 ? v + n : v, lo, hi);
  const s = step > 0 ? norm(start, 0, 0, n) : norm(start, n - 1, -1, n - 1);
  const e = step > 0 ? norm(end, n, 0, n) : norm(end, -1, -1, n - 1);
  const len = Math.max(0, Math.ceil((e - s) / step));
  if (step === 1 && s === 0 && len === n) return alias(x);
  const src = stridesOf(x.shape);
  const shape = x.shape.slice();
  shape[a] = len;
  const strides = src.slice();
  strides[a] = src[a]! * step;
  return run1(stridedDef, [x], {
    shape,
    strides,
    offset: len === 0 ? 0 : s * src[a]!,
    grad: 'scatter',
  });
}

/** Reverses the order of elements along the given axes. */
export function flip(x: Tensor, axes: number | readonly number[]): Tensor {
  const list = normalizeAxes('flip', axes, x.rank);
  const src = stridesOf(x.shape);
  let offset = 0;
  const strides = src.map((s, i) => {
    if (!list.includes(i)) return s;
    offset += (x.shape[i]! - 1) * s;
    return -s;
  });
  if (x.size === 0) return alias(x);
  return run1(stridedDef, [x], { shape: x.shape, strides, offset, grad: 'scatter' });
}

// ---- pad, concat, split, stack ----------------------------------------------------------------

/**
 * The attributes of the pad op (see {@link pad}): `[before, after]` per axis from the first, and
 * the fill value.
 */
export interface PadAttrs {
  readonly pads: readonly (readonly [number, number])[];
  readonly value: number;
}

const padDef = defineOp<PadAttrs, [x: Tensor]>({
  name: 'pad',
  onnx: ({ g, attrs, inputs, inShapes, inDTypes, outputs }) => {
    const rank = inShapes[0].length;
    const at = (i: number, k: 0 | 1) => attrs.pads[i]?.[k] ?? 0;
    const pads = [
      ...Array.from({ length: rank }, (_, i) => at(i, 0)),
      ...Array.from({ length: rank }, (_, i) => at(i, 1)),
    ];
    const value = g.scalar(attrs.value, inDTypes[0]);
    // Mode 'constant' is Pad's default.
    g.op('Pad', [inputs[0], g.ints(pads), value], {}, outputs[0]);
  },
  infer: ([x], { pads }) => [
    {
      shape: x.shape.map((d, i) => d + (pads[i]?.[0] ?? 0) + (pads[i]?.[1] ?? 0)),
      dtype: x.dtype,
    },
  ],
  grad: (dy, { inputs: [x], attrs }) => {
    let g = dy;
    x.shape.forEach((d, i) => {
      const before = attrs.pads[i]?.[0] ?? 0;
      g = slice(g, i, before, before + d);
    });
    return [g];
  },
});

/** @internal The op's type, for its kernels (`registerKernel<PadOp>`). */
export type PadOp = typeof padDef;

/**
 * Pads with a constant. `pads[i] = [before, after]` for axis i, listed from the FIRST axis (unlike
 * torch.nn.functional.pad); missing trailing entries mean no padding. Negative amounts crop.
 */
export function pad(x: Tensor, pads: readonly (readonly [number, number])[], value = 0): Tensor {
  if (pads.length > x.rank)
    throw new TensorError(
      'pad',
      `got ${pads.length} [before, after] pairs for a tensor of rank ${x.rank}`,
    );
  let y = x;
  const grow: [number, number][] = [];
  pads.forEach((p, i) => {
    const [b, e] = p;
    if (!Number.isInteger(b) || !Number.isInteger(e))
      throw new TensorError('pad', `expected integer amounts, got [${b}, ${e}] for axis ${i}`);
    const n = y.shape[i]!;
    if (Math.max(0, -b) + Math.max(0, -e) > n) {
      throw new TensorError('pad', `[${b}, ${e}] crops more than the ${n} elements of axis ${i}`);
    }
    if (b < 0 || e < 0) y = slice(y, i, Math.max(0, -b), n - Math.max(0, -e));
    grow.push([Math.max(0, b), Math.max(0, e)]);
  });
  if (grow.every(([b, e]) => b === 0 && e === 0)) return y === x ? alias(x) : y;
  return run1(padDef, [y], { pads: grow, value });
}

/** @internal The op's type, for its kernels (`registerKernel<ConcatOp>`): one or more tensors. */
export type ConcatOp = typeof concatDef;

const concatDef = defineOp<{ axis: number }, readonly [Tensor, ...Tensor[]]>({
  name: 'concat',
  onnx: ({ g, attrs, inputs, outputs }) => {
    g.op('Concat', inputs, { axis: attrs.axis }, outputs[0]);
  },
  infer: (xs, { axis }) => {
    const [first] = xs;
    let total = 0;
    for (const t of xs) {
      if (t.rank !== first.rank || t.shape.some((d, i) => i !== axis && d !== first.shape[i])) {
        throw new TensorError(
          'concat',
          `shapes ${xs.map((u) => fmtShape(u.shape)).join(', ')} differ outside axis ${axis}`,
        );
      }
      if (t.dtype !== first.dtype)
        throw new TensorError('concat', `dtypes differ: ${xs.map((u) => u.dtype).join(', ')}`);
      total += t.shape[axis]!;
    }
    const shape = first.shape.slice();
    shape[axis] = total;
    return [{ shape, dtype: first.dtype }];
  },
  grad: (dy, { inputs, attrs }) => {
    let at = 0;
    return inputs.map((t) => {
      const n = t.shape[attrs.axis]!;
      at += n;
      return slice(dy, attrs.axis, at - n, at);
    });
  },
});

/** Joins tensors along an existing axis. */
export function concat(xs: readonly Tensor[], axis = 0): Tensor {
  const [first, ...rest] = xs;
  if (!first) throw new TensorError('concat', 'expected at least one tensor');
  const a = normalizeAxis('concat', axis, first.rank);
  if (first.rank === 0)
    throw new TensorError('concat', 'cannot concatenate rank-0 tensors; use stack');
  if (rest.length === 0) return alias(first);
  return run1(concatDef, [first, ...rest], { axis: a });
}

/** Joins tensors of one shape along a new axis. */
export function stack(xs: readonly Tensor[], axis = 0): Tensor {
  const [first] = xs;
  if (!first) throw new TensorError('stack', 'expected at least one tensor');
  for (const t of xs) {
    if (!shapesEqual(t.shape, first.shape)) {
      throw new TensorError(
        'stack',
        `expected tensors of one shape, got ${xs.map((u) => fmtShape(u.shape)).join(', ')}`,
      );
    }
  }
  const a = normalizeAxis('stack', axis, first.rank + 1);
  return concat(
    xs.map((t) => unsqueeze(t, a)),
    a,
  );
}

/** Splits into pieces of `sizes` (or equal pieces of that size, the last one shorter) along `axis`. */
export function split(x: Tensor, sizes: number | readonly number[], axis = 0): Tensor[] {
  if (x.rank === 0) throw new TensorError('split', 'expected a tensor of rank >= 1, got a scalar');
  const a = normalizeAxis('split', axis, x.rank);
  const n = x.shape[a]!;
  let list: number[];
  if (typeof sizes === 'number') {
    if (!Number.isInteger(sizes) || sizes <= 0)
      throw new TensorError('split', `expected a positive piece size, got ${sizes}`);
    list = [];
    for (let at = 0; at < n; at += sizes) list.push(Math.min(sizes, n - at));
  } else {
    list = sizes.slice();
    const total = list.reduce((s, v) => s + v, 0);
    if (total !== n || list.some((v) => !Number.isInteger(v) || v < 0)) {
      throw new TensorError(
        'split',
        `sizes [${list.join(', ')}] must be non-negative and add up to ${n} (axis ${a})`,
      );
    }
  }
  let at = 0;
  return list.map((len) => {
    at += len;
    return slice(x, a, at - len, at);
  });
}

// ---- triangles --------------------------------------------------------------------------------

function triangle(op: string, x: Tensor, diagonal: number, keepLower: boolean): Tensor {
  if (x.rank < 2)
    throw new TensorError(op, `expected a tensor of rank >= 2, got shape ${fmtShape(x.shape)}`);
  const rows = reshape(
    arange(x.shape[x.rank - 2]!, undefined, 1, { backend: x.backend.name }),
    [-1, 1],
  );
  const cols = reshape(
    arange(x.shape[x.rank - 1]!, undefined, 1, { backend: x.backend.name }),
    [1, -1],
  );
  const offset = cols.sub(rows);
  const mask = keepLower ? offset.le(diagonal) : offset.ge(diagonal);
  return where(mask, x, 0);
}

/** Keeps elements on and below the `diagonal`-th diagonal of the last two axes; zeros the rest. */
export function tril(x: Tensor, diagonal = 0): Tensor {
  return triangle('tril', x, diagonal, true);
}

/** Keeps elements on and above the `diagonal`-th diagonal of the last two axes; zeros the rest. */
export function triu(x: Tensor, diagonal = 0): Tensor {
  return triangle('triu', x, diagonal, false);
}
