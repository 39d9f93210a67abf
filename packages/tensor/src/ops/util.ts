import { type DType, promote } from '../dtype.js';
import { TensorError } from '../errors.js';
import { Tensor, type TensorLike } from '../tensor.js';

/**
 * Turns a JS number operand into a scalar tensor beside `like`. The number takes `like`'s dtype where
 * it fits (an integer with an int32 tensor); a fractional number makes it float32.
 */
export function asTensor(op: string, x: TensorLike, like: Tensor): Tensor {
  if (x instanceof Tensor) return x;
  if (typeof x !== 'number')
    throw new TensorError(op, `expected a Tensor or a number, got ${typeof x}`);
  const dtype: DType = like.dtype === 'int32' && Number.isInteger(x) ? 'int32' : 'float32';
  const data = dtype === 'int32' ? new Int32Array([x]) : new Float32Array([x]);
  return Tensor.fromHost(data, [], like.backend);
}

/** Both operands as tensors; at least one must already be a Tensor. */
export function asTensors(op: string, a: TensorLike, b: TensorLike): [Tensor, Tensor] {
  if (a instanceof Tensor) return [a, asTensor(op, b, a)];
  if (b instanceof Tensor) return [asTensor(op, a, b), b];
  throw new TensorError(op, 'expected at least one Tensor operand, got two numbers');
}

export function resultDType(a: Tensor, b: Tensor): DType {
  return promote(a.dtype, b.dtype);
}
