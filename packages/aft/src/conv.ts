import {
  conv1d,
  conv2d,
  nn,
  randn,
  type StreamState,
  type Tensor,
  TensorError,
  zeros,
} from '@recur/tensor';
import {
  AftSequenceLayer,
  causalWindowed,
  checkWindowState,
  emptyWindowState,
  gatedOutput,
  type Projections,
  projections,
  WINDOW_STATE_KEYS,
} from './common.js';

/** Added to the variance of each head's raw kernel before the square root (a window of 1 has none). */
export const KERNEL_STD_EPS = 1e-5;

/**
 * The AFT-conv kernel of each head, reparameterised (Zhai et al. 2021, §3.3):
 * w'^i = γ_i (w^i − mean(w^i)) / std(w^i) + β_i, with the population std (plus KERNEL_STD_EPS under
 * the root). γ and β start at 0, so w' = 0, e^{w'} − 1 = 0, and training starts as AFT-simple with
 * per-head keys.
 */
export function reparameterisedKernel(w: Tensor, gamma: Tensor, beta: Tensor): Tensor {
  const axes = w.shape.slice(1).map((_, i) => i + 1);
  const perHead = [w.shape[0]!, ...axes.map(() => 1)];
  const centred = w.sub(w.mean(axes, true));
  const std = centred.square().mean(axes, true).add(KERNEL_STD_EPS).sqrt();
  return centred.div(std).mul(gamma.reshape(perHead)).add(beta.reshape(perHead));
}

/** [..., h] → [..., h·dh]: each head's entry repeated over the head's dh channels. */
function toChannels(x: Tensor, dh: number): Tensor {
  const lead = x.shape.slice(0, -1);
  const h = x.shape[x.rank - 1]!;
  return x
    .unsqueeze(-1)
    .expand([...lead, h, dh])
    .reshape([...lead, h * dh]);
}

/** [h, ...kernel] → depthwise conv weight [h·dh, 1, ...kernel]: each head's kernel for its channels. */
function channelKernel(kernel: Tensor, dh: number): Tensor {
  const [h, ...rest] = kernel.shape as number[];
  return kernel
    .unsqueeze(1)
    .expand([h!, dh, ...rest])
    .reshape([h! * dh, 1, ...rest]);
}

/** Checks that heads divide dModel; the channels per head. */
function headWidth(op: string, dModel: number, heads: number): number {
  nn.checkPositive(op, 'dModel', dModel);
  nn.checkPositive(op, 'heads', heads);
  if (dModel % heads !== 0)
    throw new TensorError(op, `dModel (${dModel}) must be divisible by heads (${heads})`);
  return dModel / heads;
}

/** Options of AftConv1d: width, heads and kernel size over a sequence. */
export interface AftConv1dOptions {
  dModel: number;
  /** Heads h: one key and one kernel per head, shared by its dModel / h channels. */
  heads: number;
  /** Kernel size s. Causal: token t sees t − s + 1..t; not causal (s odd): t − (s−1)/2..t + (s−1)/2. */
  window: number;
  /** Sum over t' ≤ t only (streamable). Default true. */
  causal?: boolean;
  /** Biases on the four projections. Default true. */
  bias?: boolean;
}

/**
 * AFT-conv over sequences (Zhai et al. 2021; MATH.md §5). Keys are tied to heads (K ∈ R^{T×h}),
 * Q, V ∈ R^{T×h×d/h}, and each head has a kernel w^i ∈ R^s shared by its channels (reparameterised,
 * see `reparameterisedKernel`). Per head i:
 *
 *     num = conv(e^{K^i} ⊙ V^i, e^{w^i} − 1) + Σ_{t'} e^{K^i_{t'}} ⊙ V^i_{t'},   den: V → 1,
 *     Y^i = σ(Q^i) ⊙ num / den
 *
 * — AFT-local with a translation-invariant bias shared across the channels of a head. The kernel is
 * in cross-correlation order (as conv1d's weight): entry j is the bias of the token at offset
 * t' − t = j − (s − 1) when causal, j − (s − 1)/2 when not.
 *
 * Not causal: depthwise conv1d (groups) of e^{K − max K}, with the per-head maximum over the
 * sequence; the shift cancels between numerator and denominator. Causal: the shift must be the
 * prefix maximum (a global one can underflow early rows to 0/0), which differs from row to row, so
 * the convolution is computed as what conv1d is — an unfolding of the last s tokens and a weighted
 * sum — with each row's own shift between the two; the global sums are the attention scan. Streaming
 * keeps the scan triple and the last s − 1 tokens' keys and values: O(s·d) state.
 */
export class AftConv1d extends AftSequenceLayer {
  readonly stateKeys = WINDOW_STATE_KEYS;
  readonly heads: number;
  readonly dHead: number;
  readonly window: number;
  /** Raw kernels [heads, window], N(0, 1) (so their std is non-zero). */
  w: Tensor;
  /** Per-head scale γ [heads], initialised to 0. */
  gamma: Tensor;
  /** Per-head offset β [heads], initialised to 0. */
  beta: Tensor;

  constructor({ dModel, heads, window, causal, bias = true }: AftConv1dOptions) {
    const dHead = headWidth('AftConv1d', dModel, heads);
    super('AftConv1d', dModel, causal, { bias, keyDim: heads }); // one key per head
    this.heads = heads;
    this.dHead = dHead;
    this.window = nn.checkPositive('AftConv1d', 'window', window);
    if (!this.causal && window % 2 === 0) {
      throw new TensorError(
        'AftConv1d',
        `expected an odd window when causal is false (a centred kernel), got ${window}`,
      );
    }
    this.w = nn.parameter(randn([heads, window]));
    this.gamma = nn.parameter(zeros([heads]));
    this.beta = nn.parameter(zeros([heads]));
  }

  /** The kernels in use, w' [heads, window] (after the reparameterisation). */
  kernel(): Tensor {
    return reparameterisedKernel(this.w, this.gamma, this.beta);
  }

  protected parallel(x: Tensor): Tensor {
    const dh = this.dHead;
    const q = this.wq.forward(x);
    const k = this.wk.forward(x); // [B, T, h]
    const v = this.wv.forward(x);
    const ek = k.sub(k.max(1, true).detach()).exp(); // per-head maximum over the sequence
    const ekv = toChannels(ek, dh).mul(v);
    const coef = this.kernel().expm1(); // e^{w'} − 1, [h, s]
    const depthwise = (z: Tensor, weight: Tensor) =>
      conv1d(z.permute([0, 2, 1]), weight, null, {
        padding: 'same',
        groups: z.shape[2]!,
      }).permute([0, 2, 1]);
    const num = ekv.sum(1, true).add(depthwise(ekv, channelKernel(coef, dh)));
    const den = ek.sum(1, true).add(depthwise(ek, coef.unsqueeze(1)));
    return gatedOutput(this, q, num, toChannels(den, dh));
  }

  protected continue(x: Tensor, state: StreamState): { y: Tensor; state: StreamState } {
    const b = x.shape[0]!;
    const s = this.window;
    checkWindowState('AftConv1d', state, b, this.dModel, s);
    const q = this.wq.forward(x);
    const k = toChannels(this.wk.forward(x), this.dHead); // a head's key in each of its channels
    const v = this.wv.forward(x);
    // Coefficients by lag j = t − t' = s − 1 − (kernel index): [1, s, d].
    const coef = channelKernel(this.kernel().expm1().flip(1), this.dHead)
      .squeeze(1)
      .transpose(0, 1)
      .unsqueeze(0);
    const r = causalWindowed(k, v, coef, state);
    return { y: gatedOutput(this, q, r.num, r.den), state: r.state };
  }

  protected emptyState(batch: number): StreamState {
    return emptyWindowState(batch, this.dModel, this.window);
  }
}

/** Options of AftConv2d: width, heads and a square kernel over an image's height and width. */
export interface AftConv2dOptions {
  dModel: number;
  /** Heads h: one key and one k×k kernel per head, shared by its dModel / h channels. */
  heads: number;
  /** Kernel size k (odd): each position's window is the k×k neighbourhood centred on it. */
  kernel: number;
  /** Biases on the four projections. Default true. */
  bias?: boolean;
}

/**
 * AFT-conv over an image grid, x [B, H, W, dModel] → [B, H, W, dModel] (Zhai et al. 2021, the
 * variant of their ImageNet experiments): as AftConv1d with 2-d depthwise convolutions of k×k
 * kernels, not causal. Every position sees the whole image through the global sums; the kernel adds
 * e^{w'} − 1 over its neighbourhood. Keys are shifted by their per-head maximum over the image.
 */
export class AftConv2d extends nn.Module implements Projections {
  readonly dModel: number;
  readonly heads: number;
  readonly dHead: number;
  readonly kernelSize: number;
  wq: nn.Linear;
  wk: nn.Linear;
  wv: nn.Linear;
  wo: nn.Linear;
  /** Raw kernels [heads, k, k], N(0, 1). */
  w: Tensor;
  /** Per-head scale γ [heads], initialised to 0. */
  gamma: Tensor;
  /** Per-head offset β [heads], initialised to 0. */
  beta: Tensor;

  constructor({ dModel, heads, kernel, bias = true }: AftConv2dOptions) {
    super();
    this.dHead = headWidth('AftConv2d', dModel, heads);
    this.kernelSize = nn.checkPositive('AftConv2d', 'kernel', kernel);
    if (kernel % 2 === 0)
      throw new TensorError('AftConv2d', `expected an odd kernel (centred), got ${kernel}`);
    this.dModel = dModel;
    this.heads = heads;
    ({
      wq: this.wq,
      wk: this.wk,
      wv: this.wv,
      wo: this.wo,
    } = projections(dModel, {
      bias,
      keyDim: heads, // one key per head
    }));
    this.w = nn.parameter(randn([heads, kernel, kernel]));
    this.gamma = nn.parameter(zeros([heads]));
    this.beta = nn.parameter(zeros([heads]));
  }

  /** The kernels in use, w' [heads, k, k] (after the reparameterisation). */
  kernel(): Tensor {
    return reparameterisedKernel(this.w, this.gamma, this.beta);
  }

  override forward(x: Tensor): Tensor {
    checkGrid('AftConv2d', x, this.dModel);
    const dh = this.dHead;
    const q = this.wq.forward(x);
    const k = this.wk.forward(x); // [B, H, W, h]
    const v = this.wv.forward(x);
    const ek = k.sub(k.max([1, 2], true).detach()).exp();
    const ekv = toChannels(ek, dh).mul(v);
    const coef = this.kernel().expm1(); // [h, k, k]
    const depthwise = (z: Tensor, weight: Tensor) =>
      conv2d(z.permute([0, 3, 1, 2]), weight, null, {
        padding: 'same',
        groups: z.shape[3]!,
      }).permute([0, 2, 3, 1]);
    const num = ekv.sum([1, 2], true).add(depthwise(ekv, channelKernel(coef, dh)));
    const den = ek.sum([1, 2], true).add(depthwise(ek, coef.unsqueeze(1)));
    return gatedOutput(this, q, num, toChannels(den, dh));
  }
}

export function checkGrid(op: string, x: Tensor, dModel: number): void {
  if (x.rank !== 4 || x.shape[3] !== dModel) {
    throw new TensorError(
      op,
      `expected x of shape [batch, height, width, ${dModel}], got [${x.shape.join(', ')}]`,
    );
  }
}
