import { type Tensor, TensorError } from '@recur/tensor';

/** Checks that a state entry has the expected shape, naming the entry, the expected and the actual. */
export function checkStateShape(
  op: string,
  name: string,
  t: Tensor,
  expected: readonly (number | null)[],
  labels: readonly string[],
): void {
  const ok = t.rank === expected.length && expected.every((d, i) => d === null || d === t.shape[i]);
  if (!ok) {
    const want = expected.map((d, i) => (d === null ? labels[i] : String(d))).join(', ');
    throw new TensorError(
      op,
      `expected state '${name}' of shape [${want}], got [${t.shape.join(', ')}]`,
    );
  }
}
