import { isGradEnabled } from '../engine.js';
import { fmtShape, TensorError } from '../errors.js';
import { getKernel } from '../kernels.js';
import { kernelInput, type OpDef } from '../op.js';
import { normalizeAxis, stridesOf } from '../shape.js';
import type { Tensor } from '../tensor.js';
import type { StridedAttrs } from './movement.js';

/**
 * The in-place kernel 'stridedWrite': target[offset + Σ iₖ·stridesₖ] = src[i] (or += with
 * `accumulate`) for every position i of src, whose shape is `shape`. The view must not overlap
 * itself (slices never do), so each target element is written at most once.
 */
export interface StridedWriteAttrs extends StridedAttrs {
  readonly accumulate: boolean;
}

/**
 * @internal The type of the 'stridedWrite' kernel (`registerKernel<StridedWriteOp>`): target and
 * src in, no output (it writes the target's buffer). A kernel, not an op: no OpDef has this name.
 */
export type StridedWriteOp = OpDef<StridedWriteAttrs, [target: Tensor, src: Tensor], []>;

/**
 * @internal Writes (or adds) `src` into `target`'s buffer through a strided view, in place, and
 * stamps the target's version so autograd refuses graphs that read the old data. Not recorded.
 */
export function writeStrided(target: Tensor, src: Tensor, attrs: StridedWriteAttrs): void {
  const backend = target.backend;
  getKernel<StridedWriteAttrs, [Tensor, Tensor], []>('stridedWrite', backend.name)(
    backend,
    [kernelInput(target), kernelInput(src)],
    attrs,
    [],
  );
  target.markWritten();
}

/**
 * Writes `value` into `target[start : start + value.shape[axis]]` along `axis`, in place:
 * out[..., start + j, ...] = value[..., j, ...], every other element unchanged. `value` has target's
 * shape except along `axis`. Like `assign`, the write is not recorded by autograd and changes the
 * target's `version` (and that of every tensor sharing its buffer), so a backward pass through an
 * op that read the old data is refused rather than silently wrong. Returns `target`.
 *
 * This is the primitive behind a preallocated cache: writing one token costs O(token), not a copy
 * of everything written before.
 */
export function sliceAssign(target: Tensor, axis: number, start: number, value: Tensor): Tensor {
  const op = 'sliceAssign';
  target.assertAlive(op);
  value.assertAlive(op);
  if (target.rank === 0) throw new TensorError(op, 'expected a target of rank >= 1, got a scalar');
  const a = normalizeAxis(op, axis, target.rank);
  if (value.backend !== target.backend) {
    throw new TensorError(
      op,
      `target lives on '${target.backend.name}' and value on '${value.backend.name}'; move it with .to()`,
    );
  }
  if (value.dtype !== target.dtype) {
    throw new TensorError(op, `expected a ${target.dtype} value, got ${value.dtype}`);
  }
  if (value.rank !== target.rank || value.shape.some((d, k) => k !== a && d !== target.shape[k])) {
    throw new TensorError(
      op,
      `expected a value with the shape of target ${fmtShape(target.shape)} except along axis ${a}, got ${fmtShape(value.shape)}`,
    );
  }
  const n = target.shape[a]!;
  const len = value.shape[a]!;
  if (!Number.isInteger(start) || start < 0 || start + len > n) {
    throw new TensorError(
      op,
      `expected 0 <= start and start + ${len} <= ${n} (axis ${a} of ${fmtShape(target.shape)}), got start ${start}`,
    );
  }
  if (isGradEnabled() && value.requiresGrad) {
    throw new TensorError(
      op,
      'the value requires gradients, but in-place writes are not recorded by autograd; detach() it or write under noGrad()',
    );
  }
  if (value.size === 0) return target;
  const strides = stridesOf(target.shape);
  writeStrided(target, value, {
    shape: value.shape,
    strides,
    offset: start * strides[a]!,
    accumulate: false,
  });
  return target;
}
