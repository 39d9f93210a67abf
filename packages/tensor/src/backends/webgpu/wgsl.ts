import type { OutputSpec } from '../../backend.js';
import type { DType } from '../../dtype.js';
import { TensorError } from '../../errors.js';
import { sizeOf } from '../../shape.js';
import { type GPUTensorBuffer, grid, type WebGPUBackend } from './backend.js';

/** WGSL scalar type of a dtype. */
export const wt = (d: DType): 'f32' | 'i32' => (d === 'float32' ? 'f32' : 'i32');

export interface Binding {
  readonly name: string;
  readonly type: 'f32' | 'i32' | 'u32' | 'atomic<u32>';
  readonly write?: boolean;
}

/**
 * The declarations of a kernel: the params uniform `P` (read with `pu(i)` / `pi(i)` / `pf(i)`) when
 * `params` words are used, then storage buffers at bindings 1, 2, …
 */
export function header(params: number, buffers: readonly Binding[]): string {
  const lines: string[] = [];
  if (params > 0) {
    lines.push(`@group(0) @binding(0) var<uniform> P: array<vec4<u32>, ${Math.ceil(params / 4)}>;`);
    lines.push('fn pu(i: u32) -> u32 { return P[i / 4u][i % 4u]; }');
    lines.push('fn pi(i: u32) -> i32 { return bitcast<i32>(P[i / 4u][i % 4u]); }');
    lines.push('fn pf(i: u32) -> f32 { return bitcast<f32>(P[i / 4u][i % 4u]); }');
  }
  buffers.forEach((b, i) => {
    const access = b.write ? 'read_write' : 'read';
    lines.push(`@group(0) @binding(${i + 1}) var<storage, ${access}> ${b.name}: array<${b.type}>;`);
  });
  return lines.join('\n');
}

/** A 1-d kernel entry point: `i` is the invocation's flat index; the body returns when i >= n. */
export function entry(wg: number, body: string): string {
  return `@compute @workgroup_size(${wg})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * ${wg}u + lid;
${body}
}`;
}

/** Special values and conversions with JS semantics, built from bits (compilers may fold x != x). */
export const COMMON = `
var<private> INF_BITS: u32 = 0x7f800000u;
var<private> NAN_BITS: u32 = 0x7fc00000u;
fn inf() -> f32 { return bitcast<f32>(INF_BITS); }
fn nan() -> f32 { return bitcast<f32>(NAN_BITS); }
fn is_nan(x: f32) -> bool { return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u; }
fn nan2(a: f32, b: f32) -> bool { return is_nan(a) || is_nan(b); }
fn is_finite(x: f32) -> bool { return (bitcast<u32>(x) & 0x7f800000u) != 0x7f800000u; }
// s + v and the rounding error of that addition (Neumaier / Fast-Two-Sum by magnitude). Kept exact
// by the compilers we run on (no fast-math reassociation in WGSL); a compiler that folded it would
// only lose the compensation.
fn two_sum(s: f32, v: f32) -> vec2<f32> {
  let t = s + v;
  var e: f32;
  if (abs(s) >= abs(v)) { e = (s - t) + v; } else { e = (v - t) + s; }
  return vec2<f32>(t, e);
}
// A compensated sum's value: the compensation is meaningless (NaN) once the sum is infinite or NaN.
fn finish(s: f32, c: f32) -> f32 { return select(s, s + c, is_finite(s)); }
// JS ToInt32 of a float32 (as an Int32Array store): truncate toward zero, wrap modulo 2^32, NaN and
// infinities give 0.
fn to_i32(x: f32) -> i32 {
  let bits = bitcast<u32>(x);
  let e = (bits >> 23u) & 0xffu;
  if (e == 0xffu) { return 0; }
  if (e < 158u) { return i32(x); }
  let m = (bits & 0x7fffffu) | 0x800000u;
  let sh = e - 150u;
  var r = 0u;
  if (sh < 32u) { r = m << sh; }
  if ((bits >> 31u) != 0u) { r = 0u - r; }
  return bitcast<i32>(r);
}
`;

/** Converts a WGSL expression of dtype `from` to dtype `to`. */
export function convert(expr: string, from: DType, to: DType): string {
  if (from === to) return expr;
  return to === 'float32' ? `f32(${expr})` : `to_i32(${expr})`;
}

/** A fresh output buffer for `spec`. */
export function output(gpu: WebGPUBackend, spec: OutputSpec): GPUTensorBuffer {
  return gpu.alloc(sizeOf(spec.shape) * 4);
}

/** Runs a 1-d kernel over `n` invocations (nothing when n is 0). */
export function run1d(
  gpu: WebGPUBackend,
  key: string,
  source: (wg: number) => string,
  params: readonly number[],
  buffers: readonly GPUBuffer[],
  n: number,
): void {
  if (n === 0) return;
  const wg = gpu.workgroupSize;
  const pipeline = gpu.pipeline(`${key}|wg${wg}`, () => source(wg));
  gpu.dispatch(pipeline, params, buffers, grid(n, wg));
}

/**
 * Decodes flat index `i` over `shape` (read from params at `shapeAt`, `rank` words) and returns the
 * WGSL statements that set `c0 … c{rank-1}` (u32 coordinates).
 */
export function coords(rank: number, shapeAt: number, index = 'i', prefix = 'c'): string {
  if (rank === 0) return '';
  const out = [`var rem_${prefix} = ${index};`];
  for (let k = rank - 1; k >= 0; k--) {
    if (k === 0) out.push(`let ${prefix}${k} = rem_${prefix};`);
    else {
      out.push(`let ${prefix}${k} = rem_${prefix} % pu(${shapeAt + k}u);`);
      out.push(`rem_${prefix} = rem_${prefix} / pu(${shapeAt + k}u);`);
    }
  }
  return out.join('\n  ');
}

/**
 * `for (var v = start; v < end; v += step) { body }`; `guard` (a WGSL bool expression) also ends it.
 * One place for the long loops over an axis, so a per-device workaround has one place to go: Mesa's
 * llvmpipe ends every shader invocation after 65535 loop iterations in all (silently), see
 * WebGPUBackend.maxLoopIterations.
 */
export function loopRange(
  v: string,
  start: string,
  end: string,
  body: string,
  step = '1u',
  guard = 'true',
): string {
  return `for (var ${v} = ${start}; ${v} < ${end} && ${guard}; ${v} = ${v} + ${step}) { ${body} }`;
}

/** Throws when one invocation would loop more often than the device allows (see loopRange). */
export function checkLoop(gpu: WebGPUBackend, op: string, iterations: number): void {
  if (iterations > gpu.maxLoopIterations) {
    throw new TensorError(
      op,
      `an axis of ${iterations} elements is longer than this WebGPU adapter (${gpu.adapterName}) runs in one shader loop (${gpu.maxLoopIterations}); use the cpu backend or split the axis`,
    );
  }
}
