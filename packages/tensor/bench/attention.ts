/**
 * `pnpm bench:attention`: the fused softmaxAttention op alone, forward + backward, causal, at the
 * SelfRegulationSCP1 training shape per layer (q, k, v [32, 4, 896, 16]): the tiled kernel (tiles of
 * queries × keys through the WebAssembly GEMM, online softmax) against the row kernel it replaced
 * (setCpuKernels('js') turns the GEMM off, which sends this op to the row kernel; no other op runs
 * here). Alternated in one run; medians of `--reps` (default 3). Wall and process CPU time.
 * `--t N` / `--batch N` change the shape; `--json`.
 */
import { median } from '@recur/bench';
import { manualSeed, randn, setCpuKernels, softmaxAttention, tidy } from '../src/index.js';

const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};
const T = arg('--t', 896);
const B = arg('--batch', 32);
const reps = arg('--reps', 3);
const [H, D] = [4, 16];

manualSeed(0);
const q = randn([B, H, T, D]);
const k = randn([B, H, T, D]);
const v = randn([B, H, T, D]);
for (const t of [q, k, v]) t.requiresGrad = true;

function once(kernels: 'auto' | 'js') {
  setCpuKernels(kernels);
  for (const t of [q, k, v]) t.grad = null;
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  let fwd = 0;
  tidy(() => {
    const o = softmaxAttention(q, k, v, { causal: true });
    o.dataSync();
    fwd = performance.now() - t0;
    o.sum().backward();
    q.grad?.dataSync();
  });
  const c = process.cpuUsage(c0);
  return { fwdMs: fwd, ms: performance.now() - t0, cpuMs: (c.user + c.system) / 1000 };
}

const runs = { tiled: [] as ReturnType<typeof once>[], rows: [] as ReturnType<typeof once>[] };
once('auto'); // warm-up (JIT)
for (let r = 0; r < reps; r++) {
  runs.tiled.push(once('auto'));
  runs.rows.push(once('js'));
}
setCpuKernels('auto');
const sum = (rs: ReturnType<typeof once>[]) => ({
  fwdMs: median(rs.map((x) => x.fwdMs)),
  ms: median(rs.map((x) => x.ms)),
  cpuMs: median(rs.map((x) => x.cpuMs)),
});
const tiled = sum(runs.tiled);
const rows = sum(runs.rows);
const out = {
  shape: [B, H, T, D],
  tiled,
  rows,
  speedup: rows.ms / tiled.ms,
  cpuSpeedup: rows.cpuMs / tiled.cpuMs,
};
if (process.argv.includes('--json')) console.log(JSON.stringify(out));
else {
  console.log(`softmaxAttention forward + backward, causal, q k v [${out.shape.join(', ')}]`);
  for (const [name, r] of [
    ['tiled (WASM GEMM)', tiled],
    ['rows (plain JS)', rows],
  ] as const) {
    console.log(
      `  ${name.padEnd(18)} forward ${r.fwdMs.toFixed(0)} ms, forward + backward ${r.ms.toFixed(0)} ms (CPU ${r.cpuMs.toFixed(0)} ms)`,
    );
  }
  console.log(`  speed-up ${out.speedup.toFixed(2)}× wall, ${out.cpuSpeedup.toFixed(2)}× CPU`);
}
