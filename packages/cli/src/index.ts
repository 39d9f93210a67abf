// @recur/cli: the library side of the `recur` command (tasks, dataset readers, training loop,
// checkpoints, benchmarks, export). Scaffold only: nothing is implemented yet.
export {};
