import { noGrad } from '../engine.js';
import { fmtShape, TensorError } from '../errors.js';
import { ones, tensor, zeros } from '../ops/creation.js';
import { where } from '../ops/elementwise.js';
import { indexSelect } from '../ops/indexing.js';
import { matmulT } from '../ops/matmul.js';
import { layerNorm } from '../ops/norm.js';
import { dropout } from '../ops/softmax.js';
import { type Generator, randn } from '../random.js';
import { Tensor } from '../tensor.js';
import { kaimingUniform_, uniform_ } from './init.js';
import { Module, parameter } from './module.js';

function checkSize(op: string, name: string, n: unknown, min = 0): number {
  if (typeof n !== 'number' || !Number.isInteger(n) || n < min) {
    throw new TensorError(op, `expected ${name} to be an integer >= ${min}, got ${String(n)}`);
  }
  return n;
}

function checkTensor(op: string, x: unknown): Tensor {
  if (!(x instanceof Tensor))
    throw new TensorError(op, `expected a Tensor input, got ${x === null ? 'null' : typeof x}`);
  return x;
}

/**
 * Options of a {@link Linear} layer: whether it has a bias (default true) and the generator of its
 * initial weights.
 */
export interface LinearOptions {
  /** Learn an additive bias. Default true. */
  bias?: boolean;
  /** Draw the initial weights from this generator instead of the default one. */
  generator?: Generator;
}

/**
 * y = x Wᵀ + b over the last axis of x ([..., inFeatures] → [..., outFeatures]). The weight is
 * [outFeatures, inFeatures] as in PyTorch, and both weight and bias start at U(−1/√in, 1/√in)
 * (PyTorch's kaiming-uniform with a = √5).
 */
export class Linear extends Module {
  readonly inFeatures: number;
  readonly outFeatures: number;
  weight: Tensor;
  bias: Tensor | null;

  constructor(inFeatures: number, outFeatures: number, options: LinearOptions = {}) {
    super();
    this.inFeatures = checkSize('Linear', 'inFeatures', inFeatures);
    this.outFeatures = checkSize('Linear', 'outFeatures', outFeatures);
    const generator = options.generator;
    this.weight = parameter(zeros([outFeatures, inFeatures]));
    kaimingUniform_(this.weight, { a: Math.sqrt(5), generator });
    this.bias = null;
    if (options.bias ?? true) {
      this.bias = parameter(zeros([outFeatures]));
      const bound = inFeatures > 0 ? 1 / Math.sqrt(inFeatures) : 0;
      uniform_(this.bias, { low: -bound, high: bound, generator });
    }
  }

  override forward(x: Tensor): Tensor {
    checkTensor('Linear', x);
    if (x.rank === 0 || x.shape[x.rank - 1] !== this.inFeatures) {
      throw new TensorError(
        'Linear',
        `expected input of shape [..., ${this.inFeatures}] (inFeatures), got ${fmtShape(x.shape)}`,
      );
    }
    if (x.dtype !== 'float32')
      throw new TensorError('Linear', `expected a float32 input, got ${x.dtype}`);
    const x2 = x.rank === 1 ? x.unsqueeze(0) : x;
    let y = matmulT(x2, this.weight, false, true);
    if (this.bias) y = y.add(this.bias);
    return x.rank === 1 ? y.squeeze(0) : y;
  }

  override extraRepr(): string {
    return `inFeatures=${this.inFeatures}, outFeatures=${this.outFeatures}, bias=${this.bias !== null}`;
  }
}

/**
 * Options of a {@link LayerNorm}: eps (default 1e-5) and which affine parameters it learns (weight
 * and bias by default).
 */
export interface LayerNormOptions {
  /** Added to the variance before the square root. Default 1e-5. */
  eps?: number;
  /** Learn a per-element scale (and bias). Default true. */
  elementwiseAffine?: boolean;
  /** Learn the additive bias (when elementwiseAffine). Default true. */
  bias?: boolean;
}

/**
 * Normalises over the trailing `normalizedShape` axes: (x − mean) / √(var + eps) · weight + bias, with
 * the population variance (divisor n), as PyTorch.
 */
export class LayerNorm extends Module {
  readonly normalizedShape: readonly number[];
  readonly eps: number;
  weight: Tensor | null;
  bias: Tensor | null;

  constructor(normalizedShape: number | readonly number[], options: LayerNormOptions = {}) {
    super();
    const shape = typeof normalizedShape === 'number' ? [normalizedShape] : [...normalizedShape];
    if (shape.length === 0)
      throw new TensorError('LayerNorm', 'expected a non-empty normalizedShape, got []');
    for (const d of shape) checkSize('LayerNorm', 'normalizedShape entries', d, 1);
    this.normalizedShape = Object.freeze(shape);
    this.eps = options.eps ?? 1e-5;
    if (!(this.eps >= 0)) throw new TensorError('LayerNorm', `expected eps >= 0, got ${this.eps}`);
    const affine = options.elementwiseAffine ?? true;
    this.weight = affine ? parameter(ones(shape)) : null;
    this.bias = affine && (options.bias ?? true) ? parameter(zeros(shape)) : null;
  }

  override forward(x: Tensor): Tensor {
    checkTensor('LayerNorm', x);
    const k = this.normalizedShape.length;
    const tail = x.shape.slice(x.rank - k);
    if (x.rank < k || tail.some((d, i) => d !== this.normalizedShape[i])) {
      throw new TensorError(
        'LayerNorm',
        `expected input of shape [..., ${this.normalizedShape.join(', ')}] (normalizedShape), got ${fmtShape(x.shape)}`,
      );
    }
    if (x.dtype !== 'float32')
      throw new TensorError('LayerNorm', `expected a float32 input, got ${x.dtype}`);
    // One fused op, exact for any finite input (ops/norm.ts).
    const y = layerNorm(x, this.normalizedShape, this.weight, this.bias, this.eps);
    return y;
  }

  override extraRepr(): string {
    return `[${this.normalizedShape.join(', ')}], eps=${this.eps}, elementwiseAffine=${this.weight !== null}`;
  }
}

/**
 * Options of an {@link Embedding}: an optional padding row and the generator of its initial N(0, 1)
 * table.
 */
export interface EmbeddingOptions {
  /** Row that starts at zero and receives no gradient (negative counts from the end). */
  paddingIdx?: number;
  /** Draw the initial table from this generator instead of the default one. */
  generator?: Generator;
}

/**
 * A lookup table [numEmbeddings, embeddingDim] initialised N(0, 1): int32 ids of any shape give
 * ids.shape + [embeddingDim].
 */
export class Embedding extends Module {
  readonly numEmbeddings: number;
  readonly embeddingDim: number;
  readonly paddingIdx: number | null;
  weight: Tensor;

  constructor(numEmbeddings: number, embeddingDim: number, options: EmbeddingOptions = {}) {
    super();
    this.numEmbeddings = checkSize('Embedding', 'numEmbeddings', numEmbeddings);
    this.embeddingDim = checkSize('Embedding', 'embeddingDim', embeddingDim);
    let pad = options.paddingIdx ?? null;
    if (pad !== null) {
      if (!Number.isInteger(pad) || pad >= numEmbeddings || pad < -numEmbeddings) {
        throw new TensorError(
          'Embedding',
          `expected paddingIdx in [${-numEmbeddings}, ${numEmbeddings}), got ${pad}`,
        );
      }
      if (pad < 0) pad += numEmbeddings;
    }
    this.paddingIdx = pad;
    this.weight = parameter(
      noGrad(() => {
        const w = randn([numEmbeddings, embeddingDim], { generator: options.generator });
        if (pad === null) return w;
        const keepRow = new Int32Array(numEmbeddings).fill(1);
        keepRow[pad] = 0;
        return where(tensor(keepRow, { shape: [numEmbeddings, 1] }), w, 0);
      }),
    );
  }

  override forward(ids: Tensor): Tensor {
    checkTensor('Embedding', ids);
    if (ids.dtype !== 'int32')
      throw new TensorError('Embedding', `expected int32 ids, got ${ids.dtype}`);
    const read = ids.backend.readSync;
    if (read) {
      const data = read.call(ids.backend, ids.buffer, ids.dtype, ids.size);
      for (let i = 0; i < data.length; i++) {
        const v = data[i]!;
        if (v < 0 || v >= this.numEmbeddings) {
          throw new TensorError(
            'Embedding',
            `id ${v} at flat position ${i} of ids ${fmtShape(ids.shape)} is out of range: expected ids in [0, ${this.numEmbeddings}) (numEmbeddings)`,
          );
        }
      }
    }
    const out = indexSelect(this.weight, 0, ids);
    if (this.paddingIdx === null) return out;
    // Same values everywhere; the gradient reaches only the rows of non-padding ids.
    return where(ids.ne(this.paddingIdx).unsqueeze(-1), out, out.detach());
  }

  override extraRepr(): string {
    const pad = this.paddingIdx === null ? '' : `, paddingIdx=${this.paddingIdx}`;
    return `${this.numEmbeddings}, ${this.embeddingDim}${pad}`;
  }
}

/** Inverted dropout while training (zeros with probability p, scales the rest by 1/(1−p)); identity in eval(). */
export class Dropout extends Module {
  readonly p: number;
  readonly generator: Generator | undefined;

  constructor(p = 0.5, options: { generator?: Generator } = {}) {
    super();
    if (!(p >= 0 && p <= 1))
      throw new TensorError('Dropout', `expected a probability p in [0, 1], got ${p}`);
    this.p = p;
    this.generator = options.generator;
  }

  override forward(x: Tensor): Tensor {
    checkTensor('Dropout', x);
    return dropout(x, this.p, { training: this.training, generator: this.generator });
  }

  override extraRepr(): string {
    return `p=${this.p}`;
  }
}

/** Returns its input. */
export class Identity extends Module {
  override forward(x: Tensor): Tensor {
    return x;
  }
}

export class ReLU extends Module {
  override forward(x: Tensor): Tensor {
    return checkTensor('ReLU', x).relu();
  }
}

/** x·Φ(x) exactly, or with approximate: 'tanh' the tanh form 0.5·x·(1 + tanh(√(2/π)(x + 0.044715x³))). */
export class GELU extends Module {
  readonly approximate: 'none' | 'tanh';
  constructor(options: { approximate?: 'none' | 'tanh' } = {}) {
    super();
    const a = options.approximate ?? 'none';
    if (a !== 'none' && a !== 'tanh')
      throw new TensorError('GELU', `expected approximate 'none' or 'tanh', got '${String(a)}'`);
    this.approximate = a;
  }
  override forward(x: Tensor): Tensor {
    checkTensor('GELU', x);
    if (this.approximate === 'none') return x.gelu();
    const inner = x.add(x.pow(3).mul(0.044715)).mul(Math.sqrt(2 / Math.PI));
    return x.mul(inner.tanh().add(1)).mul(0.5);
  }
  override extraRepr(): string {
    return this.approximate === 'none' ? '' : `approximate='${this.approximate}'`;
  }
}

/** x·σ(x) (swish). */
export class SiLU extends Module {
  override forward(x: Tensor): Tensor {
    return checkTensor('SiLU', x).silu();
  }
}

export class Tanh extends Module {
  override forward(x: Tensor): Tensor {
    return checkTensor('Tanh', x).tanh();
  }
}

export class Sigmoid extends Module {
  override forward(x: Tensor): Tensor {
    return checkTensor('Sigmoid', x).sigmoid();
  }
}

/** log(1 + e^{βx}) / β, and x itself where βx > threshold (as PyTorch). */
export class Softplus extends Module {
  readonly beta: number;
  readonly threshold: number;
  constructor(options: { beta?: number; threshold?: number } = {}) {
    super();
    this.beta = options.beta ?? 1;
    this.threshold = options.threshold ?? 20;
    if (!(this.beta > 0)) throw new TensorError('Softplus', `expected beta > 0, got ${this.beta}`);
  }
  override forward(x: Tensor): Tensor {
    checkTensor('Softplus', x);
    const bx = this.beta === 1 ? x : x.mul(this.beta);
    const soft = this.beta === 1 ? bx.softplus() : bx.softplus().div(this.beta);
    return where(bx.gt(this.threshold), x, soft);
  }
  override extraRepr(): string {
    return `beta=${this.beta}, threshold=${this.threshold}`;
  }
}
