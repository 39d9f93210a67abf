import { noGrad, type Tensor, tensor } from '@recur/tensor';
import { expect } from 'vitest';

export interface ParameterGradientOptions {
  /** Finite-difference step (default 1e-2). */
  eps?: number;
  /** Allowed |numeric − analytic| relative to 1 + |analytic| (default 2e-2). */
  tol?: number;
  /** Elements checked per parameter, spread over the tensor (default 6). */
  perParam?: number;
}

/**
 * Checks every named parameter's analytic gradient of `loss` against central finite differences,
 * on up to `perParam` elements spread over each tensor (CPU tensors). The parameters' gradients are
 * reset first; each perturbed value is put back afterwards. Returns how many elements were checked.
 */
export function checkParameterGradients(
  params: Iterable<[string, Tensor]>,
  loss: () => Tensor,
  { eps = 1e-2, tol = 2e-2, perParam = 6 }: ParameterGradientOptions = {},
): number {
  const list = [...params];
  for (const [, p] of list) p.grad = null;
  loss().backward();
  let checked = 0;
  for (const [name, p] of list) {
    const grad = p.grad as Tensor | null;
    expect(grad, `${name} has no gradient`).not.toBeNull();
    const g = grad!.dataSync();
    const base = (p.dataSync() as Float32Array).slice();
    const n = Math.min(perParam, p.size);
    const picks = [...new Set(Array.from({ length: n }, (_, i) => Math.floor((i * p.size) / n)))];
    for (const i of picks) {
      const at = (delta: number) =>
        noGrad(() => {
          const data = base.slice();
          data[i] = data[i]! + delta;
          p.assign(tensor(data, { shape: p.shape }));
          return loss().item();
        });
      const fd = (at(eps) - at(-eps)) / (2 * eps);
      noGrad(() => p.assign(tensor(base, { shape: p.shape })));
      const an = g[i]!;
      expect(
        Math.abs(fd - an),
        `${name}[${i}]: analytic ${an}, finite difference ${fd}`,
      ).toBeLessThan(tol * (1 + Math.abs(an)));
      checked++;
    }
  }
  return checked;
}
