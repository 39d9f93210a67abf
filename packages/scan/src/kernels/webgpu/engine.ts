import {
  type Binding,
  type GPUTensorBuffer,
  type KernelInput,
  runProgram,
  SPECIAL_VALUES_WGSL,
  TensorError,
  type WebGPUBackend,
} from '@recur/tensor/kernels';

/**
 * Reduce-then-scan on WebGPU: the scan engine every WebGPU kernel of this package is built from.
 *
 * A scan runs over `lines` independent sequences (the [outer, T, inner] layout: line ℓ = o·inner + k,
 * position t at (o·T + t)·inner + k) under an associative `combine` on a WGSL `struct Elem`:
 *
 * 1. reduce: each workgroup reduces one block of BLOCK = ROWS·K positions of LANES lines into one
 *    aggregate per line (each thread folds K consecutive elements, then an up-sweep in workgroup
 *    memory), giving a sequence of ⌈T / BLOCK⌉ aggregates per line;
 * 2. the aggregates are scanned the same way, recursively (reduce again while a level has more than
 *    one block, then exclusive scans from the top level down), so any length works;
 * 3. scan: each block is scanned with its exclusive prefix (the scanned aggregate of the blocks
 *    before it, the line's carry folded in at the top) as carry-in, and the inclusive result at
 *    every position goes to the program's `emit`.
 *
 * The workgroup scan is Blelloch's work-efficient up-sweep/down-sweep over the ROWS thread
 * aggregates of each lane (order-preserving: combine need not commute). Every dispatch only reads
 * what an earlier dispatch wrote, so nothing waits on another workgroup: no single-pass look-back,
 * which can deadlock on GPUs without forward-progress guarantees. Each invocation loops at most K
 * times (llvmpipe stops an invocation after 65,535 loop iterations), whatever T is.
 *
 * A reverse scan reads position T − 1 − j as its j-th element (the aggregates are in scan order).
 */

/** The raw GPUBuffer inside a GPUTensorBuffer. */
export type RawBuffer = GPUTensorBuffer['buffer'];

/**
 * WGSL helpers available to every kernel and to an operator's `wgsl` (so its combine can name them):
 * `inf()`, `nan()`, `is_nan(x)`, `is_neg_inf(x)`, `is_finite(x)` (the kit's SPECIAL_VALUES_WGSL),
 * `exp_diff(a, b)` (e^{a−b} with 0 when a = −inf and NaN when either is NaN, never evaluating
 * −inf − (−inf)), `log1p_(y)` (log(1 + y), accurate for small y).
 */
export const PRELUDE = `${SPECIAL_VALUES_WGSL}
fn exp_diff(a: f32, b: f32) -> f32 {
  if (is_neg_inf(a)) { return 0.0; }
  let x = a - b;
  if (is_nan(x)) { return nan(); }
  if (x < -104.0) { return 0.0; }
  return exp(x);
}
fn log1p_(y: f32) -> f32 {
  let v = 1.0 + y;
  if (v == 1.0) { return y; }
  return log(v) * (y / (v - 1.0));
}
`;

/**
 * What one scan computes, as WGSL. `load` defines `fn leaf(o: u32, k: u32, t: u32) -> Elem` (the
 * element at position t of line (o, k)) and `store` defines `fn emit(o: u32, k: u32, t: u32, e: Elem)`
 * (given the inclusive scan at t); both may read `rs_pu(1u)` (T) and `rs_pu(2u)` (inner) and the
 * program's buffers, bound in `buffers` order.
 */
export interface ScanProgram {
  /** A unique name for the pipeline cache (with everything that changes the WGSL). */
  readonly key: string;
  /** WGSL: `struct Elem` (32-bit scalar fields only), `fn identity() -> Elem`, `fn combine(a, b)`. */
  readonly elem: string;
  /** 32-bit words per Elem (its field count). */
  readonly elemWords: number;
  readonly buffers: readonly Binding[];
  readonly load: string;
  readonly store: string;
  readonly reverse: boolean;
}

export interface LineLayout {
  readonly outer: number;
  readonly length: number;
  readonly inner: number;
}

interface Tile {
  readonly lanes: number;
  readonly rows: number;
  readonly k: number;
}

/** Test hook: smaller blocks, so short sequences exercise several levels. */
let tiling: { k?: number; maxRows?: number } = {};

/**
 * Overrides the block shape (elements per thread `k`, at most `maxRows` threads along the sequence)
 * for tests, so that short sequences run through several levels of aggregates. Returns the previous
 * setting. Not exported from the package.
 */
export function setScanTiling(t: { k?: number; maxRows?: number }): {
  k?: number;
  maxRows?: number;
} {
  const before = tiling;
  tiling = { ...t };
  return before;
}

const pow2ceil = (n: number): number => 2 ** Math.ceil(Math.log2(Math.max(1, n)));
const pow2floor = (n: number): number => 2 ** Math.floor(Math.log2(Math.max(1, n)));

/**
 * The block shape for sequences of length n: K elements per thread, ROWS threads along the sequence
 * (enough for n where n is short, so short lines need one level), LANES = WG / ROWS lines side by
 * side (at least 8 consecutive inner indices where inner allows: neighbouring threads then read
 * neighbouring addresses).
 */
function tileFor(gpu: WebGPUBackend, n: number, inner: number): Tile {
  const wg = pow2floor(gpu.workgroupSize);
  const k = tiling.k ?? 8;
  const minLanes = Math.min(8, pow2ceil(inner), wg);
  const rows = Math.max(
    1,
    Math.min(pow2ceil(Math.ceil(n / k)), wg / minLanes, tiling.maxRows ?? wg),
  );
  return { lanes: wg / rows, rows, k };
}

type Source = 'leaf' | 'agg';
type Mode = 'reduce' | 'scan';

/**
 * The WGSL of one pass. `src`: the elements are the program's leaves (level 0) or an Elem array
 * `rs_agg` laid out [outer, n, inner] (a level of aggregates). `reduce` writes each block's aggregate
 * to `rs_agg_out` [outer, nb, inner]; `scan` writes the inclusive result through `emit` (leaves) or the
 * exclusive prefix in place (aggregates), with carry-in `rs_parent[o, b, k]` (the exclusive prefix of
 * the block, or the line's carry at the top) when there is one, and `final[ℓ]` the line's total.
 * The pass's buffers: the program's (leaves) or `rs_agg`, then `rs_agg_out` / `rs_parent` /
 * `rs_final` as it has them.
 */
function passBindings(
  program: ScanProgram,
  src: Source,
  mode: Mode,
  parent: boolean,
  final: boolean,
): Binding[] {
  const bindings: Binding[] = [];
  if (src === 'leaf') bindings.push(...program.buffers);
  else bindings.push({ name: 'rs_agg', type: 'Elem', write: mode === 'scan' });
  if (mode === 'reduce') bindings.push({ name: 'rs_agg_out', type: 'Elem', write: true });
  if (mode === 'scan' && parent) bindings.push({ name: 'rs_parent', type: 'Elem' });
  if (mode === 'scan' && final) bindings.push({ name: 'rs_final', type: 'Elem', write: true });
  return bindings;
}

/** The body of one pass's entry point (see passBindings). */
function passMain(
  program: ScanProgram,
  src: Source,
  mode: Mode,
  tile: Tile,
  parent: boolean,
  final: boolean,
): string {
  const { lanes, rows, k: per } = tile;
  const at = (j: string) => (program.reverse && src === 'leaf' ? `(n - 1u - (${j}))` : `(${j})`);
  const load = src === 'leaf' ? `leaf(o, k, ${at('j')})` : 'rs_agg[(o * n + j) * inner + k]';
  const up: string[] = [];
  for (let s = 1; s < rows; s *= 2) {
    up.push(`  workgroupBarrier();
  if (((row + 1u) % ${2 * s}u) == 0u) { rs_sh[lid] = combine(rs_sh[lid - ${s * lanes}u], rs_sh[lid]); }`);
  }
  const down: string[] = [];
  for (let s = rows / 2; s >= 1; s /= 2) {
    down.push(`  workgroupBarrier();
  if (((row + 1u) % ${2 * s}u) == 0u) {
    let l = lid - ${s * lanes}u;
    let left = rs_sh[l];
    rs_sh[l] = rs_sh[lid];
    rs_sh[lid] = combine(rs_sh[lid], left);
  }`);
  }
  let tail: string;
  if (mode === 'reduce') {
    tail = `${up.join('\n')}
  workgroupBarrier();
  if (live && row == ${rows - 1}u) { rs_agg_out[(o * nb + b) * inner + k] = rs_sh[lid]; }`;
  } else {
    const step =
      src === 'leaf'
        ? `run = combine(run, xs[q]); emit(o, k, ${at('j')}, run);`
        : 'rs_agg[(o * n + j) * inner + k] = run; run = combine(run, xs[q]);';
    tail = `${up.join('\n')}
  workgroupBarrier();
  if (row == ${rows - 1}u) { rs_sh[lid] = identity(); }
${down.join('\n')}
  workgroupBarrier();
  if (!live) { return; }
  var run = ${parent ? 'combine(rs_parent[(o * nb + b) * inner + k], rs_sh[lid])' : 'rs_sh[lid]'};
  for (var q = 0u; q < ${per}u; q = q + 1u) {
    let j = j0 + q;
    if (j < n) {
      ${step}
      ${final ? 'if (j == n - 1u) { rs_final[line] = run; }' : ''}
    }
  }`;
  }
  return `  let lines = rs_pu(0u);
  let n = rs_pu(1u);
  let inner = rs_pu(2u);
  let nb = rs_pu(3u);
  let g = wid.y * nwg.x + wid.x;
  let b = g % nb;
  let lane = lid % ${lanes}u;
  let row = lid / ${lanes}u;
  let line = (g / nb) * ${lanes}u + lane;
  let live = line < lines;
  let o = line / inner;
  let k = line % inner;
  let j0 = b * ${rows * per}u + row * ${per}u;
  var xs: array<Elem, ${per}>;
  var acc = identity();
  for (var q = 0u; q < ${per}u; q = q + 1u) {
    let j = j0 + q;
    var x = identity();
    if (live && j < n) { x = ${load}; }
    xs[q] = x;
    acc = combine(acc, x);
  }
  rs_sh[lid] = acc;
${tail}`;
}

/**
 * Runs one pass. `buffers` follow the pass's bindings (program buffers, then agg / agg_out /
 * parent / final as the pass has them).
 */
function pass(
  gpu: WebGPUBackend,
  program: ScanProgram,
  src: Source,
  mode: Mode,
  n: number,
  lanesTotal: number,
  inner: number,
  buffers: readonly RawBuffer[],
  parent: boolean,
  final: boolean,
): void {
  const tile = tileFor(gpu, n, inner);
  const block = tile.rows * tile.k;
  const nb = Math.ceil(n / block);
  const wg = tile.lanes * tile.rows;
  runProgram(
    gpu,
    {
      name: `scan:${program.key}|${src}|${mode}|${tile.lanes}x${tile.rows}x${tile.k}|${parent}|${final}`,
      prelude: `${PRELUDE}
${program.elem}
var<workgroup> rs_sh: array<Elem, ${wg}>;
${src === 'leaf' ? `${program.load}\n${program.store}` : ''}`,
      bindings: passBindings(program, src, mode, parent, final),
      main: () => passMain(program, src, mode, tile, parent, final),
      workgroups: Math.ceil(lanesTotal / tile.lanes) * nb,
      workgroupSize: wg,
      prefix: 'rs_',
    },
    [lanesTotal, n, inner, nb],
    buffers,
  );
}

/** Blocks at a level of length n (the next level's length). */
function blocksOf(gpu: WebGPUBackend, n: number, inner: number): number {
  const t = tileFor(gpu, n, inner);
  return Math.ceil(n / (t.rows * t.k));
}

/**
 * The inclusive scan of `program` along every line. `carry` (an Elem array [outer · inner]) is the
 * state before the first element; `final` (the same layout) receives the scan's last value per line.
 */
export function runScan(
  gpu: WebGPUBackend,
  program: ScanProgram,
  layout: LineLayout,
  buffers: readonly RawBuffer[],
  opts: { carry?: RawBuffer; final?: RawBuffer } = {},
): void {
  const { outer, length: T, inner } = layout;
  const lines = outer * inner;
  if (lines === 0 || T === 0) return;
  if (program.buffers.length + 2 > gpu.device.limits.maxStorageBuffersPerShaderStage) {
    throw new TensorError(
      'scan',
      `internal: ${program.key} binds ${program.buffers.length + 2} storage buffers, more than this adapter allows (${gpu.device.limits.maxStorageBuffersPerShaderStage})`,
    );
  }
  const elemBytes = program.elemWords * 4;
  // Level lengths: T, then the aggregates of each level while a level has more than one block.
  const lengths = [T];
  while (blocksOf(gpu, lengths[lengths.length - 1]!, inner) > 1) {
    lengths.push(blocksOf(gpu, lengths[lengths.length - 1]!, inner));
  }
  const aggs = lengths.slice(1).map((n) => gpu.alloc(outer * n * inner * elemBytes));
  const final = opts.final ? [opts.final] : [];
  // One pass of the program over a level of length n (every pass covers all lines).
  const run = (
    src: Source,
    mode: Mode,
    n: number,
    bufs: readonly RawBuffer[],
    parent: boolean,
    withFinal: boolean,
  ) => pass(gpu, program, src, mode, n, lines, inner, bufs, parent, withFinal);
  if (aggs.length === 0) {
    const carry = opts.carry ? [opts.carry] : [];
    run('leaf', 'scan', T, [...buffers, ...carry, ...final], !!opts.carry, !!opts.final);
    return;
  }
  // Up: level 0 → aggregates 1 → aggregates 2 → …
  run('leaf', 'reduce', T, [...buffers, aggs[0]!.buffer], false, false);
  for (let l = 1; l < aggs.length; l++) {
    run('agg', 'reduce', lengths[l]!, [aggs[l - 1]!.buffer, aggs[l]!.buffer], false, false);
  }
  // Down: the top level (one block per line, the carry as carry-in), each level with its parent's
  // exclusive prefixes, then the leaves.
  for (let l = aggs.length - 1; l >= 0; l--) {
    const parent = l === aggs.length - 1 ? opts.carry : aggs[l + 1]!.buffer;
    const bufs = [aggs[l]!.buffer, ...(parent ? [parent] : [])];
    run('agg', 'scan', lengths[l + 1]!, bufs, parent !== undefined, false);
  }
  run('leaf', 'scan', T, [...buffers, aggs[0]!.buffer, ...final], true, !!opts.final);
  // Released now, pooled again only once the commands that use them are submitted.
  for (const a of aggs) gpu.release(a);
}

/**
 * A 1-d kernel of `n` invocations (index `i`; the body returns for i >= n), with the Elem struct
 * of `elem` and the prelude in scope. params[0] must be n.
 */
export function run1d(
  gpu: WebGPUBackend,
  key: string,
  elem: string,
  bindings: readonly Binding[],
  body: string,
  params: readonly number[],
  buffers: readonly RawBuffer[],
): void {
  runProgram(
    gpu,
    {
      name: `scan:${key}`,
      prelude: `${PRELUDE}\n${elem}`,
      bindings,
      main: `  if (i >= rs_pu(0u)) { return; }\n${body}`,
      size: params[0]!,
      prefix: 'rs_',
    },
    params,
    buffers,
  );
}

/** Input `i` of a kernel; a kernel given fewer inputs than its layout needs is an error. */
export function inputAt(inputs: readonly KernelInput[], i: number): KernelInput {
  const x = inputs[i];
  if (!x) throw new TensorError('scan', `expected an input ${i}, got ${inputs.length} inputs`);
  return x;
}
