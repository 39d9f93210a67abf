/**
 * Discrete-time LQR gain for one input: x' = A x + B u, cost Σ xᵀQx + R u², by iterating the
 * Riccati recursion to its fixed point. Returns K with u = −K x. Small dense matrices only
 * (the experts' linearised models are 2×2 and 4×4).
 */
export function lqrGain(
  A: readonly (readonly number[])[],
  B: readonly number[],
  Q: readonly (readonly number[])[],
  R: number,
): number[] {
  const n = A.length;
  let P = Q.map((row) => row.slice());
  let K = new Array<number>(n).fill(0);
  for (let iter = 0; iter < 10_000; iter++) {
    // PB, BᵀPB, BᵀPA
    const PB = P.map((row) => dot(row, B));
    const BPB = dot(B, PB);
    const BPA = range(n).map((j) => range(n).reduce((s, i) => s + PB[i]! * at(A, i, j), 0));
    K = BPA.map((v) => v / (R + BPB));
    // P' = Q + AᵀPA − (AᵀPB) K
    const PA = range(n).map((i) =>
      range(n).map((j) => range(n).reduce((s, k) => s + at(P, i, k) * at(A, k, j), 0)),
    );
    const next = range(n).map((i) =>
      range(n).map(
        (j) =>
          at(Q, i, j) +
          range(n).reduce((s, k) => s + at(A, k, i) * at(PA, k, j), 0) -
          BPA[i]! * K[j]!,
      ),
    );
    // Symmetrise (rounding otherwise drifts P away from symmetric and the recursion diverges).
    let change = 0;
    let scale = 0;
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        const v = 0.5 * (at(next, i, j) + at(next, j, i));
        change = Math.max(change, Math.abs(v - at(P, i, j)));
        scale = Math.max(scale, Math.abs(v));
      }
    }
    P = range(n).map((i) => range(n).map((j) => 0.5 * (at(next, i, j) + at(next, j, i))));
    if (change <= 1e-12 * scale) return K;
  }
  throw new Error('lqrGain: the Riccati recursion did not converge (is (A, B) stabilisable?)');
}

function dot(a: readonly number[], b: readonly number[]): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

function at(M: readonly (readonly number[])[], i: number, j: number): number {
  return (M[i] as readonly number[])[j]!;
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}
