/**
 * The source of the CPU backend's WebAssembly SIMD GEMM: this file writes its WebAssembly text.
 * The micro-kernel is unrolled over an MR × NR register tile, which WebAssembly text cannot express
 * without repeating itself MR·NR/4 times, so the text is generated here, and the variants (plain
 * SIMD or relaxed-SIMD FMA; shared or private memory) come from one template. `build-wasm.ts`
 * compiles the text with wabt into src/backends/cpu/wasm/gemm-wasm.generated.ts.
 *
 * Layout (the classic GotoBLAS/BLIS packing, floats):
 * - A (M × K) is packed per k-block of KC columns, then per panel of MR rows, k-major:
 *   element (i, kk) of block kb lives at kb·KC·Mpad + (i / MR)·kc·MR + (kk − kb·KC)·MR + i % MR,
 *   where Mpad = MR·⌈M / MR⌉ and kc is the block's length (KC, or less for the last block).
 * - B (K × N) likewise per k-block, then per panel of NR columns: kb·KC·Npad + (j / NR)·kc·NR + …
 * - C is Mpad × Npad, row-major: padding rows and columns come out as zeros and are not copied back.
 * The micro-kernel keeps an MR × NR tile of C in MR·NR/4 f32x4 registers for a whole k-block; the
 * driver walks k-blocks, then MC-row blocks of A (kept in L2), then B panels (each kept in L1 while
 * every A panel of the block passes over it).
 */

export interface GemmVariant {
  /** f32x4.relaxed_madd (one fused multiply-add where the hardware has FMA) instead of mul + add. */
  relaxed: boolean;
  /** Import a shared memory (threads) rather than a private one. */
  shared: boolean;
}

/** Rows of the register tile. */
export const MR = 4;
/** Columns of the register tile (a multiple of 4: f32x4 lanes). */
export const NR = 8;

const V = NR / 4; // f32x4 vectors per tile row

/** acc + a·b on f32x4 expressions: one fused relaxed_madd, or mul then add. */
function madd(variant: GemmVariant, acc: string, a: string, b: string): string {
  return variant.relaxed
    ? `(f32x4.relaxed_madd ${a} ${b} ${acc})`
    : `(f32x4.add ${acc} (f32x4.mul ${a} ${b}))`;
}

const get = (name: string) => `(local.get ${name})`;

const range = (n: number) => Array.from({ length: n }, (_, i) => i);
const acc = (r: number, v: number) => `$c${r}_${v}`;

/** micro(a, b, c, kc, ldc, accumulate): C[MR×NR at c] (+)= Apanel(kc × MR) · Bpanel(kc × NR). */
function microKernel(variant: GemmVariant): string {
  const lines: string[] = [];
  lines.push(
    '  (func $micro (param $a i32) (param $b i32) (param $c i32) (param $kc i32) (param $ldc i32) (param $accumulate i32)',
  );
  lines.push(`    (local $end i32) (local $row i32) (local $av v128)`);
  lines.push(
    `    ${range(V)
      .map((v) => `(local $b${v} v128)`)
      .join(' ')}`,
  );
  for (const r of range(MR))
    lines.push(
      `    ${range(V)
        .map((v) => `(local ${acc(r, v)} v128)`)
        .join(' ')}`,
    );
  // The tile starts from C (a later k-block adds to what earlier ones wrote) or from zero.
  lines.push('    (if (local.get $accumulate) (then');
  lines.push('      (local.set $row (local.get $c))');
  for (const r of range(MR)) {
    for (const v of range(V))
      lines.push(`      (local.set ${acc(r, v)} (v128.load offset=${v * 16} (local.get $row)))`);
    if (r < MR - 1)
      lines.push('      (local.set $row (i32.add (local.get $row) (local.get $ldc)))');
  }
  lines.push('    ))');
  lines.push(
    `    (local.set $end (i32.add (local.get $a) (i32.mul (local.get $kc) (i32.const ${MR * 4}))))`,
  );
  lines.push('    (loop $k');
  for (const v of range(V))
    lines.push(`      (local.set $b${v} (v128.load offset=${v * 16} (local.get $b)))`);
  for (const r of range(MR)) {
    lines.push(`      (local.set $av (v128.load32_splat offset=${r * 4} (local.get $a)))`);
    for (const v of range(V))
      lines.push(
        `      (local.set ${acc(r, v)} ${madd(variant, get(acc(r, v)), get('$av'), get(`$b${v}`))})`,
      );
  }
  lines.push(`      (local.set $a (i32.add (local.get $a) (i32.const ${MR * 4})))`);
  lines.push(`      (local.set $b (i32.add (local.get $b) (i32.const ${NR * 4})))`);
  lines.push('      (br_if $k (i32.lt_u (local.get $a) (local.get $end))))');
  lines.push('    (local.set $row (local.get $c))');
  for (const r of range(MR)) {
    for (const v of range(V))
      lines.push(`    (v128.store offset=${v * 16} (local.get $row) (local.get ${acc(r, v)}))`);
    if (r < MR - 1) lines.push('    (local.set $row (i32.add (local.get $row) (local.get $ldc)))');
  }
  lines.push('  )');
  return lines.join('\n');
}

/**
 * gemm(ap, bp, c, m0, m1, n0, n1, mp, np, k, kcMax, mcp): the tile of C made of A panels [m0, m1)
 * and B panels [n0, n1), over all of K. mp and np are the panel counts of the whole packed A and B
 * (they fix the strides), kcMax the k-block length used when packing, mcp the A panels per L2 block.
 * Threads call it on disjoint panel ranges of one packing.
 */
const driver = `  (func (export "gemm")
    (param $ap i32) (param $bp i32) (param $c i32)
    (param $m0 i32) (param $m1 i32) (param $n0 i32) (param $n1 i32)
    (param $mp i32) (param $np i32) (param $k i32) (param $kcMax i32) (param $mcp i32)
    (local $k0 i32) (local $kc i32) (local $ablock i32) (local $bblock i32) (local $ldc i32)
    (local $ic i32) (local $icEnd i32) (local $jp i32) (local $ip i32) (local $bpanel i32)
    (local.set $ldc (i32.mul (local.get $np) (i32.const ${NR * 4})))
    (block $done (loop $kblocks
      (br_if $done (i32.ge_u (local.get $k0) (local.get $k)))
      (local.set $kc (select (local.get $kcMax) (i32.sub (local.get $k) (local.get $k0))
        (i32.lt_u (local.get $kcMax) (i32.sub (local.get $k) (local.get $k0)))))
      (local.set $ablock (i32.add (local.get $ap)
        (i32.mul (local.get $k0) (i32.mul (local.get $mp) (i32.const ${MR * 4})))))
      (local.set $bblock (i32.add (local.get $bp)
        (i32.mul (local.get $k0) (i32.mul (local.get $np) (i32.const ${NR * 4})))))
      (local.set $ic (local.get $m0))
      (block $mdone (loop $mblocks
        (br_if $mdone (i32.ge_u (local.get $ic) (local.get $m1)))
        (local.set $icEnd (select (local.get $m1) (i32.add (local.get $ic) (local.get $mcp))
          (i32.lt_u (local.get $m1) (i32.add (local.get $ic) (local.get $mcp)))))
        (local.set $jp (local.get $n0))
        (block $ndone (loop $npanels
          (br_if $ndone (i32.ge_u (local.get $jp) (local.get $n1)))
          (local.set $bpanel (i32.add (local.get $bblock)
            (i32.mul (local.get $jp) (i32.mul (local.get $kc) (i32.const ${NR * 4})))))
          (local.set $ip (local.get $ic))
          (loop $mpanels
            (call $micro
              (i32.add (local.get $ablock) (i32.mul (local.get $ip) (i32.mul (local.get $kc) (i32.const ${MR * 4}))))
              (local.get $bpanel)
              (i32.add (local.get $c) (i32.add
                (i32.mul (local.get $ip) (i32.mul (local.get $ldc) (i32.const ${MR})))
                (i32.mul (local.get $jp) (i32.const ${NR * 4}))))
              (local.get $kc) (local.get $ldc) (local.get $k0))
            (local.set $ip (i32.add (local.get $ip) (i32.const 1)))
            (br_if $mpanels (i32.lt_u (local.get $ip) (local.get $icEnd))))
          (local.set $jp (i32.add (local.get $jp) (i32.const 1)))
          (br $npanels)))
        (local.set $ic (local.get $icEnd))
        (br $mblocks)))
      (local.set $k0 (i32.add (local.get $k0) (local.get $kc)))
      (br $kblocks)))
  )`;

/**
 * gemvT(x, w, y, k, n0, n1): y[j] = Σ_kk x[kk]·w[j·k + kk] for j in [n0, n1) — a row vector times
 * the transpose of a row-major [n, k] matrix (a Linear layer's weight): contiguous dot products,
 * four f32x4 partial sums each, the k % 16 tail in scalar.
 */
function gemvT(variant: GemmVariant): string {
  const body = range(4)
    .map(
      (u) =>
        `          (local.set $s${u} ${madd(variant, get(`$s${u}`), `(v128.load offset=${u * 16} (local.get $px))`, `(v128.load offset=${u * 16} (local.get $pw))`)})`,
    )
    .join('\n');
  return `  (func (export "gemvT")
    (param $x i32) (param $w i32) (param $y i32) (param $k i32) (param $n0 i32) (param $n1 i32)
    (local $j i32) (local $px i32) (local $pw i32) (local $end16 i32) (local $end i32)
    (local $s0 v128) (local $s1 v128) (local $s2 v128) (local $s3 v128) (local $t f32)
    (local.set $j (local.get $n0))
    (block $done (loop $rows
      (br_if $done (i32.ge_u (local.get $j) (local.get $n1)))
      (local.set $px (local.get $x))
      (local.set $pw (i32.add (local.get $w) (i32.shl (i32.mul (local.get $j) (local.get $k)) (i32.const 2))))
      (local.set $end16 (i32.add (local.get $x) (i32.shl (i32.and (local.get $k) (i32.const -16)) (i32.const 2))))
      (local.set $end (i32.add (local.get $x) (i32.shl (local.get $k) (i32.const 2))))
      (local.set $s0 (v128.const i32x4 0 0 0 0)) (local.set $s1 (v128.const i32x4 0 0 0 0))
      (local.set $s2 (v128.const i32x4 0 0 0 0)) (local.set $s3 (v128.const i32x4 0 0 0 0))
      (block $vdone (loop $vec
        (br_if $vdone (i32.ge_u (local.get $px) (local.get $end16)))
${body}
        (local.set $px (i32.add (local.get $px) (i32.const 64)))
        (local.set $pw (i32.add (local.get $pw) (i32.const 64)))
        (br $vec)))
      (local.set $s0 (f32x4.add (f32x4.add (local.get $s0) (local.get $s1)) (f32x4.add (local.get $s2) (local.get $s3))))
      (local.set $t (f32.add
        (f32.add (f32x4.extract_lane 0 (local.get $s0)) (f32x4.extract_lane 1 (local.get $s0)))
        (f32.add (f32x4.extract_lane 2 (local.get $s0)) (f32x4.extract_lane 3 (local.get $s0)))))
      (block $sdone (loop $scalar
        (br_if $sdone (i32.ge_u (local.get $px) (local.get $end)))
        (local.set $t (f32.add (local.get $t) (f32.mul (f32.load (local.get $px)) (f32.load (local.get $pw)))))
        (local.set $px (i32.add (local.get $px) (i32.const 4)))
        (local.set $pw (i32.add (local.get $pw) (i32.const 4)))
        (br $scalar)))
      (f32.store (i32.add (local.get $y) (i32.shl (local.get $j) (i32.const 2))) (local.get $t))
      (local.set $j (i32.add (local.get $j) (i32.const 1)))
      (br $rows)))
  )`;
}

/**
 * gemvN(x, w, y, k, n, n0, n1): y[j] = Σ_kk x[kk]·w[kk·n + j] for j in [n0, n1) (n0 a multiple of
 * 16 unless it is the row's end) — a row vector times a row-major [k, n] matrix: for each block of 16
 * outputs, four f32x4 sums sweep down the rows; a tail of fewer than 16 columns in scalar.
 */
function gemvN(variant: GemmVariant): string {
  const body = range(4)
    .map(
      (u) =>
        `          (local.set $s${u} ${madd(variant, get(`$s${u}`), get('$xv'), `(v128.load offset=${u * 16} (local.get $pw))`)})`,
    )
    .join('\n');
  const stores = range(4)
    .map((u) => `      (v128.store offset=${u * 16} (local.get $py) (local.get $s${u}))`)
    .join('\n');
  return `  (func (export "gemvN")
    (param $x i32) (param $w i32) (param $y i32) (param $k i32) (param $n i32) (param $n0 i32) (param $n1 i32)
    (local $j i32) (local $kk i32) (local $pw i32) (local $py i32) (local $rowBytes i32) (local $xv v128)
    (local $s0 v128) (local $s1 v128) (local $s2 v128) (local $s3 v128) (local $t f32)
    (local.set $rowBytes (i32.shl (local.get $n) (i32.const 2)))
    (local.set $j (local.get $n0))
    (block $vdone (loop $blocks
      (br_if $vdone (i32.gt_u (i32.add (local.get $j) (i32.const 16)) (local.get $n1)))
      (local.set $s0 (v128.const i32x4 0 0 0 0)) (local.set $s1 (v128.const i32x4 0 0 0 0))
      (local.set $s2 (v128.const i32x4 0 0 0 0)) (local.set $s3 (v128.const i32x4 0 0 0 0))
      (local.set $pw (i32.add (local.get $w) (i32.shl (local.get $j) (i32.const 2))))
      (local.set $kk (i32.const 0))
      (block $kdone (loop $krows
        (br_if $kdone (i32.ge_u (local.get $kk) (local.get $k)))
        (local.set $xv (v128.load32_splat (i32.add (local.get $x) (i32.shl (local.get $kk) (i32.const 2)))))
${body}
        (local.set $pw (i32.add (local.get $pw) (local.get $rowBytes)))
        (local.set $kk (i32.add (local.get $kk) (i32.const 1)))
        (br $krows)))
      (local.set $py (i32.add (local.get $y) (i32.shl (local.get $j) (i32.const 2))))
${stores}
      (local.set $j (i32.add (local.get $j) (i32.const 16)))
      (br $blocks)))
    (block $done (loop $cols
      (br_if $done (i32.ge_u (local.get $j) (local.get $n1)))
      (local.set $t (f32.const 0))
      (local.set $pw (i32.add (local.get $w) (i32.shl (local.get $j) (i32.const 2))))
      (local.set $kk (i32.const 0))
      (block $kdone2 (loop $krows2
        (br_if $kdone2 (i32.ge_u (local.get $kk) (local.get $k)))
        (local.set $t (f32.add (local.get $t) (f32.mul
          (f32.load (i32.add (local.get $x) (i32.shl (local.get $kk) (i32.const 2))))
          (f32.load (local.get $pw)))))
        (local.set $pw (i32.add (local.get $pw) (local.get $rowBytes)))
        (local.set $kk (i32.add (local.get $kk) (i32.const 1)))
        (br $krows2)))
      (f32.store (i32.add (local.get $y) (i32.shl (local.get $j) (i32.const 2))) (local.get $t))
      (local.set $j (i32.add (local.get $j) (i32.const 1)))
      (br $cols)))
  )`;
}

/** The module's WebAssembly text for one variant. */
export function gemmWat(variant: GemmVariant): string {
  const memory = variant.shared
    ? '(import "env" "memory" (memory 1 65536 shared))'
    : '(import "env" "memory" (memory 1))';
  return [
    `;; GENERATED by packages/tensor/scripts/gemm-wat.ts (${variant.relaxed ? 'relaxed-SIMD FMA' : 'SIMD'}, ${variant.shared ? 'shared' : 'private'} memory): do not edit.`,
    '(module',
    `  ${memory}`,
    microKernel(variant),
    driver,
    gemvT(variant),
    gemvN(variant),
    ')',
    '',
  ].join('\n');
}
