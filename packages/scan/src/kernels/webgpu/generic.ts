import {
  defineOp,
  hasKernel,
  isGradEnabled,
  type OutputSpec,
  runOp,
  type Tensor,
  TensorError,
  WebGPUBackend,
} from '@recur/tensor';
import { bufOf, type GPUTensorBuffer, gpuOf, registerKernel } from '@recur/tensor/kernels';
import type { ScanOperator } from '../../operator.js';
import { layoutOf, type ScanLayout, servedBy } from '../../operators/layout.js';
import { run1d, runScan, type ScanProgram } from './engine.js';

/**
 * Any operator with a `wgsl` combine, fused on WebGPU: reduce-then-scan kernels generated from its
 * `struct Elem` (one f32 field per tuple member, in member order), `identity()` and `combine()`.
 * The members must share one shape, with scalar elements (elementRanks 0). There is no gradient
 * rule (a WGSL combine has no derivative), so it is used only where no input needs a gradient;
 * otherwise the scan takes the generic tree path through the operator's tensor-op combine.
 */

export interface WgslScanAttrs extends ScanLayout {
  readonly hasCarry: boolean;
  readonly name: string;
  readonly arity: number;
  readonly wgsl: string;
}

const wgslScanDef = defineOp<WgslScanAttrs, readonly Tensor[], OutputSpec[]>({
  name: 'scan.wgsl',
  infer: (inputs, { arity }) =>
    inputs.slice(0, arity).map((t) => ({ shape: t.shape, dtype: 'float32' as const })),
});

/** The field names of `struct Elem` in `wgsl`, or a message saying what is wrong. */
export function elemFields(wgsl: string, arity: number): string[] | string {
  const body = /struct\s+Elem\s*\{([^}]*)\}/.exec(wgsl)?.[1];
  if (body === undefined) return 'no `struct Elem { … }`';
  const fields = body
    .split(/[,;\n]/)
    .map((f) => f.trim())
    .filter((f) => f.length > 0);
  const names: string[] = [];
  for (const f of fields) {
    const m = /^(\w+)\s*:\s*(\w+)$/.exec(f);
    if (m?.[2] !== 'f32') return `field '${f}' is not of the form 'name: f32'`;
    names.push(m[1]!);
  }
  if (names.length !== arity) return `${names.length} fields for ${arity} tuple members`;
  for (const fn of ['identity', 'combine']) {
    if (!new RegExp(`fn\\s+${fn}\\s*\\(`).test(wgsl)) return `no \`fn ${fn}\``;
  }
  return names;
}

const programs = new Map<string, { program: ScanProgram; fields: string[] }>();

function programFor(attrs: WgslScanAttrs): { program: ScanProgram; fields: string[] } {
  const key = `${attrs.arity}|${attrs.wgsl}`;
  let p = programs.get(key);
  if (!p) {
    const fields = elemFields(attrs.wgsl, attrs.arity);
    if (typeof fields === 'string') {
      throw new TensorError(`scan(${attrs.name})`, `the operator's wgsl is not usable: ${fields}`);
    }
    const xs = fields.map((_, j) => `rs_x${j}`);
    const ys = fields.map((_, j) => `rs_y${j}`);
    const program: ScanProgram = {
      key: `wgsl#${programs.size}`,
      elem: attrs.wgsl,
      elemWords: attrs.arity,
      buffers: [...xs.map((name) => ({ name })), ...ys.map((name) => ({ name, write: true }))],
      load: `fn rs_p(o: u32, k: u32, t: u32) -> u32 { return (o * rs_pu(1u) + t) * rs_pu(2u) + k; }
fn leaf(o: u32, k: u32, t: u32) -> Elem {
  let p = rs_p(o, k, t);
  return Elem(${xs.map((x) => `${x}[p]`).join(', ')});
}`,
      store: `fn emit(o: u32, k: u32, t: u32, e: Elem) {
  let p = rs_p(o, k, t);
  ${ys.map((y, j) => `${y}[p] = e.${fields[j]};`).join('\n  ')}
}`,
      reverse: false,
    };
    p = { program, fields };
    programs.set(key, p);
  }
  return p;
}

registerKernel<typeof wgslScanDef>('scan.wgsl', 'webgpu', (backend, inputs, attrs) => {
  const gpu = gpuOf(backend);
  const { outer, length: T, inner, arity, hasCarry } = attrs;
  const { program } = programFor(attrs);
  const xs = inputs.slice(0, arity);
  const ys = xs.map((x) => gpu.alloc(x.size * 4));
  const lines = outer * inner;
  let carry: GPUTensorBuffer | null = null;
  if (hasCarry && lines > 0 && T > 0) {
    carry = gpu.alloc(lines * arity * 4);
    const cs = inputs.slice(arity, 2 * arity);
    run1d(
      gpu,
      `${program.key}.carry`,
      attrs.wgsl,
      [...cs.map((_, j) => ({ name: `rs_c${j}` })), { name: 'rs_out', type: 'Elem', write: true }],
      `  rs_out[i] = Elem(${cs.map((_, j) => `rs_c${j}[i]`).join(', ')});`,
      [lines],
      [...cs.map((x) => bufOf(x).buffer), carry.buffer],
    );
  }
  runScan(
    gpu,
    program,
    { outer, length: T, inner },
    [...xs.map((x) => bufOf(x).buffer), ...ys.map((y) => y.buffer)],
    { carry: carry?.buffer },
  );
  if (carry) gpu.release(carry);
  return ys;
});

/**
 * The inclusive scan of `op` (with `carry` folded in) by its WGSL combine, or undefined where that
 * does not apply: no `wgsl`, inputs not on WebGPU, members of different shapes, an input needing a
 * gradient, element axes, or more buffers than the adapter binds (2 · arity + 1).
 */
export function wgslScan(
  op: Pick<ScanOperator, 'name' | 'arity' | 'wgsl' | 'elementRanks'>,
  inputs: readonly Tensor[],
  axis: number,
  carry: readonly Tensor[] | undefined,
): Tensor[] | undefined {
  const wgsl = op.wgsl;
  // Elem holds one scalar per member: element axes would mean a combine across them.
  if (!wgsl || op.elementRanks?.some((r) => r !== 0)) return undefined;
  const all = carry ? [...inputs, ...carry] : inputs;
  if (!servedBy(all, hasKernel, 'scan.wgsl')) return undefined;
  if (isGradEnabled() && all.some((t) => t.requiresGrad)) return undefined;
  const first = inputs[0]!;
  const same = (t: Tensor, shape: readonly number[]) =>
    t.rank === shape.length && t.shape.every((d, i) => d === shape[i]);
  if (!inputs.every((t) => same(t, first.shape))) return undefined;
  const backend = first.backend;
  const limits = backend instanceof WebGPUBackend ? backend.device.limits : null;
  if (
    !limits ||
    2 * op.arity + 1 > limits.maxStorageBuffersPerShaderStage ||
    4 * op.arity * 256 > limits.maxComputeWorkgroupStorageSize
  ) {
    return undefined;
  }
  return runOp(wgslScanDef, all, {
    ...layoutOf(first.shape, axis),
    hasCarry: carry !== undefined,
    name: op.name,
    arity: op.arity,
    wgsl,
  });
}

/**
 * Whether `x` is on a WebGPU adapter that cannot loop over its axis `axis` in one invocation (Mesa's
 * llvmpipe: 65,535 iterations), where the tensor package's cumsum / cummax kernels refuse.
 */
export function beyondLoopLimit(x: Tensor, axis: number): boolean {
  const b = x.backend;
  return b instanceof WebGPUBackend && x.shape[axis]! > b.maxLoopIterations;
}
