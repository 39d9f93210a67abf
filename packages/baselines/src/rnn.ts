import {
  nn,
  SequenceModule,
  type StreamState,
  stack,
  type Tensor,
  TensorError,
  zeros,
} from '@recur/tensor';

/** Options of LSTM and GRU: input and hidden sizes, stacked layers, biases and dropout. */
export interface RNNOptions {
  /** Features per input token. */
  inputSize: number;
  /** Features of the hidden state (and of the outputs). */
  hiddenSize: number;
  /** Stacked layers; layer l > 0 reads layer l − 1's outputs. Default 1. */
  numLayers?: number;
  /** bias_ih_l* and bias_hh_l*. Default true. */
  bias?: boolean;
  /** Dropout on the outputs of every layer but the last (training only), as PyTorch. Default 0. */
  dropout?: number;
}

/** The weights of one layer, PyTorch's layout: [gates · hidden, in], [gates · hidden, hidden], …. */
export interface RNNLayerWeights {
  weightIH: Tensor;
  weightHH: Tensor;
  biasIH: Tensor | null;
  biasHH: Tensor | null;
}

/**
 * Shared machinery of LSTM and GRU, written to load PyTorch's weights as they are: parameters named
 * weight_ih_l{k}, weight_hh_l{k}, bias_ih_l{k}, bias_hh_l{k} (k = layer) in PyTorch's order, gates
 * stacked along the first axis in PyTorch's order, all initialised U(−1/√hidden, 1/√hidden).
 * Inputs are batch-first, x [B, T, inputSize] → outputs [B, T, hiddenSize] (the last layer's hidden
 * states); the state holds each layer's final hidden state, as PyTorch's h_n: [numLayers, B, hidden].
 */
abstract class RNNBase extends SequenceModule {
  readonly inputSize: number;
  readonly hiddenSize: number;
  readonly numLayers: number;
  readonly bias: boolean;
  readonly gates: number;
  readonly #name: string;
  /** Between layers (a child, so train() and eval() reach it). */
  drop: nn.Dropout;

  constructor(name: string, gates: number, options: RNNOptions) {
    super();
    const { inputSize, hiddenSize, numLayers = 1, bias = true, dropout = 0 } = options;
    this.#name = name;
    this.inputSize = nn.checkPositive(name, 'inputSize', inputSize);
    this.hiddenSize = nn.checkPositive(name, 'hiddenSize', hiddenSize);
    this.numLayers = nn.checkPositive(name, 'numLayers', numLayers);
    this.bias = bias;
    this.gates = gates;
    this.drop = new nn.Dropout(dropout);
    const bound = 1 / Math.sqrt(hiddenSize);
    const self = this as unknown as Record<string, Tensor>;
    const param = (shape: number[]) => {
      const p = nn.parameter(zeros(shape));
      nn.init.uniform_(p, { low: -bound, high: bound });
      return p;
    };
    for (let l = 0; l < numLayers; l++) {
      const inFeatures = l === 0 ? inputSize : hiddenSize;
      self[`weight_ih_l${l}`] = param([gates * hiddenSize, inFeatures]);
      self[`weight_hh_l${l}`] = param([gates * hiddenSize, hiddenSize]);
      if (bias) {
        self[`bias_ih_l${l}`] = param([gates * hiddenSize]);
        self[`bias_hh_l${l}`] = param([gates * hiddenSize]);
      }
    }
  }

  /** Layer `l`'s parameters (the tensors the module trains and loads into). */
  layerWeights(l: number): RNNLayerWeights {
    if (!Number.isInteger(l) || l < 0 || l >= this.numLayers) {
      throw new TensorError(
        `${this.#name}.layerWeights`,
        `expected a layer index in [0, ${this.numLayers}), got ${l}`,
      );
    }
    const self = this as unknown as Record<string, Tensor | undefined>;
    return {
      weightIH: self[`weight_ih_l${l}`]!,
      weightHH: self[`weight_hh_l${l}`]!,
      biasIH: self[`bias_ih_l${l}`] ?? null,
      biasHH: self[`bias_hh_l${l}`] ?? null,
    };
  }

  /** The names of the state entries: 'h' (and 'c' for the LSTM), each [numLayers, B, hidden]. */
  abstract get stateKeys(): readonly string[];

  /**
   * One layer over a block: xGates [B, T, gates·H] (x W_ihᵀ + b_ih for every token, computed at once)
   * and the layer's incoming state → the hidden states [B, T, H] and the outgoing state.
   */
  protected abstract layer(
    xGates: Tensor,
    w: RNNLayerWeights,
    carry: Tensor[],
  ): { out: Tensor; carry: Tensor[] };

  run(x: Tensor, state?: StreamState): { y: Tensor; state: StreamState } {
    nn.checkTokens(this.#name, x, this.inputSize);
    const b = x.shape[0]!;
    const s = state ?? this.initState(b);
    const carried = this.stateKeys.map((key) => {
      const t = s[key];
      if (!t) {
        throw new TensorError(
          this.#name,
          `state has no '${key}' (keys: ${Object.keys(s).join(', ') || 'none'})`,
        );
      }
      nn.checkShape(this.#name, `state '${key}'`, t, [this.numLayers, b, this.hiddenSize]);
      return t;
    });
    let h = x;
    const finals: Tensor[][] = this.stateKeys.map(() => []);
    for (let l = 0; l < this.numLayers; l++) {
      const w = this.layerWeights(l);
      let xGates = h.matmul(w.weightIH.transpose());
      if (w.biasIH) xGates = xGates.add(w.biasIH);
      const { out, carry } = this.layer(
        xGates,
        w,
        carried.map((t) => t.slice(0, l, l + 1).squeeze(0)),
      );
      carry.forEach((c, i) => {
        finals[i]?.push(c);
      });
      h = l < this.numLayers - 1 ? this.drop.forward(out) : out;
    }
    const next: StreamState = {};
    this.stateKeys.forEach((key, i) => {
      next[key] = stack(finals[i]!, 0);
    });
    return { y: h, state: next };
  }

  /** Zero hidden (and cell) states, [numLayers, batch, hiddenSize] each, as PyTorch's default h_0. */
  initState(batch: number): StreamState {
    nn.checkPositive(`${this.#name}.initState`, 'batch', batch);
    const out: StreamState = {};
    for (const key of this.stateKeys) out[key] = zeros([this.numLayers, batch, this.hiddenSize]);
    return out;
  }

  override extraRepr(): string {
    return `${this.inputSize}, ${this.hiddenSize}, numLayers=${this.numLayers}, bias=${this.bias}`;
  }
}

/** The recurrent term h W_hhᵀ + b_hh. */
function hidden(h: Tensor, w: RNNLayerWeights): Tensor {
  const g = h.matmul(w.weightHH.transpose());
  return w.biasHH ? g.add(w.biasHH) : g;
}

/**
 * LSTM with PyTorch's equations, gate order (i, f, g, o) and parameter names, batch-first:
 *
 *     i = σ(W_ii x + b_ii + W_hi h + b_hi)    f = σ(W_if x + b_if + W_hf h + b_hf)
 *     g = tanh(W_ig x + b_ig + W_hg h + b_hg) o = σ(W_io x + b_io + W_ho h + b_ho)
 *     c' = f ⊙ c + i ⊙ g                      h' = o ⊙ tanh(c')
 *
 * State: 'h' and 'c', each [numLayers, B, hidden] (PyTorch's h_n, c_n). A model saved from
 * torch.nn.LSTM(batch_first=True) as safetensors loads with loadStateDict unchanged.
 */
export class LSTM extends RNNBase {
  constructor(options: RNNOptions) {
    super('LSTM', 4, options);
  }

  get stateKeys(): readonly string[] {
    return ['h', 'c'];
  }

  protected layer(
    xGates: Tensor,
    w: RNNLayerWeights,
    carry: Tensor[],
  ): { out: Tensor; carry: Tensor[] } {
    let [h, c] = carry as [Tensor, Tensor];
    const n = this.hiddenSize;
    const outs: Tensor[] = [];
    for (let t = 0; t < xGates.shape[1]!; t++) {
      const gates = xGates
        .slice(1, t, t + 1)
        .squeeze(1)
        .add(hidden(h, w));
      const [i, f, g, o] = gates.split(n, -1) as [Tensor, Tensor, Tensor, Tensor];
      c = f.sigmoid().mul(c).add(i.sigmoid().mul(g.tanh()));
      h = o.sigmoid().mul(c.tanh());
      outs.push(h);
    }
    return { out: stack(outs, 1), carry: [h, c] };
  }
}

/**
 * GRU with PyTorch's equations, gate order (r, z, n) and parameter names, batch-first:
 *
 *     r = σ(W_ir x + b_ir + W_hr h + b_hr)    z = σ(W_iz x + b_iz + W_hz h + b_hz)
 *     n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))
 *     h' = (1 − z) ⊙ n + z ⊙ h
 *
 * State: 'h' [numLayers, B, hidden] (PyTorch's h_n). A model saved from torch.nn.GRU(batch_first=True)
 * as safetensors loads with loadStateDict unchanged.
 */
export class GRU extends RNNBase {
  constructor(options: RNNOptions) {
    super('GRU', 3, options);
  }

  get stateKeys(): readonly string[] {
    return ['h'];
  }

  protected layer(
    xGates: Tensor,
    w: RNNLayerWeights,
    carry: Tensor[],
  ): { out: Tensor; carry: Tensor[] } {
    let h = carry[0]!;
    const n = this.hiddenSize;
    const outs: Tensor[] = [];
    for (let t = 0; t < xGates.shape[1]!; t++) {
      const [xr, xz, xn] = xGates
        .slice(1, t, t + 1)
        .squeeze(1)
        .split(n, -1) as [Tensor, Tensor, Tensor];
      const [hr, hz, hn] = hidden(h, w).split(n, -1) as [Tensor, Tensor, Tensor];
      const r = xr.add(hr).sigmoid();
      const z = xz.add(hz).sigmoid();
      const cand = xn.add(r.mul(hn)).tanh();
      h = cand.add(z.mul(h.sub(cand))); // (1 − z) ⊙ n + z ⊙ h
      outs.push(h);
    }
    return { out: stack(outs, 1), carry: [h] };
  }
}
