// Test helpers: float64 reference formulas written from the papers' equations (never from the code
// under test), and a finite-difference gradient check.
import { type StreamState, stack, type Tensor } from '@recur/tensor';
import { expect } from 'vitest';

export type Vec = number[];
export type Mat = number[][];

export function maxAbsDiff(a: Tensor, b: Tensor): number {
  expect(a.shape).toEqual(b.shape);
  return a.sub(b).abs().max().item();
}

/** The largest |ref − got| / (1 + |ref|) over a nested [B][T][d] array. */
export function maxRelErr(ref: number[][][], got: Tensor): number {
  const y = got.arraySync() as number[][][];
  expect(got.shape).toEqual([ref.length, ref[0]!.length, ref[0]![0]!.length]);
  let err = 0;
  ref.forEach((rb, b) => {
    rb.forEach((rt, t) => {
      rt.forEach((v, j) => {
        err = Math.max(err, Math.abs(v - y[b]![t]![j]!) / (1 + Math.abs(v)));
      });
    });
  });
  return err;
}

/** Runs `step` over every token of x [B, T, d], returning the stacked outputs and the last state. */
export function streamAll(
  m: {
    initState(b: number): StreamState;
    step(x: Tensor, s: StreamState): { y: Tensor; state: StreamState };
  },
  x: Tensor,
  state?: StreamState,
): { y: Tensor; state: StreamState } {
  let s = state ?? m.initState(x.shape[0] as number);
  const ys: Tensor[] = [];
  for (let t = 0; t < (x.shape[1] as number); t++) {
    const out = m.step(x.slice(1, t, t + 1).squeeze(1), s);
    ys.push(out.y);
    s = out.state;
  }
  return { y: stack(ys, 1), state: s };
}

// ---- float64 linear algebra -----------------------------------------------------------------

/** W x + b with W [out][in]. */
export function affine(w: Mat, b: Vec | null, x: Vec): Vec {
  return w.map((row, i) => row.reduce((s, wij, j) => s + wij * x[j]!, b ? b[i]! : 0));
}

export const sigmoid = (v: number): number => 1 / (1 + Math.exp(-v));
export const add = (a: Vec, b: Vec): Vec => a.map((v, i) => v + b[i]!);
export const mulv = (a: Vec, b: Vec): Vec => a.map((v, i) => v * b[i]!);

export function linearParams(l: { weight: Tensor; bias: Tensor | null }): {
  w: Mat;
  b: Vec | null;
} {
  return {
    w: l.weight.arraySync() as Mat,
    b: l.bias ? (l.bias.arraySync() as Vec) : null,
  };
}

export interface AttentionWeights {
  wq: { w: Mat; b: Vec | null };
  wk: { w: Mat; b: Vec | null };
  wv: { w: Mat; b: Vec | null };
  wo: { w: Mat; b: Vec | null };
  nHeads: number;
}

export function attentionWeights(layer: {
  wq: { weight: Tensor; bias: Tensor | null };
  wk: { weight: Tensor; bias: Tensor | null };
  wv: { weight: Tensor; bias: Tensor | null };
  wo: { weight: Tensor; bias: Tensor | null };
  nHeads: number;
}): AttentionWeights {
  return {
    wq: linearParams(layer.wq),
    wk: linearParams(layer.wk),
    wv: linearParams(layer.wv),
    wo: linearParams(layer.wo),
    nHeads: layer.nHeads,
  };
}

/**
 * Softmax multi-head self-attention in float64 loops: for query t and head h, scores
 * s_i = <q_t^h, k_i^h> / √d_h over i ≤ t (causal) or all i, softmax with its max subtracted, then
 * Σ α_i v_i^h; heads concatenated and projected by W_o.
 */
export function naiveSoftmaxAttention(p: AttentionWeights, xs: number[][][], causal: boolean) {
  const H = p.nHeads;
  return xs.map((seq) => {
    const d = seq[0]!.length;
    const dh = d / H;
    const q = seq.map((x) => affine(p.wq.w, p.wq.b, x));
    const k = seq.map((x) => affine(p.wk.w, p.wk.b, x));
    const v = seq.map((x) => affine(p.wv.w, p.wv.b, x));
    return seq.map((_, t) => {
      const cat: Vec = [];
      const visible = causal ? t + 1 : seq.length;
      for (let h = 0; h < H; h++) {
        const s: Vec = [];
        for (let i = 0; i < visible; i++) {
          let acc = 0;
          for (let j = 0; j < dh; j++) acc += q[t]![h * dh + j]! * k[i]![h * dh + j]!;
          s.push(acc / Math.sqrt(dh));
        }
        const m = Math.max(...s);
        const e = s.map((si) => Math.exp(si - m));
        const z = e.reduce((a, b) => a + b, 0);
        for (let j = 0; j < dh; j++) {
          let acc = 0;
          for (let i = 0; i < visible; i++) acc += e[i]! * v[i]![h * dh + j]!;
          cat.push(acc / z);
        }
      }
      return affine(p.wo.w, p.wo.b, cat);
    });
  });
}

/** The largest minus the smallest attention score the layer computes on x (all heads, all pairs). */
export function scoreSpread(p: AttentionWeights, xs: number[][][]): number {
  let lo = Number.POSITIVE_INFINITY;
  let hi = Number.NEGATIVE_INFINITY;
  for (const seq of xs) {
    const d = seq[0]!.length;
    const dh = d / p.nHeads;
    const q = seq.map((x) => affine(p.wq.w, p.wq.b, x));
    const k = seq.map((x) => affine(p.wk.w, p.wk.b, x));
    for (const qt of q)
      for (const ki of k)
        for (let h = 0; h < p.nHeads; h++) {
          let acc = 0;
          for (let j = 0; j < dh; j++) acc += qt[h * dh + j]! * ki[h * dh + j]!;
          lo = Math.min(lo, acc / Math.sqrt(dh));
          hi = Math.max(hi, acc / Math.sqrt(dh));
        }
  }
  return hi - lo;
}

/**
 * Linear attention (Katharopoulos et al. 2020) in float64: φ(x) = elu(x) + 1,
 * y_t^h = Σ_{i ≤ t} (φ(q_t)·φ(k_i)) v_i / (Σ_{i ≤ t} φ(q_t)·φ(k_i) + eps).
 */
export function naiveLinearAttention(
  p: AttentionWeights,
  xs: number[][][],
  causal: boolean,
  eps: number,
) {
  const phi = (v: number) => (v > 0 ? v + 1 : Math.exp(v));
  const H = p.nHeads;
  return xs.map((seq) => {
    const d = seq[0]!.length;
    const dh = d / H;
    const q = seq.map((x) => affine(p.wq.w, p.wq.b, x).map(phi));
    const k = seq.map((x) => affine(p.wk.w, p.wk.b, x).map(phi));
    const v = seq.map((x) => affine(p.wv.w, p.wv.b, x));
    return seq.map((_, t) => {
      const cat: Vec = [];
      const visible = causal ? t + 1 : seq.length;
      for (let h = 0; h < H; h++) {
        const a: Vec = [];
        for (let i = 0; i < visible; i++) {
          let acc = 0;
          for (let j = 0; j < dh; j++) acc += q[t]![h * dh + j]! * k[i]![h * dh + j]!;
          a.push(acc);
        }
        const z = a.reduce((s, ai) => s + ai, 0) + eps;
        for (let j = 0; j < dh; j++) {
          let acc = 0;
          for (let i = 0; i < visible; i++) acc += a[i]! * v[i]![h * dh + j]!;
          cat.push(acc / z);
        }
      }
      return affine(p.wo.w, p.wo.b, cat);
    });
  });
}

// ---- recurrent networks ---------------------------------------------------------------------

export interface RnnLayerRef {
  wih: Mat;
  whh: Mat;
  bih: Vec | null;
  bhh: Vec | null;
}

/** Reads PyTorch-named parameters (weight_ih_l0, …) from a record of tensors. */
export function rnnLayersFrom(record: Record<string, Tensor>, numLayers: number): RnnLayerRef[] {
  return Array.from({ length: numLayers }, (_, l) => ({
    wih: record[`weight_ih_l${l}`]!.arraySync() as Mat,
    whh: record[`weight_hh_l${l}`]!.arraySync() as Mat,
    bih: record[`bias_ih_l${l}`] ? (record[`bias_ih_l${l}`]!.arraySync() as Vec) : null,
    bhh: record[`bias_hh_l${l}`] ? (record[`bias_hh_l${l}`]!.arraySync() as Vec) : null,
  }));
}

/** Rows [g·H, (g+1)·H) of W x + b: gate g of a gate-stacked product. */
function gate(w: Mat, b: Vec | null, x: Vec, g: number, H: number): Vec {
  const rows = w.slice(g * H, (g + 1) * H);
  return affine(rows, b ? b.slice(g * H, (g + 1) * H) : null, x);
}

/**
 * PyTorch's LSTM, written from its documentation: gates i, f, g, o stacked in that order;
 * c' = f c + i g, h' = o tanh(c'). h0, c0: [layers][B][H]. Returns outputs [B][T][H] and h_n, c_n.
 */
export function naiveLSTM(
  layers: RnnLayerRef[],
  xs: number[][][],
  h0: number[][][],
  c0: number[][][],
) {
  const H = layers[0]!.whh[0]!.length;
  let seqs = xs;
  const hn: number[][][] = [];
  const cn: number[][][] = [];
  layers.forEach((L, l) => {
    const hl: number[][] = [];
    const cl: number[][] = [];
    seqs = seqs.map((seq, b) => {
      let h = h0[l]![b]!;
      let c = c0[l]![b]!;
      const out = seq.map((x) => {
        const pre = (g: number) => add(gate(L.wih, L.bih, x, g, H), gate(L.whh, L.bhh, h, g, H));
        const i = pre(0).map(sigmoid);
        const f = pre(1).map(sigmoid);
        const g = pre(2).map(Math.tanh);
        const o = pre(3).map(sigmoid);
        c = add(mulv(f, c), mulv(i, g));
        h = mulv(o, c.map(Math.tanh));
        return h;
      });
      hl.push(h);
      cl.push(c);
      return out;
    });
    hn.push(hl);
    cn.push(cl);
  });
  return { out: seqs, h: hn, c: cn };
}

/**
 * PyTorch's GRU, written from its documentation: gates r, z, n stacked in that order;
 * n = tanh(W_in x + b_in + r (W_hn h + b_hn)), h' = (1 − z) n + z h.
 */
export function naiveGRU(
  layers: RnnLayerRef[],
  xs: number[][][],
  h0: number[][][],
  /** 'reset-before' is the other GRU (Cho et al. 2014): n = tanh(W_in x + b_in + W_hn (r h) + b_hn). */
  variant: 'torch' | 'reset-before' = 'torch',
) {
  const H = layers[0]!.whh[0]!.length;
  let seqs = xs;
  const hn: number[][][] = [];
  layers.forEach((L, l) => {
    const hl: number[][] = [];
    seqs = seqs.map((seq, b) => {
      let h = h0[l]![b]!;
      const out = seq.map((x) => {
        const r = add(gate(L.wih, L.bih, x, 0, H), gate(L.whh, L.bhh, h, 0, H)).map(sigmoid);
        const z = add(gate(L.wih, L.bih, x, 1, H), gate(L.whh, L.bhh, h, 1, H)).map(sigmoid);
        const hnPart =
          variant === 'torch'
            ? mulv(r, gate(L.whh, L.bhh, h, 2, H))
            : gate(L.whh, L.bhh, mulv(r, h), 2, H);
        const n = add(gate(L.wih, L.bih, x, 2, H), hnPart).map(Math.tanh);
        const prev = h;
        h = n.map((nj, j) => (1 - z[j]!) * nj + z[j]! * prev[j]!);
        return h;
      });
      hl.push(h);
      return out;
    });
    hn.push(hl);
  });
  return { out: seqs, h: hn };
}

// ---- gradients ------------------------------------------------------------------------------

// ---- Transformer block ------------------------------------------------------------------------

/** LayerNorm over one vector: (v − mean) / √(var + eps) · w + b with the population variance. */
export function layerNorm(v: Vec, w: Vec, b: Vec, eps = 1e-5): Vec {
  const mean = v.reduce((s, x) => s + x, 0) / v.length;
  const variance = v.reduce((s, x) => s + (x - mean) ** 2, 0) / v.length;
  return v.map((x, i) => ((x - mean) / Math.sqrt(variance + eps)) * w[i]! + b[i]!);
}

export interface BlockLike {
  norm1: { weight: Tensor | null; bias: Tensor | null };
  norm2: { weight: Tensor | null; bias: Tensor | null };
  ff1: { weight: Tensor; bias: Tensor | null };
  ff2: { weight: Tensor; bias: Tensor | null };
}

/**
 * A pre-LayerNorm block in float64 (ReLU feed-forward): h = x + Attn(LN1(x)), y = h + FF(LN2(h)),
 * with `attention` the reference for the attention sublayer over a whole [B][T][d] batch.
 */
export function naiveBlock(
  block: BlockLike,
  xs: number[][][],
  attention: (normed: number[][][]) => number[][][],
): number[][][] {
  const vec = (t: Tensor | null) => t!.arraySync() as Vec;
  const ln1 = (v: Vec) => layerNorm(v, vec(block.norm1.weight), vec(block.norm1.bias));
  const ln2 = (v: Vec) => layerNorm(v, vec(block.norm2.weight), vec(block.norm2.bias));
  const f1 = linearParams(block.ff1);
  const f2 = linearParams(block.ff2);
  const att = attention(xs.map((seq) => seq.map(ln1)));
  return xs.map((seq, b) =>
    seq.map((x, t) => {
      const h = add(x, att[b]![t]!);
      const hidden = affine(f1.w, f1.b, ln2(h)).map((v) => Math.max(0, v));
      return add(h, affine(f2.w, f2.b, hidden));
    }),
  );
}
