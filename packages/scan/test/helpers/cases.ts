/**
 * The operators every algorithm is tested on — the built-ins and two user-defined ones — each with
 * its float64 reference, the element shape of each tuple member, and an input generator with
 * adversarial values (−inf entries, spreads of ±50, negative factors).
 */
import {
  add,
  attention,
  defineOperator,
  linearRecurrence,
  logaddexp,
  max,
  type ScanOperator,
} from '../../src/index.js';
import {
  type Host,
  host,
  normal,
  type RefOp,
  refAdd,
  refAffine,
  refAttention,
  refLinearRecurrence,
  refLogaddexp,
  refMat2,
  refMax,
  rng,
} from './reference.js';

/** 2×2 matrix product over 4-tuples (p, q, r, s) = [[p, q], [r, s]]: associative, not commutative. */
export const mat2 = defineOperator({
  name: 'mat2',
  arity: 4,
  identity: [1, 0, 0, 1],
  combine: ([a, b, c, d], [e, f, g, h]) => {
    return [
      a.mul(e).add(b.mul(g)),
      a.mul(f).add(b.mul(h)),
      c.mul(e).add(d.mul(g)),
      c.mul(f).add(d.mul(h)),
    ];
  },
});

/**
 * Composition of affine maps x ↦ a·x + b on R^k, first then second, with a scalar scale [.., 1] and a
 * vector offset [.., k]: tuple members of different trailing sizes.
 */
export const affine = defineOperator({
  name: 'affine',
  arity: 2,
  identity: [1, 0],
  elementRanks: [1, 1],
  combine: ([a1, b1], [a2, b2]) => {
    const [A1, B1, A2, B2] = [a1, b1, a2, b2].map((x) => x as NonNullable<typeof x>) as [
      NonNullable<typeof a1>,
      NonNullable<typeof a1>,
      NonNullable<typeof a1>,
      NonNullable<typeof a1>,
    ];
    return [A1.mul(A2), A2.mul(B1).add(B2)];
  },
});

export interface OpCase {
  /** A label for test names. */
  label: string;
  op: ScanOperator;
  ref: RefOp;
  /** Trailing element shape of each member. */
  elem: number[][];
  /** A value generator per member (given a generator, the flat index and the member's values). */
  gen: ((r: () => number) => number)[];
  /** Whether a carry must be a valid state built by scanning (attention: u = w = 0 where m = −inf). */
  carryFrom?: (carry: Host[]) => Host[];
  /**
   * Maps a state to a canonical representative before comparing, where the operator has several
   * representations of one value (attention: (−inf, u, w) is the identity whatever u and w are).
   */
  canonical?: (outs: ArrayLike<number>[]) => Float64Array[];
  /** Tolerances of a float32 scan against the float64 fold. */
  rtol: number;
  atol: number;
}

const NEG_INF = Number.NEGATIVE_INFINITY;

function spread(r: () => number, width: number, pInf: number): number {
  return r() < pInf ? NEG_INF : (2 * r() - 1) * width;
}

function signedIn(r: () => number, lo: number, hi: number): number {
  return (r() < 0.5 ? -1 : 1) * (lo + (hi - lo) * r());
}

function attentionCarry(carry: Host[]): Host[] {
  const [m, u, w] = carry as [Host, Host, Host];
  const c = m.shape[m.shape.length - 1] as number;
  const d = w.shape[w.shape.length - 1] as number;
  const mm = m.data;
  return [
    m,
    { shape: u.shape, data: u.data.map((x, i) => (mm[i] === NEG_INF ? 0 : x)) },
    {
      shape: w.shape,
      data: w.data.map((x, k) => {
        const row = Math.floor(k / d);
        const j = c === 1 ? row : k;
        return mm[j] === NEG_INF ? 0 : x;
      }),
    },
  ];
}

/**
 * An attention state with m = −inf contributes nothing in any combine (its coefficient is 0), so it
 * equals the identity (−inf, 0, 0) whatever its u and w: compare with u, w zeroed there. The inclusive
 * scan's first output is the first element itself (no combine), which can be such a state.
 */
function attentionCanonical(outs: ArrayLike<number>[], c: number, d: number): Float64Array[] {
  const [m, u, w] = outs.map((x) => Float64Array.from(x)) as [
    Float64Array,
    Float64Array,
    Float64Array,
  ];
  for (let i = 0; i < m.length; i++) if (m[i] === NEG_INF) u[i] = 0;
  for (let k = 0; k < w.length; k++) {
    const row = Math.floor(k / d);
    if (m[c === 1 ? row : k] === NEG_INF) w[k] = 0;
  }
  return [m, u, w];
}

export const D = 3;

export const opCases: OpCase[] = [
  {
    label: 'add',
    op: add,
    ref: refAdd,
    elem: [[]],
    gen: [(r) => 3 * normal(r)],
    rtol: 1e-5,
    atol: 1e-5,
  },
  {
    label: 'max',
    op: max,
    ref: refMax,
    elem: [[]],
    gen: [(r) => spread(r, 10, 0.15)],
    rtol: 0,
    atol: 0,
  },
  {
    label: 'logaddexp',
    op: logaddexp,
    ref: refLogaddexp,
    elem: [[]],
    gen: [(r) => spread(r, 50, 0.15)],
    rtol: 1e-5,
    atol: 1e-5,
  },
  {
    label: 'linearRecurrence',
    op: linearRecurrence,
    ref: refLinearRecurrence,
    elem: [[], []],
    gen: [(r) => signedIn(r, 0.3, 1.1), (r) => normal(r)],
    rtol: 1e-4,
    atol: 1e-5,
  },
  {
    label: 'attention (head)',
    op: attention,
    ref: refAttention,
    elem: [[1], [1], [D]],
    gen: [(r) => spread(r, 50, 0.15), (r) => 0.5 + 1.5 * r(), (r) => normal(r)],
    carryFrom: attentionCarry,
    canonical: (outs) => attentionCanonical(outs, 1, D),
    rtol: 1e-5,
    atol: 1e-5,
  },
  {
    label: 'attention (channel)',
    op: attention,
    ref: refAttention,
    elem: [[D], [D], [D]],
    gen: [(r) => spread(r, 50, 0.15), (r) => 0.5 + 1.5 * r(), (r) => normal(r)],
    carryFrom: attentionCarry,
    canonical: (outs) => attentionCanonical(outs, D, D),
    rtol: 1e-5,
    atol: 1e-5,
  },
  {
    label: 'mat2 (user-defined)',
    op: mat2,
    ref: refMat2,
    elem: [[], [], [], []],
    gen: [0, 1, 2, 3].map(() => (r: () => number) => signedIn(r, 0.2, 0.75)),
    rtol: 1e-4,
    atol: 1e-5,
  },
  {
    label: 'affine (user-defined)',
    op: affine,
    ref: refAffine,
    elem: [[1], [D]],
    gen: [(r) => signedIn(r, 0.5, 1.05), (r) => normal(r)],
    rtol: 1e-4,
    atol: 1e-5,
  },
];

/** Values as compared: canonical where the operator has several representations of one value. */
export function canon(c: OpCase, outs: ArrayLike<number>[]): ArrayLike<number>[] {
  return c.canonical ? c.canonical(outs) : outs;
}

export function opCase(label: string): OpCase {
  const c = opCases.find((x) => x.label === label);
  if (!c) throw new Error(`no case ${label}`);
  return c;
}

/** Inputs of shape [...pre, T, ...post, ...elem_k] for every member, seeded. */
export function makeInputs(
  c: OpCase,
  pre: number[],
  T: number,
  post: number[],
  seed: number,
): Host[] {
  const r = rng(seed);
  return c.elem.map((e, k) =>
    host([...pre, T, ...post, ...e], () => (c.gen[k] as (r: () => number) => number)(r)),
  );
}

/** A carry shaped like the inputs without the axis, valid for the operator. */
export function makeCarry(c: OpCase, pre: number[], post: number[], seed: number): Host[] {
  const r = rng(seed);
  const raw = c.elem.map((e, k) =>
    host([...pre, ...post, ...e], () => (c.gen[k] as (r: () => number) => number)(r)),
  );
  return c.carryFrom ? c.carryFrom(raw) : raw;
}
