/** A finite set of actions {0, …, n − 1}, passed to `step` as one integer. */
export interface DiscreteSpace {
  kind: 'discrete';
  n: number;
}

/** A box of real vectors with per-coordinate bounds (±Infinity where unbounded). */
export interface BoxSpace {
  kind: 'box';
  shape: [number];
  low: Float64Array;
  high: Float64Array;
}

/** An action or observation space: discrete or a box. */
export type Space = DiscreteSpace | BoxSpace;

/** A discrete space of `n` actions, 0 … n − 1. */
export function discrete(n: number): DiscreteSpace {
  return { kind: 'discrete', n };
}

/** A box of vectors with per-element bounds `low` ≤ x ≤ `high` (equal lengths). */
export function box(low: readonly number[], high: readonly number[]): BoxSpace {
  return {
    kind: 'box',
    shape: [low.length],
    low: Float64Array.from(low),
    high: Float64Array.from(high),
  };
}

/** Width of a space as a vector: n for a discrete space (one-hot), the length for a box. */
export function spaceDim(space: Space): number {
  return space.kind === 'discrete' ? space.n : space.shape[0];
}
