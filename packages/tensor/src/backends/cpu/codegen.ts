import type { TypedArray } from '../../dtype.js';
import { broadcastStrides, collapseAxes, sizeOf } from '../../shape.js';

/**
 * Elementwise loops are generated as source per expression, so the hot loop calls no function per
 * element (one generated function serves every shape; broadcasting is done with per-input strides).
 * Inputs are named x (unary), a b (binary) or c a b (where); `pre` may declare locals per element.
 */
export interface Expr {
  readonly expr: string;
  readonly pre?: string;
}

type Loop = (out: TypedArray, ins: TypedArray[], shape: number[], strides: number[][]) => void;

const NAMES = [['x'], ['a', 'b'], ['c', 'a', 'b']];
// Keyed by the Expr object: kernels pass the same constant object on every call.
const cache = new WeakMap<Expr, { flat: Loop; strided: Loop }>();

function compile(arity: number, e: Expr): { flat: Loop; strided: Loop } {
  const hit = cache.get(e);
  if (hit) return hit;
  const names = NAMES[arity - 1]!;
  const ids = names.map((_, i) => i);
  const head = ids.map((i) => `const in${i} = ins[${i}];`).join('\n');
  const flat = `${head}
    const n = out.length;
    for (let i = 0; i < n; i++) {
      ${names.map((v, i) => `const ${v} = in${i}[i];`).join(' ')}
      ${e.pre ?? ''}
      out[i] = ${e.expr};
    }`;
  const strided = `${head}
    const n = out.length;
    const rank = shape.length;
    const inner = shape[rank - 1];
    ${ids.map((i) => `const st${i} = strides[${i}]; const last${i} = st${i}[rank - 1];`).join('\n')}
    const idx = new Int32Array(rank);
    for (let base = 0; base < n; base += inner) {
      ${ids.map((i) => `let p${i} = 0;`).join(' ')}
      for (let k = 0; k < rank - 1; k++) {
        const ik = idx[k];
        ${ids.map((i) => `p${i} += ik * st${i}[k];`).join(' ')}
      }
      for (let j = 0; j < inner; j++) {
        ${names.map((v, i) => `const ${v} = in${i}[p${i}];`).join(' ')}
        ${e.pre ?? ''}
        out[base + j] = ${e.expr};
        ${ids.map((i) => `p${i} += last${i};`).join(' ')}
      }
      for (let k = rank - 2; k >= 0; k--) {
        if (++idx[k] < shape[k]) break;
        idx[k] = 0;
      }
    }`;
  const loops = {
    flat: new Function('out', 'ins', 'shape', 'strides', flat) as Loop,
    strided: new Function('out', 'ins', 'shape', 'strides', strided) as Loop,
  };
  cache.set(e, loops);
  return loops;
}

/** collapseAxes, with rank 0 read as one element (the strided loop wants an inner axis). */
function collapsed(shape: number[], strides: number[][]): [number[], number[][]] {
  const [s, st] = collapseAxes(shape, strides);
  return s.length === 0 ? [[1], strides.map(() => [0])] : [s, st];
}

/** Runs `e` over inputs broadcast to `outShape`, writing `out` (dense, row-major). */
export function elementwise(
  e: Expr,
  out: TypedArray,
  ins: { data: TypedArray; shape: readonly number[] }[],
  outShape: readonly number[],
): void {
  if (sizeOf(outShape) === 0) return;
  const loops = compile(ins.length, e);
  const data = ins.map((x) => x.data);
  if (ins.every((x) => x.data.length === out.length)) {
    loops.flat(out, data, [], []);
    return;
  }
  const [shape, strides] = collapsed(
    outShape.slice(),
    ins.map((x) => broadcastStrides(x.shape, outShape)),
  );
  loops.strided(out, data, shape, strides);
}
