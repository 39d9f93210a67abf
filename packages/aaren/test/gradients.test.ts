import { manualSeed, noGrad, randn } from '@recur/tensor';
import { checkParameterGradients } from '@recur/testing';
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
    const checked = checkParameterGradients(model.namedParameters(), loss);
    expect(checked).toBeGreaterThan(60);
  });
});
