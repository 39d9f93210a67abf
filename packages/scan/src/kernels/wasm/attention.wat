;; The forward pass of the attention scan (MATH.md §2) in WebAssembly SIMD: the sequential pass of
;; the CPU kernel 'scan.attention' (src/kernels/cpu.ts, attentionForwardJs) over one block of
;; positions of one row per call, carrying the state (M, U, run) in this module's memory between
;; calls. The JavaScript side (attention.ts) copies each block in and the outputs out.
;;
;; Source of truth for attention-wasm.generated.ts: edit this file, then run `pnpm build:wasm` in
;; packages/scan (scripts/build-wasm.ts compiles it with wabt; test/wasm.test.ts checks the two
;; agree).
;;
;; The arithmetic is the JavaScript kernel's, operation for operation, so the outputs are
;; bit-identical to it: all float64 (float32 inputs promoted, outputs rounded to float32 once, as a
;; Float32Array store does); a multiply then an add, never a fused multiply-add; and $exps is
;; fdlibm's exp, the algorithm of V8's Math.exp, bit for bit (tested).
;;
;; Per position (per value, for c = d), with s its score (m), x its u, v its values (w):
;;
;;   s > M (the max moves): c = M = −inf ? 0 : e^{M − s};  M ← s;  U ← U·c + x;  run ← run·c + v
;;   otherwise:             c = s = −inf ? 0 : e^{s − M};          U ← U + x·c;  run ← run + v·c
;;
;; then the block's s, x and v are overwritten in place by M, U and float32(run): the outputs (with
;; $div set, v gets attentionScan's output float32(run · (1/U)) instead, 0 where M is −inf). NaN
;; scores fail `s > M` and give c = NaN, as in JavaScript. The −inf tests (an exponent of −inf,
;; whose exp is exactly 0) keep the identity out of e^{−inf − (−inf)}.
;;
;; Each call makes three passes over its block: (1) the running max, M out, and per position a flag
;; (the max moved) and the exponent; (2) all exponentials, two lanes at a time; (3) U and the sweep
;; of run, which calls nothing, so its loop stays in registers.
;;
;; Memory: nothing is imported; the memory is exported and the caller grows it and lays it out
;; (byte offsets, 16-aligned): the state, the block's scores, u and values (float32,
;; position-major), and scratch for the exponents (float64) and flags (int32). `forwardHead`: one
;; score per position (c = 1), state [M, U, run_0 .. run_{d−1}] (float64). `forwardChannel`: one
;; score per channel (c = d), state [M_0..M_{d−1}, U_0..U_{d−1}, run_0..run_{d−1}] (float64),
;; scores and u f32[n·d].
(module
  (memory (export "memory") 1)

  ;; e^x in place on n float64 at $p (n rounded up to even: the caller leaves room), two lanes at a
  ;; time, bit-identical to fdlibm's __ieee754_exp (FreeBSD msun e_exp.c, as ported in V8's
  ;; base/ieee754.cc: Math.exp) for x <= 0, −inf and NaN, the only arguments the kernel makes (an
  ;; exponent is a score minus the running max, or −inf for an exact 0). No branches: both of
  ;; fdlibm's final formulas (k = 0 and k ≠ 0) are computed and each lane's one selected; for x < 0,
  ;; fdlibm's special case 0.5·ln2 < |x| < 1.5·ln2 is its general reduction with k = −1, term for
  ;; term. Constants are splatted once, before the loop.
  (func $exps (export "exps") (param $p i32) (param $n i32)
    (local $end i32)
    (local $x0 v128) (local $x v128) (local $under v128) (local $ax v128) (local $big v128)
    (local $k v128) (local $t v128) (local $hi v128) (local $lo v128) (local $r v128)
    (local $tt v128) (local $c v128) (local $q v128) (local $y v128) (local $small v128)
    (local $one v128) (local $uth v128) (local $halfln2 v128) (local $invln2 v128) (local $half v128)
    (local $ln2hi v128) (local $ln2lo v128) (local $p1 v128) (local $p2 v128) (local $p3 v128)
    (local $p4 v128) (local $p5 v128) (local $two v128) (local $tiny v128)
    (local.set $end (i32.add (local.get $p) (i32.shl (local.get $n) (i32.const 3))))
    (local.set $one (f64x2.splat (f64.const 1)))
    (local.set $two (f64x2.splat (f64.const 2)))
    (local.set $half (f64x2.splat (f64.const 0.5)))
    (local.set $uth (f64x2.splat (f64.const -0x1.74910d52d3051p+9)))  ;; fdlibm's u_threshold
    (local.set $halfln2 (f64x2.splat (f64.const 0x1.62e43p-2)))  ;; high word 0x3fd62e43
    (local.set $tiny (f64x2.splat (f64.const 0x1p-28)))
    (local.set $invln2 (f64x2.splat (f64.const 0x1.71547652b82fep+0)))
    (local.set $ln2hi (f64x2.splat (f64.const 0x1.62e42feep-1)))
    (local.set $ln2lo (f64x2.splat (f64.const 0x1.a39ef35793c76p-33)))
    (local.set $p1 (f64x2.splat (f64.const 0x1.555555555553ep-3)))
    (local.set $p2 (f64x2.splat (f64.const -0x1.6c16c16bebd93p-9)))
    (local.set $p3 (f64x2.splat (f64.const 0x1.1566aaf25de2cp-14)))
    (local.set $p4 (f64x2.splat (f64.const -0x1.bbd41c5d26bf1p-20)))
    (local.set $p5 (f64x2.splat (f64.const 0x1.6376972bea4d0p-25)))
    (block $done
      (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
      (loop $pair
        (local.set $x0 (v128.load (local.get $p)))
        ;; Below −745.13 (−inf included) the result is 0: such lanes compute with x = 0 instead, so
        ;; no lane makes subnormal or garbage intermediates (subnormal arithmetic is slow on x86).
        (local.set $under (f64x2.lt (local.get $x0) (local.get $uth)))
        (local.set $x (v128.andnot (local.get $x0) (local.get $under)))
        (local.set $ax (f64x2.abs (local.get $x)))
        ;; Lanes with |x| > 0.5·ln2 (fdlibm: high word of |x| > 0x3fd62e42) get k ≠ 0, the rest 0.
        (local.set $big (f64x2.ge (local.get $ax) (local.get $halfln2)))
        ;; k = (int)(x/ln2 − 0.5), truncated toward 0; t = k as float64 (+0 where k = 0).
        (local.set $k
          (i32x4.trunc_sat_f64x2_s_zero
            (f64x2.sub (f64x2.mul (local.get $x) (local.get $invln2)) (local.get $half))))
        (local.set $t (v128.and (f64x2.convert_low_i32x4_s (local.get $k)) (local.get $big)))
        (local.set $k (v128.and (i64x2.extend_low_i32x4_s (local.get $k)) (local.get $big)))
        ;; x = hi − lo = x − k·ln2 (ln2 = ln2hi + ln2lo, k·ln2hi exact).
        (local.set $hi (f64x2.sub (local.get $x) (f64x2.mul (local.get $t) (local.get $ln2hi))))
        (local.set $lo (f64x2.mul (local.get $t) (local.get $ln2lo)))
        (local.set $r (f64x2.sub (local.get $hi) (local.get $lo)))
        (local.set $tt (f64x2.mul (local.get $r) (local.get $r)))
        (local.set $c
          (f64x2.sub
            (local.get $r)
            (f64x2.mul
              (local.get $tt)
              (f64x2.add
                (local.get $p1)
                (f64x2.mul
                  (local.get $tt)
                  (f64x2.add
                    (local.get $p2)
                    (f64x2.mul
                      (local.get $tt)
                      (f64x2.add
                        (local.get $p3)
                        (f64x2.mul
                          (local.get $tt)
                          (f64x2.add
                            (local.get $p4)
                            (f64x2.mul (local.get $tt) (local.get $p5))))))))))))
        ;; q = r·c/(2 − c); fdlibm's r·c/(c − 2) is −q exactly (division rounds symmetrically).
        (local.set $q
          (f64x2.div
            (f64x2.mul (local.get $r) (local.get $c))
            (f64x2.sub (local.get $two) (local.get $c))))
        ;; k ≠ 0: (1 − ((lo − q) − hi))·2^k, as 2^(k+1000)·2^−1000 when k < −1021 (and ·1
        ;; otherwise: exact, and unlike multiplying every lane by 2^−1000 it makes no subnormals).
        (local.set $small (i64x2.lt_s (local.get $k) (i64x2.splat (i64.const -1021))))
        (local.set $y
          (f64x2.mul
            (f64x2.mul
              (f64x2.sub
                (local.get $one)
                (f64x2.sub (f64x2.sub (local.get $lo) (local.get $q)) (local.get $hi)))
              (i64x2.shl
                (i64x2.add
                  (i64x2.add (local.get $k) (i64x2.splat (i64.const 1023)))
                  (v128.and (local.get $small) (i64x2.splat (i64.const 1000))))
                (i32.const 52)))
            (v128.bitselect
              (f64x2.splat (f64.const 0x1p-1000))
              (local.get $one)
              (local.get $small))))
        ;; k = 0: 1 − (−q − r).
        (local.set $y
          (v128.bitselect
            (local.get $y)
            (f64x2.sub
              (local.get $one)
              (f64x2.sub (f64x2.neg (local.get $q)) (local.get $r)))
            (local.get $big)))
        ;; |x| < 2^−28: 1 + x. Below −745.13: 0. NaN: x + x.
        (local.set $y
          (v128.bitselect
            (f64x2.add (local.get $one) (local.get $x))
            (local.get $y)
            (f64x2.lt (local.get $ax) (local.get $tiny))))
        (local.set $y (v128.andnot (local.get $y) (local.get $under)))
        (v128.store (local.get $p)
          (v128.bitselect
            (f64x2.add (local.get $x0) (local.get $x0))
            (local.get $y)
            (f64x2.ne (local.get $x0) (local.get $x0))))
        (local.set $p (i32.add (local.get $p) (i32.const 16)))
        (br_if $pair (i32.lt_u (local.get $p) (local.get $end))))))

  ;; The factor each output value is multiplied by before it is stored: 1 (the numerator W itself),
  ;; or with $div the output division W/U of attentionScan: 1/U, and 0 where the running max M is
  ;; still −inf (nothing seen yet: the output is 0, never 0/0).
  (func $scaleOf (param $den f64) (param $big f32) (param $div i32) (result f64)
    (if (result f64) (local.get $div)
      (then
        (select
          (f64.const 0)
          (f64.div (f64.const 1) (local.get $den))
          (f32.eq (local.get $big) (f32.const -inf))))
      (else (f64.const 1))))

  ;; One score per position (c = 1): n positions of a row, state at $state (see the header), in
  ;; three passes over the block. 1: the running max, writing M and, per position, a flag (int32 at
  ;; $scratch + 8·n', n' = n rounded up to even: 1 where the max moved) and the exponent (float64 at
  ;; $scratch): M − s where the max moves, s − M where it stays, −inf where that base is −inf (so
  ;; the coefficient is an exact 0, never e^{−inf − (−inf)}). 2: the exponentials, two at a time
  ;; ($exps). 3: per position the denominator (U) and the d-wide sweep of the numerator.
  (func (export "forwardHead")
    (param $n i32) (param $d i32) (param $state i32) (param $m i32) (param $u i32) (param $v i32)
    (param $scratch i32) (param $div i32)
    (local $mp i32)    ;; walks M (float32, written by pass 1) in pass 3
    (local $inv f64)   ;; the output factor ($scaleOf)
    (local $iv v128)   ;; $inv in both lanes
    (local $end i32)   ;; $m + 4·n: one past the last score
    (local $coef i32)  ;; walks the coefficients (float64)
    (local $flag i32)  ;; walks the flags (int32)
    (local $cend i32)  ;; one past the last coefficient
    (local $run i32)   ;; $state + 16: the float64 numerator
    (local $vend i32)  ;; one past the last float64 of run that the vector loop handles
    (local $rend i32)  ;; one past the last float64 of run
    (local $big f64)   ;; the running max M
    (local $den f64)   ;; the running denominator U
    (local $s f64)
    (local $c f64)
    (local $cv v128)
    (local $r i32)     ;; walks run (float64)
    (local $x v128)
    (local $lo v128)
    (local $hi v128)
    (local.set $mp (local.get $m))
    (local.set $end (i32.add (local.get $m) (i32.shl (local.get $n) (i32.const 2))))
    (local.set $big (f64.load (local.get $state)))
    (local.set $den (f64.load offset=8 (local.get $state)))
    (local.set $coef (local.get $scratch))
    (local.set $cend (i32.add (local.get $scratch) (i32.shl (local.get $n) (i32.const 3))))
    (local.set $flag
      (i32.add
        (local.get $scratch)
        (i32.shl (i32.and (i32.add (local.get $n) (i32.const 1)) (i32.const -2)) (i32.const 3))))
    ;; 1: max, flags, exponents; M over the scores.
    (block $done
      (br_if $done (i32.ge_u (local.get $m) (local.get $end)))
      (loop $position
        (local.set $s (f64.promote_f32 (f32.load (local.get $m))))
        (if (f64.gt (local.get $s) (local.get $big))
          (then
            ;; The max moves: the sums will be rescaled by e^{M − s}.
            (f64.store (local.get $coef)
              (select
                (f64.const -inf)
                (f64.sub (local.get $big) (local.get $s))
                (f64.eq (local.get $big) (f64.const -inf))))
            (i32.store (local.get $flag) (i32.const 1))
            (local.set $big (local.get $s)))
          (else
            ;; The max stays (or s is NaN): the new element will be scaled by e^{s − M}.
            (f64.store (local.get $coef)
              (select
                (f64.const -inf)
                (f64.sub (local.get $s) (local.get $big))
                (f64.eq (local.get $s) (f64.const -inf))))
            (i32.store (local.get $flag) (i32.const 0))))
        (f32.store (local.get $m) (f32.demote_f64 (local.get $big)))
        (local.set $m (i32.add (local.get $m) (i32.const 4)))
        (local.set $coef (i32.add (local.get $coef) (i32.const 8)))
        (local.set $flag (i32.add (local.get $flag) (i32.const 4)))
        (br_if $position (i32.lt_u (local.get $m) (local.get $end)))))
    (f64.store (local.get $state) (local.get $big))
    ;; 2: the coefficients.
    (call $exps (local.get $scratch) (local.get $n))
    ;; 3: U, and the sweep: run ← run·c + v where the flag is set, run + v·c elsewhere;
    ;; v ← float32(run).
    (local.set $run (i32.add (local.get $state) (i32.const 16)))
    (local.set $vend
      (i32.add (local.get $run) (i32.shl (i32.and (local.get $d) (i32.const -4)) (i32.const 3))))
    (local.set $rend (i32.add (local.get $run) (i32.shl (local.get $d) (i32.const 3))))
    (local.set $coef (local.get $scratch))
    (local.set $flag
      (i32.add
        (local.get $scratch)
        (i32.shl (i32.and (i32.add (local.get $n) (i32.const 1)) (i32.const -2)) (i32.const 3))))
    (block $done
      (br_if $done (i32.ge_u (local.get $coef) (local.get $cend)))
      (loop $position
        (local.set $c (f64.load (local.get $coef)))
        (local.set $cv (f64x2.splat (local.get $c)))
        (local.set $r (local.get $run))
        (if (i32.load (local.get $flag))
          (then
            (local.set $den
              (f64.add
                (f64.mul (local.get $den) (local.get $c))
                (f64.promote_f32 (f32.load (local.get $u)))))
            (local.set $iv
              (f64x2.splat
                (local.tee $inv (call $scaleOf (local.get $den) (f32.load (local.get $mp)) (local.get $div)))))
            ;; Four values at a time: one float32x4 promoted to two float64x2, and back.
            (block $vdone
              (br_if $vdone (i32.ge_u (local.get $r) (local.get $vend)))
              (loop $vector
                (local.set $x (v128.load align=4 (local.get $v)))
                (local.set $lo
                  (f64x2.add
                    (f64x2.mul (v128.load (local.get $r)) (local.get $cv))
                    (f64x2.promote_low_f32x4 (local.get $x))))
                (local.set $hi
                  (f64x2.add
                    (f64x2.mul (v128.load offset=16 (local.get $r)) (local.get $cv))
                    (f64x2.promote_low_f32x4
                      (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7
                        (local.get $x) (local.get $x)))))
                (v128.store (local.get $r) (local.get $lo))
                (v128.store offset=16 (local.get $r) (local.get $hi))
                (v128.store align=4 (local.get $v)
                  (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23
                    (f32x4.demote_f64x2_zero (f64x2.mul (local.get $lo) (local.get $iv)))
                    (f32x4.demote_f64x2_zero (f64x2.mul (local.get $hi) (local.get $iv)))))
                (local.set $r (i32.add (local.get $r) (i32.const 32)))
                (local.set $v (i32.add (local.get $v) (i32.const 16)))
                (br_if $vector (i32.lt_u (local.get $r) (local.get $vend)))))
            ;; The last d mod 4 values, one at a time.
            (block $sdone
              (br_if $sdone (i32.ge_u (local.get $r) (local.get $rend)))
              (loop $scalar
                (f64.store (local.get $r)
                  (f64.add
                    (f64.mul (f64.load (local.get $r)) (local.get $c))
                    (f64.promote_f32 (f32.load (local.get $v)))))
                (f32.store (local.get $v)
                  (f32.demote_f64 (f64.mul (f64.load (local.get $r)) (local.get $inv))))
                (local.set $r (i32.add (local.get $r) (i32.const 8)))
                (local.set $v (i32.add (local.get $v) (i32.const 4)))
                (br_if $scalar (i32.lt_u (local.get $r) (local.get $rend))))))
          (else
            (local.set $den
              (f64.add
                (local.get $den)
                (f64.mul (f64.promote_f32 (f32.load (local.get $u))) (local.get $c))))
            (local.set $iv
              (f64x2.splat
                (local.tee $inv (call $scaleOf (local.get $den) (f32.load (local.get $mp)) (local.get $div)))))
            (block $vdone
              (br_if $vdone (i32.ge_u (local.get $r) (local.get $vend)))
              (loop $vector
                (local.set $x (v128.load align=4 (local.get $v)))
                (local.set $lo
                  (f64x2.add
                    (v128.load (local.get $r))
                    (f64x2.mul (f64x2.promote_low_f32x4 (local.get $x)) (local.get $cv))))
                (local.set $hi
                  (f64x2.add
                    (v128.load offset=16 (local.get $r))
                    (f64x2.mul
                      (f64x2.promote_low_f32x4
                        (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7
                          (local.get $x) (local.get $x)))
                      (local.get $cv))))
                (v128.store (local.get $r) (local.get $lo))
                (v128.store offset=16 (local.get $r) (local.get $hi))
                (v128.store align=4 (local.get $v)
                  (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23
                    (f32x4.demote_f64x2_zero (f64x2.mul (local.get $lo) (local.get $iv)))
                    (f32x4.demote_f64x2_zero (f64x2.mul (local.get $hi) (local.get $iv)))))
                (local.set $r (i32.add (local.get $r) (i32.const 32)))
                (local.set $v (i32.add (local.get $v) (i32.const 16)))
                (br_if $vector (i32.lt_u (local.get $r) (local.get $vend)))))
            (block $sdone
              (br_if $sdone (i32.ge_u (local.get $r) (local.get $rend)))
              (loop $scalar
                (f64.store (local.get $r)
                  (f64.add
                    (f64.load (local.get $r))
                    (f64.mul (f64.promote_f32 (f32.load (local.get $v))) (local.get $c))))
                (f32.store (local.get $v)
                  (f32.demote_f64 (f64.mul (f64.load (local.get $r)) (local.get $inv))))
                (local.set $r (i32.add (local.get $r) (i32.const 8)))
                (local.set $v (i32.add (local.get $v) (i32.const 4)))
                (br_if $scalar (i32.lt_u (local.get $r) (local.get $rend)))))))
        (f32.store (local.get $u) (f32.demote_f64 (local.get $den)))
        (local.set $u (i32.add (local.get $u) (i32.const 4)))
        (local.set $mp (i32.add (local.get $mp) (i32.const 4)))
        (local.set $coef (i32.add (local.get $coef) (i32.const 8)))
        (local.set $flag (i32.add (local.get $flag) (i32.const 4)))
        (br_if $position (i32.lt_u (local.get $coef) (local.get $cend)))))
    (f64.store offset=8 (local.get $state) (local.get $den)))

  ;; One score per channel (c = d): every channel its own (M, U, run), state at $state (see the
  ;; header); n·d scores, u and values, position-major. The same three passes as forwardHead, per
  ;; value instead of per position: exponents and flags at $scratch (float64, n·d rounded up to
  ;; even) and after them (int32).
  (func (export "forwardChannel")
    (param $n i32) (param $d i32) (param $state i32) (param $m i32) (param $u i32) (param $v i32)
    (param $scratch i32) (param $div i32)
    (local $mp i32)    ;; walks M (float32, written by pass 1) in pass 3
    (local $end i32)   ;; $m + 4·n·d
    (local $nd i32)    ;; n·d
    (local $dd i32)    ;; 8·d: from M_j to U_j, and from U_j to run_j
    (local $send i32)  ;; $state + 8·d: one past M_{d−1}
    (local $j i32)     ;; walks M_j (float64)
    (local $e i32)     ;; walks the exponents, then the coefficients (float64)
    (local $flag i32)  ;; walks the flags (int32)
    (local $big f64)
    (local $s f64)
    (local $c f64)
    (local $y f64)
    (local $x f64)
    (local.set $nd (i32.mul (local.get $n) (local.get $d)))
    (if (i32.eqz (local.get $nd)) (then (return)))
    (local.set $mp (local.get $m))
    (local.set $end (i32.add (local.get $m) (i32.shl (local.get $nd) (i32.const 2))))
    (local.set $dd (i32.shl (local.get $d) (i32.const 3)))
    (local.set $send (i32.add (local.get $state) (local.get $dd)))
    (local.set $flag
      (i32.add
        (local.get $scratch)
        (i32.shl (i32.and (i32.add (local.get $nd) (i32.const 1)) (i32.const -2)) (i32.const 3))))
    ;; 1: per channel the max, the flag and the exponent; M over the scores.
    (local.set $e (local.get $scratch))
    (local.set $j (local.get $state))
    (loop $value
      (local.set $s (f64.promote_f32 (f32.load (local.get $m))))
      (local.set $big (f64.load (local.get $j)))
      (if (f64.gt (local.get $s) (local.get $big))
        (then
          (f64.store (local.get $e)
            (select
              (f64.const -inf)
              (f64.sub (local.get $big) (local.get $s))
              (f64.eq (local.get $big) (f64.const -inf))))
          (i32.store (local.get $flag) (i32.const 1))
          (local.set $big (local.get $s))
          (f64.store (local.get $j) (local.get $big)))
        (else
          (f64.store (local.get $e)
            (select
              (f64.const -inf)
              (f64.sub (local.get $s) (local.get $big))
              (f64.eq (local.get $s) (f64.const -inf))))
          (i32.store (local.get $flag) (i32.const 0))))
      (f32.store (local.get $m) (f32.demote_f64 (local.get $big)))
      (local.set $m (i32.add (local.get $m) (i32.const 4)))
      (local.set $e (i32.add (local.get $e) (i32.const 8)))
      (local.set $flag (i32.add (local.get $flag) (i32.const 4)))
      (local.set $j (i32.add (local.get $j) (i32.const 8)))
      (if (i32.eq (local.get $j) (local.get $send)) (then (local.set $j (local.get $state))))
      (br_if $value (i32.lt_u (local.get $m) (local.get $end))))
    ;; 2: the coefficients.
    (call $exps (local.get $scratch) (local.get $nd))
    ;; 3: U and run per channel; u ← float32(U), v ← float32(run).
    (local.set $e (local.get $scratch))
    (local.set $flag
      (i32.add
        (local.get $scratch)
        (i32.shl (i32.and (i32.add (local.get $nd) (i32.const 1)) (i32.const -2)) (i32.const 3))))
    (local.set $end (i32.add (local.get $u) (i32.shl (local.get $nd) (i32.const 2))))
    (local.set $j (local.get $state))
    (loop $value
      (local.set $c (f64.load (local.get $e)))
      (if (i32.load (local.get $flag))
        (then
          (local.set $y
            (f64.add
              (f64.mul (f64.load (i32.add (local.get $j) (local.get $dd))) (local.get $c))
              (f64.promote_f32 (f32.load (local.get $u)))))
          (local.set $x
            (f64.add
              (f64.mul
                (f64.load (i32.add (local.get $j) (i32.shl (local.get $dd) (i32.const 1))))
                (local.get $c))
              (f64.promote_f32 (f32.load (local.get $v))))))
        (else
          (local.set $y
            (f64.add
              (f64.load (i32.add (local.get $j) (local.get $dd)))
              (f64.mul (f64.promote_f32 (f32.load (local.get $u))) (local.get $c))))
          (local.set $x
            (f64.add
              (f64.load (i32.add (local.get $j) (i32.shl (local.get $dd) (i32.const 1))))
              (f64.mul (f64.promote_f32 (f32.load (local.get $v))) (local.get $c))))))
      (f64.store (i32.add (local.get $j) (local.get $dd)) (local.get $y))
      (f64.store (i32.add (local.get $j) (i32.shl (local.get $dd) (i32.const 1))) (local.get $x))
      (f32.store (local.get $u) (f32.demote_f64 (local.get $y)))
      (f32.store (local.get $v)
        (f32.demote_f64
          (f64.mul
            (local.get $x)
            (call $scaleOf (local.get $y) (f32.load (local.get $mp)) (local.get $div)))))
      (local.set $u (i32.add (local.get $u) (i32.const 4)))
      (local.set $mp (i32.add (local.get $mp) (i32.const 4)))
      (local.set $v (i32.add (local.get $v) (i32.const 4)))
      (local.set $e (i32.add (local.get $e) (i32.const 8)))
      (local.set $flag (i32.add (local.get $flag) (i32.const 4)))
      (local.set $j (i32.add (local.get $j) (i32.const 8)))
      (if (i32.eq (local.get $j) (local.get $send)) (then (local.set $j (local.get $state))))
      (br_if $value (i32.lt_u (local.get $u) (local.get $end)))))
)
