import { InferenceSession, Tensor as OrtTensor } from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import {
  arange,
  concat,
  conv2d,
  cummax,
  defineOp,
  im2col,
  layerNorm,
  manualSeed,
  nn,
  noGrad,
  onnx,
  randn,
  run1,
  SequenceModule,
  type StreamState,
  softmaxAttention,
  type Tensor,
  TensorError,
  tensor,
  toOnnx,
  toOnnxFiles,
  where,
  zeros,
} from '../src/index.js';

/** Runs ONNX bytes on x and returns y's values and dims. */
async function runOnnx(
  bytes: Uint8Array,
  x: Tensor,
): Promise<{ data: Float32Array; dims: readonly number[] }> {
  const session = await InferenceSession.create(bytes);
  try {
    const out = await session.run({
      x: new OrtTensor('float32', Float32Array.from(x.dataSync()), x.shape.slice()),
    });
    const y = out.y;
    if (!y) throw new Error('no output y');
    return { data: y.data as Float32Array, dims: y.dims };
  } finally {
    await session.release();
  }
}

/** |got − want| <= tol · (|want| + 1) for every element, with the first offender named. */
function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, tol = 1e-5): void {
  expect(got.length).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    const w = want[i] as number;
    const g = got[i] as number;
    if (Number.isNaN(w) ? !Number.isNaN(g) : !(Math.abs(g - w) <= tol * (Math.abs(w) + 1))) {
      throw new Error(`element ${i}: got ${g}, want ${w}`);
    }
  }
}

/** A module around a function of x [B, T, 4]. */
class Fn extends nn.Module {
  readonly inputSize = 4;
  constructor(readonly fn: (x: Tensor) => Tensor) {
    super();
  }
  override forward(x: Tensor): Tensor {
    return this.fn(x);
  }
}

async function expectParity(
  fn: (x: Tensor) => Tensor,
  shapes: [number, number][],
  scale = 1,
  tol = 1e-5,
) {
  const m = new Fn(fn);
  const bytes = toOnnx(m, { mode: 'parallel' });
  for (const [b, t] of shapes) {
    const x = randn([b, t, 4]).mul(scale);
    const want = noGrad(() => m.forward(x));
    const got = await runOnnx(bytes, x);
    expect(got.dims).toEqual(want.shape);
    expectClose(got.data, want.dataSync(), tol);
  }
}

const SHAPES: [number, number][] = [
  [1, 1],
  [2, 7],
  [3, 13],
];

describe('toOnnx: op lowerings against recur, at batch and token sizes chosen at run time', () => {
  it('unary ops, over inputs spread to ±60', async () => {
    manualSeed(1);
    await expectParity(
      (x) =>
        x
          .tanh()
          .add(x.sigmoid())
          .add(x.abs().add(1).log())
          .add(x.softplus().mul(0.01))
          .add(x.gelu().mul(0.01))
          .add(x.silu().mul(0.01))
          .add(x.clamp(-3, 3).exp().mul(0.1))
          .add(x.mul(0.01).sin().add(x.mul(0.01).cos()))
          .add(x.abs().add(1).sqrt().add(x.abs().add(1).rsqrt()))
          .add(x.abs().add(0.5).reciprocal().mul(0.1))
          .add(x.mul(0.1).erf())
          .add(x.relu().mul(0.01).square())
          .add(x.neg().sign())
          .add(x.floor().add(x.ceil()).add(x.round()).mul(0.01))
          .add(x.abs().log1p().mul(0.1))
          .add(x.mul(1e-3).expm1()),
      SHAPES,
      20,
    );
  });

  it('broadcasting binaries, int32 comparisons, where, casts and isfinite', async () => {
    manualSeed(2);
    const bias = randn([4]);
    await expectParity(
      (x) => {
        const ints = x.mul(3).int(); // truncation toward zero
        const c = ints.gt(0).add(ints.le(-2)).add(ints.eq(1)).add(ints.ne(0)).add(ints.ge(3));
        const safe = where(x.isfinite(), x, 0);
        return safe
          .mul(bias)
          .sub(bias.unsqueeze(0))
          .div(x.abs().add(1))
          .add(c.float())
          .add(ints.div(2))
          .add(x.maximum(0.5).minimum(2))
          .add(where(x.lt(0), x.abs().pow(1.5), x))
          .add(ints.float().mul(0.5));
      },
      SHAPES,
      5,
    );
  });

  it('reductions, softmax at score spreads of thousands, logSoftmax, cumsum and a mean over tokens', async () => {
    manualSeed(3);
    await expectParity(
      (x) =>
        x
          .softmax(-1)
          .add(x.softmax(1))
          .add(x.logSoftmax(1).mul(1e-3))
          .add(x.sum(-1, true).mul(1e-3))
          .add(x.max(1, true).mul(1e-3))
          .add(x.min(-1, true).mul(1e-3))
          .add(x.mean(1, true).mul(1e-3)) // divides by the number of tokens
          .add(x.cumsum(1, { reverse: true }).mul(1e-4))
          .add(x.cumsum(1, { exclusive: true }).mul(1e-4))
          .add(x.argmax(-1, true).float()),
      SHAPES,
      1000,
    );
  });

  it('layout: reshape, permute, slice from both ends, flip, expand, pad, concat, matmul', async () => {
    manualSeed(4);
    const w = randn([4, 6]);
    await expectParity(
      (x) => {
        const [b, t] = x.shape as [number, number, number];
        const heads = x.reshape([b, t, 2, 2]).permute([0, 2, 1, 3]); // [B, 2, T, 2]
        const back = heads.permute([0, 2, 1, 3]).reshape([b, t, 4]);
        const flat = x
          .reshape([b * t, 4])
          .matmul(w)
          .reshape([b, t, 6])
          .slice(-1, 1, 5);
        const last = x.slice(1, t - 1).expand([b, t, 4]); // the last token, broadcast
        const shifted = x
          .pad([
            [0, 0],
            [1, 0],
          ])
          .slice(1, 0, t); // x one token later
        const att = x.matmul(x.transpose(1, 2)).div(4).softmax(-1).matmul(x); // [B, T, 4]
        return back.add(flat).add(last).add(shifted).add(x.flip(1)).add(att).add(concat2(x));
      },
      SHAPES,
      2,
    );
  });
});

/** [x[..., :2], x[..., 2:]] joined the other way round. */
function concat2(x: Tensor): Tensor {
  return concat([x.slice(-1, 2), x.slice(-1, 0, 2)], -1);
}

describe('toOnnx: the fused layerNorm and cross entropy', () => {
  it('layerNorm with weight and bias at |x| up to 1e30, and crossEntropy per sample (weight, smoothing)', async () => {
    manualSeed(5);
    const w = tensor([0.5, 1.5, -1, 2]);
    const b = tensor([0.1, -0.2, 0.3, 0]);
    const huge = new Fn((x) => layerNorm(x, [4], w, b));
    const bytes = toOnnx(huge, { mode: 'parallel' });
    for (const scale of [1, 1e30]) {
      const x = randn([2, 5, 4]).mul(scale);
      const got = await runOnnx(bytes, x);
      expectClose(got.data, huge.forward(x).dataSync(), 1e-5);
    }
    await expectParity((x) => {
      const rows = x.reshape([-1, 4]);
      const target = rows.argmax(-1);
      const loss = nn.crossEntropy(rows.mul(3), target, {
        reduction: 'none',
        weight: w.abs(),
        labelSmoothing: 0.1,
      });
      return loss.reshape([x.shape[0] as number, -1, 1]).add(layerNorm(x, [4]));
    }, SHAPES);
  });
});

describe('toOnnx: the fused softmax attention', () => {
  it('causal and not, at score spreads of hundreds, a query at T = 1 included', async () => {
    manualSeed(8);
    await expectParity(
      (x) => {
        const q = x.mul(8);
        return softmaxAttention(q, x, x, { causal: true }).add(softmaxAttention(q, x, x.square()));
      },
      SHAPES,
      3,
      1e-4, // scores in the hundreds: float32 rounding of a score moves its weight by ~1e-5
    );
  });
});

/**
 * A streaming layer whose forward unrolls over the tokens, with a cache that grows from empty:
 * y_t = tanh(x_t + h_{t−1}) + (x_t · cᵀ) c over the cached inputs c (a product over 0 entries at
 * the first token).
 */
class Unrolled extends SequenceModule {
  readonly inputSize = 4;
  run(x: Tensor, state?: StreamState): { y: Tensor; state: StreamState } {
    let { h, c } = (state ?? this.initState(x.shape[0] as number)) as { h: Tensor; c: Tensor };
    const ys: Tensor[] = [];
    for (let t = 0; t < (x.shape[1] as number); t++) {
      const xt = x.slice(1, t, t + 1); // [B, 1, 4]
      const recall = xt.matmul(c.transpose(1, 2)).matmul(c).mul(0.1);
      h = xt.squeeze(1).add(h).tanh();
      ys.push(h.unsqueeze(1).add(recall));
      c = concat([c, xt], 1);
    }
    return { y: concat(ys, 1), state: { h, c } };
  }
  initState(batch: number): StreamState {
    return { h: zeros([batch, 4]), c: zeros([batch, 0, 4]) };
  }
}

describe('toOnnx: a network around a layer that unrolls over the tokens', () => {
  it('writes that layer as a Loop over its step graph, the rest as it ran: matches at T = 1, 2, 17', async () => {
    manualSeed(8);
    class Net extends nn.Module {
      readonly inputSize = 4;
      inner = new Unrolled();
      override forward(x: Tensor): Tensor {
        const h = this.inner.forward(x.mul(3).sub(1)); // the loop reads a node's output
        return h.add(x).softmax(-1);
      }
    }
    const net = new Net();
    const bytes = toOnnx(net, { mode: 'parallel' });
    const loops = onnx.decodeModel(bytes).graph.node.filter((n) => n.opType === 'Loop');
    expect(loops).toHaveLength(1);
    for (const [b, t] of [
      [1, 1],
      [3, 2],
      [2, 17],
    ] as const) {
      const x = randn([b, t, 4]).mul(2);
      const want = noGrad(() => net.forward(x));
      const got = await runOnnx(bytes, x);
      expect(got.dims).toEqual(want.shape);
      expectClose(got.data, want.dataSync(), 1e-5);
    }
  });
});

describe('toOnnx: cumulative maxima and patches (Scan and strided Slices)', () => {
  const LONG: [number, number][] = [
    [1, 1],
    [2, 2],
    [3, 17],
    [2, 31],
  ];

  it('cummax values and indices along tokens and features: spreads of thousands, ties, NaNs', async () => {
    manualSeed(11);
    // Values rounded to few levels make ties; a NaN sticks once seen and each later NaN takes the index.
    const spiky = (x: Tensor) => where(x.gt(1.8), Number.NaN, x.mul(1000).round().div(500).round());
    await expectParity((x) => cummax(x, 1).values, LONG, 1000);
    await expectParity((x) => cummax(spiky(x), 1).values, LONG);
    await expectParity((x) => cummax(spiky(x), 1).indices.float(), LONG, 1, 0);
    await expectParity((x) => cummax(x, -1).indices.float(), LONG, 1000, 0);
    // int32 input keeps int32 values.
    await expectParity(
      (x) => {
        const r = cummax(x.mul(3).round().int(), 1);
        return r.values.float().add(r.indices.float().mul(100));
      },
      LONG,
      1,
      0,
    );
  });

  it('im2col and conv2d: strides, dilations, padding before and after, prime sizes', async () => {
    manualSeed(12);
    const w = randn([3, 2, 3, 2]);
    // x [B, T, 4] as images [B, 2, T, 2]: the height follows the tokens.
    const image = (x: Tensor) =>
      x.reshape([x.shape[0] as number, x.shape[1] as number, 2, 2]).permute([0, 2, 1, 3]);
    await expectParity(
      (x) => im2col(image(x), [3, 2], { padding: [[2, 0], 1] }),
      [
        [1, 1],
        [2, 5],
        [2, 17],
      ],
      100,
    );
    await expectParity(
      (x) =>
        conv2d(image(x), w, null, {
          padding: [
            [4, 0],
            [1, 1],
          ],
          dilation: [2, 1],
          stride: [1, 2],
        }),
      [
        [1, 1],
        [2, 6],
        [3, 13],
      ],
      100,
      1e-4,
    );
    await expectParity(
      (x) => conv2d(image(x), w, null, { padding: 'same' }),
      [
        [1, 1],
        [2, 7],
      ],
    );
  });
});

describe('toOnnx refuses what it cannot write faithfully', () => {
  it('an op without a lowering names the op and the module path', () => {
    // An op of this test's own (it borrows neg's kernel) that says nothing about ONNX.
    const mystery = defineOp<Record<string, never>>({
      name: 'mystery',
      kernel: 'neg',
      infer: ([x]) => [{ shape: (x as Tensor).shape, dtype: 'float32' }],
    });
    class Inner extends nn.Module {
      override forward(x: Tensor): Tensor {
        return run1(mystery, [x], {});
      }
    }
    class Outer extends nn.Module {
      readonly dModel = 4;
      inner = new Inner();
      override forward(x: Tensor): Tensor {
        return this.inner.forward(x.mul(2));
      }
    }
    const call = () => toOnnx(new Outer(), { mode: 'parallel' });
    expect(call).toThrow(TensorError);
    expect(call).toThrow(/mystery at 'inner': op 'mystery' has no ONNX lowering/);
  });

  it('a constant that follows the input sizes in no expressible way', () => {
    const m = new Fn((x) => x.add(randn([x.shape[1] as number, 1])));
    expect(() => toOnnx(m, { mode: 'parallel' })).toThrow(
      /add at the root module: a constant of shape \[7, 1\] depends on the input's sizes/,
    );
  });

  it('sizes it can express: ranges and fills built for the sequence length', async () => {
    manualSeed(5);
    await expectParity((x) => {
      const t = x.shape[1] as number;
      const pos = arange(0, t).float().reshape([1, t, 1]);
      const mask = arange(t)
        .reshape([t, 1])
        .ge(arange(t).reshape([1, t])); // causal
      const scores = x.matmul(x.transpose(1, 2));
      const masked = where(mask, scores, Number.NEGATIVE_INFINITY).softmax(-1);
      return masked
        .matmul(x)
        .add(pos)
        .add(tensor([1, 2, 3, 4]));
    }, SHAPES);
  });

  it('bad options and modules without a step', () => {
    const m = new Fn((x) => x);
    expect(() => toOnnx(m, { mode: 'both' as 'step' })).toThrow(
      /expected mode 'parallel' or 'step', got both/,
    );
    expect(() => toOnnx(m, { mode: 'step' })).toThrow(/Fn has no step\(x, state\)/);
    const bare = new (class Bare extends nn.Module {})();
    expect(() => toOnnx(bare, { mode: 'parallel' })).toThrow(/pass inputSize/);
    expect(() =>
      toOnnx({ forward: () => 0 } as unknown as nn.Module, { mode: 'parallel' }),
    ).toThrow(/expected an nn.Module, got object/);
  });
});

describe('sizes seen in two traces', () => {
  it('are written as s + c, k·s or s·r of the size symbols, and an ambiguous one is refused', () => {
    const g = new onnx.OnnxGraph();
    g.addSymbol({ a: 2, b: 5, name: 'B' });
    g.addSymbol({ a: 7, b: 11, name: 'T' });
    expect(g.size(3, 3)).toBe(3);
    expect(g.size(9, 13)).toMatch(/^Add_/); // T + 2
    expect(g.size(8, 20)).toMatch(/^Mul_/); // 4·B
    expect(g.size(14, 55)).toMatch(/^Mul_/); // B·T
    expect(g.size(6, 17)).toBeNull(); // no expression it writes gives 6 and 17
    g.addSymbol({ a: 4, b: 10, name: 'X' });
    expect(() => g.size(8, 20)).toThrow(/fits 4·B and 2·X: cannot tell which it is/);
  });
});

describe('the ONNX file', () => {
  it('is opset 17 with weights as named initializers and symbolic batch and tokens', () => {
    manualSeed(6);
    const lin = new nn.Linear(4, 3);
    const model = onnx.decodeModel(toOnnx(lin, { mode: 'parallel', inputSize: 4 }));
    expect(model.opsetImport).toEqual([{ version: 17 }]); // the default domain '' is not written
    expect(model.irVersion).toBe(8);
    const names = model.graph.initializer.map((t) => t.name);
    expect(names).toEqual(expect.arrayContaining(['weight', 'bias']));
    expect(model.graph.input[0]?.type.tensorType.shape?.dim).toEqual([
      { dimParam: 'batch' },
      { dimParam: 'tokens' },
      { dimValue: 4 },
    ]);
    const weight = model.graph.initializer.find((t) => t.name === 'weight');
    const raw = Uint8Array.from(weight?.rawData ?? []); // a copy: decode returns a view
    expect(Array.from(new Float32Array(raw.buffer))).toEqual(Array.from(lin.weight.dataSync()));
  });
});

describe('external data (weights in a side file beside the model)', () => {
  it('a small model forced to external data loads in onnxruntime-node from its path and matches', async () => {
    const { mkdtempSync, rmSync, writeFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    manualSeed(13);
    class Mlp extends nn.Module {
      readonly inputSize = 4;
      up = new nn.Linear(4, 96);
      down = new nn.Linear(96, 4);
      override forward(x: Tensor): Tensor {
        return this.down.forward(this.up.forward(x).tanh());
      }
    }
    const m = new Mlp();
    const files = toOnnxFiles(m, { mode: 'parallel' }, { location: 'mlp.onnx.data', threshold: 0 });
    // Both weight matrices (1.5 KiB each) move out, page-aligned; the biases (under 1 KiB) stay.
    const inits = onnx.decodeModel(files.model).graph.initializer;
    const moved = inits.filter((t) => t.dataLocation === 1).map((t) => t.name);
    expect(moved.sort()).toEqual(['down.weight', 'up.weight']);
    const entries = inits.find((t) => t.name === 'down.weight')?.externalData ?? [];
    const at = Object.fromEntries(entries.map((e) => [e.key, e.value]));
    expect(at.location).toBe('mlp.onnx.data');
    expect(Number(at.offset) % 4096).toBe(0);
    expect(Number(at.length)).toBe(96 * 4 * 4);
    const dir = mkdtempSync(join(tmpdir(), 'recur-onnx-'));
    try {
      writeFileSync(join(dir, 'mlp.onnx'), files.model);
      writeFileSync(join(dir, 'mlp.onnx.data'), Buffer.concat(files.data));
      const session = await InferenceSession.create(join(dir, 'mlp.onnx'));
      for (const [b, t] of SHAPES) {
        const x = randn([b, t, 4]).mul(50);
        const out = await session.run({
          x: new OrtTensor('float32', Float32Array.from(x.dataSync()), [b, t, 4]),
        });
        expectClose(out.y?.data as Float32Array, noGrad(() => m.forward(x)).dataSync());
      }
      await session.release();
      // The side file is read: without it the model does not load.
      rmSync(join(dir, 'mlp.onnx.data'));
      await expect(InferenceSession.create(join(dir, 'mlp.onnx'))).rejects.toThrow();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('stays inline under the threshold (by default: what a 2 GB protobuf holds)', () => {
    const m = new nn.Linear(4, 96);
    const files = toOnnxFiles(m, { mode: 'parallel', inputSize: 4 }, { location: 'x.data' });
    expect(files.data).toEqual([]);
    expect(onnx.decodeModel(files.model).graph.initializer.every((t) => !t.dataLocation)).toBe(
      true,
    );
    expect(() =>
      toOnnxFiles(m, { mode: 'parallel', inputSize: 4 }, { location: 'sub/x.data', threshold: 0 }),
    ).toThrow(/a file name beside the model, got 'sub\/x.data'/);
  });
});
