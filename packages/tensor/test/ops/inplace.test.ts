import { expect, it } from 'vitest';
import {
  memory,
  noGrad,
  resetPeakMemory,
  sliceAssign,
  type Tensor,
  tensor,
  tidy,
  zeros,
} from '../../src/index.js';
import { expectClose, expectTensorError } from '../helpers/assert.js';
import { describeBackends } from '../helpers/backends.js';
import { gradcheck } from '../helpers/gradcheck.js';
import { ndOf, numel, uniform } from '../helpers/reference.js';

function t(shape: number[], seed: number): Tensor {
  return tensor(uniform(numel(shape), seed), { shape });
}

describeBackends('sliceAssign (in-place slice write)', () => {
  it('writes value into target[start:start+n] along each axis and leaves the rest', async () => {
    const shape = [3, 5, 4];
    for (let axis = 0; axis < 3; axis++) {
      const base = uniform(numel(shape), 1);
      const target = tensor(base, { shape });
      const vShape = shape.slice();
      vShape[axis] = 2;
      const vData = uniform(numel(vShape), 2);
      const start = (shape[axis] as number) - 2; // the last two positions: the far edge
      sliceAssign(target, axis, start, tensor(vData, { shape: vShape }));
      // Reference: element by element, written independently of the kernel's strided walk.
      const want = Float64Array.from(base);
      const v = ndOf(vShape, vData);
      for (let i = 0; i < numel(vShape); i++) {
        const idx = [
          Math.floor(i / (vShape[1]! * vShape[2]!)),
          Math.floor(i / vShape[2]!) % vShape[1]!,
          i % vShape[2]!,
        ];
        idx[axis] = idx[axis]! + start;
        want[(idx[0]! * shape[1]! + idx[1]!) * shape[2]! + idx[2]!] = v.data[i]!;
      }
      expectClose(await target.data(), want, { rtol: 0, atol: 0, what: `axis ${axis}` });
    }
  });

  it('int32 targets; zero-length values change nothing', async () => {
    const target = tensor(new Int32Array([1, 2, 3, 4]), { shape: [4] });
    sliceAssign(target, 0, 1, tensor(new Int32Array([7, 8]), { shape: [2] }));
    sliceAssign(target, 0, 4, tensor(new Int32Array([]), { shape: [0] }));
    expect(Array.from(await target.data())).toEqual([1, 7, 8, 4]);
  });

  it('changes the version of the target and of tensors sharing its buffer', () => {
    const target = zeros([4, 2]);
    const view = target.reshape([8]);
    const v0 = target.version;
    const w0 = view.version;
    sliceAssign(target, 0, 0, t([1, 2], 3));
    expect(target.version).not.toBe(v0);
    expect(view.version).not.toBe(w0);
  });

  it('refuses a backward pass through an op that read the overwritten data', () => {
    const w = t([4, 2], 4);
    w.requiresGrad = true;
    const y = w.mul(2);
    const loss = y.square().sum();
    noGrad(() => sliceAssign(y, 0, 1, t([1, 2], 5)));
    expect(() => loss.backward()).toThrow(/written in place by sliceAssign/);
  });

  it('names what was expected on bad input', () => {
    const target = zeros([4, 3]);
    expectTensorError(
      () => sliceAssign(target, 0, 3, zeros([2, 3])),
      'sliceAssign',
      /start \+ 2 <= 4/,
    );
    expectTensorError(
      () => sliceAssign(target, 0, -1, zeros([1, 3])),
      'sliceAssign',
      /got start -1/,
    );
    expectTensorError(
      () => sliceAssign(target, 0, 0, zeros([1, 2])),
      'sliceAssign',
      /except along axis 0/,
    );
    expectTensorError(() => sliceAssign(target, 2, 0, zeros([1, 3])), 'sliceAssign', /axis/);
    expectTensorError(
      () => sliceAssign(target, 0, 0, tensor(new Int32Array(3), { shape: [1, 3] })),
      'sliceAssign',
      /float32 value, got int32/,
    );
    const v = zeros([1, 3]);
    v.requiresGrad = true;
    expectTensorError(
      () => sliceAssign(target, 0, 0, v),
      'sliceAssign',
      /not recorded by autograd/,
    );
  });
});

describeBackends('backward through many slices (gradients added in place)', () => {
  it('slices of a leaf and of an intermediate, overlapping, reversed and reused: finite differences', async () => {
    await gradcheck(
      (x) => {
        const y = x.mul(x); // an intermediate: its gradient is accumulated in place
        const a = y.slice(1, 0, 3).mul(y.slice(1, 2, 5)); // overlapping slices of one tensor
        const b = x.slice(0, 1, 3).flip(1).sum(1, true); // a leaf, reversed
        const c = y.reshape([15]).slice(0, 0, 15, 4); // a view sharing y's buffer, strided
        return a
          .sum(1)
          .add(b.reshape([2]).sum())
          .add(c.sum());
      },
      [{ shape: [3, 5], data: uniform(15, 6, 0.3, 1.5) }],
    );
  });

  it('a view of an in-place-accumulated gradient is not corrupted (shared buffers are copied first)', async () => {
    // add's rule hands one dy to both operands and reshape's gradient is a view of it, so y's
    // pending gradient shares its buffer with v's (still waiting: v also feeds y). It must be copied
    // before y's slice adds into it. Both summation orders, so either branch may come first.
    for (const order of [0, 1]) {
      await gradcheck(
        (x) => {
          const v = x.reshape([6]).mul(2);
          const y = v.reshape([2, 3]).mul(3);
          const s = y.reshape([6]).add(v);
          const a = s.mul(tensor([1, 2, 3, 4, 5, 6])).sum();
          const b = y.slice(0, 1, 2).square().sum();
          return order === 0 ? a.add(b) : b.add(a);
        },
        [{ shape: [2, 3], data: uniform(6, 7) }],
      );
    }
  });
});

describeBackends('backward memory stays bounded by the activations', () => {
  it('T per-step slices of a [T, n] tensor: peak ≪ T full-size gradients', () => {
    const T = 64;
    const n = 4096; // 16 KiB per step, 1 MiB for the tensor
    const x = t([T, n], 8);
    x.requiresGrad = true;
    const bytes = T * n * 4;
    const before = memory().cpu?.bytes ?? 0;
    resetPeakMemory();
    tidy(() => {
      const h = x.mul(1.5);
      let acc = h.slice(0, 0, 1);
      for (let s = 1; s < T; s++) acc = acc.add(h.slice(0, s, s + 1).tanh());
      acc.sum().backward();
    });
    const peak = (memory().cpu?.peakBytes ?? 0) - before;
    // Forward: x's copy h (1×) plus three per-step tensors (3×); backward adds one accumulator
    // for h's gradient and x's (2×). Without the in-place path and early frees, each slice's
    // gradient is a full [T, n] tensor kept to the end: ≥ T× the bytes.
    expect(peak).toBeLessThan(10 * bytes);
    expect(x.grad?.shape).toEqual([T, n]);
  });
}, ['cpu']);
