import { type nn, noGrad, type StreamState, stack, type Tensor } from '@recur/tensor';
import { expect } from 'vitest';

/** A linear map's weights as float64 arrays. */
export interface Lin {
  w: number[][];
  b: number[];
}

export function lin(l: nn.Linear): Lin {
  const w = l.weight.arraySync() as number[][];
  return { w, b: (l.bias?.arraySync() as number[] | undefined) ?? new Array(w.length).fill(0) };
}

export function apply(p: Lin, x: readonly number[]): number[] {
  return p.w.map((row, i) =>
    row.reduce((s, wij, j) => s + wij * (x[j] as number), p.b[i] as number),
  );
}

export interface NaiveAft {
  wq: Lin;
  wk: Lin;
  wv: Lin;
  wo: Lin;
  /** The key column channel c uses (c itself for per-channel keys, its head for AFT-conv). */
  keyOf: (c: number) => number;
  /** w_{t,t'} as seen by channel c (0 where no bias is learned). */
  bias: (t: number, tp: number, c: number) => number;
  /** Which t' token t sees. */
  visible: (t: number, tp: number) => boolean;
}

/**
 * The literal AFT definition of MATH.md §5 in float64, with explicit loops over t, t' and channels:
 * Y_t = σ(Q_t) ⊙ Σ_{t'} exp(K_{t'} + w_{t,t'}) V_{t'} / Σ_{t'} exp(K_{t'} + w_{t,t'}), then W_O.
 * Exponents are shifted by their exact maximum per (t, channel), so the reference itself is exact.
 * x is [B][T][d]; returns [B][T][d].
 */
export function naiveAft(m: NaiveAft, x: number[][][]): number[][][] {
  return x.map((seq) => {
    const q = seq.map((xt) => apply(m.wq, xt));
    const k = seq.map((xt) => apply(m.wk, xt));
    const v = seq.map((xt) => apply(m.wv, xt));
    const T = seq.length;
    const d = q[0]!.length;
    return q.map((qt, t) => {
      const y: number[] = [];
      for (let c = 0; c < d; c++) {
        const kc = m.keyOf(c);
        const e: number[] = [];
        const vs: number[] = [];
        for (let tp = 0; tp < T; tp++) {
          if (!m.visible(t, tp)) continue;
          e.push(k[tp]![kc]! + m.bias(t, tp, c));
          vs.push(v[tp]![c]!);
        }
        const mx = Math.max(...e);
        let num = 0;
        let den = 0;
        e.forEach((s, i) => {
          const a = Math.exp(s - mx);
          num += a * vs[i]!;
          den += a;
        });
        y.push((1 / (1 + Math.exp(-qt[c]!))) * (num / den));
      }
      return apply(m.wo, y);
    });
  });
}

export const causalMask = (t: number, tp: number) => tp <= t;
export const everything = () => true;

/** max |a − b| / (1 + |b|) over nested arrays of equal shape. */
export function relErr(a: Tensor, ref: number[][][]): number {
  const y = a.arraySync() as number[][][];
  expect(y.length).toBe(ref.length);
  let err = 0;
  ref.forEach((rb, b) => {
    rb.forEach((rt, t) => {
      rt.forEach((r, j) => {
        const got = y[b]![t]![j]!;
        err = Math.max(
          err,
          Number.isFinite(got) ? Math.abs(got - r) / (1 + Math.abs(r)) : Infinity,
        );
      });
    });
  });
  return err;
}

export function maxAbsDiff(a: Tensor, b: Tensor): number {
  expect(a.shape).toEqual(b.shape);
  return a.sub(b).abs().max().item();
}

/** Runs `step` over every token of x [B, T, d], returning the stacked outputs and the last state. */
export function streamAll(
  m: {
    initState(b: number): StreamState;
    step(x: Tensor, s: StreamState): { y: Tensor; state: StreamState };
  },
  x: Tensor,
): { y: Tensor; state: StreamState } {
  let state = m.initState(x.shape[0] as number);
  const ys: Tensor[] = [];
  for (let t = 0; t < (x.shape[1] as number); t++) {
    const out = m.step(x.slice(1, t, t + 1).squeeze(1), state);
    ys.push(out.y);
    state = out.state;
  }
  return { y: stack(ys, 1), state };
}

/** Multiplies a parameter in place (no autograd). */
export function scaleParam(p: Tensor, by: number): void {
  noGrad(() => p.assign(p.mul(by)));
}

/** Replaces a parameter's values in place (no autograd). */
export function setParam(p: Tensor, value: Tensor): void {
  noGrad(() => p.assign(value.reshape(p.shape)));
}

/** Every entry finite? */
export function allFinite(t: Tensor): boolean {
  return t.size === 0 || t.isfinite().min().item() === 1;
}
