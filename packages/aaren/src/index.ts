// @recur/aaren: Aaren ("attention as an RNN") attention, block and stacked model, in parallel,
// recurrent and chunked modes. Scaffold only: nothing is implemented yet.
export {};
