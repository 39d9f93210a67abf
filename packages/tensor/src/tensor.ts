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

/**
 * Nested JS arrays of numbers, one level per axis, or a number for rank 0: what {@link tensor}
 * reads and {@link Tensor.array} returns.
 */
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

  /** The number of axes: 0 for a scalar, 3 for [B, T, d]. */
  get rank(): number {
    return this.shape.length;
  }
  /**
   * The backend the tensor's buffer lives on; ops need all their inputs on the same one (see {@link
   * Tensor.to}).
   */
  get backend(): Backend {
    return this.storage.backend;
  }
  /** @internal The backend buffer holding the elements; shared with views of this tensor. */
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
  /**
   * @internal Moves this tensor's buffer (with every tensor sharing it) to where the backend's fused
   * kernels read it in place, when the backend has such memory (Backend.resident). Same contents,
   * same version; a no-op elsewhere.
   */
  makeResident(): void {
    const storage = this.storage;
    const moved = storage.backend.resident?.(
      storage.buffer,
      this.dtype,
      storage.bytes / bytesPerElement(this.dtype),
    );
    if (moved) storage.moveTo(moved);
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
  /** Whether {@link Tensor.dispose} was called; a disposed tensor cannot be read or used in ops. */
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
  /** @internal Records the op that produced this tensor, which makes it require gradients. */
  setNode(node: GradNode): void {
    this.node = node;
    this.needsGrad = true;
  }

  /**
   * Whether gradients flow to this tensor: set it on float32 leaves (parameters) for {@link
   * Tensor.backward} to fill `.grad`; op outputs of such tensors have it set.
   */
  get requiresGrad(): boolean {
    return this.needsGrad;
  }
  /**
   * Turns gradient tracking on or off. Throws when turning it on for an int32 tensor, or off for a
   * tensor an op produced (use {@link Tensor.detach}).
   */
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

  /** @internal Throws, naming `op`, when the tensor was disposed. */
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
  /**
   * Nested JS arrays (a number for rank 0), synchronously; only on backends that read synchronously
   * (the CPU), like {@link Tensor.dataSync}.
   */
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
    return this.dataSync()[0]!;
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

  /**
   * A one-line summary: dtype, shape, whether it requires gradients, and the first 8 elements (read
   * only on backends that read synchronously, else `…`).
   */
  toString(): string {
    const data = this.backend.readSync ? Array.from(this.dataSync().slice(0, 8)) : '…';
    return `Tensor(${this.dtype} ${fmtShape(this.shape)}${this.requiresGrad ? ', requiresGrad' : ''}) [${data}${this.size > 8 ? ', …' : ''}]`;
  }

  // ---- ops as methods (see ops/ for the definitions) --------------------------------------------

  /** this + other elementwise with broadcasting; see {@link "@recur/tensor"!add | add}. */
  add(other: TensorLike): Tensor {
    return ops.add(this, other);
  }
  /** this − other elementwise with broadcasting; see {@link "@recur/tensor"!sub | sub}. */
  sub(other: TensorLike): Tensor {
    return ops.sub(this, other);
  }
  /** this · other elementwise with broadcasting; see {@link "@recur/tensor"!mul | mul}. */
  mul(other: TensorLike): Tensor {
    return ops.mul(this, other);
  }
  /**
   * this / other elementwise with broadcasting, always float32; see {@link "@recur/tensor"!div |
   * div}.
   */
  div(other: TensorLike): Tensor {
    return ops.div(this, other);
  }
  /**
   * this raised to `other` elementwise with broadcasting; see {@link "@recur/tensor"!pow | pow}.
   */
  pow(other: TensorLike): Tensor {
    return ops.pow(this, other);
  }
  /**
   * The elementwise larger of this and other, with broadcasting; see {@link "@recur/tensor"!maximum
   * | maximum}.
   */
  maximum(other: TensorLike): Tensor {
    return ops.maximum(this, other);
  }
  /**
   * The elementwise smaller of this and other, with broadcasting; see {@link
   * "@recur/tensor"!minimum | minimum}.
   */
  minimum(other: TensorLike): Tensor {
    return ops.minimum(this, other);
  }
  /**
   * 1 where this = other, else 0 (int32), with broadcasting; see {@link "@recur/tensor"!eq | eq}.
   */
  eq(other: TensorLike): Tensor {
    return ops.eq(this, other);
  }
  /**
   * 1 where this ≠ other, else 0 (int32), with broadcasting; see {@link "@recur/tensor"!ne | ne}.
   */
  ne(other: TensorLike): Tensor {
    return ops.ne(this, other);
  }
  /**
   * 1 where this < other, else 0 (int32), with broadcasting; see {@link "@recur/tensor"!lt | lt}.
   */
  lt(other: TensorLike): Tensor {
    return ops.lt(this, other);
  }
  /**
   * 1 where this <= other, else 0 (int32), with broadcasting; see {@link "@recur/tensor"!le | le}.
   */
  le(other: TensorLike): Tensor {
    return ops.le(this, other);
  }
  /**
   * 1 where this > other, else 0 (int32), with broadcasting; see {@link "@recur/tensor"!gt | gt}.
   */
  gt(other: TensorLike): Tensor {
    return ops.gt(this, other);
  }
  /**
   * 1 where this >= other, else 0 (int32), with broadcasting; see {@link "@recur/tensor"!ge | ge}.
   */
  ge(other: TensorLike): Tensor {
    return ops.ge(this, other);
  }

  /** −this; see {@link "@recur/tensor"!neg | neg}. */
  neg(): Tensor {
    return ops.neg(this);
  }
  /** |this| elementwise; see {@link "@recur/tensor"!abs | abs}. */
  abs(): Tensor {
    return ops.abs(this);
  }
  /** −1, 0 or 1 by the sign of each element; see {@link "@recur/tensor"!sign | sign}. */
  sign(): Tensor {
    return ops.sign(this);
  }
  /** eˣ elementwise (float32); see {@link "@recur/tensor"!exp | exp}. */
  exp(): Tensor {
    return ops.exp(this);
  }
  /** Natural logarithm elementwise (float32); see {@link "@recur/tensor"!log | log}. */
  log(): Tensor {
    return ops.log(this);
  }
  /** log(1 + x) elementwise, accurate near 0; see {@link "@recur/tensor"!log1p | log1p}. */
  log1p(): Tensor {
    return ops.log1p(this);
  }
  /** eˣ − 1 elementwise, accurate near 0; see {@link "@recur/tensor"!expm1 | expm1}. */
  expm1(): Tensor {
    return ops.expm1(this);
  }
  /** √x elementwise (float32); see {@link "@recur/tensor"!sqrt | sqrt}. */
  sqrt(): Tensor {
    return ops.sqrt(this);
  }
  /** 1/√x elementwise (float32); see {@link "@recur/tensor"!rsqrt | rsqrt}. */
  rsqrt(): Tensor {
    return ops.rsqrt(this);
  }
  /** Sine elementwise, in radians; see {@link "@recur/tensor"!sin | sin}. */
  sin(): Tensor {
    return ops.sin(this);
  }
  /** Cosine elementwise, in radians; see {@link "@recur/tensor"!cos | cos}. */
  cos(): Tensor {
    return ops.cos(this);
  }
  /** Hyperbolic tangent elementwise; see {@link "@recur/tensor"!tanh | tanh}. */
  tanh(): Tensor {
    return ops.tanh(this);
  }
  /** The error function elementwise; see {@link "@recur/tensor"!erf | erf}. */
  erf(): Tensor {
    return ops.erf(this);
  }
  /** 1/(1 + e⁻ˣ) elementwise; see {@link "@recur/tensor"!sigmoid | sigmoid}. */
  sigmoid(): Tensor {
    return ops.sigmoid(this);
  }
  /** max(x, 0) elementwise; see {@link "@recur/tensor"!relu | relu}. */
  relu(): Tensor {
    return ops.relu(this);
  }
  /** Exact GELU, x·Φ(x) with the normal CDF; see {@link "@recur/tensor"!gelu | gelu}. */
  gelu(): Tensor {
    return ops.gelu(this);
  }
  /** x·σ(x) elementwise; see {@link "@recur/tensor"!silu | silu}. */
  silu(): Tensor {
    return ops.silu(this);
  }
  /** log(1 + eˣ) elementwise, without overflow; see {@link "@recur/tensor"!softplus | softplus}. */
  softplus(): Tensor {
    return ops.softplus(this);
  }
  /** x² elementwise; see {@link "@recur/tensor"!square | square}. */
  square(): Tensor {
    return ops.square(this);
  }
  /** 1/x elementwise (float32); see {@link "@recur/tensor"!reciprocal | reciprocal}. */
  reciprocal(): Tensor {
    return ops.reciprocal(this);
  }
  /** Rounds each element down; see {@link "@recur/tensor"!floor | floor}. */
  floor(): Tensor {
    return ops.floor(this);
  }
  /** Rounds each element up; see {@link "@recur/tensor"!ceil | ceil}. */
  ceil(): Tensor {
    return ops.ceil(this);
  }
  /**
   * Rounds each element to the nearest integer, half to even; see {@link "@recur/tensor"!round |
   * round}.
   */
  round(): Tensor {
    return ops.round(this);
  }
  /**
   * Clamps into [min, max], either bound optional; throws when min > max. See {@link
   * "@recur/tensor"!clamp | clamp}.
   */
  clamp(min?: number | null, max?: number | null): Tensor {
    return ops.clamp(this, min, max);
  }
  /**
   * A copy converted to `dtype` (float → int32 truncates toward zero); see {@link
   * "@recur/tensor"!cast | cast}.
   */
  cast(dtype: DType): Tensor {
    return ops.cast(this, dtype);
  }
  /** A float32 copy; the same as `cast('float32')` (see {@link "@recur/tensor"!cast | cast}). */
  float(): Tensor {
    return ops.cast(this, 'float32');
  }
  /**
   * An int32 copy, truncated toward zero; the same as `cast('int32')` (see {@link
   * "@recur/tensor"!cast | cast}).
   */
  int(): Tensor {
    return ops.cast(this, 'int32');
  }
  /** A differentiable copy with its own buffer; see {@link "@recur/tensor"!clone | clone}. */
  clone(): Tensor {
    return ops.clone(this);
  }
  /** 1 where the element is NaN, else 0 (int32); see {@link "@recur/tensor"!isnan | isnan}. */
  isnan(): Tensor {
    return ops.isnan(this);
  }
  /**
   * 1 where the element is neither NaN nor ±Infinity, else 0 (int32); see {@link
   * "@recur/tensor"!isfinite | isfinite}.
   */
  isfinite(): Tensor {
    return ops.isfinite(this);
  }

  /**
   * Sum over `axis` (all axes when left out), reduced axes kept as size 1 when `keepdim`; see
   * {@link "@recur/tensor"!sum | sum}.
   */
  sum(axis?: number | number[], keepdim = false): Tensor {
    return ops.sum(this, axis, keepdim);
  }
  /**
   * Mean over `axis` (all axes when left out), always float32; see {@link "@recur/tensor"!mean |
   * mean}.
   */
  mean(axis?: number | number[], keepdim = false): Tensor {
    return ops.mean(this, axis, keepdim);
  }
  /**
   * Maximum over `axis` (all axes when left out); see {@link "@recur/tensor"!max | max}. Throws on
   * an empty axis.
   */
  max(axis?: number | number[], keepdim = false): Tensor {
    return ops.max(this, axis, keepdim);
  }
  /**
   * Minimum over `axis` (all axes when left out); see {@link "@recur/tensor"!min | min}. Throws on
   * an empty axis.
   */
  min(axis?: number | number[], keepdim = false): Tensor {
    return ops.min(this, axis, keepdim);
  }
  /**
   * int32 index of the largest element along `axis`, or into the flattened tensor; see {@link
   * "@recur/tensor"!argmax | argmax}.
   */
  argmax(axis?: number, keepdim = false): Tensor {
    return ops.argmax(this, axis, keepdim);
  }
  /**
   * int32 index of the smallest element along `axis`, or into the flattened tensor; see {@link
   * "@recur/tensor"!argmin | argmin}.
   */
  argmin(axis?: number, keepdim = false): Tensor {
    return ops.argmin(this, axis, keepdim);
  }
  /**
   * Variance over `axis` (all when left out) with Bessel's `correction` (default 1, unbiased); see
   * {@link "@recur/tensor"!variance | variance}.
   */
  var(axis?: number | number[], keepdim = false, correction = 1): Tensor {
    return ops.variance(this, axis, keepdim, correction);
  }
  /**
   * Standard deviation over `axis` (all when left out) with Bessel's `correction` (default 1); see
   * {@link "@recur/tensor"!std | std}.
   */
  std(axis?: number | number[], keepdim = false, correction = 1): Tensor {
    return ops.std(this, axis, keepdim, correction);
  }
  /**
   * log Σ exp(x) over `axis` (all when left out), without overflow; see {@link
   * "@recur/tensor"!logsumexp | logsumexp}.
   */
  logsumexp(axis?: number | number[], keepdim = false): Tensor {
    return ops.logsumexp(this, axis, keepdim);
  }
  /** Softmax along `axis` (the last by default); see {@link "@recur/tensor"!softmax | softmax}. */
  softmax(axis = -1): Tensor {
    return ops.softmax(this, axis);
  }
  /**
   * log softmax along `axis` (the last by default), exact for large score spreads; see {@link
   * "@recur/tensor"!logSoftmax | logSoftmax}.
   */
  logSoftmax(axis = -1): Tensor {
    return ops.logSoftmax(this, axis);
  }
  /**
   * Running sums along `axis` (the last by default), optionally reversed or exclusive; see {@link
   * "@recur/tensor"!cumsum | cumsum}.
   */
  cumsum(axis = -1, options?: ops.CumulativeOptions): Tensor {
    return ops.cumsum(this, axis, options);
  }
  /**
   * Running maxima along `axis` (the last by default) and the int32 indices they came from; see
   * {@link "@recur/tensor"!cummax | cummax}.
   */
  cummax(axis = -1): { values: Tensor; indices: Tensor } {
    return ops.cummax(this, axis);
  }

  /**
   * Matrix product with NumPy semantics ([..., n, k] · [..., k, m] → [..., n, m], batch axes
   * broadcast, 1-d operands promoted; one dtype for both); see {@link "@recur/tensor"!matmul | matmul}.
   */
  matmul(other: Tensor): Tensor {
    return ops.matmul(this, other);
  }

  /**
   * The same elements in another shape of the same size (one size may be -1); shares the buffer.
   * See {@link "@recur/tensor"!reshape | reshape}.
   */
  reshape(shape: readonly number[]): Tensor {
    return ops.reshape(this, shape);
  }
  /**
   * Merges axes `startAxis`..`endAxis` (inclusive; all by default) into one; see {@link
   * "@recur/tensor"!flatten | flatten}.
   */
  flatten(startAxis = 0, endAxis = -1): Tensor {
    return ops.flatten(this, startAxis, endAxis);
  }
  /**
   * Reorders the axes: output axis i is axis `axes[i]`; see {@link "@recur/tensor"!permute |
   * permute}.
   */
  permute(axes: readonly number[]): Tensor {
    return ops.permute(this, axes);
  }
  /** Swaps two axes, the last two by default; see {@link "@recur/tensor"!transpose | transpose}. */
  transpose(axis0 = -2, axis1 = -1): Tensor {
    return ops.transpose(this, axis0, axis1);
  }
  /**
   * Broadcasts to `shape` by NumPy rules (-1 keeps a size); see {@link "@recur/tensor"!expand |
   * expand}.
   */
  expand(shape: readonly number[]): Tensor {
    return ops.expand(this, shape);
  }
  /**
   * Removes size-1 axes: all of them, or those named; see {@link "@recur/tensor"!squeeze |
   * squeeze}.
   */
  squeeze(axis?: number | number[]): Tensor {
    return ops.squeeze(this, axis);
  }
  /**
   * Inserts a size-1 axis at `axis` (in the output's numbering, so -1 appends); see {@link
   * "@recur/tensor"!unsqueeze | unsqueeze}.
   */
  unsqueeze(axis: number): Tensor {
    return ops.unsqueeze(this, axis);
  }
  /**
   * Elements start, start + step, … before end along `axis`, with Python slice rules; see {@link
   * "@recur/tensor"!slice | slice}.
   */
  slice(axis: number, start?: number, end?: number, step?: number): Tensor {
    return ops.slice(this, axis, start, end, step);
  }
  /**
   * `length` elements from `start` along `axis`: `slice(axis, start, start + length)` (see {@link
   * "@recur/tensor"!slice | slice}).
   */
  narrow(axis: number, start: number, length: number): Tensor {
    return ops.slice(this, axis, start, start + length);
  }
  /** Reverses the order of elements along `axes`; see {@link "@recur/tensor"!flip | flip}. */
  flip(axes: number | number[]): Tensor {
    return ops.flip(this, axes);
  }
  /**
   * Pads with the constant `value` (default 0), `pads[i] = [before, after]` for axis i counted from
   * the first axis; see {@link "@recur/tensor"!pad | pad}.
   */
  pad(pads: readonly (readonly [number, number])[], value = 0): Tensor {
    return ops.pad(this, pads, value);
  }
  /**
   * Splits along `axis` (default 0) into pieces of the given sizes, or equal pieces of one size;
   * see {@link "@recur/tensor"!split | split}.
   */
  split(sizes: number | readonly number[], axis = 0): Tensor[] {
    return ops.split(this, sizes, axis);
  }
  /**
   * Zeros the elements above the `diagonal`-th diagonal of the last two axes; see {@link
   * "@recur/tensor"!tril | tril}.
   */
  tril(diagonal = 0): Tensor {
    return ops.tril(this, diagonal);
  }
  /**
   * Zeros the elements below the `diagonal`-th diagonal of the last two axes; see {@link
   * "@recur/tensor"!triu | triu}.
   */
  triu(diagonal = 0): Tensor {
    return ops.triu(this, diagonal);
  }
  /**
   * Picks elements along `axis` by an int32 index of the output's shape (torch.gather); see {@link
   * "@recur/tensor"!gather | gather}.
   */
  gather(axis: number, index: Tensor): Tensor {
    return ops.gather(this, axis, index);
  }
  /**
   * Selects whole slices along `axis` by an int32 index of any shape (an embedding lookup); see
   * {@link "@recur/tensor"!indexSelect | indexSelect}.
   */
  indexSelect(axis: number, index: Tensor): Tensor {
    return ops.indexSelect(this, axis, index);
  }
  /**
   * Elementwise `condition ? this : other` with broadcasting: `where(condition, this, other)` (see
   * {@link "@recur/tensor"!where | where}).
   */
  where(condition: Tensor, other: TensorLike): Tensor {
    return ops.where(condition, this, other);
  }
}

function nest(data: TypedArray, shape: readonly number[]): NestedArray {
  if (shape.length === 0) return data[0]!;
  const build = (offset: number, axis: number): NestedArray[] => {
    const n = shape[axis]!;
    const out: NestedArray[] = [];
    if (axis === shape.length - 1) {
      for (let i = 0; i < n; i++) out.push(data[offset + i]!);
      return out;
    }
    const step = sizeOf(shape.slice(axis + 1));
    for (let i = 0; i < n; i++) out.push(build(offset + i * step, axis + 1));
    return out;
  };
  return build(0, 0);
}
