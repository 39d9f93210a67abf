// The README's example, kept here so it is type-checked and run by test/readme.test.ts.
import { GRU, kvCacheBytes, kvCacheLength, LSTM, Transformer } from '@recur/baselines';
import { loadSafetensors, manualSeed, noGrad, randn, saveSafetensors, tidy } from '@recur/tensor';

manualSeed(0);
const model = new Transformer({ nLayers: 2, dModel: 16, nHeads: 4, dFF: 32, maxCacheLength: 64 });
const x = randn([2, 24, 16]); // [batch, tokens, dModel]

noGrad(() => {
  // Parallel over the whole sequence (training form)…
  const parallel = model.forward(x);
  // …or one token at a time with a KV cache that holds one more key and value per layer per token
  // (written in place into capacity that doubles when full).
  const stream = model.stream(2); // owns the cache: each step frees the one it replaces
  let maxDiff = 0;
  for (let t = 0; t < 24; t++) {
    tidy(() => {
      const y = stream.step(x.slice(1, t, t + 1).squeeze(1));
      const diff = y
        .sub(parallel.slice(1, t, t + 1).squeeze(1))
        .abs()
        .max()
        .item();
      maxDiff = Math.max(maxDiff, diff);
    });
    if ((t + 1) % 8 === 0)
      console.log(
        `after ${t + 1} tokens: cache of ${kvCacheLength(stream.state)} tokens, ${kvCacheBytes(stream.state).used} bytes (${kvCacheBytes(stream.state).allocated} allocated)`,
      );
  }
  stream.dispose();
  console.log(
    `streamed 24 tokens; max difference from the parallel forward: ${maxDiff.toExponential(1)}`,
  );
});

// LSTM and GRU take PyTorch's weights as they are. In Python:
//   save_file(torch.nn.LSTM(16, 32, num_layers=2, batch_first=True).state_dict(), 'lstm.safetensors')
// Here a file with the same keys (weight_ih_l0, weight_hh_l0, bias_ih_l0, …) stands in for it.
const lstm = new LSTM({ inputSize: 16, hiddenSize: 32, numLayers: 2 });
const trained = new LSTM({ inputSize: 16, hiddenSize: 32, numLayers: 2 });
const file = saveSafetensors(trained.stateDict());
lstm.loadStateDict(loadSafetensors(file));
const { y, state } = lstm.run(x); // outputs of the last layer, and h_n, c_n
console.log(`LSTM: y [${y.shape}], h [${state.h?.shape}], c [${state.c?.shape}]`);
const gru = new GRU({ inputSize: 16, hiddenSize: 32 });
console.log(`GRU parameters: ${Object.keys(gru.stateDict()).join(', ')}`);
