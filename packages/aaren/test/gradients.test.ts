import { manualSeed, noGrad, randn, type Tensor, tensor } from '@recur/tensor';
import { describe, expect, it } from 'vitest';
import { Aaren } from '../src/index.js';

/**
 * Every parameter's gradient against central finite differences of the loss, on a 2-layer model with
 * non-trivial score spreads (so the running max changes along the sequence).
 */
describe('Aaren gradients', () => {
  it('match finite differences for every parameter', () => {
    manualSeed(11);
    const model = new Aaren({ nLayers: 2, dModel: 8, nHeads: 2, dFF: 12 });
    noGrad(() => {
      for (const layer of model.layers) layer.attn.wk.weight.assign(layer.attn.wk.weight.mul(4));
    });
    const x = randn([2, 5, 8]);
    const r = randn([2, 5, 8]);
    const loss = () => model.forward(x).mul(r).sum();
    model.zeroGrad();
    loss().backward();
    const eps = 1e-2;
    let checked = 0;
    for (const [name, p] of model.namedParameters()) {
      const grad = p.grad as Tensor;
      expect(grad, name).not.toBeNull();
      const g = grad.dataSync();
      const base = p.dataSync() as Float32Array;
      // Up to 6 elements per parameter, spread over the tensor.
      const picks = [
        ...new Set(
          Array.from({ length: Math.min(6, p.size) }, (_, i) =>
            Math.floor((i * p.size) / Math.min(6, p.size)),
          ),
        ),
      ];
      for (const i of picks) {
        const at = (delta: number) =>
          noGrad(() => {
            const data = base.slice();
            data[i] = (data[i] as number) + delta;
            p.assign(tensor(data, { shape: p.shape }));
            return loss().item();
          });
        const fd = (at(eps) - at(-eps)) / (2 * eps);
        noGrad(() => p.assign(tensor(base, { shape: p.shape })));
        const an = g[i] as number;
        expect(
          Math.abs(fd - an),
          `${name}[${i}]: analytic ${an}, finite difference ${fd}`,
        ).toBeLessThan(2e-2 * (1 + Math.abs(an)));
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(60);
  });
});
