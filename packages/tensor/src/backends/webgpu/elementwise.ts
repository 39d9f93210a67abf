import type { DType } from '../../dtype.js';
import { COMMON_WGSL, convert, output, runProgram, wt } from '../../kernel-kit/webgpu.js';
import { registerKernel } from '../../kernels.js';
import type { ElementwiseOp } from '../../ops/elementwise.js';
import { broadcastStrides, collapseAxes, sizeOf, stridesOf } from '../../shape.js';
import { bufOf, gpuOf } from './backend.js';

/**
 * Elementwise kernels are generated per (op, dtypes, layout): each op is a WGSL function of its
 * operands in a computation dtype, and the entry point reads every input either at the flat index
 * (same shape as the output), at 0 (a single element) or through broadcast strides held in the
 * params uniform. Float math follows the CPU kernels' formulas and NaN rules; transcendental
 * functions are the GPU's (the WGSL builtins), except where a formula is needed for accuracy
 * (expm1, log1p, tanh, pow, erf, gelu).
 */

/** Extra WGSL functions an op needs, by name (with the names of the ones they use). */
const LIB: Record<string, { deps?: string[]; code: string }> = {
  exp: {
    code: `
// exp with Cody–Waite reduction: x = n·ln2 + r, |r| <= ln2/2, e^r by its Taylor polynomial (error
// < 3e-9), then scaled by 2^n in two steps (n may reach 128). GPU builtins lose ~|x|·2^-24.
fn exp_(x: f32) -> f32 {
  if (is_nan(x)) { return x; }
  if (x > 88.72284) { return inf(); }
  if (x < -103.97208) { return 0.0; }
  let n = round(x * 1.4426950408889634);
  let r = (x - n * 0.693145751953125) - n * 1.4286067653301870e-6;
  let p = 1.0 + r * (1.0 + r * (0.5 + r * (0.16666667 + r * (0.041666668 + r * (0.008333334
    + r * (0.0013888889 + r * 0.0001984127))))));
  let k = i32(n);
  let h = k / 2;
  return ldexp(ldexp(p, h), k - h);
}`,
  },
  log: {
    code: `
// log via x = m·2^e, m in [√½, √2): e·ln2 + 2·atanh(s), s = (m − 1)/(m + 1), |s| <= 0.172.
fn log_(x: f32) -> f32 {
  if (is_nan(x) || x < 0.0) { return nan(); }
  if (x == 0.0) { return -inf(); }
  if (!is_finite(x)) { return x; }
  var f = frexp(x);
  var m = f.fract;
  var e = f32(f.exp);
  if (m < 0.70710678) { m = m * 2.0; e = e - 1.0; }
  let s = (m - 1.0) / (m + 1.0);
  let s2 = s * s;
  let l = 2.0 * s * (1.0 + s2 * (0.33333334 + s2 * (0.2 + s2 * (0.14285715 + s2 * (0.11111111
    + s2 * 0.09090909)))));
  return (e * 0.693145751953125 + l) + e * 1.4286067653301870e-6;
}`,
  },
  expm1: {
    deps: ['exp'],
    code: `
fn expm1_(x: f32) -> f32 {
  if (abs(x) < 0.5) {
    // Taylor series to x^9 (remainder < 3e-9 relative).
    return x * (1.0 + x * (0.5 + x * (0.16666667 + x * (0.041666668 + x * (0.008333334
      + x * (0.0013888889 + x * (0.0001984127 + x * (0.0000248016 + x * 0.0000027557))))))));
  }
  return exp_(x) - 1.0;
}`,
  },
  log1p: {
    deps: ['log'],
    code: `
fn log1p_(x: f32) -> f32 {
  if (abs(x) < 0.5) {
    // log1p(x) = 2·atanh(s), s = x / (2 + x), |s| <= 1/3: the odd series to s^19.
    let s = x / (2.0 + x);
    let s2 = s * s;
    return 2.0 * s * (1.0 + s2 * (0.33333334 + s2 * (0.2 + s2 * (0.14285715 + s2 * (0.11111111
      + s2 * (0.09090909 + s2 * (0.07692308 + s2 * (0.06666667 + s2 * (0.05882353 + s2 * 0.05263158)))))))));
  }
  return log_(1.0 + x);
}`,
  },
  erf: {
    deps: ['exp'],
    code: `
fn erf_(x: f32) -> f32 {
  let ax = abs(x);
  if (ax < 0.5) {
    let x2 = x * x;
    return 1.1283791670955126 * x * (1.0 + x2 * (-0.33333334 + x2 * (0.1 + x2 * (-0.023809524
      + x2 * (0.0046296297 + x2 * -0.0007575758)))));
  }
  let t = 1.0 / (1.0 + 0.3275911 * ax);
  let y = 1.0 - t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027
    + t * 1.061405429)))) * exp_(-x * x);
  return select(y, -y, x < 0.0);
}`,
  },
  pow: {
    deps: ['exp'],
    code: `
// Math.pow semantics: exact repeated squaring for integer exponents up to 2^16, otherwise
// 2^(b·log2|a|) with the sign of a negative base raised to an odd integer.
fn pow_(a: f32, b: f32) -> f32 {
  if (b == 0.0) { return 1.0; }
  if (is_nan(a) || is_nan(b)) { return nan(); }
  let bi = is_finite(b) && floor(b) == b;
  if (bi && abs(b) <= 65536.0) {
    var e = u32(abs(b));
    var base = a;
    var r = 1.0;
    loop {
      if ((e & 1u) != 0u) { r = r * base; }
      e = e >> 1u;
      if (e == 0u) { break; }
      base = base * base;
    }
    return select(r, 1.0 / r, b < 0.0);
  }
  let aa = abs(a);
  if (a < 0.0 && is_finite(a) && is_finite(b) && !bi) { return nan(); }
  if (aa == 1.0) { return select(1.0, nan(), !is_finite(b)); }
  if (!is_finite(b)) {
    if ((aa > 1.0) == (b > 0.0)) { return inf(); }
    return 0.0;
  }
  var r: f32;
  if (aa == 0.0) { r = select(0.0, inf(), b < 0.0); }
  else if (!is_finite(aa)) { r = select(inf(), 0.0, b < 0.0); }
  else { r = exp2(b * log2(aa)); }
  let odd = bi && abs(b) < 16777216.0 && (u32(abs(b)) & 1u) == 1u;
  return select(r, -r, a < 0.0 && odd);
}`,
  },
  ipow: {
    code: `
fn ipow_(a: i32, b: i32) -> i32 {
  if (b < 0) {
    if (a == 1) { return 1; }
    if (a == -1) { return select(1, -1, (b & 1) != 0); }
    return 0;
  }
  var e = u32(b);
  var base = a;
  var r = 1;
  loop {
    if (e == 0u) { break; }
    if ((e & 1u) != 0u) { r = r * base; }
    e = e >> 1u;
    base = base * base;
  }
  return r;
}`,
  },
  tanh: {
    deps: ['expm1', 'exp'],
    code: `
fn tanh_(x: f32) -> f32 {
  if (is_nan(x)) { return x; }
  let ax = abs(x);
  if (ax > 9.0) { return select(1.0, -1.0, x < 0.0); }
  if (ax < 0.55) {
    let e = expm1_(2.0 * x);
    return e / (e + 2.0);
  }
  let t = 1.0 - 2.0 / (exp_(2.0 * ax) + 1.0);
  return select(t, -t, x < 0.0);
}`,
  },
  // 2Φ(x) = 1 + erf(x/√2), GELU's and its derivative's common part.
  gelu2cdf: {
    deps: ['erf', 'exp'],
    code: `
fn gelu2cdf_(x: f32) -> f32 {
  let z = x * 0.7071067811865476;
  var p = 1.0 + erf_(z);
  if (z < -0.5) {
    let a = -z;
    let u = 1.0 / (1.0 + 0.5 * a);
    // e^(−z²) = e^(−x²/2) from x split exactly (xh of 12 bits: xh² has no rounding error); z
    // itself is rounded, and z² would carry that error times z² into the result.
    let xa = abs(x);
    let xh = bitcast<f32>(bitcast<u32>(xa) & 0xfffff000u);
    let xl = xa - xh;
    p = u * exp_(-0.5 * xh * xh) * exp_(-0.5 * (xa + xh) * xl - 1.26551223 + u * (1.00002368 + u * (0.37409196 + u * (0.09678418
      + u * (-0.18628806 + u * (0.27886807 + u * (-1.13520398 + u * (1.48851587
      + u * (-0.82215223 + u * 0.17087277)))))))));
  }
  return p;
}`,
  },
  gelu: {
    deps: ['gelu2cdf'],
    code: `
fn gelu_(x: f32) -> f32 { return 0.5 * x * gelu2cdf_(x); }`,
  },
  // GELU's backward in one kernel: dy · (Φ(x) + x·φ(x)).
  geluGrad: {
    deps: ['gelu2cdf', 'exp'],
    code: `
fn gelu_grad_(dy: f32, x: f32) -> f32 {
  return dy * (0.5 * gelu2cdf_(x) + x * 0.3989422804014327 * exp_(-0.5 * x * x));
}`,
  },
  softplus: {
    deps: ['log1p', 'exp'],
    code: `
fn softplus_(x: f32) -> f32 {
  if (x > 20.0) { return x; }
  if (x < -20.0) { return exp_(x); }
  return log1p_(exp_(x));
}`,
  },
};

/** The WGSL of `names` and everything they use, each once, dependencies first. */
function libCode(names: readonly string[]): string {
  const seen = new Set<string>();
  const out: string[] = [];
  const visit = (n: string) => {
    if (seen.has(n)) return;
    seen.add(n);
    const entry = LIB[n];
    if (!entry) throw new Error(`internal: no WGSL library function '${n}'`);
    for (const d of entry.deps ?? []) visit(d);
    out.push(entry.code);
  };
  for (const n of names) visit(n);
  return out.join('\n');
}

interface UnaryDef {
  /** The float expression of x, a float32 result. */
  f: string;
  /** The int32 expression for ops that keep int32 (absent: int32 input is converted to float). */
  i?: string;
  /** Result dtype when it is not the computation dtype. */
  out?: DType;
  lib?: string;
}

const FLIP = 'bitcast<f32>(bitcast<u32>(x) ^ 0x80000000u)';
const UNARY: Record<string, UnaryDef> = {
  neg: { f: FLIP, i: '-x' },
  abs: { f: 'bitcast<f32>(bitcast<u32>(x) & 0x7fffffffu)', i: 'abs(x)' },
  sign: { f: 'select(select(select(x, -1.0, x < 0.0), 1.0, x > 0.0), x, is_nan(x))', i: 'sign(x)' },
  exp: { f: 'exp_(x)', lib: 'exp' },
  expm1: { f: 'expm1_(x)', lib: 'expm1' },
  log: { f: 'log_(x)', lib: 'log' },
  log1p: { f: 'log1p_(x)', lib: 'log1p' },
  sqrt: { f: 'sqrt(x)' },
  rsqrt: { f: '1.0 / sqrt(x)' },
  sin: { f: 'sin(x)' },
  cos: { f: 'cos(x)' },
  tanh: { f: 'tanh_(x)', lib: 'tanh' },
  erf: { f: 'erf_(x)', lib: 'erf' },
  sigmoid: {
    f: 'select(exp_(x) / (1.0 + exp_(x)), 1.0 / (1.0 + exp_(-x)), x >= 0.0)',
    lib: 'exp',
  },
  // NaN is tested by its bits: compilers may rewrite x <= 0 as !(x > 0).
  relu: { f: 'select(select(0.0, x, x > 0.0), x, is_nan(x))', i: 'max(x, 0)' },
  gelu: { f: 'gelu_(x)', lib: 'gelu' },
  silu: {
    // One form for both signs: x·eˣ would flush to 0 where eˣ is subnormal (x < −87) on GPUs.
    f: 'x / (1.0 + exp_(-x))',
    lib: 'exp',
  },
  softplus: { f: 'softplus_(x)', lib: 'softplus' },
  square: { f: 'x * x', i: 'x * x' },
  reciprocal: { f: '1.0 / x' },
  floor: { f: 'floor(x)', i: 'x' },
  ceil: { f: 'ceil(x)', i: 'x' },
  round: { f: 'round(x)', i: 'x' },
  isnan: { f: 'select(0, 1, is_nan(x))', out: 'int32' },
  isfinite: { f: 'select(0, 1, is_finite(x))', out: 'int32' },
};

interface BinaryDef {
  f: string;
  i: string;
  /** Comparisons: computed in the promoted dtype, int32 result. */
  compare?: boolean;
  lib?: string;
  ilib?: string;
}

const BINARY: Record<string, BinaryDef> = {
  add: { f: 'a + b', i: 'a + b' },
  sub: { f: 'a - b', i: 'a - b' },
  mul: { f: 'a * b', i: 'a * b' },
  div: { f: 'a / b', i: 'a / b' },
  pow: { f: 'pow_(a, b)', i: 'ipow_(a, b)', lib: 'pow', ilib: 'ipow' },
  maximum: { f: 'select(b, a, is_nan(a) || a > b)', i: 'max(a, b)' },
  minimum: { f: 'select(b, a, is_nan(a) || a < b)', i: 'min(a, b)' },
  // A NaN operand makes every comparison false (ne true), checked by bits (see relu).
  eq: { f: 'select(0, 1, a == b && !nan2(a, b))', i: 'select(0, 1, a == b)', compare: true },
  ne: { f: 'select(1, 0, a == b && !nan2(a, b))', i: 'select(1, 0, a == b)', compare: true },
  lt: { f: 'select(0, 1, a < b && !nan2(a, b))', i: 'select(0, 1, a < b)', compare: true },
  le: { f: 'select(0, 1, a <= b && !nan2(a, b))', i: 'select(0, 1, a <= b)', compare: true },
  gt: { f: 'select(0, 1, a > b && !nan2(a, b))', i: 'select(0, 1, a > b)', compare: true },
  ge: { f: 'select(0, 1, a >= b && !nan2(a, b))', i: 'select(0, 1, a >= b)', compare: true },
  geluGrad: { f: 'gelu_grad_(a, b)', i: 'gelu_grad_(f32(a), f32(b))', lib: 'geluGrad' },
};

/** How an input is read: at the flat index, at 0, or through strides. */
type Mode = 'flat' | 'one' | 'strided';

const NAMES = [['x'], ['a', 'b'], ['c', 'a', 'b']];

/**
 * Registers an elementwise kernel. `fn(inDTypes, outDType)` gives the WGSL function body pieces: the
 * computation dtype of each operand, the expression, and library code. Long because most of it is
 * the WGSL it writes (one shader per input mode, dtype and rank).
 */
function registerElementwise(
  name: string,
  plan: (
    ins: readonly DType[],
    out: DType,
  ) => { operand: DType[]; expr: string; lib: string; key: string },
): void {
  registerKernel<ElementwiseOp>(name, 'webgpu', (backend, inputs, _attrs, [o]) => {
    const gpu = gpuOf(backend);
    const out = output(gpu, o);
    const n = sizeOf(o.shape);
    if (n === 0) return [out];
    const { operand, expr, lib, key } = plan(
      inputs.map((x) => x.dtype),
      o.dtype,
    );
    const [shape, strides] = collapseAxes(
      o.shape,
      inputs.map((x) => broadcastStrides(x.shape, o.shape)),
    );
    const dense = stridesOf(shape);
    const modes: Mode[] = inputs.map((x, k) => {
      if (x.size === n) return 'flat';
      if (x.size === 1) return 'one';
      return strides[k]!.every((s, j) => s === dense[j]) ? 'flat' : 'strided';
    });
    const rank = shape.length;
    const anyStrided = modes.includes('strided');
    const params = [n];
    if (anyStrided) {
      params.push(...shape);
      inputs.forEach((_, k) => {
        if (modes[k] === 'strided') params.push(...strides[k]!);
      });
    }
    const names = NAMES[inputs.length - 1]!;
    const fullKey = `ew:${name}:${key}:${inputs.map((x) => x.dtype).join(',')}>${o.dtype}:${modes.join(',')}:${anyStrided ? rank : 0}`;
    runProgram(
      gpu,
      {
        name: fullKey,
        prelude: `${COMMON_WGSL}\n${lib}`,
        bindings: [
          ...inputs.map((x, k) => ({ name: `in${k}`, type: wt(x.dtype) })),
          { name: 'out', type: wt(o.dtype), write: true },
        ],
        size: n,
        main: () => {
          const lines: string[] = [];
          if (anyStrided) {
            lines.push('  var rem = i;');
            inputs.forEach((_, k) => {
              if (modes[k] === 'strided') lines.push(`  var p${k} = 0u;`);
            });
            let at = 1 + rank;
            const strideAt: number[] = inputs.map((_, k) => {
              if (modes[k] !== 'strided') return -1;
              const s = at;
              at += rank;
              return s;
            });
            for (let d = rank - 1; d >= 0; d--) {
              lines.push(`  { let c = rem % pu(${1 + d}u); rem = rem / pu(${1 + d}u);`);
              inputs.forEach((_, k) => {
                if (modes[k] === 'strided')
                  lines.push(`    p${k} = p${k} + c * pu(${strideAt[k]! + d}u);`);
              });
              lines.push('  }');
            }
          }
          inputs.forEach((x, k) => {
            const idx = modes[k] === 'flat' ? 'i' : modes[k] === 'one' ? '0u' : `p${k}`;
            const v = convert(`in${k}[${idx}]`, x.dtype, operand[k]!);
            lines.push(`  let ${names[k]} = ${v};`);
          });
          lines.push(`  out[i] = ${expr};`);
          return `  if (i >= pu(0u)) { return; }\n${lines.join('\n')}`;
        },
      },
      params,
      [...inputs.map((x) => bufOf(x).buffer), out.buffer],
    );
    return [out];
  });
}

for (const [name, def] of Object.entries(UNARY)) {
  registerElementwise(name, ([x], out) => {
    const isInt = x === 'int32' && def.i !== undefined;
    const operand: DType = isInt ? 'int32' : 'float32';
    const expr = isInt ? def.i! : def.f;
    // The result in its computation dtype, then stored as the output dtype.
    const resultDType: DType = def.out ?? operand;
    return {
      operand: [operand],
      expr: convert(expr, resultDType, out),
      lib: !isInt && def.lib ? libCode([def.lib]) : '',
      key: isInt ? 'i' : 'f',
    };
  });
}

for (const [name, def] of Object.entries(BINARY)) {
  registerElementwise(name, ([a, b], out) => {
    const promoted: DType = a === 'float32' || b === 'float32' ? 'float32' : 'int32';
    // div is true division (float); other arithmetic computes in the output dtype.
    const domain: DType = def.compare ? promoted : name === 'div' ? 'float32' : out;
    const isInt = domain === 'int32';
    const expr = isInt ? def.i : def.f;
    const resultDType: DType = def.compare ? 'int32' : domain;
    const lib = isInt ? (def.ilib ? libCode([def.ilib]) : '') : def.lib ? libCode([def.lib]) : '';
    return {
      operand: [domain, domain],
      expr: convert(expr, resultDType, out),
      lib,
      key: isInt ? 'i' : 'f',
    };
  });
}

registerElementwise('where', ([c], out) => ({
  operand: [c!, out, out],
  expr: c === 'float32' ? 'select(a, b, c == 0.0 && !is_nan(c))' : 'select(a, b, c == 0)',
  lib: '',
  key: '',
}));

// float → int32 truncates toward zero and wraps (JS ToInt32); NaN and infinities give 0.
registerElementwise('cast', ([x], out) => ({
  operand: [x!],
  expr: convert('x', x!, out),
  lib: '',
  key: '',
}));
