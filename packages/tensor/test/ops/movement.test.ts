import { expect, it } from 'vitest';
import * as T from '../../src/index.js';
import { type Tensor, tensor } from '../../src/index.js';
import { expectExact, expectTensor, expectTensorError } from '../helpers/assert.js';
import { describeBackends } from '../helpers/backends.js';
import { at, broadcastRead, type Nd, ndFrom, ndOf, numel, uniform } from '../helpers/reference.js';

function nd(shape: number[], seed: number): Nd {
  return ndOf(shape, uniform(numel(shape), seed));
}
function t(x: Nd, dtype: 'float32' | 'int32' = 'float32'): Tensor {
  return tensor(Float32Array.from(x.data), { shape: x.shape, dtype });
}
/** 0, 1, 2, … as a tensor of `shape` (values name their flat position). */
function iota(shape: number[], dtype: 'float32' | 'int32' = 'float32'): Tensor {
  return T.arange(numel(shape), undefined, 1, { dtype }).reshape(shape);
}
const EXACT = { rtol: 0, atol: 0 };

/** Python slice semantics, written out: the indices start, start+step, … before end. */
function sliceIndices(
  n: number,
  start: number | undefined,
  end: number | undefined,
  step: number,
): number[] {
  const norm = (v: number) => (v < 0 ? v + n : v);
  let s: number;
  let e: number;
  if (step > 0) {
    s = start === undefined ? 0 : Math.min(Math.max(norm(start), 0), n);
    e = end === undefined ? n : Math.min(Math.max(norm(end), 0), n);
  } else {
    s = start === undefined ? n - 1 : Math.min(Math.max(norm(start), -1), n - 1);
    e = end === undefined ? -1 : Math.min(Math.max(norm(end), -1), n - 1);
  }
  const out: number[] = [];
  for (let i = s; step > 0 ? i < e : i > e; i += step) out.push(i);
  return out;
}

describeBackends('reshape / flatten / squeeze / unsqueeze', () => {
  it('reshape keeps row-major order and infers one -1', async () => {
    const x = iota([2, 3, 4]);
    await expectExact(
      x.reshape([4, -1]),
      'float32',
      [4, 6],
      Array.from({ length: 24 }, (_, i) => i),
    );
    expect(x.reshape([-1]).shape).toEqual([24]);
    expect(x.reshape([2, -1, 2]).shape).toEqual([2, 6, 2]);
    expect(tensor([5]).reshape([]).shape).toEqual([]);
    expect(tensor(5).reshape([1, 1, 1]).shape).toEqual([1, 1, 1]);
    expect(T.zeros([0, 3]).reshape([3, 0, 5]).shape).toEqual([3, 0, 5]);
    expect(T.zeros([0, 3]).reshape([-1, 3]).shape).toEqual([0, 3]);
  });

  it('reshape errors show both shapes', async () => {
    expectTensorError(() => iota([2, 3]).reshape([4, 2]), 'reshape', '[2, 3]', '[4, 2]');
    expectTensorError(() => iota([2, 3]).reshape([-1, 4]), 'reshape', '[2, 3]', '[-1, 4]');
    expectTensorError(() => iota([2, 3]).reshape([-1, -1]), 'reshape', '-1');
    expectTensorError(() => iota([2, 3]).reshape([-2, -3]), 'reshape');
    expectTensorError(() => T.zeros([0, 3]).reshape([-1, 0]), 'reshape', '[-1, 0]');
  });

  it('flatten merges a range of axes', async () => {
    const x = iota([2, 3, 4, 5]);
    expect(x.flatten().shape).toEqual([120]);
    expect(x.flatten(1).shape).toEqual([2, 60]);
    expect(x.flatten(1, 2).shape).toEqual([2, 12, 5]);
    expect(x.flatten(-2, -1).shape).toEqual([2, 3, 20]);
    expect(x.flatten(2, 2).shape).toEqual([2, 3, 4, 5]);
    expect(tensor(3).flatten().shape).toEqual([1]);
    expectTensorError(() => x.flatten(2, 1), 'flatten', '2', '1');
    expectTensorError(() => x.flatten(0, 4), 'flatten', '4');
  });

  it('squeeze removes size-1 axes (all or named); unsqueeze inserts', async () => {
    const x = T.zeros([1, 3, 1, 2]);
    expect(x.squeeze().shape).toEqual([3, 2]);
    expect(x.squeeze(0).shape).toEqual([3, 1, 2]);
    expect(x.squeeze([0, -2]).shape).toEqual([3, 2]);
    expectTensorError(() => x.squeeze(1), 'squeeze', '3');
    expect(T.zeros([3]).unsqueeze(0).shape).toEqual([1, 3]);
    expect(T.zeros([3]).unsqueeze(-1).shape).toEqual([3, 1]);
    expect(T.zeros([2, 3]).unsqueeze(1).shape).toEqual([2, 1, 3]);
    expect(T.zeros([2, 3]).unsqueeze(-2).shape).toEqual([2, 1, 3]);
    expect(tensor(1).unsqueeze(0).shape).toEqual([1]);
    expectTensorError(() => T.zeros([2, 3]).unsqueeze(3), 'unsqueeze', '3');
    expectTensorError(() => T.zeros([2, 3]).unsqueeze(-4), 'unsqueeze', '-4');
  });

  it('views share data but not identity', async () => {
    const x = iota([2, 3]);
    const y = x.reshape([3, 2]);
    expect(y).not.toBe(x);
    x.dispose();
    // The view keeps the buffer alive.
    await expectExact(y, 'float32', [3, 2], [0, 1, 2, 3, 4, 5]);
  });
});

describeBackends('permute / transpose / expand', () => {
  it('permute moves every element to the permuted index', async () => {
    const shape = [2, 3, 4, 5];
    const x = nd(shape, 1);
    const perms = [
      [0, 1, 2, 3],
      [3, 2, 1, 0],
      [1, 0, 3, 2],
      [2, 0, 3, 1],
      [0, 2, 1, 3],
      [-1, 0, -3, 2],
    ];
    for (const p of perms) {
      const pp = p.map((a) => (a + 4) % 4);
      const want = ndFrom(
        pp.map((a) => shape[a] as number),
        (idx) => {
          const src = new Array<number>(4);
          pp.forEach((a, k) => {
            src[a] = idx[k] as number;
          });
          return at(x, src);
        },
      );
      await expectTensor(t(x).permute(p), want, { ...EXACT, what: `permute ${p}` });
    }
    expectTensorError(() => t(x).permute([0, 1, 2]), 'permute', '3', '[2, 3, 4, 5]');
    expectTensorError(() => t(x).permute([0, 0, 1, 2]), 'permute', 'repeated');
    expectTensorError(() => t(x).permute([0, 1, 2, 4]), 'permute', '4');
  });

  it('transpose swaps two axes (the last two by default)', async () => {
    const x = nd([2, 3, 4], 2);
    const want = ndFrom([2, 4, 3], ([a, b, c]) => at(x, [a as number, c as number, b as number]));
    await expectTensor(t(x).transpose(), want, EXACT);
    await expectTensor(t(x).transpose(1, 2), want, EXACT);
    await expectTensor(t(x).transpose(-1, -2), want, EXACT);
    const want02 = ndFrom([4, 3, 2], ([a, b, c]) => at(x, [c as number, b as number, a as number]));
    await expectTensor(t(x).transpose(0, 2), want02, EXACT);
    expect(T.zeros([5]).transpose().shape).toEqual([5]);
  });

  it('expand broadcasts size-1 and new leading axes; -1 keeps a size', async () => {
    const x = nd([3, 1], 3);
    for (const target of [
      [3, 4],
      [2, 3, 4],
      [2, 3, 1],
      [3, 1],
      [0, 3, 5],
    ]) {
      await expectTensor(
        t(x).expand(target),
        ndFrom(target, (idx) => broadcastRead(x, idx)),
        EXACT,
      );
    }
    expect(t(x).expand([2, -1, 4]).shape).toEqual([2, 3, 4]);
    expect(T.broadcastTo(t(x), [3, 4]).shape).toEqual([3, 4]);
    expectTensorError(() => t(x).expand([4, 4]), 'expand', '[3, 1]', '[4, 4]');
    expectTensorError(() => t(x).expand([4]), 'expand', '[3, 1]', '[4]');
  });
});

describeBackends('slice', () => {
  it('matches Python slice semantics for every start/end/step combination', async () => {
    const n = 6;
    const x = nd([3, n, 2], 4);
    const bounds = [undefined, -8, -6, -3, -1, 0, 1, 3, 5, 6, 9];
    for (const step of [1, 2, 3, -1, -2, -4, 7, -7]) {
      for (const start of bounds) {
        for (const end of bounds) {
          const idx = sliceIndices(n, start, end, step);
          const want = ndFrom([3, idx.length, 2], ([a, b, c]) =>
            at(x, [a as number, idx[b as number] as number, c as number]),
          );
          await expectTensor(t(x).slice(1, start, end, step), want, {
            ...EXACT,
            what: `slice(1, ${start}, ${end}, ${step})`,
          });
        }
      }
    }
  });

  it('slices along any axis (negative axes too) and narrow()', async () => {
    const x = iota([4, 5]);
    await expectExact(x.slice(0, 1, 3), 'float32', [2, 5], [5, 6, 7, 8, 9, 10, 11, 12, 13, 14]);
    await expectExact(x.slice(-1, 1, 3), 'float32', [4, 2], [1, 2, 6, 7, 11, 12, 16, 17]);
    await expectExact(x.narrow(1, 2, 2), 'float32', [4, 2], [2, 3, 7, 8, 12, 13, 17, 18]);
    await expectExact(
      x.slice(0, undefined, undefined, -1).slice(1, 0, 1),
      'float32',
      [4, 1],
      [15, 10, 5, 0],
    );
  });

  it('rejects a zero or fractional step and a bad axis', async () => {
    expectTensorError(() => iota([3]).slice(0, 0, 3, 0), 'slice', 'step', '0');
    expectTensorError(() => iota([3]).slice(0, 0, 3, 1.5), 'slice', '1.5');
    expectTensorError(() => iota([3]).slice(1, 0, 1), 'slice', 'axis 1');
    // A scalar has no axis to slice (rather than a tensor of shape [NaN]).
    expectTensorError(() => tensor(1).slice(0, 0, 1), 'slice', 'scalar');
    expectTensorError(() => tensor(1).split(1), 'split', 'scalar');
  });
});

describeBackends('flip', () => {
  it('reverses the named axes', async () => {
    const x = nd([2, 3, 4], 5);
    for (const axes of [[0], [1], [2], [0, 2], [-1, 0], [0, 1, 2]]) {
      const set = new Set(axes.map((a) => (a + 3) % 3));
      const want = ndFrom([2, 3, 4], (idx) =>
        at(
          x,
          idx.map((v, k) => (set.has(k) ? [2, 3, 4][k]! - 1 - v : v)),
        ),
      );
      await expectTensor(t(x).flip(axes), want, { ...EXACT, what: `flip ${axes}` });
    }
    await expectExact(iota([3]).flip(0), 'float32', [3], [2, 1, 0]);
    await expectExact(iota([3], 'int32').flip(-1), 'int32', [3], [2, 1, 0]);
    expect(T.zeros([0, 2]).flip(0).shape).toEqual([0, 2]);
    expectTensorError(() => iota([3]).flip([0, 0]), 'flip', 'repeated');
  });
});

describeBackends('pad', () => {
  it('pads with a constant, listed from the first axis', async () => {
    const x = iota([2, 3]);
    await expectExact(
      x.pad([
        [1, 0],
        [0, 2],
      ]),
      'float32',
      [3, 5],
      [0, 0, 0, 0, 0, 0, 1, 2, 0, 0, 3, 4, 5, 0, 0],
    );
    await expectExact(x.pad([[0, 1]], -1), 'float32', [3, 3], [0, 1, 2, 3, 4, 5, -1, -1, -1]);
    await expectExact(iota([2], 'int32').pad([[2, 1]], 7), 'int32', [5], [7, 7, 0, 1, 7]);
  });

  it('negative amounts crop, also mixed with growth', async () => {
    const x = iota([4, 5]);
    const ref = (pads: [number, number][], value: number) => {
      const shape = [4, 5].map((d, k) => d + (pads[k]?.[0] ?? 0) + (pads[k]?.[1] ?? 0));
      return ndFrom(shape, (idx) => {
        const src = idx.map((v, k) => v - (pads[k]?.[0] ?? 0));
        const inside = src.every((v, k) => v >= 0 && v < [4, 5][k]!);
        return inside ? (src[0] as number) * 5 + (src[1] as number) : value;
      });
    };
    const cases: [number, number][][] = [
      [[-1, -1]],
      [
        [0, 0],
        [-2, 1],
      ],
      [
        [2, -3],
        [-1, -1],
      ],
      [
        [-4, 0],
        [0, 0],
      ],
      [
        [1, 1],
        [-5, 0],
      ],
    ];
    for (const pads of cases) {
      await expectTensor(x.pad(pads, 9), ref(pads, 9), {
        ...EXACT,
        what: `pad ${JSON.stringify(pads)}`,
      });
    }
  });

  it('cropping more than the size is an error, not a wrap-around', async () => {
    expectTensorError(() => iota([3]).pad([[0, -4]]), 'pad', '-4');
    expectTensorError(() => iota([3]).pad([[-2, -2]]), 'pad');
  });

  it('rejects too many pairs and fractional amounts', async () => {
    expectTensorError(
      () =>
        iota([3]).pad([
          [0, 0],
          [1, 1],
        ]),
      'pad',
      '2',
      'rank 1',
    );
    expectTensorError(() => iota([3]).pad([[0.5, 0]]), 'pad', '0.5');
  });
});

describeBackends('concat / stack / split', () => {
  it('concat along each axis (negative too), with empty pieces', async () => {
    const a = nd([2, 3], 1);
    const b = nd([2, 1], 2);
    const c = nd([2, 0], 3);
    const want = ndFrom([2, 4], ([i, j]) =>
      (j as number) < 3 ? at(a, [i as number, j as number]) : at(b, [i as number, 0]),
    );
    await expectTensor(T.concat([t(a), t(c), t(b)], 1), want, EXACT);
    await expectTensor(T.concat([t(a), t(b)], -1), want, EXACT);
    const d = nd([1, 3], 4);
    const want0 = ndFrom([3, 3], ([i, j]) =>
      (i as number) < 2 ? at(a, [i as number, j as number]) : at(d, [0, j as number]),
    );
    await expectTensor(T.concat([t(a), t(d)]), want0, EXACT);
    await expectExact(T.concat([iota([2], 'int32'), iota([1], 'int32')]), 'int32', [3], [0, 1, 0]);
  });

  it('concat errors: shapes, dtypes, rank 0, nothing', async () => {
    expectTensorError(
      () => T.concat([T.zeros([2, 3]), T.zeros([3, 3])], 1),
      'concat',
      '[2, 3]',
      '[3, 3]',
    );
    expectTensorError(() => T.concat([T.zeros([2, 3]), T.zeros([2])], 0), 'concat', '[2]');
    expectTensorError(
      () => T.concat([T.zeros([2]), T.zeros([2], { dtype: 'int32' })]),
      'concat',
      'float32',
      'int32',
    );
    expectTensorError(() => T.concat([tensor(1), tensor(2)]), 'concat', 'stack');
    expectTensorError(() => T.concat([]), 'concat', 'at least one');
    expectTensorError(() => T.concat([T.zeros([2])], 1), 'concat', '1');
  });

  it('stack adds a new axis at any position', async () => {
    const a = nd([2, 3], 5);
    const b = nd([2, 3], 6);
    for (const axis of [0, 1, 2, -1, -3]) {
      const p = (axis + 3) % 3;
      const want = ndFrom([2, 3].toSpliced(p, 0, 2), (idx) => {
        const which = idx[p] as number;
        const rest = idx.filter((_, k) => k !== p);
        return at(which === 0 ? a : b, rest);
      });
      await expectTensor(T.stack([t(a), t(b)], axis), want, {
        ...EXACT,
        what: `stack axis ${axis}`,
      });
    }
    await expectExact(T.stack([tensor(1), tensor(2)]), 'float32', [2], [1, 2]);
    expectTensorError(() => T.stack([T.zeros([2]), T.zeros([3])]), 'stack', '[2]', '[3]');
  });

  it('split by size and by list; pieces round-trip through concat', async () => {
    const x = iota([7, 2]);
    const parts = x.split(3);
    expect(parts.map((p) => p.shape)).toEqual([
      [3, 2],
      [3, 2],
      [1, 2],
    ]);
    await expectTensor(T.concat(parts), { shape: [7, 2], data: await x.data() }, EXACT);
    const byList = x.split([2, 0, 5]);
    expect(byList.map((p) => p.shape[0])).toEqual([2, 0, 5]);
    await expectExact(byList[2] as Tensor, 'float32', [5, 2], [4, 5, 6, 7, 8, 9, 10, 11, 12, 13]);
    const cols = x.split(1, -1);
    await expectExact(cols[1] as Tensor, 'float32', [7, 1], [1, 3, 5, 7, 9, 11, 13]);
    expectTensorError(() => x.split([3, 3]), 'split', '7');
    expectTensorError(() => x.split(0), 'split', '0');
  });
});

describeBackends('tril / triu', () => {
  it('keep the band on the right side of each diagonal, batched', async () => {
    const x = nd([2, 4, 5], 7);
    for (const d of [-5, -2, -1, 0, 1, 3, 6]) {
      const lower = ndFrom([2, 4, 5], ([b, i, j]) =>
        (j as number) - (i as number) <= d ? at(x, [b as number, i as number, j as number]) : 0,
      );
      const upper = ndFrom([2, 4, 5], ([b, i, j]) =>
        (j as number) - (i as number) >= d ? at(x, [b as number, i as number, j as number]) : 0,
      );
      await expectTensor(t(x).tril(d), lower, { ...EXACT, what: `tril ${d}` });
      await expectTensor(t(x).triu(d), upper, { ...EXACT, what: `triu ${d}` });
    }
    expect(iota([3, 3], 'int32').tril().dtype).toBe('int32');
    expectTensorError(() => iota([3]).tril(), 'tril', '[3]');
    expectTensorError(() => iota([3]).triu(), 'triu', '[3]');
  });
});
