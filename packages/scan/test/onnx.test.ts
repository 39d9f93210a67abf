import { manualSeed, nn, noGrad, onnx, randn, type Tensor, toOnnx, where } from '@recur/tensor';
import { InferenceSession, Tensor as OrtTensor } from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { attentionScan, linearRecurrence, logaddexp, scan } from '../src/index.js';

/** out[b, t] = Σ_{i≤t} softmax(s[b, :t+1])_i v[b, i], each prefix with its own max, in float64. */
function naive(
  s: Float32Array,
  v: Float32Array,
  b: number,
  t: number,
  d: number,
  perChannel: boolean,
) {
  const out = new Float64Array(b * t * d);
  for (let n = 0; n < b; n++) {
    for (let c = 0; c < d; c++) {
      const score = (i: number) => s[perChannel ? (n * t + i) * d + c : n * t + i] as number;
      for (let k = 0; k < t; k++) {
        let m = Number.NEGATIVE_INFINITY;
        for (let i = 0; i <= k; i++) m = Math.max(m, score(i));
        if (m === Number.NEGATIVE_INFINITY) continue; // nothing visible yet: 0
        let num = 0;
        let den = 0;
        for (let i = 0; i <= k; i++) {
          const e = Math.exp(score(i) - m);
          num += e * (v[(n * t + i) * d + c] as number);
          den += e;
        }
        out[(n * t + k) * d + c] = num / den;
      }
    }
  }
  return out;
}

/** Scores from x's first channel (or every channel) scaled to ±`spread`, the first tokens −inf. */
class Scan extends nn.Module {
  readonly inputSize = 4;
  constructor(
    readonly spread: number,
    readonly perChannel: boolean,
  ) {
    super();
  }
  scores(x: Tensor): Tensor {
    const raw = this.perChannel ? x : x.slice(-1, 0, 1).squeeze(-1);
    // Tokens whose (first) feature is below −1.5 score −inf.
    const lead = this.perChannel ? x : x.slice(-1, 0, 1).squeeze(-1);
    return where(lead.lt(-1.5), Number.NEGATIVE_INFINITY, raw.mul(this.spread));
  }
  override forward(x: Tensor): Tensor {
    return attentionScan(this.scores(x), x).out;
  }
}

describe('scan.attention in ONNX: a Scan over the (m, u, w) combine', () => {
  it.each([
    [false, 1e4],
    [true, 1e4],
    [false, 50],
  ])(
    'per channel %s, scores spread ±%d: matches a float64 reference at any length',
    async (perChannel, spread) => {
      manualSeed(41);
      const model = new Scan(spread, perChannel);
      const session = await InferenceSession.create(toOnnx(model, { mode: 'parallel' }));
      for (const t of [1, 2, 17, 300]) {
        const x = randn([2, t, 4]);
        const s = noGrad(() => model.scores(x)).dataSync() as Float32Array;
        const want = naive(s, x.dataSync() as Float32Array, 2, t, 4, perChannel);
        const out = await session.run({
          x: new OrtTensor('float32', Float32Array.from(x.dataSync()), [2, t, 4]),
        });
        const got = out.y?.data as Float32Array;
        for (let i = 0; i < want.length; i++) {
          const err = Math.abs((got[i] as number) - (want[i] as number));
          if (!(err <= 1e-5 * (Math.abs(want[i] as number) + 1))) {
            throw new Error(`T = ${t}, element ${i}: got ${got[i]}, want ${want[i]}`);
          }
        }
      }
    },
  );
});

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

/** onnxruntime's y beside `want` (recur's values, or a float64 reference): |Δ| <= tol·(|want| + 1). */
async function expectOnnx(
  session: InferenceSession,
  x: Tensor,
  want: ArrayLike<number>,
  tol = 1e-5,
): Promise<void> {
  const out = await session.run({
    x: new OrtTensor('float32', Float32Array.from(x.dataSync()), x.shape.slice()),
  });
  const got = out.y?.data as Float32Array;
  if (got.length !== want.length) throw new Error(`got ${got.length} values, want ${want.length}`);
  for (let i = 0; i < want.length; i++) {
    const w = want[i] as number;
    const g = got[i] as number;
    const ok = Number.isNaN(w)
      ? Number.isNaN(g)
      : w === g || Math.abs(g - w) <= tol * (Math.abs(w) + 1);
    if (!ok) throw new Error(`T = ${x.shape[1]}, element ${i}: got ${g}, want ${w}`);
  }
}

/** The parallel graph, which must hold the fused op's Scan (not a tree of combines). */
function scanGraph(m: nn.Module): Uint8Array {
  const bytes = toOnnx(m, { mode: 'parallel' });
  const ops = onnx.decodeModel(bytes).graph.node.map((n) => n.opType);
  expect(ops).toContain('Scan');
  return bytes;
}

describe('scan.logcumsumexp and scan.linearRecurrence in ONNX: Scans folding like the kernels', () => {
  it('logaddexp along the tokens at spreads of ±500, −inf entries, NaNs and a carry', async () => {
    manualSeed(42);
    const scores = (x: Tensor) => where(x.lt(-1.5), Number.NEGATIVE_INFINITY, x.mul(500));
    const plain = new Fn((x) => scan(logaddexp, [scores(x)], { axis: 1 }).outputs[0] as Tensor);
    const carried = new Fn((x) => {
      const c = x.slice(1, 0, 1).squeeze(1).mul(300);
      const poisoned = where(x.gt(2.2), Number.NaN, scores(x));
      return scan(logaddexp, [poisoned], { axis: 1, carry: [c] }).outputs[0] as Tensor;
    });
    const [p, c] = await Promise.all(
      [plain, carried].map((m) => InferenceSession.create(scanGraph(m))),
    );
    for (const t of [1, 2, 17, 31]) {
      const x = randn([2, t, 4]);
      // Float64 reference: log Σ_{i≤t} e^{s_i}, each prefix shifted by its own maximum.
      const s = noGrad(() => scores(x)).dataSync();
      const ref = new Float64Array(s.length);
      for (let n = 0; n < 2; n++) {
        for (let j = 0; j < 4; j++) {
          for (let k = 0; k < t; k++) {
            let m = Number.NEGATIVE_INFINITY;
            for (let i = 0; i <= k; i++) m = Math.max(m, s[(n * t + i) * 4 + j] as number);
            let sum = 0;
            for (let i = 0; i <= k; i++) sum += Math.exp((s[(n * t + i) * 4 + j] as number) - m);
            ref[(n * t + k) * 4 + j] = m === Number.NEGATIVE_INFINITY ? m : m + Math.log(sum);
          }
        }
      }
      await expectOnnx(p as InferenceSession, x, ref);
      await expectOnnx(c as InferenceSession, x, noGrad(() => carried.forward(x)).dataSync());
    }
  });

  it('a linear recurrence (gates of both signs), along the tokens and along the features, with a carry', async () => {
    manualSeed(43);
    const along = (axis: number, carry: boolean) =>
      new Fn((x) => {
        const a = x.tanh().mul(1.05);
        const b = x.mul(7);
        const c = carry ? [a.sum(axis).mul(0.1), b.sum(axis)] : undefined;
        const r = scan(linearRecurrence, [a, b], { axis, carry: c }).outputs;
        return (r[1] as Tensor).add((r[0] as Tensor).mul(0.5));
      });
    for (const [axis, carry] of [
      [1, false],
      [1, true],
      [2, false],
    ] as const) {
      const m = along(axis, carry);
      const session = await InferenceSession.create(scanGraph(m));
      for (const t of [1, 2, 17, 31]) {
        const x = randn([2, t, 4]);
        await expectOnnx(session, x, noGrad(() => m.forward(x)).dataSync(), 1e-4);
      }
    }
  });
});
