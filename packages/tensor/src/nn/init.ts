// In-place initialisation schemes, as torch.nn.init. Each draws from the seeded default generator
// (or the one passed), writes with Tensor.assign (the tensor keeps its identity) and returns it.
import { noGrad } from '../engine.js';
import { fmtShape, TensorError } from '../errors.js';
import { full } from '../ops/creation.js';
import { type Generator, rand, randn } from '../random.js';
import type { Tensor } from '../tensor.js';

/** The activations {@link calculateGain} knows, named as in torch.nn.init.calculate_gain. */
export type Nonlinearity =
  | 'linear'
  | 'identity'
  | 'conv1d'
  | 'conv2d'
  | 'conv3d'
  | 'sigmoid'
  | 'tanh'
  | 'relu'
  | 'leaky_relu'
  | 'selu';

/**
 * Which fan a Kaiming initialisation scales by: 'fan_in' preserves the variance of the forward
 * pass, 'fan_out' that of the backward pass (see {@link calculateFanInAndFanOut}).
 */
export type FanMode = 'fan_in' | 'fan_out';

/** The recommended gain for a nonlinearity (torch.nn.init.calculate_gain). */
export function calculateGain(nonlinearity: Nonlinearity, param?: number): number {
  switch (nonlinearity) {
    case 'linear':
    case 'identity':
    case 'conv1d':
    case 'conv2d':
    case 'conv3d':
    case 'sigmoid':
      return 1;
    case 'tanh':
      return 5 / 3;
    case 'relu':
      return Math.SQRT2;
    case 'leaky_relu': {
      const slope = param ?? 0.01;
      if (!Number.isFinite(slope))
        throw new TensorError('calculateGain', `expected a finite negative slope, got ${slope}`);
      return Math.sqrt(2 / (1 + slope * slope));
    }
    case 'selu':
      return 3 / 4;
    default:
      throw new TensorError('calculateGain', `unknown nonlinearity '${String(nonlinearity)}'`);
  }
}

/**
 * fan_in and fan_out as PyTorch computes them for a tensor of rank >= 2: [out, in, ...receptive]
 * gives fanIn = in · Π receptive, fanOut = out · Π receptive.
 */
export function calculateFanInAndFanOut(shape: Tensor | readonly number[]): {
  fanIn: number;
  fanOut: number;
} {
  const s = Array.isArray(shape) ? (shape as readonly number[]) : (shape as Tensor).shape;
  if (s.length < 2) {
    throw new TensorError(
      'init',
      `fan in and fan out need a tensor of rank >= 2, got shape ${fmtShape(s)}`,
    );
  }
  let receptive = 1;
  for (let i = 2; i < s.length; i++) receptive *= s[i]!;
  return { fanIn: s[1]! * receptive, fanOut: s[0]! * receptive };
}

function write(op: string, t: Tensor, make: () => Tensor): Tensor {
  t.assertAlive(op);
  noGrad(() => {
    const v = make();
    t.assign(v);
    v.dispose();
  });
  return t;
}

function requireFloat(op: string, t: Tensor): void {
  if (t.dtype !== 'float32') throw new TensorError(op, `expected a float32 tensor, got ${t.dtype}`);
}

/**
 * Options every initialiser takes: the generator to draw from ({@link
 * "@recur/tensor"!defaultGenerator | defaultGenerator} when left out).
 */
export interface InitOptions {
  generator?: Generator;
}

/** Fills with U(low, high) (default U(0, 1)). */
export function uniform_(
  t: Tensor,
  opts: InitOptions & { low?: number; high?: number } = {},
): Tensor {
  requireFloat('uniform_', t);
  const low = opts.low ?? 0;
  const high = opts.high ?? 1;
  if (!(Number.isFinite(low) && Number.isFinite(high) && low <= high)) {
    throw new TensorError('uniform_', `expected finite low <= high, got [${low}, ${high})`);
  }
  if (low === high) return constant_(t, low);
  return write('uniform_', t, () =>
    rand(t.shape, { low, high, generator: opts.generator, backend: t.backend.name }),
  );
}

/** Fills with N(mean, std²) (default N(0, 1)). */
export function normal_(
  t: Tensor,
  opts: InitOptions & { mean?: number; std?: number } = {},
): Tensor {
  requireFloat('normal_', t);
  const mean = opts.mean ?? 0;
  const std = opts.std ?? 1;
  if (!(Number.isFinite(mean) && std >= 0 && Number.isFinite(std))) {
    throw new TensorError(
      'normal_',
      `expected a finite mean and std >= 0, got mean ${mean}, std ${std}`,
    );
  }
  return write('normal_', t, () =>
    randn(t.shape, { mean, std, generator: opts.generator, backend: t.backend.name }),
  );
}

/** Fills with `value`. */
export function constant_(t: Tensor, value: number): Tensor {
  if (typeof value !== 'number')
    throw new TensorError('constant_', `expected a number, got ${typeof value}`);
  return write('constant_', t, () =>
    full(t.shape, value, { dtype: t.dtype, backend: t.backend.name }),
  );
}

/**
 * Fills `t` (float32 or int32) with 0 in place, keeping its identity, and returns it; see {@link
 * constant_}.
 */
export function zeros_(t: Tensor): Tensor {
  return constant_(t, 0);
}

/**
 * Fills `t` (float32 or int32) with 1 in place, keeping its identity, and returns it; see {@link
 * constant_}.
 */
export function ones_(t: Tensor): Tensor {
  return constant_(t, 1);
}

/** Glorot uniform: U(−b, b) with b = gain·√(6 / (fanIn + fanOut)). */
export function xavierUniform_(t: Tensor, opts: InitOptions & { gain?: number } = {}): Tensor {
  const { fanIn, fanOut } = calculateFanInAndFanOut(t);
  const std = (opts.gain ?? 1) * Math.sqrt(2 / (fanIn + fanOut));
  const bound = Math.sqrt(3) * std;
  return uniform_(t, { low: -bound, high: bound, generator: opts.generator });
}

/** Glorot normal: N(0, std²) with std = gain·√(2 / (fanIn + fanOut)). */
export function xavierNormal_(t: Tensor, opts: InitOptions & { gain?: number } = {}): Tensor {
  const { fanIn, fanOut } = calculateFanInAndFanOut(t);
  const std = (opts.gain ?? 1) * Math.sqrt(2 / (fanIn + fanOut));
  return normal_(t, { std, generator: opts.generator });
}

/**
 * Options of {@link kaimingUniform_} and {@link kaimingNormal_}: the gain comes from `nonlinearity`
 * (and `a`), the fan from `mode`, as in PyTorch.
 */
export interface KaimingOptions extends InitOptions {
  /** Negative slope of the leaky ReLU that follows (used with 'leaky_relu'). Default 0. */
  a?: number;
  /** 'fan_in' (default) keeps the forward pass's variance, 'fan_out' the backward pass's. */
  mode?: FanMode;
  /** Default 'leaky_relu' (with a = 0 that is ReLU's gain √2), as PyTorch. */
  nonlinearity?: Nonlinearity;
}

function kaimingStd(op: string, t: Tensor, opts: KaimingOptions): number {
  const mode = opts.mode ?? 'fan_in';
  if (mode !== 'fan_in' && mode !== 'fan_out') {
    throw new TensorError(op, `expected mode 'fan_in' or 'fan_out', got '${String(mode)}'`);
  }
  const { fanIn, fanOut } = calculateFanInAndFanOut(t);
  const fan = mode === 'fan_in' ? fanIn : fanOut;
  if (fan === 0) return 0; // a zero-element tensor: nothing to draw
  const gain = calculateGain(opts.nonlinearity ?? 'leaky_relu', opts.a ?? 0);
  return gain / Math.sqrt(fan);
}

/** He uniform: U(−b, b) with b = gain·√(3 / fan). */
export function kaimingUniform_(t: Tensor, opts: KaimingOptions = {}): Tensor {
  const bound = Math.sqrt(3) * kaimingStd('kaimingUniform_', t, opts);
  return uniform_(t, { low: -bound, high: bound, generator: opts.generator });
}

/** He normal: N(0, std²) with std = gain / √fan. */
export function kaimingNormal_(t: Tensor, opts: KaimingOptions = {}): Tensor {
  return normal_(t, { std: kaimingStd('kaimingNormal_', t, opts), generator: opts.generator });
}
