import { registerKernel } from '../../kernels.js';
import type { MatmulOp } from '../../ops/matmul.js';
import { broadcastStrides, sizeOf, stridesOf } from '../../shape.js';
import { alloc, arr } from './backend.js';
import { gemmDirect, gemmPacked, packA, packB, R } from './matmul-js.js';
import { type GemmBatch, type GemmItem, gemmEngine, gemmWasm } from './wasm/gemm.js';

/**
 * The CPU matmul kernel (every matmul-shaped op lands here: matmul with transposes and broadcast
 * batches, linear and its gradients, conv through im2col). WebAssembly SIMD where the engine has it
 * (wasm/gemm.ts), the JavaScript kernels (matmul-js.ts) for int32, for products too small to pay
 * for copying into the module's memory, and where WebAssembly is missing or turned off.
 */

/** Multiply-adds below which the JavaScript dot products win over the copies WebAssembly needs. */
const WASM_MIN_WORK = 2048;

/** Batch offsets (in elements) of each operand and the output, broadcast over the output's batch. */
function batchItems(
  aBatch: readonly number[],
  bBatch: readonly number[],
  batch: readonly number[],
  aMat: number,
  bMat: number,
  outMat: number,
): GemmItem[] {
  const aStr = broadcastStrides(aBatch, batch);
  const bStr = broadcastStrides(bBatch, batch);
  const outStr = stridesOf(batch);
  const items: GemmItem[] = [];
  const nb = sizeOf(batch);
  for (let t = 0; t < nb; t++) {
    let ia = 0;
    let ib = 0;
    let rest = t;
    for (let d = 0; d < batch.length; d++) {
      const c = Math.floor(rest / outStr[d]!);
      rest -= c * outStr[d]!;
      ia += c * aStr[d]!;
      ib += c * bStr[d]!;
    }
    items.push({ aOff: ia * aMat, bOff: ib * bMat, outOff: t * outMat });
  }
  return items;
}

registerKernel<MatmulOp>('matmul', 'cpu', (_b, [A, B], { transA, transB }, [o]) => {
  const ra = A.shape.length;
  const m = o.shape[o.shape.length - 2]!;
  const n = o.shape[o.shape.length - 1]!;
  const k = A.shape[transA ? ra - 2 : ra - 1]!;
  const out = alloc(o.dtype, sizeOf(o.shape));
  const batchShape = o.shape.slice(0, -2);
  if (m === 0 || n === 0 || sizeOf(batchShape) === 0) return [out];
  const items = batchItems(
    A.shape.slice(0, -2),
    B.shape.slice(0, -2),
    batchShape,
    m * k,
    k * n,
    m * n,
  );
  const srcA = arr(A);
  const srcB = arr(B);
  // int32 stays in JavaScript: float32 arithmetic would round above 2^24.
  const engine = o.dtype === 'float32' && m * k * n >= WASM_MIN_WORK ? gemmEngine() : null;
  const batch: GemmBatch = { a: srcA, transA, b: srcB, transB, out, m, k, n, items };
  if (!engine || !gemmWasm(engine, batch)) matmulJs(batch, o.dtype === 'int32');
  return [out];
});

function matmulJs(batch: GemmBatch, int32: boolean): void {
  const { a: srcA, transA, b: srcB, transB, out, m, k, n, items } = batch;
  // int32 takes the direct path too: the packed panels are float32 and would round above 2^24.
  const small = m < R || m * k * n < 32768 || int32;
  const ap = new Float32Array(small ? 0 : Math.ceil(m / R) * R * k);
  const bp = new Float32Array(small ? 0 : Math.ceil(n / R) * R * k);
  let lastA = -1;
  let lastB = -1;
  for (const { aOff, bOff, outOff } of items) {
    if (small) {
      gemmDirect(srcA, aOff, transA, srcB, bOff, transB, out, outOff, m, k, n);
      continue;
    }
    // A broadcast operand is packed once and reused.
    if (aOff !== lastA) packA(srcA, aOff, transA, m, k, ap);
    if (bOff !== lastB) packB(srcB, bOff, transB, k, n, bp);
    lastA = aOff;
    lastB = bOff;
    gemmPacked(ap, bp, out, outOff, m, k, n);
  }
}
