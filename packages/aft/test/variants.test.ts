import { manualSeed, noGrad, randn, type Tensor, tensor } from '@recur/tensor';
import { describe, expect, it } from 'vitest';
import {
  Aft,
  AftConv1d,
  AftConv2d,
  AftFull,
  AftLocal,
  AftSimple,
  type AftVariant,
} from '../src/index.js';
import {
  allFinite,
  causalMask,
  everything,
  lin,
  type NaiveAft,
  naiveAft,
  relErr,
  scaleParam,
  setParam,
} from './reference.js';

const D = 8;

/** The spread (max − min) of the keys a layer computes from x. */
function keySpread(layer: { wk: { forward(x: Tensor): Tensor } }, x: Tensor): number {
  const k = layer.wk.forward(x);
  return k.max().item() - k.min().item();
}

/** Position biases with a real spread: U, V ~ N(0, 1), so w = U Vᵀ is ~N(0, posDim). */
function spreadBiases(layer: AftFull | AftLocal): void {
  setParam(layer.posU, randn(layer.posU.shape as number[]));
  setParam(layer.posV, randn(layer.posV.shape as number[]));
}

function dot(u: number[][], v: number[][], t: number, tp: number): number {
  return u[t]!.reduce((s, x, p) => s + x * v[tp]![p]!, 0);
}

function fullRef(layer: AftFull): NaiveAft {
  const u = layer.posU.arraySync() as number[][];
  const v = layer.posV.arraySync() as number[][];
  return {
    wq: lin(layer.wq),
    wk: lin(layer.wk),
    wv: lin(layer.wv),
    wo: lin(layer.wo),
    keyOf: (c) => c,
    bias: (t, tp) => dot(u, v, t, tp),
    visible: layer.causal ? causalMask : everything,
  };
}

function localRef(layer: AftLocal): NaiveAft {
  const u = layer.posU.arraySync() as number[][];
  const v = layer.posV.arraySync() as number[][];
  const s = layer.window;
  return {
    ...fullRef(layer as unknown as AftFull),
    bias: (t, tp) => (Math.abs(t - tp) < s ? dot(u, v, t, tp) : 0),
  };
}

function simpleRef(layer: AftSimple): NaiveAft {
  return {
    wq: lin(layer.wq),
    wk: lin(layer.wk),
    wv: lin(layer.wv),
    wo: lin(layer.wo),
    keyOf: (c) => c,
    bias: () => 0,
    visible: layer.causal ? causalMask : everything,
  };
}

function conv1dRef(layer: AftConv1d): NaiveAft {
  const kern = layer.kernel().arraySync() as number[][];
  const s = layer.window;
  const dh = layer.dHead;
  // Kernel entry j is the bias at offset t' − t = j − (s − 1) (causal) or j − (s − 1)/2.
  const origin = layer.causal ? s - 1 : (s - 1) / 2;
  return {
    ...simpleRef(layer as unknown as AftSimple),
    keyOf: (c) => Math.floor(c / dh),
    bias: (t, tp, c) => {
      const j = tp - t + origin;
      return j >= 0 && j < s ? kern[Math.floor(c / dh)]![j]! : 0;
    },
  };
}

function conv2dRef(layer: AftConv2d, width: number): NaiveAft {
  const kern = layer.kernel().arraySync() as number[][][];
  const r = (layer.kernelSize - 1) / 2;
  const dh = layer.dHead;
  return {
    ...simpleRef(layer as unknown as AftSimple),
    visible: everything,
    keyOf: (c) => Math.floor(c / dh),
    bias: (p, pp, c) => {
      const di = Math.floor(pp / width) - Math.floor(p / width);
      const dj = (pp % width) - (p % width);
      return Math.abs(di) <= r && Math.abs(dj) <= r
        ? kern[Math.floor(c / dh)]![di + r]![dj + r]!
        : 0;
    },
  };
}

/** Non-trivial conv kernels: γ, β away from their 0 init. */
function spreadKernel(layer: AftConv1d | AftConv2d): void {
  setParam(layer.gamma, randn([layer.heads]).mul(1.5));
  setParam(layer.beta, randn([layer.heads]).mul(0.5));
}

describe('each variant against the literal T×T definition (float64, keys over ±50)', () => {
  for (const causal of [true, false]) {
    const mode = causal ? 'causal' : 'non-causal';

    it(`AftFull, ${mode}`, () => {
      manualSeed(causal ? 1 : 2);
      const layer = new AftFull({ dModel: D, maxLen: 20, causal, posDim: 4 });
      spreadBiases(layer);
      scaleParam(layer.wk.weight, 80);
      for (const T of [1, 2, 7, 13]) {
        const x = randn([3, T, D]);
        if (T === 13) expect(keySpread(layer, x)).toBeGreaterThan(100);
        const err = relErr(
          layer.forward(x),
          naiveAft(fullRef(layer), x.arraySync() as number[][][]),
        );
        expect(err, `T = ${T}`).toBeLessThan(1e-4);
      }
    });

    it(`AftLocal, ${mode}`, () => {
      manualSeed(causal ? 3 : 4);
      for (const window of [1, 3, 5]) {
        const layer = new AftLocal({ dModel: D, maxLen: 16, window, causal, posDim: 4 });
        spreadBiases(layer);
        scaleParam(layer.wk.weight, 80);
        for (const T of [1, 7, 13]) {
          const x = randn([2, T, D]);
          if (T === 13) expect(keySpread(layer, x)).toBeGreaterThan(100);
          const err = relErr(
            layer.forward(x),
            naiveAft(localRef(layer), x.arraySync() as number[][][]),
          );
          expect(err, `window ${window}, T = ${T}`).toBeLessThan(1e-4);
        }
      }
    });

    it(`AftSimple, ${mode}`, () => {
      manualSeed(causal ? 5 : 6);
      const layer = new AftSimple({ dModel: D, causal });
      scaleParam(layer.wk.weight, 80);
      for (const T of [1, 7, 13]) {
        const x = randn([3, T, D]);
        if (T === 13) expect(keySpread(layer, x)).toBeGreaterThan(100);
        const err = relErr(
          layer.forward(x),
          naiveAft(simpleRef(layer), x.arraySync() as number[][][]),
        );
        expect(err, `T = ${T}`).toBeLessThan(1e-4);
      }
    });

    it(`AftConv1d, ${mode}`, () => {
      manualSeed(causal ? 7 : 8);
      for (const window of causal ? [1, 2, 4] : [1, 3, 5]) {
        const layer = new AftConv1d({ dModel: D, heads: 2, window, causal });
        spreadKernel(layer);
        scaleParam(layer.wk.weight, 80);
        for (const T of [1, 7, 13]) {
          const x = randn([2, T, D]);
          if (T === 13) expect(keySpread(layer, x)).toBeGreaterThan(100);
          const err = relErr(
            layer.forward(x),
            naiveAft(conv1dRef(layer), x.arraySync() as number[][][]),
          );
          expect(err, `window ${window}, T = ${T}`).toBeLessThan(1e-4);
        }
      }
    });
  }

  it('AftConv2d over a 5×7 grid (kernels 1 and 3)', () => {
    manualSeed(9);
    for (const kernel of [1, 3]) {
      const layer = new AftConv2d({ dModel: D, heads: 4, kernel });
      spreadKernel(layer);
      scaleParam(layer.wk.weight, 80);
      const x = randn([2, 5, 7, D]);
      expect(keySpread(layer, x)).toBeGreaterThan(100);
      const y = layer.forward(x).reshape([2, 35, D]);
      const ref = naiveAft(conv2dRef(layer, 7), x.reshape([2, 35, D]).arraySync() as number[][][]);
      expect(relErr(y, ref), `kernel ${kernel}`).toBeLessThan(1e-4);
    }
  });
});

describe('AFT-conv is AFT-local with a shared, translation-invariant windowed bias', () => {
  for (const causal of [true, false]) {
    it(causal ? 'causal' : 'non-causal', () => {
      manualSeed(causal ? 10 : 11);
      const T = 11;
      const heads = 2;
      const convWindow = causal ? 4 : 5;
      const conv = new AftConv1d({ dModel: D, heads, window: convWindow, causal });
      // AFT-local's biases are shared by all channels: give both heads the same kernel.
      setParam(conv.w, randn([1, convWindow]).expand([heads, convWindow]).clone());
      setParam(conv.gamma, tensor([1.7, 1.7]));
      setParam(conv.beta, tensor([-0.4, -0.4]));
      // AFT-local's window |t − t'| < s covers the causal kernel (s = window) or a centred kernel of
      // width 2s − 1.
      const window = causal ? convWindow : (convWindow + 1) / 2;
      const local = new AftLocal({ dModel: D, maxLen: T, window, causal, posDim: T });
      noGrad(() => {
        for (const name of ['wq', 'wv', 'wo'] as const) {
          local[name].weight.assign(conv[name].weight);
          local[name].bias!.assign(conv[name].bias!);
        }
        // Keys tied to heads: each channel's key is its head's.
        const idx = tensor(
          Array.from({ length: D }, (_, ch) => Math.floor(ch / conv.dHead)),
          { dtype: 'int32' },
        );
        local.wk.weight.assign(conv.wk.weight.indexSelect(0, idx));
        local.wk.bias!.assign(conv.wk.bias!.indexSelect(0, idx));
        // w_{t,t'} = kernel[t' − t + origin] inside the window, as U Vᵀ with U = I, V = Wᵀ.
        const kern = conv.kernel().arraySync() as number[][];
        const origin = causal ? convWindow - 1 : (convWindow - 1) / 2;
        const W = Array.from({ length: T }, (_, t) =>
          Array.from({ length: T }, (_, tp) => {
            const j = tp - t + origin;
            return j >= 0 && j < convWindow ? kern[0]![j]! : 0;
          }),
        );
        const eye = Array.from({ length: T }, (_, i) =>
          Array.from({ length: T }, (_, j) => (i === j ? 1 : 0)),
        );
        local.posU.assign(tensor(eye));
        local.posV.assign(tensor(W).transpose(0, 1).clone());
      });
      scaleParam(conv.wk.weight, 30);
      scaleParam(local.wk.weight, 30);
      const x = randn([2, T, D]);
      expect(keySpread(conv, x)).toBeGreaterThan(60);
      expect(conv.kernel().abs().max().item()).toBeGreaterThan(1);
      expect(conv.forward(x).sub(local.forward(x)).abs().max().item()).toBeLessThan(1e-4);
    });
  }
});

describe('stability: inputs ×100 give no NaN or Inf, forward or backward', () => {
  const variants: {
    name: string;
    build: (causal: boolean) => { forward(x: Tensor): Tensor; parameters(): Tensor[] };
    grid?: boolean;
  }[] = [
    { name: 'full', build: (causal) => new AftFull({ dModel: D, maxLen: 32, causal, posDim: 8 }) },
    {
      name: 'local',
      build: (causal) => new AftLocal({ dModel: D, maxLen: 32, window: 4, causal, posDim: 8 }),
    },
    { name: 'simple', build: (causal) => new AftSimple({ dModel: D, causal }) },
    {
      name: 'conv1d',
      build: (causal) => new AftConv1d({ dModel: D, heads: 2, window: 5, causal }),
    },
  ];
  for (const v of variants) {
    for (const causal of [true, false]) {
      it(`${v.name}, ${causal ? 'causal' : 'non-causal'}`, () => {
        manualSeed(12);
        const layer = v.build(causal);
        const x = randn([2, 29, D]).mul(100);
        const y = layer.forward(x);
        expect(allFinite(y)).toBe(true);
        y.mul(randn(y.shape as number[]))
          .sum()
          .backward();
        for (const p of layer.parameters()) expect(allFinite(p.grad as Tensor)).toBe(true);
      });
    }
  }
  it('conv2d', () => {
    manualSeed(13);
    const layer = new AftConv2d({ dModel: D, heads: 2, kernel: 3 });
    spreadKernel(layer);
    const x = randn([2, 6, 5, D]).mul(100);
    const y = layer.forward(x);
    expect(allFinite(y)).toBe(true);
    y.sum().backward();
    for (const p of layer.parameters()) expect(allFinite(p.grad as Tensor)).toBe(true);
  });
  it('whole models of every variant', () => {
    manualSeed(14);
    const variants: AftVariant[] = ['full', 'local', 'simple', 'conv1d'];
    for (const variant of variants) {
      const model = new Aft({
        variant,
        nLayers: 2,
        dModel: D,
        dFF: 16,
        maxLen: 32,
        window: 3,
        heads: 2,
        posDim: 4,
      });
      expect(allFinite(model.forward(randn([2, 17, D]).mul(100))), variant).toBe(true);
    }
    const grid = new Aft({
      variant: 'conv2d',
      nLayers: 2,
      dModel: D,
      dFF: 16,
      heads: 2,
      kernel: 3,
    });
    expect(allFinite(grid.forward(randn([2, 4, 4, D]).mul(100)))).toBe(true);
  });
});
