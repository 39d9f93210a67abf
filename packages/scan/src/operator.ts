import type { Tensor } from '@recur/tensor';

/**
 * An associative operator over tuples of tensors, as `jax.lax.associative_scan` takes one.
 *
 * `combine(a, b)` joins an earlier element `a` with a later element `b`; each is a tuple of `arity`
 * tensors whose leading (batch) axes agree and whose trailing element axes broadcast. It must be
 * associative — combine(combine(a, b), c) = combine(a, combine(b, c)) — but need not commute.
 * Written with tensor ops it runs on every backend and is differentiable by autograd, so any
 * operator gets the generic sequential, tree and chunked algorithms for free.
 */
export interface ScanOperator {
  readonly name: string;
  readonly arity: number;
  /** The identity element, one value per tuple member, filled across its element shape. */
  readonly identity: readonly number[];
  /**
   * How many trailing element axes each tuple member has (default 0 each). The default scan axis
   * is the one just before the first member's element axes.
   */
  readonly elementRanks?: readonly number[];
  /**
   * Joins an earlier element `a` with a later element `b` (tuples of `arity` tensors, broadcast
   * over the leading axes).
   */
  combine(a: readonly Tensor[], b: readonly Tensor[]): Tensor[];
  /**
   * A fused whole-sequence inclusive scan (one op with its own kernels and gradient) for the
   * built-in operators. `axis` is non-negative; `carry` (the state before the first element) has
   * each input's shape without the axis. Returns undefined where no kernel serves the inputs'
   * backend or layout, and the generic algorithms are used instead.
   */
  fused?(
    inputs: readonly Tensor[],
    axis: number,
    carry: readonly Tensor[] | undefined,
  ): Tensor[] | undefined;
  /**
   * WGSL source defining `struct Elem`, `fn identity() -> Elem` and `fn combine(a: Elem, b: Elem) ->
   * Elem`, from which the WebGPU backend builds its reduce-then-scan kernels.
   */
  readonly wgsl?: string;
}

/**
 * What {@link defineOperator} takes: a {@link ScanOperator} whose `combine` and `fused` receive
 * tuples of `arity` tensors (`combine: ([a1, b1], [a2, b2]) =>` is typed for arity 2).
 */
export interface OperatorDef<N extends number>
  extends Omit<ScanOperator, 'arity' | 'combine' | 'fused'> {
  readonly arity: N;
  /** {@link ScanOperator.combine} with its elements typed as tuples of `N` tensors. */
  combine(a: Elements<N>, b: Elements<N>): Tensor[];
  /** {@link ScanOperator.fused} with its inputs and carry typed as tuples of `N` tensors. */
  fused?(inputs: Elements<N>, axis: number, carry: Elements<N> | undefined): Tensor[] | undefined;
}

/**
 * A tuple of `N` tensors (an element of an operator of arity `N`), so `combine([a, b], [c, d]) =>`
 * is typed; a plain array where the arity is not a literal.
 */
export type Elements<N extends number, Acc extends readonly Tensor[] = []> = number extends N
  ? readonly Tensor[]
  : Acc['length'] extends N
    ? Acc
    : Elements<N, readonly [...Acc, Tensor]>;

/**
 * Checks a user-supplied operator and returns it (a typed identity function for literals). With a
 * literal `arity`, `combine` and `fused` receive tuples of that many tensors.
 */
export function defineOperator<N extends number>(op: OperatorDef<N>): ScanOperator {
  if (!op.name) throw new TypeError('defineOperator: expected a name');
  if (!Number.isInteger(op.arity) || op.arity < 1) {
    throw new TypeError(`defineOperator(${op.name}): expected arity >= 1, got ${op.arity}`);
  }
  if (op.identity.length !== op.arity) {
    throw new TypeError(
      `defineOperator(${op.name}): expected ${op.arity} identity values, got ${op.identity.length}`,
    );
  }
  if (op.elementRanks && op.elementRanks.length !== op.arity) {
    throw new TypeError(
      `defineOperator(${op.name}): expected ${op.arity} element ranks, got ${op.elementRanks.length}`,
    );
  }
  return op;
}
