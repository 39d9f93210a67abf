import { manualSeed, nn, noGrad, randn, type Tensor, toOnnx, where } from '@recur/tensor';
import { InferenceSession, Tensor as OrtTensor } from 'onnxruntime-node';
import { describe, it } from 'vitest';
import { attentionScan } from '../src/index.js';

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
