import { fmtShape, TensorError } from './errors.js';

export type Shape = readonly number[];

/** The number of elements of a shape: the product of its sizes, 1 for [] (a scalar). */
export function sizeOf(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Row-major (C order) strides in elements. */
export function stridesOf(shape: Shape): number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[i] = s;
    s *= shape[i]!;
  }
  return strides;
}

export function shapesEqual(a: Shape, b: Shape): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function checkShape(op: string, shape: unknown): number[] {
  if (!Array.isArray(shape))
    throw new TensorError(op, `expected a shape (array of sizes), got ${String(shape)}`);
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) {
      throw new TensorError(
        op,
        `expected non-negative integer sizes, got shape [${shape.join(', ')}]`,
      );
    }
  }
  return shape.slice() as number[];
}

/** NumPy broadcasting of any number of shapes. */
export function broadcastShapes(op: string, ...shapes: Shape[]): number[] {
  const rank = Math.max(0, ...shapes.map((s) => s.length));
  const out = new Array<number>(rank).fill(1);
  for (const s of shapes) {
    for (let i = 0; i < s.length; i++) {
      const o = rank - s.length + i;
      const d = s[i]!;
      const cur = out[o]!;
      if (cur === d || d === 1) continue;
      if (cur === 1) out[o] = d;
      else {
        throw new TensorError(
          op,
          `shapes ${shapes.map(fmtShape).join(' and ')} cannot be broadcast (axis ${o - rank}: ${cur} vs ${d})`,
        );
      }
    }
  }
  return out;
}

/** Strides of `shape` read as if broadcast to `outShape`: broadcast axes get stride 0. */
export function broadcastStrides(shape: Shape, outShape: Shape): number[] {
  const strides = stridesOf(shape);
  const out = new Array<number>(outShape.length).fill(0);
  const off = outShape.length - shape.length;
  for (let i = 0; i < shape.length; i++) out[off + i] = shape[i] === 1 ? 0 : strides[i]!;
  return out;
}

/**
 * The size of axis `axis` of a shape (a negative axis counts from the end). Throws a
 * {@link TensorError} naming `op`, the axis and the shape when the shape has no such axis.
 */
export function dim(op: string, shape: Shape, axis: number): number {
  const d = Number.isInteger(axis) ? shape[axis < 0 ? axis + shape.length : axis] : undefined;
  if (d === undefined) {
    throw new TensorError(
      op,
      `axis ${axis} is out of range for shape ${fmtShape(shape)} (rank ${shape.length})`,
    );
  }
  return d;
}

/**
 * `axis` in 0..rank−1, counting a negative axis from the end (a scalar accepts 0 and −1). Throws a
 * {@link TensorError} naming `op` when it is not an integer in −rank..rank−1.
 */
export function normalizeAxis(op: string, axis: number, rank: number): number {
  if (!Number.isInteger(axis) || axis < -Math.max(rank, 1) || axis >= Math.max(rank, 1)) {
    throw new TensorError(
      op,
      `axis ${axis} is out of range for a tensor of rank ${rank} (expected ${-Math.max(rank, 1)}..${Math.max(rank, 1) - 1})`,
    );
  }
  return axis < 0 ? axis + Math.max(rank, 1) : axis;
}

/** Sorted unique non-negative axes; undefined means all axes. */
export function normalizeAxes(
  op: string,
  axes: number | readonly number[] | undefined,
  rank: number,
): number[] {
  if (axes === undefined) return Array.from({ length: rank }, (_, i) => i);
  const list = typeof axes === 'number' ? [axes] : axes;
  const out = list.map((a) => normalizeAxis(op, a, rank));
  const sorted = [...new Set(out)].sort((a, b) => a - b);
  if (sorted.length !== out.length)
    throw new TensorError(op, `repeated axis in [${list.join(', ')}]`);
  return rank === 0 ? [] : sorted;
}

/**
 * Merges adjacent axes that every input walks contiguously (size-1 axes dropped), so e.g. [B, T, d] +
 * [d] becomes [B·T, d] + [d]: fewer outer iterations and longer inner loops for elementwise kernels.
 * `strides` holds each input's strides over `shape` (0 where it broadcasts). Returns rank 0 when
 * every axis has size 1.
 */
export function collapseAxes(
  shape: readonly number[],
  strides: readonly (readonly number[])[],
): [number[], number[][]] {
  const outShape: number[] = [];
  const outStrides: number[][] = strides.map(() => []);
  for (let k = 0; k < shape.length; k++) {
    const d = shape[k]!;
    if (d === 1) continue;
    const last = outShape.length - 1;
    const mergeable = last >= 0 && strides.every((s, i) => outStrides[i]![last] === s[k]! * d);
    if (mergeable) {
      outShape[last] = outShape[last]! * d;
      strides.forEach((s, i) => {
        outStrides[i]![last] = s[k]!;
      });
    } else {
      outShape.push(d);
      strides.forEach((s, i) => {
        outStrides[i]!.push(s[k]!);
      });
    }
  }
  return [outShape, outStrides];
}

/**
 * How concatenating `parts` along `axis` into `outShape` lays them out: the output is `outer` rows
 * of `rowLen` elements, and part p fills `len` elements of each row from `at` (its own rows are
 * contiguous `len`-element runs).
 */
export function concatLayout(
  outShape: Shape,
  parts: readonly { readonly shape: Shape }[],
  axis: number,
): { outer: number; rowLen: number; parts: { len: number; at: number }[] } {
  const inner = sizeOf(outShape.slice(axis + 1));
  let at = 0;
  return {
    outer: sizeOf(outShape.slice(0, axis)),
    rowLen: outShape[axis]! * inner,
    parts: parts.map((x) => {
      const len = x.shape[axis]! * inner;
      at += len;
      return { len, at: at - len };
    }),
  };
}
