/**
 * `pnpm bench`: the CPU scan kernels over 2^20 positions against a plain copy of the same bytes in the
 * same run — the memory-bound limit of a pass that reads its input once and writes its output once.
 *
 * - cumsum: scan(add) over [16, 65536], in elements per second;
 * - attention: the fused sequential kernel (scan(attention) over (m, u, w) with d = 64) and the
 *   whole attentionScan(scores [16, 65536], values [16, 65536, 64]), in positions·d per second.
 *
 * The CPU backend computes eagerly, so a scan is timed without reading its result back (dataSync
 * would add a copy). Each repetition times the scan and then the copy, so load from other processes hits both alike; the
 * medians' ratio is the figure to read, absolute rates are notes. `--quick` runs fewer repetitions;
 * `--json` prints one JSON object instead of the table.
 */
import { onesLike, tensor, tidy } from '@recur/tensor';
import { add, attention, attentionScan, scan } from '../src/index.js';

const json = process.argv.includes('--json');
const quick = process.argv.includes('--quick');

const POSITIONS = 1 << 20;
const OUTER = 16;
const T = POSITIONS / OUTER;
const D = 64;

function median(xs: number[]): number {
  const s = xs.slice().sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}

/** Seeded uniform values in [lo, hi) (a fast LCG: the values only need to be varied). */
function fill(n: number, lo: number, hi: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = lo + ((hi - lo) * s) / 4294967296;
  }
  return out;
}

interface Row {
  name: string;
  /** Elements (cumsum) or positions·d (attention) per scan. */
  elements: number;
  scanMs: number;
  copySetMs: number;
  copySliceMs: number;
  /** Elements per second of the scan and of copying the same bytes with set(). */
  scanRate: number;
  copyRate: number;
  /** scan rate / copy rate (set), the figure to read. */
  ratio: number;
  ratioSlice: number;
}

/** Times `run` and a copy of `bytes` (set into a preallocated array, and slice) alternately. */
function measure(
  name: string,
  elements: number,
  src: Float32Array,
  run: () => void,
  reps: number,
): Row {
  const dst = new Float32Array(src.length);
  run(); // warm up (JIT, allocator)
  dst.set(src);
  src.slice();
  const scanT: number[] = [];
  const setT: number[] = [];
  const sliceT: number[] = [];
  for (let r = 0; r < reps; r++) {
    let t = performance.now();
    run();
    scanT.push(performance.now() - t);
    t = performance.now();
    dst.set(src);
    setT.push(performance.now() - t);
    t = performance.now();
    const copy = src.slice();
    sliceT.push(performance.now() - t);
    if (copy[0] !== src[0]) throw new Error('copy failed');
  }
  const scanMs = median(scanT);
  const copySetMs = median(setT);
  const copySliceMs = median(sliceT);
  const scanRate = elements / (scanMs / 1e3);
  const copyRate = src.length / (copySetMs / 1e3);
  return {
    name,
    elements,
    scanMs,
    copySetMs,
    copySliceMs,
    scanRate,
    copyRate,
    ratio: copySetMs / scanMs,
    ratioSlice: copySliceMs / scanMs,
  };
}

const rows: Row[] = [];

// ---- cumsum ------------------------------------------------------------------------------------
{
  const data = fill(POSITIONS, -1, 1, 1);
  const x = tensor(data, { shape: [OUTER, T] });
  rows.push(
    measure(
      `cumsum: scan(add) [${OUTER}, ${T}]`,
      POSITIONS,
      data,
      () => tidy(() => void scan(add, [x])),
      quick ? 5 : 21,
    ),
  );
  x.dispose();
}

// ---- attention -----------------------------------------------------------------------------------
{
  const scores = fill(POSITIONS, -20, 20, 2);
  const values = fill(POSITIONS * D, -1, 1, 3);
  const s = tensor(scores, { shape: [OUTER, T] });
  const v = tensor(values, { shape: [OUTER, T, D] });
  const m = s.reshape([OUTER, T, 1]);
  const u = onesLike(m);
  const reps = quick ? 3 : 7;
  rows.push(
    measure(
      `attention kernel: scan(attention, sequential) d=${D}`,
      POSITIONS * D,
      values,
      () => tidy(() => void scan(attention, [m, u, v], { algorithm: 'sequential' })),
      reps,
    ),
  );
  rows.push(
    measure(
      `attentionScan(scores [${OUTER}, ${T}], values [${OUTER}, ${T}, ${D}])`,
      POSITIONS * D,
      values,
      () => tidy(() => void attentionScan(s, v)),
      reps,
    ),
  );
  for (const t of [s, v, m, u]) t.dispose();
}

if (json) {
  console.log(JSON.stringify({ positions: POSITIONS, rows }));
} else {
  const fmt = (x: number) => `${(x / 1e6).toFixed(0)} M/s`;
  console.log(`scan vs a plain copy of the same bytes, ${POSITIONS} positions, median of repeats`);
  console.log(
    '(ratio = scan rate / copy rate; copy = Float32Array.prototype.set into a preallocated array,',
  );
  console.log(' slice = the same with allocation, as the scan allocates its output)\n');
  for (const r of rows) {
    console.log(r.name);
    console.log(
      `  scan ${r.scanMs.toFixed(1)} ms (${fmt(r.scanRate)} elements)  copy ${r.copySetMs.toFixed(1)} ms (${fmt(r.copyRate)})  slice ${r.copySliceMs.toFixed(1)} ms`,
    );
    console.log(
      `  ratio vs copy: ${(100 * r.ratio).toFixed(1)} %   vs slice: ${(100 * r.ratioSlice).toFixed(1)} %`,
    );
  }
}
