/**
 * `pnpm bench:webgpu`: the scans on the webgpu backend and on the CPU in one run, alternating
 * between them, as ratios (cpu time / gpu time: above 1 the GPU is faster).
 *
 * - cumsum: scan(add) over [32, 32768] — on the GPU the tensor package's cumsum kernel (one thread
 *   walks each line), and the reduce-then-scan kernels generated from add's WGSL combine (the path
 *   sequences longer than one invocation may loop over take, and user operators with a `wgsl`);
 * - attention, one score per position (Aaren, d = 64): the fused scan(attention) kernel, and the
 *   whole attentionScan(scores, values); per channel (causal AFT-simple, c = d = 64);
 * - attentionScan forward + backward (autograd through the fused backward kernel).
 *
 * GPU times run from the first dispatch until the queue is idle (`await backend.sync()`), with no
 * read back; CPU times are the eager kernels'. The first run of each (pipeline compilation, pool
 * warm-up) is not timed. On a machine without a GPU the adapter is Mesa's llvmpipe (software, on
 * the same CPU cores), which is slower than the CPU backend; the same script prints real GPU numbers
 * where there is one. Absolute times are notes; `--quick` runs smaller sizes, `--json` prints JSON.
 */
import { fill, timeAlternating } from '@recur/bench';
import {
  getBackend,
  initBackend,
  onesLike,
  type Tensor,
  tensor,
  tidy,
  type WebGPUBackend,
} from '@recur/tensor';
import { add, attention, attentionScan, scan } from '../src/index.js';
import { wgslScan } from '../src/kernels/webgpu/generic.js';

const json = process.argv.includes('--json');
const quick = process.argv.includes('--quick');

await initBackend('webgpu');
const gpu = getBackend('webgpu') as WebGPUBackend;

interface Row {
  name: string;
  /** Elements (cumsum) or positions·d (attention) per run. */
  elements: number;
  cpuMs: number;
  gpuMs: number;
  /** cpu time / gpu time: above 1, the GPU is faster. */
  ratio: number;
}

/** Runs `op` (which returns the tensors it made) and waits for its backend, then disposes them. */
async function runOnce(backend: 'cpu' | 'webgpu', op: () => Tensor[]): Promise<void> {
  const ys = tidy(op);
  if (backend === 'webgpu') await gpu.sync();
  for (const y of ys) y.dispose();
}

async function bench(
  name: string,
  elements: number,
  inputs: { data: Float32Array; shape: number[] }[],
  cpuOp: (...xs: Tensor[]) => Tensor[],
  gpuOp: (...xs: Tensor[]) => Tensor[],
  reps: number,
): Promise<Row> {
  const cpuIn = inputs.map((x) => tensor(x.data, { shape: x.shape }));
  const gpuIn = inputs.map((x) => tensor(x.data, { shape: x.shape, backend: 'webgpu' }));
  await gpu.sync();
  const { cpu: cpuMs, webgpu: gpuMs } = await timeAlternating(
    {
      cpu: () => runOnce('cpu', () => cpuOp(...cpuIn)),
      webgpu: () => runOnce('webgpu', () => gpuOp(...gpuIn)),
    },
    reps,
  );
  for (const t of [...cpuIn, ...gpuIn]) t.dispose();
  const row = { name, elements, cpuMs, gpuMs, ratio: cpuMs / gpuMs };
  if (!json) {
    const rate = (ms: number) => `${(elements / (ms / 1e3) / 1e6).toFixed(0)} M/s`;
    console.log(name);
    console.log(
      `  cpu ${cpuMs.toFixed(1)} ms (${rate(cpuMs)})  webgpu ${gpuMs.toFixed(1)} ms (${rate(gpuMs)})  cpu/gpu ${row.ratio.toFixed(2)}`,
    );
  }
  return row;
}

const reps = quick ? 3 : 7;
const rows: Row[] = [];
if (!json) {
  console.log(`webgpu adapter: ${gpu.adapterName} (${gpu.source})`);
  console.log('ratio = cpu time / webgpu time, median of repeats, alternating\n');
}

// ---- cumsum ------------------------------------------------------------------------------------
{
  const [outer, T] = quick ? [16, 16384] : [32, 32768];
  const x = { data: fill(outer * T, -1, 1, 1), shape: [outer, T] };
  const cumsum = (t: Tensor) => scan(add, [t]).outputs;
  rows.push(
    await bench(`cumsum: scan(add) [${outer}, ${T}]`, outer * T, [x], cumsum, cumsum, reps),
  );
  rows.push(
    await bench(
      `cumsum: reduce-then-scan from add's WGSL [${outer}, ${T}] (cpu: scan(add))`,
      outer * T,
      [x],
      cumsum,
      (t) => wgslScan(add, [t], 1, undefined) as Tensor[],
      reps,
    ),
  );
}

// ---- attention ---------------------------------------------------------------------------------
{
  const D = 64;
  const [outer, T] = quick ? [8, 4096] : [16, 8192];
  const P = outer * T;
  const scores = { data: fill(P, -20, 20, 2), shape: [outer, T] };
  const values = { data: fill(P * D, -1, 1, 3), shape: [outer, T, D] };
  const kernel = (s: Tensor, v: Tensor) => {
    const m = s.reshape([outer, T, 1]);
    return scan(attention, [m, onesLike(m), v], { axis: 1 }).outputs;
  };
  rows.push(
    await bench(
      `attention kernel: scan(attention) [${outer}, ${T}], d = ${D}, one score per position`,
      P * D,
      [scores, values],
      kernel,
      kernel,
      reps,
    ),
  );
  const whole = (s: Tensor, v: Tensor) => [attentionScan(s, v).out];
  rows.push(
    await bench(
      `attentionScan(scores [${outer}, ${T}], values [${outer}, ${T}, ${D}])`,
      P * D,
      [scores, values],
      whole,
      whole,
      reps,
    ),
  );
  const channelScores = { data: fill(P * D, -20, 20, 4), shape: [outer, T, D] };
  const channel = (s: Tensor, v: Tensor) =>
    scan(attention, [s, onesLike(s), v], { axis: 1 }).outputs;
  rows.push(
    await bench(
      `attention kernel per channel: scan(attention) c = d = ${D}, [${outer}, ${T}]`,
      P * D,
      [channelScores, values],
      channel,
      channel,
      reps,
    ),
  );
  const backward = (s: Tensor, v: Tensor) => {
    const sg = s.detach();
    const vg = v.detach();
    sg.requiresGrad = true;
    vg.requiresGrad = true;
    attentionScan(sg, vg).out.sum().backward();
    return [sg.grad as Tensor, vg.grad as Tensor];
  };
  rows.push(
    await bench(
      `attentionScan forward + backward, [${outer}, ${T}], d = ${D}`,
      P * D,
      [scores, values],
      backward,
      backward,
      reps,
    ),
  );
}

if (json) console.log(JSON.stringify({ adapter: gpu.adapterName, rows }));
process.exit(0);
