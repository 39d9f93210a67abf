// @recur/scan: associative scans over tuples of tensors (sequential, chunked and tree algorithms
// on the CPU; reduce-then-scan on WebGPU). Scaffold only: nothing is implemented yet.
export {};
