import { concat, full, normalizeAxis, type Tensor, TensorError } from '@recur/tensor';
import { fmtShape } from '@recur/tensor/kernels';
import { sequentialScan, treeScan } from './generic.js';
import { wgslScan } from './kernels/webgpu/generic.js';
import type { ScanOperator } from './operator.js';

/** How scan() runs: 'sequential', 'tree', 'chunked' or 'auto' (see ScanOptions.algorithm). */
export type ScanAlgorithm = 'sequential' | 'chunked' | 'tree' | 'auto';

/**
 * Options of scan(): the scanned axis, the direction, inclusive or exclusive outputs, the algorithm
 * and a carry to resume from.
 */
export interface ScanOptions {
  /**
   * The scanned axis, resolved against the first input (negative counts from its end). Default:
   * the axis just before the first member's element axes (the last axis for scalar elements).
   */
  axis?: number;
  /** Scan from the end: exactly flip → scan → flip. */
  reverse?: boolean;
  /** Output i combines the elements before i (the carry, or the identity, at i = 0). */
  exclusive?: boolean;
  /**
   * 'sequential': one element after another (a built-in operator's fused kernel where there is
   * one, else T generic combines); 'tree': Blelloch's work-efficient scan with vectorised combines;
   * 'chunked': blocks of `chunkSize` scanned at once with the carry passed between them (memory per
   * block, as in streaming); 'auto' (default): the fused kernel where available, else tree.
   */
  algorithm?: ScanAlgorithm;
  /** Block length for 'chunked' (default 256). */
  chunkSize?: number;
  /** The state before the first element: one tensor per tuple member, shaped like it without the axis. */
  carry?: readonly Tensor[];
}

/** What scan() returns: the prefix combinations and the state after the last element. */
export interface ScanResult {
  /** One tensor per tuple member, shaped like the inputs. */
  outputs: Tensor[];
  /** The state after the last element (the carry if the sequence is empty), to resume from. */
  carry: Tensor[];
}

function fail(op: ScanOperator, message: string): never {
  throw new TensorError(`scan(${op.name})`, message);
}

/** Validates scan()'s inputs, carry and options; returns the resolved axis. */
export function checkScanInputs(
  op: ScanOperator,
  inputs: readonly Tensor[],
  options: ScanOptions,
): number {
  if (inputs.length !== op.arity)
    fail(op, `expected ${op.arity} input tensors, got ${inputs.length}`);
  const first = inputs[0]!;
  const elemRank = op.elementRanks?.[0] ?? 0;
  if (first.rank < elemRank + 1)
    fail(op, `input 0 of shape ${fmtShape(first.shape)} has no sequence axis`);
  const axis = normalizeAxis(`scan(${op.name})`, options.axis ?? -(elemRank + 1), first.rank);
  const lead = first.shape.slice(0, axis + 1);
  inputs.forEach((x, k) => {
    if (x.rank <= axis || x.shape.slice(0, axis + 1).some((d, i) => d !== lead[i])) {
      fail(
        op,
        `input ${k} of shape ${fmtShape(x.shape)} does not share the leading axes ${fmtShape(lead)} of input 0 (scan axis ${axis})`,
      );
    }
    if (x.dtype !== 'float32') fail(op, `input ${k} must be float32, got ${x.dtype}`);
  });
  if (options.carry) {
    if (options.carry.length !== op.arity)
      fail(op, `expected a carry of ${op.arity} tensors, got ${options.carry.length}`);
    options.carry.forEach((c, k) => {
      const want = withoutAxis(inputs[k]!.shape, axis);
      if (c.rank !== want.length || c.shape.some((d, i) => d !== want[i])) {
        fail(
          op,
          `carry ${k} must have shape ${fmtShape(want)} (input ${k} without axis ${axis}), got ${fmtShape(c.shape)}`,
        );
      }
      if (c.dtype !== 'float32') fail(op, `carry ${k} must be float32, got ${c.dtype}`);
    });
  }
  const chunk = options.chunkSize;
  if (chunk !== undefined && (!Number.isInteger(chunk) || chunk < 1))
    fail(op, `expected a positive integer chunkSize, got ${chunk}`);
  return axis;
}

function withoutAxis(shape: readonly number[], axis: number): number[] {
  return [...shape.slice(0, axis), ...shape.slice(axis + 1)];
}

/** Inclusive scan with the carry folded in, by the chosen algorithm (never chunked). */
function inclusive(
  op: ScanOperator,
  xs: readonly Tensor[],
  axis: number,
  carry: readonly Tensor[] | undefined,
  algorithm: ScanAlgorithm,
): Tensor[] {
  if (algorithm !== 'tree') {
    // A user operator with a WGSL combine runs fused on WebGPU where no gradient is needed.
    const fused =
      op.fused?.(xs, axis, carry) ??
      (algorithm === 'auto' && !op.fused ? wgslScan(op, xs, axis, carry) : undefined);
    if (fused) return fused;
  }
  const out = algorithm === 'sequential' ? sequentialScan(op, xs, axis) : treeScan(op, xs, axis);
  if (!carry) return out;
  return op.combine(
    carry.map((c) => c.unsqueeze(axis)),
    out,
  );
}

function lastOf(xs: readonly Tensor[], axis: number): Tensor[] {
  return xs.map((x) => x.slice(axis, x.shape[axis]! - 1).squeeze(axis));
}

/**
 * Inclusive (or exclusive) prefix scan of `inputs` under `op` along one axis; see ScanOptions. With a
 * carry in and the carry out, a long sequence can be scanned in pieces with the same result as at once.
 */
export function scan(
  op: ScanOperator,
  inputs: readonly Tensor[],
  options: ScanOptions = {},
): ScanResult {
  const axis = checkScanInputs(op, inputs, options);
  const algorithm = options.algorithm ?? 'auto';
  if (!['sequential', 'chunked', 'tree', 'auto'].includes(algorithm)) {
    fail(op, `unknown algorithm '${algorithm}' (expected sequential, chunked, tree or auto)`);
  }
  const xs = options.reverse ? inputs.map((x) => x.flip(axis)) : inputs.slice();
  const n = xs[0]!.shape[axis]!;
  const identity = () =>
    xs.map((x, k) =>
      full(withoutAxis(x.shape, axis), op.identity[k]!, { backend: x.backend.name }),
    );

  let outputs: Tensor[];
  let carry: Tensor[];
  if (n === 0) {
    outputs = xs.slice();
    carry = options.carry ? options.carry.slice() : identity();
  } else if (algorithm === 'chunked') {
    const size = options.chunkSize ?? 256;
    const pieces: Tensor[][] = [];
    // n > 0: the loop runs at least once, so `last` ends as the last block's final states.
    let last: Tensor[] = [];
    for (let start = 0; start < n; start += size) {
      const block = xs.map((x) => x.slice(axis, start, Math.min(n, start + size)));
      const out = inclusive(op, block, axis, start === 0 ? options.carry : last, 'auto');
      pieces.push(out);
      last = lastOf(out, axis);
    }
    outputs = xs.map((_, k) =>
      pieces.length === 1
        ? pieces[0]![k]!
        : concat(
            pieces.map((p) => p[k]!),
            axis,
          ),
    );
    carry = last;
  } else {
    outputs = inclusive(op, xs, axis, options.carry, algorithm);
    carry = lastOf(outputs, axis);
  }

  if (options.exclusive && n > 0) {
    const before = options.carry ?? identity();
    outputs = outputs.map((o, k) =>
      concat([before[k]!.unsqueeze(axis), o.slice(axis, 0, n - 1)], axis),
    );
  }
  if (options.reverse) outputs = outputs.map((o) => o.flip(axis));
  return { outputs, carry };
}
