import type { DType } from '../dtype.js';
import { TensorError } from '../errors.js';
import {
  type AttributeMsg,
  AttributeType,
  DataType,
  type DataTypeCode,
  type GraphMsg,
  type NodeMsg,
  type TensorMsg,
} from './proto.js';

/** An attribute value: a number is an INT, a number[] INTS, `{ float }` a FLOAT, a graph a GRAPH. */
export type AttrValue = number | readonly number[] | { float: number } | GraphMsg | TensorMsg;

/** ONNX element types the exporter uses. */
export type OnnxType = DType | 'int64' | 'bool';

export function dataTypeOf(t: OnnxType): DataTypeCode {
  if (t === 'float32') return DataType.FLOAT;
  if (t === 'int32') return DataType.INT32;
  if (t === 'int64') return DataType.INT64;
  return DataType.BOOL;
}

/** Little-endian bytes of `values` as `type`. */
function rawBytes(values: ArrayLike<number>, type: OnnxType): Uint8Array {
  const n = values.length;
  if (type === 'float32') return new Uint8Array(Float32Array.from(values).buffer);
  if (type === 'int32') return new Uint8Array(Int32Array.from(values).buffer);
  if (type === 'bool') return Uint8Array.from(values, (v) => (v ? 1 : 0));
  const out = new BigInt64Array(n);
  for (let i = 0; i < n; i++) out[i] = BigInt(values[i]!);
  return new Uint8Array(out.buffer);
}

export function tensorMsg(
  name: string,
  values: ArrayLike<number>,
  dims: readonly number[],
  type: OnnxType,
): TensorMsg {
  return { name, dims: dims.slice(), dataType: dataTypeOf(type), rawData: rawBytes(values, type) };
}

function attribute(name: string, v: AttrValue): AttributeMsg {
  if (typeof v === 'number') return { name, type: AttributeType.INT, i: v };
  if (Array.isArray(v)) return { name, type: AttributeType.INTS, ints: v.slice() };
  if ('float' in v) return { name, type: AttributeType.FLOAT, f: v.float };
  if ('node' in v) return { name, type: AttributeType.GRAPH, g: v };
  return { name, type: AttributeType.TENSOR, t: v as TensorMsg };
}

/**
 * A size that depends on the inputs' sizes (the batch, the number of tokens, a cache's length):
 * its values in the two traces and the int64 [1] tensor that holds it in the graph.
 */
export interface SizeSymbol {
  readonly a: number;
  readonly b: number;
  readonly name: string;
}

/** Shared by a graph and its subgraphs: fresh names, initializers, and the known size symbols. */
class GraphScope {
  counter = 0;
  readonly initializers: TensorMsg[] = [];
  readonly constants = new Map<string, string>();
  readonly symbols: SizeSymbol[] = [];
  readonly named = new Set<string>();
}

/**
 * Nodes being written. Initializers all live in the top graph (subgraphs of Scan and Loop read them
 * from the outer scope), so a subgraph shares its parent's scope.
 */
export class OnnxGraph {
  readonly nodes: NodeMsg[] = [];
  constructor(private readonly scope: GraphScope = new GraphScope()) {}

  /** A new unique value name starting with `hint`. */
  fresh(hint: string): string {
    return `${hint}_${this.scope.counter++}`;
  }

  /** Appends one node; `outputs` names them, or a count asks for fresh names. Returns the outputs. */
  node(
    opType: string,
    inputs: readonly string[],
    outputs: number | readonly string[] = 1,
    attrs: Record<string, AttrValue> = {},
  ): string[] {
    const outs =
      typeof outputs === 'number'
        ? Array.from({ length: outputs }, () => this.fresh(opType))
        : outputs.slice();
    this.nodes.push({
      name: this.fresh(`n_${opType}`),
      opType,
      domain: '',
      input: inputs.slice(),
      output: outs,
      attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)),
    });
    return outs;
  }

  /** node() with one output. */
  op(
    opType: string,
    inputs: readonly string[],
    attrs: Record<string, AttrValue> = {},
    output?: string,
  ): string {
    return this.node(opType, inputs, output === undefined ? 1 : [output], attrs)[0]!;
  }

  /** A constant tensor (an initializer; small ones are shared). */
  constant(values: ArrayLike<number>, dims: readonly number[], type: OnnxType, hint = 'c'): string {
    const small = values.length <= 16;
    const key = small ? `${type}|${dims.join(',')}|${Array.from(values).join(',')}` : '';
    const known = small ? this.scope.constants.get(key) : undefined;
    if (known) return known;
    const name = this.fresh(hint);
    this.scope.initializers.push(tensorMsg(name, values, dims, type));
    if (small) this.scope.constants.set(key, name);
    return name;
  }

  /** An int64 1-D constant (axes, shapes, starts…). */
  ints(values: readonly number[]): string {
    return this.constant(values, [values.length], 'int64');
  }

  /** A scalar constant of `type`. */
  scalar(value: number, type: OnnxType): string {
    return this.constant([value], [], type);
  }

  /**
   * Adds a named initializer (a parameter), once: a parameter read both by a graph and by a loop's
   * body over a submodule's step has one name (its path from the exported module).
   */
  initializer(t: TensorMsg): void {
    if (this.scope.named.has(t.name)) return;
    this.scope.named.add(t.name);
    this.scope.initializers.push(t);
  }

  /**
   * The constant tensors (weights, shape constants) recorded so far in this graph's scope, shared
   * with its subgraphs.
   */
  get initializers(): readonly TensorMsg[] {
    return this.scope.initializers;
  }

  /** A graph for the body of a Scan or Loop: same names and initializers, its own nodes. */
  subgraph(): OnnxGraph {
    return new OnnxGraph(this.scope);
  }

  /** Removes the size symbols and returns them (a subgraph's symbols are not its parent's). */
  takeSymbols(): SizeSymbol[] {
    return this.scope.symbols.splice(0);
  }

  /** Puts back symbols takeSymbols() removed. */
  restoreSymbols(symbols: readonly SizeSymbol[]): void {
    this.scope.symbols.push(...symbols);
  }

  /**
   * This (sub)graph's nodes as the body of a Scan or Loop, with typed inputs and outputs (shapes left
   * to the runtime).
   */
  body(
    name: string,
    inputs: readonly (readonly [string, OnnxType])[],
    outputs: readonly (readonly [string, OnnxType])[],
  ): GraphMsg {
    const info = ([n, t]: readonly [string, OnnxType]) => ({
      name: n,
      type: { tensorType: { elemType: dataTypeOf(t) } },
    });
    return {
      name,
      node: this.nodes,
      initializer: [],
      input: inputs.map(info),
      output: outputs.map(info),
    };
  }

  /**
   * Registers a size that depends on the inputs' sizes (its values in the two traces and the graph
   * tensor holding it), so that {@link OnnxGraph.size} can express later sizes in terms of it.
   */
  addSymbol(s: SizeSymbol): void {
    this.scope.symbols.push(s);
  }

  /**
   * A size whose value was `a` in one trace and `b` in the other: a number when they agree, else an
   * int64 [1] tensor computed from the symbols (s + c, k·s or s·s'), or null when none fits. When
   * more than one expression fits, the size is ambiguous and the export stops rather than guess.
   */
  size(a: number, b: number): number | string | null {
    if (a === b) return a;
    const syms = this.scope.symbols;
    const fits: { what: string; emit: () => string }[] = [];
    for (const s of syms) {
      if (a - s.a === b - s.b) {
        const c = a - s.a;
        fits.push({
          what: `${s.name} + ${c}`,
          emit: () => (c === 0 ? s.name : this.op('Add', [s.name, this.ints([c])])),
        });
      } else if (s.a !== 0 && s.b !== 0 && a % s.a === 0 && a / s.a === b / s.b) {
        const k = a / s.a;
        fits.push({ what: `${k}·${s.name}`, emit: () => this.op('Mul', [s.name, this.ints([k])]) });
      }
    }
    syms.forEach((s, i) => {
      for (const r of syms.slice(i)) {
        if (s.a * r.a === a && s.b * r.b === b) {
          fits.push({ what: `${s.name}·${r.name}`, emit: () => this.op('Mul', [s.name, r.name]) });
        }
      }
    });
    if (fits.length > 1) {
      throw new TensorError(
        'toOnnx',
        `a size (${a} and ${b} in the two traces) fits ${fits.map((f) => f.what).join(' and ')}: cannot tell which it is`,
      );
    }
    return fits[0]?.emit() ?? null;
  }

  /**
   * An int64 1-D shape tensor for dims `a` (trace A) / `b` (trace B); null when a size cannot be
   * expressed. `keep[i]` (optional) gives the code to use instead for a dim (0 = copy in Reshape).
   */
  shape(a: readonly number[], b: readonly number[]): string | null {
    const parts = a.map((d, i) => this.size(d, b[i]!));
    if (parts.some((p) => p === null)) return null;
    if (parts.every((p) => typeof p === 'number')) return this.ints(parts);
    return this.op(
      'Concat',
      parts.map((p) => (typeof p === 'number' ? this.ints([p]) : p!)),
      { axis: 0 },
    );
  }
}

/** One `T` per member of the tuple `Of` (an op's inputs or outputs). */
type Each<Of extends readonly unknown[], T> = { readonly [K in keyof Of]: T };

/**
 * What an op's ONNX lowering sees: the op as traced twice (at two input sizes) and the graph. `In`
 * and `Out` are the op's input tuple and output specs (see `OpDef`): each per-input and per-output
 * list is a tuple of the same length.
 */
export interface OnnxContext<
  A,
  In extends readonly unknown[] = readonly unknown[],
  Out extends readonly unknown[] = readonly unknown[],
> {
  readonly op: string;
  /** The module path the op ran under (for errors). */
  readonly path: string;
  /** Attributes in the first trace, and in the second (they differ only in sizes). */
  readonly attrs: A;
  readonly altAttrs: A;
  /** Value names of the inputs, and the names the outputs must be written to. */
  readonly inputs: Each<In, string>;
  readonly outputs: Each<Out, string>;
  readonly inShapes: Each<In, readonly number[]>;
  readonly altInShapes: Each<In, readonly number[]>;
  readonly outShapes: Each<Out, readonly number[]>;
  readonly altOutShapes: Each<Out, readonly number[]>;
  readonly inDTypes: Each<In, DType>;
  readonly outDTypes: Each<Out, DType>;
  readonly g: OnnxGraph;
  /** Throws the export's TensorError, naming the op and the module path. */
  fail(message: string): never;
}

/** Writes an op as ONNX nodes that compute its outputs into `ctx.outputs`. */
export type OnnxLowering<
  A,
  In extends readonly unknown[] = readonly unknown[],
  Out extends readonly unknown[] = readonly unknown[],
> = (ctx: OnnxContext<A, In, Out>) => void;

export function exportError(op: string, path: string, message: string): TensorError {
  return new TensorError(
    'toOnnx',
    `${op} at ${path === '' ? 'the root module' : `'${path}'`}: ${message}`,
  );
}

// ---- helpers the lowerings share ---------------------------------------------------------------

/** Casts `name` from `from` to `to` when they differ. */
export function castTo(g: OnnxGraph, name: string, from: OnnxType, to: OnnxType): string {
  return from === to ? name : g.op('Cast', [name], { to: dataTypeOf(to) });
}

/** An elementwise op with one ONNX node of the same arity (inputs cast to the output's float dtype). */
export function elementwise(opType: string, attrs: Record<string, AttrValue> = {}) {
  return (ctx: OnnxContext<unknown>): void => {
    const out = ctx.outDTypes[0]!;
    const ins = ctx.inputs.map((x, i) => castTo(ctx.g, x, ctx.inDTypes[i]!, out));
    ctx.g.op(opType, ins, attrs, ctx.outputs[0]);
  };
}

/** A comparison (ONNX gives bool; recur gives int32 0/1), inputs brought to one dtype. */
export function comparison(opType: string, negate = false) {
  return (ctx: OnnxContext<unknown>): void => {
    const [a, b] = [ctx.inDTypes[0]!, ctx.inDTypes[1]!];
    const common: DType = a === 'float32' || b === 'float32' ? 'float32' : 'int32';
    const ins = ctx.inputs.map((x, i) => castTo(ctx.g, x, ctx.inDTypes[i]!, common));
    let y = ctx.g.op(opType, ins);
    if (negate) y = ctx.g.op('Not', [y]);
    ctx.g.op('Cast', [y], { to: DataType.INT32 }, ctx.outputs[0]);
  };
}

/** The largest Slice end: an end of 2⁶² is clamped by the runtime to the axis's length. */
export const SLICE_END = 2 ** 62;
/**
 * The smallest Slice start: a start of −2⁶² is clamped by the runtime to the axis's beginning (see
 * {@link SLICE_END}).
 */
export const SLICE_BEGIN = -(2 ** 62);

/** An int64 1-D tensor from parts that are numbers or int64 [1] tensors. */
export function intsOf(g: OnnxGraph, parts: readonly (number | string)[]): string {
  if (parts.every((p) => typeof p === 'number')) return g.ints(parts as number[]);
  return g.op(
    'Concat',
    parts.map((p) => (typeof p === 'number' ? g.ints([p]) : p)),
    { axis: 0 },
  );
}
