import { sizeOf, type Tensor } from '@recur/tensor';

/** A tensor read as [outer, T, inner] around the scan axis: the layout every fused kernel uses. */
export interface ScanLayout {
  readonly outer: number;
  readonly length: number;
  readonly inner: number;
}

export function layoutOf(shape: readonly number[], axis: number): ScanLayout {
  return {
    outer: sizeOf(shape.slice(0, axis)),
    length: shape[axis]!,
    inner: sizeOf(shape.slice(axis + 1)),
  };
}

/** True when every tensor lives on a backend that registered all the named kernels. */
export function servedBy(
  tensors: readonly Tensor[],
  hasKernel: (name: string, backend: string) => boolean,
  ...kernels: string[]
): boolean {
  const backend = tensors[0]?.backend.name;
  return (
    backend !== undefined &&
    tensors.every((t) => t.backend.name === backend) &&
    kernels.every((k) => hasKernel(k, backend))
  );
}
