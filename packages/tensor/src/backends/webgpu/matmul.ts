import {
  type Binding,
  checkLoop,
  header,
  loopRange,
  output,
  runProgram,
  wt,
} from '../../kernel-kit/webgpu.js';
import { registerKernel } from '../../kernels.js';
import type { MatmulOp } from '../../ops/matmul.js';
import { broadcastStrides, sizeOf } from '../../shape.js';
import { bufOf, gpuOf } from './backend.js';

/**
 * Batched op(A)·op(B) with broadcast batch axes.
 *
 * The tiled kernel: a workgroup of S×S threads (S = 16, or 8 where the device allows fewer than 256
 * invocations) computes a 4S×4S tile of C, each thread a 4×4 block (rows ty + S·r, columns tx + S·c),
 * stepping through K in slices of 16 staged in workgroup memory. Loads of A and B are laid out so
 * that neighbouring threads read neighbouring addresses for either transpose. One batch matrix per
 * workgroup z. Products with fewer than 16 rows or columns (vectors, single tokens) take a direct
 * kernel: one thread per output element walking K.
 *
 * Accumulation is in the output dtype (float32, or wrapping int32 for int32 products).
 */

const BK = 16;
/** Largest dispatch along z; more batch matrices are split over several dispatches. */
const MAX_Z = 65535;

function batchCode(rank: number, at: number): string {
  // params at `at`: batch shape, A strides, B strides (in matrices), each `rank` words.
  const lines = ['var rem = z;', 'var ia = 0u;', 'var ib = 0u;'];
  for (let d = rank - 1; d >= 0; d--) {
    lines.push(
      `{ let c = rem % pu(${at + d}u); rem = rem / pu(${at + d}u); ia = ia + c * pu(${at + rank + d}u); ib = ib + c * pu(${at + 2 * rank + d}u); }`,
    );
  }
  return lines.join('\n  ');
}

// Long because it is WGSL: the function is one shader template (tile loads, the k loop, stores).
function tiledSource(
  t: 'f32' | 'i32',
  transA: boolean,
  transB: boolean,
  rank: number,
  s: number,
): string {
  const tile = 4 * s;
  const threads = s * s;
  const loads = (BK * tile) / threads;
  // Element e of a tile load → (row-of-op, k) for A, (k, col) for B, contiguous in memory.
  const aLoad = transA
    ? `let kk = e / ${tile}u; let m = e % ${tile}u;
      let gm = row0 + m; let gk = k0 + kk;
      var v = ${t}(0);
      if (gm < M && gk < K) { v = a[aOff + gk * M + gm]; }
      As[kk * ${tile}u + m] = v;`
    : `let m = e / ${BK}u; let kk = e % ${BK}u;
      let gm = row0 + m; let gk = k0 + kk;
      var v = ${t}(0);
      if (gm < M && gk < K) { v = a[aOff + gm * K + gk]; }
      As[kk * ${tile}u + m] = v;`;
  const bLoad = transB
    ? `let n = e / ${BK}u; let kk = e % ${BK}u;
      let gn = col0 + n; let gk = k0 + kk;
      var v = ${t}(0);
      if (gn < N && gk < K) { v = b[bOff + gn * K + gk]; }
      Bs[kk * ${tile}u + n] = v;`
    : `let kk = e / ${tile}u; let n = e % ${tile}u;
      let gn = col0 + n; let gk = k0 + kk;
      var v = ${t}(0);
      if (gn < N && gk < K) { v = b[bOff + gk * N + gn]; }
      Bs[kk * ${tile}u + n] = v;`;
  return `${header(5 + 3 * rank, abOut(t))}
var<workgroup> As: array<${t}, ${BK * tile}>;
var<workgroup> Bs: array<${t}, ${BK * tile}>;
@compute @workgroup_size(${s}, ${s})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let M = pu(0u); let N = pu(1u); let K = pu(2u);
  let z = wid.z + pu(3u);
  ${batchCode(rank, 5)}
  let aOff = ia * M * K;
  let bOff = ib * K * N;
  let oOff = z * M * N;
  let row0 = wid.y * ${tile}u;
  let col0 = wid.x * ${tile}u;
  let tx = lid3.x; let ty = lid3.y;
  var acc: array<${t}, 16>;
  for (var q = 0u; q < 16u; q = q + 1u) { acc[q] = ${t}(0); }
  for (var k0 = 0u; k0 < K; k0 = k0 + ${BK}u) {
    for (var l = 0u; l < ${loads}u; l = l + 1u) {
      let e = lid + l * ${threads}u;
      ${aLoad}
    }
    for (var l = 0u; l < ${loads}u; l = l + 1u) {
      let e = lid + l * ${threads}u;
      ${bLoad}
    }
    workgroupBarrier();
    for (var kk = 0u; kk < ${BK}u; kk = kk + 1u) {
      let a0 = As[kk * ${tile}u + ty];
      let a1 = As[kk * ${tile}u + ty + ${s}u];
      let a2 = As[kk * ${tile}u + ty + ${2 * s}u];
      let a3 = As[kk * ${tile}u + ty + ${3 * s}u];
      let b0 = Bs[kk * ${tile}u + tx];
      let b1 = Bs[kk * ${tile}u + tx + ${s}u];
      let b2 = Bs[kk * ${tile}u + tx + ${2 * s}u];
      let b3 = Bs[kk * ${tile}u + tx + ${3 * s}u];
      acc[0] = acc[0] + a0 * b0; acc[1] = acc[1] + a0 * b1; acc[2] = acc[2] + a0 * b2; acc[3] = acc[3] + a0 * b3;
      acc[4] = acc[4] + a1 * b0; acc[5] = acc[5] + a1 * b1; acc[6] = acc[6] + a1 * b2; acc[7] = acc[7] + a1 * b3;
      acc[8] = acc[8] + a2 * b0; acc[9] = acc[9] + a2 * b1; acc[10] = acc[10] + a2 * b2; acc[11] = acc[11] + a2 * b3;
      acc[12] = acc[12] + a3 * b0; acc[13] = acc[13] + a3 * b1; acc[14] = acc[14] + a3 * b2; acc[15] = acc[15] + a3 * b3;
    }
    workgroupBarrier();
  }
  for (var r = 0u; r < 4u; r = r + 1u) {
    let gm = row0 + ty + r * ${s}u;
    if (gm >= M) { continue; }
    for (var c = 0u; c < 4u; c = c + 1u) {
      let gn = col0 + tx + c * ${s}u;
      if (gn < N) { out[oOff + gm * N + gn] = acc[r * 4u + c]; }
    }
  }
}`;
}

/** The direct kernel's body: one thread per output element walking K. */
function directMain(transA: boolean, transB: boolean, rank: number, t: 'f32' | 'i32'): string {
  const aIdx = transA ? 'aOff + kk * M + m' : 'aOff + m * K + kk';
  const bIdx = transB ? 'bOff + n * K + kk' : 'bOff + kk * N + n';
  return `  let M = pu(0u); let N = pu(1u); let K = pu(2u);
  if (i >= pu(4u)) { return; }
  let z = i / (M * N);
  let m = (i / N) % M;
  let n = i % N;
  ${batchCode(rank, 5)}
  let aOff = ia * M * K;
  let bOff = ib * K * N;
  var acc = ${t}(0);
  ${loopRange('kk', '0u', 'K', `acc = acc + a[${aIdx}] * b[${bIdx}];`)}
  out[i] = acc;`;
}

const abOut = (t: 'f32' | 'i32'): Binding[] => [
  { name: 'a', type: t },
  { name: 'b', type: t },
  { name: 'out', type: t, write: true },
];

registerKernel<MatmulOp>('matmul', 'webgpu', (backend, [A, B], { transA, transB }, [o]) => {
  const gpu = gpuOf(backend);
  const out = output(gpu, o);
  const ra = A.shape.length;
  const m = o.shape[o.shape.length - 2]!;
  const n = o.shape[o.shape.length - 1]!;
  const k = A.shape[transA ? ra - 2 : ra - 1]!;
  const batch = o.shape.slice(0, -2);
  const nb = sizeOf(batch);
  const total = nb * m * n;
  if (total === 0) return [out];
  if (k === 0) {
    gpu.clear(out);
    return [out];
  }
  checkLoop(gpu, 'matmul', m < 16 || n < 16 ? k : k / 16);
  const rank = batch.length;
  const aStr = broadcastStrides(A.shape.slice(0, -2), batch);
  const bStr = broadcastStrides(B.shape.slice(0, -2), batch);
  const t = wt(o.dtype);
  const key = `${t}:${transA ? 'T' : 'N'}${transB ? 'T' : 'N'}:${rank}`;
  const tail = [...batch, ...aStr, ...bStr];
  if (m < 16 || n < 16) {
    runProgram(
      gpu,
      {
        name: `matmul-direct:${key}`,
        bindings: abOut(t),
        size: total,
        main: () => directMain(transA, transB, rank, t),
      },
      [m, n, k, 0, total, ...tail],
      [bufOf(A).buffer, bufOf(B).buffer, out.buffer],
    );
    return [out];
  }
  const s = gpu.workgroupSize >= 256 ? 16 : 8;
  const tile = 4 * s;
  const pipeline = gpu.pipeline(`matmul-tiled:${key}:${s}`, () =>
    tiledSource(t, transA, transB, rank, s),
  );
  for (let z0 = 0; z0 < nb; z0 += MAX_Z) {
    const zs = Math.min(MAX_Z, nb - z0);
    gpu.dispatch(
      pipeline,
      [m, n, k, z0, 0, ...tail],
      [bufOf(A).buffer, bufOf(B).buffer, out.buffer],
      [Math.ceil(n / tile), Math.ceil(m / tile), zs],
    );
  }
  return [out];
});
