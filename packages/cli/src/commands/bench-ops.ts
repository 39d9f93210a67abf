import { add, attentionScan, scan } from '@recur/scan';
import { manualSeed, matmul, nn, optim, randint, randn, tensor, tidy } from '@recur/tensor';
import { createOrtMatmul, loadOrt } from '../bench/onnx.js';
import type { Invocation } from '../cli.js';
import { OutputDir, writeJsonAtomic } from '../util/files.js';
import { fmtNumber, formatTable, type Reporter } from '../util/output.js';

function median(xs: number[]): number {
  const s = xs.slice().sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}

/** Seeded uniform values in [lo, hi) (an LCG: the values only need to vary). */
function fill(n: number, lo: number, hi: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = lo + ((hi - lo) * s) / 4294967296;
  }
  return out;
}

export interface MatmulRow {
  n: number;
  oursMs: number;
  oursGflops: number;
  ortMs: number | null;
  ortGflops: number | null;
  /** ours / onnxruntime throughput (null without onnxruntime). */
  ratio: number | null;
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

/**
 * `recur bench ops`: the package benchmarks in one report, measured side by side in this process —
 * @recur/tensor's matmul against onnxruntime's (one thread each, alternating runs), one Adam step of
 * an MLP, and @recur/scan's scans against a plain copy of the same bytes. Ratios are the figures to
 * read; absolute times are notes (the machine is shared).
 */
export async function benchOpsCommand(inv: Invocation, reporter: Reporter): Promise<number> {
  const quick = inv.options.quick ?? false;
  const { ort, reason } = await loadOrt();
  if (!ort)
    reporter.warn(
      `onnxruntime-node is not installed (${reason}); matmul is reported without the onnxruntime yardstick`,
    );

  // ---- matmul
  const matmuls: MatmulRow[] = [];
  const sizes = quick ? [128, 256] : [256, 512, 1024];
  for (const n of sizes) {
    const reps = n >= 1024 ? 3 : n >= 512 ? 7 : quick ? 5 : 15;
    manualSeed(n);
    const a = randn([n, n]);
    const b = randn([n, n]);
    const ad = a.dataSync() as Float32Array;
    const bd = b.dataSync() as Float32Array;
    const session = ort ? await createOrtMatmul(ort, n) : null;
    matmul(a, b).dispose();
    if (session) await session.run(ad, bd);
    const ours: number[] = [];
    const theirs: number[] = [];
    for (let r = 0; r < reps; r++) {
      let t = performance.now();
      matmul(a, b).dispose();
      ours.push(performance.now() - t);
      if (session) {
        t = performance.now();
        await session.run(ad, bd);
        theirs.push(performance.now() - t);
      }
    }
    await session?.release();
    a.dispose();
    b.dispose();
    const flop = 2 * n ** 3;
    const oursMs = median(ours);
    const ortMs = session ? median(theirs) : null;
    const oursGflops = flop / (oursMs / 1e3) / 1e9;
    const ortGflops = ortMs === null ? null : flop / (ortMs / 1e3) / 1e9;
    matmuls.push({
      n,
      oursMs,
      oursGflops,
      ortMs,
      ortGflops,
      ratio: ortGflops === null ? null : oursGflops / ortGflops,
    });
    reporter.event('matmul', { ...matmuls[matmuls.length - 1] });
  }

  // ---- MLP training step
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
  const stepOnce = () =>
    tidy(() => {
      opt.zeroGrad();
      nn.crossEntropy(mlp.forward(x), y).backward();
      opt.step();
    });
  stepOnce();
  const stepTimes: number[] = [];
  for (let r = 0; r < (quick ? 5 : 20); r++) {
    const t = performance.now();
    stepOnce();
    stepTimes.push(performance.now() - t);
  }
  const mlpMs = median(stepTimes);
  const mlpFlop = 3 * 2 * batch * (dIn * dHidden + dHidden * dOut);
  const mlpRow = {
    batch,
    dIn,
    dHidden,
    dOut,
    stepMs: mlpMs,
    gflops: mlpFlop / (mlpMs / 1e3) / 1e9,
  };
  reporter.event('mlp', mlpRow);

  // ---- scans against a copy
  const positions = quick ? 1 << 16 : 1 << 20;
  const outer = 16;
  const t = positions / outer;
  const d = 64;
  const scans: ScanRow[] = [];
  const measure = (
    name: string,
    elements: number,
    src: Float32Array,
    run: () => void,
    reps: number,
  ) => {
    const dst = new Float32Array(src.length);
    run();
    dst.set(src);
    const sT: number[] = [];
    const cT: number[] = [];
    for (let r = 0; r < reps; r++) {
      let t0 = performance.now();
      run();
      sT.push(performance.now() - t0);
      t0 = performance.now();
      dst.set(src);
      cT.push(performance.now() - t0);
    }
    const scanMs = median(sT);
    const copyMs = median(cT);
    scans.push({
      name,
      elements,
      scanMs,
      copyMs,
      rate: elements / (scanMs / 1e3),
      ratio: copyMs / scanMs,
    });
    reporter.event('scan', { ...scans[scans.length - 1] });
  };
  {
    const data = fill(positions, -1, 1, 1);
    const xs = tensor(data, { shape: [outer, t] });
    measure(
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
    measure(
      `attentionScan(scores [${outer}, ${t}], values [${outer}, ${t}, ${d}])`,
      positions * d,
      values,
      () => tidy(() => void attentionScan(s, v)),
      quick ? 3 : 7,
    );
    s.dispose();
    v.dispose();
  }

  reporter.heading('matmul, float32, one thread (median)');
  reporter.print(
    formatTable(
      ['n', 'recur ms', 'recur GFLOP/s', 'onnxruntime ms', 'onnxruntime GFLOP/s', 'recur / ort'],
      matmuls.map((r) => [
        r.n,
        fmtNumber(r.oursMs, 3),
        fmtNumber(r.oursGflops, 3),
        r.ortMs === null ? '-' : fmtNumber(r.ortMs, 3),
        r.ortGflops === null ? '-' : fmtNumber(r.ortGflops, 3),
        r.ratio === null ? '-' : fmtNumber(r.ratio, 3),
      ]),
    ),
  );
  reporter.heading(`MLP training step (${dIn}→${dHidden}→${dOut}, batch ${batch}, Adam)`);
  reporter.print(`${fmtNumber(mlpMs, 3)} ms per step, ${fmtNumber(mlpRow.gflops, 3)} GFLOP/s`);
  reporter.heading('scans against a copy of the same bytes (median)');
  reporter.print(
    formatTable(
      ['scan', 'elements', 'scan ms', 'copy ms', 'elements/s', 'copy / scan'],
      scans.map((r) => [
        r.name,
        r.elements,
        fmtNumber(r.scanMs, 3),
        fmtNumber(r.copyMs, 3),
        fmtNumber(r.rate, 3),
        fmtNumber(r.ratio, 3),
      ]),
    ),
  );
  const summary = { quick, onnxruntime: ort !== null, matmul: matmuls, mlpStep: mlpRow, scans };
  if (inv.options.out) {
    const dir = new OutputDir(inv.options.out).create();
    writeJsonAtomic(dir.file('ops.json'), summary);
    dir.keep();
    reporter.print(`\nnumbers: ${dir.file('ops.json')}`);
  }
  reporter.result({ event: 'result', ...summary });
  return 0;
}
