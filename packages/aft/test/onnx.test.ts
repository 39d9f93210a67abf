import { manualSeed, nn, noGrad, randn, type Tensor, toOnnx } from '@recur/tensor';
import { exportBoth, ortSession, parallelError, streamError } from '@recur/testing';
import { describe, expect, it } from 'vitest';
import { Aft, type AftBlock, type AftOptions, type AftVariant } from '../src/index.js';

const D = 8;

const OPTIONS: Record<Exclude<AftVariant, 'conv2d'>, AftOptions> = {
  full: { variant: 'full', dModel: D, nLayers: 2, dFF: 16, maxLen: 1024, posDim: 4 },
  local: { variant: 'local', dModel: D, nLayers: 2, dFF: 16, maxLen: 1024, posDim: 4, window: 5 },
  simple: { variant: 'simple', dModel: D, nLayers: 2, dFF: 16 },
  conv1d: { variant: 'conv1d', dModel: D, nLayers: 2, dFF: 16, window: 3, heads: 2 },
};

/** A causal AFT model with its key projections scaled up: keys spread over hundreds per channel. */
function sharpAft(options: AftOptions): Aft {
  manualSeed(21);
  const model = new Aft({ ...options, causal: true });
  noGrad(() => {
    for (const layer of model.layers) {
      const wk = keys(layer);
      wk.weight.assign(wk.weight.mul(100));
    }
  });
  return model;
}

/** The key projection of a block's AFT layer (every 1-d variant has one). */
function keys(block: AftBlock): nn.Linear {
  return (block.attn as unknown as { wk: nn.Linear }).wk;
}

/** The smallest spread over tokens of layer 0's keys, over the batch and key channels. */
function keySpread(block: AftBlock, x: Tensor): number {
  return noGrad(() => {
    const k = keys(block).forward(block.norm1.forward(x)); // [B, T, channels]
    return k.max(1).sub(k.min(1)).min().item();
  });
}

describe.each(Object.keys(OPTIONS) as (keyof typeof OPTIONS)[])(
  'causal AFT-%s in ONNX',
  (variant) => {
    it('the parallel graph matches forward for T = 1, 2, 17, 300 at key spreads > 100', async () => {
      const model = sharpAft(OPTIONS[variant]);
      const { parallel } = await exportBoth(model);
      manualSeed(22);
      for (const t of [1, 2, 17, 300]) {
        const x = randn([2, t, D]).mul(3);
        if (t >= 17) expect(keySpread(model.layers[0] as AftBlock, x)).toBeGreaterThan(100);
        expect(await parallelError(parallel, model, x), `T = ${t}`).toBeLessThan(1e-4);
      }
    }, 60_000);

    it('a 1,000-token stream through the step graph, its state fed back, matches forward', async () => {
      const model = sharpAft(OPTIONS[variant]);
      const { step } = await exportBoth(model);
      manualSeed(23);
      const x = randn([2, 1000, D]).mul(3);
      expect(keySpread(model.layers[0] as AftBlock, x)).toBeGreaterThan(100);
      expect(await streamError(step, model, x)).toBeLessThan(1e-4);
    }, 60_000);
  },
);

describe('causal AFT-full inside a network (its forward is not one graph: a Loop over its step)', () => {
  it('a projection, then AFT-full, then a head: the parallel graph matches at T = 1, 2, 17', async () => {
    manualSeed(24);
    class Net extends nn.Module {
      readonly inputSize = 3;
      inProj = new nn.Linear(3, D);
      core = new Aft({ ...OPTIONS.full, causal: true });
      head = new nn.Linear(D, 2);
      override forward(x: Tensor): Tensor {
        return this.head.forward(this.core.forward(this.inProj.forward(x)));
      }
    }
    const net = new Net();
    const session = await ortSession(toOnnx(net, { mode: 'parallel' }));
    for (const t of [1, 2, 17]) {
      const x = randn([2, t, 3]).mul(3);
      expect(await parallelError(session, net as never, x), `T = ${t}`).toBeLessThan(1e-4);
    }
  });
});
