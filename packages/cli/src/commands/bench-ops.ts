import { availableParallelism } from 'node:os';
import { cpuKernelInfo } from '@recur/tensor';
import { loadOrt, type OrtModule } from '../bench/onnx.js';
import {
  benchAarenStreamStep,
  benchAarenTrainStep,
  benchMatmul,
  benchMlpStep,
  benchScans,
  type MatmulRow,
  type ScanRow,
} from '../bench/ops.js';
import type { Invocation } from '../cli.js';
import { OutputDir, writeJsonAtomic } from '../util/files.js';
import { fmtNumber, formatTable, type Reporter } from '../util/output.js';

const ratio = (x: number | null) => (x === null ? '-' : `${fmtNumber(x, 3)}×`);

/** Every measurement of `recur bench ops`, in the order they run. */
interface OpsResults {
  matmuls: MatmulRow[];
  train: Awaited<ReturnType<typeof benchAarenTrainStep>>;
  stream: Awaited<ReturnType<typeof benchAarenStreamStep>>;
  mlp: Awaited<ReturnType<typeof benchMlpStep>>;
  scans: ScanRow[];
}

/** Runs the benchmarks one after the other, each reported as an event when done. */
async function measureOps(
  quick: boolean,
  ort: OrtModule | null,
  threads: number,
  reporter: Reporter,
): Promise<OpsResults> {
  const matmuls: MatmulRow[] = [];
  const sizes = quick ? [128, 256] : [256, 512, 1024];
  for (const t of [...new Set([1, threads])]) {
    for (const n of sizes) {
      const reps = n >= 1024 ? 5 : n >= 512 ? 9 : quick ? 5 : 15;
      matmuls.push(await benchMatmul(ort, n, t, reps, n === sizes.at(-1) && t === 1));
      reporter.event('matmul', { ...matmuls.at(-1) });
    }
  }
  const train = await benchAarenTrainStep(quick ? 64 : 1024, threads, quick ? 1 : 3);
  reporter.event('aarenTrainStep', { ...train });
  const stream = await benchAarenStreamStep(quick ? 16 : 128, threads, quick ? 1 : 3);
  reporter.event('aarenStreamStep', { ...stream });
  const mlp = await benchMlpStep(threads, quick ? 5 : 20);
  reporter.event('mlp', mlp);
  const scans = await benchScans(quick);
  for (const row of scans) reporter.event('scan', { ...row });
  return { matmuls, train, stream, mlp, scans };
}

/** The matmul table: recur against onnxruntime (and the JavaScript kernels against it). */
function matmulTable(matmuls: MatmulRow[]): string {
  return formatTable(
    [
      'n',
      'threads',
      'recur ms',
      'recur GFLOP/s',
      'ort ms',
      'ort GFLOP/s',
      'recur / ort',
      'JS / ort',
    ],
    matmuls.map((r) => [
      r.n,
      r.threads,
      fmtNumber(r.oursMs, 3),
      fmtNumber(r.oursGflops, 3),
      r.ortMs === null ? '-' : fmtNumber(r.ortMs, 3),
      r.ortGflops === null ? '-' : fmtNumber(r.ortGflops, 3),
      ratio(r.ratio),
      ratio(r.jsGflops === null || r.ortGflops === null ? null : r.jsGflops / r.ortGflops),
    ]),
  );
}

/** The training step on both kernel sets, its rate against onnxruntime's GEMM at `threads`. */
function trainStepTable(train: OpsResults['train'], ortAtThreads: number | null): string {
  return formatTable(
    ['kernels', 'ms / step', 'tokens/s', 'GFLOP/s (6·params·tokens)', 'vs ort GEMM rate'],
    [
      ['WebAssembly', train.ms, train.gflops] as const,
      ['JavaScript', train.jsMs, train.jsGflops] as const,
    ].map(([name, ms, g]) => [
      name,
      fmtNumber(ms, 4),
      fmtNumber(train.tokens / (ms / 1e3), 4),
      fmtNumber(g, 3),
      ortAtThreads === null ? '-' : ratio(g / ortAtThreads),
    ]),
  );
}

/** The scans against a plain copy of the same bytes. */
function scanTable(scans: ScanRow[]): string {
  return formatTable(
    ['scan', 'elements', 'scan ms', 'copy ms', 'elements/s', 'copy / scan'],
    scans.map((s) => [
      s.name,
      s.elements,
      fmtNumber(s.scanMs, 3),
      fmtNumber(s.copyMs, 3),
      fmtNumber(s.rate, 3),
      fmtNumber(s.ratio, 3),
    ]),
  );
}

/** Prints every table of the report. */
function printOps(r: OpsResults, threads: number, reporter: Reporter): void {
  const { train, stream, mlp, scans } = r;
  // The training step's rate against onnxruntime's largest GEMM at the same thread count.
  const ortAtThreads = r.matmuls.findLast((m) => m.threads === threads)?.ortGflops ?? null;
  reporter.heading('matmul, float32 (median; onnxruntime at the same intraOpNumThreads)');
  reporter.print(matmulTable(r.matmuls));
  reporter.heading(
    `AarenBlock(${train.dModel}, ${train.nHeads}, ${train.dFF}) training step: batch 1, T = ${train.tokens}, forward + backward, ${train.threads} threads`,
  );
  reporter.print(trainStepTable(train, ortAtThreads));
  reporter.print(`WebAssembly / JavaScript: ${fmtNumber(train.jsMs / train.ms, 3)}× faster`);
  reporter.heading(`AarenBlock(512, 8, 2048) streaming step: batch 1, ${stream.threads} threads`);
  reporter.print(
    `${fmtNumber(stream.msPerToken, 3)} ms/token; JavaScript kernels ${fmtNumber(stream.jsMsPerToken, 3)} ms/token: ${fmtNumber(stream.jsMsPerToken / stream.msPerToken, 3)}× faster`,
  );
  reporter.heading(
    `MLP training step (${mlp.dIn}→${mlp.dHidden}→${mlp.dOut}, batch ${mlp.batch}, Adam, ${mlp.threads} threads)`,
  );
  reporter.print(
    `${fmtNumber(mlp.stepMs, 3)} ms per step (${fmtNumber(mlp.gflops, 3)} GFLOP/s); JavaScript kernels ${fmtNumber(mlp.jsStepMs, 3)} ms: ${fmtNumber(mlp.jsStepMs / mlp.stepMs, 3)}× faster`,
  );
  reporter.heading('scans against a copy of the same bytes (median)');
  reporter.print(scanTable(scans));
}

/**
 * `recur bench ops`: the package benchmarks in one report, measured side by side in this process
 * (see bench/ops.ts): matmul against onnxruntime at 1 and 2 threads; a training step and a
 * streaming step of AarenBlock(512, 8, 2048) and an MLP Adam step, each against the same code on
 * the pure-JavaScript kernels; @recur/scan's scans against a copy of the same bytes.
 */
export async function benchOpsCommand(
  inv: Invocation<'bench ops'>,
  reporter: Reporter,
): Promise<number> {
  const quick = inv.options.quick;
  const { ort, reason } = await loadOrt();
  if (!ort)
    reporter.warn(
      `onnxruntime-node is not installed (${reason}); matmul is reported without the onnxruntime yardstick`,
    );
  const cores = availableParallelism();
  const threads = Math.min(2, cores);
  const kernels = cpuKernelInfo();
  const runtime = {
    node: process.version,
    cores,
    kernels: kernels.active,
    relaxedSimd: kernels.active === 'wasm-relaxed-simd',
  };
  reporter.event('runtime', runtime);
  const results = await measureOps(quick, ort, threads, reporter);
  reporter.print(
    `Node ${runtime.node}, ${cores} cores, CPU kernels: ${runtime.kernels} (relaxed-SIMD FMA ${runtime.relaxedSimd ? 'on' : 'off: Node 20 needs node --experimental-wasm-relaxed-simd'})`,
  );
  printOps(results, threads, reporter);
  const summary = {
    quick,
    runtime,
    onnxruntime: ort !== null,
    matmul: results.matmuls,
    aarenTrainStep: results.train,
    aarenStreamStep: results.stream,
    mlpStep: results.mlp,
    scans: results.scans,
  };
  if (inv.options.out) {
    const dir = new OutputDir(inv.options.out).create();
    writeJsonAtomic(dir.file('ops.json'), summary);
    dir.keep();
    reporter.print(`\nnumbers: ${dir.file('ops.json')}`);
  }
  reporter.result({ event: 'result', ...summary });
  return 0;
}
