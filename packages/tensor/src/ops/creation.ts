import type { Backend } from '../backend.js';
import { allocTyped, type DType, isDType, type TypedArray } from '../dtype.js';
import { getDefaultBackend } from '../engine.js';
import { TensorError } from '../errors.js';
import { getBackend } from '../kernels.js';
import { checkShape, sizeOf } from '../shape.js';
import { type NestedArray, Tensor } from '../tensor.js';

/**
 * Options of the creation functions ({@link full}, {@link zeros}, …): the dtype (float32 when left
 * out), whether the new tensor is a leaf that requires gradients (float32 only), and the backend.
 */
export interface CreateOptions {
  /** float32 or int32; float32 when left out (the `*Like` functions take the model tensor's). */
  dtype?: DType;
  /** Make the result a leaf that requires gradients; false when left out. Throws for int32. */
  requiresGrad?: boolean;
  /** Backend name; the default backend (see setBackend) when left out. */
  backend?: string;
}

/**
 * Options of {@link tensor}: those of {@link CreateOptions} and the shape the data is read into.
 */
export interface TensorOptions extends CreateOptions {
  /** Required with a flat typed array or flat number array of another rank than 1. */
  shape?: readonly number[];
}

function backendOf(name: string | undefined): Backend {
  return name === undefined ? getDefaultBackend() : getBackend(name);
}

function checkDType(op: string, dtype: unknown): DType {
  if (!isDType(dtype))
    throw new TensorError(op, `expected dtype 'float32' or 'int32', got ${String(dtype)}`);
  return dtype;
}

function finish(t: Tensor, opts: CreateOptions | undefined): Tensor {
  if (opts?.requiresGrad) t.requiresGrad = true;
  return t;
}

function inferShape(data: NestedArray): number[] {
  const shape: number[] = [];
  let cur: NestedArray = data;
  while (Array.isArray(cur)) {
    shape.push(cur.length);
    cur = cur[0]!;
    if (cur === undefined) break;
  }
  return shape;
}

function flattenNested(
  data: NestedArray,
  shape: number[],
  out: number[],
  axis: number,
  op: string,
): void {
  if (axis === shape.length) {
    if (typeof data !== 'number')
      throw new TensorError(op, `ragged nested array: expected a number at depth ${axis}`);
    out.push(data);
    return;
  }
  if (!Array.isArray(data) || data.length !== shape[axis]) {
    throw new TensorError(
      op,
      `ragged nested array: expected length ${shape[axis]} at depth ${axis}, got ${Array.isArray(data) ? data.length : typeof data}`,
    );
  }
  for (const d of data) flattenNested(d, shape, out, axis + 1, op);
}

/**
 * A tensor from a number, nested arrays, or a typed array. Typed arrays keep their dtype (Int32Array →
 * int32) unless `dtype` says otherwise; JS numbers default to float32. Data is always copied.
 */
export function tensor(
  data: NestedArray | TypedArray | readonly number[],
  opts: TensorOptions = {},
): Tensor {
  const op = 'tensor';
  let flat: ArrayLike<number>;
  let shape: number[];
  let dtype: DType;
  if (data instanceof Float32Array || data instanceof Int32Array) {
    flat = data;
    shape = opts.shape ? checkShape(op, opts.shape) : [data.length];
    dtype = checkDType(op, opts.dtype ?? (data instanceof Int32Array ? 'int32' : 'float32'));
  } else if (ArrayBuffer.isView(data)) {
    throw new TensorError(op, `expected Float32Array or Int32Array, got ${data.constructor.name}`);
  } else {
    const nested = data as NestedArray;
    const inferred = typeof nested === 'number' ? [] : inferShape(nested);
    const values: number[] = [];
    flattenNested(nested, inferred, values, 0, op);
    flat = values;
    shape = opts.shape ? checkShape(op, opts.shape) : inferred;
    dtype = checkDType(op, opts.dtype ?? 'float32');
  }
  if (sizeOf(shape) !== flat.length) {
    throw new TensorError(
      op,
      `shape [${shape.join(', ')}] needs ${sizeOf(shape)} elements, got ${flat.length}`,
    );
  }
  const typed = allocTyped(dtype, flat.length);
  if (dtype === 'int32') {
    for (let i = 0; i < flat.length; i++) typed[i] = Math.trunc(flat[i]!);
  } else typed.set(flat);
  return finish(Tensor.fromHost(typed, shape, backendOf(opts.backend)), opts);
}

/** A rank-0 tensor holding `value` (float32 unless `opts.dtype` says otherwise). */
export function scalar(value: number, opts: CreateOptions = {}): Tensor {
  return tensor(value, opts);
}

/**
 * A tensor of `shape` filled with `value`; float32 unless `opts.dtype` says otherwise (int32
 * truncates `value`). Throws on a negative or non-integer dimension.
 */
export function full(shape: readonly number[], value: number, opts: CreateOptions = {}): Tensor {
  const s = checkShape('full', shape);
  const data = allocTyped(checkDType('full', opts.dtype ?? 'float32'), sizeOf(s));
  data.fill(value);
  return finish(Tensor.fromHost(data, s, backendOf(opts.backend)), opts);
}

/** A tensor of `shape` filled with 0; float32 unless `opts.dtype` says otherwise. */
export function zeros(shape: readonly number[], opts: CreateOptions = {}): Tensor {
  return full(shape, 0, opts);
}

/** A tensor of `shape` filled with 1; float32 unless `opts.dtype` says otherwise. */
export function ones(shape: readonly number[], opts: CreateOptions = {}): Tensor {
  return full(shape, 1, opts);
}

function likeOpts(t: Tensor, opts: CreateOptions): CreateOptions {
  return { dtype: t.dtype, backend: t.backend.name, ...opts };
}

/**
 * A tensor of `t`'s shape filled with `value`, with `t`'s dtype and backend unless `opts` overrides
 * them.
 */
export function fullLike(t: Tensor, value: number, opts: CreateOptions = {}): Tensor {
  return full(t.shape, value, likeOpts(t, opts));
}
/** Zeros of `t`'s shape, with `t`'s dtype and backend unless `opts` overrides them. */
export function zerosLike(t: Tensor, opts: CreateOptions = {}): Tensor {
  return full(t.shape, 0, likeOpts(t, opts));
}
/** Ones of `t`'s shape, with `t`'s dtype and backend unless `opts` overrides them. */
export function onesLike(t: Tensor, opts: CreateOptions = {}): Tensor {
  return full(t.shape, 1, likeOpts(t, opts));
}

/**
 * Values start, start + step, … below end (NumPy's arange). int32 when all arguments are integers and
 * no dtype is given.
 */
export function arange(start: number, end?: number, step = 1, opts: CreateOptions = {}): Tensor {
  if (end === undefined) {
    end = start;
    start = 0;
  }
  if (step === 0 || !Number.isFinite(step))
    throw new TensorError('arange', `expected a finite non-zero step, got ${step}`);
  if (!Number.isFinite(start) || !Number.isFinite(end))
    throw new TensorError('arange', `expected finite start and end, got ${start} and ${end}`);
  const n = Math.max(0, Math.ceil((end - start) / step));
  const ints = Number.isInteger(start) && Number.isInteger(end) && Number.isInteger(step);
  const data = allocTyped(checkDType('arange', opts.dtype ?? (ints ? 'int32' : 'float32')), n);
  for (let i = 0; i < n; i++) data[i] = start + i * step;
  return finish(Tensor.fromHost(data, [n], backendOf(opts.backend)), opts);
}

/** `steps` evenly spaced values from start to end inclusive. */
export function linspace(
  start: number,
  end: number,
  steps: number,
  opts: CreateOptions = {},
): Tensor {
  if (!Number.isInteger(steps) || steps < 0)
    throw new TensorError('linspace', `expected a non-negative integer steps, got ${steps}`);
  const data = allocTyped(checkDType('linspace', opts.dtype ?? 'float32'), steps);
  for (let i = 0; i < steps; i++)
    data[i] = steps === 1 ? start : start + ((end - start) * i) / (steps - 1);
  return finish(Tensor.fromHost(data, [steps], backendOf(opts.backend)), opts);
}

/** An n × m matrix with ones on the diagonal. */
export function eye(n: number, m: number = n, opts: CreateOptions = {}): Tensor {
  const s = checkShape('eye', [n, m]);
  const data = allocTyped(checkDType('eye', opts.dtype ?? 'float32'), n * m);
  for (let i = 0; i < Math.min(n, m); i++) data[i * m + i] = 1;
  return finish(Tensor.fromHost(data, s, backendOf(opts.backend)), opts);
}
