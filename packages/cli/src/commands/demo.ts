import { Generator, manualSeed, nn, optim, type Tensor, tensor, tidy } from '@recur/tensor';
import { measureStream, type StreamResult } from '../bench/stream.js';
import { streamMemorySpec } from '../charts.js';
import type { Invocation } from '../cli.js';
import { Backbone, type BackboneConfig } from '../models/backbone.js';
import type { OptionsOf } from '../options.js';
import { readBatch } from '../tasks/common.js';
import { onBackend } from '../train/device.js';
import { lineChart, renderSvg, timePerTokenChart } from '../util/charts.js';
import { OutputDir, writeFileAtomic } from '../util/files.js';
import { fmtBytes, fmtNumber, formatTable, type Reporter } from '../util/output.js';

/** Values a token can take; a marked token is id value + VALUES. */
const VALUES = 8;
/** Training sequence length. */
const LENGTH = 32;
const BATCH = 32;
const TEST_SEQUENCES = 512;

/**
 * The demo's task, "recall the marked token": a stream of random tokens, one of them marked; at
 * every step the model must output the marked token seen so far (or "none" before it). Answering at
 * step t needs the marked token, which may be any number of steps back: memory, not pattern.
 */
export function recallBatch(
  rng: Generator,
  batch: number,
  length: number,
): { ids: Int32Array; targets: Int32Array; marks: number[] } {
  const ids = new Int32Array(batch * length);
  const targets = new Int32Array(batch * length);
  const marks: number[] = [];
  for (let b = 0; b < batch; b++) {
    const p = rng.nextInt(0, length - 4);
    marks.push(p);
    let marked = VALUES;
    for (let t = 0; t < length; t++) {
      const v = rng.nextInt(0, VALUES);
      ids[b * length + t] = t === p ? v + VALUES : v;
      if (t === p) marked = v;
      targets[b * length + t] = t >= p ? marked : VALUES;
    }
  }
  return { ids, targets, marks };
}

/** Token embedding → sequence model → per-step scores over VALUES + 1 classes ("none" last). */
class RecallNet extends nn.Module {
  emb: nn.Embedding;
  backbone: Backbone;
  head: nn.Linear;

  constructor(cfg: BackboneConfig) {
    super();
    this.emb = new nn.Embedding(2 * VALUES, cfg.dModel);
    this.backbone = new Backbone(cfg);
    this.head = new nn.Linear(cfg.dModel, VALUES + 1);
  }

  override forward(ids: Tensor): Tensor {
    return this.head.forward(this.backbone.forward(this.emb.forward(ids)));
  }
}

interface TrainedModel {
  name: string;
  net: RecallNet;
  parameters: number;
  losses: [number, number][];
  trainSeconds: number;
  /** Accuracy at the last step of each test sequence (the recall) and over all steps. */
  accuracy: number;
  stepAccuracy: number;
}

function modelConfig(name: 'aaren' | 'transformer'): BackboneConfig {
  return {
    name,
    layers: 1,
    dModel: 32,
    heads: 4,
    dFF: 64,
    window: 16,
    posDim: 32,
    maxLen: LENGTH,
    dropout: 0,
    positions: true,
  };
}

/** One AdamW step on a fresh batch (gradients clipped to norm 1); its loss. */
async function recallStep(
  net: RecallNet,
  opt: optim.AdamW,
  sched: optim.LRScheduler,
  rng: Generator,
): Promise<number> {
  const { ids, targets } = recallBatch(rng, BATCH, LENGTH);
  const l = tidy(() => {
    opt.zeroGrad();
    const logits = net.forward(tensor(ids, { shape: [BATCH, LENGTH], dtype: 'int32' }));
    const l = nn.crossEntropy(
      logits.reshape([BATCH * LENGTH, VALUES + 1]),
      tensor(targets, { dtype: 'int32' }),
    );
    l.backward();
    return l;
  });
  // Asynchronous reads: the same on the CPU, and the only kind WebGPU has.
  await optim.clipGradNormAsync(net.parameters(), 1);
  opt.step();
  const loss = (await l.data())[0]!;
  l.dispose();
  opt.zeroGrad();
  sched.step();
  return loss;
}

/** Accuracy on held-out sequences (from another seed): at the last step (recall) and at all steps. */
async function testRecall(
  net: RecallNet,
  seed: number,
): Promise<{ accuracy: number; stepAccuracy: number }> {
  net.eval();
  const test = recallBatch(new Generator(seed + 1000), TEST_SEQUENCES, LENGTH);
  const { pred } = await readBatch(() => ({
    pred: net
      .forward(tensor(test.ids, { shape: [TEST_SEQUENCES, LENGTH], dtype: 'int32' }))
      .argmax(-1),
  }));
  let last = 0;
  let all = 0;
  for (let b = 0; b < TEST_SEQUENCES; b++) {
    for (let t = 0; t < LENGTH; t++) {
      const ok = pred[b * LENGTH + t] === test.targets[b * LENGTH + t];
      if (ok) all++;
      if (ok && t === LENGTH - 1) last++;
    }
  }
  return { accuracy: last / TEST_SEQUENCES, stepAccuracy: all / (TEST_SEQUENCES * LENGTH) };
}

async function trainOne(
  name: 'aaren' | 'transformer',
  steps: number,
  seed: number,
  reporter: Reporter,
): Promise<TrainedModel> {
  manualSeed(seed);
  const net = new RecallNet(modelConfig(name));
  const opt = new optim.AdamW(net.parameters(), { lr: 5e-3, weightDecay: 0 });
  const sched = new optim.LinearWarmupCosine(opt, {
    warmupSteps: Math.min(20, steps),
    totalSteps: steps,
    minLr: 5e-4,
  });
  const rng = new Generator(seed + 1);
  const losses: [number, number][] = [];
  const bar = reporter.progress(`train ${name.padEnd(11)}`, steps, 'steps');
  const start = performance.now();
  net.train();
  for (let s = 0; s < steps; s++) {
    const loss = await recallStep(net, opt, sched, rng);
    losses.push([s + 1, loss]);
    bar.update(s + 1, { loss });
    if (reporter.json && (s + 1) % 25 === 0)
      reporter.event('step', { model: name, step: s + 1, loss });
  }
  bar.stop();
  const trainSeconds = (performance.now() - start) / 1e3;
  const { accuracy, stepAccuracy } = await testRecall(net, seed);
  return {
    name,
    net,
    parameters: net.numParameters(),
    losses,
    trainSeconds,
    accuracy,
    stepAccuracy,
  };
}

async function streamOne(
  m: TrainedModel,
  tokens: number,
  seed: number,
  reporter: Reporter,
): Promise<StreamResult> {
  const rng = new Generator(seed + 2000);
  const ids = Array.from({ length: 64 }, (_, i) => (i === 3 ? VALUES + 5 : rng.nextInt(0, VALUES)));
  const inputs = ids.map((id) => tensor([id], { dtype: 'int32' }));
  const net = m.net;
  net.eval();
  const bar = reporter.progress(`stream ${m.name.padEnd(10)}`, tokens, 'tokens');
  const result = await measureStream(
    () => net.backbone.initState(1),
    (x, state) => {
      const s = net.backbone.step(net.emb.forward(x), state);
      return { y: net.head.forward(s.y), state: s.state };
    },
    (t) => inputs[t % inputs.length]!,
    tokens,
    { onProgress: (done) => bar.update(done) },
  );
  bar.stop();
  return result;
}

/** Each model's held-out accuracy, as a table and as events. */
function reportAccuracy(trained: TrainedModel[], reporter: Reporter): void {
  for (const m of trained) {
    reporter.event('trained', {
      model: m.name,
      parameters: m.parameters,
      accuracy: m.accuracy,
      step_accuracy: m.stepAccuracy,
      seconds: m.trainSeconds,
    });
  }
  reporter.heading('Accuracy on 512 held-out sequences');
  reporter.print(
    formatTable(
      ['model', 'parameters', 'final loss', 'recall at last step', 'all steps', 'train time'],
      trained.map((m) => [
        m.name,
        m.parameters,
        fmtNumber(m.losses[m.losses.length - 1]?.[1], 3),
        `${(100 * m.accuracy).toFixed(1)} %`,
        `${(100 * m.stepAccuracy).toFixed(1)} %`,
        `${m.trainSeconds.toFixed(1)} s`,
      ]),
    ),
  );
}

type DemoStream = { model: TrainedModel; result: StreamResult };

/** Aaren's and the Transformer's step time and state side by side, and what they come to. */
function printStreams(a: DemoStream, t: DemoStream, reporter: Reporter): void {
  const rows = a.result.points.map((p, i) => {
    const q = t.result.points[i];
    return [
      p.tokens,
      fmtNumber(p.stepMs, 3),
      fmtBytes(p.stateBytes),
      q ? fmtNumber(q.stepMs, 3) : '-',
      q ? fmtBytes(q.stateBytes) : '-',
    ];
  });
  reporter.print(
    formatTable(
      [
        'tokens seen',
        'aaren ms/token',
        'aaren state',
        'transformer ms/token',
        'transformer KV cache',
      ],
      rows,
    ),
  );
  const lastA = a.result.points[a.result.points.length - 1];
  const lastT = t.result.points[t.result.points.length - 1];
  const firstT = t.result.points[0];
  if (lastA && lastT && firstT) {
    const growth =
      lastT.tokens > 1 ? (lastT.stateBytes - firstT.stateBytes) / (lastT.tokens - 1) : 0;
    reporter.print(
      `\nAfter ${lastA.tokens.toLocaleString('en-US')} tokens Aaren holds ${fmtBytes(lastA.stateBytes)} of state (the same as after one token); ` +
        `the Transformer's KV cache holds ${fmtBytes(lastT.stateBytes)} and grows by ${fmtBytes(growth)} per token.\n` +
        `Cumulative streaming time: Aaren ${lastA.cumulativeS.toFixed(2)} s, Transformer ${lastT.cumulativeS.toFixed(2)} s.`,
    );
  }
}

/** The demo's figures (training loss, state, time per token), as SVG by file name. */
function demoFigures(
  trained: TrainedModel[],
  streams: DemoStream[],
): Record<string, Promise<string>> {
  const named = streams.map((s) => ({ name: s.model.name, result: s.result }));
  return {
    'demo-training.svg': lineChart({
      title: 'Training loss (recall the marked token)',
      xLabel: 'optimiser step',
      yLabel: 'cross-entropy',
      series: trained.map((m) => ({ name: m.name, points: m.losses })),
    }),
    'demo-memory.svg': renderSvg(streamMemorySpec(named)),
    'demo-time.svg': timePerTokenChart(named),
  };
}

/** Each model's numbers for demo.json. */
function modelSummary(s: DemoStream): Record<string, unknown> {
  return {
    parameters: s.model.parameters,
    accuracy: s.model.accuracy,
    step_accuracy: s.model.stepAccuracy,
    train_seconds: s.model.trainSeconds,
    final_loss: s.model.losses[s.model.losses.length - 1]?.[1],
    stream: s.result.points,
  };
}

/** Trains both models, reports their accuracy, then streams both (on the chosen backend). */
async function trainAndStream(
  o: OptionsOf<'demo'>,
  reporter: Reporter,
): Promise<{ trained: TrainedModel[]; streams: DemoStream[]; runsOn: string }> {
  return onBackend(o.backend, reporter, async (runsOn) => {
    const trained: TrainedModel[] = [];
    for (const name of ['aaren', 'transformer'] as const) {
      trained.push(await trainOne(name, o.steps, o.seed, reporter));
    }
    reportAccuracy(trained, reporter);
    reporter.heading(`Streaming ${o.tokens.toLocaleString('en-US')} tokens, one at a time`);
    const streams: DemoStream[] = [];
    for (const m of trained) {
      streams.push({ model: m, result: await streamOne(m, o.tokens, o.seed, reporter) });
    }
    return { trained, streams, runsOn };
  });
}

export async function demoCommand(inv: Invocation<'demo'>, reporter: Reporter): Promise<number> {
  const o = inv.options;
  const { steps, tokens, seed } = o;
  const dir = new OutputDir(o.out);
  const t0 = performance.now();
  reporter.heading('recur demo: Aaren vs a Transformer of the same size');
  reporter.print(
    `Task: recall the marked token. Streams of ${LENGTH} random tokens (${VALUES} values), one of them marked;\n` +
      'at every step the model must name the marked token seen so far. Both models: 1 block, d = 32,\n' +
      `4 heads, feed-forward 64, sinusoidal positions; ${steps} AdamW steps of ${BATCH} sequences each.`,
  );
  reporter.event('start', { task: 'recall', steps, tokens, seed });
  // Both models train and stream on the chosen backend (the adapter is printed for webgpu).
  const { trained, streams, runsOn } = await trainAndStream(o, reporter);
  printStreams(streams[0]!, streams[1]!, reporter);
  // Figures and the JSON summary.
  dir.create();
  const files = demoFigures(trained, streams);
  for (const [name, svg] of Object.entries(files)) writeFileAtomic(dir.file(name), await svg);
  const summary = {
    task: 'recall the marked token',
    backend: runsOn,
    steps,
    seconds: (performance.now() - t0) / 1e3,
    models: Object.fromEntries(streams.map((s) => [s.model.name, modelSummary(s)])),
  };
  reporter.print(dir.finish(Object.keys(files), 'demo.json', summary));
  reporter.print(`Done in ${summary.seconds.toFixed(1)} s.`);
  reporter.result({ event: 'result', out: dir.path, ...summary });
  return 0;
}
