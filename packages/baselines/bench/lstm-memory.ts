/**
 * `pnpm bench:lstm`: LSTM(64, 64, 2 layers) forward + backward on [32, 315, 64] (the UWave shape):
 * peak live tensor bytes of the pass (memory().cpu.peakBytes, from the state before the forward) and
 * the backward's time against the forward's, measured in the same run. `--json` prints one object.
 */
import { manualSeed, memory, randn, resetPeakMemory, tidy } from '@recur/tensor';
import { LSTM } from '../src/index.js';

const json = process.argv.includes('--json');
const reps = Number(process.argv.find((a) => a.startsWith('--reps='))?.slice(7) ?? 3);
manualSeed(0);
const lstm = new LSTM({ inputSize: 64, hiddenSize: 64, numLayers: 2 });
const x = randn([32, 315, 64]);
const rows: { forwardMs: number; backwardMs: number; peakBytes: number }[] = [];
for (let r = 0; r < reps; r++) {
  const before = memory().cpu?.bytes ?? 0;
  resetPeakMemory();
  const t0 = performance.now();
  let t1 = 0;
  tidy(() => {
    const loss = lstm.forward(x).square().mean();
    loss.dataSync();
    t1 = performance.now();
    loss.backward();
  });
  const t2 = performance.now();
  rows.push({
    forwardMs: t1 - t0,
    backwardMs: t2 - t1,
    peakBytes: (memory().cpu?.peakBytes ?? 0) - before,
  });
  for (const p of lstm.parameters()) p.grad = null;
}
const best = rows.reduce((a, b) =>
  a.forwardMs + a.backwardMs <= b.forwardMs + b.backwardMs ? a : b,
);
const out = {
  shape: [32, 315, 64],
  node: process.version,
  forwardMs: best.forwardMs,
  backwardMs: best.backwardMs,
  backwardOverForward: best.backwardMs / best.forwardMs,
  peakMiB: Math.max(...rows.map((r) => r.peakBytes)) / 2 ** 20,
};
if (json) console.log(JSON.stringify(out));
else {
  console.log(`LSTM(64, 64, 2 layers) on [32, 315, 64], best of ${reps} (Node ${process.version})`);
  console.log(`  forward  ${out.forwardMs.toFixed(0)} ms`);
  console.log(
    `  backward ${out.backwardMs.toFixed(0)} ms (${out.backwardOverForward.toFixed(2)}× the forward)`,
  );
  console.log(`  peak live tensor bytes over the pass: ${out.peakMiB.toFixed(1)} MiB`);
}
