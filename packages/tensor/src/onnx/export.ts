import type { DType } from '../dtype.js';
import { noGrad, tidy } from '../engine.js';
import { TensorError } from '../errors.js';
import { Module } from '../nn/module.js';
import type { AnyOpDef } from '../op.js';
import { randn } from '../random.js';
import type { StreamState } from '../streaming.js';
import { Tensor } from '../tensor.js';
import {
  castTo,
  dataTypeOf,
  exportError,
  type OnnxContext,
  OnnxGraph,
  type OnnxType,
  tensorMsg,
} from './lowering.js';
import {
  DataLocation,
  type DataTypeCode,
  type DimMsg,
  encodeModel,
  type GraphMsg,
  type NodeMsg,
  type TensorMsg,
  type ValueInfoMsg,
} from './proto.js';
import { type TracedOp, whileExporting, withoutRecorder, withRecorder } from './trace.js';

/** The opset written (ONNX 1.12): onnxruntime-web and older runtimes load it. */
export const ONNX_OPSET = 17;
/** A protobuf message cannot exceed 2 GiB; leave room for the graph itself. */
const MAX_PROTO_BYTES = 2 ** 31 - 2 ** 24;
/** IR version that goes with opset 17. */
const IR_VERSION = 8;

/**
 * Options of {@link toOnnx} and {@link toOnnxFiles}: which form of the module to export (the whole
 * sequence at once, or one streaming step with its state), the input width, and the graph's name.
 */
export interface ToOnnxOptions {
  /**
   * 'parallel': input `x` [batch, tokens, features] → output `y`, batch and tokens chosen at run time.
   * 'step': inputs `x` [batch, features] and `state.<key>` for each state entry → outputs `y` and
   * `next.<key>`.
   */
  mode: 'parallel' | 'step';
  /** Features per input token; by default the module's `inputSize` or `dModel`. */
  inputSize?: number;
  /** Graph name written into the file. */
  name?: string;
}

/** A module that streams: what step mode (and the recurrent form of parallel mode) needs. */
interface StreamingModule extends Module {
  initState(batch: number): StreamState;
  step(x: Tensor, state: StreamState): { y: Tensor; state: StreamState };
}

function isStreaming(m: Module): m is StreamingModule {
  const s = m as unknown as Partial<StreamingModule>;
  return typeof s.initState === 'function' && typeof s.step === 'function';
}

// The two traces use different sizes so that every size that depends on the input's sizes differs
// between them, and the differences (3, 4, 7) tell the batch, the tokens and a cache's length
// apart: no multiple of one difference is another, so k·batch never passes for tokens + c.
const BATCH = [2, 5] as const;
const TOKENS = [7, 11] as const;
/** Tokens fed to a stream before its step is traced (a KV cache's length in the traces). */
const WARMUP = [6, 13] as const;

interface Trace {
  ops: TracedOp[];
  aliases: Map<Tensor, Tensor>;
  inputs: Tensor[];
  outputs: Tensor[];
}

const HOOKED = ['forward', 'run', 'step'] as const;

/** One call of a hooked method: the module's path and the ops it ran, [start, end). */
interface Call {
  path: string;
  start: number;
  end: number;
}

/**
 * Runs `fn` recording every op, with the module path each ran under. The `forward` of a module in
 * `opaque` is recorded as one op (its given OpDef) from its input to its output, its own ops unseen.
 */
function record(
  root: Module,
  inputs: Tensor[],
  fn: () => Tensor[],
  opaque: ReadonlyMap<Module, AnyOpDef> = new Map(),
  calls: Call[] = [],
): Trace {
  const ops: TracedOp[] = [];
  const aliases = new Map<Tensor, Tensor>();
  const path: string[] = [''];
  const restore: (() => void)[] = [];
  for (const [name, m] of root.namedModules()) {
    const self = m as unknown as Record<string, unknown>;
    const def = opaque.get(m);
    for (const key of HOOKED) {
      const f = self[key];
      if (typeof f !== 'function' || Object.hasOwn(self, key)) continue;
      self[key] = (...args: unknown[]) => {
        path.push(name);
        const call = { path: name, start: ops.length, end: ops.length };
        calls.push(call);
        try {
          if (def && key === 'forward') {
            const y = withoutRecorder(() => (f as (...a: unknown[]) => unknown).apply(m, args));
            if (args.length !== 1 || !(args[0] instanceof Tensor) || !(y instanceof Tensor)) {
              throw new StructureDiffers();
            }
            ops.push({ op: def, inputs: [args[0]], attrs: {}, outputs: [y], path: name });
            return y;
          }
          return (f as (...a: unknown[]) => unknown).apply(m, args);
        } finally {
          call.end = ops.length;
          path.pop();
        }
      };
      restore.push(() => delete self[key]);
    }
  }
  try {
    const outputs = withRecorder(
      {
        op: (e) => ops.push({ ...e, path: path[path.length - 1]! }),
        alias: (src, out) => aliases.set(out, src),
      },
      fn,
    );
    return { ops, aliases, inputs, outputs };
  } finally {
    for (const r of restore) r();
  }
}

/** Where a value comes from: a graph input, an op's output, or a leaf (parameter or constant). */
type Origin =
  | { kind: 'input'; index: number }
  | { kind: 'op'; op: number; index: number }
  | { kind: 'leaf'; tensor: Tensor };

function origins(trace: Trace): (t: Tensor) => Origin {
  const map = new Map<Tensor, Origin>();
  trace.inputs.forEach((t, index) => {
    map.set(t, { kind: 'input', index });
  });
  trace.ops.forEach((o, op) => {
    o.outputs.forEach((t, index) => {
      map.set(t, { kind: 'op', op, index });
    });
  });
  return (t0: Tensor) => {
    let t = t0;
    for (let a = trace.aliases.get(t); a; a = trace.aliases.get(t)) t = a;
    return map.get(t) ?? { kind: 'leaf', tensor: t };
  };
}

function sameOrigin(a: Origin, b: Origin): boolean {
  if (a.kind !== b.kind) return false;
  if (a.kind === 'input') return a.index === (b as typeof a).index;
  if (a.kind === 'op') return a.op === (b as typeof a).op && a.index === (b as typeof a).index;
  return true;
}

/** Thrown when the two traces ran different ops: the computation's structure depends on the sizes. */
class StructureDiffers extends Error {}

function constantOf(g: OnnxGraph, a: Tensor, b: Tensor, names: Map<Tensor, string>): string | null {
  const da = a.dataSync();
  const db = b.dataSync();
  const type: OnnxType = a.dtype;
  const same =
    a === b || (a.shape.join() === b.shape.join() && da.every((v, i) => Object.is(v, db[i])));
  if (same) {
    const name = names.get(a);
    if (name !== undefined) {
      g.initializer(tensorMsg(name, da, a.shape, type));
      return name;
    }
    return g.constant(da, a.shape, type, 'const');
  }
  // A constant whose size follows the inputs' sizes: a fill (zeros, full, onesLike), a range
  // (arange), or a scalar equal to a size (the count a mean divides by).
  if (a.rank !== b.rank || a.dtype !== b.dtype) return null;
  // Empty tensors (a KV cache before the first token) are fills of anything.
  const first = da[0] ?? db[0] ?? 0;
  if (da.every((v) => Object.is(v, first)) && db.every((v) => Object.is(v, first))) {
    const shape = g.shape(a.shape, b.shape);
    if (shape === null) return null;
    return g.op('ConstantOfShape', [shape], { value: tensorMsg('', [first], [1], type) });
  }
  // A fill with a size (each sequence's last index, say).
  const firstB = db[0] ?? 0;
  if (
    da.length > 0 &&
    db.length > 0 &&
    da.every((v) => v === first) &&
    db.every((v) => v === firstB)
  ) {
    const shape = g.shape(a.shape, b.shape);
    const value = g.size(first, firstB);
    if (shape !== null && typeof value === 'string') {
      return castTo(
        g,
        g.op('Expand', [g.op('Reshape', [value, g.ints([])]), shape]),
        'int64',
        type,
      );
    }
  }
  if (a.size === 1 && b.size === 1 && a.shape.join() === b.shape.join()) {
    const s = g.size(da[0]!, db[0]!);
    if (typeof s !== 'string') return null;
    return castTo(g, g.op('Reshape', [s, g.ints(a.shape as number[])]), 'int64', type);
  }
  if (a.rank === 1 && da.length >= 2 && db.length >= 2) {
    const step = da[1]! - da[0]!;
    const isRange = (d: ArrayLike<number>) =>
      Array.prototype.every.call(d, (v: number, i: number) => v === d[0]! + i * step);
    if (step !== 0 && step === db[1]! - db[0]! && isRange(da) && isRange(db)) {
      const start = g.size(da[0]!, db[0]!);
      const len = g.size(da.length, db.length);
      if (start === null || len === null) return null;
      const asScalar = (s: number | string) =>
        typeof s === 'number' ? g.scalar(s, 'int64') : g.op('Reshape', [s, g.ints([])]);
      const s0 = asScalar(start);
      const n = asScalar(len);
      const end = g.op('Add', [s0, g.op('Mul', [n, g.scalar(step, 'int64')])]);
      const r = g.op('Range', [s0, end, g.scalar(step, 'int64')]);
      return castTo(g, r, 'int64', type);
    }
  }
  return null;
}

interface GraphInput {
  name: string;
  a: Tensor;
  b: Tensor;
}

/** Names of each symbolic size, for the graph's declared input and output shapes. */
function dimsOf(a: Tensor, b: Tensor, params: Map<string, string>, fallback: string): DimMsg[] {
  return a.shape.map((d, i) => {
    const e = b.shape[i]!;
    if (d === e) return { dimValue: d };
    const key = `${d},${e}`;
    let p = params.get(key);
    if (!p) {
      p = `${fallback}_${i}`;
      params.set(key, p);
    }
    return { dimParam: p };
  });
}

function valueInfo(name: string, t: Tensor, dims: DimMsg[]): ValueInfoMsg {
  return { name, type: { tensorType: { elemType: dataTypeOf(t.dtype), shape: { dim: dims } } } };
}

/**
 * Lowers two traces of one computation (at different sizes) into `g`: returns the names of the
 * outputs. Inputs are given names; sizes that differ between the traces become symbolic.
 */
function lower(
  g: OnnxGraph,
  ta: Trace,
  tb: Trace,
  inputNames: string[],
  paramNames: Map<Tensor, string>,
): string[] {
  if (ta.ops.length !== tb.ops.length || ta.ops.some((o, i) => o.op !== tb.ops[i]?.op)) {
    throw new StructureDiffers();
  }
  const oa = origins(ta);
  const ob = origins(tb);
  const values = new Map<string, string>();
  const leafNames = new Map<Tensor, string>();
  const nameOf = (t: Tensor, u: Tensor, path: string, op: string): string => {
    const a = oa(t);
    const b = ob(u);
    if (!sameOrigin(a, b)) throw new StructureDiffers();
    if (a.kind === 'input') return inputNames[a.index]!;
    if (a.kind === 'op') return values.get(`${a.op}:${a.index}`) as string;
    const leafB = (b as { tensor: Tensor }).tensor;
    let name = leafNames.get(a.tensor);
    if (name === undefined) {
      const c = constantOf(g, a.tensor, leafB, paramNames);
      if (c === null) {
        throw exportError(
          op,
          path,
          `a constant of shape [${a.tensor.shape.join(', ')}] depends on the input's sizes in a way that cannot be expressed (only fills, ranges and sizes can)`,
        );
      }
      name = c;
      leafNames.set(a.tensor, name);
    }
    return name;
  };
  ta.ops.forEach((o, i) => {
    const ob2 = tb.ops[i]!;
    const name = o.op.name;
    if (!o.op.onnx) {
      throw exportError(name, o.path, `op '${name}' has no ONNX lowering`);
    }
    const inputs = o.inputs.map((t, j) => nameOf(t, ob2.inputs[j]!, o.path, name));
    const outputs = o.outputs.map((_, j) => {
      const v = g.fresh(name.replace(/\W/g, '_'));
      values.set(`${i}:${j}`, v);
      return v;
    });
    const ctx: OnnxContext<unknown> = {
      op: name,
      path: o.path,
      attrs: o.attrs,
      altAttrs: ob2.attrs,
      inputs,
      outputs,
      inShapes: o.inputs.map((t) => t.shape),
      altInShapes: ob2.inputs.map((t) => t.shape),
      outShapes: o.outputs.map((t) => t.shape),
      altOutShapes: ob2.outputs.map((t) => t.shape),
      inDTypes: o.inputs.map((t) => t.dtype),
      outDTypes: o.outputs.map((t) => t.dtype),
      g,
      fail: (message) => {
        throw exportError(name, o.path, message);
      },
    };
    o.op.onnx(ctx);
  });
  return ta.outputs.map((t, j) => nameOf(t, tb.outputs[j]!, '', 'output'));
}

/** Adds one size symbol per input dim that differs between the traces (and int32 scalars' values). */
function addSymbols(g: OnnxGraph, inputs: GraphInput[]): void {
  for (const { name, a, b } of inputs) {
    a.shape.forEach((d, i) => {
      const e = b.shape[i]!;
      if (d === e || g.size(d, e) !== null) return;
      g.addSymbol({ a: d, b: e, name: g.op('Shape', [name], { start: i, end: i + 1 }) });
    });
    // A one-element input holding a count (a stream's position) is a size too.
    if (a.size === 1 && b.size === 1) {
      const va = a.dataSync()[0]!;
      const vb = b.dataSync()[0]!;
      if (va !== vb && Number.isInteger(va) && Number.isInteger(vb) && g.size(va, vb) === null) {
        const v = g.op('Reshape', [castTo(g, name, a.dtype, 'int64'), g.ints([1])]);
        g.addSymbol({ a: va, b: vb, name: v });
      }
    }
  }
}

function inputSizeOf(module: Module, options: ToOnnxOptions): number {
  const m = module as unknown as { inputSize?: number; dModel?: number };
  const n = options.inputSize ?? m.inputSize ?? m.dModel;
  if (n === undefined || !Number.isInteger(n) || n < 1) {
    throw new TensorError(
      'toOnnx',
      `cannot tell the module's input features: pass inputSize (got ${String(options.inputSize)})`,
    );
  }
  return n;
}

/** Sets every submodule to evaluation mode for `fn`, then restores each one's mode. */
function inEvalMode<T>(module: Module, fn: () => T): T {
  const modes = module.modules().map((m) => [m, m.training] as const);
  module.eval();
  try {
    return fn();
  } finally {
    for (const [m, t] of modes) m.training = t;
  }
}

interface Built {
  graph: OnnxGraph;
  inputs: ValueInfoMsg[];
  outputs: ValueInfoMsg[];
  outputValues: string[];
}

function traceStep(module: StreamingModule, features: number, k: 0 | 1) {
  const batch = BATCH[k];
  let state = module.initState(batch);
  for (let i = 0; i < WARMUP[k]; i++) state = module.step(randn([batch, features]), state).state;
  const keys = Object.keys(state);
  const x = randn([batch, features]);
  const inputs = [x, ...keys.map((key) => state[key]!)];
  const trace = record(module, inputs, () => {
    const out = module.step(x, state);
    return [
      out.y,
      ...keys.map((key) => {
        const t = out.state[key];
        if (!t) throw new TensorError('toOnnx', `step() returned no state '${key}'`);
        return t;
      }),
    ];
  });
  return { trace, keys };
}

function buildStep(
  module: StreamingModule,
  features: number,
  g: OnnxGraph = new OnnxGraph(),
  prefix = '',
): Built {
  const [ra, rb] = [traceStep(module, features, 0), traceStep(module, features, 1)];
  const names = ['x', ...ra.keys.map((k) => `state.${k}`)];
  const graphInputs = names.map((name, i) => ({
    name,
    a: ra.trace.inputs[i]!,
    b: rb.trace.inputs[i]!,
  }));
  addSymbols(g, graphInputs);
  const params = new Map<string, string>([[`${BATCH[0]},${BATCH[1]}`, 'batch']]);
  const inputs = graphInputs.map(({ name, a, b }) =>
    valueInfo(name, a, dimsOf(a, b, params, name.replace(/\W/g, '_'))),
  );
  let outputValues: string[];
  try {
    outputValues = lower(g, ra.trace, rb.trace, names, paramMap(module, prefix));
  } catch (e) {
    if (e instanceof StructureDiffers) {
      throw new TensorError(
        'toOnnx',
        `${module.constructor.name}.step runs different ops at different batch sizes or state lengths: it cannot be written as one graph`,
      );
    }
    throw e;
  }
  const outNames = ['y', ...ra.keys.map((k) => `next.${k}`)];
  const outputs = outNames.map((name, i) =>
    valueInfo(
      name,
      ra.trace.outputs[i]!,
      dimsOf(ra.trace.outputs[i]!, rb.trace.outputs[i]!, params, name.replace(/\W/g, '_')),
    ),
  );
  return { graph: g, inputs, outputs, outputValues };
}

/** Each parameter and buffer's name (after `prefix`: a submodule's path in the exported module). */
function paramMap(module: Module, prefix = ''): Map<Tensor, string> {
  const out = new Map<Tensor, string>();
  for (const [name, t] of module.namedParameters()) out.set(t, prefix + name);
  for (const [name, t] of module.namedBuffers()) if (!out.has(t)) out.set(t, prefix + name);
  return out;
}

function traceParallel(
  module: Module,
  features: number,
  k: 0 | 1,
  opaque?: ReadonlyMap<Module, AnyOpDef>,
  calls?: Call[],
): Trace {
  const x = randn([BATCH[k], TOKENS[k], features]);
  return record(
    module,
    [x],
    () => {
      const y = module.forward(x);
      if (!(y instanceof Tensor)) {
        throw new TensorError(
          'toOnnx',
          `${module.constructor.name}.forward did not return a Tensor`,
        );
      }
      return [y];
    },
    opaque,
    calls,
  );
}

function lowerParallel(module: Module, ta: Trace, tb: Trace): Built {
  const g = new OnnxGraph();
  const graphInputs = [{ name: 'x', a: ta.inputs[0]!, b: tb.inputs[0]! }];
  addSymbols(g, graphInputs);
  const params = new Map<string, string>([
    [`${BATCH[0]},${BATCH[1]}`, 'batch'],
    [`${TOKENS[0]},${TOKENS[1]}`, 'tokens'],
  ]);
  const inputs = [valueInfo('x', ta.inputs[0]!, dimsOf(ta.inputs[0]!, tb.inputs[0]!, params, 'x'))];
  const outputValues = lower(g, ta, tb, ['x'], paramMap(module));
  const y = [valueInfo('y', ta.outputs[0]!, dimsOf(ta.outputs[0]!, tb.outputs[0]!, params, 'y'))];
  return { graph: g, inputs, outputs: y, outputValues };
}

function buildParallel(module: Module, features: number): Built {
  const calls: [Call[], Call[]] = [[], []];
  const ta = traceParallel(module, features, 0, undefined, calls[0]);
  const tb = traceParallel(module, features, 1, undefined, calls[1]);
  try {
    return lowerParallel(module, ta, tb);
  } catch (e) {
    if (!(e instanceof StructureDiffers)) throw e;
  }
  // Some forward pass unrolls over the tokens (an RNN's loop, or blocks that follow the length):
  // write each outermost such module that streams as a Loop over its step graph instead, which is
  // the same computation, and the rest of the network as it ran.
  const loops = recurrentModules(module, [ta, tb], calls);
  if (loops.size === 0) {
    throw new TensorError(
      'toOnnx',
      `${module.constructor.name}.forward runs different ops for different sequence lengths and no module that does so streams: it cannot be written as one graph`,
    );
  }
  const ra = traceParallel(module, features, 0, loops);
  const rb = traceParallel(module, features, 1, loops);
  try {
    return lowerParallel(module, ra, rb);
  } catch (e) {
    if (!(e instanceof StructureDiffers)) throw e;
    throw new TensorError(
      'toOnnx',
      `${module.constructor.name}.forward runs different ops for different sequence lengths outside the modules written as loops: it cannot be written as one graph`,
    );
  }
}

/**
 * The outermost streaming modules whose forward ran different ops in the two traces, each with the
 * op that writes it as a Loop over its step graph.
 */
function recurrentModules(
  root: Module,
  traces: [Trace, Trace],
  calls: [Call[], Call[]],
): Map<Module, AnyOpDef> {
  const opsOf = (k: 0 | 1): Map<string, string> => {
    const seq = new Map<string, string>();
    const ops = traces[k].ops;
    for (const c of calls[k]) {
      const names = ops.slice(c.start, c.end).map((o) => o.op.name);
      seq.set(c.path, `${seq.get(c.path) ?? ''}|${names.join(',')}`);
    }
    return seq;
  };
  const [a, b] = [opsOf(0), opsOf(1)];
  const differs = root
    .namedModules()
    .filter(([path, m]) => isStreaming(m) && a.get(path) !== b.get(path));
  const within = (path: string, outer: string) =>
    path !== outer && (outer === '' || path.startsWith(`${outer}.`));
  const out = new Map<Module, AnyOpDef>();
  for (const [path, m] of differs) {
    if (differs.some(([p]) => within(path, p))) continue;
    out.set(m, {
      name: 'recurrent',
      infer: () => [],
      onnx: (ctx) => writeLoop(ctx, m as StreamingModule, path),
    });
  }
  return out;
}

/** Renames value inputs in `nodes` and in the graphs nested in their attributes. */
function renameInputs(nodes: readonly NodeMsg[], renamed: ReadonlyMap<string, string>): void {
  for (const n of nodes) {
    n.input = n.input.map((v) => renamed.get(v) ?? v);
    for (const a of n.attribute) if (a.g) renameInputs(a.g.node, renamed);
  }
}

/** The step graph of `module` inside `g`'s scope: its own size symbols, parameters named from `path`. */
function stepIn(g: OnnxGraph, module: StreamingModule, features: number, path: string): Built {
  const outer = g.takeSymbols();
  try {
    return buildStep(module, features, g.subgraph(), path === '' ? '' : `${path}.`);
  } finally {
    g.takeSymbols();
    g.restoreSymbols(outer);
  }
}

/**
 * A streaming module's forward (x [batch, tokens, features] → y [batch, tokens, ...]) as a Loop
 * over the tokens whose body is its step graph, starting from initState's values at the batch size
 * of x.
 */
function writeLoop(ctx: OnnxContext<unknown>, module: StreamingModule, path: string): void {
  const { g } = ctx;
  const [sa, sb] = [ctx.inShapes[0], ctx.altInShapes[0]] as [number[], number[]];
  if (sa.length !== 3) {
    ctx.fail(
      `a recurrent module's input must be [batch, tokens, features], got [${sa.join(', ')}]`,
    );
  }
  const x = ctx.inputs[0]!;
  const step = stepIn(g, module, sa[2]!, path);
  const { keys, init } = initialState(ctx, module, x, sa[0]!, sb[0]!);
  const bodyGraph = loopBody(module, step, keys, x);
  const tokens = g.op('Reshape', [g.op('Shape', [x], { start: 1, end: 2 }), g.ints([])]);
  const loopOuts = g.node('Loop', [tokens, '', ...init], keys.length + 1, { body: bodyGraph });
  const ys = loopOuts[keys.length]!; // [T, B, ...]
  const rank = (ctx.outShapes[0] as number[]).length;
  const perm = [1, 0, ...Array.from({ length: rank - 2 }, (_, i) => i + 2)];
  g.op('Transpose', [ys], { perm }, ctx.outputs[0]);
}

/**
 * initState's values as graph values at the batch size of x (batch a and b in the two traces; only
 * that size symbol in sight), and their keys in order.
 */
function initialState(
  ctx: OnnxContext<unknown>,
  module: StreamingModule,
  x: string,
  batchA: number,
  batchB: number,
): { keys: string[]; init: string[] } {
  const { g } = ctx;
  const outer = g.takeSymbols();
  const [ia, ib] = [module.initState(batchA), module.initState(batchB)];
  const keys = Object.keys(ia);
  g.addSymbol({
    a: batchA,
    b: batchB,
    name: g.op('Shape', [x], { start: 0, end: 1 }),
  });
  const init = keys.map((k) => {
    const c = constantOf(g, ia[k]!, ib[k]!, new Map());
    if (c === null) {
      ctx.fail(
        `initState's '${k}' is not a fill of a batch-sized shape: cannot start the token loop`,
      );
    }
    return c;
  });
  g.takeSymbols();
  g.restoreSymbols(outer);
  return { keys, init };
}

/**
 * The Loop's body: (iteration, cond, state...) → (cond, next state..., y_t = step(x[:, iteration])),
 * the step graph with its inputs renamed to the loop's.
 */
function loopBody(
  module: StreamingModule,
  step: ReturnType<typeof stepIn>,
  keys: string[],
  x: string,
): GraphMsg {
  const body = step.graph;
  const iter = body.fresh('loop_iter');
  const condIn = body.fresh('loop_cond');
  const xt = body.fresh('x_t');
  const stateIn = keys.map((k) => body.fresh(`loop_state_${k.replace(/\W/g, '_')}`));
  const renamed = new Map<string, string>([['x', xt]]);
  keys.forEach((k, i) => {
    renamed.set(`state.${k}`, stateIn[i]!);
  });
  renameInputs(body.nodes, renamed);
  const head = body.nodes.length;
  body.op('Gather', [x, iter], { axis: 1 }, xt);
  body.nodes.unshift(...body.nodes.splice(head));
  const condOut = body.op('Identity', [condIn]);
  const outs = step.outputValues.map((v) => body.op('Identity', [renamed.get(v) ?? v]));
  const [yOut, ...stateOuts] = outs;
  const scalarInfo = (name: string, t: OnnxType): ValueInfoMsg => ({
    name,
    type: { tensorType: { elemType: dataTypeOf(t), shape: { dim: [] } } },
  });
  const typed = (name: string, code: DataTypeCode): ValueInfoMsg => ({
    name,
    type: { tensorType: { elemType: code } },
  });
  const bodyGraph: GraphMsg = {
    name: `${module.constructor.name}_step`,
    node: body.nodes,
    initializer: [],
    input: [
      scalarInfo(iter, 'int64'),
      scalarInfo(condIn, 'bool'),
      ...keys.map((_, i) => ({
        ...step.inputs[i + 1]!,
        name: stateIn[i]!,
      })),
    ],
    output: [
      typed(condOut, dataTypeOf('bool')),
      ...stateOuts.map((v, i) => typed(v, step.outputs[i + 1]!.type.tensorType.elemType)),
      typed(yOut!, dataTypeOf('float32')),
    ],
  };
  return bodyGraph;
}

/** The longest sequence a trace feeds (a step is traced after WARMUP tokens, a KV cache's length). */
const TRACE_TOKENS = Math.max(TOKENS[1], WARMUP[1] + 1);

/**
 * When a trace failed and a module only covers `maxLen` tokens, fewer than the traces feed: the
 * reason, said plainly (its own error only says a length was exceeded).
 */
function tooShort(root: Module, e: unknown): TensorError | null {
  for (const [path, m] of root.namedModules()) {
    const maxLen = (m as unknown as { maxLen?: unknown }).maxLen;
    if (typeof maxLen === 'number' && maxLen < TRACE_TOKENS) {
      return new TensorError(
        'toOnnx',
        `${m.constructor.name} at ${path === '' ? 'the root module' : `'${path}'`} covers at most maxLen = ${maxLen} tokens, and the export traces up to ${TRACE_TOKENS}: export a model built with maxLen >= ${TRACE_TOKENS} (${e instanceof Error ? e.message : String(e)})`,
      );
    }
  }
  return null;
}

/**
 * Writes a module as an ONNX model (opset 17, weights as initializers): its parallel graph
 * (`x` [batch, tokens, features] → `y`) or its streaming step graph (`x` [batch, features] and
 * `state.<key>` → `y` and `next.<key>`). Every op the module runs must have an ONNX lowering;
 * otherwise this throws a TensorError naming the op and the module path.
 */
export function toOnnx(module: Module, options: ToOnnxOptions): Uint8Array {
  // No side file: a model too large for one protobuf is refused, pointing to toOnnxFiles.
  return toOnnxFiles(module, options, { location: '' }).model;
}

/** Where weights go when a model is too large for one protobuf message (ONNX external data). */
export interface ExternalDataOptions {
  /**
   * The side file's name as written in the model (each weight's `location`), relative to the .onnx
   * file: runtimes look for it beside the model, e.g. 'model.onnx.data'.
   */
  location: string;
  /**
   * Total weight bytes above which weights of 1 KiB or more move to the side file. Default: what
   * a 2 GB protobuf cannot hold; 0 moves them whatever the size.
   */
  threshold?: number;
}

/** A model and its external data. */
export interface OnnxFiles {
  /** The .onnx file. */
  model: Uint8Array;
  /** The side file's bytes, as pieces to write one after another; empty when every weight is inline. */
  data: Uint8Array[];
  /** The side file's name, as the model refers to it. */
  location: string;
}

/** Weights smaller than this stay inline even when the others move out (ONNX's usual cut-off). */
const EXTERNAL_MIN_BYTES = 1024;
/** Each weight starts at a multiple of this in the side file (a page: the runtime can map it). */
const EXTERNAL_ALIGN = 4096;

/** Moves the large initializers' bytes into side-file pieces, recording location, offset, length. */
function externalise(initializers: TensorMsg[], location: string): Uint8Array[] {
  const pieces: Uint8Array[] = [];
  let offset = 0;
  for (const t of initializers) {
    const raw = t.rawData;
    if (raw.length < EXTERNAL_MIN_BYTES) continue;
    const pad = (EXTERNAL_ALIGN - (offset % EXTERNAL_ALIGN)) % EXTERNAL_ALIGN;
    if (pad > 0) pieces.push(new Uint8Array(pad));
    offset += pad;
    pieces.push(raw);
    t.externalData = [
      { key: 'location', value: location },
      { key: 'offset', value: String(offset) },
      { key: 'length', value: String(raw.length) },
    ];
    t.dataLocation = DataLocation.EXTERNAL;
    t.rawData = new Uint8Array(0);
    offset += raw.length;
  }
  return pieces;
}

/**
 * toOnnx, with the weights in a side file (ONNX external data) when they exceed
 * `external.threshold` bytes (by default when the model would not fit one 2 GB protobuf). Write
 * `data`'s pieces in order to `location` beside the model: onnxruntime (Node, Python) then loads the
 * model from its path.
 */
export function toOnnxFiles(
  module: Module,
  options: ToOnnxOptions,
  external: ExternalDataOptions,
): OnnxFiles {
  const threshold = checkExportArgs(module, options, external);
  const built = buildGraph(module, options);
  const { graph: g } = built;
  const initializers = g.initializers.map((t) => ({ ...t }));
  const data = placeWeights(initializers, threshold, external.location);
  built.outputs.forEach((o, i) => {
    g.op('Identity', [built.outputValues[i]!], {}, o.name);
  });
  const model = encodeModel({
    irVersion: IR_VERSION,
    producerName: '@recur/tensor',
    producerVersion: '0',
    graph: {
      name: options.name ?? module.constructor.name,
      node: g.nodes,
      initializer: initializers,
      input: built.inputs,
      output: built.outputs,
    },
    opsetImport: [{ domain: '', version: ONNX_OPSET }],
    metadataProps: [{ key: 'recur.mode', value: options.mode }],
  });
  return { model, data, location: external.location };
}

/** Checks toOnnxFiles' module, mode and threshold; returns the threshold (its default filled in). */
function checkExportArgs(
  module: Module,
  options: ToOnnxOptions,
  external: ExternalDataOptions,
): number {
  if (!(module instanceof Module)) {
    throw new TensorError(
      'toOnnx',
      `expected an nn.Module, got ${module === null ? 'null' : typeof module}`,
    );
  }
  if (options.mode !== 'parallel' && options.mode !== 'step') {
    throw new TensorError(
      'toOnnx',
      `expected mode 'parallel' or 'step', got ${String(options.mode)}`,
    );
  }
  const threshold = external.threshold ?? MAX_PROTO_BYTES;
  if (!(threshold >= 0)) {
    throw new TensorError('toOnnx', `expected externalData threshold >= 0, got ${threshold}`);
  }
  return threshold;
}

/** Traces the module (in eval mode, without gradients) into the graph of the chosen mode. */
function buildGraph(module: Module, options: ToOnnxOptions): Built {
  const features = inputSizeOf(module, options);
  if (options.mode === 'step' && !isStreaming(module)) {
    throw new TensorError(
      'toOnnx',
      `${module.constructor.name} has no step(x, state): it cannot be exported in step mode`,
    );
  }
  try {
    return whileExporting(() =>
      tidy(() =>
        noGrad(() =>
          inEvalMode(module, () =>
            options.mode === 'step'
              ? buildStep(module as StreamingModule, features)
              : buildParallel(module, features),
          ),
        ),
      ),
    );
  } catch (e) {
    throw tooShort(module, e) ?? e;
  }
}

/**
 * Moves the initializers' weights to external data at `location` when they take more than
 * `threshold` bytes (returning the pieces to write there), and checks that what stays inline fits
 * one protobuf.
 */
function placeWeights(
  initializers: TensorMsg[],
  threshold: number,
  location: string,
): Uint8Array[] {
  const weightBytes = initializers.reduce((n, t) => n + t.rawData.length, 0);
  let data: Uint8Array[] = [];
  if (weightBytes > threshold) {
    if (location === '' || /[/\\]/.test(location)) {
      throw new TensorError(
        'toOnnx',
        weightBytes > MAX_PROTO_BYTES
          ? `the weights take ${(weightBytes / 2 ** 30).toFixed(2)} GiB, over what one ONNX protobuf holds (2 GB): use toOnnxFiles, which writes them as external data`
          : `expected the external data's location to be a file name beside the model, got '${location}'`,
      );
    }
    data = externalise(initializers, location);
  }
  const inline = initializers.reduce((n, t) => n + t.rawData.length, 0);
  if (inline > MAX_PROTO_BYTES) {
    throw new TensorError(
      'toOnnx',
      `the weights under 1 KiB each still take ${(inline / 2 ** 30).toFixed(2)} GiB inline: over what one ONNX protobuf holds`,
    );
  }
  return data;
}

export type { DType };
