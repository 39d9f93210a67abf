/**
 * `pnpm bench`: matmul and an MLP training step on the CPU backend, against onnxruntime-node's
 * MatMul (MLAS) at the same thread count, in the same run. Runs alternate between recur and
 * onnxruntime so that load from other processes hits both alike; the ratio is the figure to read,
 * absolute times are notes. Each size is measured with the WebAssembly kernels ('auto': relaxed-SIMD
 * FMA where the engine has it), with plain SIMD when relaxed runs, and, at 1024³ and for the MLP,
 * with the pure-JavaScript kernels forced.
 *
 * On Node 20, relaxed SIMD needs `--experimental-wasm-relaxed-simd`: the script re-launches itself
 * with it (pass `--no-relaxed` to measure without). `--json` prints one JSON object; `--quick` runs
 * smaller sizes.
 */
import { spawnSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { timeAlternating } from '@recur/bench';
import {
  type CpuKernels,
  cpuKernelInfo,
  manualSeed,
  matmul,
  nn,
  optim,
  randint,
  randn,
  setCpuKernels,
  setNumThreads,
  tidy,
} from '../src/index.js';
import { createOrtMatmul } from './onnx-matmul.js';

const args = process.argv.slice(2);
const json = args.includes('--json');
const quick = args.includes('--quick');
const RELAXED_FLAG = '--experimental-wasm-relaxed-simd';

// Node 20 ships relaxed SIMD behind a V8 flag: run this script again with it, once.
if (
  !args.includes('--no-relaxed') &&
  cpuKernelInfo().active === 'wasm-simd' &&
  Number(process.versions.node.split('.')[0]) < 22 &&
  !process.execArgv.includes(RELAXED_FLAG)
) {
  const r = spawnSync(
    process.execPath,
    [RELAXED_FLAG, ...process.execArgv, ...process.argv.slice(1)],
    {
      stdio: 'inherit',
    },
  );
  process.exit(r.status ?? 1);
}

const gflops = (flop: number, ms: number) => flop / (ms / 1e3) / 1e9;
const cores = availableParallelism();
const threadCounts = [...new Set([1, Math.min(2, cores)])];
const relaxed = cpuKernelInfo().active === 'wasm-relaxed-simd';

interface MatmulRow {
  n: number;
  threads: number;
  /** GFLOP/s with the default kernels ('auto'). */
  recur: number;
  /** Plain SIMD / onnxruntime (only when the default is relaxed SIMD). */
  simdRatio: number | null;
  /** GFLOP/s with the JavaScript kernels (1024³, one thread). */
  js: number | null;
  ort: number;
}

const withKernels = (kernels: CpuKernels, run: () => void) => () => {
  setCpuKernels(kernels);
  run();
  setCpuKernels('auto');
};

async function benchMatmul(n: number, threads: number, reps: number): Promise<MatmulRow> {
  manualSeed(n);
  const a = randn([n, n]);
  const b = randn([n, n]);
  const ad = a.dataSync() as Float32Array;
  const bd = b.dataSync() as Float32Array;
  const ort = await createOrtMatmul(n, n, n, { threads });
  setNumThreads(threads);
  const product = () => matmul(a, b).dispose();
  const runs: Record<string, () => unknown> = { recur: product, ort: () => ort.run(ad, bd) };
  const ms = await timeAlternating(runs, reps);
  // Plain SIMD in a block of its own (switching variants restarts the worker threads), against
  // onnxruntime again so that the ratio is from the same stretch of time.
  let simdRatio: number | null = null;
  if (relaxed) {
    setCpuKernels('simd');
    const plain = await timeAlternating(runs, reps);
    setCpuKernels('auto');
    simdRatio = (plain.ort as number) / (plain.recur as number);
  }
  let js: number | null = null;
  if (n === 1024 && threads === 1) {
    js = gflops(
      2 * n ** 3,
      (await timeAlternating({ js: withKernels('js', product) }, 1)).js as number,
    );
  }
  await ort.release();
  const flop = 2 * n ** 3;
  return {
    n,
    threads,
    recur: gflops(flop, ms.recur as number),
    simdRatio,
    js,
    ort: gflops(flop, ms.ort as number),
  };
}

/** One Adam step of a 2-layer MLP (784 → 256 → 10, batch 128) with cross-entropy: ms per step. */
async function benchMlp(reps: number) {
  manualSeed(0);
  const [batch, dIn, dHidden, dOut] = [128, 784, 256, 10];
  const model = new nn.Sequential(
    new nn.Linear(dIn, dHidden),
    new nn.ReLU(),
    new nn.Linear(dHidden, dOut),
  );
  const opt = new optim.Adam(model.parameters(), { lr: 1e-3 });
  const x = randn([batch, dIn]);
  const y = randint(0, dOut, [batch]);
  const step = () =>
    tidy(() => {
      opt.zeroGrad();
      nn.crossEntropy(model.forward(x), y).backward();
      opt.step();
    });
  setNumThreads(cores);
  const ms = await timeAlternating({ recur: step, js: withKernels('js', step) }, reps);
  // forward 2·b·(in·h + h·out), backward twice that
  const flop = 3 * 2 * batch * (dIn * dHidden + dHidden * dOut);
  return {
    batch,
    dIn,
    dHidden,
    dOut,
    threads: cores,
    recurMs: ms.recur as number,
    jsMs: ms.js as number,
    recurGflops: gflops(flop, ms.recur as number),
  };
}

const runtime = {
  node: process.version,
  kernels: cpuKernelInfo().active,
  relaxedSimd: relaxed,
  cores,
};
const sizes = quick ? [256] : [256, 512, 1024];
const matmuls: MatmulRow[] = [];
for (const threads of threadCounts) {
  for (const n of sizes)
    matmuls.push(await benchMatmul(n, threads, n >= 1024 ? 5 : n >= 512 ? 9 : 21));
}
const mlp = await benchMlp(quick ? 5 : 20);

if (json) {
  console.log(JSON.stringify({ runtime, matmul: matmuls, mlpStep: mlp }));
} else {
  const pct = (x: number | null) => (x === null ? '-' : `${x.toFixed(2)}×`);
  console.log(
    `Node ${runtime.node}, ${cores} cores, CPU kernels: ${runtime.kernels} (relaxed-SIMD FMA ${relaxed ? 'on' : 'off'})`,
  );
  console.log('\nmatmul, float32 (median GFLOP/s; onnxruntime at the same intraOpNumThreads)');
  console.log('   size  threads   recur   onnxruntime   recur/ort   plain SIMD/ort   JS/ort');
  for (const r of matmuls) {
    console.log(
      [
        `${r.n}³`.padStart(7),
        String(r.threads).padStart(8),
        r.recur.toFixed(1).padStart(7),
        r.ort.toFixed(1).padStart(13),
        pct(r.recur / r.ort).padStart(11),
        pct(r.simdRatio).padStart(16),
        pct(r.js === null ? null : r.js / r.ort).padStart(8),
      ].join(' '),
    );
  }
  console.log(
    `\nMLP training step (${mlp.dIn}→${mlp.dHidden}→${mlp.dOut}, batch ${mlp.batch}, Adam, ${mlp.threads} threads): ` +
      `${mlp.recurMs.toFixed(1)} ms/step (${mlp.recurGflops.toFixed(2)} GFLOP/s effective); ` +
      `JavaScript kernels ${mlp.jsMs.toFixed(1)} ms/step: ${(mlp.jsMs / mlp.recurMs).toFixed(1)}× slower`,
  );
}
