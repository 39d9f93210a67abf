/**
 * The live demos' computations, free of the page: the same functions run in the docs' Web Worker
 * (on WebGPU or the CPU) and in Node (the end-to-end test's reference). Every size has a tiny
 * 'test' variant for the test. Numbers are read back with `await data()`, which works on every
 * backend (WebGPU has no synchronous read in a browser).
 */
import { Aaren, AarenAttention } from '@recur/aaren';
import { AftConv1d, AftLocal, AftSimple } from '@recur/aft';
import { Transformer, usedStateBytes } from '@recur/baselines';
import {
  Generator,
  manualSeed,
  nn,
  noGrad,
  optim,
  randn,
  Stream,
  type Tensor,
  tensor,
  tidy,
} from '@recur/tensor';

export type DemoSize = 'test' | 'full';

/** What a demo reports while it runs. */
export interface Progress {
  phase: string;
  done: number;
  total: number;
  /** A number worth drawing at once (a loss, a stream point). */
  point?: Record<string, number | string>;
}

export interface DemoContext {
  size: DemoSize;
  onProgress: (p: Progress) => void;
}

/** Yields to the event loop so that messages (and a stop) get through between steps. */
const pause = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

async function scalar(t: Tensor): Promise<number> {
  const v = (await t.data())[0] as number;
  t.dispose();
  return v;
}

/** Adam steps on `loss()`; returns the loss of each step. */
async function train(
  name: string,
  net: nn.Module,
  steps: number,
  lr: number,
  loss: (step: number) => Tensor,
  ctx: DemoContext,
): Promise<number[]> {
  const opt = new optim.Adam(net.parameters(), { lr });
  const losses: number[] = [];
  net.train();
  for (let s = 0; s < steps; s++) {
    const l = tidy(() => {
      opt.zeroGrad();
      const l = loss(s);
      l.backward();
      opt.step();
      return l.detach();
    });
    opt.zeroGrad();
    const v = await scalar(l);
    if (!Number.isFinite(v)) throw new Error(`${name}: the loss became ${v} at step ${s + 1}`);
    losses.push(v);
    ctx.onProgress({
      phase: `train ${name}`,
      done: s + 1,
      total: steps,
      point: { model: name, step: s + 1, loss: v },
    });
    await pause();
  }
  net.eval();
  return losses;
}

// ---------------------------------------------------------------- attention as an RNN (Fig. 5)

/** Token values of the recall task; a marked token is value + VALUES; class VALUES is "none yet". */
const VALUES = 8;

const RECALL_SIZES = {
  test: { steps: 2, batch: 4, length: 8, heldOut: 8, tokens: 8 },
  full: { steps: 120, batch: 32, length: 24, heldOut: 256, tokens: 512 },
} as const;

/** Streams of random tokens with one marked; the target at each step is the marked token so far. */
export function recallBatch(rng: Generator, batch: number, length: number) {
  const ids = new Int32Array(batch * length);
  const targets = new Int32Array(batch * length);
  for (let b = 0; b < batch; b++) {
    const p = rng.nextInt(0, length - 2);
    let marked = VALUES;
    for (let t = 0; t < length; t++) {
      const v = rng.nextInt(0, VALUES);
      ids[b * length + t] = t === p ? v + VALUES : v;
      if (t === p) marked = v;
      targets[b * length + t] = marked;
    }
  }
  return { ids, targets };
}

/** Embedding → Aaren or Transformer (1 layer, d = 32, 4 heads) → scores over VALUES + 1 classes. */
class RecallNet extends nn.Module {
  emb = new nn.Embedding(2 * VALUES, 32);
  core: Aaren | Transformer;
  head = new nn.Linear(32, VALUES + 1);
  constructor(kind: 'aaren' | 'transformer') {
    super();
    const options = { nLayers: 1, dModel: 32, nHeads: 4, dFF: 64 };
    this.core = kind === 'aaren' ? new Aaren(options) : new Transformer(options);
  }
  override forward(ids: Tensor): Tensor {
    return this.head.forward(this.core.forward(this.emb.forward(ids)));
  }
}

export interface RecallModelResult {
  model: 'aaren' | 'transformer';
  parameters: number;
  losses: number[];
  /** Accuracy over every step of the held-out sequences. */
  accuracy: number;
  /** Per streamed token: milliseconds for the step (output read back) and bytes of state. */
  stream: { tokens: number; stepMs: number; stateBytes: number }[];
  /** The scores for the last streamed token, to compare across backends. */
  lastScores: number[];
}

export interface RecallResult {
  size: DemoSize;
  models: RecallModelResult[];
}

export async function runRecall(ctx: DemoContext): Promise<RecallResult> {
  const size = RECALL_SIZES[ctx.size];
  const models: RecallModelResult[] = [];
  for (const kind of ['aaren', 'transformer'] as const) {
    manualSeed(7);
    const net = new RecallNet(kind);
    const rng = new Generator(11);
    const { batch, length } = size;
    const losses = await train(
      kind,
      net,
      size.steps,
      5e-3,
      () => {
        const { ids, targets } = recallBatch(rng, batch, length);
        const scores = net.forward(tensor(ids, { shape: [batch, length], dtype: 'int32' }));
        return nn.crossEntropy(
          scores.reshape([batch * length, VALUES + 1]),
          tensor(targets, { dtype: 'int32' }),
        );
      },
      ctx,
    );
    const test = recallBatch(new Generator(99), size.heldOut, length);
    const pred = noGrad(() =>
      net.forward(tensor(test.ids, { shape: [size.heldOut, length], dtype: 'int32' })).argmax(-1),
    );
    const predicted = await pred.data();
    pred.dispose();
    let right = 0;
    for (let i = 0; i < predicted.length; i++) if (predicted[i] === test.targets[i]) right++;
    // Stream one long sequence token by token: a mark at step 3, then random tokens.
    const streamRng = new Generator(5);
    const stream = new Stream(net.core, 1);
    const points: RecallModelResult['stream'] = [];
    let lastScores: number[] = [];
    for (let t = 0; t < size.tokens; t++) {
      const id = t === 3 ? VALUES + 5 : streamRng.nextInt(0, VALUES);
      const start = performance.now();
      const y = noGrad(() =>
        tidy(() =>
          net.head.forward(stream.step(net.emb.forward(tensor([id], { dtype: 'int32' })))),
        ),
      );
      const scores = await y.data();
      y.dispose();
      const stepMs = performance.now() - start;
      lastScores = Array.from(scores);
      // Held bytes: a KV cache's spare capacity (it doubles when full) is not counted.
      const point = { tokens: t + 1, stepMs, stateBytes: usedStateBytes(stream.state) };
      points.push(point);
      ctx.onProgress({
        phase: `stream ${kind}`,
        done: t + 1,
        total: size.tokens,
        point: { model: kind, ...point },
      });
      if (t % 8 === 7) await pause();
    }
    stream.dispose();
    models.push({
      model: kind,
      parameters: net.numParameters(),
      losses,
      accuracy: right / predicted.length,
      stream: points,
      lastScores,
    });
  }
  return { size: ctx.size, models };
}

// ---------------------------------------------------------------- parallel = recurrent

/**
 * Score spreads the full demo sweeps: ×1 … ×1e4 in half decades (the test size: whole decades), written out (Math.pow's last bit is
 * not the same in every engine).
 */
export const SPREADS = [
  1, 3.1622776601683795, 10, 31.622776601683793, 100, 316.2277660168379, 1000, 3162.277660168379,
  10_000,
];

const PARALLEL_SIZES = {
  test: { tokens: 9, spreads: [1, 10, 100, 1000, 10_000] },
  full: { tokens: 257, spreads: SPREADS },
} as const;

export interface SpreadResult {
  spread: number;
  /** max |parallel − recurrent| over every output. */
  maxDiff: number;
  /** Per token: the largest difference at that token. */
  perToken: number[];
  /** max − min of the attention scores q·k/√d over the sequence (how far apart they are). */
  scoreRange: number;
  /** The parallel output for the first head's channels at the last token (to compare across backends). */
  lastOutput: number[];
}

export interface ParallelResult {
  size: DemoSize;
  tokens: number;
  spreads: SpreadResult[];
}

/**
 * One Aaren attention layer (d = 16, 2 heads) on a seeded input, run as one parallel scan and as a
 * recurrence token by token, for keys scaled by each spread: the two must agree to float32 rounding
 * however far apart the scores are, since both carry the running max.
 */
export async function runParallel(ctx: DemoContext): Promise<ParallelResult> {
  const { tokens, spreads: sweep } = PARALLEL_SIZES[ctx.size];
  manualSeed(3);
  const attn = new AarenAttention({ dModel: 16, nHeads: 2 });
  const x = randn([1, tokens, 16]);
  const wk = attn.wk.weight.detach().clone();
  const bk = attn.wk.bias?.detach().clone();
  const spreads: SpreadResult[] = [];
  for (const [i, spread] of sweep.entries()) {
    noGrad(() => {
      attn.wk.weight.assign(wk.mul(spread));
      if (bk && attn.wk.bias) attn.wk.bias.assign(bk.mul(spread));
    });
    const parallel = noGrad(() => attn.forward(x));
    const p = await parallel.data();
    parallel.dispose();
    const scores = noGrad(() =>
      attn.wk
        .forward(x)
        .mul(attn.q0.reshape([1, 1, 16]))
        .sum(-1),
    );
    const s = await scores.data();
    scores.dispose();
    const stream = new Stream(attn, 1);
    const perToken: number[] = [];
    for (let t = 0; t < tokens; t++) {
      const y = noGrad(() => stream.step(x.slice(1, t, t + 1).squeeze(1)));
      const r = await y.data();
      y.dispose();
      let worst = 0;
      for (let c = 0; c < 16; c++) {
        const d = Math.abs((r[c] as number) - (p[t * 16 + c] as number));
        if (!(d <= worst)) worst = d;
      }
      perToken.push(worst);
    }
    stream.dispose();
    spreads.push({
      spread,
      maxDiff: Math.max(...perToken),
      perToken,
      scoreRange: Math.max(...s) - Math.min(...s),
      lastOutput: Array.from(p.subarray((tokens - 1) * 16, tokens * 16)),
    });
    ctx.onProgress({
      phase: 'spreads',
      done: i + 1,
      total: sweep.length,
      point: { spread, maxDiff: Math.max(...perToken) },
    });
    await pause();
  }
  return { size: ctx.size, tokens, spreads };
}

// ---------------------------------------------------------------- AFT

const AFT_SIZES = {
  test: { steps: 2, batch: 4, length: 8 },
  full: { steps: 150, batch: 32, length: 16 },
} as const;

/** The copy-back task: the target at step t is the token at t − SHIFT (class VALUES before it). */
export const SHIFT = 3;

export function shiftBatch(rng: Generator, batch: number, length: number) {
  const ids = new Int32Array(batch * length);
  const targets = new Int32Array(batch * length);
  for (let i = 0; i < batch * length; i++) ids[i] = rng.nextInt(0, VALUES);
  for (let b = 0; b < batch; b++) {
    for (let t = 0; t < length; t++) {
      targets[b * length + t] = t >= SHIFT ? (ids[b * length + t - SHIFT] as number) : VALUES;
    }
  }
  return { ids, targets };
}

type AftKind = 'aft-local' | 'aft-simple' | 'aft-conv';

class ShiftNet extends nn.Module {
  emb = new nn.Embedding(VALUES, 32);
  layer: AftLocal | AftSimple | AftConv1d;
  head = new nn.Linear(32, VALUES + 1);
  constructor(kind: AftKind, length: number) {
    super();
    this.layer =
      kind === 'aft-local'
        ? new AftLocal({ dModel: 32, maxLen: length, window: 8, posDim: 16 })
        : kind === 'aft-simple'
          ? new AftSimple({ dModel: 32 })
          : new AftConv1d({ dModel: 32, heads: 4, window: 6 });
  }
  override forward(ids: Tensor): Tensor {
    const h = this.emb.forward(ids);
    return this.head.forward(h.add(this.layer.forward(h)));
  }
}

export interface AftModelResult {
  model: AftKind;
  parameters: number;
  losses: number[];
  /** Accuracy at steps t ≥ SHIFT of held-out sequences. */
  accuracy: number;
  /**
   * The learned position biases as a matrix: AFT-local's w_{t,t'} (T × T, 0 outside the window and
   * above the diagonal), AFT-conv's per-head kernels (heads × window); none for AFT-simple.
   */
  biases: {
    rows: number;
    cols: number;
    values: number[];
    rowLabel: string;
    colLabel: string;
  } | null;
}

export interface AftResult {
  size: DemoSize;
  shift: number;
  models: AftModelResult[];
}

export async function runAft(ctx: DemoContext): Promise<AftResult> {
  const { steps, batch, length } = AFT_SIZES[ctx.size];
  const models: AftModelResult[] = [];
  for (const kind of ['aft-local', 'aft-conv', 'aft-simple'] as const) {
    manualSeed(21);
    const net = new ShiftNet(kind, length);
    const rng = new Generator(31);
    const losses = await train(
      kind,
      net,
      steps,
      1e-2,
      () => {
        const { ids, targets } = shiftBatch(rng, batch, length);
        const scores = net.forward(tensor(ids, { shape: [batch, length], dtype: 'int32' }));
        return nn.crossEntropy(
          scores.reshape([batch * length, VALUES + 1]),
          tensor(targets, { dtype: 'int32' }),
        );
      },
      ctx,
    );
    const held = 64;
    const test = shiftBatch(new Generator(77), held, length);
    const pred = noGrad(() =>
      net.forward(tensor(test.ids, { shape: [held, length], dtype: 'int32' })).argmax(-1),
    );
    const predicted = await pred.data();
    pred.dispose();
    let right = 0;
    let counted = 0;
    for (let b = 0; b < held; b++) {
      for (let t = SHIFT; t < length; t++) {
        counted++;
        if (predicted[b * length + t] === test.targets[b * length + t]) right++;
      }
    }
    let biases: AftModelResult['biases'] = null;
    const layer = net.layer;
    if (layer instanceof AftLocal) {
      const w = noGrad(() => layer.posU.matmul(layer.posV.transpose(0, 1)));
      const all = await w.data();
      w.dispose();
      const values: number[] = [];
      for (let t = 0; t < length; t++) {
        for (let s = 0; s < length; s++) {
          values.push(s <= t && t - s < layer.window ? (all[t * layer.maxLen + s] as number) : 0);
        }
      }
      biases = {
        rows: length,
        cols: length,
        values,
        rowLabel: 'query step t',
        colLabel: "key step t'",
      };
    } else if (layer instanceof AftConv1d) {
      const k = noGrad(() => layer.kernel());
      const values = Array.from(await k.data());
      k.dispose();
      biases = {
        rows: layer.heads,
        cols: layer.window,
        values,
        rowLabel: 'head',
        colLabel: 'kernel tap',
      };
    }
    models.push({
      model: kind,
      parameters: net.numParameters(),
      losses,
      accuracy: right / counted,
      biases,
    });
  }
  return { size: ctx.size, shift: SHIFT, models };
}

export const DEMOS = { recall: runRecall, parallel: runParallel, aft: runAft } as const;
export type DemoName = keyof typeof DEMOS;
export type DemoResult = Awaited<ReturnType<(typeof DEMOS)[DemoName]>>;
