import { Aaren } from '@recur/aaren';
import {
  disposeState,
  manualSeed,
  memory,
  noGrad,
  randn,
  resetPeakMemory,
  type StreamState,
  stateBytes,
  type Tensor,
  tidy,
} from '@recur/tensor';
import { describe, expect, it } from 'vitest';
import { kvCacheBytes, kvCacheLength, LSTM, Transformer } from '../src/index.js';

function liveBytes(): number {
  return memory().cpu?.bytes ?? 0;
}

/**
 * One streaming step that leaves nothing behind but the next state: everything the step creates is
 * disposed by tidy() and the tensors of the previous state that the next one does not hold (a KV
 * cache written in place is the same tensor) are disposed by hand. Returns the change in live bytes.
 */
function stepAndMeasure(
  model: { step(x: Tensor, s: StreamState): { y: Tensor; state: StreamState } },
  token: () => Tensor,
  state: StreamState,
): { state: StreamState; grew: number } {
  const before = liveBytes();
  const next = tidy(() => model.step(token(), state).state);
  const held = new Set(Object.values(next));
  for (const t of Object.values(state)) if (!held.has(t)) t.dispose();
  return { state: next, grew: liveBytes() - before };
}

describe('memory while streaming: KV cache against Aaren on the same tokens', () => {
  it('KV-cache used bytes grow exactly linearly with tokens (N · 2 · layers · d · 4), its capacity by doubling; Aaren’s stay constant', () => {
    manualSeed(1);
    const config = { nLayers: 2, dModel: 16, nHeads: 4, dFF: 32 };
    const transformer = new Transformer(config);
    const aaren = new Aaren(config);
    const N = 512;
    const tokens = randn([N, 1, config.dModel]).mul(2);
    const perToken = 2 * config.nLayers * config.dModel * 4; // one key and one value per layer, float32
    const lengths = config.nLayers * 4; // each layer's int32 'length'
    const aarenBytes = config.nLayers * config.nHeads * (2 + config.dModel / config.nHeads) * 4;
    const kvAt: Record<number, { used: number; allocated: number }> = {};
    const aarenAt: Record<number, { state: number; live: number }> = {};
    noGrad(() => {
      let kv = transformer.initState(1);
      let rnn = aaren.initState(1);
      expect(stateBytes(kv)).toBe(lengths);
      expect(kvCacheBytes(kv)).toEqual({ used: 0, allocated: 0 });
      expect(stateBytes(rnn)).toBe(aarenBytes);
      const start = liveBytes();
      let capacity = 0;
      let aarenLive = 0;
      for (let t = 0; t < N; t++) {
        const token = () => tokens.slice(0, t, t + 1).squeeze(0);
        const a = stepAndMeasure(transformer, token, kv);
        const b = stepAndMeasure(aaren, token, rnn);
        kv = a.state;
        rnn = b.state;
        aarenLive += b.grew;
        const n = t + 1;
        // A KV step keeps nothing new unless the capacity doubles (then it holds the larger
        // buffers only); an Aaren step keeps nothing.
        const next = n <= 16 ? 16 : 2 ** Math.ceil(Math.log2(n));
        expect(a.grew).toBe((next - capacity) * perToken);
        capacity = next;
        expect(b.grew).toBe(0);
        expect(kvCacheBytes(kv)).toEqual({ used: n * perToken, allocated: capacity * perToken });
        if ([1, 64, 128, 256, 512].includes(n)) {
          kvAt[n] = kvCacheBytes(kv);
          aarenAt[n] = { state: stateBytes(rnn), live: aarenLive };
          expect(kvCacheLength(kv)).toBe(n);
        }
      }
      expect(liveBytes() - start).toBe(N * perToken);
      disposeState(kv);
      disposeState(rnn);
    });
    for (const n of [1, 64, 128, 256, 512]) {
      // used(N) = N · const, exactly: the cache is linear in N with no constant term.
      expect(kvAt[n]!.used).toBe(n * perToken);
      expect(aarenAt[n]).toEqual({ state: aarenBytes, live: 0 });
    }
    expect(kvAt[512]!.used / kvAt[64]!.used).toBe(8);
    // At 512 tokens the cache is already 2 · 512 · 16 / (4 · 6) ≈ 683× Aaren's state.
    expect(kvAt[512]!.used / aarenAt[512]!.state).toBeGreaterThan(600);
  }, 30_000);
});

describe('memory of training a stepped model', () => {
  it('LSTM(64, 64, 2 layers) forward + backward on [8, 315, 64] peaks below 0.5 GB of live tensors', () => {
    // The UWave classification shape at a quarter of its batch of 32. Backward used to keep every
    // per-step slice's full-size gradient to the end of the pass (13 GB at batch 32, so about 3 GB
    // here: quadratic in the 315 steps, linear in the batch); it must need O(activations) instead
    // (about 95 MB here, 250 MB at batch 32).
    manualSeed(2);
    const lstm = new LSTM({ inputSize: 64, hiddenSize: 64, numLayers: 2 });
    const x = randn([8, 315, 64]);
    const before = liveBytes();
    resetPeakMemory();
    tidy(() => lstm.forward(x).square().mean().backward());
    const peak = (memory().cpu?.peakBytes ?? 0) - before;
    expect(peak).toBeLessThan(5e8);
    for (const p of lstm.parameters()) expect(p.grad?.shape).toEqual(p.shape);
  }, 60_000);
});
