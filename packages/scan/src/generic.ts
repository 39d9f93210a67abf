import { concat, stack, type Tensor } from '@recur/tensor';
import type { ScanOperator } from './operator.js';

/**
 * Scan algorithms built from an operator's tensor-op combine: they work for any associative operator
 * on any backend and are differentiable through autograd. All compute the inclusive scan along a
 * non-negative `axis` with no carry (the caller folds a carry in with one more combine).
 */

function sliceAll(
  xs: readonly Tensor[],
  axis: number,
  start: number,
  end: number,
  step = 1,
): Tensor[] {
  return xs.map((x) => x.slice(axis, start, end, step));
}

/** One element at a time: T combines. The reference every other algorithm must equal. */
export function sequentialScan(op: ScanOperator, xs: readonly Tensor[], axis: number): Tensor[] {
  const n = xs[0]!.shape[axis]!;
  if (n <= 1) return xs.slice();
  const steps: Tensor[][] = [];
  let acc = sliceAll(xs, axis, 0, 1);
  steps.push(acc);
  for (let t = 1; t < n; t++) {
    acc = op.combine(acc, sliceAll(xs, axis, t, t + 1));
    steps.push(acc);
  }
  return xs.map((_, k) =>
    concat(
      steps.map((s) => s[k]!),
      axis,
    ),
  );
}

/** Places evens at 0, 2, 4, … and odds at 1, 3, … (evens has the same length or one more). */
function interleave(evens: Tensor, odds: Tensor, axis: number): Tensor {
  const ne = evens.shape[axis]!;
  const no = odds.shape[axis]!;
  const head = ne > no ? evens.slice(axis, 0, no) : evens;
  const pairs = stack([head, odds], axis + 1);
  const merged = pairs.reshape([
    ...head.shape.slice(0, axis),
    2 * no,
    ...head.shape.slice(axis + 1),
  ]);
  return ne > no ? concat([merged, evens.slice(axis, no)], axis) : merged;
}

/**
 * Work-efficient tree scan (Blelloch's up-sweep/down-sweep, in the recursive form): combine adjacent
 * pairs, scan the half-length sequence of pair sums, then fix up the even positions. O(T) combines
 * in O(log T) levels, each level one vectorised combine over all positions.
 */
export function treeScan(op: ScanOperator, xs: readonly Tensor[], axis: number): Tensor[] {
  const n = xs[0]!.shape[axis]!;
  if (n <= 1) return xs.slice();
  const half = Math.floor(n / 2);
  const evens = sliceAll(xs, axis, 0, n, 2);
  const odds = sliceAll(xs, axis, 1, n, 2);
  const pairSums = op.combine(sliceAll(evens, axis, 0, half), odds);
  const oddOut = treeScan(op, pairSums, axis); // position 2i+1 = x₀ ⊕ … ⊕ x₂ᵢ₊₁
  const ne = evens[0]!.shape[axis]!;
  // Position 2i (i >= 1) = (x₀ ⊕ … ⊕ x₂ᵢ₋₁) ⊕ x₂ᵢ.
  const fixed =
    ne > 1 ? op.combine(sliceAll(oddOut, axis, 0, ne - 1), sliceAll(evens, axis, 1, ne)) : [];
  return xs.map((_, k) => {
    const first = evens[k]!.slice(axis, 0, 1);
    const evenOut = ne > 1 ? concat([first, fixed[k]!], axis) : first;
    return interleave(evenOut, oddOut[k]!, axis);
  });
}
