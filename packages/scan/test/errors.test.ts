/** Bad input gets an error naming the argument, what was expected and what was got. */
import { full, tensor, tidy, zeros } from '@recur/tensor';
import { describe, expect, it } from 'vitest';
import {
  add,
  attention,
  attentionScan,
  defineOperator,
  linearRecurrence,
  type ScanAlgorithm,
  scan,
} from '../src/index.js';
import { expectError } from './helpers/assert.js';

const f = (shape: number[]) => zeros(shape);

describe('scan errors', () => {
  it('wrong arity', () => {
    tidy(() => {
      expectError(
        () => scan(linearRecurrence, [f([2, 5])]),
        'scan(linearRecurrence)',
        'expected 2 input tensors, got 1',
      );
      expectError(
        () => scan(add, [f([5]), f([5])]),
        'scan(add)',
        'expected 1 input tensors, got 2',
      );
      expectError(() => scan(add, []), 'expected 1 input tensors, got 0');
    });
  });

  it('mismatched leading shapes', () => {
    tidy(() => {
      expectError(
        () => scan(linearRecurrence, [f([2, 5]), f([2, 6])]),
        'scan(linearRecurrence)',
        'input 1',
        '[2, 6]',
        '[2, 5]',
      );
      expectError(
        () => scan(attention, [f([3, 4, 1]), f([3, 4, 1]), f([2, 4, 8])]),
        'input 2',
        '[2, 4, 8]',
        '[3, 4]',
      );
      // The axis must exist on every input.
      expectError(() => scan(linearRecurrence, [f([2, 5]), f([2])]), 'input 1', '[2]');
    });
  });

  it('an input without a sequence axis, or an axis out of range', () => {
    tidy(() => {
      expectError(() => scan(add, [zeros([])]), 'scan(add)', 'no sequence axis');
      expectError(
        () => scan(attention, [f([4]), f([4]), f([4])]),
        'scan(attention)',
        'no sequence axis',
      );
      expectError(() => scan(add, [f([2, 3])], { axis: 2 }), 'axis', '2');
      expectError(() => scan(add, [f([2, 3])], { axis: -3 }), 'axis', '-3');
    });
  });

  it('bad carry: count, shape', () => {
    tidy(() => {
      expectError(
        () => scan(linearRecurrence, [f([2, 5]), f([2, 5])], { carry: [f([2])] }),
        'expected a carry of 2 tensors, got 1',
      );
      expectError(
        () => scan(add, [f([2, 5])], { carry: [f([5])] }),
        'scan(add)',
        'carry 0',
        '[2]',
        '[5]',
      );
      expectError(
        () => scan(add, [f([2, 5, 3])], { axis: 1, carry: [f([2, 5])] }),
        'carry 0',
        '[2, 3]',
        '[2, 5]',
      );
      expectError(
        () =>
          scan(attention, [f([2, 5, 1]), f([2, 5, 1]), f([2, 5, 4])], {
            carry: [f([2, 1]), f([2, 1]), f([2, 3])],
          }),
        'carry 2',
        '[2, 4]',
        '[2, 3]',
      );
    });
  });

  it('unknown algorithm', () => {
    tidy(() => {
      expectError(
        () => scan(add, [f([5])], { algorithm: 'parallel' as ScanAlgorithm }),
        'scan(add)',
        "unknown algorithm 'parallel'",
        'sequential, chunked, tree or auto',
      );
    });
  });

  it('bad chunkSize', () => {
    tidy(() => {
      for (const chunkSize of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
        expectError(
          () => scan(add, [f([5])], { algorithm: 'chunked', chunkSize }),
          'scan(add)',
          'expected a positive integer chunkSize',
          String(chunkSize),
        );
      }
    });
  });

  it('int32 inputs and carries', () => {
    tidy(() => {
      const i32 = tensor([1, 2, 3], { dtype: 'int32' });
      expectError(() => scan(add, [i32]), 'scan(add)', 'input 0 must be float32, got int32');
      expectError(
        () => scan(linearRecurrence, [f([3]), i32]),
        'input 1 must be float32, got int32',
      );
      expectError(
        () => scan(add, [f([2, 3])], { carry: [tensor([1, 2], { dtype: 'int32' })] }),
        'scan(add)',
        'carry 0 must be float32, got int32',
      );
    });
  });
});

describe('attentionScan errors', () => {
  it('scores that fit neither form', () => {
    tidy(() => {
      expectError(
        () => attentionScan(f([2, 5]), f([2, 6, 4])),
        'attentionScan',
        '[2, 5]',
        '[2, 6, 4]',
        '[..., T]',
      );
      expectError(() => attentionScan(f([2, 5, 3]), f([2, 5, 4])), 'attentionScan', '[2, 5, 3]');
      expectError(
        () => attentionScan(f([5]), f([5])),
        'attentionScan',
        'expected values [..., T, d]',
      );
    });
  });

  it('a carry of the wrong shape, or of the other form', () => {
    tidy(() => {
      const s = f([2, 5]);
      const v = f([2, 5, 4]);
      const good = { m: full([2, 1], Number.NEGATIVE_INFINITY), u: f([2, 1]), w: f([2, 4]) };
      expect(attentionScan(s, v, { carry: good }).out.shape).toEqual([2, 5, 4]);
      expectError(
        () => attentionScan(s, v, { carry: { ...good, w: f([2, 3]) } }),
        '[2, 4]',
        '[2, 3]',
      );
      // A per-channel carry for per-position scores.
      expectError(
        () => attentionScan(s, v, { carry: { ...good, m: f([2, 4]), u: f([2, 4]) } }),
        '[2, 1]',
        '[2, 4]',
      );
    });
  });
});

describe('defineOperator errors', () => {
  const combine = () => [];
  it('names the operator and the problem', () => {
    expectError(
      () => defineOperator({ name: '', arity: 1, identity: [0], combine }),
      'expected a name',
    );
    expectError(
      () => defineOperator({ name: 'op', arity: 0, identity: [], combine }),
      'defineOperator(op)',
      'expected arity >= 1, got 0',
    );
    expectError(
      () => defineOperator({ name: 'op', arity: 2, identity: [0], combine }),
      'defineOperator(op)',
      'expected 2 identity values, got 1',
    );
    expectError(
      () => defineOperator({ name: 'op', arity: 1, identity: [0], elementRanks: [1, 1], combine }),
      'expected 1 element ranks, got 2',
    );
  });
});
