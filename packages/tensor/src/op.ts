import type { KernelInput, KernelInputs, OutputSpec } from './backend.js';
import { isGradEnabled } from './engine.js';
import { TensorError } from './errors.js';
import { getKernel } from './kernels.js';
import type { OnnxLowering } from './onnx/lowering.js';
import { activeRecorder } from './onnx/trace.js';
import { Tensor } from './tensor.js';

/** One tensor per output spec: what an op with output specs `Out` returns. */
export type OutputTensors<Out extends readonly OutputSpec[]> = {
  -readonly [K in keyof Out]: Tensor;
};

/**
 * What a gradient rule sees: the op's inputs (typed as the op's input tuple `In`), its outputs and
 * its attributes.
 */
export interface GradContext<
  A,
  In extends readonly Tensor[] = readonly Tensor[],
  Out extends readonly OutputSpec[] = readonly OutputSpec[],
> {
  readonly inputs: In;
  /** The first output (the usual single result). */
  readonly output: Tensor;
  readonly outputs: Readonly<OutputTensors<Out>>;
  readonly attrs: A;
  /**
   * Gradients of every output, null where none flowed. `dy` (the first) is never null: it is zeros
   * when only later outputs received a gradient.
   */
  readonly outputGrads: { readonly [K in keyof Out]: Tensor | null };
}

/**
 * One op = one definition: a shape rule (validates and promises outputs) and a gradient rule written
 * with other ops, so it holds for every backend. The kernel that computes it is looked up by `name`
 * in the registry for the inputs' backend. Every float32 output is differentiable; a rule that
 * handles several outputs reads `ctx.outputGrads`.
 *
 * `In` is the op's inputs as a tuple (`[Tensor, Tensor]` for matmul; `readonly Tensor[]` for an op of
 * any arity, concat) and `Out` its output specs (`[OutputSpec]`, the usual single output): the shape
 * rule, the gradient rule and the kernels (see {@link registerKernel}) receive them typed, so
 * `([x, w]) =>` needs no casts, and {@link runOp} checks the inputs it is given against `In`.
 */
export interface OpDef<
  A,
  In extends readonly Tensor[] = readonly Tensor[],
  Out extends readonly OutputSpec[] = [OutputSpec],
> {
  readonly name: string;
  /** The registered kernel that computes it; `name` when left out (several ops can share one). */
  readonly kernel?: string;
  /**
   * The shape rule: checks the inputs and attributes (throwing a {@link TensorError} naming what is
   * wrong) and returns each output's shape and dtype.
   */
  infer(inputs: In, attrs: A): Out;
  /** Gradients with respect to each input given the first output's gradient; null where none flows. */
  grad?(dy: Tensor, ctx: GradContext<A, In, Out>): (Tensor | null)[];
  /**
   * For a single-input op whose input gradient is mostly zeros (a slice of a long tensor): a function
   * that adds the gradient dy into `acc`, a tensor of the input's shape that backward owns, in place,
   * instead of a full-size tensor from `grad`. Undefined where it does not apply (these attrs).
   * Backward prefers it; `grad` must give the same result (it stays the definition).
   */
  gradInto?(attrs: A): ((acc: Tensor, dy: Tensor) => void) | undefined;
  /** The output shares input 0's buffer (reshape): no kernel runs. */
  readonly view?: boolean;
  /**
   * How the op is written as ONNX nodes (toOnnx). An op without one cannot be exported: the export
   * fails naming it, never writes a graph that is silently wrong.
   */
  readonly onnx?: OnnxLowering<A, NoInfer<In>, NoInfer<Out>>;
}

/**
 * Declares an op from its definition (it returns `def` as is, typed); run it with {@link runOp} or
 * {@link run1} on the backend of its inputs, where a kernel of its name must be registered (see
 * {@link registerKernel}).
 */
export function defineOp<
  A,
  In extends readonly Tensor[] = readonly Tensor[],
  Out extends readonly OutputSpec[] = [OutputSpec],
>(def: OpDef<A, In, Out>): OpDef<A, In, Out> {
  return def;
}

/** Any op, its attributes, inputs and outputs unknown (what autograd and the ONNX tracer hold). */
// biome-ignore lint/suspicious/noExplicitAny: the widest op type; every OpDef is assignable to it
export type AnyOpDef = OpDef<any, any, any>;

/** A recorded application of an op, the edge autograd walks backwards. */
export class GradNode {
  outputs: readonly Tensor[] = [];
  /** The inputs' versions when recorded: backward refuses inputs assign() changed since. */
  readonly versions: readonly number[];
  constructor(
    readonly op: AnyOpDef,
    readonly inputs: readonly Tensor[],
    readonly attrs: unknown,
  ) {
    this.versions = inputs.map((t) => t.version);
  }
}

/** @internal What a kernel sees of `t`. */
export function kernelInput(t: Tensor): KernelInput {
  return { buffer: t.buffer, shape: t.shape, dtype: t.dtype, size: t.size };
}

/**
 * Runs an op on tensors: shape rule, backend kernel, and autograd recording. Returns one tensor per
 * output spec.
 */
export function runOp<A, In extends readonly Tensor[], Out extends readonly OutputSpec[]>(
  def: OpDef<A, In, Out>,
  inputs: NoInfer<In>,
  attrs: NoInfer<A>,
): OutputTensors<Out> {
  const backend = inputs[0]?.backend;
  for (const t of inputs) {
    if (!(t instanceof Tensor))
      throw new TensorError(def.name, `expected Tensor inputs, got ${typeof t}`);
    t.assertAlive(def.name);
    if (t.backend !== backend) {
      throw new TensorError(
        def.name,
        `inputs live on different backends (${inputs.map((x) => x.backend.name).join(', ')}); move them with .to()`,
      );
    }
  }
  const specs: readonly OutputSpec[] = def.infer(inputs, attrs);
  if (!backend) throw new TensorError(def.name, 'expected at least one input tensor');
  let outputs: Tensor[];
  if (def.view) {
    const [src] = inputs;
    const [spec] = specs;
    if (!src || !spec)
      throw new TensorError(def.name, 'a view op takes one input and gives one output');
    outputs = [Tensor.view(src, spec)];
  } else {
    const kernel = getKernel<A, In, Out>(def.kernel ?? def.name, backend.name);
    const buffers = kernel(
      backend,
      inputs.map(kernelInput) as KernelInputs<In>,
      attrs,
      specs as Out,
    );
    outputs = buffers.map((b, i) => {
      const spec = specs[i];
      if (!spec) {
        throw new TensorError(
          def.name,
          `the kernel returned ${buffers.length} outputs, the shape rule promised ${specs.length}`,
        );
      }
      return Tensor.fromBuffer(backend, b, spec);
    });
  }
  if (def.grad && isGradEnabled() && inputs.some((t) => t.requiresGrad)) {
    const node = new GradNode(def, inputs, attrs);
    node.outputs = outputs;
    for (const t of outputs) if (t.dtype === 'float32') t.setNode(node);
  }
  activeRecorder()?.op({ op: def, inputs, attrs, outputs });
  return outputs as OutputTensors<Out>;
}

/** runOp for the usual single-output op. */
export function run1<A, In extends readonly Tensor[]>(
  def: OpDef<A, In, [OutputSpec]>,
  inputs: NoInfer<In>,
  attrs: NoInfer<A>,
): Tensor {
  return runOp(def, inputs, attrs)[0];
}
