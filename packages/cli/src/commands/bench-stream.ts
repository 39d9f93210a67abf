import { manualSeed, randn, type SequenceModule, setNumThreads, type Tensor } from '@recur/tensor';
import { measureStream, type StreamPoint, type StreamResult } from '../bench/stream.js';
import { streamMemorySpec, streamSeries } from '../charts.js';
import type { Invocation } from '../cli.js';
import { CliError, messageOf } from '../errors.js';
import { backboneConfig, createCore } from '../models/backbone.js';
import { requireOrt } from '../onnx/runtime.js';
import { measureOnnxStream } from '../onnx/stream.js';
import type { OptionsOf, SequenceModelName } from '../options.js';
import { onBackend } from '../train/device.js';
import { lineChart, renderSvg, timePerTokenChart } from '../util/charts.js';
import { OutputDir, writeFileAtomic } from '../util/files.js';
import { fmtBytes, fmtNumber, formatTable, type Reporter } from '../util/output.js';

export interface StreamBenchModel {
  /** The model's name, with ' (onnx)' for its run in onnxruntime. */
  model: string;
  parameters: number;
  result: StreamResult;
}

type StreamOptions = OptionsOf<'bench stream'>;

/** Warns about models that cannot stream past --tokens; refuses --backend webgpu with onnx. */
function checkStreamOptions(o: StreamOptions, reporter: Reporter): void {
  for (const n of o.models) {
    if (n === 'aft-full' || n === 'aft-local') {
      // Their position biases cover a fixed length: streaming past it is an error by design.
      reporter.warn(
        `${n} streams at most its maxLen tokens (set to --tokens ${o.tokens}); its biases are sized for that`,
      );
    }
  }
  if (o.runtime === 'onnx' && o.backend === 'webgpu') {
    throw new CliError(
      '--backend webgpu and --runtime onnx: choose one (onnxruntime runs on the CPU here, and its ratio compares it with recur on the CPU at the same thread count)',
    );
  }
}

/** One model streamed in recur: its step time and state against tokens seen. */
async function streamInRecur(
  name: string,
  core: SequenceModule,
  inputs: Tensor[],
  o: StreamOptions,
  reporter: Reporter,
): Promise<StreamResult> {
  const bar = reporter.progress(`stream ${name.padEnd(11)}`, o.tokens, 'tokens');
  try {
    return await measureStream(
      () => core.initState(1),
      (x, s) => core.step(x, s),
      (t) => inputs[t % inputs.length]!,
      o.tokens,
      { maxSeconds: o.maxSeconds, onProgress: (n) => bar.update(n) },
    );
  } catch (e) {
    throw new CliError(`bench stream: ${name} failed while streaming: ${messageOf(e)}`, 1);
  } finally {
    bar.stop();
  }
}

/** Builds every model (same seed each) and streams them one after the other. */
async function streamModels(
  o: StreamOptions,
  names: SequenceModelName[],
  reporter: Reporter,
): Promise<StreamBenchModel[]> {
  const d = o.dModel;
  const built = names.map((name) => {
    manualSeed(o.seed);
    const cfg = { ...backboneConfig(name, o, o.tokens), positions: false };
    const core = createCore(cfg);
    core.eval();
    return { name, cfg, core };
  });
  reporter.heading(
    `Streaming ${o.tokens.toLocaleString('en-US')} tokens (batch 1): ${names.join(', ')}`,
  );
  reporter.print(
    `Size: ${o.layers} layer(s), d = ${d}, heads ${o.heads}, feed-forward ${o.dFF ?? 2 * d} (lstm: hidden ${d}); time limit ${o.maxSeconds} s per model`,
  );
  manualSeed(o.seed);
  const inputs: Tensor[] = Array.from({ length: 16 }, () => randn([1, d]));
  const out: StreamBenchModel[] = [];
  for (const { name, core } of built) {
    const result = await streamInRecur(name, core, inputs, o, reporter);
    if (result.truncated)
      reporter.warn(
        `${name}: stopped after ${result.tokens} tokens (--max-seconds ${o.maxSeconds})`,
      );
    out.push({ model: name, parameters: core.numParameters(), result });
    reporter.event('model', {
      model: name,
      parameters: core.numParameters(),
      tokens: result.tokens,
      points: result.points,
    });
    if (o.runtime === 'onnx') {
      const r = await streamInOnnx(name, core, o.tokens, inputs, o, reporter);
      out.push({ model: `${name} (onnx)`, parameters: core.numParameters(), result: r });
      reporter.event('model', { model: `${name} (onnx)`, tokens: r.tokens, points: r.points });
    }
  }
  return out;
}

/** Prints the per-checkpoint table, the totals and (onnx) the runtimes' ratios. */
function printStreamTables(results: StreamBenchModel[], o: StreamOptions, reporter: Reporter) {
  // Table: one row per checkpoint, per model step time and state.
  const marks = [...new Set(results.flatMap((r) => r.result.points.map((p) => p.tokens)))].sort(
    (a, b) => a - b,
  );
  const headers = ['tokens', ...results.flatMap((r) => [`${r.model} ms/tok`, `${r.model} state`])];
  const rows = marks.map((n) => [
    n,
    ...results.flatMap((r) => {
      const p = r.result.points.find((q) => q.tokens === n);
      return p ? [fmtNumber(p.stepMs, 3), fmtBytes(p.stateBytes)] : ['-', '-'];
    }),
  ]);
  reporter.print(formatTable(headers, rows));
  reporter.heading('Totals');
  reporter.print(
    formatTable(
      ['model', 'parameters', 'tokens', 'cumulative s', 'final ms/token', 'final state'],
      results.map((r) => {
        const last = r.result.points[r.result.points.length - 1];
        return [
          r.model,
          r.parameters,
          r.result.tokens,
          fmtNumber(last?.cumulativeS, 3),
          fmtNumber(last?.stepMs, 3),
          fmtBytes(last?.stateBytes ?? 0),
        ];
      }),
    ),
  );
  if (o.runtime === 'onnx') {
    reporter.heading(
      `recur against onnxruntime-node, ${o.threads ?? 1} thread(s) each, same weights and inputs`,
    );
    reporter.print(
      formatTable(
        ['model', 'recur ms/token', 'onnx ms/token', 'recur / onnx'],
        onnxRatios(results),
      ),
    );
  }
}

/** The three figures (memory, time per token, cumulative time), as SVG by file name. */
function streamFigures(results: StreamBenchModel[]): Record<string, Promise<string>> {
  const streams = results.map((r) => ({ name: r.model, result: r.result }));
  const series = (f: (p: StreamPoint) => number) => streamSeries(streams, f);
  return {
    'stream-memory.svg': renderSvg(
      streamMemorySpec(streams, 'State / KV-cache memory while streaming'),
    ),
    'stream-time.svg': timePerTokenChart(streams),
    'stream-cumulative.svg': lineChart({
      title: 'Cumulative streaming time',
      xLabel: 'tokens seen',
      yLabel: 'seconds',
      series: series((p) => p.cumulativeS),
      logX: true,
      logY: true,
    }),
  };
}

/**
 * The paper's headline figure: each model streams `tokens` tokens one at a time (batch 1, no
 * gradients); per-token step time, state (or KV-cache) bytes and cumulative time against tokens seen.
 * The models run one after the other in one process, so their ratios are what to read.
 */
export async function benchStreamCommand(
  inv: Invocation<'bench stream'>,
  reporter: Reporter,
): Promise<number> {
  const o = inv.options;
  const names = o.models;
  checkStreamOptions(o, reporter);
  // Beside onnxruntime, recur's CPU backend runs at the same thread count: a ratio at equal threads.
  if (o.runtime === 'onnx') setNumThreads(o.threads ?? 1);
  const dir = new OutputDir(o.out);
  // Models, inputs and states live on the chosen backend; each model streams in turn.
  const { results, runsOn } = await onBackend(o.backend, reporter, async (runsOn) => ({
    results: await streamModels(o, names, reporter),
    runsOn,
  }));
  printStreamTables(results, o, reporter);
  dir.create();
  const files = streamFigures(results);
  for (const [name, svg] of Object.entries(files)) writeFileAtomic(dir.file(name), await svg);
  const d = o.dModel;
  const summary = {
    tokens: o.tokens,
    backend: runsOn,
    size: { layers: o.layers, dModel: d, heads: o.heads, dFF: o.dFF ?? 2 * d },
    models: Object.fromEntries(
      results.map((r) => [
        r.model,
        {
          parameters: r.parameters,
          tokens: r.result.tokens,
          truncated: r.result.truncated,
          points: r.result.points,
        },
      ]),
    ),
  };
  reporter.print(dir.finish(Object.keys(files), 'stream.json', summary));
  reporter.result({ event: 'result', out: dir.path, ...summary });
  return 0;
}

/** The same model's step graph in onnxruntime-node, timed like the recur stream. */
async function streamInOnnx(
  name: string,
  core: SequenceModule,
  tokens: number,
  inputs: Tensor[],
  o: StreamOptions,
  reporter: Reporter,
): Promise<StreamResult> {
  const ort = await requireOrt();
  const bar = reporter.progress(`onnx ${name.padEnd(13)}`, tokens, 'tokens');
  try {
    return await measureOnnxStream(
      ort,
      core,
      o.threads ?? 1,
      (t) => inputs[t % inputs.length]!,
      tokens,
      {
        maxSeconds: o.maxSeconds,
        onProgress: (n) => bar.update(n),
      },
    );
  } catch (e) {
    if (e instanceof CliError) throw e;
    throw new CliError(`bench stream: ${name} failed in onnxruntime: ${messageOf(e)}`, 1);
  } finally {
    bar.stop();
  }
}

/** Final ms/token of each model in both runtimes and their ratio. */
function onnxRatios(results: StreamBenchModel[]): (string | number)[][] {
  const last = (r: StreamBenchModel | undefined) =>
    r?.result.points[r.result.points.length - 1]?.stepMs;
  return results
    .filter((r) => !r.model.endsWith(' (onnx)'))
    .map((r) => {
      const a = last(r);
      const b = last(results.find((q) => q.model === `${r.model} (onnx)`));
      return [
        r.model,
        fmtNumber(a, 3),
        fmtNumber(b, 3),
        a !== undefined && b ? fmtNumber(a / b, 2) : '-',
      ];
    });
}
