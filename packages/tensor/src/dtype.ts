/** Element types a tensor can hold. Comparisons and indices are int32; there is no bool dtype. */
export type DType = 'float32' | 'int32';
/**
 * The host array of a dtype: Float32Array for float32, Int32Array for int32 (what {@link
 * Tensor.data} returns).
 */
export type TypedArray = Float32Array | Int32Array;

/** The host array of dtype `D` (of any dtype: {@link TypedArray} when `D` is `DType`). */
export type ArrayOf<D extends DType> = D extends 'int32' ? Int32Array : Float32Array;

export const DTYPES: readonly DType[] = ['float32', 'int32'];

export function isDType(x: unknown): x is DType {
  return x === 'float32' || x === 'int32';
}

export function bytesPerElement(_dtype: DType): number {
  return 4;
}

export function allocTyped<D extends DType>(dtype: D, size: number): ArrayOf<D> {
  // TypeScript does not narrow `D` from the comparison; the two branches are ArrayOf<D> by definition.
  return (dtype === 'float32' ? new Float32Array(size) : new Int32Array(size)) as ArrayOf<D>;
}

export function dtypeOfArray(a: TypedArray): DType {
  return a instanceof Int32Array ? 'int32' : 'float32';
}

/** NumPy-style promotion over our two dtypes: any float makes the result float. */
export function promote(a: DType, b: DType): DType {
  return a === 'float32' || b === 'float32' ? 'float32' : 'int32';
}
