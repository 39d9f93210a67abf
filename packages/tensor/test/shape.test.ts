import { describe, expect, it } from 'vitest';
import { TensorError } from '../src/errors.js';
import { dim } from '../src/shape.js';

describe('dim', () => {
  it('reads an axis, counting a negative one from the end', () => {
    const shape = [2, 3, 5];
    expect([0, 1, 2].map((a) => dim('op', shape, a))).toEqual([2, 3, 5]);
    expect([-1, -2, -3].map((a) => dim('op', shape, a))).toEqual([5, 3, 2]);
  });

  it('throws naming the op, the axis and the shape when there is no such axis', () => {
    for (const axis of [3, -4, 0.5, Number.NaN]) {
      expect(() => dim('splitHeads', [2, 3, 5], axis)).toThrow(TensorError);
      expect(() => dim('splitHeads', [2, 3, 5], axis)).toThrow(
        new RegExp(`splitHeads.*axis ${axis} is out of range for shape \\[2, 3, 5\\] \\(rank 3\\)`),
      );
    }
    expect(() => dim('op', [], 0)).toThrow(/axis 0 is out of range for shape \[\] \(rank 0\)/);
  });
});
