/**
 * The source of the CPU backend's one-query attention kernel in WebAssembly SIMD: this file writes
 * its WebAssembly text, which `build-wasm.ts` compiles with wabt into
 * src/backends/cpu/wasm/attention-wasm.generated.ts.
 *
 * decode(q, k, v, out, s, acc, end, d, dv, scale, stat): one query row q (d floats) against the key
 * rows k[0..end) and value rows v[0..end) (d and dv floats each, contiguous, read where they lie):
 *
 * 1. s[j] = scale · q · k_j, four keys per pass (q loaded once for the four), the running maximum m
 *    of the scores in four lanes (f32x4.max: a NaN score makes m NaN, as in the reference).
 * 2. p_j = exp(s_j − shift) over s in place (shift = m, or 0 when every score is −∞), with a
 *    polynomial exp (below), Σ p_j summed in float64 (two f64x2 lanes).
 * 3. out = Σ p_j v_j / Σ p_j: four keys per pass into a float32 accumulator, added into float64
 *    (acc, dv doubles) every BLOCK keys, as the tiled kernels sum float32 tile products in float64.
 *
 * m is written at stat (f32) and Σ p at stat + 8 (f64), for lse = m + log Σ p. All pointers are
 * byte offsets, 16-byte aligned; d and dv are multiples of 4 and end >= 1 (the caller checks). s
 * needs ⌈end / 4⌉·4 floats.
 *
 * exp(x), x ≤ 0: x = n·ln 2 + r with n = round(x·log₂e), |r| ≤ ln 2 / 2; e^r by its Taylor polynomial
 * to degree 7 (truncation error below 1e-8 relative, under float32's rounding); 2^n built in the
 * exponent bits. Inputs below −87 (where 2^n would leave the normal range), −∞ included, give 0;
 * NaN stays NaN.
 */

export interface AttentionVariant {
  /** Import a shared memory (buffers that stay valid when it grows) rather than a private one. */
  shared: boolean;
}

/** Keys whose products sum in float32 before they are added into the float64 accumulator. */
export const BLOCK = 256;

const splat = (x: number) => `(v128.const f32x4 ${x} ${x} ${x} ${x})`;

/** exp on four lanes (see the header). */
const exp = `  (func $exp (param $x v128) (result v128)
    (local $xc v128) (local $n v128) (local $r v128) (local $p v128)
    (local.set $xc (f32x4.max (local.get $x) ${splat(-87)}))
    (local.set $n (f32x4.nearest (f32x4.mul (local.get $xc) ${splat(Math.LOG2E)})))
    (local.set $r (f32x4.sub (local.get $xc) (f32x4.mul (local.get $n) ${splat(0.693145751953125)})))
    (local.set $r (f32x4.sub (local.get $r) (f32x4.mul (local.get $n) ${splat(1.4286068203094173e-6)})))
    (local.set $p ${splat(1 / 5040)})
${[1 / 720, 1 / 120, 1 / 24, 1 / 6, 1 / 2, 1, 1]
  .map(
    (c) => `    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) ${splat(c)}))`,
  )
  .join('\n')}
    (v128.bitselect
      (v128.const i32x4 0 0 0 0)
      (f32x4.mul (local.get $p)
        (i32x4.shl (i32x4.add (i32x4.trunc_sat_f32x4_s (local.get $n)) (v128.const i32x4 127 127 127 127)) (i32.const 23)))
      (f32x4.lt (local.get $x) ${splat(-87)})))`;

/** Σ of the four lanes of a, as f32. */
const hsum = (a: string) =>
  `(f32.add (f32.add (f32x4.extract_lane 0 ${a}) (f32x4.extract_lane 1 ${a})) (f32.add (f32x4.extract_lane 2 ${a}) (f32x4.extract_lane 3 ${a})))`;

/** Lane-wise pair sums: [a0+a2, a1+a3, b0+b2, b1+b3]. */
const pairs = (a: string, b: string) =>
  `(f32x4.add (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 ${a} ${b}) (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 ${a} ${b}))`;

const decode = `  (func (export "decode")
    (param $q i32) (param $k i32) (param $v i32) (param $out i32) (param $s i32) (param $acc i32)
    (param $end i32) (param $d i32) (param $dv i32) (param $scale f32) (param $stat i32)
    (local $j i32) (local $x i32) (local $rowK i32) (local $dB i32) (local $dvB i32)
    (local $k0 i32) (local $k1 i32) (local $k2 i32) (local $k3 i32)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128) (local $qv v128)
    (local $u v128) (local $w v128) (local $mv v128) (local $sc v128)
    (local $m f32) (local $shift v128) (local $e v128) (local $sum0 v128) (local $sum1 v128)
    (local $end4 i32) (local $blockEnd i32) (local $t v128) (local $o i32)
    (local $p0 v128) (local $p1 v128) (local $p2 v128) (local $p3 v128) (local $sum f64)
    (local.set $dB (i32.shl (local.get $d) (i32.const 2)))
    (local.set $dvB (i32.shl (local.get $dv) (i32.const 2)))
    (local.set $sc (f32x4.splat (local.get $scale)))
    (local.set $mv ${splat(Number.NEGATIVE_INFINITY).replace(/-Infinity/g, '-inf')})
    ;; 1. scores, four keys per pass
    (local.set $j (i32.const 0))
    (local.set $rowK (local.get $k))
    (block $done4 (loop $keys4
      (br_if $done4 (i32.gt_u (i32.add (local.get $j) (i32.const 4)) (local.get $end)))
      (local.set $k0 (local.get $rowK))
      (local.set $k1 (i32.add (local.get $k0) (local.get $dB)))
      (local.set $k2 (i32.add (local.get $k1) (local.get $dB)))
      (local.set $k3 (i32.add (local.get $k2) (local.get $dB)))
      (local.set $a0 (v128.const i32x4 0 0 0 0))
      (local.set $a1 (v128.const i32x4 0 0 0 0))
      (local.set $a2 (v128.const i32x4 0 0 0 0))
      (local.set $a3 (v128.const i32x4 0 0 0 0))
      (local.set $x (i32.const 0))
      (loop $dims
        (local.set $qv (v128.load (i32.add (local.get $q) (local.get $x))))
        (local.set $a0 (f32x4.add (local.get $a0) (f32x4.mul (local.get $qv) (v128.load (i32.add (local.get $k0) (local.get $x))))))
        (local.set $a1 (f32x4.add (local.get $a1) (f32x4.mul (local.get $qv) (v128.load (i32.add (local.get $k1) (local.get $x))))))
        (local.set $a2 (f32x4.add (local.get $a2) (f32x4.mul (local.get $qv) (v128.load (i32.add (local.get $k2) (local.get $x))))))
        (local.set $a3 (f32x4.add (local.get $a3) (f32x4.mul (local.get $qv) (v128.load (i32.add (local.get $k3) (local.get $x))))))
        (local.set $x (i32.add (local.get $x) (i32.const 16)))
        (br_if $dims (i32.lt_u (local.get $x) (local.get $dB))))
      (local.set $u ${pairs('(local.get $a0)', '(local.get $a1)')})
      (local.set $w ${pairs('(local.get $a2)', '(local.get $a3)')})
      ;; [Σa0, Σa1, Σa2, Σa3]
      (local.set $t (f32x4.mul (local.get $sc) (f32x4.add
        (i8x16.shuffle 0 1 2 3 8 9 10 11 16 17 18 19 24 25 26 27 (local.get $u) (local.get $w))
        (i8x16.shuffle 4 5 6 7 12 13 14 15 20 21 22 23 28 29 30 31 (local.get $u) (local.get $w)))))
      (v128.store (i32.add (local.get $s) (i32.shl (local.get $j) (i32.const 2))) (local.get $t))
      (local.set $mv (f32x4.max (local.get $mv) (local.get $t)))
      (local.set $rowK (i32.add (local.get $k3) (local.get $dB)))
      (local.set $j (i32.add (local.get $j) (i32.const 4)))
      (br $keys4)))
    (local.set $m (f32.max (f32.max (f32x4.extract_lane 0 (local.get $mv)) (f32x4.extract_lane 1 (local.get $mv)))
      (f32.max (f32x4.extract_lane 2 (local.get $mv)) (f32x4.extract_lane 3 (local.get $mv)))))
    (block $done1 (loop $keys1
      (br_if $done1 (i32.ge_u (local.get $j) (local.get $end)))
      (local.set $a0 (v128.const i32x4 0 0 0 0))
      (local.set $x (i32.const 0))
      (loop $dims1
        (local.set $a0 (f32x4.add (local.get $a0) (f32x4.mul
          (v128.load (i32.add (local.get $q) (local.get $x)))
          (v128.load (i32.add (local.get $rowK) (local.get $x))))))
        (local.set $x (i32.add (local.get $x) (i32.const 16)))
        (br_if $dims1 (i32.lt_u (local.get $x) (local.get $dB))))
      (local.set $u (f32x4.splat (f32.mul ${hsum('(local.get $a0)')} (local.get $scale))))
      (f32.store (i32.add (local.get $s) (i32.shl (local.get $j) (i32.const 2))) (f32x4.extract_lane 0 (local.get $u)))
      (local.set $m (f32.max (local.get $m) (f32x4.extract_lane 0 (local.get $u))))
      (local.set $rowK (i32.add (local.get $rowK) (local.get $dB)))
      (local.set $j (i32.add (local.get $j) (i32.const 1)))
      (br $keys1)))
    ;; Pad s to a multiple of four with −∞ (exp gives 0 there).
    (local.set $end4 (i32.and (i32.add (local.get $end) (i32.const 3)) (i32.const -4)))
    (block $padded (loop $pad
      (br_if $padded (i32.ge_u (local.get $j) (local.get $end4)))
      (f32.store (i32.add (local.get $s) (i32.shl (local.get $j) (i32.const 2))) (f32.const -inf))
      (local.set $j (i32.add (local.get $j) (i32.const 1)))
      (br $pad)))
    ;; 2. p = exp(s − shift), Σ p in float64
    (local.set $shift (f32x4.splat (select (f32.const 0) (local.get $m) (f32.eq (local.get $m) (f32.const -inf)))))
    (local.set $sum0 (v128.const i32x4 0 0 0 0))
    (local.set $sum1 (v128.const i32x4 0 0 0 0))
    (local.set $j (i32.const 0))
    (block $expDone (loop $exps
      (br_if $expDone (i32.ge_u (local.get $j) (local.get $end4)))
      (local.set $o (i32.add (local.get $s) (i32.shl (local.get $j) (i32.const 2))))
      (local.set $e (call $exp (f32x4.sub (v128.load (local.get $o)) (local.get $shift))))
      (v128.store (local.get $o) (local.get $e))
      (local.set $sum0 (f64x2.add (local.get $sum0) (f64x2.promote_low_f32x4 (local.get $e))))
      (local.set $sum1 (f64x2.add (local.get $sum1) (f64x2.promote_low_f32x4
        (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $e) (local.get $e)))))
      (local.set $j (i32.add (local.get $j) (i32.const 4)))
      (br $exps)))
    (local.set $sum0 (f64x2.add (local.get $sum0) (local.get $sum1)))
    (local.set $sum (f64.add (f64x2.extract_lane 0 (local.get $sum0)) (f64x2.extract_lane 1 (local.get $sum0))))
    ;; 3. out = Σ p_j v_j (float32 within a block of keys, float64 across blocks) / Σ p
    (local.set $x (i32.const 0))
    (loop $zero
      (v128.store (i32.add (local.get $acc) (local.get $x)) (v128.const i32x4 0 0 0 0))
      (local.set $x (i32.add (local.get $x) (i32.const 16)))
      (br_if $zero (i32.lt_u (local.get $x) (i32.shl (local.get $dvB) (i32.const 1)))))
    (local.set $j (i32.const 0))
    (local.set $rowK (local.get $v))
    (block $blocksDone (loop $blocks
      (br_if $blocksDone (i32.ge_u (local.get $j) (local.get $end)))
      (local.set $blockEnd (select (local.get $end) (i32.add (local.get $j) (i32.const ${BLOCK}))
        (i32.lt_u (local.get $end) (i32.add (local.get $j) (i32.const ${BLOCK})))))
      (local.set $x (i32.const 0))
      (loop $zeroOut
        (v128.store (i32.add (local.get $out) (local.get $x)) (v128.const i32x4 0 0 0 0))
        (local.set $x (i32.add (local.get $x) (i32.const 16)))
        (br_if $zeroOut (i32.lt_u (local.get $x) (local.get $dvB))))
      (block $pv4Done (loop $pv4
        (br_if $pv4Done (i32.gt_u (i32.add (local.get $j) (i32.const 4)) (local.get $blockEnd)))
        (local.set $o (i32.add (local.get $s) (i32.shl (local.get $j) (i32.const 2))))
        (local.set $p0 (v128.load32_splat offset=0 (local.get $o)))
        (local.set $p1 (v128.load32_splat offset=4 (local.get $o)))
        (local.set $p2 (v128.load32_splat offset=8 (local.get $o)))
        (local.set $p3 (v128.load32_splat offset=12 (local.get $o)))
        (local.set $k0 (local.get $rowK))
        (local.set $k1 (i32.add (local.get $k0) (local.get $dvB)))
        (local.set $k2 (i32.add (local.get $k1) (local.get $dvB)))
        (local.set $k3 (i32.add (local.get $k2) (local.get $dvB)))
        (local.set $x (i32.const 0))
        (loop $cols
          (local.set $o (i32.add (local.get $out) (local.get $x)))
          (v128.store (local.get $o) (f32x4.add (v128.load (local.get $o)) (f32x4.add
            (f32x4.add
              (f32x4.mul (local.get $p0) (v128.load (i32.add (local.get $k0) (local.get $x))))
              (f32x4.mul (local.get $p1) (v128.load (i32.add (local.get $k1) (local.get $x)))))
            (f32x4.add
              (f32x4.mul (local.get $p2) (v128.load (i32.add (local.get $k2) (local.get $x))))
              (f32x4.mul (local.get $p3) (v128.load (i32.add (local.get $k3) (local.get $x))))))))
          (local.set $x (i32.add (local.get $x) (i32.const 16)))
          (br_if $cols (i32.lt_u (local.get $x) (local.get $dvB))))
        (local.set $rowK (i32.add (local.get $k3) (local.get $dvB)))
        (local.set $j (i32.add (local.get $j) (i32.const 4)))
        (br $pv4)))
      (block $pv1Done (loop $pv1
        (br_if $pv1Done (i32.ge_u (local.get $j) (local.get $blockEnd)))
        (local.set $p0 (v128.load32_splat (i32.add (local.get $s) (i32.shl (local.get $j) (i32.const 2)))))
        (local.set $x (i32.const 0))
        (loop $cols1
          (local.set $o (i32.add (local.get $out) (local.get $x)))
          (v128.store (local.get $o) (f32x4.add (v128.load (local.get $o))
            (f32x4.mul (local.get $p0) (v128.load (i32.add (local.get $rowK) (local.get $x))))))
          (local.set $x (i32.add (local.get $x) (i32.const 16)))
          (br_if $cols1 (i32.lt_u (local.get $x) (local.get $dvB))))
        (local.set $rowK (i32.add (local.get $rowK) (local.get $dvB)))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br $pv1)))
      ;; acc += the block's float32 sums, in float64
      (local.set $x (i32.const 0))
      (loop $flush
        (local.set $t (v128.load (i32.add (local.get $out) (local.get $x))))
        (local.set $o (i32.add (local.get $acc) (i32.shl (local.get $x) (i32.const 1))))
        (v128.store offset=0 (local.get $o) (f64x2.add (v128.load offset=0 (local.get $o)) (f64x2.promote_low_f32x4 (local.get $t))))
        (v128.store offset=16 (local.get $o) (f64x2.add (v128.load offset=16 (local.get $o))
          (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $t) (local.get $t)))))
        (local.set $x (i32.add (local.get $x) (i32.const 16)))
        (br_if $flush (i32.lt_u (local.get $x) (local.get $dvB))))
      (br $blocks)))
    ;; out = acc / Σ p, rounded to float32
    (local.set $e (f64x2.splat (local.get $sum)))
    (local.set $x (i32.const 0))
    (loop $divide
      (local.set $o (i32.add (local.get $acc) (i32.shl (local.get $x) (i32.const 1))))
      (v128.store (i32.add (local.get $out) (local.get $x)) (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23
        (f32x4.demote_f64x2_zero (f64x2.div (v128.load offset=0 (local.get $o)) (local.get $e)))
        (f32x4.demote_f64x2_zero (f64x2.div (v128.load offset=16 (local.get $o)) (local.get $e)))))
      (local.set $x (i32.add (local.get $x) (i32.const 16)))
      (br_if $divide (i32.lt_u (local.get $x) (local.get $dvB))))
    (f32.store (local.get $stat) (local.get $m))
    (f64.store offset=8 (local.get $stat) (local.get $sum)))`;

/** exp of one f32 (the four-lane exp on a splat). */
const exp1 = (x: string) => `(f32x4.extract_lane 0 (call $exp (f32x4.splat ${x})))`;

/**
 * softmaxRows(s, rows, cols, ld, ends, mNew, sums, scale): one tile of the tiled forward (rows × cols
 * scores, row r at s + r·ld floats). For each row r with e = ends[r] > 0 visible columns: m = max(m_old, max_c
 * s_c·scale) over c < e (m_old from mNew[r], f64; NaN propagates), shift = m (0 when m = −∞),
 * s_c ← exp(s_c·scale − shift) for c < e and 0 for c ≥ e, mNew[r] = m, sums[r] = Σ_c s_c in float64.
 * A row with e ≤ 0 becomes zeros with sums[r] = 0 and mNew[r] unchanged.
 */
const softmaxRows = `  (func (export "softmaxRows")
    (param $s i32) (param $rows i32) (param $cols i32) (param $ld i32) (param $ends i32)
    (param $mNew i32) (param $sums i32) (param $scale f32)
    (local $r i32) (local $row i32) (local $end i32) (local $c i32) (local $o i32)
    (local $sc v128) (local $mv v128) (local $m f32) (local $shift v128) (local $e v128)
    (local $sum0 v128) (local $sum1 v128) (local $x f32)
    (local.set $sc (f32x4.splat (local.get $scale)))
    (block $rowsDone (loop $rowsLoop
      (br_if $rowsDone (i32.ge_u (local.get $r) (local.get $rows)))
      (local.set $row (i32.add (local.get $s) (i32.shl (i32.mul (local.get $r) (local.get $ld)) (i32.const 2))))
      (local.set $end (i32.load (i32.add (local.get $ends) (i32.shl (local.get $r) (i32.const 2)))))
      (if (i32.gt_s (local.get $end) (local.get $cols)) (then (local.set $end (local.get $cols))))
      (if (i32.lt_s (local.get $end) (i32.const 0)) (then (local.set $end (i32.const 0))))
      (local.set $sum0 (v128.const i32x4 0 0 0 0))
      (local.set $sum1 (v128.const i32x4 0 0 0 0))
      (if (i32.gt_s (local.get $end) (i32.const 0)) (then
        ;; the row's maximum, with the running one
        (local.set $m (f32.demote_f64 (f64.load (i32.add (local.get $mNew) (i32.shl (local.get $r) (i32.const 3))))))
        (local.set $mv (f32x4.splat (local.get $m)))
        (local.set $c (i32.const 0))
        (block $maxDone (loop $maxLoop
          (br_if $maxDone (i32.gt_u (i32.add (local.get $c) (i32.const 4)) (local.get $end)))
          (local.set $mv (f32x4.max (local.get $mv) (f32x4.mul (local.get $sc)
            (v128.load (i32.add (local.get $row) (i32.shl (local.get $c) (i32.const 2)))))))
          (local.set $c (i32.add (local.get $c) (i32.const 4)))
          (br $maxLoop)))
        (local.set $m (f32.max (f32.max (f32x4.extract_lane 0 (local.get $mv)) (f32x4.extract_lane 1 (local.get $mv)))
          (f32.max (f32x4.extract_lane 2 (local.get $mv)) (f32x4.extract_lane 3 (local.get $mv)))))
        (block $maxTailDone (loop $maxTail
          (br_if $maxTailDone (i32.ge_u (local.get $c) (local.get $end)))
          (local.set $m (f32.max (local.get $m) (f32.mul (local.get $scale)
            (f32.load (i32.add (local.get $row) (i32.shl (local.get $c) (i32.const 2)))))))
          (local.set $c (i32.add (local.get $c) (i32.const 1)))
          (br $maxTail)))
        (local.set $shift (f32x4.splat (select (f32.const 0) (local.get $m) (f32.eq (local.get $m) (f32.const -inf)))))
        ;; p = exp(s·scale − shift), summed in float64
        (local.set $c (i32.const 0))
        (block $expDone (loop $expLoop
          (br_if $expDone (i32.gt_u (i32.add (local.get $c) (i32.const 4)) (local.get $end)))
          (local.set $o (i32.add (local.get $row) (i32.shl (local.get $c) (i32.const 2))))
          (local.set $e (call $exp (f32x4.sub (f32x4.mul (local.get $sc) (v128.load (local.get $o))) (local.get $shift))))
          (v128.store (local.get $o) (local.get $e))
          (local.set $sum0 (f64x2.add (local.get $sum0) (f64x2.promote_low_f32x4 (local.get $e))))
          (local.set $sum1 (f64x2.add (local.get $sum1) (f64x2.promote_low_f32x4
            (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $e) (local.get $e)))))
          (local.set $c (i32.add (local.get $c) (i32.const 4)))
          (br $expLoop)))
        (block $expTailDone (loop $expTail
          (br_if $expTailDone (i32.ge_u (local.get $c) (local.get $end)))
          (local.set $o (i32.add (local.get $row) (i32.shl (local.get $c) (i32.const 2))))
          (local.set $x ${exp1('(f32.sub (f32.mul (local.get $scale) (f32.load (local.get $o))) (f32x4.extract_lane 0 (local.get $shift)))')})
          (f32.store (local.get $o) (local.get $x))
          (local.set $sum0 (f64x2.add (local.get $sum0)
            (f64x2.replace_lane 0 (v128.const i32x4 0 0 0 0) (f64.promote_f32 (local.get $x)))))
          (local.set $c (i32.add (local.get $c) (i32.const 1)))
          (br $expTail)))
        (f64.store (i32.add (local.get $mNew) (i32.shl (local.get $r) (i32.const 3))) (f64.promote_f32 (local.get $m)))))
      ;; masked and padding columns: 0
      (local.set $c (local.get $end))
      (block $zeroDone (loop $zeroLoop
        (br_if $zeroDone (i32.ge_u (local.get $c) (local.get $cols)))
        (f32.store (i32.add (local.get $row) (i32.shl (local.get $c) (i32.const 2))) (f32.const 0))
        (local.set $c (i32.add (local.get $c) (i32.const 1)))
        (br $zeroLoop)))
      (local.set $sum0 (f64x2.add (local.get $sum0) (local.get $sum1)))
      (f64.store (i32.add (local.get $sums) (i32.shl (local.get $r) (i32.const 3)))
        (f64.add (f64x2.extract_lane 0 (local.get $sum0)) (f64x2.extract_lane 1 (local.get $sum0))))
      (local.set $r (i32.add (local.get $r) (i32.const 1)))
      (br $rowsLoop))))`;

/**
 * gradRows(p, ds, rows, cols, ld, ends, lse, delta, scale): one tile of the tiled backward. p holds
 * the scores q·k and ds the products dOut·v (rows × cols each, row r at r·ld floats); for c < ends[r]:
 * p_c ← exp(p_c·scale − lse_r), ds_c ← p_c·(ds_c − δ_r)·scale; both 0 for c ≥ ends[r]. lse and
 * delta are f32 per row.
 */
const gradRows = `  (func (export "gradRows")
    (param $p i32) (param $ds i32) (param $rows i32) (param $cols i32) (param $ld i32)
    (param $ends i32) (param $lse i32) (param $delta i32) (param $scale f32)
    (local $r i32) (local $off i32) (local $end i32) (local $c i32) (local $o i32) (local $g i32)
    (local $sc v128) (local $l v128) (local $dl v128) (local $e v128) (local $x f32)
    (local.set $sc (f32x4.splat (local.get $scale)))
    (block $rowsDone (loop $rowsLoop
      (br_if $rowsDone (i32.ge_u (local.get $r) (local.get $rows)))
      (local.set $off (i32.shl (i32.mul (local.get $r) (local.get $ld)) (i32.const 2)))
      (local.set $end (i32.load (i32.add (local.get $ends) (i32.shl (local.get $r) (i32.const 2)))))
      (if (i32.gt_s (local.get $end) (local.get $cols)) (then (local.set $end (local.get $cols))))
      (if (i32.lt_s (local.get $end) (i32.const 0)) (then (local.set $end (i32.const 0))))
      (local.set $l (v128.load32_splat (i32.add (local.get $lse) (i32.shl (local.get $r) (i32.const 2)))))
      (local.set $dl (v128.load32_splat (i32.add (local.get $delta) (i32.shl (local.get $r) (i32.const 2)))))
      (local.set $c (i32.const 0))
      (block $vecDone (loop $vecLoop
        (br_if $vecDone (i32.gt_u (i32.add (local.get $c) (i32.const 4)) (local.get $end)))
        (local.set $o (i32.add (local.get $p) (i32.add (local.get $off) (i32.shl (local.get $c) (i32.const 2)))))
        (local.set $g (i32.add (local.get $ds) (i32.add (local.get $off) (i32.shl (local.get $c) (i32.const 2)))))
        (local.set $e (call $exp (f32x4.sub (f32x4.mul (local.get $sc) (v128.load (local.get $o))) (local.get $l))))
        (v128.store (local.get $o) (local.get $e))
        (v128.store (local.get $g) (f32x4.mul (f32x4.mul (local.get $e)
          (f32x4.sub (v128.load (local.get $g)) (local.get $dl))) (local.get $sc)))
        (local.set $c (i32.add (local.get $c) (i32.const 4)))
        (br $vecLoop)))
      (block $tailDone (loop $tail
        (br_if $tailDone (i32.ge_u (local.get $c) (local.get $end)))
        (local.set $o (i32.add (local.get $p) (i32.add (local.get $off) (i32.shl (local.get $c) (i32.const 2)))))
        (local.set $g (i32.add (local.get $ds) (i32.add (local.get $off) (i32.shl (local.get $c) (i32.const 2)))))
        (local.set $x ${exp1('(f32.sub (f32.mul (local.get $scale) (f32.load (local.get $o))) (f32x4.extract_lane 0 (local.get $l)))')})
        (f32.store (local.get $o) (local.get $x))
        (f32.store (local.get $g) (f32.mul (f32.mul (local.get $x)
          (f32.sub (f32.load (local.get $g)) (f32x4.extract_lane 0 (local.get $dl)))) (local.get $scale)))
        (local.set $c (i32.add (local.get $c) (i32.const 1)))
        (br $tail)))
      (block $zeroDone (loop $zeroLoop
        (br_if $zeroDone (i32.ge_u (local.get $c) (local.get $cols)))
        (f32.store (i32.add (local.get $p) (i32.add (local.get $off) (i32.shl (local.get $c) (i32.const 2)))) (f32.const 0))
        (f32.store (i32.add (local.get $ds) (i32.add (local.get $off) (i32.shl (local.get $c) (i32.const 2)))) (f32.const 0))
        (local.set $c (i32.add (local.get $c) (i32.const 1)))
        (br $zeroLoop)))
      (local.set $r (i32.add (local.get $r) (i32.const 1)))
      (br $rowsLoop))))`;

/**
 * packA4(src, ld, rows, cols, dst): the rows × cols matrix at src (row pitch ld floats) packed as the
 * GEMM's A operand (scripts/gemm-wat.ts, MR = 4, one k-block: cols ≤ KC): panel i (rows 4i..4i+3)
 * at dst + i·cols·4 floats, column c's four values at + c·4. Reads ⌈rows/4⌉·4 rows and ⌈cols/4⌉·4
 * columns (padding rows and columns give padding rows of C, which are not read) and writes up to 12
 * floats past the last panel.
 */
const packA4 = `  (func (export "packA4")
    (param $src i32) (param $ld i32) (param $rows i32) (param $cols i32) (param $dst i32)
    (local $r i32) (local $c i32) (local $ldB i32) (local $row i32) (local $out i32)
    (local $a v128) (local $b v128) (local $x v128) (local $y v128) (local $t0 v128) (local $t1 v128) (local $t2 v128) (local $t3 v128)
    (local.set $ldB (i32.shl (local.get $ld) (i32.const 2)))
    (block $panelsDone (loop $panels
      (br_if $panelsDone (i32.ge_u (local.get $r) (local.get $rows)))
      (local.set $row (i32.add (local.get $src) (i32.mul (local.get $r) (local.get $ldB))))
      (local.set $out (i32.add (local.get $dst) (i32.shl (i32.mul (local.get $r) (local.get $cols)) (i32.const 2))))
      (local.set $c (i32.const 0))
      (block $colsDone (loop $colsLoop
        (br_if $colsDone (i32.ge_u (local.get $c) (local.get $cols)))
        (local.set $a (v128.load (i32.add (local.get $row) (i32.shl (local.get $c) (i32.const 2)))))
        (local.set $b (v128.load (i32.add (i32.add (local.get $row) (local.get $ldB)) (i32.shl (local.get $c) (i32.const 2)))))
        (local.set $x (v128.load (i32.add (i32.add (local.get $row) (i32.shl (local.get $ldB) (i32.const 1))) (i32.shl (local.get $c) (i32.const 2)))))
        (local.set $y (v128.load (i32.add (i32.add (local.get $row) (i32.mul (local.get $ldB) (i32.const 3))) (i32.shl (local.get $c) (i32.const 2)))))
        (local.set $t0 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $a) (local.get $b)))
        (local.set $t1 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $a) (local.get $b)))
        (local.set $t2 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $x) (local.get $y)))
        (local.set $t3 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $x) (local.get $y)))
        (v128.store offset=0 (local.get $out) (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $t0) (local.get $t2)))
        (v128.store offset=16 (local.get $out) (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $t0) (local.get $t2)))
        (v128.store offset=32 (local.get $out) (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $t1) (local.get $t3)))
        (v128.store offset=48 (local.get $out) (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $t1) (local.get $t3)))
        (local.set $out (i32.add (local.get $out) (i32.const 64)))
        (local.set $c (i32.add (local.get $c) (i32.const 4)))
        (br $colsLoop)))
      (local.set $r (i32.add (local.get $r) (i32.const 4)))
      (br $panels))))`;

/**
 * packAT4(src, ld, rows, cols, dst): the transpose of the rows × cols matrix at src (pitch ld) packed
 * as the GEMM's A operand (cols × rows; one k-block: rows ≤ KC): panel i (source columns 4i..4i+3)
 * at dst + i·rows·4 floats, source row r's four values at + r·4. Reads ⌈cols/4⌉·4 columns.
 */
const packAT4 = `  (func (export "packAT4")
    (param $src i32) (param $ld i32) (param $rows i32) (param $cols i32) (param $dst i32)
    (local $r i32) (local $c i32) (local $ldB i32) (local $in i32) (local $out i32)
    (local.set $ldB (i32.shl (local.get $ld) (i32.const 2)))
    (block $panelsDone (loop $panels
      (br_if $panelsDone (i32.ge_u (local.get $c) (local.get $cols)))
      (local.set $in (i32.add (local.get $src) (i32.shl (local.get $c) (i32.const 2))))
      (local.set $out (i32.add (local.get $dst) (i32.shl (i32.mul (local.get $c) (local.get $rows)) (i32.const 2))))
      (local.set $r (i32.const 0))
      (block $rowsDone (loop $rowsLoop
        (br_if $rowsDone (i32.ge_u (local.get $r) (local.get $rows)))
        (v128.store (local.get $out) (v128.load (local.get $in)))
        (local.set $in (i32.add (local.get $in) (local.get $ldB)))
        (local.set $out (i32.add (local.get $out) (i32.const 16)))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $rowsLoop)))
      (local.set $c (i32.add (local.get $c) (i32.const 4)))
      (br $panels))))`;

/** The module's WebAssembly text. */
export function attentionWat(variant: AttentionVariant): string {
  const memory = variant.shared
    ? '(import "env" "memory" (memory 1 65536 shared))'
    : '(import "env" "memory" (memory 1))';
  return [
    `;; GENERATED by packages/tensor/scripts/attention-wat.ts (${variant.shared ? 'shared' : 'private'} memory): do not edit.`,
    '(module',
    `  ${memory}`,
    exp,
    decode,
    softmaxRows,
    gradRows,
    packA4,
    packAT4,
    ')',
    '',
  ].join('\n');
}
