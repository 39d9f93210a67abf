import { describe, expect, it } from 'vitest';
import {
  Generator,
  manualSeed,
  nn,
  noGrad,
  ones,
  randn,
  Tensor,
  TensorError,
  tensor,
  zeros,
} from '../src/index.js';

// ---- helpers (float64 references) --------------------------------------------------------------

function f64(t: Tensor): number[] {
  return Array.from(t.dataSync());
}

/** Deterministic float64 values from a seed, spread by `scale` around `offset`. */
function values(n: number, seed: number, scale = 1, offset = 0): number[] {
  const g = new Generator(seed);
  return Array.from({ length: n }, () => offset + scale * g.nextNormal());
}

function expectClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  rtol = 1e-5,
  atol = 1e-6,
): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i] as number;
    const e = expected[i] as number;
    if (!(Math.abs(a - e) <= atol + rtol * Math.abs(e))) {
      throw new Error(`element ${i}: got ${a}, expected ${e} (rtol ${rtol}, atol ${atol})`);
    }
  }
}

/** Central finite differences of a float64 function at x. */
function numericGrad(f: (x: number[]) => number, x: number[], h = 1e-6): number[] {
  return x.map((_, i) => {
    const xp = x.slice();
    const xm = x.slice();
    xp[i] = (xp[i] as number) + h;
    xm[i] = (xm[i] as number) - h;
    return (f(xp) - f(xm)) / (2 * h);
  });
}

/** Sets a parameter's data from float64 values (rounded to float32, as the reference reads them back). */
function setData(t: Tensor, data: number[]): void {
  noGrad(() => t.assign(tensor(data, { shape: t.shape })));
}

/** erf in float64: Taylor series for |x| <= 3, the erfc continued fraction beyond (for references). */
function erf64(x: number): number {
  const z = Math.abs(x);
  if (z > 3) {
    let k = z;
    for (let n = 80; n >= 1; n--) k = z + n / 2 / k;
    return Math.sign(x) * (1 - Math.exp(-z * z) / (Math.sqrt(Math.PI) * k));
  }
  let term = x;
  let sum = x;
  for (let n = 1; n < 200; n++) {
    term *= (-x * x) / n;
    const add = term / (2 * n + 1);
    sum += add;
    if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
  }
  return (2 / Math.sqrt(Math.PI)) * sum;
}

/** GELU in float64; for x << 0 through erfc so that the tiny tail is not lost to 1 − erf. */
function gelu64(x: number): number {
  const z = -x / Math.SQRT2;
  if (z > 3) {
    let k = z;
    for (let n = 80; n >= 1; n--) k = z + n / 2 / k;
    return 0.5 * x * (Math.exp(-z * z) / (Math.sqrt(Math.PI) * k));
  }
  return 0.5 * x * (1 + erf64(x / Math.SQRT2));
}

// ---- Module ------------------------------------------------------------------------------------

class Net extends nn.Module {
  scale: Tensor;
  fc1: nn.Linear;
  blocks: nn.Module[];
  constant: Tensor;
  runningMean!: Tensor;
  constructor(seed = 1) {
    super();
    const generator = new Generator(seed);
    this.scale = nn.parameter(ones([1]));
    this.fc1 = new nn.Linear(3, 4, { generator });
    this.blocks = [
      new nn.Linear(4, 4, { generator }),
      new nn.Tanh(),
      new nn.Linear(4, 2, { generator, bias: false }),
    ];
    this.constant = ones([2]); // no requiresGrad: neither parameter nor buffer
    this.registerBuffer('runningMean', zeros([4]));
  }
  override forward(x: Tensor): Tensor {
    let y = this.fc1.forward(x).mul(this.scale).add(this.runningMean);
    for (const b of this.blocks) y = b.forward(y) as Tensor;
    return y;
  }
}

describe('Module', () => {
  it('finds parameters, buffers and children with PyTorch names and order', () => {
    const net = new Net();
    expect(net.namedParameters().map(([k]) => k)).toEqual([
      'scale',
      'fc1.weight',
      'fc1.bias',
      'blocks.0.weight',
      'blocks.0.bias',
      'blocks.2.weight',
    ]);
    expect(net.namedBuffers().map(([k]) => k)).toEqual(['runningMean']);
    expect(Object.keys(net.stateDict())).toEqual([
      'scale',
      'runningMean',
      'fc1.weight',
      'fc1.bias',
      'blocks.0.weight',
      'blocks.0.bias',
      'blocks.2.weight',
    ]);
    expect(net.namedChildren().map(([k]) => k)).toEqual([
      'fc1',
      'blocks.0',
      'blocks.1',
      'blocks.2',
    ]);
    expect(net.namedModules().map(([k]) => k)).toEqual([
      '',
      'fc1',
      'blocks.0',
      'blocks.1',
      'blocks.2',
    ]);
    expect(net.children()).toHaveLength(4);
    expect(net.numParameters()).toBe(1 + 3 * 4 + 4 + 4 * 4 + 4 + 4 * 2);
    expect(net.parameters().every((p) => p.requiresGrad)).toBe(true);
    expect(net.buffers()[0]?.requiresGrad).toBe(false);
  });

  it('train() / eval() reach every descendant', () => {
    const net = new Net();
    expect(net.modules().every((m) => m.training)).toBe(true);
    expect(net.eval()).toBe(net);
    expect(net.modules().every((m) => !m.training)).toBe(true);
    net.blocks[1]?.train();
    expect(net.training).toBe(false);
    expect(net.blocks[1]?.training).toBe(true);
    net.train();
    expect(net.modules().every((m) => m.training)).toBe(true);
  });

  it('counts a shared parameter once but names it twice in the state dict', () => {
    const a = new nn.Linear(3, 3);
    const b = new nn.Linear(3, 3);
    b.weight = a.weight;
    const seq = new nn.Sequential(a, b);
    expect(seq.namedParameters().map(([k]) => k)).toEqual(['0.weight', '0.bias', '1.bias']);
    expect(seq.numParameters()).toBe(9 + 3 + 3);
    expect(Object.keys(seq.stateDict())).toEqual(['0.weight', '0.bias', '1.weight', '1.bias']);
  });

  it('survives a module that refers back to its parent', () => {
    const outer = new nn.Sequential(new nn.Linear(2, 2));
    const inner = outer[0] as nn.Linear & { parent?: nn.Module };
    inner.parent = outer;
    expect(outer.modules()).toHaveLength(2);
    expect(outer.numParameters()).toBe(6);
    expect(Object.keys(outer.stateDict())).toEqual(['0.weight', '0.bias']);
  });

  it('zeroGrad clears and disposes gradients', () => {
    const net = new Net();
    const x = randn([5, 3]);
    net.forward(x).sum().backward();
    const grads = net.parameters().map((p) => p.grad);
    expect(grads.every((g) => g instanceof Tensor)).toBe(true);
    net.zeroGrad();
    expect(net.parameters().every((p) => p.grad === null)).toBe(true);
    expect(grads.every((g) => g?.isDisposed)).toBe(true);
  });

  it('prints a summary', () => {
    const s = new nn.Sequential(
      new nn.Linear(2, 8),
      new nn.ReLU(),
      new nn.Dropout(0.25),
      new nn.LayerNorm(8),
    );
    const text = s.toString();
    expect(text).toContain('Sequential(');
    expect(text).toContain('(0): Linear(inFeatures=2, outFeatures=8, bias=true)');
    expect(text).toContain('(1): ReLU()');
    expect(text).toContain('(2): Dropout(p=0.25)');
    expect(text).toContain('(3): LayerNorm([8], eps=0.00001, elementwiseAffine=true)');
    expect(new Net().toString()).toContain(
      '(blocks.2): Linear(inFeatures=4, outFeatures=2, bias=false)',
    );
  });

  it('base forward says it is not implemented', () => {
    expect(() => new nn.Module().forward()).toThrow(/Module\.forward: not implemented/);
  });

  it('registerBuffer rejects bad names and clashes', () => {
    const m = new nn.Linear(2, 2);
    expect(() => m.registerBuffer('a.b', zeros([1]))).toThrow(TensorError);
    expect(() => m.registerBuffer('weight', zeros([1]))).toThrow(/already an attribute/);
    m.registerBuffer('mask', null);
    expect(m.namedBuffers()).toEqual([]);
  });
});

describe('stateDict / loadStateDict', () => {
  it('round-trips into a differently initialised model, keeping parameter identity', () => {
    const a = new Net(1);
    const b = new Net(2);
    setData(a.runningMean, [0.5, -1, 2, 0]);
    const x = randn([4, 3]);
    expect(f64(a.forward(x))).not.toEqual(f64(b.forward(x)));
    const before = b.parameters();
    const res = b.loadStateDict(a.stateDict());
    expect(res).toEqual({ missingKeys: [], unexpectedKeys: [] });
    expect(b.parameters()).toEqual(before);
    expect(b.parameters().every((p, i) => p === before[i])).toBe(true);
    expect(f64(b.forward(x))).toEqual(f64(a.forward(x)));
    expect(f64(b.runningMean)).toEqual([0.5, -1, 2, 0]);
  });

  it('is a snapshot: later assignments to the parameters leave it unchanged', () => {
    const a = new nn.Linear(2, 2);
    const sd = a.stateDict();
    const saved = f64(sd.weight as Tensor);
    setData(a.weight, [1, 2, 3, 4]);
    expect(f64(sd.weight as Tensor)).toEqual(saved);
    a.loadStateDict(sd);
    expect(f64(a.weight)).toEqual(saved);
  });

  it('strict mode names missing and unexpected keys and assigns nothing', () => {
    const net = new Net(1);
    const sd = new Net(2).stateDict();
    const w = f64(net.fc1.weight);
    delete sd['fc1.bias'];
    sd.extra = zeros([1]);
    expect(() => net.loadStateDict(sd)).toThrow(
      /missing keys: 'fc1\.bias'; unexpected keys: 'extra'/,
    );
    expect(f64(net.fc1.weight)).toEqual(w);
    const res = net.loadStateDict(sd, { strict: false });
    expect(res).toEqual({ missingKeys: ['fc1.bias'], unexpectedKeys: ['extra'] });
    expect(f64(net.fc1.weight)).not.toEqual(w);
  });

  it('rejects shape and dtype mismatches with the key, expected and actual', () => {
    const net = new Net(1);
    const w = f64(net.fc1.weight);
    const sd = new Net(2).stateDict();
    sd['fc1.weight'] = zeros([3, 4]);
    sd.scale = zeros([1], { dtype: 'int32' });
    let message = '';
    try {
      net.loadStateDict(sd);
    } catch (e) {
      expect(e).toBeInstanceOf(TensorError);
      message = (e as Error).message;
    }
    expect(message).toContain("'fc1.weight': expected float32 [4, 3], got float32 [3, 4]");
    expect(message).toContain("'scale': expected float32 [1], got int32 [1]");
    expect(f64(net.fc1.weight)).toEqual(w);
  });
});

// ---- Linear ------------------------------------------------------------------------------------

function linearRef(
  x: number[],
  rows: number,
  w: number[],
  b: number[] | null,
  inF: number,
  outF: number,
): number[] {
  const y: number[] = [];
  for (let r = 0; r < rows; r++) {
    for (let o = 0; o < outF; o++) {
      let s = b ? (b[o] as number) : 0;
      for (let i = 0; i < inF; i++) s += (x[r * inF + i] as number) * (w[o * inF + i] as number);
      y.push(s);
    }
  }
  return y;
}

describe('Linear', () => {
  it('computes x Wᵀ + b for rank 1, 2 and 3 inputs', () => {
    const lin = new nn.Linear(5, 3);
    const w = f64(lin.weight);
    const b = f64(lin.bias as Tensor);
    expect(lin.weight.shape).toEqual([3, 5]);
    for (const shape of [[5], [4, 5], [2, 3, 5]]) {
      const xs = values(
        shape.reduce((a, c) => a * c, 1),
        7,
        3,
      );
      const x = tensor(xs, { shape });
      const y = lin.forward(x);
      expect(y.shape).toEqual([...shape.slice(0, -1), 3]);
      expectClose(f64(y), linearRef(f64(x), x.size / 5, w, b, 5, 3));
    }
    const noBias = new nn.Linear(5, 3, { bias: false });
    expect(noBias.bias).toBeNull();
    const x = tensor(values(10, 3), { shape: [2, 5] });
    expectClose(f64(noBias.forward(x)), linearRef(f64(x), 2, f64(noBias.weight), null, 5, 3));
  });

  it('initialises weight and bias from U(-1/√in, 1/√in) as PyTorch, reproducibly', () => {
    const inF = 256;
    const lin = new nn.Linear(inF, 128, { generator: new Generator(3) });
    const bound = 1 / Math.sqrt(inF);
    const w = f64(lin.weight);
    const b = f64(lin.bias as Tensor);
    expect(Math.max(...w.map(Math.abs))).toBeLessThanOrEqual(bound);
    expect(Math.max(...w.map(Math.abs))).toBeGreaterThan(0.99 * bound);
    expect(Math.max(...b.map(Math.abs))).toBeLessThanOrEqual(bound);
    const mean = w.reduce((a, v) => a + v, 0) / w.length;
    const variance = w.reduce((a, v) => a + (v - mean) ** 2, 0) / w.length;
    expect(Math.abs(mean)).toBeLessThan(0.02 * bound);
    expect(variance / ((bound * bound) / 3)).toBeGreaterThan(0.97);
    expect(variance / ((bound * bound) / 3)).toBeLessThan(1.03);
    expect(f64(new nn.Linear(inF, 128, { generator: new Generator(3) }).weight)).toEqual(w);
    manualSeed(11);
    const d1 = f64(new nn.Linear(4, 4).weight);
    manualSeed(11);
    expect(f64(new nn.Linear(4, 4).weight)).toEqual(d1);
  });

  it('gradients match finite differences of the float64 formula', () => {
    const lin = new nn.Linear(4, 3);
    const rows = 5;
    const xs = values(rows * 4, 21, 2);
    const r = values(rows * 3, 22); // loss = Σ R ⊙ tanh(y): nonlinear in every input
    const x = tensor(xs, { shape: [rows, 4], requiresGrad: true });
    const R = tensor(r, { shape: [rows, 3] });
    lin.forward(x).tanh().mul(R).sum().backward();
    const w = f64(lin.weight);
    const b = f64(lin.bias as Tensor);
    const xf = f64(x);
    const loss = (xv: number[], wv: number[], bv: number[]) =>
      linearRef(xv, rows, wv, bv, 4, 3).reduce((s, y, i) => s + (r[i] as number) * Math.tanh(y), 0);
    expectClose(
      f64(lin.weight.grad as Tensor),
      numericGrad((wv) => loss(xf, wv, b), w),
      1e-4,
      1e-5,
    );
    expectClose(
      f64(lin.bias?.grad as Tensor),
      numericGrad((bv) => loss(xf, w, bv), b),
      1e-4,
      1e-5,
    );
    expectClose(
      f64(x.grad as Tensor),
      numericGrad((xv) => loss(xv, w, b), xf),
      1e-4,
      1e-5,
    );
  });

  it('rejects a wrong input size with the expected and actual shapes', () => {
    const lin = new nn.Linear(4, 2);
    expect(() => lin.forward(zeros([3, 5]))).toThrow(
      'Linear: expected input of shape [..., 4] (inFeatures), got [3, 5]',
    );
    expect(() => lin.forward(zeros([3, 4], { dtype: 'int32' }))).toThrow(/float32/);
    expect(() => new nn.Linear(-1, 2)).toThrow(/inFeatures/);
  });
});

// ---- LayerNorm ---------------------------------------------------------------------------------

function layerNormRef(
  x: number[],
  n: number,
  w: number[] | null,
  b: number[] | null,
  eps: number,
): number[] {
  const y: number[] = [];
  for (let r = 0; r < x.length / n; r++) {
    const row = x.slice(r * n, (r + 1) * n);
    const mean = row.reduce((a, v) => a + v, 0) / n;
    const variance = row.reduce((a, v) => a + (v - mean) ** 2, 0) / n; // population variance
    row.forEach((v, i) => {
      y.push(
        ((v - mean) / Math.sqrt(variance + eps)) * (w ? (w[i] as number) : 1) +
          (b ? (b[i] as number) : 0),
      );
    });
  }
  return y;
}

describe('LayerNorm', () => {
  it('normalises over the trailing axes with the population variance', () => {
    const ln = new nn.LayerNorm([2, 3]);
    setData(ln.weight as Tensor, values(6, 1, 0.5, 1));
    setData(ln.bias as Tensor, values(6, 2));
    // Rows with a large offset, a tiny spread, and a constant row (variance 0).
    const xs = [
      ...values(6, 3, 5, 100),
      ...values(6, 4, 1e-3, -7),
      3,
      3,
      3,
      3,
      3,
      3,
      ...values(6, 5, 20),
    ];
    const x = tensor(xs, { shape: [2, 2, 2, 3] });
    const y = ln.forward(x);
    expect(y.shape).toEqual([2, 2, 2, 3]);
    expectClose(
      f64(y),
      layerNormRef(f64(x), 6, f64(ln.weight as Tensor), f64(ln.bias as Tensor), 1e-5),
      2e-4,
      2e-4,
    );
    const plain = new nn.LayerNorm(3, { elementwiseAffine: false, eps: 1e-3 });
    expect(plain.parameters()).toEqual([]);
    expectClose(f64(plain.forward(x)), layerNormRef(f64(x), 3, null, null, 1e-3), 2e-4, 2e-4);
    const noBias = new nn.LayerNorm(3, { bias: false });
    expect(noBias.namedParameters().map(([k]) => k)).toEqual(['weight']);
  });

  it('gradients (input, weight, bias) match finite differences of the float64 formula', () => {
    const n = 5;
    const rows = 3;
    const ln = new nn.LayerNorm(n);
    const w0 = values(n, 31, 0.5, 1);
    const b0 = values(n, 32);
    setData(ln.weight as Tensor, w0);
    setData(ln.bias as Tensor, b0);
    const xs = f64(tensor(values(rows * n, 33, 2, 1)));
    const r = values(rows * n, 34);
    const x = tensor(xs, { shape: [rows, n], requiresGrad: true });
    ln.forward(x)
      .mul(tensor(r, { shape: [rows, n] }))
      .sum()
      .backward();
    const w = f64(ln.weight as Tensor);
    const b = f64(ln.bias as Tensor);
    const loss = (xv: number[], wv: number[], bv: number[]) =>
      layerNormRef(xv, n, wv, bv, 1e-5).reduce((s, y, i) => s + (r[i] as number) * y, 0);
    expectClose(
      f64(x.grad as Tensor),
      numericGrad((xv) => loss(xv, w, b), xs),
      1e-3,
      1e-4,
    );
    expectClose(
      f64(ln.weight?.grad as Tensor),
      numericGrad((wv) => loss(xs, wv, b), w),
      1e-4,
      1e-5,
    );
    expectClose(
      f64(ln.bias?.grad as Tensor),
      numericGrad((bv) => loss(xs, w, bv), b),
      1e-4,
      1e-5,
    );
  });

  it('is exact for any finite input: |x| from 1e19 to 3e38 against float64, gradients finite', () => {
    // The float32 variance of such rows overflows (x² > 3.4e38): normalising must not return 0.
    const n = 6;
    const ln = new nn.LayerNorm(n);
    setData(ln.weight as Tensor, values(n, 41, 0.5, 1));
    setData(ln.bias as Tensor, values(n, 42));
    const rows: number[] = [];
    for (const scale of [1e19, 3e22, 1e25, 1e30, 1e35, 3e38]) {
      const row = values(n, 43 + Math.log10(scale), 1).map((v) => Math.fround(v * scale * 0.4));
      rows.push(...row);
    }
    rows.push(1e30, -1e30, 1e30, -1e30, 1e30, 1e30); // one row with a huge, symmetric spread
    const x = tensor(rows, { shape: [rows.length / n, n], requiresGrad: true });
    const y = ln.forward(x);
    const ref = layerNormRef(f64(x), n, f64(ln.weight as Tensor), f64(ln.bias as Tensor), 1e-5);
    expect(f64(y).every(Number.isFinite)).toBe(true);
    expectClose(f64(y), ref, 1e-4, 1e-4);
    y.sum().backward();
    expect(f64(x.grad as Tensor).every(Number.isFinite)).toBe(true);
    // Small inputs keep eps's effect exactly (the scale is only ever divided out above 1).
    const tiny = tensor([1e-4, -2e-4, 3e-4, 0, 5e-5, -1e-4], { shape: [1, n] });
    const yt = ln.forward(tiny);
    expectClose(
      f64(yt),
      layerNormRef(f64(tiny), n, f64(ln.weight as Tensor), f64(ln.bias as Tensor), 1e-5),
      1e-4,
      1e-4,
    );
  });

  it('rejects inputs whose trailing shape differs', () => {
    const ln = new nn.LayerNorm([2, 3]);
    expect(() => ln.forward(zeros([4, 3, 2]))).toThrow(
      'LayerNorm: expected input of shape [..., 2, 3] (normalizedShape), got [4, 3, 2]',
    );
    expect(() => ln.forward(zeros([3]))).toThrow(/normalizedShape/);
  });
});

// ---- Embedding ---------------------------------------------------------------------------------

describe('Embedding', () => {
  it('looks rows up for ids of any shape; N(0, 1) init', () => {
    const emb = new nn.Embedding(10, 4, { generator: new Generator(5) });
    const w = f64(emb.weight);
    const ids = tensor(
      [
        [3, 0, 9],
        [3, 3, 1],
      ],
      { dtype: 'int32' },
    );
    const out = emb.forward(ids);
    expect(out.shape).toEqual([2, 3, 4]);
    const expected = [3, 0, 9, 3, 3, 1].flatMap((i) => w.slice(i * 4, i * 4 + 4));
    expect(f64(out)).toEqual(expected);
    const big = f64(new nn.Embedding(200, 100, { generator: new Generator(1) }).weight);
    const mean = big.reduce((a, v) => a + v, 0) / big.length;
    const sd = Math.sqrt(big.reduce((a, v) => a + (v - mean) ** 2, 0) / big.length);
    expect(Math.abs(mean)).toBeLessThan(0.03);
    expect(Math.abs(sd - 1)).toBeLessThan(0.03);
  });

  it('accumulates gradients per row and none into the padding row', () => {
    const emb = new nn.Embedding(6, 3, { paddingIdx: -2 }); // row 4
    expect(emb.paddingIdx).toBe(4);
    expect(f64(emb.weight).slice(12, 15)).toEqual([0, 0, 0]);
    setData(emb.weight, values(18, 8)); // padding row non-zero now: forward still returns it
    const ids = tensor([4, 1, 4, 1, 1, 0], { dtype: 'int32' });
    const up = values(18, 9);
    const out = emb.forward(ids);
    expect(f64(out).slice(0, 3)).toEqual(f64(emb.weight).slice(12, 15));
    out
      .mul(tensor(up, { shape: [6, 3] }))
      .sum()
      .backward();
    const expected = new Array<number>(18).fill(0);
    [4, 1, 4, 1, 1, 0].forEach((id, k) => {
      if (id === 4) return;
      for (let j = 0; j < 3; j++)
        expected[id * 3 + j] = (expected[id * 3 + j] as number) + (up[k * 3 + j] as number);
    });
    expectClose(f64(emb.weight.grad as Tensor), expected);
  });

  it('rejects out-of-range and non-int32 ids clearly', () => {
    const emb = new nn.Embedding(5, 2);
    expect(() => emb.forward(tensor([0, 5], { dtype: 'int32' }))).toThrow(
      'Embedding: id 5 at flat position 1 of ids [2] is out of range: expected ids in [0, 5) (numEmbeddings)',
    );
    expect(() => emb.forward(tensor([-1], { dtype: 'int32' }))).toThrow(/id -1/);
    expect(() => emb.forward(tensor([1]))).toThrow('Embedding: expected int32 ids, got float32');
    expect(() => new nn.Embedding(5, 2, { paddingIdx: 5 })).toThrow(/paddingIdx/);
  });
});

// ---- Dropout, Sequential, activations ----------------------------------------------------------

describe('Dropout', () => {
  it('drops about p of the elements and scales the rest while training; identity in eval', () => {
    const d = new nn.Dropout(0.3, { generator: new Generator(4) });
    const x = tensor(values(20000, 2, 1, 3));
    const y = f64(d.forward(x));
    const xs = f64(x);
    let zeros0 = 0;
    y.forEach((v, i) => {
      if (v === 0) zeros0++;
      else expect(Math.abs(v - (xs[i] as number) / 0.7)).toBeLessThan(1e-5 * Math.abs(v));
    });
    expect(Math.abs(zeros0 / 20000 - 0.3)).toBeLessThan(0.015);
    d.eval();
    expect(f64(d.forward(x))).toEqual(xs);
    const seq = new nn.Sequential(new nn.Linear(3, 3), new nn.Dropout(0.9));
    seq.eval();
    expect(seq[1]?.training).toBe(false);
    expect(() => new nn.Dropout(1.5)).toThrow(/\[0, 1\]/);
  });
});

describe('Sequential', () => {
  it('chains modules and names children 0, 1, …', () => {
    const l1 = new nn.Linear(3, 4);
    const l2 = new nn.Linear(4, 2);
    const seq = new nn.Sequential(l1, new nn.ReLU(), l2);
    expect(seq.length).toBe(3);
    expect(seq[0]).toBe(l1);
    expect([...seq]).toHaveLength(3);
    expect(seq.namedParameters().map(([k]) => k)).toEqual([
      '0.weight',
      '0.bias',
      '2.weight',
      '2.bias',
    ]);
    const x = randn([6, 3]);
    expect(f64(seq.forward(x))).toEqual(f64(l2.forward(l1.forward(x).relu())));
    expect(() => new nn.Sequential(l1, 3 as unknown as nn.Module)).toThrow(
      /expected Module arguments/,
    );
  });
});

describe('activations', () => {
  const xs = [-1e4, -50, -20.5, -3, -1, -1e-3, 0, 1e-3, 0.5, 2, 19.5, 20.5, 50, 1e4];
  const x = tensor(xs);
  const cases: [string, nn.Module, (v: number) => number][] = [
    ['ReLU', new nn.ReLU(), (v) => Math.max(v, 0)],
    ['GELU', new nn.GELU(), gelu64],
    [
      'GELU tanh',
      new nn.GELU({ approximate: 'tanh' }),
      (v) =>
        Math.abs(v) > 100
          ? Math.max(v, 0)
          : 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3))),
    ],
    ['SiLU', new nn.SiLU(), (v) => v / (1 + Math.exp(-v))],
    ['Tanh', new nn.Tanh(), Math.tanh],
    ['Sigmoid', new nn.Sigmoid(), (v) => 1 / (1 + Math.exp(-v))],
    ['Softplus', new nn.Softplus(), (v) => (v > 20 ? v : Math.log1p(Math.exp(v)))],
    [
      'Softplus β=2',
      new nn.Softplus({ beta: 2, threshold: 10 }),
      (v) => (2 * v > 10 ? v : Math.log1p(Math.exp(2 * v)) / 2),
    ],
    ['Identity', new nn.Identity(), (v) => v],
  ];
  for (const [name, m, ref] of cases) {
    it(`${name} matches its formula, finite at ±1e4`, () => {
      const y = f64(m.forward(x) as Tensor);
      expect(y.every(Number.isFinite)).toBe(true);
      expectClose(y, xs.map(ref), 2e-6, 1e-7);
    });
  }
});

// ---- init --------------------------------------------------------------------------------------

function stats(t: Tensor): { mean: number; sd: number; maxAbs: number } {
  const v = f64(t);
  const mean = v.reduce((a, b) => a + b, 0) / v.length;
  const sd = Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / v.length);
  let maxAbs = 0;
  for (const x of v) maxAbs = Math.max(maxAbs, Math.abs(x));
  return { mean, sd, maxAbs };
}

describe('init', () => {
  it('computes fan in / fan out and gains as PyTorch', () => {
    expect(nn.init.calculateFanInAndFanOut([8, 3])).toEqual({ fanIn: 3, fanOut: 8 });
    expect(nn.init.calculateFanInAndFanOut(zeros([16, 4, 3, 5]))).toEqual({
      fanIn: 60,
      fanOut: 240,
    });
    expect(() => nn.init.calculateFanInAndFanOut([5])).toThrow(/rank >= 2, got shape \[5\]/);
    expect(nn.init.calculateGain('relu')).toBeCloseTo(Math.SQRT2, 12);
    expect(nn.init.calculateGain('tanh')).toBeCloseTo(5 / 3, 12);
    expect(nn.init.calculateGain('linear')).toBe(1);
    expect(nn.init.calculateGain('leaky_relu')).toBeCloseTo(Math.sqrt(2 / (1 + 0.01 ** 2)), 12);
    expect(nn.init.calculateGain('leaky_relu', Math.sqrt(5))).toBeCloseTo(Math.sqrt(1 / 3), 12);
  });

  it('draws with the right bounds and spread, keeping the tensor identity', () => {
    const g = new Generator(9);
    const t = nn.parameter(zeros([256, 512]));
    const check = (mean: number, sd: number, maxAbs?: number) => {
      const s = stats(t);
      expect(Math.abs(s.mean - mean)).toBeLessThan(0.02 * sd + 1e-9);
      expect(Math.abs(s.sd / sd - 1)).toBeLessThan(0.02);
      if (maxAbs !== undefined) {
        expect(s.maxAbs).toBeLessThanOrEqual(maxAbs * (1 + 1e-7));
        expect(s.maxAbs).toBeGreaterThan(0.99 * maxAbs);
      }
    };
    expect(nn.init.kaimingUniform_(t, { generator: g })).toBe(t);
    let bound = Math.sqrt(2) * Math.sqrt(3 / 512);
    check(0, bound / Math.sqrt(3), bound);
    nn.init.kaimingUniform_(t, { mode: 'fan_out', nonlinearity: 'relu', generator: g });
    bound = Math.sqrt(2) * Math.sqrt(3 / 256);
    check(0, bound / Math.sqrt(3), bound);
    nn.init.kaimingNormal_(t, { nonlinearity: 'tanh', generator: g });
    check(0, 5 / 3 / Math.sqrt(512));
    nn.init.xavierUniform_(t, { gain: 2, generator: g });
    bound = 2 * Math.sqrt(6 / (256 + 512));
    check(0, bound / Math.sqrt(3), bound);
    nn.init.xavierNormal_(t, { generator: g });
    check(0, Math.sqrt(2 / (256 + 512)));
    nn.init.normal_(t, { mean: 3, std: 0.5, generator: g });
    check(3, 0.5);
    nn.init.uniform_(t, { low: -2, high: 4, generator: g });
    check(1, 6 / Math.sqrt(12));
    expect(t.requiresGrad).toBe(true);
    nn.init.constant_(t, 0.25);
    expect(new Set(f64(t))).toEqual(new Set([0.25]));
    nn.init.ones_(t);
    expect(new Set(f64(t))).toEqual(new Set([1]));
    nn.init.zeros_(t);
    expect(new Set(f64(t))).toEqual(new Set([0]));
  });

  it('is reproducible under manualSeed and with a passed generator', () => {
    const a = zeros([3, 4]);
    const b = zeros([3, 4]);
    manualSeed(123);
    nn.init.normal_(a);
    manualSeed(123);
    nn.init.normal_(b);
    expect(f64(a)).toEqual(f64(b));
    nn.init.xavierUniform_(a, { generator: new Generator(7) });
    nn.init.xavierUniform_(b, { generator: new Generator(7) });
    expect(f64(a)).toEqual(f64(b));
    expect(() => nn.init.uniform_(zeros([2], { dtype: 'int32' }))).toThrow(/float32/);
    expect(() => nn.init.kaimingUniform_(a, { mode: 'fanIn' as never })).toThrow(/fan_in/);
  });
});
