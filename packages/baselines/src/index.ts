// @recur/baselines: Transformer (causal MHA with KV cache), LSTM and GRU yardsticks.
// Scaffold only: nothing is implemented yet.
export {};
