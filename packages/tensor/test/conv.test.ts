import { describe, expect, it } from 'vitest';
import {
  type Conv1dOptions,
  type Conv2dOptions,
  col2im,
  conv1d,
  conv2d,
  im2col,
  type Tensor,
  TensorError,
  tensor,
} from '../src/index.js';

// ---- helpers ------------------------------------------------------------------------------------

/** Deterministic uniform values in [-1, 1) (mulberry32), optionally with magnitudes spread over 10^±spread. */
function randomArray(length: number, seed: number, spread = 0): Float32Array {
  let s = seed >>> 0;
  const next = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const out = new Float32Array(length);
  for (let i = 0; i < length; i++) {
    const u = 2 * next() - 1;
    out[i] = spread > 0 ? u * 10 ** (spread * (2 * next() - 1)) : u;
  }
  return out;
}

const prod = (xs: readonly number[]) => xs.reduce((a, b) => a * b, 1);
const absArr = (a: ArrayLike<number>) => Float64Array.from(a, Math.abs);

/** |got − want| <= tol · scale + tiny, element by element; scale is the same sum over absolute values. */
function expectClose(
  what: string,
  got: ArrayLike<number>,
  want: ArrayLike<number>,
  scale: ArrayLike<number>,
  tol = 2e-6,
): void {
  expect(got.length, `${what}: length`).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    const err = Math.abs((got[i] as number) - (want[i] as number));
    if (!(err <= tol * (scale[i] as number) + 1e-30)) {
      throw new Error(
        `${what}[${i}] = ${got[i]}, want ${want[i]} (|err| ${err}, scale ${scale[i]})`,
      );
    }
  }
}

type Pad = number | readonly [number, number];

/** [before, after] per spatial dim from the API's padding forms (written separately from the library). */
function refPads(padding: unknown, kernel: number[], dilation: number[]): [number, number][] {
  if (padding === undefined || padding === 'valid') return kernel.map(() => [0, 0]);
  if (padding === 'same') {
    return kernel.map((k, i) => {
      const total = (dilation[i] as number) * (k - 1);
      return [total >> 1, total - (total >> 1)];
    });
  }
  if (typeof padding === 'number') return kernel.map(() => [padding, padding]);
  return (padding as Pad[]).map((p) => (typeof p === 'number' ? [p, p] : [p[0], p[1]]));
}

const tuple = (v: number | readonly number[] | undefined, dims: number): number[] =>
  v === undefined
    ? new Array(dims).fill(1)
    : typeof v === 'number'
      ? new Array(dims).fill(v)
      : [...v];

interface RefResult {
  y: Float64Array;
  yShape: number[];
  gx: Float64Array;
  gw: Float64Array;
  gb: Float64Array;
}

/**
 * Direct 2-d convolution of batched x [N, C, H, W] in float64 by nested loops, together with the
 * exact gradients of sum(y · r) with respect to x, w and b (the adjoint of the same loops). With r
 * null only y is computed.
 */
function refConv2d(
  x: ArrayLike<number>,
  xs: number[],
  w: ArrayLike<number>,
  ws: number[],
  b: ArrayLike<number> | null,
  opts: Conv1dOptions | Conv2dOptions,
  r: ArrayLike<number> | null,
): RefResult {
  const [n, c, h, wd] = xs as [number, number, number, number];
  const [co, cg, kh, kw] = ws as [number, number, number, number];
  const [sh, sw] = tuple(opts.stride, 2) as [number, number];
  const [dh, dw] = tuple(opts.dilation, 2) as [number, number];
  const [[pt, pb], [pl, pr]] = refPads(opts.padding, [kh, kw], [dh, dw]) as [
    [number, number],
    [number, number],
  ];
  const groups = opts.groups ?? 1;
  const oh = Math.floor((h + pt + pb - dh * (kh - 1) - 1) / sh) + 1;
  const ow = Math.floor((wd + pl + pr - dw * (kw - 1) - 1) / sw) + 1;
  const cog = co / groups;
  const y = new Float64Array(n * co * oh * ow);
  const gx = new Float64Array(x.length);
  const gw = new Float64Array(w.length);
  const gb = new Float64Array(co);
  for (let bi = 0; bi < n; bi++) {
    for (let o = 0; o < co; o++) {
      const g = Math.floor(o / cog);
      for (let i = 0; i < oh; i++) {
        for (let j = 0; j < ow; j++) {
          const yi = ((bi * co + o) * oh + i) * ow + j;
          const rv = r ? (r[yi] as number) : 0;
          let acc = b ? (b[o] as number) : 0;
          gb[o] = (gb[o] as number) + rv;
          for (let ci = 0; ci < cg; ci++) {
            for (let ki = 0; ki < kh; ki++) {
              for (let kj = 0; kj < kw; kj++) {
                const ih = i * sh - pt + ki * dh;
                const iw = j * sw - pl + kj * dw;
                if (ih < 0 || ih >= h || iw < 0 || iw >= wd) continue;
                const xi = ((bi * c + g * cg + ci) * h + ih) * wd + iw;
                const wi = ((o * cg + ci) * kh + ki) * kw + kj;
                acc += (x[xi] as number) * (w[wi] as number);
                gx[xi] = (gx[xi] as number) + rv * (w[wi] as number);
                gw[wi] = (gw[wi] as number) + rv * (x[xi] as number);
              }
            }
          }
          y[yi] = acc;
        }
      }
    }
  }
  return { y, yShape: [n, co, oh, ow], gx, gw, gb };
}

/** Direct 1-d convolution of batched x [N, C, L], written on its own (not through the 2-d one). */
function refConv1d(
  x: ArrayLike<number>,
  xs: number[],
  w: ArrayLike<number>,
  ws: number[],
  b: ArrayLike<number> | null,
  opts: Conv1dOptions | Conv2dOptions,
  r: ArrayLike<number> | null,
): RefResult {
  const [n, c, len] = xs as [number, number, number];
  const [co, cg, k] = ws as [number, number, number];
  const [s] = tuple(opts.stride, 1) as [number];
  const [d] = tuple(opts.dilation, 1) as [number];
  const [[pa, pz]] = refPads(opts.padding, [k], [d]) as [[number, number]];
  const groups = opts.groups ?? 1;
  const ol = Math.floor((len + pa + pz - d * (k - 1) - 1) / s) + 1;
  const cog = co / groups;
  const y = new Float64Array(n * co * ol);
  const gx = new Float64Array(x.length);
  const gw = new Float64Array(w.length);
  const gb = new Float64Array(co);
  for (let bi = 0; bi < n; bi++) {
    for (let o = 0; o < co; o++) {
      const g = Math.floor(o / cog);
      for (let t = 0; t < ol; t++) {
        const yi = (bi * co + o) * ol + t;
        const rv = r ? (r[yi] as number) : 0;
        let acc = b ? (b[o] as number) : 0;
        gb[o] = (gb[o] as number) + rv;
        for (let ci = 0; ci < cg; ci++) {
          for (let kk = 0; kk < k; kk++) {
            const p = t * s - pa + kk * d;
            if (p < 0 || p >= len) continue;
            const xi = (bi * c + g * cg + ci) * len + p;
            const wi = (o * cg + ci) * k + kk;
            acc += (x[xi] as number) * (w[wi] as number);
            gx[xi] = (gx[xi] as number) + rv * (w[wi] as number);
            gw[wi] = (gw[wi] as number) + rv * (x[xi] as number);
          }
        }
        y[yi] = acc;
      }
    }
  }
  return { y, yShape: [n, co, ol], gx, gw, gb };
}

interface Case {
  name: string;
  /** Input shape without the batch axis; batch null = unbatched input. */
  batch: number | null;
  inner: number[];
  weight: number[];
  bias: boolean;
  opts: Conv2dOptions | Conv1dOptions;
  spread?: number;
}

/** Runs conv forward and backward of sum(y · r) and compares y, dx, dw, db with the float64 reference. */
function checkCase(dims: 1 | 2, cs: Case, seed: number): void {
  const xShape = cs.batch === null ? cs.inner : [cs.batch, ...cs.inner];
  const batchedShape = [cs.batch ?? 1, ...cs.inner];
  const xa = randomArray(prod(xShape), seed, cs.spread ?? 0);
  const wa = randomArray(prod(cs.weight), seed + 1, cs.spread ?? 0);
  const ba = cs.bias ? randomArray(cs.weight[0] as number, seed + 2) : null;
  const ref = dims === 1 ? refConv1d : refConv2d;
  const probe = ref(xa, batchedShape, wa, cs.weight, ba, cs.opts, null);
  const ra = randomArray(prod(probe.yShape), seed + 3);
  const want = ref(xa, batchedShape, wa, cs.weight, ba, cs.opts, ra);
  // The same loops over absolute values bound each result's rounding error.
  const scale = ref(
    absArr(xa),
    batchedShape,
    absArr(wa),
    cs.weight,
    ba && absArr(ba),
    cs.opts,
    absArr(ra),
  );

  const x = tensor(xa, { shape: xShape, requiresGrad: true });
  const w = tensor(wa, { shape: cs.weight, requiresGrad: true });
  const b = ba ? tensor(ba, { requiresGrad: true }) : null;
  const y =
    dims === 1
      ? conv1d(x, w, b, cs.opts as Conv1dOptions)
      : conv2d(x, w, b, cs.opts as Conv2dOptions);
  const wantShape = cs.batch === null ? want.yShape.slice(1) : want.yShape;
  expect(y.shape, `${cs.name}: output shape`).toEqual(wantShape);
  expectClose(`${cs.name}: y`, y.dataSync(), want.y, scale.y);

  y.mul(tensor(ra, { shape: y.shape }))
    .sum()
    .backward();
  expectClose(`${cs.name}: dx`, (x.grad as Tensor).dataSync(), want.gx, scale.gx);
  expectClose(`${cs.name}: dw`, (w.grad as Tensor).dataSync(), want.gw, scale.gw);
  if (b) expectClose(`${cs.name}: db`, (b.grad as Tensor).dataSync(), want.gb, scale.gb);
}

// ---- conv2d -------------------------------------------------------------------------------------

const cases2d: Case[] = [
  { name: 'basic 3×3', batch: 2, inner: [3, 7, 5], weight: [4, 3, 3, 3], bias: true, opts: {} },
  {
    name: 'no bias, batch 1',
    batch: 1,
    inner: [2, 6, 6],
    weight: [3, 2, 3, 3],
    bias: false,
    opts: {},
  },
  {
    name: 'batch 3, stride 2, padding 1',
    batch: 3,
    inner: [3, 9, 8],
    weight: [5, 3, 3, 3],
    bias: true,
    opts: { stride: 2, padding: 1 },
  },
  {
    name: 'stride 3, prime sizes',
    batch: 2,
    inner: [5, 11, 13],
    weight: [7, 5, 3, 2],
    bias: true,
    opts: { stride: 3 },
  },
  {
    name: 'per-dim stride/dilation/padding',
    batch: 2,
    inner: [2, 10, 9],
    weight: [3, 2, 3, 2],
    bias: true,
    opts: { stride: [2, 3], dilation: [2, 1], padding: [1, 2] },
  },
  {
    name: 'dilation 2',
    batch: 1,
    inner: [3, 9, 11],
    weight: [2, 3, 3, 3],
    bias: false,
    opts: { dilation: 2 },
  },
  {
    name: "'same' odd kernel, dilation 2",
    batch: 2,
    inner: [3, 7, 6],
    weight: [4, 3, 3, 3],
    bias: true,
    opts: { padding: 'same', dilation: 2 },
  },
  {
    name: "'same' even kernel (extra on the right)",
    batch: 2,
    inner: [2, 5, 7],
    weight: [3, 2, 4, 2],
    bias: true,
    opts: { padding: 'same' },
  },
  {
    name: "'valid'",
    batch: 2,
    inner: [2, 5, 7],
    weight: [3, 2, 2, 4],
    bias: true,
    opts: { padding: 'valid' },
  },
  {
    name: 'asymmetric padding pairs',
    batch: 2,
    inner: [3, 6, 5],
    weight: [2, 3, 3, 3],
    bias: true,
    opts: {
      padding: [
        [2, 0],
        [0, 3],
      ],
    },
  },
  {
    name: 'mixed pair and number, stride 2',
    batch: 1,
    inner: [2, 7, 7],
    weight: [3, 2, 3, 3],
    bias: true,
    opts: { padding: [[0, 2], 1], stride: 2 },
  },
  {
    name: 'padding larger than the kernel',
    batch: 1,
    inner: [1, 3, 3],
    weight: [2, 1, 2, 2],
    bias: true,
    opts: { padding: 3 },
  },
  {
    name: 'groups 2',
    batch: 2,
    inner: [4, 6, 7],
    weight: [6, 2, 3, 3],
    bias: true,
    opts: { groups: 2, padding: 1 },
  },
  {
    name: 'groups 3, stride 2',
    batch: 3,
    inner: [6, 7, 5],
    weight: [3, 2, 2, 3],
    bias: false,
    opts: { groups: 3, stride: 2 },
  },
  {
    name: 'depthwise',
    batch: 2,
    inner: [3, 8, 7],
    weight: [3, 1, 3, 3],
    bias: true,
    opts: { groups: 3, padding: 1 },
  },
  {
    name: 'depthwise multiplier 2',
    batch: 2,
    inner: [3, 6, 5],
    weight: [6, 1, 3, 3],
    bias: true,
    opts: { groups: 3, padding: 'same' },
  },
  { name: '1×1 kernel', batch: 2, inner: [5, 4, 3], weight: [7, 5, 1, 1], bias: true, opts: {} },
  {
    name: '1×1 kernel, stride 2',
    batch: 2,
    inner: [3, 5, 6],
    weight: [2, 3, 1, 1],
    bias: true,
    opts: { stride: 2 },
  },
  {
    name: '1×1 kernel, padding 1',
    batch: 1,
    inner: [2, 3, 3],
    weight: [2, 2, 1, 1],
    bias: true,
    opts: { padding: 1 },
  },
  {
    name: 'kernel = input size',
    batch: 3,
    inner: [2, 5, 4],
    weight: [3, 2, 5, 4],
    bias: true,
    opts: {},
  },
  {
    name: 'kernel = padded input size',
    batch: 1,
    inner: [2, 3, 2],
    weight: [2, 2, 5, 4],
    bias: true,
    opts: { padding: 1 },
  },
  {
    name: 'height 1',
    batch: 2,
    inner: [3, 1, 9],
    weight: [2, 3, 1, 3],
    bias: true,
    opts: { padding: [0, 1] },
  },
  { name: '1×1 input', batch: 2, inner: [3, 1, 1], weight: [4, 3, 1, 1], bias: true, opts: {} },
  {
    name: '1×1 input with padding',
    batch: 2,
    inner: [3, 1, 1],
    weight: [4, 3, 3, 3],
    bias: true,
    opts: { padding: 1 },
  },
  {
    name: 'unbatched',
    batch: null,
    inner: [3, 6, 5],
    weight: [4, 3, 3, 2],
    bias: true,
    opts: { padding: 1, stride: [1, 2] },
  },
  {
    name: 'unbatched depthwise',
    batch: null,
    inner: [4, 5, 5],
    weight: [4, 1, 2, 2],
    bias: false,
    opts: { groups: 4 },
  },
  {
    name: 'large spread of magnitudes',
    batch: 2,
    inner: [4, 7, 6],
    weight: [3, 4, 3, 3],
    bias: true,
    opts: { padding: 1 },
    spread: 3,
  },
  {
    name: 'stride larger than kernel',
    batch: 2,
    inner: [2, 9, 10],
    weight: [3, 2, 2, 2],
    bias: true,
    opts: {
      stride: 4,
      padding: [
        [1, 0],
        [0, 2],
      ],
    },
  },
];

describe('conv2d', () => {
  cases2d.forEach((cs, i) => {
    it(`${cs.name}: y, dx, dw, db match the float64 reference`, () =>
      checkCase(2, cs, 1000 + 17 * i));
  });

  it('batch 0 gives an empty output and zero weight gradient', () => {
    const x = tensor(new Float32Array(0), { shape: [0, 3, 5, 5], requiresGrad: true });
    const w = tensor(randomArray(4 * 3 * 9, 5), { shape: [4, 3, 3, 3], requiresGrad: true });
    const b = tensor(randomArray(4, 6), { requiresGrad: true });
    const y = conv2d(x, w, b, { padding: 1, stride: 2 });
    expect(y.shape).toEqual([0, 4, 3, 3]);
    y.sum().backward();
    expect((x.grad as Tensor).shape).toEqual([0, 3, 5, 5]);
    expect(Array.from((w.grad as Tensor).dataSync()).every((v) => v === 0)).toBe(true);
    expect(Array.from((b.grad as Tensor).dataSync()).every((v) => v === 0)).toBe(true);
  });

  it("'same' keeps the spatial size for every kernel parity and dilation", () => {
    for (const [kh, kw, d] of [
      [1, 1, 1],
      [2, 3, 1],
      [4, 5, 2],
      [3, 2, 3],
    ] as const) {
      const x = tensor(randomArray(2 * 2 * 7 * 8, kh), { shape: [2, 2, 7, 8] });
      const w = tensor(randomArray(3 * 2 * kh * kw, kw), { shape: [3, 2, kh, kw] });
      expect(conv2d(x, w, null, { padding: 'same', dilation: d }).shape).toEqual([2, 3, 7, 8]);
    }
  });

  it('gradients agree with central finite differences of the implementation itself', () => {
    const opts: Conv2dOptions = {
      stride: [2, 1],
      padding: [[1, 0], 2],
      dilation: [1, 2],
      groups: 2,
    };
    const xs = [2, 4, 6, 5];
    const wsh = [4, 2, 3, 2];
    const xa = randomArray(prod(xs), 71);
    const wa = randomArray(prod(wsh), 72);
    const ba = randomArray(4, 73);
    const loss = (
      xv: Float32Array,
      wv: Float32Array,
      bv: Float32Array,
      r: Float32Array | null,
    ): [number, Tensor] => {
      const y = conv2d(tensor(xv, { shape: xs }), tensor(wv, { shape: wsh }), tensor(bv), opts);
      const yd = y.dataSync();
      let s = 0;
      // The loss is nonlinear (Σ r·tanh(y)) so the chain rule through conv is exercised too.
      for (let i = 0; i < yd.length; i++)
        s += (r ? (r[i] as number) : 1) * Math.tanh(yd[i] as number);
      return [s, y];
    };
    const [, y0] = loss(xa, wa, ba, null);
    const ra = randomArray(y0.size, 74);
    const x = tensor(xa, { shape: xs, requiresGrad: true });
    const w = tensor(wa, { shape: wsh, requiresGrad: true });
    const b = tensor(ba, { requiresGrad: true });
    conv2d(x, w, b, opts)
      .tanh()
      .mul(tensor(ra, { shape: y0.shape }))
      .sum()
      .backward();
    const eps = 1e-2;
    for (const [name, arrIn, grad] of [
      ['x', xa, x.grad],
      ['w', wa, w.grad],
      ['b', ba, b.grad],
    ] as const) {
      const g = (grad as Tensor).dataSync();
      const step = Math.max(1, Math.floor(arrIn.length / 15));
      for (let i = 0; i < arrIn.length; i += step) {
        const plus = arrIn.slice();
        const minus = arrIn.slice();
        plus[i] = (arrIn[i] as number) + eps;
        minus[i] = (arrIn[i] as number) - eps;
        const f = (v: Float32Array) =>
          loss(name === 'x' ? v : xa, name === 'w' ? v : wa, name === 'b' ? v : ba, ra)[0];
        const fd = (f(plus) - f(minus)) / ((plus[i] as number) - (minus[i] as number));
        expect(
          Math.abs(fd - (g[i] as number)),
          `d/d${name}[${i}]: fd ${fd}, autograd ${g[i]}`,
        ).toBeLessThan(2e-3 * (1 + Math.abs(fd)));
      }
    }
  });
});

// ---- conv1d -------------------------------------------------------------------------------------

const cases1d: Case[] = [
  { name: 'basic', batch: 2, inner: [3, 10], weight: [4, 3, 3], bias: true, opts: {} },
  {
    name: 'batch 3, stride 2, padding 1',
    batch: 3,
    inner: [2, 11],
    weight: [3, 2, 4],
    bias: true,
    opts: { stride: 2, padding: 1 },
  },
  {
    name: 'stride 3, dilation 2, prime length',
    batch: 2,
    inner: [3, 17],
    weight: [5, 3, 3],
    bias: false,
    opts: { stride: [3], dilation: [2] },
  },
  {
    name: 'causal padding [[k−1, 0]]',
    batch: 2,
    inner: [2, 9],
    weight: [3, 2, 4],
    bias: true,
    opts: { padding: [[3, 0]] },
  },
  {
    name: 'causal dilated',
    batch: 1,
    inner: [2, 13],
    weight: [2, 2, 3],
    bias: true,
    opts: { padding: [[4, 0]], dilation: 2 },
  },
  {
    name: 'right padding only',
    batch: 1,
    inner: [1, 5],
    weight: [2, 1, 3],
    bias: true,
    opts: { padding: [[0, 2]] },
  },
  {
    name: "'same' even kernel",
    batch: 2,
    inner: [3, 8],
    weight: [2, 3, 4],
    bias: true,
    opts: { padding: 'same' },
  },
  {
    name: "'same' dilated",
    batch: 2,
    inner: [3, 8],
    weight: [2, 3, 3],
    bias: false,
    opts: { padding: 'same', dilation: 3 },
  },
  {
    name: 'padding [p]',
    batch: 2,
    inner: [2, 6],
    weight: [3, 2, 3],
    bias: true,
    opts: { padding: [2] },
  },
  {
    name: 'groups 2',
    batch: 2,
    inner: [4, 9],
    weight: [6, 2, 3],
    bias: true,
    opts: { groups: 2, padding: 1 },
  },
  {
    name: 'depthwise',
    batch: 3,
    inner: [5, 7],
    weight: [5, 1, 3],
    bias: true,
    opts: { groups: 5, padding: 'same' },
  },
  {
    name: 'depthwise multiplier 3',
    batch: 1,
    inner: [2, 7],
    weight: [6, 1, 2],
    bias: false,
    opts: { groups: 2, stride: 2 },
  },
  { name: '1×1 kernel', batch: 2, inner: [3, 7], weight: [5, 3, 1], bias: true, opts: {} },
  {
    name: 'kernel = input length',
    batch: 2,
    inner: [3, 6],
    weight: [2, 3, 6],
    bias: true,
    opts: {},
  },
  { name: 'length 1', batch: 2, inner: [3, 1], weight: [2, 3, 1], bias: true, opts: {} },
  {
    name: 'unbatched',
    batch: null,
    inner: [3, 9],
    weight: [2, 3, 3],
    bias: true,
    opts: { padding: [[2, 0]] },
  },
  {
    name: 'large spread of magnitudes',
    batch: 2,
    inner: [3, 12],
    weight: [4, 3, 5],
    bias: true,
    opts: { padding: 2 },
    spread: 3,
  },
];

describe('conv1d', () => {
  cases1d.forEach((cs, i) => {
    it(`${cs.name}: y, dx, dw, db match the float64 reference`, () =>
      checkCase(1, cs, 5000 + 31 * i));
  });

  it('causal padding keeps the length and never reads the future', () => {
    const x = tensor(randomArray(2 * 9, 9), { shape: [1, 2, 9] });
    const w = tensor(randomArray(3 * 2 * 3, 10), { shape: [3, 2, 3] });
    const y = conv1d(x, w, null, { padding: [[4, 0]], dilation: 2 }).dataSync();
    const xa = x.dataSync().slice();
    for (let i = 5; i < 9; i++) xa[i] = 100; // change channel 0 from t = 5 on
    const y2 = conv1d(tensor(xa, { shape: [1, 2, 9] }), w, null, {
      padding: [[4, 0]],
      dilation: 2,
    }).dataSync();
    expect(y2.length).toBe(27);
    for (let o = 0; o < 3; o++)
      for (let t = 0; t < 5; t++) expect(y2[o * 9 + t]).toBe(y[o * 9 + t]);
    expect(y2[5]).not.toBe(y[5]);
  });
});

// ---- im2col / col2im ----------------------------------------------------------------------------

describe('im2col and col2im', () => {
  const xs = [2, 3, 5, 6];
  const kernel: [number, number] = [2, 3];
  const opts = {
    stride: [2, 1] as [number, number],
    padding: [[1, 0], 1] as [Pad, Pad],
    dilation: [1, 2] as [number, number],
  };
  const [[pt, pb], [pl, pr]] = refPads(opts.padding, kernel, opts.dilation) as [
    [number, number],
    [number, number],
  ];
  const oh = Math.floor((5 + pt + pb - 1 * (2 - 1) - 1) / 2) + 1;
  const ow = Math.floor((6 + pl + pr - 2 * (3 - 1) - 1) / 1) + 1;
  /** Naive unfold: cols[n, (c·kH + i)·kW + j, p·ow + q] = x[n, c, p·sH − pT + i·dH, q·sW − pL + j·dW]. */
  const colIndexToImage = (nb: number, row: number, col: number): number => {
    const c = Math.floor(row / 6);
    const i = Math.floor((row % 6) / 3);
    const j = row % 3;
    const p = Math.floor(col / ow);
    const q = col % ow;
    const ih = p * 2 - pt + i;
    const iw = q - pl + j * 2;
    if (ih < 0 || ih >= 5 || iw < 0 || iw >= 6) return -1;
    return ((nb * 3 + c) * 5 + ih) * 6 + iw;
  };

  it('im2col gathers each patch and col2im scatters it back (adjoint)', () => {
    const xa = randomArray(prod(xs), 3);
    const cols = im2col(tensor(xa, { shape: xs }), kernel, opts);
    expect(cols.shape).toEqual([2, 18, oh * ow]);
    const got = cols.dataSync();
    const ca = randomArray(cols.size, 4);
    const back = new Float64Array(xa.length);
    for (let nb = 0; nb < 2; nb++) {
      for (let row = 0; row < 18; row++) {
        for (let col = 0; col < oh * ow; col++) {
          const k = (nb * 18 + row) * oh * ow + col;
          const src = colIndexToImage(nb, row, col);
          expect(got[k]).toBe(src < 0 ? 0 : xa[src]);
          if (src >= 0) back[src] = (back[src] as number) + (ca[k] as number);
        }
      }
    }
    const folded = col2im(tensor(ca, { shape: cols.shape }), [5, 6], kernel, opts);
    expect(folded.shape).toEqual(xs);
    expectClose(
      'col2im',
      folded.dataSync(),
      back,
      absArr(back).map((v) => v + 1),
      1e-6,
    );
  });

  it('each is the gradient of the other', () => {
    const x = tensor(randomArray(prod(xs), 5), { shape: xs, requiresGrad: true });
    const cols = im2col(x, kernel, opts);
    const r = tensor(randomArray(cols.size, 6), { shape: cols.shape });
    cols.mul(r).sum().backward();
    expect(Array.from((x.grad as Tensor).dataSync())).toEqual(
      Array.from(col2im(r, [5, 6], kernel, opts).dataSync()),
    );

    const c = tensor(randomArray(cols.size, 7), { shape: cols.shape, requiresGrad: true });
    const q = tensor(randomArray(prod(xs), 8), { shape: xs });
    col2im(c, [5, 6], kernel, opts).mul(q).sum().backward();
    expect(Array.from((c.grad as Tensor).dataSync())).toEqual(
      Array.from(im2col(q, kernel, opts).dataSync()),
    );
  });

  it('accepts unbatched input and checks the column count', () => {
    const x = tensor(randomArray(3 * 4 * 4, 9), { shape: [3, 4, 4] });
    const cols = im2col(x, 2, { stride: 2 });
    expect(cols.shape).toEqual([12, 4]);
    expect(col2im(cols, [4, 4], 2, { stride: 2 }).dataSync()).toEqual(x.dataSync());
    expect(() => col2im(cols, [6, 4], 2, { stride: 2 })).toThrow(
      /col2im: expected 6 columns \(3×2 patches for output 6×4\), got \[12, 4\]/,
    );
    expect(() =>
      col2im(tensor(new Float32Array(10 * 4), { shape: [10, 4] }), [4, 4], 2, { stride: 2 }),
    ).toThrow(/multiple of kH·kW = 4/);
  });
});

// ---- argument errors ----------------------------------------------------------------------------

describe('conv argument errors', () => {
  const x4 = tensor(randomArray(2 * 4 * 5 * 5, 1), { shape: [2, 4, 5, 5] });
  const w4 = tensor(randomArray(6 * 4 * 9, 2), { shape: [6, 4, 3, 3] });
  const x3 = tensor(randomArray(2 * 4 * 7, 3), { shape: [2, 4, 7] });
  const w3 = tensor(randomArray(6 * 4 * 3, 4), { shape: [6, 4, 3] });
  const bad = (fn: () => unknown, pattern: RegExp) => {
    let err: unknown;
    try {
      fn();
    } catch (e) {
      err = e;
    }
    expect(err, `expected a TensorError matching ${pattern}`).toBeInstanceOf(TensorError);
    expect((err as Error).message).toMatch(pattern);
  };

  it('rejects wrong ranks and dtypes', () => {
    bad(
      () => conv2d(tensor(new Float32Array(20), { shape: [4, 5] }), w4),
      /^conv2d: expected input of shape \[N, C_in, H, W\].*got \[4, 5\]/,
    );
    bad(
      () => conv2d(tensor(new Float32Array(1), { shape: [1, 1, 1, 1, 1] }), w4),
      /conv2d: expected input .*got \[1, 1, 1, 1, 1\]/,
    );
    bad(
      () => conv2d(x4, w3),
      /conv2d: expected weight of shape \[C_out, C_in \/ groups, kH, kW\], got \[6, 4, 3\]/,
    );
    bad(
      () => conv1d(x3, w4),
      /conv1d: expected weight of shape \[C_out, C_in \/ groups, k\], got \[6, 4, 3, 3\]/,
    );
    bad(() => conv1d(x4, w3), /conv1d: expected input of shape \[N, C_in, L\]/);
    bad(() => conv2d(x4.int(), w4), /conv2d: expected input of dtype float32, got int32/);
    bad(() => conv2d(x4, w4.int()), /conv2d: expected weight of dtype float32, got int32/);
  });

  it('rejects channel and group mismatches', () => {
    bad(
      () => conv2d(x4, tensor(new Float32Array(6 * 3 * 9), { shape: [6, 3, 3, 3] })),
      /expected weight of shape \[6, 4, 3, 3\] \(input channels 4 \/ groups 1 = 4\), got \[6, 3, 3, 3\]/,
    );
    bad(
      () => conv2d(x4, w4, null, { groups: 3 }),
      /input channels 4 are not divisible by groups 3/,
    );
    bad(
      () =>
        conv2d(x4, tensor(new Float32Array(5 * 2 * 9), { shape: [5, 2, 3, 3] }), null, {
          groups: 2,
        }),
      /output channels 5 .* not divisible by groups 2/,
    );
    bad(
      () => conv2d(x4, w4, null, { groups: 2 }),
      /\(input channels 4 \/ groups 2 = 2\), got \[6, 4, 3, 3\]/,
    );
    bad(() => conv2d(x4, w4, null, { groups: 0 }), /groups to be a positive integer, got 0/);
    bad(() => conv2d(x4, w4, null, { groups: 1.5 }), /groups to be a positive integer, got 1.5/);
  });

  it('rejects bad stride, dilation and padding', () => {
    bad(
      () => conv2d(x4, w4, null, { stride: 0 }),
      /conv2d: expected stride to be positive integers, got 0/,
    );
    bad(
      () => conv2d(x4, w4, null, { stride: [1, -2] }),
      /stride to be positive integers, got \[1,-2\]/,
    );
    bad(
      () => conv2d(x4, w4, null, { stride: [1] as unknown as [number, number] }),
      /stride as a number or a tuple of 2 numbers, got \[1\]/,
    );
    bad(
      () => conv1d(x3, w3, null, { stride: 1.5 }),
      /conv1d: expected stride to be positive integers, got 1.5/,
    );
    bad(() => conv2d(x4, w4, null, { dilation: 0 }), /dilation to be positive integers, got 0/);
    bad(
      () => conv2d(x4, w4, null, { padding: -1 }),
      /padding .* non-negative integer amounts, got -1/,
    );
    bad(
      () => conv2d(x4, w4, null, { padding: [[1, -1], 0] }),
      /non-negative integer amounts, got \[\[1,-1\],0\]/,
    );
    bad(
      () => conv2d(x4, w4, null, { padding: 'full' as 'same' }),
      /expected padding as .*got 'full'/,
    );
    bad(
      () => conv2d(x4, w4, null, { padding: [1, 1, 1] as unknown as [number, number] }),
      /expected padding as .*got \[1,1,1\]/,
    );
    bad(
      () => conv1d(x3, w3, null, { padding: [2, 0] as unknown as [number] }),
      /conv1d: expected padding as a number, \[p\], \[\[before, after\]\]/,
    );
    bad(
      () => conv2d(x4, w4, null, { padding: 'same', stride: 2 }),
      /conv2d: padding 'same' needs stride 1, got stride 2/,
    );
    bad(
      () => conv1d(x3, w3, null, { padding: 'same', stride: [3] }),
      /padding 'same' needs stride 1, got stride \[3\]/,
    );
  });

  it('rejects a kernel larger than the padded input', () => {
    const big = tensor(new Float32Array(6 * 4 * 6 * 3), { shape: [6, 4, 6, 3] });
    bad(
      () => conv2d(x4, big),
      /conv2d: the kernel height 6 is larger than the padded input height 5 \(5 \+ padding 0 \+ 0\)/,
    );
    expect(conv2d(x4, big, null, { padding: [[1, 0], 0] }).shape).toEqual([2, 6, 1, 3]);
    bad(
      () => conv2d(x4, w4, null, { dilation: [1, 3] }),
      /kernel width 3 \(dilation 3: spans 7\) is larger than the padded input width 5/,
    );
    bad(
      () => conv1d(x3, tensor(new Float32Array(6 * 4 * 8), { shape: [6, 4, 8] })),
      /conv1d: the kernel length 8 is larger than the padded input length 7/,
    );
  });

  it('rejects bad bias and empty inputs', () => {
    bad(
      () => conv2d(x4, w4, tensor(new Float32Array(5))),
      /expected bias of shape \[6\] \(output channels\), got \[5\]/,
    );
    bad(
      () => conv2d(x4, w4, tensor(new Float32Array(6), { shape: [1, 6] })),
      /expected bias of shape \[6\].*got \[1, 6\]/,
    );
    bad(
      () => conv2d(x4, w4, tensor(new Int32Array(6))),
      /expected bias of dtype float32, got int32/,
    );
    bad(
      () => conv2d(tensor(new Float32Array(0), { shape: [2, 4, 0, 5] }), w4, null, { padding: 2 }),
      /non-zero channel and spatial sizes, got \[2, 4, 0, 5\]/,
    );
    bad(
      () => conv2d(x4, tensor(new Float32Array(0), { shape: [0, 4, 3, 3] })),
      /expected weight with non-zero sizes, got \[0, 4, 3, 3\]/,
    );
  });
});
