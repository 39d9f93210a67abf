import { bothBackends, expectSame, streamsLikeCpu, webgpuAvailable } from '@recur/testing';
import { describe, it } from 'vitest';
import { Transformer, type TransformerOptions } from '../src/index.js';

const HAS_WEBGPU = await webgpuAvailable('the model tests');

/** Keys scaled up so the attention scores spread widely (softmax far from uniform). */
function spreadScores(model: Transformer, by: number): void {
  for (const block of model.layers) block.attn.wk.weight.assign(block.attn.wk.weight.mul(by));
}

const cases: { name: string; options: TransformerOptions; x: number[]; spread: number }[] = [
  {
    name: 'causal, 2 layers, 2 heads',
    options: { nLayers: 2, dModel: 16, nHeads: 2, dFF: 24 },
    x: [2, 9, 16],
    spread: 1,
  },
  {
    name: 'causal, large score spreads',
    options: { nLayers: 2, dModel: 8, nHeads: 2, dFF: 12 },
    x: [2, 13, 8],
    spread: 6,
  },
  {
    name: 'not causal, GELU',
    options: { nLayers: 2, dModel: 8, nHeads: 4, dFF: 12, causal: false, activation: 'gelu' },
    x: [2, 7, 8],
    spread: 3,
  },
  {
    name: 'T = 1, odd sizes, no bias',
    options: { nLayers: 1, dModel: 6, nHeads: 3, dFF: 5, bias: false },
    x: [3, 1, 6],
    spread: 1,
  },
  {
    name: 'a longer sequence (T = 96)',
    options: { nLayers: 1, dModel: 8, nHeads: 2, dFF: 16 },
    x: [1, 96, 8],
    spread: 3,
  },
  {
    name: 'linear attention',
    options: { nLayers: 2, dModel: 8, nHeads: 2, dFF: 12, attention: 'linear' },
    x: [2, 11, 8],
    spread: 2,
  },
];

describe.skipIf(!HAS_WEBGPU)('Transformer on webgpu matches the CPU', () => {
  for (const c of cases) {
    it(`${c.name}: forward and every parameter's gradient`, async () => {
      const { cpu, gpu, names } = await bothBackends(
        () => new Transformer(c.options),
        c.x,
        9,
        (m) => spreadScores(m, c.spread),
      );
      const err = expectSame(cpu, gpu, names);
      console.log(
        `Transformer ${c.name}: max relative difference webgpu vs cpu ${err.toExponential(2)}`,
      );
    }, 60_000);
  }

  for (const attention of ['softmax', 'linear'] as const) {
    it(`streams on webgpu (step, forwardChunked) like the CPU forward, ${attention} attention`, async () => {
      const err = await streamsLikeCpu(
        () => new Transformer({ nLayers: 2, dModel: 8, nHeads: 2, dFF: 12, attention }),
        [2, 10, 8],
        13,
        4,
        (m) => spreadScores(m, 4),
      );
      console.log(
        `Transformer (${attention}) streaming: max relative difference webgpu vs cpu ${err.toExponential(2)}`,
      );
    }, 60_000);
  }
});
