import { bothBackends, expectSame, streamsLikeCpu, webgpuAvailable } from '@recur/testing';
import { describe, it } from 'vitest';
import { Aaren } from '../src/index.js';

const HAS_WEBGPU = await webgpuAvailable('the model tests');

/** Keys scaled up so the scores spread widely and the running max changes along the sequence. */
function spreadScores(model: Aaren, by: number): void {
  for (const layer of model.layers) layer.attn.wk.weight.assign(layer.attn.wk.weight.mul(by));
}

describe.skipIf(!HAS_WEBGPU)('Aaren on webgpu matches the CPU', () => {
  const cases: {
    name: string;
    options: ConstructorParameters<typeof Aaren>[0];
    x: number[];
    spread: number;
  }[] = [
    {
      name: '2 layers, 2 heads',
      options: { nLayers: 2, dModel: 16, nHeads: 2, dFF: 24 },
      x: [2, 9, 16],
      spread: 1,
    },
    {
      name: 'large score spreads',
      options: { nLayers: 2, dModel: 8, nHeads: 2, dFF: 12 },
      x: [2, 13, 8],
      spread: 6,
    },
    {
      name: 'T = 1, odd sizes, no bias',
      options: { nLayers: 1, dModel: 6, nHeads: 3, dFF: 5, bias: false },
      x: [3, 1, 6],
      spread: 1,
    },
    {
      name: 'a longer sequence (T = 200), GELU',
      options: { nLayers: 1, dModel: 8, nHeads: 1, dFF: 16, activation: 'gelu' },
      x: [1, 200, 8],
      spread: 3,
    },
  ];
  for (const c of cases) {
    it(`${c.name}: forward and every parameter's gradient`, async () => {
      const { cpu, gpu, names } = await bothBackends(
        () => new Aaren(c.options),
        c.x,
        7,
        (m) => spreadScores(m, c.spread),
      );
      const err = expectSame(cpu, gpu, names);
      console.log(`Aaren ${c.name}: max relative difference webgpu vs cpu ${err.toExponential(2)}`);
    }, 60_000);
  }

  it('streams on webgpu (step, forwardChunked) like the CPU forward, large score spreads', async () => {
    const err = await streamsLikeCpu(
      () => new Aaren({ nLayers: 2, dModel: 8, nHeads: 2, dFF: 12 }),
      [2, 10, 8],
      13,
      4,
      (m) => spreadScores(m, 6),
    );
    console.log(`Aaren streaming: max relative difference webgpu vs cpu ${err.toExponential(2)}`);
  }, 60_000);
});
