import type { TypedArray } from '../dtype.js';
import { TensorError } from '../errors.js';
import { Tensor } from '../tensor.js';
import { decodeSafetensors, encodeSafetensors } from './safetensors-format.js';

export { SafetensorsError } from './safetensors-format.js';

/**
 * Serialises named tensors to the safetensors format (float32 → F32, int32 → I32), the format PyTorch
 * and Hugging Face read with `safetensors.torch.load_file`. Tensors on asynchronous backends must be
 * read first: use `saveSafetensorsAsync`.
 */
export function saveSafetensors(
  record: Record<string, Tensor>,
  metadata?: Record<string, string>,
): Uint8Array {
  const entries = Object.entries(record).map(([name, t]) => {
    if (!(t instanceof Tensor))
      throw new TensorError('saveSafetensors', `entry '${name}' is not a Tensor`);
    return { name, shape: t.shape.slice(), dtype: t.dtype, data: t.dataSync() };
  });
  return encodeSafetensors(entries, metadata);
}

/**
 * {@link saveSafetensors} for tensors on any backend, webgpu included: reads their data
 * asynchronously first. Same format and optional string `metadata`.
 */
export async function saveSafetensorsAsync(
  record: Record<string, Tensor>,
  metadata?: Record<string, string>,
): Promise<Uint8Array> {
  const entries = await Promise.all(
    Object.entries(record).map(async ([name, t]) => ({
      name,
      shape: t.shape.slice(),
      dtype: t.dtype,
      data: (await t.data()) as TypedArray,
    })),
  );
  return encodeSafetensors(entries, metadata);
}

/**
 * Reads a safetensors file into name → Tensor on the default backend. Float dtypes (F64, F32, F16,
 * BF16) become float32 and integer/bool dtypes int32 (values outside int32 are an error). A malformed
 * file throws SafetensorsError naming what is wrong.
 */
export function loadSafetensors(bytes: Uint8Array): Record<string, Tensor> {
  return loadSafetensorsWithMetadata(bytes).tensors;
}

/**
 * {@link loadSafetensors} that also returns the file's `__metadata__` string map (empty when the
 * file has none). Throws {@link SafetensorsError} on a malformed file.
 */
export function loadSafetensorsWithMetadata(bytes: Uint8Array): {
  tensors: Record<string, Tensor>;
  metadata: Record<string, string>;
} {
  const { entries, metadata } = decodeSafetensors(bytes);
  const tensors: Record<string, Tensor> = {};
  // defineProperty: a tensor named '__proto__' (or 'constructor') stays a tensor of that name.
  for (const e of entries) {
    Object.defineProperty(tensors, e.name, {
      value: Tensor.fromHost(e.data, e.shape),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return { tensors, metadata };
}
