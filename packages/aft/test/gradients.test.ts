import { manualSeed, type nn, optim, randn, type Tensor } from '@recur/tensor';
import { checkParameterGradients } from '@recur/testing';
import { describe, expect, it } from 'vitest';
import { Aft, AftConv1d, AftConv2d, AftFull, AftLocal, AftSimple } from '../src/index.js';
import { scaleParam, setParam } from './reference.js';

const D = 8;

/** Position biases and kernels away from their near-zero initial values, keys with a real spread. */
function spread(m: nn.Module): void {
  for (const [name, p] of m.namedParameters()) {
    if (/pos[UV]$/.test(name)) setParam(p, randn(p.shape as number[]).mul(0.7));
    if (/(gamma|beta)$/.test(name)) setParam(p, randn(p.shape as number[]));
    if (/wk\.weight$/.test(name)) scaleParam(p, 4);
  }
}

/**
 * Every parameter's gradient (up to 6 entries each, spread over the tensor) against central finite
 * differences of loss = Σ y ⊙ r.
 */
function checkGradients(
  model: nn.Module,
  x: Tensor,
  forward: (x: Tensor) => Tensor = (z) => model.forward(z) as Tensor,
): number {
  const r = randn(forward(x).shape as number[]);
  return checkParameterGradients(model.namedParameters(), () => forward(x).mul(r).sum());
}

describe('gradients match finite differences, position biases and kernels included', () => {
  for (const causal of [true, false]) {
    const mode = causal ? 'causal' : 'non-causal';
    it(`AftFull, ${mode}`, () => {
      manualSeed(1);
      const m = new AftFull({ dModel: D, maxLen: 9, causal, posDim: 3 });
      spread(m);
      expect(checkGradients(m, randn([2, 7, D]))).toBeGreaterThan(30);
    });
    it(`AftLocal, ${mode}`, () => {
      manualSeed(2);
      const m = new AftLocal({ dModel: D, maxLen: 9, window: 3, causal, posDim: 3 });
      spread(m);
      expect(checkGradients(m, randn([2, 7, D]))).toBeGreaterThan(30);
    });
    it(`AftSimple, ${mode}`, () => {
      manualSeed(3);
      const m = new AftSimple({ dModel: D, causal });
      spread(m);
      expect(checkGradients(m, randn([2, 7, D]))).toBeGreaterThan(30);
    });
    it(`AftConv1d, ${mode}`, () => {
      manualSeed(4);
      const m = new AftConv1d({ dModel: D, heads: 2, window: 3, causal });
      spread(m);
      expect(checkGradients(m, randn([2, 7, D]))).toBeGreaterThan(30);
    });
  }
  it('causal AftFull and AftLocal run in chunks of 3 (gradients through the carried state)', () => {
    manualSeed(9);
    const full = new AftFull({ dModel: D, maxLen: 9, posDim: 3 });
    const local = new AftLocal({ dModel: D, maxLen: 9, window: 3, posDim: 3 });
    for (const m of [full, local]) {
      spread(m);
      expect(checkGradients(m, randn([2, 8, D]), (x) => m.forwardChunked(x, 3).y)).toBeGreaterThan(
        30,
      );
    }
  });
  it('AftConv2d', () => {
    manualSeed(5);
    const m = new AftConv2d({ dModel: D, heads: 2, kernel: 3 });
    spread(m);
    expect(checkGradients(m, randn([2, 3, 4, D]))).toBeGreaterThan(30);
  });
  it('a 2-layer causal AFT-local model, through LayerNorms and feed-forwards', () => {
    manualSeed(6);
    const m = new Aft({
      variant: 'local',
      nLayers: 2,
      dModel: D,
      dFF: 12,
      maxLen: 8,
      window: 2,
      posDim: 3,
    });
    spread(m);
    expect(checkGradients(m, randn([2, 5, D]))).toBeGreaterThan(60);
  });
});

describe('position biases and kernels are parameters the optimiser updates', () => {
  it('U, V (full, local) and w, γ, β (conv1d, conv2d) change under Adam', () => {
    manualSeed(7);
    const models: [nn.Module, Tensor][] = [
      [new AftFull({ dModel: D, maxLen: 6 }), randn([2, 6, D])],
      [new AftLocal({ dModel: D, maxLen: 6, window: 2, causal: false }), randn([2, 6, D])],
      [new AftConv1d({ dModel: D, heads: 2, window: 3 }), randn([2, 6, D])],
      [new AftConv2d({ dModel: D, heads: 2, kernel: 3 }), randn([2, 3, 3, D])],
    ];
    for (const [model, x] of models) {
      const names = model.namedParameters().map(([n]) => n);
      const biasNames = names.filter((n) => /^(posU|posV|w|gamma|beta)$/.test(n));
      expect(biasNames.length, model.constructor.name).toBeGreaterThanOrEqual(2);
      const before = new Map(model.namedParameters().map(([n, p]) => [n, p.clone()]));
      const opt = new optim.Adam(model.parameters(), { lr: 1e-2 });
      // Two steps: γ = 0 at init gives the raw kernel w no gradient until γ has moved once.
      for (let i = 0; i < 2; i++) {
        opt.zeroGrad();
        (model.forward(x) as Tensor).square().mean().backward();
        opt.step();
      }
      for (const [n, p] of model.namedParameters()) {
        const moved = p
          .sub(before.get(n) as Tensor)
          .abs()
          .max()
          .item();
        expect(moved, `${model.constructor.name}.${n}`).toBeGreaterThan(1e-4);
      }
    }
  });

  it('AFT-conv starts as AFT-simple with per-head keys (γ = β = 0 ⇒ w′ = 0)', () => {
    manualSeed(8);
    const conv = new AftConv1d({ dModel: D, heads: 2, window: 5, causal: false });
    expect(conv.kernel().abs().max().item()).toBe(0);
  });
});
