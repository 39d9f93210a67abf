/**
 * The AFT family on the webgpu backend against the CPU: for each variant (causal and not), the same
 * weights and inputs give the same outputs and the same gradient for every parameter (backward of
 * sum(y · R)), to 1e-4. In Node the adapter is Dawn's (Mesa llvmpipe on machines without a GPU);
 * with none the suite is skipped with a message, unless RECUR_REQUIRE_WEBGPU=1, which makes a
 * missing adapter a failure.
 */
import { type nn, randn } from '@recur/tensor';
import { bothBackends, expectSame, streamsLikeCpu, webgpuAvailable } from '@recur/testing';
import { describe, it } from 'vitest';
import { Aft, AftFull, AftLocal, type AftOptions } from '../src/index.js';

const HAS_WEBGPU = await webgpuAvailable('the model tests');

function harden(model: Aft, keyScale: number): void {
  for (const block of model.layers) {
    const layer = block.attn;
    const wk = (layer as unknown as { wk: nn.Linear }).wk; // every AFT layer has one
    wk.weight.assign(wk.weight.mul(keyScale));
    if (layer instanceof AftFull || layer instanceof AftLocal) {
      layer.posU.assign(randn(layer.posU.shape as number[]));
      layer.posV.assign(randn(layer.posV.shape as number[]));
    }
  }
}

const D = 8;
/**
 * Why a case cannot run on webgpu yet, where it cannot: shown as a skipped test, so it stays
 * visible until the model is fixed (then delete the entry).
 */

const cases: { name: string; options: AftOptions; x: number[] }[] = [];
for (const causal of [true, false]) {
  const c = causal ? 'causal' : 'not causal';
  cases.push(
    {
      name: `simple, ${c}`,
      options: { variant: 'simple', causal, nLayers: 2, dModel: D, dFF: 12 },
      x: [2, 11, D],
    },
    {
      name: `local, ${c}`,
      options: {
        variant: 'local',
        causal,
        nLayers: 2,
        dModel: D,
        dFF: 12,
        maxLen: 16,
        window: 3,
        posDim: 4,
      },
      x: [2, 11, D],
    },
    {
      name: `conv1d, ${c}`,
      options: {
        variant: 'conv1d',
        causal,
        nLayers: 2,
        dModel: D,
        dFF: 12,
        heads: 2,
        window: causal ? 4 : 3, // a centred (non-causal) kernel has an odd width
      },
      x: [2, 11, D],
    },
    {
      name: `full, ${c}`,
      options: { variant: 'full', causal, nLayers: 2, dModel: D, dFF: 12, maxLen: 16, posDim: 4 },
      x: [2, 11, D],
    },
  );
}
cases.push(
  {
    name: 'simple, causal, T = 1, odd sizes, no bias, GELU',
    options: { variant: 'simple', nLayers: 1, dModel: 5, dFF: 7, bias: false, activation: 'gelu' },
    x: [3, 1, 5],
  },
  {
    name: 'full, causal, T = maxLen = 64',
    options: { variant: 'full', nLayers: 1, dModel: D, dFF: 12, maxLen: 64, posDim: 8 },
    x: [1, 64, D],
  },
  {
    name: 'conv2d',
    options: { variant: 'conv2d', nLayers: 2, dModel: D, dFF: 12, heads: 2, kernel: 3 },
    x: [2, 5, 6, D],
  },
);

describe.skipIf(!HAS_WEBGPU)('AFT on webgpu matches the CPU', () => {
  for (const c of cases) {
    it(`${c.name}: forward and every parameter's gradient`, async () => {
      const { cpu, gpu, names } = await bothBackends(
        () => new Aft(c.options),
        c.x,
        5,
        (m) => harden(m, 3),
      );
      const err = expectSame(cpu, gpu, names);
      console.log(`AFT ${c.name}: max relative difference webgpu vs cpu ${err.toExponential(2)}`);
    }, 60_000);
  }

  const streaming: { name: string; options: AftOptions }[] = [
    { name: 'simple', options: { variant: 'simple', nLayers: 2, dModel: D, dFF: 12 } },
    {
      name: 'local',
      options: {
        variant: 'local',
        nLayers: 2,
        dModel: D,
        dFF: 12,
        maxLen: 16,
        window: 3,
        posDim: 4,
      },
    },
    {
      name: 'conv1d',
      options: { variant: 'conv1d', nLayers: 2, dModel: D, dFF: 12, heads: 2, window: 4 },
    },
    {
      name: 'full',
      options: { variant: 'full', nLayers: 2, dModel: D, dFF: 12, maxLen: 16, posDim: 4 },
    },
  ];
  for (const c of streaming) {
    const name = `streams on webgpu (step, forwardChunked) like the CPU forward, ${c.name}`;
    it(name, async () => {
      const err = await streamsLikeCpu(
        () => new Aft(c.options),
        [2, 10, D],
        13,
        4,
        (m) => harden(m, 3),
      );
      console.log(
        `AFT ${c.name} streaming: max relative difference webgpu vs cpu ${err.toExponential(2)}`,
      );
    }, 60_000);
  }
});
