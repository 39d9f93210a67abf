/**
 * The measurements of `recur bench ops`. Each compares recur with a yardstick in the same run,
 * alternating between them so that load from other processes hits both alike: onnxruntime's MatMul
 * at the same thread count, recur's own pure-JavaScript kernels (setCpuKernels('js')), or a copy of
 * the same bytes. Medians of the repetitions; ratios are the figures to read.
 */
import { AarenBlock } from '@recur/aaren';
import { fill, median } from '@recur/bench';
import { add, attentionScan, scan } from '@recur/scan';
import {
  type CpuKernels,
  disposeState,
  manualSeed,
  matmul,
  nn,
  noGrad,
  optim,
  randint,
  randn,
  setCpuKernels,
  setNumThreads,
  type Tensor,
  tensor,
  tidy,
} from '@recur/tensor';
import { createOrtMatmul, type OrtModule } from './onnx.js';

const gflops = (flop: number, ms: number) => flop / (ms / 1e3) / 1e9;

/** Median ms of each run, after one warm-up each, the runs taking turns `reps` times. */
async function alternate(
  runs: Record<string, () => unknown>,
  reps: number,
): Promise<Record<string, number>> {
  const times: Record<string, number[]> = {};
  for (const [name, run] of Object.entries(runs)) {
    await run();
    times[name] = [];
  }
  for (let r = 0; r < reps; r++) {
    for (const [name, run] of Object.entries(runs)) {
      const t = performance.now();
      await run();
      times[name]?.push(performance.now() - t);
    }
  }
  return Object.fromEntries(Object.entries(times).map(([k, v]) => [k, median(v)]));
}

/** `run` with the CPU kernels set to `kernels`, restored to 'auto' after. */
const withKernels = (kernels: CpuKernels, run: () => unknown) => () => {
  setCpuKernels(kernels);
  try {
    return run();
  } finally {
    setCpuKernels('auto');
  }
};

export interface MatmulRow {
  n: number;
  threads: number;
  oursMs: number;
  oursGflops: number;
  ortMs: number | null;
  ortGflops: number | null;
  /** ours / onnxruntime throughput (null without onnxruntime). */
  ratio: number | null;
  /** The pure-JavaScript kernels' GFLOP/s (largest size, one thread), null elsewhere. */
  jsGflops: number | null;
}

/** n³ float32 matmul at `threads`, against onnxruntime with intraOpNumThreads = threads. */
export async function benchMatmul(
  ort: OrtModule | null,
  n: number,
  threads: number,
  reps: number,
  withJs: boolean,
): Promise<MatmulRow> {
  manualSeed(n);
  const a = randn([n, n]);
  const b = randn([n, n]);
  const ad = a.dataSync() as Float32Array;
  const bd = b.dataSync() as Float32Array;
  const session = ort ? await createOrtMatmul(ort, n, threads) : null;
  setNumThreads(threads);
  const product = () => matmul(a, b).dispose();
  const runs: Record<string, () => unknown> = { ours: product };
  if (session) runs.ort = () => session.run(ad, bd);
  const ms = await alternate(runs, reps);
  const jsMs = withJs ? (await alternate({ js: withKernels('js', product) }, 1)).js : undefined;
  await session?.release();
  a.dispose();
  b.dispose();
  const flop = 2 * n ** 3;
  const oursMs = ms.ours!;
  const ortMs = ms.ort ?? null;
  const ortGflops = ortMs === null ? null : gflops(flop, ortMs);
  return {
    n,
    threads,
    oursMs,
    oursGflops: gflops(flop, oursMs),
    ortMs,
    ortGflops,
    ratio: ortGflops === null ? null : gflops(flop, oursMs) / ortGflops,
    jsGflops: jsMs === undefined ? null : gflops(flop, jsMs),
  };
}

export interface TrainStepRow {
  dModel: number;
  nHeads: number;
  dFF: number;
  tokens: number;
  threads: number;
  parameters: number;
  ms: number;
  jsMs: number;
  /** 6 · parameters · tokens / time. */
  gflops: number;
  jsGflops: number;
}

/** Forward + backward of AarenBlock(512, 8, 2048) on [1, tokens, 512], WebAssembly against JS. */
export async function benchAarenTrainStep(tokens: number, threads: number, reps: number) {
  manualSeed(0);
  const [dModel, nHeads, dFF] = [512, 8, 2048];
  const block = new AarenBlock({ dModel, nHeads, dFF });
  const x = randn([1, tokens, dModel]);
  const params = block.parameters();
  const step = () =>
    tidy(() => {
      block.zeroGrad();
      block.forward(x).square().mean().backward();
    });
  setNumThreads(threads);
  const ms = await alternate({ ours: step, js: withKernels('js', step) }, reps);
  const parameters = params.reduce((s, p) => s + p.size, 0);
  const flop = 6 * parameters * tokens;
  block.zeroGrad();
  x.dispose();
  const row: TrainStepRow = {
    dModel,
    nHeads,
    dFF,
    tokens,
    threads,
    parameters,
    ms: ms.ours!,
    jsMs: ms.js!,
    gflops: gflops(flop, ms.ours!),
    jsGflops: gflops(flop, ms.js!),
  };
  return row;
}

export interface StreamStepRow {
  dModel: number;
  threads: number;
  tokens: number;
  msPerToken: number;
  jsMsPerToken: number;
}

/** One token of AarenBlock(512, 8, 2048) at batch 1 (the README's loop), WebAssembly against JS. */
export async function benchAarenStreamStep(tokens: number, threads: number, reps: number) {
  manualSeed(1);
  const block = new AarenBlock({ dModel: 512, nHeads: 8, dFF: 2048 });
  const xs = randn([tokens, 1, 512]);
  const inputs: Tensor[] = Array.from({ length: tokens }, (_, t) =>
    xs.slice(0, t, t + 1).squeeze(0),
  );
  const stream = () =>
    noGrad(() => {
      let state = block.initState(1);
      for (const x of inputs) {
        const next = tidy(() => {
          const { y, state: s } = block.step(x, state);
          y.dispose();
          return s;
        });
        disposeState(state);
        state = next;
      }
      disposeState(state);
    });
  setNumThreads(threads);
  const ms = await alternate({ ours: stream, js: withKernels('js', stream) }, reps);
  for (const x of inputs) x.dispose();
  xs.dispose();
  const row: StreamStepRow = {
    dModel: 512,
    threads,
    tokens,
    msPerToken: ms.ours! / tokens,
    jsMsPerToken: ms.js! / tokens,
  };
  return row;
}

/** One Adam step of a 2-layer MLP (784 → 256 → 10, batch 128), WebAssembly against JS. */
export async function benchMlpStep(threads: number, reps: number) {
  manualSeed(0);
  const [batch, dIn, dHidden, dOut] = [128, 784, 256, 10];
  const mlp = new nn.Sequential(
    new nn.Linear(dIn, dHidden),
    new nn.ReLU(),
    new nn.Linear(dHidden, dOut),
  );
  const opt = new optim.Adam(mlp.parameters(), { lr: 1e-3 });
  const x = randn([batch, dIn]);
  const y = randint(0, dOut, [batch]);
  const step = () =>
    tidy(() => {
      opt.zeroGrad();
      nn.crossEntropy(mlp.forward(x), y).backward();
      opt.step();
    });
  setNumThreads(threads);
  const ms = await alternate({ ours: step, js: withKernels('js', step) }, reps);
  const flop = 3 * 2 * batch * (dIn * dHidden + dHidden * dOut);
  return {
    batch,
    dIn,
    dHidden,
    dOut,
    threads,
    stepMs: ms.ours!,
    jsStepMs: ms.js!,
    gflops: gflops(flop, ms.ours!),
  };
}

export interface ScanRow {
  name: string;
  elements: number;
  scanMs: number;
  copyMs: number;
  /** Elements per second of the scan. */
  rate: number;
  /** copy time / scan time: 1 means the scan runs at memory-copy speed. */
  ratio: number;
}

/** cumsum and the attention scan against a copy of the same bytes. */
export async function benchScans(quick: boolean): Promise<ScanRow[]> {
  const positions = quick ? 1 << 16 : 1 << 20;
  const outer = 16;
  const t = positions / outer;
  const d = 64;
  const rows: ScanRow[] = [];
  const measure = async (
    name: string,
    elements: number,
    src: Float32Array,
    run: () => void,
    reps: number,
  ) => {
    const dst = new Float32Array(src.length);
    const ms = await alternate({ scan: run, copy: () => dst.set(src) }, reps);
    const scanMs = ms.scan!;
    const copyMs = ms.copy!;
    rows.push({
      name,
      elements,
      scanMs,
      copyMs,
      rate: elements / (scanMs / 1e3),
      ratio: copyMs / scanMs,
    });
  };
  {
    const data = fill(positions, -1, 1, 1);
    const xs = tensor(data, { shape: [outer, t] });
    await measure(
      `cumsum: scan(add) [${outer}, ${t}]`,
      positions,
      data,
      () => tidy(() => void scan(add, [xs])),
      quick ? 5 : 21,
    );
    xs.dispose();
  }
  {
    const scores = fill(positions, -20, 20, 2);
    const values = fill(positions * d, -1, 1, 3);
    const s = tensor(scores, { shape: [outer, t] });
    const v = tensor(values, { shape: [outer, t, d] });
    await measure(
      `attentionScan(scores [${outer}, ${t}], values [${outer}, ${t}, ${d}])`,
      positions * d,
      values,
      () => tidy(() => void attentionScan(s, v)),
      quick ? 3 : 7,
    );
    s.dispose();
    v.dispose();
  }
  return rows;
}
