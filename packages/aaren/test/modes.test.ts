import {
  loadSafetensors,
  manualSeed,
  noGrad,
  randn,
  type StreamState,
  saveSafetensors,
  stack,
  stateFromJSON,
  stateToJSON,
  type Tensor,
} from '@recur/tensor';
import { describe, expect, it } from 'vitest';
import { Aaren, AarenAttention, AarenBlock } from '../src/index.js';
import { expectFlatStream } from './helpers/stream.js';

function maxAbsDiff(a: Tensor, b: Tensor): number {
  expect(a.shape).toEqual(b.shape);
  return a.sub(b).abs().max().item();
}

/** Runs `step` over every token of x [B, T, d], returning the stacked outputs. */
function streamAll(
  m: {
    initState(b: number): StreamState;
    step(x: Tensor, s: StreamState): { y: Tensor; state: StreamState };
  },
  x: Tensor,
): Tensor {
  let state = m.initState(x.shape[0] as number);
  const ys: Tensor[] = [];
  for (let t = 0; t < (x.shape[1] as number); t++) {
    const out = m.step(x.slice(1, t, t + 1).squeeze(1), state);
    ys.push(out.y);
    state = out.state;
  }
  return stack(ys, 1);
}

/** Naive O(T²) Aaren attention in float64 from the module's weights: the reference. */
function naiveAttention(layer: AarenAttention, x: Tensor): number[][][] {
  const [B, T, d] = x.shape as [number, number, number];
  const H = layer.nHeads;
  const dh = d / H;
  const W = (l: { weight: Tensor; bias: Tensor | null }) => ({
    w: l.weight.arraySync() as number[][],
    b: (l.bias?.arraySync() as number[] | undefined) ?? new Array(d).fill(0),
  });
  const lin = (p: { w: number[][]; b: number[] }, v: number[]) =>
    p.w.map((row, i) => row.reduce((s, wij, j) => s + wij * (v[j] as number), p.b[i] as number));
  const q = lin(W(layer.wq), layer.q0.arraySync() as number[]);
  const xs = x.arraySync() as number[][][];
  const out: number[][][] = [];
  for (let b = 0; b < B; b++) {
    const ks = xs[b]!.map((xt) => lin(W(layer.wk), xt));
    const vs = xs[b]!.map((xt) => lin(W(layer.wv), xt));
    const rows: number[][] = [];
    for (let t = 0; t < T; t++) {
      const concat: number[] = [];
      for (let h = 0; h < H; h++) {
        const s = Array.from({ length: t + 1 }, (_, i) => {
          let acc = 0;
          for (let j = 0; j < dh; j++)
            acc += (q[h * dh + j] as number) * (ks[i]![h * dh + j] as number);
          return acc / Math.sqrt(dh);
        });
        const mx = Math.max(...s);
        const e = s.map((v) => Math.exp(v - mx));
        const z = e.reduce((a, v) => a + v, 0);
        for (let j = 0; j < dh; j++)
          concat.push(e.reduce((acc, ei, i) => acc + ei * (vs[i]![h * dh + j] as number), 0) / z);
      }
      rows.push(lin(W(layer.wo), concat));
    }
    out.push(rows);
  }
  return out;
}

/** The spread of attention scores the layer sees on x (max − min), to prove inputs are adversarial. */
function scoreSpread(layer: AarenAttention, x: Tensor): number {
  const [b, t] = x.shape as [number, number];
  const q = layer.wq.forward(layer.q0).reshape([layer.nHeads, layer.dHead]);
  const k = layer.wk.forward(x).reshape([b, t, layer.nHeads, layer.dHead]);
  const s = k
    .mul(q)
    .sum(-1)
    .mul(1 / Math.sqrt(layer.dHead));
  return s.max().item() - s.min().item();
}

describe('AarenAttention', () => {
  it('matches a naive O(T²) causal softmax with a learned query, scores spread over ±50', () => {
    manualSeed(1);
    const layer = new AarenAttention({ dModel: 12, nHeads: 3 });
    const x = randn([2, 13, 12]).mul(80);
    expect(scoreSpread(layer, x)).toBeGreaterThan(100);
    const ref = naiveAttention(layer, x);
    const y = layer.forward(x).arraySync() as number[][][];
    let err = 0;
    for (const [b, rb] of ref.entries()) {
      for (const [t, rt] of rb.entries()) {
        for (const [j, v] of rt.entries()) {
          err = Math.max(err, Math.abs(v - y[b]![t]![j]!) / (1 + Math.abs(v)));
        }
      }
    }
    expect(err).toBeLessThan(2e-5);
  });

  it('parallel = recurrent = chunked for B > 1, T = 1, prime and even T', () => {
    manualSeed(2);
    const layer = new AarenAttention({ dModel: 8, nHeads: 2 });
    for (const T of [1, 2, 13, 16]) {
      const x = randn([3, T, 8]).mul(15);
      const y = layer.forward(x);
      expect(maxAbsDiff(y, streamAll(layer, x))).toBeLessThan(1e-5);
      for (const c of [1, 2, 3, 7, T, T + 5])
        expect(maxAbsDiff(y, layer.forwardChunked(x, c).y)).toBeLessThan(1e-5);
    }
  });

  it('is causal: later tokens never change earlier outputs', () => {
    manualSeed(3);
    const layer = new AarenAttention({ dModel: 8, nHeads: 4 });
    const x = randn([2, 11, 8]).mul(10);
    const y = layer.forward(x);
    for (const t of [0, 4, 9]) {
      const changed = x
        .slice(1, 0, t + 1)
        .pad([
          [0, 0],
          [0, 10 - t],
          [0, 0],
        ])
        .add(randn([2, 11, 8]).mul(100).mul(tailMask(11, t)));
      const y2 = layer.forward(changed);
      expect(maxAbsDiff(y.slice(1, 0, t + 1), y2.slice(1, 0, t + 1))).toBe(0);
      expect(maxAbsDiff(y.slice(1, t + 1), y2.slice(1, t + 1))).toBeGreaterThan(1e-3);
    }
  });

  it('rejects bad shapes with clear errors', () => {
    const layer = new AarenAttention({ dModel: 8, nHeads: 2 });
    expect(() => layer.forward(randn([2, 3, 7]))).toThrow(
      /expected x of shape \[batch, tokens, 8\], got \[2, 3, 7\]/,
    );
    expect(() => new AarenAttention({ dModel: 10, nHeads: 3 })).toThrow(/divisible/);
    expect(() => layer.step(randn([2, 1, 8]), layer.initState(2))).toThrow(/\[batch, features\]/);
    expect(() => layer.run(randn([2, 3, 8]), { m: randn([2, 2, 1]) })).toThrow(/state has no 'u'/);
  });
});

/** [1, T, 1] mask: 1 after position t, 0 up to it. */
function tailMask(T: number, t: number): Tensor {
  return randn([1, T, 1])
    .mul(0)
    .add(1)
    .mul(
      stack(
        Array.from({ length: T }, (_, i) =>
          randn([1])
            .mul(0)
            .add(i > t ? 1 : 0),
        ),
        1,
      ).reshape([1, T, 1]),
    );
}

describe('AarenBlock and Aaren', () => {
  it('has the paper’s parameter count: 3,152,896 for d = 512, d_ff = 2048', () => {
    const block = new AarenBlock({ dModel: 512, nHeads: 8, dFF: 2048 });
    expect(block.numParameters()).toBe(3_152_896);
    expect(block.attn.numParameters() - 4 * (512 * 512 + 512)).toBe(512); // q0
  });

  it('parallel = recurrent = chunked through a 2-layer model with scores over ±50', () => {
    manualSeed(4);
    const model = new Aaren({ nLayers: 2, dModel: 16, nHeads: 4, dFF: 32 });
    // Scale the key projections so the (LayerNorm-ed) inputs give large score spreads.
    noGrad(() => {
      for (const layer of model.layers) layer.attn.wk.weight.assign(layer.attn.wk.weight.mul(60));
    });
    const x0 = randn([3, 13, 16]);
    expect(scoreSpread(model.layers[0]!.attn, model.layers[0]!.norm1.forward(x0))).toBeGreaterThan(
      100,
    );
    for (const T of [1, 7, 13]) {
      const x = x0.slice(1, 0, T);
      const y = model.forward(x);
      expect(maxAbsDiff(y, streamAll(model, x))).toBeLessThan(1e-5);
      for (const c of [1, 2, 7, T])
        expect(maxAbsDiff(y, model.forwardChunked(x, c).y)).toBeLessThan(1e-5);
    }
  });

  it('resumes a stream from a saved state (safetensors and JSON) with identical outputs', () => {
    manualSeed(5);
    const model = new Aaren({ nLayers: 2, dModel: 8, nHeads: 2, dFF: 16 });
    const x = randn([2, 9, 8]).mul(3);
    const whole = model.forward(x);
    const first = model.forwardChunked(x.slice(1, 0, 5), 5);
    const viaFile = loadSafetensors(saveSafetensors(first.state));
    const viaJson = stateFromJSON(JSON.parse(JSON.stringify(stateToJSON(first.state))));
    expect(Object.keys(viaFile).sort()).toEqual(Object.keys(model.initState(2)).sort());
    const uninterrupted = model.forwardChunked(x.slice(1, 5), 2, first.state).y;
    expect(maxAbsDiff(uninterrupted, whole.slice(1, 5))).toBeLessThan(1e-5);
    for (const state of [viaFile, viaJson]) {
      expect(maxAbsDiff(model.forwardChunked(x.slice(1, 5), 2, state).y, uninterrupted)).toBe(0);
    }
  });

  // 100,000 tokens: test/stream.long.test.ts (pnpm test:long).
  it('streams 5,000 tokens with a constant state size and flat live memory', () => {
    expectFlatStream(5_000);
  });
});
