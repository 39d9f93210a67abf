import { nn, type Tensor, TensorError } from '@recur/tensor';

export function checkPositive(op: string, name: string, v: number): number {
  if (!Number.isInteger(v) || v < 1)
    throw new TensorError(op, `expected ${name} to be a positive integer, got ${v}`);
  return v;
}

export function checkTokens(op: string, x: Tensor, features: number): void {
  if (x.rank !== 3 || x.shape[2] !== features) {
    throw new TensorError(
      op,
      `expected x of shape [batch, tokens, ${features}], got [${x.shape.join(', ')}]`,
    );
  }
}

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

export type Activation = 'relu' | 'gelu' | 'silu';

export function activationModule(op: string, a: Activation): nn.Module {
  if (a === 'relu') return new nn.ReLU();
  if (a === 'gelu') return new nn.GELU();
  if (a === 'silu') return new nn.SiLU();
  throw new TensorError(op, `unknown activation '${String(a)}' (expected relu, gelu or silu)`);
}
