import { expect, it } from 'vitest';
import * as T from '../../src/index.js';
import {
  enableGrad,
  getDefaultBackend,
  isGradEnabled,
  keep,
  memory,
  noGrad,
  type Tensor,
  TensorError,
  tensor,
  tidy,
} from '../../src/index.js';
import { expectClose, expectTensorError } from '../helpers/assert.js';
import { describeBackends } from '../helpers/backends.js';

// Counters of the backend the suite runs on.
const live = () => memory()[getDefaultBackend().name]?.tensors ?? 0;
const bytes = () => memory()[getDefaultBackend().name]?.bytes ?? 0;
const gradOf = (t: Tensor) => t.grad as Tensor;
const grad = async (t: Tensor) => Array.from(await gradOf(t).data());

describeBackends('backward', () => {
  it('a non-scalar output needs an explicit gradient of its shape', async () => {
    const x = tensor([1, 2, 3], { requiresGrad: true });
    const y = x.mul(2);
    expectTensorError(() => y.backward(), 'backward', 'non-scalar', '[3]');
    expectTensorError(() => y.backward(T.ones([2])), 'backward', '[3]', '[2]');
    y.backward(tensor([1, 0, -1]));
    expect(await grad(x)).toEqual([2, 0, -2]);
  });

  it('a size-1 output of any rank needs none', async () => {
    const x = tensor([[3]], { requiresGrad: true });
    x.mul(x).backward();
    expect(await grad(x)).toEqual([6]);
  });

  it('fails clearly when nothing requires gradients', async () => {
    expectTensorError(
      () => tensor([1, 2]).sum().backward(),
      'backward',
      'does not require gradients',
    );
  });

  it('gradients accumulate across backward calls until reset', async () => {
    const x = tensor([1, 2], { requiresGrad: true });
    const loss = x.square().sum();
    loss.backward();
    expect(await grad(x)).toEqual([2, 4]);
    loss.backward(); // the graph is kept, so a second pass works and adds up
    expect(await grad(x)).toEqual([4, 8]);
    x.mul(3).sum().backward();
    expect(await grad(x)).toEqual([7, 11]);
    x.grad = null;
    x.sum().backward();
    expect(await grad(x)).toEqual([1, 1]);
  });

  it('only leaves keep .grad; inputs not requiring gradients get none', async () => {
    const x = tensor([1, 2], { requiresGrad: true });
    const c = tensor([5, 6]);
    const h = x.mul(c);
    h.sum().backward();
    expect(await grad(x)).toEqual([5, 6]);
    expect(h.grad).toBeNull();
    expect(h.isLeaf).toBe(false);
    expect(c.grad).toBeNull();
    expect(x.isLeaf).toBe(true);
  });

  it('int32 operands mix with float leaves; only the leaf gets a gradient', async () => {
    const x = tensor([1, 2, 3], { requiresGrad: true });
    const i = tensor([2, 0, -1], { dtype: 'int32' });
    x.mul(i).sum().backward();
    expect(await grad(x)).toEqual([2, 0, -1]);
    expect(i.grad).toBeNull();
  });

  it('two leaves reached by the same gradient tensor own separate .grad tensors', async () => {
    const x = tensor([1, 2], { requiresGrad: true });
    const y = tensor([3, 4], { requiresGrad: true });
    x.add(y).sum().backward();
    expect(x.grad).not.toBe(y.grad);
    (x.grad as Tensor).dispose();
    expect(await grad(y)).toEqual([1, 1]);
  });

  it('the caller keeps ownership of the seed gradient', async () => {
    const x = tensor([1, 2], { requiresGrad: true });
    const seed = tensor([5, 7]);
    x.backward(seed); // root is a leaf: its gradient is the seed itself
    seed.dispose();
    expect(await grad(x)).toEqual([5, 7]);
    const y = tensor([1, 2], { requiresGrad: true });
    const s2 = tensor([1, 1]);
    y.add(0).backward(s2);
    s2.dispose();
    expect(await grad(y)).toEqual([1, 1]);
  });

  it('multi-output ops: gradient flows through cummax values, not its int32 indices', async () => {
    const x = tensor([1, 3, 2], { requiresGrad: true });
    const { values, indices } = x.cummax();
    expect(indices.requiresGrad).toBe(false);
    values.sum().backward();
    expect(await grad(x)).toEqual([1, 2, 0]);
  });

  it('a gradient rule returning the wrong shape is reported with the op name', async () => {
    const bad = T.defineOp<Record<string, never>>({
      name: 'badShape',
      kernel: 'exp',
      infer: ([x]) => [{ shape: (x as Tensor).shape, dtype: 'float32' }],
      grad: (dy) => [dy.sum()],
    });
    const x = tensor([1, 2], { requiresGrad: true });
    const y = T.run1(bad, [x], {});
    expectTensorError(() => y.sum().backward(), 'badShape (gradient)', '[]', '[2]');
  });
});

describeBackends('noGrad, enableGrad, detach, requiresGrad', () => {
  it('noGrad records nothing and restores the mode, even after a throw', async () => {
    const x = tensor([1, 2], { requiresGrad: true });
    const y = noGrad(() => x.mul(2));
    expect(y.requiresGrad).toBe(false);
    expect(y.isLeaf).toBe(true);
    expect(isGradEnabled()).toBe(true);
    expect(() =>
      noGrad(() => {
        throw new Error('boom');
      }),
    ).toThrow('boom');
    expect(isGradEnabled()).toBe(true);
    const z = noGrad(() => enableGrad(() => x.mul(2)));
    expect(z.requiresGrad).toBe(true);
    expect(isGradEnabled()).toBe(true);
  });

  it('noGrad rejects async functions', async () => {
    expectTensorError(() => noGrad((async () => 1) as never), 'noGrad', 'synchronous');
    expect(isGradEnabled()).toBe(true);
  });

  it('detach stops gradients and shares data', async () => {
    const x = tensor([2, 3], { requiresGrad: true });
    const d = x.detach();
    expect(d.requiresGrad).toBe(false);
    expect(Array.from(await d.data())).toEqual([2, 3]);
    x.mul(x.detach()).sum().backward(); // d/dx (x · const) = const, not 2x
    expect(await grad(x)).toEqual([2, 3]);
  });

  it('requiresGrad: only on float32, cannot be switched off on a non-leaf', async () => {
    const i = tensor([1], { dtype: 'int32' });
    expectTensorError(
      () => {
        i.requiresGrad = true;
      },
      'requiresGrad',
      'int32',
    );
    const x = tensor([1], { requiresGrad: true });
    const y = x.mul(2);
    expectTensorError(
      () => {
        y.requiresGrad = false;
      },
      'requiresGrad',
      'detach',
    );
    // Turning it on later makes later ops record.
    const w = tensor([4]);
    w.requiresGrad = true;
    w.mul(w).sum().backward();
    expect(await grad(w)).toEqual([8]);
  });
});

describeBackends('disposal and tidy', () => {
  it('using a disposed tensor is an error naming the op and the tensor', async () => {
    const x = tensor([1, 2]);
    x.dispose();
    x.dispose(); // idempotent
    expect(x.isDisposed).toBe(true);
    expectTensorError(() => x.add(1), 'add', 'disposed', '[2]');
    expectTensorError(() => x.dataSync(), 'dataSync', 'disposed');
    expectTensorError(() => T.exp(x), 'exp', 'disposed');
    const y = tensor([1], { requiresGrad: true });
    const l = y.mul(2).sum();
    l.dispose();
    expectTensorError(() => l.backward(), 'backward', 'disposed');
  });

  it('dispose frees the buffer once the last view is gone', async () => {
    const b0 = bytes();
    const n0 = live();
    const x = T.zeros([1000]);
    expect(bytes() - b0).toBe(4000);
    const v = x.reshape([10, 100]);
    expect(live() - n0).toBe(2);
    x.dispose();
    expect(bytes() - b0).toBe(4000); // the view still holds it
    v.dispose();
    expect(bytes() - b0).toBe(0);
    expect(live() - n0).toBe(0);
  });

  it('tidy disposes intermediates and keeps what is returned (tensor, array, object, Map)', async () => {
    const x = tensor([1, 2, 3]);
    const n0 = live();
    const b0 = bytes();
    const y = tidy(() => x.mul(2).add(1).exp());
    expect(live() - n0).toBe(1);
    expect(bytes() - b0).toBe(12);
    const [a, b] = tidy(() => [x.mul(2).add(1), x.sub(1).square()]) as Tensor[];
    const obj = tidy(() => ({ p: x.neg().neg(), q: { r: x.add(x).add(x) } }));
    const map = tidy(() => new Map([['m', x.sqrt().sqrt()]]));
    expect(live() - n0).toBe(6);
    for (const t of [y, a, b, obj.p, obj.q.r, map.get('m')])
      expect((t as Tensor).isDisposed).toBe(false);
    for (const t of [y, a, b, obj.p, obj.q.r, map.get('m')]) (t as Tensor).dispose();
    expect(live() - n0).toBe(0);
    expect(bytes() - b0).toBe(0);
  });

  it('nested tidy passes returned tensors to the outer scope; keep() opts out of all scopes', async () => {
    const n0 = live();
    let inner: Tensor | undefined;
    let kept: Tensor | undefined;
    tidy(() => {
      inner = tidy(() => tensor([1]).add(1));
      kept = keep(tensor([5]).mul(2));
      expect(inner.isDisposed).toBe(false);
      return undefined;
    });
    expect(inner?.isDisposed).toBe(true);
    expect(kept?.isDisposed).toBe(false);
    expect(Array.from(await (kept as Tensor).data())).toEqual([10]);
    kept?.dispose();
    expect(live() - n0).toBe(0);
  });

  it('tidy disposes everything when the function throws, and rejects async functions', async () => {
    const n0 = live();
    expect(() =>
      tidy(() => {
        tensor([1]).add(1);
        throw new Error('fail');
      }),
    ).toThrow('fail');
    expect(live() - n0).toBe(0);
    expectTensorError(() => tidy((async () => 1) as never), 'tidy', 'Promise');
  });

  it('gradients of leaves survive tidy; the graph intermediates do not', async () => {
    const w = tensor([1, -2, 3], { requiresGrad: true });
    const x = tensor([0.5, 0.25, 2]);
    const n0 = live();
    const loss = tidy(() => {
      const l = w.mul(x).tanh().square().sum();
      l.backward();
      return l;
    });
    expect(typeof (await loss.data())[0]).toBe('number');
    loss.dispose();
    expect(w.grad).not.toBeNull();
    expect((w.grad as Tensor).isDisposed).toBe(false);
    // Only the gradient remains alive.
    expect(live() - n0).toBe(1);
    const want = [0, 1, 2].map((i) => {
      const v = Math.tanh([1, -2, 3][i]! * [0.5, 0.25, 2][i]!);
      return 2 * v * (1 - v * v) * [0.5, 0.25, 2][i]!;
    });
    expectClose(await grad(w), want, { rtol: 1e-5 });
  });

  it('backward leaves no intermediate tensors behind', async () => {
    const x = tensor([1, 2, 3], { requiresGrad: true });
    const loss = x.exp().mul(x).sum();
    const n0 = live();
    loss.backward();
    // +1: x.grad
    expect(live() - n0).toBe(1);
    loss.backward();
    // The accumulated gradient replaces the old one; the old one is disposed or unreachable.
    expect(live() - n0).toBeLessThanOrEqual(2);
  });

  it('a training step in a loop has constant live-tensor count', async () => {
    const w = tensor([0.5, -0.5], { requiresGrad: true });
    const x = tensor([
      [1, 2],
      [3, 4],
    ]);
    const step = () =>
      tidy(() => {
        w.grad?.dispose();
        w.grad = null;
        const loss = x.matmul(w).sigmoid().log().neg().mean();
        loss.backward();
        w.assign(w.sub(gradOf(w).mul(0.1)));
      });
    step();
    const n0 = live();
    for (let i = 0; i < 5; i++) step();
    expect(live()).toBe(n0);
  });
});

describeBackends('error messages name the op, the expected and the actual', () => {
  it('item, assign', async () => {
    expectTensorError(() => T.zeros([2]).item(), 'item', '[2]');
    expectTensorError(() => T.zeros([2]).assign(T.zeros([3])), 'assign', '[2]', '[3]');
    expectTensorError(
      () => T.zeros([2]).assign(T.zeros([2], { dtype: 'int32' })),
      'assign',
      'float32',
      'int32',
    );
  });

  it('non-tensor inputs', async () => {
    expectTensorError(() => T.exp(3 as never), 'exp', 'Tensor');
    expectTensorError(() => T.concat([T.zeros([1]), [1] as never]), 'concat', 'Tensor');
  });

  it('every thrown error is a TensorError', async () => {
    try {
      T.zeros([2, 3]).matmul(T.zeros([2, 3]));
    } catch (e) {
      expect(e).toBeInstanceOf(TensorError);
      expect((e as Error).name).toBe('TensorError');
    }
  });
});

describeBackends('assign after use', () => {
  it('backward refuses a graph whose input was changed in place by assign()', async () => {
    const { tensor } = T;
    const w = tensor([1, 2, 3], { requiresGrad: true });
    const loss = w.mul(w).sum();
    w.assign(tensor([4, 5, 6]));
    expect(() => loss.backward()).toThrow(/was changed by assign\(\) after it was used/);
    const fresh = w.mul(w).sum();
    fresh.backward();
    expect(Array.from((await w.grad?.data()) ?? [])).toEqual([8, 10, 12]);
  });
});
