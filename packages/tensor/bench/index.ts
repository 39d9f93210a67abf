/**
 * `pnpm bench`: matmul and an MLP training step on the CPU backend, with the same MatMul through
 * onnxruntime-node (one thread each) timed in the same run. Runs alternate between the two so that
 * load from other processes hits both alike; the ratio is the figure to read, absolute times are notes.
 * `--json` prints one JSON object instead of the table.
 */
import { manualSeed, matmul, nn, optim, randint, randn, tidy } from '../src/index.js';
import { createOrtMatmul } from './onnx-matmul.js';

const json = process.argv.includes('--json');
const quick = process.argv.includes('--quick');

function median(xs: number[]): number {
  const s = xs.slice().sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}

async function benchMatmul(n: number, reps: number) {
  manualSeed(n);
  const a = randn([n, n]);
  const b = randn([n, n]);
  const ad = a.dataSync() as Float32Array;
  const bd = b.dataSync() as Float32Array;
  const ort = await createOrtMatmul(n, n, n, { threads: 1 });
  const ours: number[] = [];
  const theirs: number[] = [];
  matmul(a, b).dispose();
  await ort.run(ad, bd);
  for (let r = 0; r < reps; r++) {
    let t = performance.now();
    matmul(a, b).dispose();
    ours.push(performance.now() - t);
    t = performance.now();
    await ort.run(ad, bd);
    theirs.push(performance.now() - t);
  }
  await ort.release();
  const flop = 2 * n ** 3;
  const gOurs = flop / (median(ours) / 1e3) / 1e9;
  const gOrt = flop / (median(theirs) / 1e3) / 1e9;
  return {
    n,
    oursGflops: gOurs,
    ortGflops: gOrt,
    ratio: gOurs / gOrt,
    oursMs: median(ours),
    ortMs: median(theirs),
  };
}

/** One Adam step of a 2-layer MLP (784 → 256 → 10, batch 128) with cross-entropy. */
function benchMlp(reps: number) {
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
      const loss = nn.crossEntropy(model.forward(x), y);
      loss.backward();
      opt.step();
    });
  step();
  const times: number[] = [];
  for (let r = 0; r < reps; r++) {
    const t = performance.now();
    step();
    times.push(performance.now() - t);
  }
  // forward 2·b·(in·h + h·out), backward twice that
  const flop = 3 * 2 * batch * (dIn * dHidden + dHidden * dOut);
  const ms = median(times);
  return { batch, dIn, dHidden, dOut, stepMs: ms, gflops: flop / (ms / 1e3) / 1e9 };
}

const sizes = quick ? [256] : [256, 512, 1024];
const matmuls = [];
for (const n of sizes) matmuls.push(await benchMatmul(n, n >= 1024 ? 3 : n >= 512 ? 7 : 15));
const mlp = benchMlp(quick ? 5 : 20);

if (json) {
  console.log(JSON.stringify({ matmul: matmuls, mlpStep: mlp }));
} else {
  console.log('matmul, float32, single-threaded (median)');
  console.log('   size   recur GFLOP/s   onnxruntime GFLOP/s   recur / onnxruntime');
  for (const r of matmuls) {
    console.log(
      `${`${r.n}³`.padStart(7)} ${r.oursGflops.toFixed(2).padStart(15)} ${r.ortGflops.toFixed(1).padStart(21)} ${`${(r.ratio * 100).toFixed(2)} %`.padStart(21)}`,
    );
  }
  console.log(
    `\nMLP training step (${mlp.dIn}→${mlp.dHidden}→${mlp.dOut}, batch ${mlp.batch}, Adam): ${mlp.stepMs.toFixed(1)} ms/step, ${mlp.gflops.toFixed(2)} GFLOP/s effective`,
  );
}
