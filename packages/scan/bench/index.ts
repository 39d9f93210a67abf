/**
 * `pnpm bench`: the CPU scan kernels over 2^20 positions against a plain copy of the same bytes in the
 * same run — the memory-bound limit of a pass that reads its input once and writes its output once.
 *
 * - cumsum: scan(add) over [16, 65536], in elements per second;
 * - attention: the fused sequential kernel (scan(attention) over (m, u, w) with d = 64, one score
 *   per position as in Aaren), and the whole attentionScan(scores [16, 65536], values
 *   [16, 65536, 64]), in positions·d per second; and the per-channel kernel (c = d = 64, causal
 *   AFT-simple) over 2^17 positions.
 *
 * Each attention row runs in up to four settings: the WebAssembly SIMD kernel or the JavaScript
 * loop, and the CPU backend's buffer pool on (outputs are disposed after each repetition, so the
 * next one reuses their memory: no page faults, one memset) or off (every output is freshly
 * allocated and page-faulted in).
 *
 * The CPU backend computes eagerly, so a scan is timed without reading its result back (dataSync
 * would add a copy). Each repetition times the scan, then a copy of the same bytes into an existing
 * array (`set`) and into a fresh one (`slice`), so load from other processes hits all three alike,
 * with a garbage collection before each (outside the timing); the medians' ratios are the figures
 * to read, absolute rates are notes. `--quick` runs fewer
 * repetitions; `--json` prints one JSON object instead of the table.
 */
import { fill, median } from '@recur/bench';
import { onesLike, setCpuPoolLimit, tensor, tidy } from '@recur/tensor';
import { add, attention, attentionScan, scan } from '../src/index.js';
import { attentionWasmActive, setAttentionWasm } from '../src/kernels/wasm/attention.js';

const json = process.argv.includes('--json');
const quick = process.argv.includes('--quick');

const POSITIONS = 1 << 20;
const OUTER = 16;
const T = POSITIONS / OUTER;
const D = 64;
/** Pool limit for the pooled settings: room for every output of attentionScan at this size. */
const POOL_BYTES = 2 ** 30;

/**
 * A full garbage collection where the bench runs with --expose-gc (`pnpm bench` does), outside the
 * timed regions: otherwise freeing the previous repetition's 256 MB garbage (the slice copy) lands
 * in whichever operation is timed next.
 */
const collect: () => void = (globalThis as { gc?: () => void }).gc ?? (() => {});

interface Setting {
  /** The WebAssembly SIMD kernel (else the JavaScript loop). */
  wasm: boolean;
  /** The CPU backend's buffer pool (else every output is a fresh allocation). */
  pool: boolean;
}

interface Row extends Setting {
  name: string;
  /** Elements (cumsum) or positions·d (attention) per scan. */
  elements: number;
  scanMs: number;
  copySetMs: number;
  copySliceMs: number;
  /** Elements per second of the scan and of copying the same bytes with set(). */
  scanRate: number;
  copyRate: number;
  /** scan rate / copy rate (set: into an existing array), the figure to read. */
  ratio: number;
  /** scan rate / rate of a copy into a fresh array (slice). */
  ratioSlice: number;
}

/** Runs `f` with the given setting, restoring the WebAssembly switch after. */
function withSetting<R>(s: Setting, f: () => R): R {
  const before = setAttentionWasm(s.wasm);
  setCpuPoolLimit(s.pool ? POOL_BYTES : 0);
  try {
    return f();
  } finally {
    setAttentionWasm(before);
  }
}

/** Times `run` and a copy of `src` (set into a preallocated array, and slice) alternately. */
function measure(
  name: string,
  elements: number,
  src: Float32Array,
  run: () => void,
  reps: number,
  setting: Setting = { wasm: true, pool: true },
): Row {
  return withSetting(setting, () => {
    const dst = new Float32Array(src.length);
    run(); // warm up (JIT, allocator, pool)
    dst.set(src);
    src.slice();
    const scanT: number[] = [];
    const setT: number[] = [];
    const sliceT: number[] = [];
    for (let r = 0; r < reps; r++) {
      collect();
      let t = performance.now();
      run();
      scanT.push(performance.now() - t);
      collect();
      t = performance.now();
      dst.set(src);
      setT.push(performance.now() - t);
      collect();
      t = performance.now();
      const copy = src.slice();
      sliceT.push(performance.now() - t);
      if (copy[0] !== src[0]) throw new Error('copy failed');
    }
    const scanMs = median(scanT);
    const copySetMs = median(setT);
    const copySliceMs = median(sliceT);
    return {
      name,
      ...setting,
      elements,
      scanMs,
      copySetMs,
      copySliceMs,
      scanRate: elements / (scanMs / 1e3),
      copyRate: src.length / (copySetMs / 1e3),
      ratio: copySetMs / scanMs,
      ratioSlice: copySliceMs / scanMs,
    };
  });
}

const SETTINGS: Setting[] = [
  { wasm: true, pool: true },
  { wasm: true, pool: false },
  { wasm: false, pool: true },
  { wasm: false, pool: false },
];

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

// ---- attention, one score per position (Aaren) --------------------------------------------------
{
  const scores = fill(POSITIONS, -20, 20, 2);
  const values = fill(POSITIONS * D, -1, 1, 3);
  const s = tensor(scores, { shape: [OUTER, T] });
  const v = tensor(values, { shape: [OUTER, T, D] });
  const m = s.reshape([OUTER, T, 1]);
  const u = onesLike(m);
  const reps = quick ? 3 : 7;
  for (const setting of SETTINGS) {
    rows.push(
      measure(
        `attention kernel: scan(attention, sequential) d=${D}`,
        POSITIONS * D,
        values,
        () => tidy(() => void scan(attention, [m, u, v], { algorithm: 'sequential' })),
        reps,
        setting,
      ),
    );
  }
  for (const setting of SETTINGS.filter((x) => x.pool)) {
    rows.push(
      measure(
        `attentionScan(scores [${OUTER}, ${T}], values [${OUTER}, ${T}, ${D}])`,
        POSITIONS * D,
        values,
        () => tidy(() => void attentionScan(s, v)),
        reps,
        setting,
      ),
    );
  }
  for (const t of [s, v, m, u]) t.dispose();
}

// ---- attention, one score per channel (causal AFT-simple) --------------------------------------
{
  const P = POSITIONS / 8;
  const scores = fill(P * D, -20, 20, 4);
  const values = fill(P * D, -1, 1, 5);
  const m = tensor(scores, { shape: [OUTER, P / OUTER, D] });
  const u = onesLike(m);
  const v = tensor(values, { shape: [OUTER, P / OUTER, D] });
  for (const setting of SETTINGS.filter((x) => x.pool)) {
    rows.push(
      measure(
        `attention kernel, per channel: scan(attention) c=d=${D}, ${P} positions`,
        P * D,
        values,
        () => tidy(() => void scan(attention, [m, u, v], { algorithm: 'sequential' })),
        quick ? 3 : 7,
        setting,
      ),
    );
  }
  for (const t of [m, u, v]) t.dispose();
}

if (json) {
  console.log(JSON.stringify({ positions: POSITIONS, wasmAvailable: attentionWasmActive(), rows }));
} else {
  const fmt = (x: number) => `${(x / 1e6).toFixed(0)} M/s`;
  const pct = (x: number) => `${(100 * x).toFixed(1)} %`;
  console.log(`scan vs a plain copy of the same bytes, ${POSITIONS} positions, median of repeats`);
  console.log(
    '(ratio = scan rate / copy rate; copy = Float32Array.prototype.set into an existing array,',
  );
  console.log(
    ' slice = a copy into a fresh array, which pays the page faults a fresh output does)',
  );
  console.log(`WebAssembly SIMD available: ${attentionWasmActive()}\n`);
  for (const r of rows) {
    const how = r.name.startsWith('cumsum')
      ? ''
      : `  [${r.wasm ? 'wasm' : 'js'}, ${r.pool ? 'pooled outputs' : 'fresh outputs'}]`;
    console.log(`${r.name}${how}`);
    console.log(
      `  scan ${r.scanMs.toFixed(1)} ms (${fmt(r.scanRate)} elements)  copy ${r.copySetMs.toFixed(1)} ms (${fmt(r.copyRate)})  slice ${r.copySliceMs.toFixed(1)} ms`,
    );
    console.log(`  ratio vs copy: ${pct(r.ratio)}   vs slice: ${pct(r.ratioSlice)}`);
  }
}
