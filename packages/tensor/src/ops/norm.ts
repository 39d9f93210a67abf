import type { OutputSpec } from '../backend.js';
import { fmtShape, TensorError } from '../errors.js';
import type { OnnxContext } from '../onnx/lowering.js';
import { defineOp, type OpDef, run1, runOp } from '../op.js';
import type { Tensor } from '../tensor.js';

/**
 * Fused LayerNorm over the trailing `axes` axes of x (n elements per row): with μ and σ² the row's
 * mean and population variance,
 *
 *     y = (x − μ) / √(σ² + eps) · weight + bias                 (weight, bias: optional inputs)
 *
 * exact for any finite x: the CPU kernel works in float64 (no square of a float32 overflows it), the
 * WebGPU kernel divides each row by s = max(max |x|, 1) first (LayerNorm is scale invariant but for
 * eps, which becomes eps / s²). One kernel forward, one backward ('layerNormGrad', which recomputes
 * the row statistics from x rather than keeping them).
 */
export interface LayerNormAttrs {
  /** How many trailing axes are normalised together. */
  readonly axes: number;
  readonly eps: number;
  /** Inputs after x: none, [weight] or [weight, bias]. */
  readonly affine: 0 | 1 | 2;
}

/**
 * ONNX: the same scaled composition (so a huge row exports as exactly as it runs): s = max(max|x|, 1),
 * xs = x / s, y = (xs − mean) / √(var + eps / s²), then · weight + bias.
 */
function layerNormOnnx({ g, inputs, outputs, attrs }: OnnxContext<LayerNormAttrs>): void {
  const axes = Array.from({ length: attrs.axes }, (_, i) => i - attrs.axes);
  const f = (v: number) => g.scalar(v, 'float32');
  const s = g.op('Max', [g.op('ReduceMax', [g.op('Abs', [inputs[0]!])], { axes }), f(1)]);
  const xs = g.op('Div', [inputs[0]!, s]);
  const centered = g.op('Sub', [xs, g.op('ReduceMean', [xs], { axes })]);
  const variance = g.op('ReduceMean', [g.op('Mul', [centered, centered])], { axes });
  const epsS = g.op('Div', [f(attrs.eps), g.op('Mul', [s, s])]);
  let y = g.op('Div', [centered, g.op('Sqrt', [g.op('Add', [variance, epsS])])]);
  if (attrs.affine >= 1) y = g.op('Mul', [y, inputs[1]!]);
  if (attrs.affine === 2) y = g.op('Add', [y, inputs[2]!]);
  g.op('Identity', [y], {}, outputs[0]);
}

/** x, and with affine ≥ 1 the weight, with affine 2 the bias. */
type LayerNormInputs =
  | [x: Tensor]
  | [x: Tensor, weight: Tensor]
  | [x: Tensor, weight: Tensor, bias: Tensor];

const layerNormDef: OpDef<LayerNormAttrs, LayerNormInputs> = defineOp({
  name: 'layerNorm',
  onnx: layerNormOnnx,
  infer: ([x]) => [{ shape: x.shape, dtype: 'float32' }],
  grad: (dy, { inputs: [x, w], attrs }) => {
    const grads = runOp(layerNormGradDef, w ? [x, dy, w] : [x, dy], attrs);
    // Parameter gradients are computed only for the parameters present.
    return grads.slice(0, 1 + attrs.affine);
  },
});

/**
 * The gradient of 'layerNorm': inputs x, dy[, weight] → dx[, dweight, dbias]. With x̂ the normalised
 * row, g = dy · weight and r = 1/√(σ² + eps):
 *
 *     dx = r · (g − mean(g) − x̂ · mean(g · x̂))      dweight = Σ_rows dy · x̂      dbias = Σ_rows dy
 *
 * Not differentiable itself (backward records no graph).
 */
const layerNormGradDef: OpDef<
  LayerNormAttrs,
  [x: Tensor, dy: Tensor] | [x: Tensor, dy: Tensor, weight: Tensor],
  [dx: OutputSpec] | [dx: OutputSpec, dweight: OutputSpec, dbias: OutputSpec]
> = defineOp({
  name: 'layerNormGrad',
  infer: ([x], { axes, affine }) => {
    const dx: OutputSpec = { shape: x.shape, dtype: 'float32' };
    if (affine < 1) return [dx];
    // dweight and dbias are both computed when there is a weight (the bias's is a by-product).
    const param: OutputSpec = { shape: x.shape.slice(x.rank - axes), dtype: 'float32' };
    return [dx, param, param];
  },
});

/** @internal The ops' types, for their kernels (`registerKernel<LayerNormOp>`). */
export type LayerNormOp = typeof layerNormDef;
/** @internal The LayerNorm gradient op's type, for its kernels. */
export type LayerNormGradOp = typeof layerNormGradDef;

/**
 * Layer normalisation over the trailing `normalizedShape` axes of x, as torch.nn.functional.layer_norm:
 * (x − mean) / √(var + eps) · weight + bias with the population variance, in one op forward and one
 * backward. `weight` and `bias` (optional, shaped `normalizedShape`) are applied inside the op.
 */
export function layerNorm(
  x: Tensor,
  normalizedShape: readonly number[],
  weight: Tensor | null = null,
  bias: Tensor | null = null,
  eps = 1e-5,
): Tensor {
  const op = 'layerNorm';
  const k = normalizedShape.length;
  const tail = x.shape.slice(x.rank - k);
  if (k === 0 || x.rank < k || tail.some((d, i) => d !== normalizedShape[i])) {
    throw new TensorError(
      op,
      `expected input of shape [..., ${normalizedShape.join(', ')}] (normalizedShape), got ${fmtShape(x.shape)}`,
    );
  }
  if (x.dtype !== 'float32') throw new TensorError(op, `expected a float32 input, got ${x.dtype}`);
  if (!(eps >= 0) || !Number.isFinite(eps))
    throw new TensorError(op, `expected a finite eps >= 0, got ${eps}`);
  if (bias && !weight)
    throw new TensorError(op, 'expected a weight with the bias, got a bias only');
  for (const [name, p] of [
    ['weight', weight],
    ['bias', bias],
  ] as const) {
    if (!p) continue;
    if (p.dtype !== 'float32' || p.rank !== k || p.shape.some((d, i) => d !== normalizedShape[i])) {
      throw new TensorError(
        op,
        `expected a float32 ${name} of shape [${normalizedShape.join(', ')}], got ${p.dtype} ${fmtShape(p.shape)}`,
      );
    }
  }
  const inputs: LayerNormInputs = weight ? (bias ? [x, weight, bias] : [x, weight]) : [x];
  return run1(layerNormDef, inputs, { axes: k, eps, affine: (inputs.length - 1) as 0 | 1 | 2 });
}
