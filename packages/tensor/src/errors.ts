/** Raised for bad arguments: shapes, dtypes, axes, indices. The message names the op. */
export class TensorError extends Error {
  constructor(op: string, message: string) {
    super(`${op}: ${message}`);
    this.name = 'TensorError';
  }
}

/** A shape as messages write it: `[2, 3]`. */
export function fmtShape(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}
