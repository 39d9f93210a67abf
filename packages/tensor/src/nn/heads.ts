import { TensorError } from '../errors.js';
import { dim } from '../shape.js';
import { SequenceModule } from '../streaming.js';
import type { Tensor } from '../tensor.js';
import { Linear } from './layers.js';
import { checkPositive, checkTokens } from './sequence.js';

/**
 * Options every multi-head attention layer shares: the width, the number of heads (dividing it),
 * causality and projection biases.
 */
export interface HeadedAttentionOptions {
  dModel: number;
  nHeads: number;
  /** Token t attends to tokens 1..t only. Default true. Only causal attention streams. */
  causal?: boolean;
  /** Biases on the four projections. Default true. */
  bias?: boolean;
}

/**
 * What every multi-head attention layer shares (softmax, linear and Aaren attention): the four
 * projections W_q, W_k, W_v, W_o (PyTorch layout: [out, in]), the split into heads and back, and the
 * rule that only causal attention streams. Subclasses implement `run` and `initState`.
 */
export abstract class HeadedAttention extends SequenceModule {
  readonly dModel: number;
  readonly nHeads: number;
  readonly dHead: number;
  readonly causal: boolean;
  wq: Linear;
  wk: Linear;
  wv: Linear;
  wo: Linear;

  constructor(op: string, { dModel, nHeads, causal = true, bias = true }: HeadedAttentionOptions) {
    super();
    this.dModel = checkPositive(op, 'dModel', dModel);
    this.nHeads = checkPositive(op, 'nHeads', nHeads);
    if (dModel % nHeads !== 0) {
      throw new TensorError(op, `dModel (${dModel}) must be divisible by nHeads (${nHeads})`);
    }
    this.dHead = dModel / nHeads;
    this.causal = causal;
    this.wq = new Linear(dModel, dModel, { bias });
    this.wk = new Linear(dModel, dModel, { bias });
    this.wv = new Linear(dModel, dModel, { bias });
    this.wo = new Linear(dModel, dModel, { bias });
  }

  /** The names of this layer's state entries. */
  abstract get stateKeys(): readonly string[];

  /** [B, T, dModel] → [B, H, T, d_head]. */
  protected splitHeads(z: Tensor): Tensor {
    const [b, t] = [dim('splitHeads', z.shape, 0), dim('splitHeads', z.shape, 1)];
    return z.reshape([b, t, this.nHeads, this.dHead]).permute([0, 2, 1, 3]);
  }

  /** [B, H, T, d_head] → W_o applied to [B, T, dModel]. */
  protected mergeHeads(z: Tensor): Tensor {
    const [b, t] = [dim('mergeHeads', z.shape, 0), dim('mergeHeads', z.shape, 2)];
    return this.wo.forward(z.permute([0, 2, 1, 3]).reshape([b, t, this.dModel]));
  }

  /** Checks x [B, T, dModel] and that a state is only passed to causal attention. */
  protected checkRun(op: string, x: Tensor, streaming: boolean, what: string): void {
    checkTokens(op, x, this.dModel);
    if (streaming && !this.causal) {
      throw new TensorError(
        op,
        `non-causal attention has no streaming form (every output depends on every token); construct it with causal: true to ${what}`,
      );
    }
  }
}
