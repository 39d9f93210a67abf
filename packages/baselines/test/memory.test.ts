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
import { kvCacheLength, LSTM, Transformer } from '../src/index.js';

function liveBytes(): number {
  return memory().cpu?.bytes ?? 0;
}

/**
 * One streaming step that leaves nothing behind but the next state: everything the step creates is
 * disposed by tidy() and the previous state is disposed by hand. Returns the change in live bytes.
 */
function stepAndMeasure(
  model: { step(x: Tensor, s: StreamState): { y: Tensor; state: StreamState } },
  token: () => Tensor,
  state: StreamState,
): { state: StreamState; grew: number } {
  const before = liveBytes();
  const next = tidy(() => model.step(token(), state).state);
  disposeState(state);
  return { state: next, grew: liveBytes() - before };
}

describe('memory while streaming: KV cache against Aaren on the same tokens', () => {
  it('KV-cache bytes grow exactly linearly with tokens (N · 2 · layers · d · 4); Aaren’s stay constant', () => {
    manualSeed(1);
    const config = { nLayers: 2, dModel: 16, nHeads: 4, dFF: 32 };
    const transformer = new Transformer(config);
    const aaren = new Aaren(config);
    const N = 512;
    const tokens = randn([N, 1, config.dModel]).mul(2);
    const perToken = 2 * config.nLayers * config.dModel * 4; // one key and one value per layer, float32
    const aarenBytes = config.nLayers * config.nHeads * (2 + config.dModel / config.nHeads) * 4;
    const kvAt: Record<number, { state: number; live: number }> = {};
    const aarenAt: Record<number, { state: number; live: number }> = {};
    noGrad(() => {
      let kv = transformer.initState(1);
      let rnn = aaren.initState(1);
      expect(stateBytes(kv)).toBe(0);
      expect(stateBytes(rnn)).toBe(aarenBytes);
      const start = liveBytes();
      let kvLive = 0;
      let aarenLive = 0;
      for (let t = 0; t < N; t++) {
        const token = () => tokens.slice(0, t, t + 1).squeeze(0);
        const a = stepAndMeasure(transformer, token, kv);
        const b = stepAndMeasure(aaren, token, rnn);
        kv = a.state;
        rnn = b.state;
        kvLive += a.grew;
        aarenLive += b.grew;
        // Every KV step keeps exactly one more key and value per layer; an Aaren step keeps nothing.
        expect(a.grew).toBe(perToken);
        expect(b.grew).toBe(0);
        const n = t + 1;
        if ([1, 64, 128, 256, 512].includes(n)) {
          kvAt[n] = { state: stateBytes(kv), live: kvLive };
          aarenAt[n] = { state: stateBytes(rnn), live: aarenLive };
          expect(kvCacheLength(kv)).toBe(n);
        }
      }
      expect(liveBytes() - start).toBe(N * perToken);
      disposeState(kv);
      disposeState(rnn);
    });
    for (const n of [1, 64, 128, 256, 512]) {
      // bytes(N) = N · const, exactly: the cache is linear in N with no constant term.
      expect(kvAt[n]).toEqual({ state: n * perToken, live: n * perToken });
      expect(aarenAt[n]).toEqual({ state: aarenBytes, live: 0 });
    }
    expect(kvAt[512]!.state / kvAt[64]!.state).toBe(8);
    // At 512 tokens the cache is already 2 · 512 · 16 / (4 · 6) ≈ 683× Aaren's state.
    expect(kvAt[512]!.state / aarenAt[512]!.state).toBeGreaterThan(600);
  }, 30_000);
});

describe('memory of training a stepped model', () => {
  it('LSTM(64, 64, 2 layers) forward + backward on [32, 315, 64] peaks below 1 GB of live tensors', () => {
    // The UWave classification shape. Backward used to keep every per-step slice's full-size
    // gradient to the end of the pass (13 GB here); it must need O(activations) instead.
    manualSeed(2);
    const lstm = new LSTM({ inputSize: 64, hiddenSize: 64, numLayers: 2 });
    const x = randn([32, 315, 64]);
    const before = liveBytes();
    resetPeakMemory();
    tidy(() => lstm.forward(x).square().mean().backward());
    const peak = (memory().cpu?.peakBytes ?? 0) - before;
    expect(peak).toBeLessThan(1e9);
    for (const p of lstm.parameters()) expect(p.grad?.shape).toEqual(p.shape);
  }, 60_000);
});
