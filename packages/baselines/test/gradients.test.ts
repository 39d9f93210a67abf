import { manualSeed, noGrad, randn } from '@recur/tensor';
import { checkParameterGradients } from '@recur/testing';
import { describe, expect, it } from 'vitest';
import { GRU, LSTM, Transformer, TransformerBlock } from '../src/index.js';

/**
 * Every parameter's gradient against central finite differences of a random projection of the output.
 * Smooth activations (GELU): a ReLU kink within ±eps of a pre-activation breaks central differences.
 */
describe('gradients by finite differences', () => {
  for (const causal of [true, false]) {
    it(`TransformerBlock (${causal ? 'causal' : 'non-causal'}): every parameter`, () => {
      manualSeed(causal ? 1 : 2);
      const block = new TransformerBlock({
        dModel: 8,
        nHeads: 2,
        dFF: 12,
        causal,
        activation: 'gelu',
      });
      // Larger key weights: peaked softmax rows, so the max-shift and masking matter.
      noGrad(() => block.attn.wk.weight.assign(block.attn.wk.weight.mul(4)));
      const x = randn([2, 5, 8]);
      const r = randn([2, 5, 8]);
      const checked = checkParameterGradients(
        block.namedParameters(),
        () => block.forward(x).mul(r).sum(),
        { perParam: 5 },
      );
      expect(checked).toBeGreaterThan(40);
    });
  }

  it('Transformer with linear attention (2 layers, continuing from a state): every parameter', () => {
    manualSeed(3);
    const model = new Transformer({
      nLayers: 2,
      dModel: 8,
      nHeads: 2,
      dFF: 8,
      attention: 'linear',
      activation: 'gelu',
    });
    const x = randn([2, 4, 8]);
    const r = randn([2, 3, 8]);
    const loss = () => {
      const first = model.run(x.slice(1, 0, 1));
      return model.run(x.slice(1, 1), first.state).y.mul(r).sum();
    };
    expect(checkParameterGradients(model.namedParameters(), loss, { perParam: 3 })).toBeGreaterThan(
      40,
    );
  });

  it('Transformer with a KV cache: gradients flow through the cached keys and values', () => {
    manualSeed(4);
    const model = new Transformer({ nLayers: 1, dModel: 8, nHeads: 2, dFF: 8, activation: 'gelu' });
    const x = randn([1, 5, 8]);
    const r = randn([1, 2, 8]);
    const loss = () => {
      const first = model.run(x.slice(1, 0, 3));
      return model.run(x.slice(1, 3), first.state).y.mul(r).sum();
    };
    expect(checkParameterGradients(model.namedParameters(), loss, { perParam: 3 })).toBeGreaterThan(
      20,
    );
  });

  it('LSTM (2 layers, non-zero initial state): every parameter', () => {
    manualSeed(5);
    const lstm = new LSTM({ inputSize: 3, hiddenSize: 4, numLayers: 2 });
    const x = randn([2, 6, 3]).mul(2);
    const h = randn([2, 2, 4]);
    const c = randn([2, 2, 4]);
    const r = randn([2, 6, 4]);
    const loss = () => {
      const out = lstm.run(x, { h, c });
      return out.y.mul(r).sum().add(out.state.c!.sum());
    };
    expect(checkParameterGradients(lstm.namedParameters(), loss)).toBeGreaterThan(30);
  });

  it('GRU (2 layers, non-zero initial state): every parameter', () => {
    manualSeed(6);
    const gru = new GRU({ inputSize: 3, hiddenSize: 4, numLayers: 2 });
    const x = randn([2, 6, 3]).mul(2);
    const h = randn([2, 2, 4]);
    const r = randn([2, 6, 4]);
    const loss = () => gru.run(x, { h }).y.mul(r).sum();
    expect(checkParameterGradients(gru.namedParameters(), loss)).toBeGreaterThan(30);
  });
});
