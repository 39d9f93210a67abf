import { InferenceSession, Tensor } from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { createOrtMatmul, matmulModel } from '../bench/onnx-matmul.js';

/** Deterministic uniform values in [lo, hi) (mulberry32), so a failure reproduces. */
function randomArray(length: number, seed: number, lo = -1, hi = 1): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(length);
  for (let i = 0; i < length; i++) {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    const u = ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    out[i] = lo + (hi - lo) * u;
  }
  return out;
}

/** Reference: row-major [m,k] @ [k,n], accumulated in float64. */
function naiveMatmul(
  a: Float32Array,
  b: Float32Array,
  m: number,
  k: number,
  n: number,
): Float64Array {
  const y = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let acc = 0;
      for (let p = 0; p < k; p++) acc += (a[i * k + p] as number) * (b[p * n + j] as number);
      y[i * n + j] = acc;
    }
  }
  return y;
}

/** |got - want| <= tol * sum_p |a_ip * b_pj|, the natural float32 bound for a dot product. */
function expectClose(
  got: Float32Array,
  a: Float32Array,
  b: Float32Array,
  m: number,
  k: number,
  n: number,
  tol = 1e-5,
): void {
  const want = naiveMatmul(a, b, m, k, n);
  const absA = a.map(Math.abs);
  const absB = b.map(Math.abs);
  const scale = naiveMatmul(absA, absB, m, k, n);
  expect(got.length).toBe(m * n);
  for (let i = 0; i < m * n; i++) {
    const err = Math.abs((got[i] as number) - (want[i] as number));
    if (!(err <= tol * (scale[i] as number) + 1e-30)) {
      throw new Error(
        `Y[${Math.floor(i / n)},${i % n}] = ${got[i]}, want ${want[i]} (|err| ${err})`,
      );
    }
  }
}

describe('matmulModel', () => {
  it('returns ModelProto bytes that start with the ir_version field', () => {
    const bytes = matmulModel(3, 5, 7);
    expect(bytes).toBeInstanceOf(Uint8Array);
    // field 1 (ir_version), wire type 0 (varint) => tag byte 0x08, then the version 10
    expect(bytes[0]).toBe(0x08);
    expect(bytes[1]).toBe(10);
    expect(new TextDecoder().decode(bytes)).toContain('MatMul');
  });

  it('rejects bad sizes and opsets, naming the argument', () => {
    expect(() => matmulModel(0, 5, 7)).toThrow(/^m must be a positive integer, got 0/);
    expect(() => matmulModel(3, 2.5, 7)).toThrow(/^k must be a positive integer, got 2.5/);
    expect(() => matmulModel(3, 5, Number.NaN)).toThrow(/^n must be a positive integer, got NaN/);
    expect(() => matmulModel(3, 5, 7, 9)).toThrow(/^opset must be an integer >= 13, got 9/);
  });
});

describe('createOrtMatmul (onnxruntime-node)', () => {
  it('matches a naive triple loop for a non-square 3x5 @ 5x7', async () => {
    const [m, k, n] = [3, 5, 7];
    const a = randomArray(m * k, 1);
    const b = randomArray(k * n, 2);
    const ort = await createOrtMatmul(m, k, n);
    try {
      expectClose(await ort.run(a, b), a, b, m, k, n);
      // a second run on the same session with new data
      const a2 = randomArray(m * k, 3, -100, 100);
      expectClose(await ort.run(a2, b), a2, b, m, k, n);
    } finally {
      await ort.release();
    }
  });

  it.each([
    [1, 1, 1],
    [1, 9, 1],
    [7, 1, 5],
    [17, 33, 9],
  ])('matches the reference for %i x %i @ %i on 2 threads', async (m, k, n) => {
    const a = randomArray(m * k, 10 + m, -1e3, 1e3);
    const b = randomArray(k * n, 20 + n, -1e-3, 1e-3);
    const ort = await createOrtMatmul(m, k, n, { threads: 2 });
    try {
      expectClose(await ort.run(a, b), a, b, m, k, n);
    } finally {
      await ort.release();
    }
  });

  it.each([13, 17, 21])('runs the model written for opset %i', async (opset) => {
    const [m, k, n] = [4, 6, 2];
    const a = randomArray(m * k, 30 + opset);
    const b = randomArray(k * n, 40 + opset);
    const session = await InferenceSession.create(matmulModel(m, k, n, opset));
    try {
      expect(session.inputNames).toEqual(['A', 'B']);
      expect(session.outputNames).toEqual(['Y']);
      const out = await session.run({
        A: new Tensor('float32', a, [m, k]),
        B: new Tensor('float32', b, [k, n]),
      });
      expect(out.Y?.dims).toEqual([m, n]);
      expectClose(out.Y?.data as Float32Array, a, b, m, k, n);
    } finally {
      await session.release();
    }
  });

  it('completes a 256^3 run and agrees with the reference', async () => {
    const s = 256;
    const a = randomArray(s * s, 4);
    const b = randomArray(s * s, 5);
    const ort = await createOrtMatmul(s, s, s);
    try {
      expectClose(await ort.run(a, b), a, b, s, s, s);
    } finally {
      await ort.release();
    }
  });

  it('rejects inputs of the wrong length and use after release', async () => {
    const ort = await createOrtMatmul(3, 5, 7);
    await expect(ort.run(new Float32Array(14), new Float32Array(35))).rejects.toThrow(
      /a must have m\*k = 3\*5 = 15 elements, got 14/,
    );
    await expect(ort.run(new Float32Array(15), new Float32Array(36))).rejects.toThrow(
      /b must have k\*n = 5\*7 = 35 elements, got 36/,
    );
    await ort.release();
    await expect(ort.run(new Float32Array(15), new Float32Array(35))).rejects.toThrow(/released/);
    await ort.release(); // idempotent
  });

  it('rejects a bad thread count', async () => {
    await expect(createOrtMatmul(2, 2, 2, { threads: 0 })).rejects.toThrow(
      /threads must be a positive integer, got 0/,
    );
  });
});
