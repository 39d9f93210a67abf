import { gather, nn, type Tensor, tensor } from '@recur/tensor';
import { Backbone, type BackboneConfig } from './backbone.js';

/**
 * The layers {@link ForecastNet} and {@link ClassifyNet} share: a linear projection of the `inputs`
 * features to d, the sequence model, and a linear head from d to `outputs` values. Each subclass
 * wires them in its own `forward`.
 */
abstract class ProjectedBackboneNet extends nn.Module {
  inProj: nn.Linear;
  backbone: Backbone;
  head: nn.Linear;

  constructor(cfg: BackboneConfig, inputs: number, outputs: number) {
    super();
    this.inProj = new nn.Linear(inputs, cfg.dModel);
    this.backbone = new Backbone(cfg);
    this.head = new nn.Linear(cfg.dModel, outputs);
  }
}

/**
 * Forecasting: a window x [B, L, C] → the next H steps [B, H, C]. Inputs are projected to d, the
 * sequence model reads the window, and its last output (the state after the whole window) is mapped
 * to all H·C values. With instance normalisation each window is standardised by its own mean and
 * std per channel, and the forecast mapped back (RevIN without the affine part).
 */
export class ForecastNet extends ProjectedBackboneNet {
  readonly horizon: number;
  readonly channels: number;
  readonly instanceNorm: boolean;

  constructor(cfg: BackboneConfig, channels: number, horizon: number, instanceNorm: boolean) {
    super(cfg, channels, horizon * channels);
    this.horizon = horizon;
    this.channels = channels;
    this.instanceNorm = instanceNorm;
  }

  override forward(x: Tensor): Tensor {
    const [b, l] = x.shape as [number, number, number];
    let input = x;
    let mu: Tensor | null = null;
    let sd: Tensor | null = null;
    if (this.instanceNorm) {
      mu = x.mean(1, true);
      sd = x.var(1, true, 0).add(1e-5).sqrt();
      input = x.sub(mu).div(sd);
    }
    const h = this.backbone.forward(this.inProj.forward(input));
    const last = h.slice(1, l - 1, l).squeeze(1);
    let y = this.head.forward(last).reshape([b, this.horizon, this.channels]);
    if (mu && sd) y = y.mul(sd).add(mu);
    return y;
  }
}

/**
 * How {@link ClassifyNet} turns a sequence into one vector: the mean over its real (unmasked)
 * steps, or its last real step.
 */
export type Pooling = 'mean' | 'last';

/**
 * Sequence classification: x [B, T, D] padded at the end, mask [B, T] (1 for real steps) → class
 * scores [B, K]. The model is causal, so the outputs at real steps never see the padding; they are
 * pooled by a masked mean or taken at each sequence's last real step.
 */
export class ClassifyNet extends ProjectedBackboneNet {
  readonly pool: Pooling;

  constructor(cfg: BackboneConfig, dims: number, classes: number, pool: Pooling) {
    super(cfg, dims, classes);
    this.pool = pool;
  }

  override forward(x: Tensor, mask: Tensor, lengths: number[]): Tensor {
    const h = this.backbone.forward(this.inProj.forward(x)); // [B, T, d]
    const [b, , d] = h.shape as [number, number, number];
    let pooled: Tensor;
    if (this.pool === 'mean') {
      pooled = h.mul(mask.unsqueeze(-1)).sum(1).div(mask.sum(1, true));
    } else {
      const idx = new Int32Array(b * d);
      for (let i = 0; i < b; i++) idx.fill(lengths[i]! - 1, i * d, (i + 1) * d);
      pooled = gather(h, 1, tensor(idx, { shape: [b, 1, d], dtype: 'int32' })).squeeze(1);
    }
    return this.head.forward(pooled);
  }
}

/**
 * Temporal point process: each event is its mark (an embedding, with one extra "start" mark) plus
 * its standardised log inter-event time; the sequence model's output after event i parameterises
 * the next event: a categorical over marks and a mixture of M log-normals over the time to it.
 */
export class EventsNet extends nn.Module {
  readonly marks: number;
  readonly mixtures: number;
  markEmb: nn.Embedding;
  timeProj: nn.Linear;
  backbone: Backbone;
  markHead: nn.Linear;
  timeHead: nn.Linear;

  constructor(cfg: BackboneConfig, marks: number, mixtures: number) {
    super();
    this.marks = marks;
    this.mixtures = mixtures;
    this.markEmb = new nn.Embedding(marks + 1, cfg.dModel);
    this.timeProj = new nn.Linear(1, cfg.dModel);
    this.backbone = new Backbone(cfg);
    this.markHead = new nn.Linear(cfg.dModel, marks);
    this.timeHead = new nn.Linear(cfg.dModel, 3 * mixtures);
  }

  /** marks int32 [B, T], times float32 [B, T, 1] → mark scores [B, T, K], mixture params [B, T, 3M]. */
  override forward(marks: Tensor, times: Tensor): { markLogits: Tensor; mixture: Tensor } {
    const x = this.markEmb.forward(marks).mul(0.1).add(this.timeProj.forward(times));
    const h = this.backbone.forward(x);
    return { markLogits: this.markHead.forward(h), mixture: this.timeHead.forward(h) };
  }
}

/** Character-level language model: ids [B, T] → next-character scores [B, T, V]. */
export class LanguageNet extends nn.Module {
  emb: nn.Embedding;
  backbone: Backbone;
  head: nn.Linear;

  /** `vocab` input tokens; `outputs` scores per position (default: one per input token). */
  constructor(cfg: BackboneConfig, vocab: number, outputs = vocab) {
    super();
    this.emb = new nn.Embedding(vocab, cfg.dModel);
    this.backbone = new Backbone(cfg);
    this.head = new nn.Linear(cfg.dModel, outputs);
  }

  override forward(ids: Tensor): Tensor {
    return this.head.forward(this.backbone.forward(this.emb.forward(ids)));
  }
}
