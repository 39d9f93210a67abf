// @recur/aft: Attention Free Transformer variants (AFT-full, AFT-local, AFT-simple, AFT-conv).
// Scaffold only: nothing is implemented yet.
export {};
