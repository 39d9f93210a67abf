// Loss functions, as torch.nn.functional. Each takes `reduction`: 'mean' (default), 'sum' or 'none'.
import { fmtShape, TensorError } from '../errors.js';
import { crossEntropyRows } from '../ops/cross-entropy.js';
import { where } from '../ops/elementwise.js';
import { gather, indexSelect } from '../ops/indexing.js';
import { logSoftmax } from '../ops/softmax.js';
import { Tensor } from '../tensor.js';

/**
 * How a loss reduces its per-element values: 'mean' (the default; {@link nllLoss} and {@link
 * crossEntropy} divide by the targets' total class weight), 'sum', or 'none' (the unreduced
 * tensor).
 */
export type Reduction = 'mean' | 'sum' | 'none';

function checkReduction(op: string, r: unknown): Reduction {
  if (r !== 'mean' && r !== 'sum' && r !== 'none') {
    throw new TensorError(op, `expected reduction 'mean', 'sum' or 'none', got '${String(r)}'`);
  }
  return r;
}

function reduce(loss: Tensor, reduction: Reduction): Tensor {
  if (reduction === 'none') return loss;
  return reduction === 'sum' ? loss.sum() : loss.mean();
}

function checkTensor(op: string, name: string, x: unknown): Tensor {
  if (!(x instanceof Tensor))
    throw new TensorError(
      op,
      `expected ${name} to be a Tensor, got ${x === null ? 'null' : typeof x}`,
    );
  return x;
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

function checkPair(op: string, input: Tensor, target: Tensor): void {
  checkTensor(op, 'input', input);
  checkTensor(op, 'target', target);
  if (!sameShape(input.shape, target.shape)) {
    throw new TensorError(
      op,
      `expected target of the input's shape ${fmtShape(input.shape)}, got ${fmtShape(target.shape)}`,
    );
  }
  if (input.dtype !== 'float32')
    throw new TensorError(op, `expected a float32 input, got ${input.dtype}`);
}

/**
 * Options every loss takes: its {@link Reduction} ('mean' by default). An unknown reduction throws.
 */
export interface ReductionOptions {
  reduction?: Reduction;
}

/** Mean squared error (x − y)². */
export function mseLoss(input: Tensor, target: Tensor, options: ReductionOptions = {}): Tensor {
  const reduction = checkReduction('mseLoss', options.reduction ?? 'mean');
  checkPair('mseLoss', input, target);
  return reduce(input.sub(target).square(), reduction);
}

/** Mean absolute error |x − y|. */
export function l1Loss(input: Tensor, target: Tensor, options: ReductionOptions = {}): Tensor {
  const reduction = checkReduction('l1Loss', options.reduction ?? 'mean');
  checkPair('l1Loss', input, target);
  return reduce(input.sub(target).abs(), reduction);
}

/**
 * Options of {@link nllLoss} (and {@link crossEntropy}): the reduction, an ignored target index
 * (default −100) and per-class weights.
 */
export interface NllLossOptions extends ReductionOptions {
  /** Targets equal to this contribute nothing and are left out of the mean. Default -100. */
  ignoreIndex?: number;
  /** A float32 [C] rescaling weight per class. */
  weight?: Tensor;
}

/**
 * Options of {@link crossEntropy}: those of {@link NllLossOptions} and label smoothing (default 0).
 */
export interface CrossEntropyOptions extends NllLossOptions {
  /** Mixes the target with the uniform distribution: (1 − ε)·target + ε/C. Default 0. */
  labelSmoothing?: number;
}

interface Prepared {
  /** Scores with the class axis at 1: [N, C, d1, …]. */
  x: Tensor;
  /** [N, d1, …] int32 indices, or x's shape for float32 probabilities. */
  target: Tensor;
  classes: number;
  /** The input was a single sample [C]: 'none' returns a scalar. */
  single: boolean;
  weight: Tensor | null;
}

/** Shapes [N, C, d1…] / [N, d1…], or [C] / []; class weights [C]; targets in range (host check). */
function prepare(op: string, input: Tensor, target: Tensor, options: NllLossOptions): Prepared {
  checkTensor(op, 'input', input);
  checkTensor(op, 'target', target);
  if (input.dtype !== 'float32')
    throw new TensorError(op, `expected float32 input scores, got ${input.dtype}`);
  if (input.rank === 0)
    throw new TensorError(op, 'expected input of shape [N, C, ...] or [C], got a scalar');
  const single = input.rank === 1;
  const x = single ? input.unsqueeze(0) : input;
  const classes = x.shape[1]!;
  const probs = target.dtype === 'float32';
  let t = target;
  if (probs) {
    if (!sameShape(target.shape, input.shape)) {
      throw new TensorError(
        op,
        `expected class probabilities of the input's shape ${fmtShape(input.shape)} (float32) or int32 class indices, got float32 ${fmtShape(target.shape)}`,
      );
    }
    if (single) t = target.unsqueeze(0);
  } else {
    const expected = single ? [] : [x.shape[0]!, ...x.shape.slice(2)];
    if (!sameShape(target.shape, expected)) {
      throw new TensorError(
        op,
        `expected int32 class indices of shape ${fmtShape(expected)} for input ${fmtShape(input.shape)}, got ${fmtShape(target.shape)}`,
      );
    }
    if (single) t = target.reshape([1]);
  }
  let weight: Tensor | null = null;
  if (options.weight !== undefined) {
    const w = checkTensor(op, 'weight', options.weight);
    if (w.dtype !== 'float32' || !sameShape(w.shape, [classes])) {
      throw new TensorError(
        op,
        `expected a float32 weight of shape [${classes}] (one per class), got ${w.dtype} ${fmtShape(w.shape)}`,
      );
    }
    weight = w;
  }
  if (!probs) {
    const ignore = options.ignoreIndex ?? -100;
    if (!Number.isInteger(ignore))
      throw new TensorError(op, `expected an integer ignoreIndex, got ${ignore}`);
    const read = t.backend.readSync;
    if (read) {
      const data = read.call(t.backend, t.buffer, t.dtype, t.size);
      for (let i = 0; i < data.length; i++) {
        const v = data[i]!;
        if ((v < 0 || v >= classes) && v !== ignore) {
          throw new TensorError(
            op,
            `target ${v} at flat position ${i} is out of range: expected class indices in [0, ${classes}) or ignoreIndex ${ignore}`,
          );
        }
      }
    }
  }
  return { x, target: t, classes, single, weight };
}

/** The class axis of a [N, C, d…] tensor reshaped for broadcasting a [C] vector against it. */
function perClass(w: Tensor, rank: number): Tensor {
  return w.reshape([1, w.shape[0]!, ...new Array<number>(rank - 2).fill(1)]);
}

function finish(loss: Tensor, single: boolean, reduction: Reduction): Tensor {
  return single && reduction === 'none' ? loss.reshape([]) : loss;
}

/**
 * Negative log-likelihood of class indices from log-probabilities [N, C, d…] (or [C]): per element
 * −w[y]·logp[y]; 'mean' divides by Σ w[y] over non-ignored targets (the count without weights), as
 * PyTorch. Every target ignored gives NaN under 'mean' (0 / 0), as PyTorch.
 */
export function nllLoss(logProbs: Tensor, target: Tensor, options: NllLossOptions = {}): Tensor {
  const reduction = checkReduction('nllLoss', options.reduction ?? 'mean');
  if (target instanceof Tensor && target.dtype !== 'int32') {
    throw new TensorError('nllLoss', `expected int32 class indices, got ${target.dtype}`);
  }
  const p = prepare('nllLoss', logProbs, target, options);
  const { loss, denominator } = nllParts(p, options.ignoreIndex ?? -100);
  if (reduction === 'none') return finish(loss, p.single, reduction);
  return reduction === 'sum' ? loss.sum() : loss.sum().div(denominator);
}

function nllParts(
  p: Prepared,
  ignoreIndex: number,
): { loss: Tensor; denominator: Tensor; valid: Tensor } {
  const valid = p.target.ne(ignoreIndex);
  const safe = where(valid, p.target, 0);
  const picked = gather(p.x, 1, safe.unsqueeze(1)).squeeze(1);
  const w = p.weight ? indexSelect(p.weight, 0, safe) : null;
  // where(), not a product with the mask: an ignored position may pick a −inf log-probability.
  const loss = where(valid, (w ? picked.mul(w) : picked).neg(), 0);
  const denominator = w ? where(valid, w, 0).sum() : valid.sum().float();
  return { loss, denominator, valid };
}

/**
 * Cross entropy between scores (logits) and targets, from logSoftmax (exact for score spreads of
 * ±1e4 and more). input [N, C], [N, C, d1, …] or [C]; target int32 class indices ([N], [N, d1, …]
 * or []) or float32 class probabilities of the input's shape. With class indices: ignoreIndex,
 * weight and 'mean' over Σ w[y] of non-ignored targets; labelSmoothing ε gives
 * (1 − ε)·nll + ε/C · Σ_c −w_c·logp_c (same normaliser), exactly as PyTorch defines it.
 */
export function crossEntropy(
  input: Tensor,
  target: Tensor,
  options: CrossEntropyOptions = {},
): Tensor {
  const op = 'crossEntropy';
  const reduction = checkReduction(op, options.reduction ?? 'mean');
  const eps = options.labelSmoothing ?? 0;
  if (!(eps >= 0 && eps <= 1))
    throw new TensorError(op, `expected labelSmoothing in [0, 1], got ${eps}`);
  const p = prepare(op, input, target, options);
  const C = p.classes;
  const ignoreIndex = options.ignoreIndex ?? -100;
  if (p.target.dtype === 'int32' && p.x.rank === 2) {
    // Scores [N, C] (classification, a language model's flattened tokens): one fused op forward and
    // backward (ops/cross-entropy.ts) for the per-sample loss, then the reduction.
    const loss = crossEntropyRows(p.x, p.target, p.weight, { ignoreIndex, smoothing: eps });
    if (reduction === 'none') return finish(loss, p.single, reduction);
    if (reduction === 'sum') return loss.sum();
    const valid = p.target.ne(ignoreIndex);
    const denominator = p.weight
      ? where(valid, indexSelect(p.weight, 0, where(valid, p.target, 0)), 0).sum()
      : valid.sum().float();
    return loss.sum().div(denominator);
  }
  const logp = logSoftmax(p.x, 1);

  if (p.target.dtype === 'float32') {
    // Class probabilities: −Σ_c w_c·t_c·logp_c, 'mean' over the N·d1… positions.
    const t = eps > 0 ? p.target.mul(1 - eps).add(eps / C) : p.target;
    let prod = logp.mul(t);
    if (p.weight) prod = prod.mul(perClass(p.weight, logp.rank));
    const loss = prod.sum(1).neg();
    if (reduction === 'none') return finish(loss, p.single, reduction);
    return reduction === 'sum' ? loss.sum() : loss.sum().div(loss.size);
  }
  if (p.target.dtype !== 'int32')
    throw new TensorError(op, `expected int32 class indices, got ${p.target.dtype}`);

  const lp: Prepared = { ...p, x: logp };
  const { loss, denominator, valid } = nllParts(lp, ignoreIndex);
  const reduceNll = (l: Tensor): Tensor =>
    reduction === 'none' ? l : reduction === 'sum' ? l.sum() : l.sum().div(denominator);
  if (eps === 0) return finish(reduceNll(loss), p.single, reduction);

  const weighted = p.weight ? logp.mul(perClass(p.weight, logp.rank)) : logp;
  const smooth = where(valid, weighted.sum(1).neg(), 0);
  const out = reduceNll(loss)
    .mul(1 - eps)
    .add(reduceNll(smooth).mul(eps / C));
  return finish(out, p.single, reduction);
}

/**
 * Options of {@link bceWithLogits}: the reduction, a weight of the positive term and a per-element
 * weight, both broadcast against the input.
 */
export interface BceWithLogitsOptions extends ReductionOptions {
  /** Weight of the positive term, broadcast against the input (one per class along the last axis). */
  posWeight?: Tensor;
  /** Per-element rescaling, broadcast against the input. */
  weight?: Tensor;
}

/**
 * Binary cross entropy on logits, stable for any x: ℓ = (1 − y)·x + (1 + (p − 1)·y)·softplus(−x)
 * (p the posWeight, 1 by default), which is max(x, 0) − x·y + log(1 + e^{−|x|}) when p = 1.
 */
export function bceWithLogits(
  input: Tensor,
  target: Tensor,
  options: BceWithLogitsOptions = {},
): Tensor {
  const op = 'bceWithLogits';
  const reduction = checkReduction(op, options.reduction ?? 'mean');
  checkPair(op, input, target);
  const y = target.float();
  const softNeg = input.neg().softplus();
  let loss: Tensor;
  if (options.posWeight !== undefined) {
    const pw = checkTensor(op, 'posWeight', options.posWeight);
    const logWeight = pw.sub(1).mul(y).add(1);
    if (!sameShape(logWeight.shape, input.shape)) {
      throw new TensorError(
        op,
        `posWeight ${fmtShape(pw.shape)} must broadcast to the input's shape ${fmtShape(input.shape)}`,
      );
    }
    loss = y.neg().add(1).mul(input).add(logWeight.mul(softNeg));
  } else {
    loss = y.neg().add(1).mul(input).add(softNeg);
  }
  if (options.weight !== undefined) {
    const w = checkTensor(op, 'weight', options.weight);
    loss = loss.mul(w);
    if (!sameShape(loss.shape, input.shape)) {
      throw new TensorError(
        op,
        `weight ${fmtShape(w.shape)} must broadcast to the input's shape ${fmtShape(input.shape)}`,
      );
    }
  }
  return reduce(loss, reduction);
}
