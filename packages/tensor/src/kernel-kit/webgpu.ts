import type { OutputSpec } from '../backend.js';
import { type GPUTensorBuffer, grid, type WebGPUBackend } from '../backends/webgpu/backend.js';
import type { DType } from '../dtype.js';
import { TensorError } from '../errors.js';
import { sizeOf } from '../shape.js';

/**
 * Writing a WebGPU kernel: WGSL building blocks (declarations, an entry point, special values) and
 * {@link runProgram}, which compiles a {@link WebGPUProgram} once (cached by name) and dispatches it.
 */

/** The WGSL scalar type of a dtype. */
export const wt = (d: DType): 'f32' | 'i32' => (d === 'float32' ? 'f32' : 'i32');

/** A storage buffer a kernel declares: `array<type>` (f32 when no type is given), read-only unless `write`. */
export interface Binding {
  /** The WGSL name of the array. */
  readonly name: string;
  /** The element type: a scalar (`f32`, `i32`, `u32`, `atomic<u32>`) or a struct the kernel declares. */
  readonly type?: string;
  /** Whether the kernel writes the buffer (`read_write` access). */
  readonly write?: boolean;
}

/**
 * The declarations of a kernel: the params uniform `P` (read with `pu(i)` / `pi(i)` / `pf(i)` as u32,
 * i32 or f32 word i) when `params` words are used, then storage buffers at bindings 1, 2, … in order.
 * `prefix` goes before those four names (`rs_pu(i)` …) so they cannot clash with WGSL from users.
 */
export function header(params: number, buffers: readonly Binding[], prefix = ''): string {
  const lines: string[] = [];
  const P = `${prefix}P`;
  if (params > 0) {
    lines.push(
      `@group(0) @binding(0) var<uniform> ${P}: array<vec4<u32>, ${Math.ceil(params / 4)}>;`,
    );
    lines.push(`fn ${prefix}pu(i: u32) -> u32 { return ${P}[i / 4u][i % 4u]; }`);
    lines.push(`fn ${prefix}pi(i: u32) -> i32 { return bitcast<i32>(${P}[i / 4u][i % 4u]); }`);
    lines.push(`fn ${prefix}pf(i: u32) -> f32 { return bitcast<f32>(${P}[i / 4u][i % 4u]); }`);
  }
  buffers.forEach((b, i) => {
    const access = b.write ? 'read_write' : 'read';
    lines.push(
      `@group(0) @binding(${i + 1}) var<storage, ${access}> ${b.name}: array<${b.type ?? 'f32'}>;`,
    );
  });
  return lines.join('\n');
}

/**
 * A 1-d kernel entry point `main` of `wg` threads a workgroup, with the builtins `wid`, `nwg` and `lid`
 * in scope and `i` the invocation's flat index over the whole grid. `uses` (WGSL statements) come
 * first: see {@link runProgram}, which marks every declared buffer used there.
 */
export function entry(wg: number, body: string, uses = ''): string {
  return `@compute @workgroup_size(${wg})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
${uses}  let i = (wid.y * nwg.x + wid.x) * ${wg}u + lid;
${body}
}`;
}

/**
 * WGSL special values, built from bits and tested on bits (compilers may fold `x != x`): `inf()`,
 * `nan()`, `is_nan(x)`, `is_neg_inf(x)`, `is_finite(x)`.
 */
export const SPECIAL_VALUES_WGSL = `
var<private> RECUR_INF_BITS: u32 = 0x7f800000u;
var<private> RECUR_NAN_BITS: u32 = 0x7fc00000u;
fn inf() -> f32 { return bitcast<f32>(RECUR_INF_BITS); }
fn nan() -> f32 { return bitcast<f32>(RECUR_NAN_BITS); }
fn is_nan(x: f32) -> bool { return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u; }
fn is_neg_inf(x: f32) -> bool { return bitcast<u32>(x) == 0xff800000u; }
fn is_finite(x: f32) -> bool { return (bitcast<u32>(x) & 0x7f800000u) != 0x7f800000u; }
`;

/**
 * {@link SPECIAL_VALUES_WGSL} and arithmetic with JS semantics: `nan2(a, b)` (either is NaN),
 * `two_sum(s, v)` (a sum and its rounding error), `finish(s, c)` (a compensated sum's value) and
 * `to_i32(x)` (JS ToInt32 of a float32).
 */
export const COMMON_WGSL = `${SPECIAL_VALUES_WGSL}
fn nan2(a: f32, b: f32) -> bool { return is_nan(a) || is_nan(b); }
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

/**
 * A WebGPU compute kernel as one object, in the spirit of TensorFlow.js's `WebGPUProgram`: what it
 * binds, its WGSL and how many invocations to run. {@link runProgram} assembles the shader
 * (`prelude`, the {@link header} for the params and `bindings`, then `main` inside {@link entry}),
 * compiles it on first use and keeps the pipeline under `name`.
 */
export interface WebGPUProgram {
  /**
   * The pipeline cache key: it must change with everything that changes the WGSL (dtypes, flags,
   * unrolled sizes). The workgroup size, the number of params words and the prefix are added to it.
   */
  readonly name: string;
  /** Storage buffers at bindings 1, 2, … in order (the buffers passed to runProgram match them). */
  readonly bindings: readonly Binding[];
  /** Module-scope WGSL: helper functions, structs, constants, `var<workgroup>` arrays. */
  readonly prelude?: string;
  /**
   * The body of the entry point, with `i` (the flat invocation index), `wid`, `nwg` and `lid` in
   * scope. It must itself return for `i` past the end: the last workgroup runs whole. A function is
   * called only when the pipeline is compiled (as tfjs's `getUserCode`), for kernels whose WGSL is
   * costly to generate on every call; `name` must then say everything it depends on.
   */
  readonly main: string | (() => string);
  /** Invocations to run (the workgroups to cover them); 0 runs nothing. */
  readonly size?: number;
  /** Or the number of workgroups to run, for kernels that work per workgroup (0 runs nothing). */
  readonly workgroups?: number;
  /** Threads per workgroup: the backend's {@link WebGPUBackend.workgroupSize} unless given. */
  readonly workgroupSize?: number;
  /** Prefix of the params uniform's names (see {@link header}). */
  readonly prefix?: string;
}

/**
 * A program of one thread per element i < size that reads `inputs` and writes `out` (WGSL type t);
 * `main` runs only for the threads inside the size (the guard is added here).
 */
export function elementProgram(
  name: string,
  t: string,
  inputs: readonly Binding[],
  size: number,
  main: string,
): WebGPUProgram {
  return {
    name,
    bindings: [...inputs, { name: 'out', type: t, write: true }],
    size,
    main: `  if (i >= pu(0u)) { return; }
${main}`,
  };
}

/**
 * Runs `program` with `params` (u32 words, in the uniform at binding 0; use {@link f32bits} for
 * floats) and `buffers` (at bindings 1, 2, …): compiles it on first use (cached by name), then
 * encodes one dispatch. Every binding is marked used in the shader, so one the WGSL does not read
 * still matches the pipeline's layout.
 */
export function runProgram(
  gpu: WebGPUBackend,
  program: WebGPUProgram,
  params: readonly number[],
  buffers: readonly GPUBuffer[],
): void {
  const wg = program.workgroupSize ?? gpu.workgroupSize;
  const groups = program.workgroups ?? Math.ceil((program.size ?? 0) / wg);
  if (groups === 0) return;
  if (buffers.length !== program.bindings.length) {
    throw new TensorError(
      'webgpu',
      `internal: ${program.name} declares ${program.bindings.length} buffers, got ${buffers.length}`,
    );
  }
  const prefix = program.prefix ?? '';
  const key = `${program.name}|wg${wg}|p${params.length}|${prefix}`;
  const pipeline = gpu.pipeline(key, () => {
    const uses = program.bindings.map((b) => `  _ = arrayLength(&${b.name});\n`).join('');
    return `${program.prelude ?? ''}
${header(params.length, program.bindings, prefix)}
${entry(wg, typeof program.main === 'string' ? program.main : program.main(), uses)}`;
  });
  gpu.dispatch(pipeline, params, buffers, grid(groups, 1));
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
