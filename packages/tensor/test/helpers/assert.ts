import { expect } from 'vitest';
import { type Tensor, TensorError } from '../../src/index.js';
import type { Nd } from './reference.js';

export interface CloseOptions {
  /** Relative tolerance (default 1e-6, about 8 float32 ulps). */
  rtol?: number;
  /** Absolute tolerance (default 1e-7). */
  atol?: number;
  /** Also require the sign of zeros to match (-0 vs 0). */
  signedZero?: boolean;
  /** Prefix for the failure message. */
  what?: string;
}

/**
 * Elementwise |actual − expected| <= atol + rtol·|expected|, with NaN matching only NaN and ±Inf
 * matching only themselves. Fails with the first offending index and both values.
 */
export function expectClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  opts: CloseOptions = {},
): void {
  const rtol = opts.rtol ?? 1e-6;
  const atol = opts.atol ?? 1e-7;
  const what = opts.what ? `${opts.what}: ` : '';
  expect(actual.length, `${what}length`).toBe(expected.length);
  let worst = -1;
  let worstErr = 0;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i] as number;
    const e = expected[i] as number;
    let bad: boolean;
    if (Number.isNaN(e) || Number.isNaN(a)) bad = !(Number.isNaN(e) && Number.isNaN(a));
    else if (!Number.isFinite(e) || !Number.isFinite(a)) bad = a !== e;
    else if (opts.signedZero && e === 0 && a === 0) bad = Object.is(a, -0) !== Object.is(e, -0);
    else bad = Math.abs(a - e) > atol + rtol * Math.abs(e);
    if (bad) {
      const err = Number.isFinite(a - e) ? Math.abs(a - e) : Number.POSITIVE_INFINITY;
      if (worst < 0 || err > worstErr) {
        worst = i;
        worstErr = err;
      }
    }
  }
  if (worst >= 0) {
    expect.fail(
      `${what}element ${worst}: got ${actual[worst]}, expected ${expected[worst]} (rtol ${rtol}, atol ${atol})`,
    );
  }
}

/** A tensor equals a reference Nd: same shape, values close. Reads asynchronously (any backend). */
export async function expectTensor(
  t: Tensor,
  ref: Nd | { shape: readonly number[]; data: ArrayLike<number> },
  opts: CloseOptions = {},
): Promise<void> {
  expect(t.shape, `${opts.what ?? ''} shape`).toEqual(ref.shape);
  expectClose(await t.data(), ref.data, opts);
}

/** Shape, dtype and exact values (nested arrays), for integer results and small literal cases. */
export async function expectExact(
  t: Tensor,
  dtype: 'float32' | 'int32',
  shape: readonly number[],
  values: ArrayLike<number>,
): Promise<void> {
  expect(t.dtype).toBe(dtype);
  expect(t.shape).toEqual(shape);
  expect(Array.from(await t.data())).toEqual(Array.from(values));
}

/**
 * An error a kernel reports: thrown at once on the CPU; on backends that check on the device
 * (webgpu), reported by the next read of the result. `make` runs the op and returns its result.
 */
export async function expectKernelError(
  make: () => Tensor,
  op: string,
  ...parts: (string | RegExp)[]
): Promise<void> {
  let caught: unknown;
  try {
    const t = make();
    await t.data();
  } catch (e) {
    caught = e;
  }
  expect(caught, `expected ${op} to fail`).toBeInstanceOf(TensorError);
  const msg = (caught as Error).message;
  expect(msg.startsWith(`${op}:`), `message "${msg}" should name ${op}`).toBe(true);
  for (const p of parts) {
    if (typeof p === 'string') expect(msg).toContain(p);
    else expect(msg).toMatch(p);
  }
}

/**
 * `fn` throws a TensorError whose message starts with `op:` and contains every string in `parts`
 * (the argument, the expected and the actual value).
 */
export function expectTensorError(
  fn: () => unknown,
  op: string,
  ...parts: (string | RegExp)[]
): void {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught, `expected ${op} to throw`).toBeInstanceOf(TensorError);
  const msg = (caught as Error).message;
  expect(
    msg.startsWith(`${op}:`) || msg.startsWith(`${op} `),
    `message "${msg}" should name ${op}`,
  ).toBe(true);
  for (const p of parts) {
    if (typeof p === 'string') expect(msg).toContain(p);
    else expect(msg).toMatch(p);
  }
}
