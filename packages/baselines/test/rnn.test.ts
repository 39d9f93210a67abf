import {
  loadSafetensors,
  manualSeed,
  noGrad,
  randn,
  saveSafetensors,
  type Tensor,
} from '@recur/tensor';
import { describe, expect, it } from 'vitest';
import { GRU, LSTM } from '../src/index.js';
import { maxAbsDiff, maxRelErr, naiveGRU, naiveLSTM, rnnLayersFrom, streamAll } from './helpers.js';

/** PyTorch's state_dict keys for an LSTM/GRU, in PyTorch's order. */
function torchKeys(numLayers: number, bias: boolean): string[] {
  return Array.from({ length: numLayers }, (_, l) => [
    `weight_ih_l${l}`,
    `weight_hh_l${l}`,
    ...(bias ? [`bias_ih_l${l}`, `bias_hh_l${l}`] : []),
  ]).flat();
}

function nested3(t: Tensor): number[][][] {
  return t.arraySync() as number[][][];
}

describe('LSTM', () => {
  it('has PyTorch’s parameter names, order, shapes and init U(−1/√H, 1/√H)', () => {
    manualSeed(1);
    const lstm = new LSTM({ inputSize: 5, hiddenSize: 16, numLayers: 2 });
    expect(Object.keys(lstm.stateDict())).toEqual(torchKeys(2, true));
    const shapes = Object.fromEntries(lstm.namedParameters().map(([n, p]) => [n, p.shape]));
    expect(shapes).toEqual({
      weight_ih_l0: [64, 5],
      weight_hh_l0: [64, 16],
      bias_ih_l0: [64],
      bias_hh_l0: [64],
      weight_ih_l1: [64, 16],
      weight_hh_l1: [64, 16],
      bias_ih_l1: [64],
      bias_hh_l1: [64],
    });
    // torch.nn.LSTM(5, 16, 2).numel() = 4·16·(5 + 16 + 2) + 4·16·(16 + 16 + 2)
    expect(lstm.numParameters()).toBe(64 * 23 + 64 * 34);
    for (const p of lstm.parameters()) {
      expect(p.abs().max().item()).toBeLessThanOrEqual(0.25);
    }
    expect(lstm.parameters()[0]!.abs().max().item()).toBeGreaterThan(0.24);
    expect(Object.keys(new LSTM({ inputSize: 3, hiddenSize: 4, bias: false }).stateDict())).toEqual(
      torchKeys(1, false),
    );
  });

  it('matches the gate equations (float64 loops), 3 layers, non-zero initial state', () => {
    manualSeed(2);
    const lstm = new LSTM({ inputSize: 5, hiddenSize: 6, numLayers: 3 });
    const x = randn([2, 9, 5]).mul(2);
    const state = { h: randn([3, 2, 6]), c: randn([3, 2, 6]).mul(2) };
    const ref = naiveLSTM(
      rnnLayersFrom(lstm.stateDict(), 3),
      nested3(x),
      nested3(state.h),
      nested3(state.c),
    );
    const { y, state: next } = lstm.run(x, state);
    expect(y.shape).toEqual([2, 9, 6]);
    expect(maxRelErr(ref.out, y)).toBeLessThan(1e-5);
    expect(next.h!.shape).toEqual([3, 2, 6]);
    expect(maxRelErr(ref.h, next.h!)).toBeLessThan(1e-5);
    expect(maxRelErr(ref.c, next.c!)).toBeLessThan(1e-5);
    // The last layer's h_n is the last output.
    expect(maxAbsDiff(next.h!.slice(0, 2).squeeze(0), y.slice(1, 8).squeeze(1))).toBe(0);
  });

  it('without biases, T = 1, zero initial state', () => {
    manualSeed(3);
    const lstm = new LSTM({ inputSize: 3, hiddenSize: 4, bias: false });
    const x = randn([3, 1, 3]).mul(3);
    const zero = [Array.from({ length: 3 }, () => [0, 0, 0, 0])];
    const ref = naiveLSTM(rnnLayersFrom(lstm.stateDict(), 1), nested3(x), zero, zero);
    expect(maxRelErr(ref.out, lstm.forward(x))).toBeLessThan(1e-5);
  });

  it('step = sequence forward = chunked, carrying h and c', () => {
    manualSeed(4);
    const lstm = new LSTM({ inputSize: 4, hiddenSize: 5, numLayers: 2 });
    const x = randn([3, 11, 4]).mul(2);
    const whole = lstm.run(x);
    const streamed = streamAll(lstm, x);
    expect(maxAbsDiff(whole.y, streamed.y)).toBeLessThan(1e-6);
    expect(maxAbsDiff(whole.state.c!, streamed.state.c!)).toBeLessThan(1e-6);
    for (const c of [2, 5])
      expect(maxAbsDiff(whole.y, lstm.forwardChunked(x, c).y)).toBeLessThan(1e-6);
  });

  it('loads weights saved from torch.nn.LSTM as safetensors (PyTorch’s keys) and runs them', () => {
    manualSeed(5);
    const [I, H, L] = [3, 4, 2];
    // What `save_file(torch.nn.LSTM(3, 4, 2, batch_first=True).state_dict(), f)` writes.
    const record: Record<string, Tensor> = {};
    for (let l = 0; l < L; l++) {
      record[`weight_ih_l${l}`] = randn([4 * H, l === 0 ? I : H]);
      record[`weight_hh_l${l}`] = randn([4 * H, H]);
      record[`bias_ih_l${l}`] = randn([4 * H]);
      record[`bias_hh_l${l}`] = randn([4 * H]);
    }
    const loaded = loadSafetensors(saveSafetensors(record));
    const lstm = new LSTM({ inputSize: I, hiddenSize: H, numLayers: L });
    const result = lstm.loadStateDict(loaded);
    expect(result).toEqual({ missingKeys: [], unexpectedKeys: [] });
    const x = randn([2, 6, I]);
    const zero = Array.from({ length: L }, () =>
      Array.from({ length: 2 }, () => new Array(H).fill(0)),
    );
    const ref = naiveLSTM(rnnLayersFrom(record, L), nested3(x), zero, zero);
    expect(maxRelErr(ref.out, lstm.forward(x))).toBeLessThan(1e-5);
    // A GRU's file does not fit an LSTM: the shapes say so.
    const gruFile = loadSafetensors(
      saveSafetensors(new GRU({ inputSize: I, hiddenSize: H, numLayers: L }).stateDict()),
    );
    expect(() => lstm.loadStateDict(gruFile)).toThrow(
      /'weight_ih_l0': expected float32 \[16, 3\], got float32 \[12, 3\]/,
    );
  });

  it('rejects bad inputs and states with clear errors', () => {
    const lstm = new LSTM({ inputSize: 3, hiddenSize: 4, numLayers: 2 });
    expect(() => lstm.forward(randn([2, 5, 4]))).toThrow(
      /LSTM: expected x of shape \[batch, tokens, 3\], got \[2, 5, 4\]/,
    );
    expect(() => lstm.run(randn([2, 5, 3]), { h: randn([2, 2, 4]) })).toThrow(/state has no 'c'/);
    expect(() => lstm.run(randn([2, 5, 3]), { h: randn([1, 2, 4]), c: randn([2, 2, 4]) })).toThrow(
      /LSTM: expected state 'h' of shape \[2, 2, 4\], got \[1, 2, 4\]/,
    );
    expect(() => new LSTM({ inputSize: 3, hiddenSize: 0 })).toThrow(
      /hiddenSize to be a positive integer/,
    );
    expect(() => lstm.layerWeights(2)).toThrow(/expected a layer index in \[0, 2\), got 2/);
  });
});

describe('GRU', () => {
  it('has PyTorch’s parameter names, order and shapes', () => {
    const gru = new GRU({ inputSize: 7, hiddenSize: 9, numLayers: 2 });
    expect(Object.keys(gru.stateDict())).toEqual(torchKeys(2, true));
    expect(gru.layerWeights(1).weightIH.shape).toEqual([27, 9]);
    expect(gru.numParameters()).toBe(27 * (7 + 9 + 2) + 27 * (9 + 9 + 2));
    expect(Object.keys(gru.initState(3))).toEqual(['h']);
  });

  it('matches the gate equations (float64 loops), 2 layers, non-zero initial state', () => {
    manualSeed(6);
    const gru = new GRU({ inputSize: 5, hiddenSize: 6, numLayers: 2 });
    const x = randn([2, 9, 5]).mul(2);
    const h0 = randn([2, 2, 6]);
    const ref = naiveGRU(rnnLayersFrom(gru.stateDict(), 2), nested3(x), nested3(h0));
    const { y, state } = gru.run(x, { h: h0 });
    expect(maxRelErr(ref.out, y)).toBeLessThan(1e-5);
    expect(maxRelErr(ref.h, state.h!)).toBeLessThan(1e-5);
  });

  it('n uses r ⊙ (W_hn h + b_hn) (PyTorch), not W_hn (r ⊙ h) + b_hn', () => {
    manualSeed(7);
    const gru = new GRU({ inputSize: 2, hiddenSize: 3 });
    noGrad(() => {
      gru.layerWeights(0).weightHH.assign(randn([9, 3]).mul(2));
      gru.layerWeights(0).biasHH!.assign(randn([9]).mul(3));
    });
    const layers = rnnLayersFrom(gru.stateDict(), 1);
    const x = randn([1, 6, 2]);
    const h0 = randn([1, 1, 3]);
    const y = gru.run(x, { h: h0 }).y;
    expect(maxRelErr(naiveGRU(layers, nested3(x), nested3(h0)).out, y)).toBeLessThan(1e-5);
    const other = naiveGRU(layers, nested3(x), nested3(h0), 'reset-before');
    expect(maxRelErr(other.out, y)).toBeGreaterThan(1e-2);
  });

  it('step = sequence forward = chunked', () => {
    manualSeed(8);
    const gru = new GRU({ inputSize: 4, hiddenSize: 5, numLayers: 2, bias: false });
    const x = randn([3, 10, 4]).mul(2);
    const whole = gru.run(x);
    const streamed = streamAll(gru, x);
    expect(maxAbsDiff(whole.y, streamed.y)).toBeLessThan(1e-6);
    expect(maxAbsDiff(whole.state.h!, streamed.state.h!)).toBeLessThan(1e-6);
    expect(maxAbsDiff(whole.y, gru.forwardChunked(x, 3).y)).toBeLessThan(1e-6);
  });

  it('loads weights saved from torch.nn.GRU as safetensors (PyTorch’s keys) and runs them', () => {
    manualSeed(9);
    const [I, H] = [3, 5];
    const record: Record<string, Tensor> = {
      weight_ih_l0: randn([3 * H, I]),
      weight_hh_l0: randn([3 * H, H]),
      bias_ih_l0: randn([3 * H]),
      bias_hh_l0: randn([3 * H]),
    };
    const gru = new GRU({ inputSize: I, hiddenSize: H });
    gru.loadStateDict(loadSafetensors(saveSafetensors(record)));
    const x = randn([2, 7, I]);
    const h0 = randn([1, 2, H]);
    const ref = naiveGRU(rnnLayersFrom(record, 1), nested3(x), nested3(h0));
    expect(maxRelErr(ref.out, gru.run(x, { h: h0 }).y)).toBeLessThan(1e-5);
    const { bias_hh_l0: _dropped, ...partial } = record;
    expect(() => gru.loadStateDict(partial)).toThrow(/missing keys: 'bias_hh_l0'/);
  });

  it('dropout acts between layers only while training', () => {
    manualSeed(10);
    const gru = new GRU({ inputSize: 3, hiddenSize: 4, numLayers: 2, dropout: 0.5 });
    const x = randn([2, 5, 3]);
    const a = gru.forward(x);
    const b = gru.forward(x);
    expect(maxAbsDiff(a, b)).toBeGreaterThan(1e-4);
    gru.eval();
    expect(maxAbsDiff(gru.forward(x), gru.forward(x))).toBe(0);
    const plain = new GRU({ inputSize: 3, hiddenSize: 4, numLayers: 2 });
    plain.loadStateDict(gru.stateDict());
    expect(maxAbsDiff(gru.forward(x), plain.forward(x))).toBe(0);
  });
});
