import { backward } from './autograd.js';
import type { Backend, BackendBuffer, OutputSpec } from './backend.js';
import { bytesPerElement, type DType, dtypeOfArray, type TypedArray } from './dtype.js';
import { finalizer, getDefaultBackend, Storage, trackInScope } from './engine.js';
import { fmtShape, TensorError } from './errors.js';
import { getBackend, initBackend } from './kernels.js';
import { activeRecorder } from './onnx/trace.js';
import type { GradNode } from './op.js';
import * as ops from './ops/index.js';
import { sizeOf } from './shape.js';

/** A tensor operand: a Tensor, or a JS number that takes the other operand's dtype where it fits. */
export type TensorLike = Tensor | number;

export type NestedArray = number | NestedArray[];

let nextId = 0;
/** One clock for every data change (assign, in-place writes): a version never repeats. */
let writeClock = 0;

/**
 * An n-d array of float32 or int32 on a backend, dense and row-major. Tensors are immutable: every op
 * returns a new tensor (only `assign`, used by optimisers, replaces a tensor's data in place).
 */
export class Tensor {
  readonly id = nextId++;
  readonly shape: readonly number[];
  readonly dtype: DType;
  readonly size: number;
  /** Gradient accumulated by backward(); null until then. */
  grad: Tensor | null = null;
  private storage: Storage;
  private node: GradNode | null = null;
  private needsGrad = false;
  private disposed = false;
  private registered = false;
  private writes = 0;

  private constructor(storage: Storage, spec: OutputSpec, size = sizeOf(spec.shape)) {
    this.storage = storage;
    this.shape = Object.freeze(spec.shape.slice());
    this.dtype = spec.dtype;
    this.size = size;
    storage.retain();
    trackInScope(this);
  }

  /** @internal Wraps a buffer a kernel just wrote. */
  static fromBuffer(backend: Backend, buffer: BackendBuffer, spec: OutputSpec): Tensor {
    const size = sizeOf(spec.shape);
    return new Tensor(new Storage(backend, buffer, size * bytesPerElement(spec.dtype)), spec, size);
  }

  /** @internal Uploads host data (copied) to a backend. */
  static fromHost(
    data: TypedArray,
    shape: readonly number[],
    backend: Backend = getDefaultBackend(),
  ): Tensor {
    if (sizeOf(shape) !== data.length) {
      throw new TensorError(
        'tensor',
        `shape ${fmtShape(shape)} needs ${sizeOf(shape)} elements, got ${data.length}`,
      );
    }
    return Tensor.fromBuffer(backend, backend.upload(data), { shape, dtype: dtypeOfArray(data) });
  }

  /** @internal A new tensor sharing `base`'s buffer with another shape of the same size. */
  static view(base: Tensor, spec: OutputSpec): Tensor {
    return new Tensor(base.storage, spec);
  }

  // ---- properties ------------------------------------------------------------------------------

  get rank(): number {
    return this.shape.length;
  }
  get backend(): Backend {
    return this.storage.backend;
  }
  /** @internal */
  get buffer(): BackendBuffer {
    return this.storage.buffer;
  }
  /**
   * Changes whenever assign() replaces this tensor's data or an in-place write (sliceAssign) changes
   * its buffer, also through another tensor sharing it; autograd checks it. Only equality means
   * anything: it is a stamp, not a count.
   */
  get version(): number {
    return Math.max(this.writes, this.storage.writes);
  }
  /** @internal Whether another live tensor shares this tensor's buffer (a view, a detach). */
  get sharesBuffer(): boolean {
    return this.storage.shared;
  }
  /** @internal The id the next tensor will get: tensors made after this call have ids >= it. */
  static nextId(): number {
    return nextId;
  }
  /** @internal Records an in-place write into this tensor's buffer (seen by all that share it). */
  markWritten(): void {
    this.storage.writes = ++writeClock;
  }

  /** @internal See engine.finalizer. */
  escapeScopes(): void {
    if (this.registered || this.disposed) return;
    this.registered = true;
    finalizer.register(this, this.storage, this);
  }
  get isDisposed(): boolean {
    return this.disposed;
  }
  /** True for tensors no op produced: parameters and inputs. Only leaves keep `.grad`. */
  get isLeaf(): boolean {
    return this.node === null;
  }
  /** @internal The op that produced this tensor, for autograd. */
  get gradNode(): GradNode | null {
    return this.node;
  }
  /** @internal */
  setNode(node: GradNode): void {
    this.node = node;
    this.needsGrad = true;
  }

  get requiresGrad(): boolean {
    return this.needsGrad;
  }
  set requiresGrad(value: boolean) {
    if (value && this.dtype !== 'float32') {
      throw new TensorError(
        'requiresGrad',
        `only float32 tensors can require gradients, got ${this.dtype}`,
      );
    }
    if (!this.isLeaf && !value) {
      throw new TensorError(
        'requiresGrad',
        'cannot turn gradients off on a non-leaf tensor; use detach()',
      );
    }
    this.needsGrad = value;
  }

  /** @internal */
  assertAlive(op: string): void {
    if (this.disposed)
      throw new TensorError(op, `tensor ${this.id} of shape ${fmtShape(this.shape)} was disposed`);
  }

  // ---- data ------------------------------------------------------------------------------------

  /** The elements, row-major, copied to the host. Works on every backend. */
  async data(): Promise<TypedArray> {
    this.assertAlive('data');
    return this.backend.read(this.buffer, this.dtype, this.size);
  }

  /** The elements, synchronously; only on backends that can (the CPU). */
  dataSync(): TypedArray {
    this.assertAlive('dataSync');
    const read = this.backend.readSync;
    if (!read) {
      throw new TensorError(
        'dataSync',
        `backend '${this.backend.name}' reads asynchronously; use await t.data()`,
      );
    }
    return read.call(this.backend, this.buffer, this.dtype, this.size);
  }

  /** Nested JS arrays (a number for rank 0). */
  async array(): Promise<NestedArray> {
    return nest(await this.data(), this.shape);
  }
  arraySync(): NestedArray {
    return nest(this.dataSync(), this.shape);
  }

  /** The single element of a size-1 tensor. */
  item(): number {
    if (this.size !== 1)
      throw new TensorError(
        'item',
        `expected a tensor with one element, got shape ${fmtShape(this.shape)}`,
      );
    return this.dataSync()[0] as number;
  }

  /** Frees the buffer now (when no view shares it). Using the tensor afterwards is an error. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    if (this.registered) finalizer.unregister(this);
    this.storage.drop();
    this.node = null;
  }

  /**
   * Copies the tensor to another backend, synchronously: works from backends that read synchronously
   * (the CPU) to any initialised backend. From webgpu use `await t.toAsync('cpu')`.
   */
  to(backend: string | Backend): Tensor {
    const target = typeof backend === 'string' ? getBackend(backend) : backend;
    if (target === this.backend) return this;
    const read = this.backend.readSync;
    if (!read)
      throw new TensorError(
        'to',
        `backend '${this.backend.name}' reads asynchronously; use await t.toAsync()`,
      );
    return Tensor.fromHost(
      read.call(this.backend, this.buffer, this.dtype, this.size),
      this.shape,
      target,
    );
  }

  /**
   * Copies the tensor to another backend from any backend (reads asynchronously where it must), and
   * initialises the target backend first when it is named and not yet ready. Returns `this` when it
   * already lives there. The copy has no autograd history.
   */
  async toAsync(backend: string | Backend): Promise<Tensor> {
    this.assertAlive('toAsync');
    const target = typeof backend === 'string' ? await initBackend(backend) : backend;
    if (target === this.backend) return this;
    if (this.backend.readSync) return this.to(target);
    return Tensor.fromHost(await this.data(), this.shape, target);
  }

  /**
   * Replaces this tensor's data with `value`'s (same shape and dtype), keeping its identity. Used by
   * optimisers to update parameters; not recorded by autograd.
   */
  assign(value: Tensor): this {
    this.assertAlive('assign');
    value.assertAlive('assign');
    if (
      value.dtype !== this.dtype ||
      value.shape.length !== this.shape.length ||
      value.shape.some((d, i) => d !== this.shape[i])
    ) {
      throw new TensorError(
        'assign',
        `expected a ${this.dtype} tensor of shape ${fmtShape(this.shape)}, got ${value.dtype} ${fmtShape(value.shape)}`,
      );
    }
    if (value.backend !== this.backend) value = value.to(this.backend);
    value.storage.retain();
    this.storage.drop();
    this.storage = value.storage;
    if (this.registered) {
      finalizer.unregister(this);
      finalizer.register(this, this.storage, this);
    }
    this.writes = ++writeClock;
    return this;
  }

  /** Back-propagates from this tensor (a scalar unless `grad` is given) into every leaf's `.grad`. */
  backward(grad?: Tensor): void {
    backward(this, grad);
  }

  /** A tensor with the same data and no autograd history. */
  detach(): Tensor {
    this.assertAlive('detach');
    const out = Tensor.view(this, this);
    activeRecorder()?.alias(this, out);
    return out;
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return this.toString();
  }

  toString(): string {
    const data = this.backend.readSync ? Array.from(this.dataSync().slice(0, 8)) : '…';
    return `Tensor(${this.dtype} ${fmtShape(this.shape)}${this.requiresGrad ? ', requiresGrad' : ''}) [${data}${this.size > 8 ? ', …' : ''}]`;
  }

  // ---- ops as methods (see ops/ for the definitions) --------------------------------------------

  add(other: TensorLike): Tensor {
    return ops.add(this, other);
  }
  sub(other: TensorLike): Tensor {
    return ops.sub(this, other);
  }
  mul(other: TensorLike): Tensor {
    return ops.mul(this, other);
  }
  div(other: TensorLike): Tensor {
    return ops.div(this, other);
  }
  pow(other: TensorLike): Tensor {
    return ops.pow(this, other);
  }
  maximum(other: TensorLike): Tensor {
    return ops.maximum(this, other);
  }
  minimum(other: TensorLike): Tensor {
    return ops.minimum(this, other);
  }
  eq(other: TensorLike): Tensor {
    return ops.eq(this, other);
  }
  ne(other: TensorLike): Tensor {
    return ops.ne(this, other);
  }
  lt(other: TensorLike): Tensor {
    return ops.lt(this, other);
  }
  le(other: TensorLike): Tensor {
    return ops.le(this, other);
  }
  gt(other: TensorLike): Tensor {
    return ops.gt(this, other);
  }
  ge(other: TensorLike): Tensor {
    return ops.ge(this, other);
  }

  neg(): Tensor {
    return ops.neg(this);
  }
  abs(): Tensor {
    return ops.abs(this);
  }
  sign(): Tensor {
    return ops.sign(this);
  }
  exp(): Tensor {
    return ops.exp(this);
  }
  log(): Tensor {
    return ops.log(this);
  }
  log1p(): Tensor {
    return ops.log1p(this);
  }
  expm1(): Tensor {
    return ops.expm1(this);
  }
  sqrt(): Tensor {
    return ops.sqrt(this);
  }
  rsqrt(): Tensor {
    return ops.rsqrt(this);
  }
  sin(): Tensor {
    return ops.sin(this);
  }
  cos(): Tensor {
    return ops.cos(this);
  }
  tanh(): Tensor {
    return ops.tanh(this);
  }
  erf(): Tensor {
    return ops.erf(this);
  }
  sigmoid(): Tensor {
    return ops.sigmoid(this);
  }
  relu(): Tensor {
    return ops.relu(this);
  }
  gelu(): Tensor {
    return ops.gelu(this);
  }
  silu(): Tensor {
    return ops.silu(this);
  }
  softplus(): Tensor {
    return ops.softplus(this);
  }
  square(): Tensor {
    return ops.square(this);
  }
  reciprocal(): Tensor {
    return ops.reciprocal(this);
  }
  floor(): Tensor {
    return ops.floor(this);
  }
  ceil(): Tensor {
    return ops.ceil(this);
  }
  round(): Tensor {
    return ops.round(this);
  }
  clamp(min?: number | null, max?: number | null): Tensor {
    return ops.clamp(this, min, max);
  }
  cast(dtype: DType): Tensor {
    return ops.cast(this, dtype);
  }
  float(): Tensor {
    return ops.cast(this, 'float32');
  }
  int(): Tensor {
    return ops.cast(this, 'int32');
  }
  clone(): Tensor {
    return ops.clone(this);
  }
  isnan(): Tensor {
    return ops.isnan(this);
  }
  isfinite(): Tensor {
    return ops.isfinite(this);
  }

  sum(axis?: number | number[], keepdim = false): Tensor {
    return ops.sum(this, axis, keepdim);
  }
  mean(axis?: number | number[], keepdim = false): Tensor {
    return ops.mean(this, axis, keepdim);
  }
  max(axis?: number | number[], keepdim = false): Tensor {
    return ops.max(this, axis, keepdim);
  }
  min(axis?: number | number[], keepdim = false): Tensor {
    return ops.min(this, axis, keepdim);
  }
  argmax(axis?: number, keepdim = false): Tensor {
    return ops.argmax(this, axis, keepdim);
  }
  argmin(axis?: number, keepdim = false): Tensor {
    return ops.argmin(this, axis, keepdim);
  }
  var(axis?: number | number[], keepdim = false, correction = 1): Tensor {
    return ops.variance(this, axis, keepdim, correction);
  }
  std(axis?: number | number[], keepdim = false, correction = 1): Tensor {
    return ops.std(this, axis, keepdim, correction);
  }
  logsumexp(axis?: number | number[], keepdim = false): Tensor {
    return ops.logsumexp(this, axis, keepdim);
  }
  softmax(axis = -1): Tensor {
    return ops.softmax(this, axis);
  }
  logSoftmax(axis = -1): Tensor {
    return ops.logSoftmax(this, axis);
  }
  cumsum(axis = -1, options?: ops.CumulativeOptions): Tensor {
    return ops.cumsum(this, axis, options);
  }
  cummax(axis = -1): { values: Tensor; indices: Tensor } {
    return ops.cummax(this, axis);
  }

  matmul(other: Tensor): Tensor {
    return ops.matmul(this, other);
  }

  reshape(shape: readonly number[]): Tensor {
    return ops.reshape(this, shape);
  }
  flatten(startAxis = 0, endAxis = -1): Tensor {
    return ops.flatten(this, startAxis, endAxis);
  }
  permute(axes: readonly number[]): Tensor {
    return ops.permute(this, axes);
  }
  transpose(axis0 = -2, axis1 = -1): Tensor {
    return ops.transpose(this, axis0, axis1);
  }
  expand(shape: readonly number[]): Tensor {
    return ops.expand(this, shape);
  }
  squeeze(axis?: number | number[]): Tensor {
    return ops.squeeze(this, axis);
  }
  unsqueeze(axis: number): Tensor {
    return ops.unsqueeze(this, axis);
  }
  slice(axis: number, start?: number, end?: number, step?: number): Tensor {
    return ops.slice(this, axis, start, end, step);
  }
  narrow(axis: number, start: number, length: number): Tensor {
    return ops.slice(this, axis, start, start + length);
  }
  flip(axes: number | number[]): Tensor {
    return ops.flip(this, axes);
  }
  pad(pads: readonly (readonly [number, number])[], value = 0): Tensor {
    return ops.pad(this, pads, value);
  }
  split(sizes: number | readonly number[], axis = 0): Tensor[] {
    return ops.split(this, sizes, axis);
  }
  tril(diagonal = 0): Tensor {
    return ops.tril(this, diagonal);
  }
  triu(diagonal = 0): Tensor {
    return ops.triu(this, diagonal);
  }
  gather(axis: number, index: Tensor): Tensor {
    return ops.gather(this, axis, index);
  }
  indexSelect(axis: number, index: Tensor): Tensor {
    return ops.indexSelect(this, axis, index);
  }
  where(condition: Tensor, other: TensorLike): Tensor {
    return ops.where(condition, this, other);
  }
}

function nest(data: TypedArray, shape: readonly number[]): NestedArray {
  if (shape.length === 0) return data[0] as number;
  const build = (offset: number, axis: number): NestedArray[] => {
    const n = shape[axis] as number;
    const out: NestedArray[] = [];
    if (axis === shape.length - 1) {
      for (let i = 0; i < n; i++) out.push(data[offset + i] as number);
      return out;
    }
    const step = sizeOf(shape.slice(axis + 1));
    for (let i = 0; i < n; i++) out.push(build(offset + i * step, axis + 1));
    return out;
  };
  return build(0, 0);
}
