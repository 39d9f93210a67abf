/**
 * The WGSL combines of the built-in operators: each descriptor's `wgsl` field, and what the WebGPU
 * kernels are generated from. Each defines `struct Elem` (32-bit scalar fields, one per tuple member
 * in member order), `fn identity() -> Elem` and `fn combine(a: Elem, b: Elem) -> Elem` (a before b),
 * and may use the prelude's helpers (inf, nan, is_nan, is_neg_inf, exp_diff, log1p_; see engine.ts).
 * They follow the CPU kernels' arithmetic (kernels/cpu.ts) step for step, including NaN and −inf.
 */

/** Addition (the scan is cumsum). */
export const ADD_WGSL = `
struct Elem { v: f32 }
fn identity() -> Elem { return Elem(0.0); }
fn combine(a: Elem, b: Elem) -> Elem { return Elem(a.v + b.v); }
`;

/** Maximum, NaN propagating. */
export const MAX_WGSL = `
struct Elem { v: f32 }
fn identity() -> Elem { return Elem(-inf()); }
fn combine(a: Elem, b: Elem) -> Elem {
  if (is_nan(a.v) || is_nan(b.v)) { return Elem(nan()); }
  return Elem(max(a.v, b.v));
}
`;

/** log(eᵃ + eᵇ): −inf on both sides gives −inf, NaN propagates. */
export const LOGADDEXP_WGSL = `
struct Elem { v: f32 }
fn identity() -> Elem { return Elem(-inf()); }
fn combine(a: Elem, b: Elem) -> Elem {
  if (is_nan(a.v) || is_nan(b.v)) { return Elem(nan()); }
  let hi = max(a.v, b.v);
  let lo = min(a.v, b.v);
  if (is_neg_inf(hi)) { return Elem(hi); }
  return Elem(hi + log1p_(exp_diff(lo, hi)));
}
`;

/** (a₁, b₁) ⊕ (a₂, b₂) = (a₁a₂, a₂b₁ + b₂): h_t = a_t h_{t−1} + b_t. */
export const LINEAR_RECURRENCE_WGSL = `
struct Elem { a: f32, b: f32 }
fn identity() -> Elem { return Elem(1.0, 0.0); }
fn combine(x: Elem, y: Elem) -> Elem { return Elem(x.a * y.a, y.a * x.b + y.b); }
`;

/**
 * The attention triple (m, u, w) of MATH.md §2, per channel: for one score per position (c = 1) the
 * kernels run it once per value channel with m and u shared. As the CPU kernel: the side whose max
 * is lower is rescaled by e^{m_low − m} (an explicit 0 when m_low = −inf), the other kept as is; a
 * NaN score (b.m) leaves m alone and makes u and w NaN; a NaN carry (a.m) sticks in m.
 */
export const ATTENTION_WGSL = `
struct Elem { m: f32, u: f32, w: f32 }
fn identity() -> Elem { return Elem(-inf(), 0.0, 0.0); }
fn combine(a: Elem, b: Elem) -> Elem {
  if (!is_nan(a.m) && !is_nan(b.m) && b.m > a.m) {
    let ca = exp_diff(a.m, b.m);
    return Elem(b.m, a.u * ca + b.u, a.w * ca + b.w);
  }
  let cb = exp_diff(b.m, a.m);
  return Elem(a.m, a.u + b.u * cb, a.w + b.w * cb);
}
`;

/**
 * The backward passes' reverse recurrence Z_t = dX_t + f_t Z_{t+1} over two channels sharing one
 * factor (attention: ZU and ZW with f_t = e^{M_t − M_{t+1}}; linear recurrence: gH and gA with
 * f_t = a_{t+1}): a linear-recurrence scan over (f, z₁, z₂), run in reverse.
 */
export const REVERSE_PAIR_WGSL = `
struct Elem { a: f32, u: f32, w: f32 }
fn identity() -> Elem { return Elem(1.0, 0.0, 0.0); }
fn combine(x: Elem, y: Elem) -> Elem { return Elem(x.a * y.a, x.u * y.a + y.u, x.w * y.a + y.w); }
`;
