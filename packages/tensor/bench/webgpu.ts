/**
 * `pnpm bench:webgpu`: matmul, an elementwise chain and a reduction on the webgpu backend and on the
 * CPU, in one run, alternating between them. GPU times include the read back of the result (an
 * `await t.data()`), which is what a caller waits for. On a machine without a GPU the adapter is
 * Mesa's llvmpipe (software), which is slower than the CPU backend; the same script prints real
 * GPU numbers where there is one. `--json` prints one JSON object; `--quick` runs smaller sizes.
 */

import { timeAlternating } from '@recur/bench';
import type { WebGPUBackend } from '../src/backends/webgpu/index.js';
import {
  getBackend,
  initBackend,
  manualSeed,
  matmul,
  randn,
  type Tensor,
  tidy,
} from '../src/index.js';

const json = process.argv.includes('--json');
const quick = process.argv.includes('--quick');

interface Row {
  name: string;
  cpuMs: number;
  gpuMs: number;
  /** cpu time / gpu time: above 1, the GPU is faster. */
  speedup: number;
  gflopsCpu?: number;
  gflopsGpu?: number;
}

/** Runs `run` and waits for its result on the host (what a caller waits for), then disposes it. */
async function readBack(run: () => Tensor): Promise<void> {
  const y = run();
  await y.data();
  y.dispose();
}

async function bench(
  name: string,
  make: (backend: string) => Tensor[],
  op: (...xs: Tensor[]) => Tensor,
  reps: number,
  flop?: number,
): Promise<Row> {
  const cpuIn = make('cpu');
  const gpuIn = await Promise.all(cpuIn.map((t) => t.toAsync('webgpu')));
  const run = (xs: Tensor[]) => () => tidy(() => op(...xs));
  // The warm-up round compiles the GPU pipelines and fills the buffer pool.
  const { cpu: cpuMs, gpu: gpuMs } = await timeAlternating(
    { cpu: () => readBack(run(cpuIn)), gpu: () => readBack(run(gpuIn)) },
    reps,
  );
  for (const t of [...cpuIn, ...gpuIn]) t.dispose();
  const row: Row = { name, cpuMs, gpuMs, speedup: cpuMs / gpuMs };
  if (flop) {
    row.gflopsCpu = flop / (cpuMs / 1e3) / 1e9;
    row.gflopsGpu = flop / (gpuMs / 1e3) / 1e9;
  }
  return row;
}

await initBackend('webgpu');
const gpu = getBackend('webgpu') as WebGPUBackend;
manualSeed(0);
const rows: Row[] = [];
for (const n of quick ? [128, 256] : [256, 512]) {
  rows.push(
    await bench(
      `matmul ${n}³`,
      (b) => [randn([n, n], { backend: b }), randn([n, n], { backend: b })],
      (a, b) => matmul(a as Tensor, b as Tensor),
      quick ? 3 : 5,
      2 * n ** 3,
    ),
  );
}
const size = quick ? 1 << 18 : 1 << 20;
rows.push(
  await bench(
    `elementwise (x·y + 1).tanh().exp() on ${size}`,
    (b) => [randn([size], { backend: b }), randn([size], { backend: b })],
    (x, y) =>
      (x as Tensor)
        .mul(y as Tensor)
        .add(1)
        .tanh()
        .exp(),
    5,
  ),
);
rows.push(
  await bench(
    `sum over the last axis of [1024, ${size / 1024}]`,
    (b) => [randn([1024, size / 1024], { backend: b })],
    (x) => (x as Tensor).sum(-1),
    5,
  ),
);
rows.push(
  await bench(
    `softmax over the last axis of [256, ${size / 256}]`,
    (b) => [randn([256, size / 256], { backend: b })],
    (x) => (x as Tensor).softmax(-1),
    5,
  ),
);

if (json) {
  console.log(JSON.stringify({ adapter: gpu.adapterName, source: gpu.source, rows }));
} else {
  console.log(`webgpu adapter: ${gpu.adapterName} (${gpu.source})`);
  console.log('times are medians; gpu includes reading the result back; speedup = cpu / gpu');
  for (const r of rows) {
    const g =
      r.gflopsCpu !== undefined
        ? `  cpu ${r.gflopsCpu.toFixed(2)} GFLOP/s, gpu ${(r.gflopsGpu as number).toFixed(2)} GFLOP/s`
        : '';
    console.log(
      `${r.name.padEnd(48)} cpu ${r.cpuMs.toFixed(2).padStart(9)} ms  gpu ${r.gpuMs.toFixed(2).padStart(9)} ms  speedup ${r.speedup.toFixed(2)}×${g}`,
    );
  }
}
gpu.destroy();
