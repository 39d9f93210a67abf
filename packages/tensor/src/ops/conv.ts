import { fmtShape, TensorError } from '../errors.js';
import { type OnnxContext, SLICE_END } from '../onnx/lowering.js';
import { defineOp, type OpDef, run1 } from '../op.js';
import type { Tensor } from '../tensor.js';
import { matmulT } from './matmul.js';
import { reshape, squeeze, unsqueeze } from './movement.js';

/**
 * Convolutions with PyTorch's semantics and layouts (cross-correlation, NCHW, weight
 * [C_out, C_in / groups, kH, kW]), computed as im2col + matmul. 1-d is 2-d with H = 1.
 *
 * Two kernels do the spatial work: 'im2col' unfolds every receptive field of x [N, C, H, W] into a
 * column of cols [N, C·kH·kW, outH·outW] (row index (c·kH + i)·kW + j, zero where the field reaches
 * into the padding, which is never materialised), and 'col2im' is its adjoint (each column entry is
 * added back to the pixel it came from). Each is the other's gradient, so conv gradients with respect
 * to x, weight and bias all come from autograd through matmul, reshape and add.
 */
export interface Im2colAttrs {
  /** Input channels, height and width (x is [N, channels, height, width]). */
  readonly channels: number;
  readonly height: number;
  readonly width: number;
  readonly kernelH: number;
  readonly kernelW: number;
  readonly strideH: number;
  readonly strideW: number;
  readonly dilationH: number;
  readonly dilationW: number;
  /** Zero rows above / columns left of the input; the bottom and right padding is implied by outH, outW. */
  readonly padTop: number;
  readonly padLeft: number;
  readonly outH: number;
  readonly outW: number;
}

/** Padding of one spatial dimension: symmetric, or [before, after]. */
export type ConvPadding = number | readonly [number, number];

/**
 * 'valid' = no padding; 'same' (stride 1 only) pads so the output has the input's size, the odd
 * extra on the right/bottom as PyTorch does.
 */
export type ConvPaddingMode = 'valid' | 'same';

/**
 * Options of {@link conv1d}: stride, padding, dilation and groups, as in
 * torch.nn.functional.conv1d.
 */
export interface Conv1dOptions {
  /** Default 1. */
  stride?: number | readonly [number];
  /** A number, [p], [[before, after]] (e.g. [[k - 1, 0]] for a causal convolution), or a mode. Default 0. */
  padding?: number | readonly [ConvPadding] | ConvPaddingMode;
  /** Default 1. */
  dilation?: number | readonly [number];
  /** C_in and C_out must both be divisible by it; groups = C_in is depthwise. Default 1. */
  groups?: number;
}

/**
 * Options of {@link conv2d}: stride, padding and dilation per spatial axis (a number for both), and
 * groups.
 */
export interface Conv2dOptions {
  /** A number or [strideH, strideW]. Default 1. */
  stride?: number | readonly [number, number];
  /** A number, [padH, padW] where each is a number or a [before, after] pair, or a mode. Default 0. */
  padding?: number | readonly [ConvPadding, ConvPadding] | ConvPaddingMode;
  /** A number or [dilationH, dilationW]. Default 1. */
  dilation?: number | readonly [number, number];
  /** C_in and C_out must both be divisible by it; groups = C_in is depthwise. Default 1. */
  groups?: number;
}

/** Options of im2col / col2im (no groups: they act on every channel alike). */
export type Im2colOptions = Omit<Conv2dOptions, 'groups'>;

// ---- the two kernels as ops ---------------------------------------------------------------------

function checkGeometry(op: string, x: Tensor, a: Im2colAttrs, expected: readonly number[]): void {
  const ok = x.rank === expected.length + 1 && x.shape.slice(1).every((d, i) => d === expected[i]);
  if (!ok)
    throw new TensorError(
      op,
      `expected a tensor of shape [N, ${expected.join(', ')}], got ${fmtShape(x.shape)}`,
    );
  if (a.outH < 0 || a.outW < 0)
    throw new TensorError(op, `negative output size ${a.outH}×${a.outW}`);
}

/**
 * ONNX: x zero-padded to exactly the extent the fields cover (or cut to it), then one strided Slice
 * per kernel offset (i, j) giving [N, C, outH, outW], stacked in (c, i, j) order and flattened.
 * The far padding must not depend on the input's sizes (it never does for a fixed geometry that
 * follows the input, as 'same' or a causal pad).
 */
function im2colOnnx({
  g,
  inputs,
  outputs,
  attrs: a,
  altAttrs: b,
  fail,
}: OnnxContext<Im2colAttrs>): void {
  const far = (t: Im2colAttrs) => [
    (t.outH - 1) * t.strideH + t.dilationH * (t.kernelH - 1) + 1 - t.padTop - t.height,
    (t.outW - 1) * t.strideW + t.dilationW * (t.kernelW - 1) + 1 - t.padLeft - t.width,
  ];
  const [bottom, right] = far(a) as [number, number];
  const [bottomB, rightB] = far(b) as [number, number];
  if (bottom !== bottomB || right !== rightB) {
    fail('the padding after the input depends on its sizes: no fixed ONNX Pad writes it');
  }
  let x = inputs[0]!;
  // Cut what no field reaches, then pad with zeros to exactly the covered extent.
  if (bottom < 0 || right < 0) {
    x = g.op('Slice', [
      x,
      g.ints([0, 0]),
      g.ints([bottom < 0 ? bottom : SLICE_END, right < 0 ? right : SLICE_END]),
      g.ints([2, 3]),
    ]);
  }
  const pads = [0, 0, a.padTop, a.padLeft, 0, 0, Math.max(bottom, 0), Math.max(right, 0)];
  if (pads.some((p) => p !== 0)) x = g.op('Pad', [x, g.ints(pads)]);
  const patches: string[] = [];
  for (let i = 0; i < a.kernelH; i++) {
    for (let j = 0; j < a.kernelW; j++) {
      const endH = (a.kernelH - 1 - i) * a.dilationH;
      const endW = (a.kernelW - 1 - j) * a.dilationW;
      const patch = g.op('Slice', [
        x,
        g.ints([i * a.dilationH, j * a.dilationW]),
        g.ints([endH === 0 ? SLICE_END : -endH, endW === 0 ? SLICE_END : -endW]),
        g.ints([2, 3]),
        g.ints([a.strideH, a.strideW]),
      ]);
      patches.push(g.op('Unsqueeze', [patch, g.ints([2])])); // [N, C, 1, outH, outW]
    }
  }
  const all = patches.length === 1 ? patches[0]! : g.op('Concat', patches, { axis: 2 });
  // [N, C, kH·kW, outH, outW] → [N, C·kH·kW, outH·outW]
  const rows = a.channels * a.kernelH * a.kernelW;
  g.op('Reshape', [all, g.ints([0, rows, -1])], {}, outputs[0]);
}

/** @internal The type of im2col and col2im, for their kernels (`registerKernel<Im2colOp>`). */
export type Im2colOp = OpDef<Im2colAttrs, [x: Tensor]>;

const im2colDef: Im2colOp = defineOp({
  name: 'im2col',
  onnx: im2colOnnx,
  infer: ([t], a) => {
    checkGeometry('im2col', t, a, [a.channels, a.height, a.width]);
    return [
      {
        shape: [t.shape[0]!, a.channels * a.kernelH * a.kernelW, a.outH * a.outW],
        dtype: t.dtype,
      },
    ];
  },
  grad: (dy, { attrs }) => [run1(col2imDef, [dy], attrs)],
});

const col2imDef: Im2colOp = defineOp({
  name: 'col2im',
  infer: ([t], a) => {
    checkGeometry('col2im', t, a, [a.channels * a.kernelH * a.kernelW, a.outH * a.outW]);
    return [{ shape: [t.shape[0]!, a.channels, a.height, a.width], dtype: t.dtype }];
  },
  grad: (dy, { attrs }) => [run1(im2colDef, [dy], attrs)],
});

/** x [N, C, H, W] → cols [N, C·kH·kW, outH·outW]; a plain reshape when the unfolding is the identity. */
function unfold(x: Tensor, a: Im2colAttrs): Tensor {
  const n = x.shape[0]!;
  const identity =
    a.kernelH === 1 &&
    a.kernelW === 1 &&
    a.padTop === 0 &&
    a.padLeft === 0 &&
    a.outH === a.height &&
    a.outW === a.width &&
    (a.strideH === 1 || a.height === 1) &&
    (a.strideW === 1 || a.width === 1);
  if (identity) return reshape(x, [n, a.channels, a.height * a.width]);
  return run1(im2colDef, [x], a);
}

// ---- argument checking --------------------------------------------------------------------------

function show(v: unknown): string {
  if (typeof v === 'string') return `'${v}'`;
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}

/** A number or a tuple of `dims` numbers, each an integer >= min. */
function perDim(op: string, name: string, v: unknown, dims: number, min: number): number[] {
  let list: unknown[];
  if (typeof v === 'number') list = new Array<number>(dims).fill(v);
  else if (Array.isArray(v) && v.length === dims) list = v;
  else {
    const form = dims === 1 ? '[n]' : `a tuple of ${dims} numbers`;
    throw new TensorError(op, `expected ${name} as a number or ${form}, got ${show(v)}`);
  }
  for (const d of list) {
    if (typeof d !== 'number' || !Number.isInteger(d) || d < min) {
      const what = min === 1 ? 'positive integers' : 'non-negative integers';
      throw new TensorError(op, `expected ${name} to be ${what}, got ${show(v)}`);
    }
  }
  return list as number[];
}

/** [before, after] per spatial dimension. */
function padPairs(
  op: string,
  padding: unknown,
  dims: number,
  kernel: readonly number[],
  stride: readonly number[],
  dilation: readonly number[],
  rawStride: unknown,
): [number, number][] {
  if (padding === 'valid') return kernel.map(() => [0, 0]);
  if (padding === 'same') {
    if (stride.some((s) => s !== 1)) {
      throw new TensorError(op, `padding 'same' needs stride 1, got stride ${show(rawStride)}`);
    }
    return kernel.map((k, i) => {
      const total = dilation[i]! * (k - 1);
      const before = Math.floor(total / 2);
      return [before, total - before];
    });
  }
  const form =
    dims === 1
      ? "a number, [p], [[before, after]], 'valid' or 'same'"
      : "a number, [padH, padW] (each a number or a [before, after] pair), 'valid' or 'same'";
  let entries: unknown[];
  if (typeof padding === 'number') entries = new Array<number>(dims).fill(padding);
  else if (Array.isArray(padding) && padding.length === dims) entries = padding;
  else throw new TensorError(op, `expected padding as ${form}, got ${show(padding)}`);
  const isAmount = (p: unknown): p is number =>
    typeof p === 'number' && Number.isInteger(p) && p >= 0;
  return entries.map((e) => {
    if (isAmount(e)) return [e, e];
    if (Array.isArray(e) && e.length === 2 && isAmount(e[0]) && isAmount(e[1])) return [e[0], e[1]];
    throw new TensorError(
      op,
      `expected padding as ${form} with non-negative integer amounts, got ${show(padding)}`,
    );
  });
}

interface Spatial {
  readonly stride: number[];
  readonly dilation: number[];
  readonly pads: [number, number][];
  readonly out: number[];
}

/** Resolves stride, dilation and padding for `dims` spatial dimensions and checks the kernel fits. */
function resolveSpatial(
  op: string,
  input: readonly number[],
  kernel: readonly number[],
  opts: { stride?: unknown; padding?: unknown; dilation?: unknown },
): Spatial {
  const dims = input.length;
  const stride = perDim(op, 'stride', opts.stride ?? 1, dims, 1);
  const dilation = perDim(op, 'dilation', opts.dilation ?? 1, dims, 1);
  const pads = padPairs(op, opts.padding ?? 0, dims, kernel, stride, dilation, opts.stride);
  const axisName = dims === 1 ? ['length'] : ['height', 'width'];
  const out = input.map((size, i) => {
    const k = kernel[i]!;
    const d = dilation[i]!;
    const [before, after] = pads[i]!;
    const span = d * (k - 1) + 1;
    const padded = size + before + after;
    if (span > padded) {
      throw new TensorError(
        op,
        `the kernel ${axisName[i]} ${k}${d > 1 ? ` (dilation ${d}: spans ${span})` : ''} is larger than the padded input ${axisName[i]} ${padded} (${size} + padding ${before} + ${after})`,
      );
    }
    return Math.floor((padded - span) / stride[i]!) + 1;
  });
  return { stride, dilation, pads, out };
}

function attrsOf(
  channels: number,
  input: readonly number[],
  kernel: readonly number[],
  s: Spatial,
): Im2colAttrs {
  // 1-d geometry (one spatial dimension) is 2-d geometry with H = 1.
  const two = input.length === 2;
  const at = (xs: readonly number[], i: number, dflt: number) =>
    two ? xs[i]! : i === 0 ? dflt : xs[0]!;
  return {
    channels,
    height: at(input, 0, 1),
    width: at(input, 1, 1),
    kernelH: at(kernel, 0, 1),
    kernelW: at(kernel, 1, 1),
    strideH: at(s.stride, 0, 1),
    strideW: at(s.stride, 1, 1),
    dilationH: at(s.dilation, 0, 1),
    dilationW: at(s.dilation, 1, 1),
    padTop: two ? s.pads[0]![0] : 0,
    padLeft: s.pads[two ? 1 : 0]![0],
    outH: at(s.out, 0, 1),
    outW: at(s.out, 1, 1),
  };
}

function checkFloat(op: string, name: string, t: unknown): Tensor {
  if (t === null || typeof t !== 'object' || !('dtype' in t) || !('shape' in t)) {
    throw new TensorError(op, `expected ${name} to be a Tensor, got ${show(t)}`);
  }
  const x = t as Tensor;
  if (x.dtype !== 'float32')
    throw new TensorError(op, `expected ${name} of dtype float32, got ${x.dtype}`);
  return x;
}

// ---- convolutions -------------------------------------------------------------------------------

/**
 * Checks a convolution's weight [C_out, C_in / groups, ...kernel] and bias [C_out] against the
 * input's channels and the groups; returns C_out, the kernel's sizes and the channels per group.
 */
function checkWeights(
  op: string,
  weight: Tensor,
  bias: Tensor | null | undefined,
  cIn: number,
  groups: number,
): { cOut: number; kernel: number[]; cg: number } {
  const cOut = weight.shape[0]!;
  const kernel = weight.shape.slice(2);
  if (cOut === 0 || kernel.some((d) => d === 0)) {
    throw new TensorError(op, `expected weight with non-zero sizes, got ${fmtShape(weight.shape)}`);
  }
  if (cIn % groups !== 0)
    throw new TensorError(op, `input channels ${cIn} are not divisible by groups ${groups}`);
  if (cOut % groups !== 0)
    throw new TensorError(
      op,
      `output channels ${cOut} (weight axis 0) are not divisible by groups ${groups}`,
    );
  const cg = cIn / groups;
  if (weight.shape[1] !== cg) {
    throw new TensorError(
      op,
      `expected weight of shape [${cOut}, ${cg}, ${kernel.join(', ')}] (input channels ${cIn} / groups ${groups} = ${cg}), got ${fmtShape(weight.shape)}`,
    );
  }
  if (bias !== undefined && bias !== null) {
    checkFloat(op, 'bias', bias);
    if (bias.rank !== 1 || bias.shape[0] !== cOut) {
      throw new TensorError(
        op,
        `expected bias of shape [${cOut}] (output channels), got ${fmtShape(bias.shape)}`,
      );
    }
  }
  return { cOut, kernel, cg };
}

function convNd(
  op: string,
  dims: 1 | 2,
  xIn: Tensor,
  weightIn: Tensor,
  bias: Tensor | null | undefined,
  opts: Conv1dOptions | Conv2dOptions,
): Tensor {
  const x = checkFloat(op, 'input', xIn);
  const weight = checkFloat(op, 'weight', weightIn);
  const layout =
    dims === 1
      ? '[N, C_in, L] or unbatched [C_in, L]'
      : '[N, C_in, H, W] or unbatched [C_in, H, W]';
  if (x.rank !== dims + 1 && x.rank !== dims + 2) {
    throw new TensorError(op, `expected input of shape ${layout}, got ${fmtShape(x.shape)}`);
  }
  const wLayout = dims === 1 ? '[C_out, C_in / groups, k]' : '[C_out, C_in / groups, kH, kW]';
  if (weight.rank !== dims + 2)
    throw new TensorError(op, `expected weight of shape ${wLayout}, got ${fmtShape(weight.shape)}`);
  const groups = opts.groups ?? 1;
  if (typeof groups !== 'number' || !Number.isInteger(groups) || groups < 1) {
    throw new TensorError(op, `expected groups to be a positive integer, got ${show(groups)}`);
  }
  const batched = x.rank === dims + 2;
  const xb = batched ? x : unsqueeze(x, 0);
  const n = xb.shape[0]!;
  const cIn = xb.shape[1]!;
  const input = xb.shape.slice(2);
  if (cIn === 0 || input.some((d) => d === 0)) {
    throw new TensorError(
      op,
      `expected input with non-zero channel and spatial sizes, got ${fmtShape(x.shape)}`,
    );
  }
  const { cOut, kernel, cg } = checkWeights(op, weight, bias, cIn, groups);
  const spatial = resolveSpatial(op, input, kernel, opts);
  const a = attrsOf(cIn, input, kernel, spatial);
  const x4 = dims === 1 ? unsqueeze(xb, 2) : xb;
  const cols = unfold(x4, a); // [N, C_in·K, L]
  const k = cg * a.kernelH * a.kernelW;
  const l = a.outH * a.outW;
  let y: Tensor;
  if (groups === 1) {
    y = matmulT(reshape(weight, [cOut, k]), cols); // [N, C_out, L]
  } else {
    // Group g's weights [C_out/g, C_in/g·K] times its rows of cols: one batched matmul over (N, g).
    const w3 = reshape(weight, [groups, cOut / groups, k]);
    y = matmulT(w3, reshape(cols, [n, groups, k, l])); // [N, groups, C_out/groups, L]
  }
  y = reshape(y, [n, cOut, ...spatial.out]);
  if (bias) y = y.add(reshape(bias, [cOut, ...spatial.out.map(() => 1)]));
  return batched ? y : squeeze(y, 0);
}

/**
 * 1-d convolution (cross-correlation, as torch.nn.functional.conv1d): x [N, C_in, L] or [C_in, L],
 * weight [C_out, C_in / groups, k], bias [C_out] → [N, C_out, L_out] (or [C_out, L_out]), with
 * L_out = ⌊(L + before + after − dilation·(k − 1) − 1) / stride⌋ + 1.
 */
export function conv1d(
  x: Tensor,
  weight: Tensor,
  bias?: Tensor | null,
  opts: Conv1dOptions = {},
): Tensor {
  return convNd('conv1d', 1, x, weight, bias, opts);
}

/**
 * 2-d convolution (cross-correlation, as torch.nn.functional.conv2d): x [N, C_in, H, W] or
 * [C_in, H, W], weight [C_out, C_in / groups, kH, kW], bias [C_out] → [N, C_out, H_out, W_out].
 */
export function conv2d(
  x: Tensor,
  weight: Tensor,
  bias?: Tensor | null,
  opts: Conv2dOptions = {},
): Tensor {
  return convNd('conv2d', 2, x, weight, bias, opts);
}

// ---- unfold / fold ------------------------------------------------------------------------------

function kernelPair(op: string, kernelSize: unknown): number[] {
  return perDim(op, 'kernelSize', kernelSize, 2, 1);
}

/**
 * Every kH×kW patch of x [N, C, H, W] (or [C, H, W]) as a column: [N, C·kH·kW, H_out·W_out], rows
 * ordered (c, i, j) like a flattened conv weight (torch.nn.functional.unfold). Padding is zeros.
 */
export function im2col(
  x: Tensor,
  kernelSize: number | readonly [number, number],
  opts: Im2colOptions = {},
): Tensor {
  const op = 'im2col';
  if (x.rank !== 3 && x.rank !== 4)
    throw new TensorError(
      op,
      `expected input of shape [N, C, H, W] or [C, H, W], got ${fmtShape(x.shape)}`,
    );
  const xb = x.rank === 4 ? x : unsqueeze(x, 0);
  const kernel = kernelPair(op, kernelSize);
  const input = xb.shape.slice(2);
  const a = attrsOf(xb.shape[1]!, input, kernel, resolveSpatial(op, input, kernel, opts));
  const cols = run1(im2colDef, [xb], a);
  return x.rank === 4 ? cols : squeeze(cols, 0);
}

/**
 * The adjoint of im2col (torch.nn.functional.fold): sums columns [N, C·kH·kW, L] (or [C·kH·kW, L])
 * back into an image [N, C, H, W] of `outputSize` [H, W]; overlapping patches add up.
 */
export function col2im(
  cols: Tensor,
  outputSize: readonly [number, number],
  kernelSize: number | readonly [number, number],
  opts: Im2colOptions = {},
): Tensor {
  const op = 'col2im';
  if (cols.rank !== 2 && cols.rank !== 3) {
    throw new TensorError(
      op,
      `expected columns of shape [N, C·kH·kW, L] or [C·kH·kW, L], got ${fmtShape(cols.shape)}`,
    );
  }
  const cb = cols.rank === 3 ? cols : unsqueeze(cols, 0);
  const kernel = kernelPair(op, kernelSize);
  const input = perDim(op, 'outputSize', outputSize, 2, 1);
  const kk = kernel[0]! * kernel[1]!;
  const rows = cb.shape[1]!;
  if (rows % kk !== 0) {
    throw new TensorError(
      op,
      `expected columns with a multiple of kH·kW = ${kk} rows, got ${fmtShape(cols.shape)}`,
    );
  }
  const s = resolveSpatial(op, input, kernel, opts);
  const blocks = s.out[0]! * s.out[1]!;
  if (cb.shape[2] !== blocks) {
    throw new TensorError(
      op,
      `expected ${blocks} columns (${s.out[0]}×${s.out[1]} patches for output ${input[0]}×${input[1]}), got ${fmtShape(cols.shape)}`,
    );
  }
  const a = attrsOf(rows / kk, input, kernel, s);
  const img = run1(col2imDef, [cb], a);
  return cols.rank === 3 ? img : squeeze(img, 0);
}
