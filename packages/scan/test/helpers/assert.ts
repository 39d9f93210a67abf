import { type Tensor, TensorError, tensor } from '@recur/tensor';
import { expect } from 'vitest';
import type { Host } from './reference.js';

export interface CloseOptions {
  /** Relative tolerance (default 1e-5). */
  rtol?: number;
  /** Absolute tolerance (default 1e-6). */
  atol?: number;
  /** Prefix of the failure message. */
  what?: string;
}

/**
 * Elementwise |actual − expected| <= atol + rtol·|expected|; NaN matches only NaN and ±Inf only
 * itself. Fails naming the worst index and both values.
 */
export function expectClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  opts: CloseOptions = {},
): void {
  const rtol = opts.rtol ?? 1e-5;
  const atol = opts.atol ?? 1e-6;
  const what = opts.what ? `${opts.what}: ` : '';
  expect(actual.length, `${what}length`).toBe(expected.length);
  let worst = -1;
  let worstErr = -1;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i] as number;
    const e = expected[i] as number;
    let bad: boolean;
    let err: number;
    if (Number.isNaN(e) || Number.isNaN(a)) {
      bad = !(Number.isNaN(e) && Number.isNaN(a));
      err = Number.POSITIVE_INFINITY;
    } else if (!Number.isFinite(e) || !Number.isFinite(a)) {
      bad = a !== e;
      err = Number.POSITIVE_INFINITY;
    } else {
      err = Math.abs(a - e) / (atol + rtol * Math.abs(e));
      bad = err > 1;
    }
    if (bad && err > worstErr) {
      worst = i;
      worstErr = err;
    }
  }
  if (worst >= 0) {
    expect.fail(
      `${what}element ${worst} of ${expected.length}: got ${actual[worst]}, expected ${expected[worst]} (rtol ${rtol}, atol ${atol})`,
    );
  }
}

/** No NaN and no ±Inf anywhere. */
export function expectFinite(values: ArrayLike<number>, what = 'values'): void {
  for (let i = 0; i < values.length; i++) {
    const v = values[i] as number;
    if (!Number.isFinite(v)) expect.fail(`${what}: element ${i} is ${v}`);
  }
}

/** The largest |x| over finite entries (a scale for absolute tolerances). */
export function maxAbs(values: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < values.length; i++) {
    const v = Math.abs(values[i] as number);
    if (Number.isFinite(v) && v > m) m = v;
  }
  return m;
}

export function toTensor(h: Host, requiresGrad = false): Tensor {
  return tensor(h.data, { shape: h.shape, requiresGrad });
}

/**
 * `fn` throws a TensorError (or TypeError) whose message contains every given part (the argument,
 * what was expected and what was got).
 */
export function expectError(fn: () => unknown, ...parts: (string | RegExp)[]): void {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught, 'expected an error').toBeDefined();
  expect(
    caught instanceof TensorError || caught instanceof TypeError,
    `expected a TensorError or TypeError, got ${String(caught)}`,
  ).toBe(true);
  const msg = (caught as Error).message;
  for (const p of parts) {
    if (typeof p === 'string') expect(msg).toContain(p);
    else expect(msg).toMatch(p);
  }
}
