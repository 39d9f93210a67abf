import type { KernelInput, OutputSpec } from './backend.js';
import { isGradEnabled } from './engine.js';
import { TensorError } from './errors.js';
import { getKernel } from './kernels.js';
import type { OnnxLowering } from './onnx/lowering.js';
import { activeRecorder } from './onnx/trace.js';
import { Tensor } from './tensor.js';

/** What a gradient rule sees: the op's inputs, its outputs and its attributes. */
export interface GradContext<A> {
  readonly inputs: readonly Tensor[];
  /** The first output (the usual single result). */
  readonly output: Tensor;
  readonly outputs: readonly Tensor[];
  readonly attrs: A;
  /**
   * Gradients of every output, null where none flowed. `dy` (the first) is never null: it is zeros
   * when only later outputs received a gradient.
   */
  readonly outputGrads: readonly (Tensor | null)[];
}

/**
 * One op = one definition: a shape rule (validates and promises outputs) and a gradient rule written
 * with other ops, so it holds for every backend. The kernel that computes it is looked up by `name`
 * in the registry for the inputs' backend. Every float32 output is differentiable; a rule that
 * handles several outputs reads `ctx.outputGrads`.
 */
export interface OpDef<A> {
  readonly name: string;
  /** The registered kernel that computes it; `name` when left out (several ops can share one). */
  readonly kernel?: string;
  /**
   * The shape rule: checks the inputs and attributes (throwing a {@link TensorError} naming what is
   * wrong) and returns each output's shape and dtype.
   */
  infer(inputs: readonly Tensor[], attrs: A): OutputSpec[];
  /** Gradients with respect to each input given the first output's gradient; null where none flows. */
  grad?(dy: Tensor, ctx: GradContext<A>): (Tensor | null)[];
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
  readonly onnx?: OnnxLowering<A>;
}

/**
 * Declares an op from its definition (it returns `def` as is, typed); run it with {@link runOp} or
 * {@link run1} on the backend of its inputs, where a kernel of its name must be registered (see
 * {@link registerKernel}).
 */
export function defineOp<A>(def: OpDef<A>): OpDef<A> {
  return def;
}

/** A recorded application of an op, the edge autograd walks backwards. */
export class GradNode {
  outputs: readonly Tensor[] = [];
  /** The inputs' versions when recorded: backward refuses inputs assign() changed since. */
  readonly versions: readonly number[];
  constructor(
    readonly op: OpDef<unknown>,
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

/** Runs an op on tensors: shape rule, backend kernel, and autograd recording. */
export function runOp<A>(def: OpDef<A>, inputs: readonly Tensor[], attrs: A): Tensor[] {
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
  const specs = def.infer(inputs, attrs);
  let outputs: Tensor[];
  if (def.view) {
    const src = inputs[0] as Tensor;
    outputs = [Tensor.view(src, specs[0] as OutputSpec)];
  } else {
    if (!backend) throw new TensorError(def.name, 'expected at least one input tensor');
    const kernel = getKernel<A>(def.kernel ?? def.name, backend.name);
    const buffers = kernel(backend, inputs.map(kernelInput), attrs, specs);
    outputs = buffers.map((b, i) => Tensor.fromBuffer(backend, b, specs[i] as OutputSpec));
  }
  if (def.grad && isGradEnabled() && inputs.some((t) => t.requiresGrad)) {
    const node = new GradNode(def as OpDef<unknown>, inputs, attrs);
    node.outputs = outputs;
    for (const t of outputs) if (t.dtype === 'float32') t.setNode(node);
  }
  activeRecorder()?.op({ op: def as OpDef<unknown>, inputs, attrs, outputs });
  return outputs;
}

/** runOp for the usual single-output op. */
export function run1<A>(def: OpDef<A>, inputs: readonly Tensor[], attrs: A): Tensor {
  return runOp(def, inputs, attrs)[0] as Tensor;
}
