import { allocTyped, type DType } from './dtype.js';
import { getDefaultBackend } from './engine.js';
import { TensorError } from './errors.js';
import { getBackend } from './kernels.js';
import { checkShape, sizeOf } from './shape.js';
import { Tensor } from './tensor.js';

/**
 * A seeded pseudo-random generator (xoshiro128**, seeded through splitmix32). Integer arithmetic only,
 * so a seed gives the same numbers on every machine and JS engine.
 */
export class Generator {
  private s = new Uint32Array(4);
  private spare: number | null = null;

  constructor(seed = 0) {
    this.seed(seed);
  }

  /** Restarts the sequence from `seed` (an integer taken modulo 2^32, so -1 and 2^32 − 1 are the same seed). */
  seed(seed: number): this {
    if (!Number.isFinite(seed))
      throw new TensorError('manualSeed', `expected a finite number, got ${seed}`);
    let x = Math.trunc(seed) >>> 0;
    for (let i = 0; i < 4; i++) {
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      this.s[i] = (z ^ (z >>> 16)) >>> 0;
    }
    if (this.s.every((v) => v === 0)) this.s[0] = 1;
    this.spare = null;
    return this;
  }

  /** The full state, for checkpoints. */
  getState(): number[] {
    return [...this.s, this.spare ?? Number.NaN];
  }

  /**
   * Restores a state from {@link Generator.getState}, after which the generator repeats the numbers
   * it drew after that call. Throws unless given 5 numbers.
   */
  setState(state: readonly number[]): void {
    if (state.length !== 5)
      throw new TensorError('Generator.setState', `expected 5 numbers, got ${state.length}`);
    this.s.set(state.slice(0, 4));
    const spare = state[4]!;
    this.spare = Number.isNaN(spare) ? null : spare;
  }

  /** A uniform 32-bit unsigned integer. */
  nextUint32(): number {
    const s = this.s;
    const result = Math.imul(rotl(Math.imul(s[1]!, 5), 7), 9) >>> 0;
    const t = s[1]! << 9;
    s[2] = s[2]! ^ s[0]!;
    s[3] = s[3]! ^ s[1]!;
    s[1] = s[1]! ^ s[2];
    s[0] = s[0]! ^ s[3];
    s[2] = s[2] ^ t;
    s[3] = rotl(s[3], 11);
    return result;
  }

  /** Uniform in [0, 1), with 24 random bits (exactly representable in float32). */
  nextFloat(): number {
    return (this.nextUint32() >>> 8) / 16777216;
  }

  /** Standard normal (Box–Muller, both values used). */
  nextNormal(): number {
    if (this.spare !== null) {
      const v = this.spare;
      this.spare = null;
      return v;
    }
    const u1 = 1 - this.nextFloat(); // (0, 1]: log stays finite
    const u2 = this.nextFloat();
    const r = Math.sqrt(-2 * Math.log(u1));
    this.spare = r * Math.sin(2 * Math.PI * u2);
    return r * Math.cos(2 * Math.PI * u2);
  }

  /** Uniform integer in [low, high). */
  nextInt(low: number, high: number): number {
    const span = high - low;
    // Rejection sampling avoids modulo bias.
    const limit = 4294967296 - (4294967296 % span);
    let u = this.nextUint32();
    while (u >= limit) u = this.nextUint32();
    return low + (u % span);
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/** The generator used when none is passed. */
export const defaultGenerator = new Generator(0);

/** Reseeds the default generator: everything random after this repeats exactly. */
export function manualSeed(seed: number): void {
  defaultGenerator.seed(seed);
}

/**
 * Options of the random functions ({@link rand}, {@link randn}, …): the generator ({@link
 * defaultGenerator} when left out), whether the result is a leaf that requires gradients, and the
 * backend name (the default backend when left out).
 */
export interface RandomOptions {
  generator?: Generator;
  requiresGrad?: boolean;
  backend?: string;
}

function make(
  op: string,
  shape: readonly number[],
  dtype: DType,
  opts: RandomOptions,
  fill: (g: Generator) => number,
): Tensor {
  const s = checkShape(op, shape);
  const g = opts.generator ?? defaultGenerator;
  const data = allocTyped(dtype, sizeOf(s));
  for (let i = 0; i < data.length; i++) data[i] = fill(g);
  const t = Tensor.fromHost(
    data,
    s,
    opts.backend === undefined ? getDefaultBackend() : getBackend(opts.backend),
  );
  if (opts.requiresGrad) t.requiresGrad = true;
  return t;
}

/** Uniform in [low, high) (default [0, 1)). */
export function rand(
  shape: readonly number[],
  opts: RandomOptions & { low?: number; high?: number } = {},
): Tensor {
  const low = opts.low ?? 0;
  const high = opts.high ?? 1;
  if (!(high > low)) throw new TensorError('rand', `expected low < high, got [${low}, ${high})`);
  return make('rand', shape, 'float32', opts, (g) => low + (high - low) * g.nextFloat());
}

/** Normal with the given mean and std (default standard normal). */
export function randn(
  shape: readonly number[],
  opts: RandomOptions & { mean?: number; std?: number } = {},
): Tensor {
  const mean = opts.mean ?? 0;
  const std = opts.std ?? 1;
  if (!(std >= 0)) throw new TensorError('randn', `expected std >= 0, got ${std}`);
  return make('randn', shape, 'float32', opts, (g) => mean + std * g.nextNormal());
}

/** Uniform int32 in [low, high). */
export function randint(
  low: number,
  high: number,
  shape: readonly number[],
  opts: RandomOptions = {},
): Tensor {
  if (
    !Number.isInteger(low) ||
    !Number.isInteger(high) ||
    high <= low ||
    low < -(2 ** 31) ||
    high > 2 ** 31
  ) {
    throw new TensorError(
      'randint',
      `expected int32 bounds low < high (within [-2^31, 2^31]), got [${low}, ${high})`,
    );
  }
  return make('randint', shape, 'int32', opts, (g) => g.nextInt(low, high));
}

/** A random permutation of 0..n-1 (int32), by Fisher–Yates. */
export function randperm(n: number, opts: RandomOptions = {}): Tensor {
  if (!Number.isInteger(n) || n < 0)
    throw new TensorError('randperm', `expected a non-negative integer, got ${n}`);
  const g = opts.generator ?? defaultGenerator;
  const p = new Int32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = g.nextInt(0, i + 1);
    const tmp = p[i]!;
    p[i] = p[j]!;
    p[j] = tmp;
  }
  return Tensor.fromHost(
    p,
    [n],
    opts.backend === undefined ? getDefaultBackend() : getBackend(opts.backend),
  );
}

/** Uniform values in [0, 1) of `t`'s shape on `t`'s backend, float32; see {@link rand}. */
export function randLike(t: Tensor, opts: RandomOptions = {}): Tensor {
  return rand(t.shape, { backend: t.backend.name, ...opts });
}

/** Standard normal values of `t`'s shape on `t`'s backend, float32; see {@link randn}. */
export function randnLike(t: Tensor, opts: RandomOptions = {}): Tensor {
  return randn(t.shape, { backend: t.backend.name, ...opts });
}
