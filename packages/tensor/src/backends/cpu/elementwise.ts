import { registerKernel } from '../../kernels.js';
import type { ElementwiseOp } from '../../ops/elementwise.js';
import { sizeOf } from '../../shape.js';
import { alloc, arr } from './backend.js';
import { type Expr, elementwise } from './codegen.js';

// erf: a Taylor series near 0 (keeps relative accuracy for tiny x), Abramowitz–Stegun 7.1.26 beyond
// (absolute error < 1.5e-7, below float32 resolution at |erf| >= 0.5).
const ERF: Expr = {
  pre: `let e_; const ax_ = Math.abs(x);
    if (ax_ < 0.5) { const x2_ = x * x;
      e_ = 1.1283791670955126 * x * (1 + x2_ * (-1 / 3 + x2_ * (0.1 + x2_ * (-1 / 42 + x2_ * (1 / 216 + x2_ * (-1 / 1320)))))); }
    else { const t_ = 1 / (1 + 0.3275911 * ax_);
      const y_ = 1 - t_ * (0.254829592 + t_ * (-0.284496736 + t_ * (1.421413741 + t_ * (-1.453152027 + t_ * 1.061405429)))) * Math.exp(-x * x);
      e_ = x < 0 ? -y_ : y_; }`,
  expr: 'e_',
};

// GELU(x) = x·Φ(x) = 0.5·x·(1 + erf(x/√2)): the erf body applied to z_ = x/√2. In the negative
// tail 1 + erf(z) = erfc(−z) cancels catastrophically (erf's absolute error becomes a large relative
// one: 5e-5 at x = −3), so there it is computed directly as erfc, with the Chebyshev fit of Numerical
// Recipes (erfcc, relative error < 1.2e-7 for all arguments).
const GELU: Expr = {
  pre: `const z_ = x * 0.7071067811865476; ${ERF.pre!.replace(/\bx\b/g, 'z_')}
    let p_ = 1 + e_;
    if (z_ < -0.5) { const a_ = -z_; const u_ = 1 / (1 + 0.5 * a_);
      p_ = u_ * Math.exp(-a_ * a_ - 1.26551223 + u_ * (1.00002368 + u_ * (0.37409196 + u_ * (0.09678418 + u_ * (-0.18628806 + u_ * (0.27886807 + u_ * (-1.13520398 + u_ * (1.48851587 + u_ * (-0.82215223 + u_ * 0.17087277))))))))); }`,
  expr: '0.5 * x * p_',
};

const UNARY: Record<string, Expr> = {
  neg: { expr: '-x' },
  abs: { expr: 'Math.abs(x)' },
  sign: { expr: 'x > 0 ? 1 : x < 0 ? -1 : x' },
  exp: { expr: 'Math.exp(x)' },
  expm1: { expr: 'Math.expm1(x)' },
  log: { expr: 'Math.log(x)' },
  log1p: { expr: 'Math.log1p(x)' },
  sqrt: { expr: 'Math.sqrt(x)' },
  rsqrt: { expr: '1 / Math.sqrt(x)' },
  sin: { expr: 'Math.sin(x)' },
  cos: { expr: 'Math.cos(x)' },
  tanh: { expr: 'Math.tanh(x)' },
  erf: ERF,
  // Stable for both signs: exp never sees a large positive argument.
  sigmoid: { expr: 'x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x))' },
  relu: { expr: 'x > 0 ? x : x <= 0 ? 0 : x' },
  gelu: GELU,
  silu: { expr: 'x >= 0 ? x / (1 + Math.exp(-x)) : x * Math.exp(x) / (1 + Math.exp(x))' },
  softplus: { expr: 'x > 20 ? x : x < -20 ? Math.exp(x) : Math.log1p(Math.exp(x))' },
  square: { expr: 'x * x' },
  reciprocal: { expr: '1 / x' },
  floor: { expr: 'Math.floor(x)' },
  ceil: { expr: 'Math.ceil(x)' },
  round: { pre: 'const r_ = Math.round(x);', expr: 'r_ - x === 0.5 && r_ % 2 !== 0 ? r_ - 1 : r_' },
  isnan: { expr: 'x !== x ? 1 : 0' },
  isfinite: { expr: 'x - x === 0 ? 1 : 0' },
};
const BINARY: Record<string, Expr> = {
  add: { expr: 'a + b' },
  sub: { expr: 'a - b' },
  mul: { expr: 'a * b' },
  div: { expr: 'a / b' },
  pow: { expr: 'Math.pow(a, b)' },
  // NaN in either operand propagates.
  maximum: { expr: 'a !== a || a > b ? a : b' },
  minimum: { expr: 'a !== a || a < b ? a : b' },
  eq: { expr: 'a === b ? 1 : 0' },
  ne: { expr: 'a !== b ? 1 : 0' },
  lt: { expr: 'a < b ? 1 : 0' },
  le: { expr: 'a <= b ? 1 : 0' },
  gt: { expr: 'a > b ? 1 : 0' },
  ge: { expr: 'a >= b ? 1 : 0' },
  // GELU's backward in one pass, dy · (Φ(x) + x·φ(x)) with a = dy, b = x (GELU's Φ, erfc tail too).
  geluGrad: {
    pre: GELU.pre!.replace(/\bx\b/g, 'b'),
    expr: 'a * (0.5 * p_ + b * 0.3989422804014327 * Math.exp(-0.5 * b * b))',
  },
};

function register(name: string, e: Expr): void {
  registerKernel<ElementwiseOp>(name, 'cpu', (_b, inputs, _attrs, [o]) => {
    const out = alloc(o.dtype, sizeOf(o.shape));
    elementwise(
      e,
      out,
      inputs.map((x) => ({ data: arr(x), shape: x.shape })),
      o.shape,
    );
    return [out];
  });
}

for (const [name, e] of Object.entries(UNARY)) register(name, e);
for (const [name, e] of Object.entries(BINARY)) register(name, e);
register('where', { expr: 'c !== 0 ? a : b' });
// float → int32 truncates toward zero (the Int32Array store does it); NaN becomes 0.
register('cast', { expr: 'x' });
