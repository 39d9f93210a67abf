import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { loadSafetensors, saveSafetensors, type Tensor, tensor } from '../src/index.js';
import {
  type DecodedEntry,
  decodeSafetensors,
  type EncodeEntry,
  encodeSafetensors,
  SAFETENSORS_MAX_HEADER_BYTES,
  SAFETENSORS_MAX_RANK,
  SAFETENSORS_MAX_TENSORS,
  SAFETENSORS_SUPPORTED_DTYPES,
  SafetensorsError,
} from '../src/io/safetensors-format.js';

// ---------------------------------------------------------------------------------------------
// helpers (independent of the codec)

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);

/** A file written by hand: u64 LE header length, the header text exactly as given, the data. */
function file(header: string, data: ArrayLike<number> = [], lengthField?: [number, number]) {
  const h = utf8(header);
  const out = new Uint8Array(8 + h.length + data.length);
  const v = new DataView(out.buffer);
  v.setUint32(0, lengthField ? lengthField[0] : h.length, true);
  v.setUint32(4, lengthField ? lengthField[1] : 0, true);
  out.set(h, 8);
  out.set(data, 8 + h.length);
  return out;
}

/** Little-endian bytes of unsigned values of `width` bytes. */
function le(width: 1 | 2 | 4, ...values: number[]): number[] {
  const out: number[] = [];
  for (const x of values) for (let k = 0; k < width; k++) out.push(Math.floor(x / 256 ** k) % 256);
  return out;
}

/** Little-endian bytes of 64-bit values given as [lo, hi] u32 halves. */
function le64(...values: [number, number][]): number[] {
  return values.flatMap(([lo, hi]) => [...le(4, lo), ...le(4, hi)]);
}

function f32Bits(a: Float32Array): number[] {
  return Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));
}

function fromBits(bits: number[]): Float32Array {
  return new Float32Array(new Uint32Array(bits).buffer);
}

function errorOf(fn: () => unknown): SafetensorsError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(SafetensorsError);
    return e as SafetensorsError;
  }
  throw new Error('expected a SafetensorsError, but nothing was thrown');
}

function expectError(fn: () => unknown, ...fragments: string[]): void {
  const e = errorOf(fn);
  for (const f of fragments) expect(e.message).toContain(f);
}

function byName(entries: DecodedEntry[], name: string): DecodedEntry {
  const e = entries.find((x) => x.name === name);
  if (!e) throw new Error(`no entry ${name}`);
  return e;
}

function decodeOne(header: string, data: ArrayLike<number>): DecodedEntry {
  const { entries } = decodeSafetensors(file(header, data));
  expect(entries).toHaveLength(1);
  return entries[0] as DecodedEntry;
}

/** Header for a single tensor "t". */
function one(dtype: string, shape: number[], begin: number, end: number): string {
  return JSON.stringify({ t: { dtype, shape, data_offsets: [begin, end] } });
}

function roundTrip(entries: EncodeEntry[], metadata?: Record<string, string>) {
  return decodeSafetensors(encodeSafetensors(entries, metadata));
}

// ---------------------------------------------------------------------------------------------

describe('safetensors round trip', () => {
  it('round-trips several tensors and metadata', () => {
    const w = new Float32Array([0.5, -1.25, 3, 1e-30, 7e30, 0]);
    const idx = new Int32Array([1, -2, 3]);
    const out = roundTrip(
      [
        { name: 'w', shape: [2, 3], dtype: 'float32', data: w },
        { name: 'idx', shape: [3], dtype: 'int32', data: idx },
      ],
      { format: 'pt', note: 'héllo ✓' },
    );
    expect(out.metadata).toEqual({ format: 'pt', note: 'héllo ✓' });
    const ew = byName(out.entries, 'w');
    expect(ew).toMatchObject({ sourceDtype: 'F32', dtype: 'float32', shape: [2, 3] });
    expect(ew.data).toBeInstanceOf(Float32Array);
    expect(Array.from(ew.data)).toEqual(Array.from(w));
    const ei = byName(out.entries, 'idx');
    expect(ei).toMatchObject({ sourceDtype: 'I32', dtype: 'int32', shape: [3] });
    expect(ei.data).toBeInstanceOf(Int32Array);
    expect(Array.from(ei.data)).toEqual([1, -2, 3]);
  });

  it('round-trips rank-0 tensors (shape [])', () => {
    const out = roundTrip([
      { name: 's', shape: [], dtype: 'float32', data: new Float32Array([Math.PI]) },
      { name: 'i', shape: [], dtype: 'int32', data: new Int32Array([-7]) },
    ]);
    expect(byName(out.entries, 's').shape).toEqual([]);
    expect(byName(out.entries, 's').data[0]).toBe(Math.fround(Math.PI));
    expect(Array.from(byName(out.entries, 'i').data)).toEqual([-7]);
  });

  it('round-trips size-0 tensors with begin == end', () => {
    const entries: EncodeEntry[] = [
      { name: 'e0', shape: [0], dtype: 'float32', data: new Float32Array(0) },
      { name: 'e1', shape: [3, 0, 2], dtype: 'int32', data: new Int32Array(0) },
      { name: 'x', shape: [2], dtype: 'float32', data: new Float32Array([1, 2]) },
      { name: 'z', shape: [0, 5], dtype: 'float32', data: new Float32Array(0) },
    ];
    const bytes = encodeSafetensors(entries);
    const n = new DataView(bytes.buffer).getUint32(0, true);
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
    for (const name of ['e0', 'e1', 'z']) {
      const [b, e] = header[name].data_offsets;
      expect(b).toBe(e);
    }
    const out = decodeSafetensors(bytes);
    expect(byName(out.entries, 'e1').shape).toEqual([3, 0, 2]);
    expect(byName(out.entries, 'e1').data).toHaveLength(0);
    expect(byName(out.entries, 'z').shape).toEqual([0, 5]);
    expect(Array.from(byName(out.entries, 'x').data)).toEqual([1, 2]);
  });

  it('round-trips int32 extremes', () => {
    const data = new Int32Array([-2147483648, 2147483647, 0, -1, 1]);
    const out = roundTrip([{ name: 'i', shape: [5], dtype: 'int32', data }]);
    expect(Array.from(out.entries[0]?.data ?? [])).toEqual(Array.from(data));
  });

  it('preserves NaN (with payloads), ±Inf, -0 and subnormals bit for bit', () => {
    const bits = [
      0x7fc00000, 0xffc00000, 0x7fc00001, 0x7fa00000 /* signalling */, 0xffffffff, 0x7f800000,
      0xff800000, 0x80000000, 0x00000001, 0x807fffff, 0x7f7fffff,
    ];
    const data = fromBits(bits);
    const out = roundTrip([{ name: 'f', shape: [bits.length], dtype: 'float32', data }]);
    expect(f32Bits(out.entries[0]?.data as Float32Array)).toEqual(bits);
  });

  it('encodes typed arrays that are views at an offset into a larger buffer', () => {
    const big = new Float32Array([9, 9, 1, 2, 3, 9]);
    const view = big.subarray(2, 5);
    const out = roundTrip([{ name: 'v', shape: [3], dtype: 'float32', data: view }]);
    expect(Array.from(out.entries[0]?.data ?? [])).toEqual([1, 2, 3]);
  });

  it('decodes from an unaligned Uint8Array view and from a Buffer', () => {
    const bytes = encodeSafetensors([
      { name: 'a', shape: [3], dtype: 'float32', data: new Float32Array([1.5, -2, 3]) },
      { name: 'b', shape: [2], dtype: 'int32', data: new Int32Array([5, -6]) },
    ]);
    for (const shift of [1, 2, 3, 5]) {
      const host = new Uint8Array(bytes.length + shift + 3);
      host.set(bytes, shift);
      const out = decodeSafetensors(host.subarray(shift, shift + bytes.length));
      expect(Array.from(byName(out.entries, 'a').data)).toEqual([1.5, -2, 3]);
      expect(Array.from(byName(out.entries, 'b').data)).toEqual([5, -6]);
    }
    const out = decodeSafetensors(Buffer.from(bytes));
    expect(out.entries).toHaveLength(2);
  });

  it('property: random tensors round-trip bit-exactly', () => {
    const tensor = fc
      .record({
        shape: fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 4 }),
        isFloat: fc.boolean(),
        seed: fc.integer(),
      })
      .chain(({ shape, isFloat }) => {
        const n = shape.reduce((a, b) => a * b, 1);
        return fc.record({
          shape: fc.constant(shape),
          isFloat: fc.constant(isFloat),
          words: fc.array(fc.integer({ min: -2147483648, max: 2147483647 }), {
            minLength: n,
            maxLength: n,
          }),
        });
      });
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.tuple(fc.string({ unit: 'grapheme', maxLength: 8 }), tensor), {
          selector: ([name]) => name,
          maxLength: 6,
        }),
        fc.dictionary(fc.string(), fc.string(), { maxKeys: 3 }),
        (list, metadata) => {
          const entries: EncodeEntry[] = list
            .filter(([name]) => name !== '__metadata__')
            .map(([name, t]) => {
              const words = new Int32Array(t.words);
              return t.isFloat
                ? { name, shape: t.shape, dtype: 'float32', data: new Float32Array(words.buffer) }
                : { name, shape: t.shape, dtype: 'int32', data: words };
            });
          const bytes = encodeSafetensors(entries, metadata);
          const n = new DataView(bytes.buffer).getUint32(0, true);
          expect(n % 8).toBe(0);
          const out = decodeSafetensors(bytes);
          expect(out.metadata).toEqual({ ...metadata });
          expect(out.entries).toHaveLength(entries.length);
          for (const e of entries) {
            const d = byName(out.entries, e.name);
            expect(d.shape).toEqual(e.shape);
            expect(d.dtype).toBe(e.dtype);
            expect(d.sourceDtype).toBe(e.dtype === 'float32' ? 'F32' : 'I32');
            expect(
              Array.from(new Uint32Array(d.data.buffer, d.data.byteOffset, d.data.length)),
            ).toEqual(Array.from(new Uint32Array(e.data.buffer, e.data.byteOffset, e.data.length)));
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('safetensors encoder layout', () => {
  it('writes the empty file exactly like the reference writer', () => {
    // N = 8: "{}" padded with 6 spaces.
    expect(Array.from(encodeSafetensors([]))).toEqual([
      8,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      ...utf8('{}      '),
    ]);
  });

  it('writes metadata first, padded with spaces to 8 bytes', () => {
    const header = '{"__metadata__":{"framework":"pt"}}'; // 35 bytes -> 40
    expect(header.length).toBe(35);
    const expected = [40, 0, 0, 0, 0, 0, 0, 0, ...utf8(`${header}     `)];
    expect(Array.from(encodeSafetensors([], { framework: 'pt' }))).toEqual(expected);
  });

  it('golden bytes: one F32 tensor whose header needs no padding', () => {
    const header = '{"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}}';
    expect(header.length).toBe(64);
    const data = [
      ...[0x00, 0x00, 0x00, 0x00], // 0.0
      ...[0x00, 0x00, 0x80, 0x3f], // 1.0
      ...[0x00, 0x00, 0x00, 0x40], // 2.0
      ...[0x00, 0x00, 0x40, 0x40], // 3.0
      ...[0x00, 0x00, 0x80, 0x40], // 4.0
      ...[0x00, 0x00, 0xa0, 0x40], // 5.0
    ];
    const expected = [64, 0, 0, 0, 0, 0, 0, 0, ...utf8(header), ...data];
    const bytes = encodeSafetensors([
      {
        name: 'attn.0',
        shape: [1, 2, 3],
        dtype: 'float32',
        data: new Float32Array([0, 1, 2, 3, 4, 5]),
      },
    ]);
    expect(Array.from(bytes)).toEqual(expected);
  });

  it('golden bytes: one F32 tensor whose header is padded with 7 spaces', () => {
    const header = '{"attn0":{"dtype":"F32","shape":[1,1,2,3],"data_offsets":[0,24]}}';
    expect(header.length).toBe(65);
    const bytes = encodeSafetensors([
      {
        name: 'attn0',
        shape: [1, 1, 2, 3],
        dtype: 'float32',
        data: new Float32Array([0, 1, 2, 3, 4, 5]),
      },
    ]);
    expect(Array.from(bytes.subarray(0, 8 + 72))).toEqual([
      72,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      ...utf8(`${header}       `),
    ]);
    expect(Array.from(bytes.subarray(80, 84))).toEqual([0, 0, 0, 0]);
    expect(Array.from(bytes.subarray(84, 88))).toEqual([0x00, 0x00, 0x80, 0x3f]);
    expect(bytes.length).toBe(80 + 24);
  });

  it('lays out F32 before I32, each sorted by code point, deterministically', () => {
    const f = (name: string): EncodeEntry => ({
      name,
      shape: [1],
      dtype: 'float32',
      data: new Float32Array([1]),
    });
    const i = (name: string): EncodeEntry => ({
      name,
      shape: [1],
      dtype: 'int32',
      data: new Int32Array([1]),
    });
    // U+FFFF sorts before U+1F600 by code point (UTF-8 byte order) but after it by UTF-16 unit.
    const list = [i('c'), f('\u{1F600}'), i('b'), f('\uFFFF'), f('B'), f('a')];
    const bytes = encodeSafetensors(list);
    const n = new DataView(bytes.buffer).getUint32(0, true);
    const text = new TextDecoder().decode(bytes.subarray(8, 8 + n));
    const header = JSON.parse(text);
    // Tensors in the order they appear in the header text (same as the data order).
    const order = [...text.matchAll(/"((?:[^"\\]|\\.)*)":\{"dtype":"(F32|I32)"/g)].map(
      (m) => `${m[2]}:${JSON.parse(`"${m[1]}"`)}`,
    );
    expect(order).toEqual(['F32:B', 'F32:a', 'F32:\uFFFF', 'F32:\u{1F600}', 'I32:b', 'I32:c']);
    // Offsets follow that order contiguously.
    expect(header.B.data_offsets).toEqual([0, 4]);
    expect(header.c.data_offsets).toEqual([20, 24]);
    // Input order does not matter.
    expect(Array.from(encodeSafetensors([...list].reverse()))).toEqual(Array.from(bytes));
  });

  it('escapes names that need JSON escaping', () => {
    const name = 'we"ird\\na\nme\u0001/é';
    const out = roundTrip([{ name, shape: [1], dtype: 'int32', data: new Int32Array([3]) }]);
    expect(out.entries[0]?.name).toBe(name);
  });
});

describe('safetensors decoding of each source dtype (hand-built files)', () => {
  it('F32 at an unaligned data start', () => {
    const header = one('F32', [3], 0, 12); // 57 bytes: data starts at odd file offset 65
    expect(utf8(header).length % 2).toBe(1);
    const e = decodeOne(header, [
      ...[0x00, 0x00, 0x80, 0x3f], // 1
      ...[0x00, 0x00, 0x20, 0xc1], // -10
      ...[0x01, 0x00, 0xc0, 0x7f], // NaN with payload 1
    ]);
    expect(e).toMatchObject({ sourceDtype: 'F32', dtype: 'float32', shape: [3] });
    expect(f32Bits(e.data as Float32Array)).toEqual([0x3f800000, 0xc1200000, 0x7fc00001]);
  });

  it('F16: normals, max, subnormals, signed zero, inf, nan', () => {
    const cases: [number, number][] = [
      [0x3c00, 1],
      [0xc000, -2],
      [0x7bff, 65504],
      [0x3555, 0.333251953125],
      [0x0400, 2 ** -14], // smallest normal
      [0x0001, 2 ** -24], // smallest subnormal
      [0x03ff, 1023 * 2 ** -24], // largest subnormal
      [0x8001, -(2 ** -24)],
      [0x0000, 0],
      [0x7c00, Number.POSITIVE_INFINITY],
      [0xfc00, Number.NEGATIVE_INFINITY],
    ];
    const bits = [...cases.map(([b]) => b), 0x8000, 0x7e00, 0x7c01, 0xfe00];
    const e = decodeOne(one('F16', [bits.length], 0, 2 * bits.length), le(2, ...bits));
    expect(e).toMatchObject({ sourceDtype: 'F16', dtype: 'float32' });
    for (const [i, [, v]] of cases.entries()) expect(e.data[i]).toBe(v);
    const f = f32Bits(e.data as Float32Array);
    expect(f[cases.length]).toBe(0x80000000); // -0
    expect(Number.isNaN(e.data[cases.length + 1])).toBe(true);
    expect(f[cases.length + 1]).toBe(0x7fc00000); // quiet NaN
    expect(f[cases.length + 2]).toBe(0x7f802000); // payload 1 shifted into the f32 mantissa
    expect(f[cases.length + 3]).toBe(0xffc00000); // negative quiet NaN
  });

  it('F16: every one of the 65536 bit patterns matches an independent formula', () => {
    const all = Array.from({ length: 65536 }, (_, i) => i);
    const e = decodeOne(one('F16', [65536], 0, 131072), le(2, ...all));
    for (const h of all) {
      const s = h >> 15 ? -1 : 1;
      const exp = (h >> 10) & 31;
      const m = h & 1023;
      const v =
        exp === 0
          ? s * m * 2 ** -24
          : exp === 31
            ? m
              ? Number.NaN
              : s * Number.POSITIVE_INFINITY
            : s * (1 + m / 1024) * 2 ** (exp - 15);
      if (Number.isNaN(v)) expect(Number.isNaN(e.data[h])).toBe(true);
      else if (!Object.is(e.data[h], v))
        throw new Error(`F16 0x${h.toString(16)}: got ${e.data[h]}, want ${v}`);
    }
  });

  it('BF16', () => {
    const cases: [number, number][] = [
      [0x3f80, 1],
      [0xc000, -2],
      [0x4049, 3.140625],
      [0x3e20, 0.15625],
      [0x7f7f, 3.3895313892515355e38], // largest finite
      [0x0080, 2 ** -126], // smallest normal
      [0x0001, 2 ** -133], // smallest subnormal
      [0x7f80, Number.POSITIVE_INFINITY],
      [0xff80, Number.NEGATIVE_INFINITY],
    ];
    const bits = [...cases.map(([b]) => b), 0x8000, 0x7fc0, 0xffc1];
    const e = decodeOne(one('BF16', [bits.length], 0, 2 * bits.length), le(2, ...bits));
    expect(e).toMatchObject({ sourceDtype: 'BF16', dtype: 'float32' });
    for (const [i, [, v]] of cases.entries()) expect(e.data[i]).toBe(v);
    const f = f32Bits(e.data as Float32Array);
    expect(f.slice(cases.length)).toEqual([0x80000000, 0x7fc00000, 0xffc10000]);
  });

  it('F64 rounds to float32; overflow becomes ±Inf', () => {
    const values: [number, number][] = [
      [0x00000000, 0x3ff80000], // 1.5
      [0x00000000, 0x80000000], // -0
      [0x9999999a, 0x3fb99999], // 0.1
      [0x00000000, 0x36a00000], // 2^-149, smallest float32 subnormal
      [0x00000000, 0x7ff00000], // +Inf
      [0x7e37e43c, 0x7e37e43c], // ~1e300 -> +Inf
      [0x7e37e43c, 0xfe37e43c], // ~-1e300 -> -Inf
      [0x00000001, 0x7ff80000], // NaN
    ];
    const e = decodeOne(one('F64', [values.length], 0, 8 * values.length), le64(...values));
    expect(e).toMatchObject({ sourceDtype: 'F64', dtype: 'float32' });
    expect(Array.from(e.data).slice(0, 7)).toEqual([
      1.5,
      -0,
      Math.fround(0.1),
      2 ** -149,
      Number.POSITIVE_INFINITY,
      Number.POSITIVE_INFINITY,
      Number.NEGATIVE_INFINITY,
    ]);
    expect(Object.is(e.data[1], -0)).toBe(true);
    expect(Number.isNaN(e.data[7])).toBe(true);
  });

  it('I64 / U64 / U32 within int32 range', () => {
    const i64 = decodeOne(
      one('I64', [5], 0, 40),
      le64([0, 0], [0xffffffff, 0xffffffff], [0x7fffffff, 0], [0x80000000, 0xffffffff], [42, 0]),
    );
    expect(i64).toMatchObject({ sourceDtype: 'I64', dtype: 'int32' });
    expect(Array.from(i64.data)).toEqual([0, -1, 2147483647, -2147483648, 42]);
    const u64 = decodeOne(one('U64', [2], 0, 16), le64([0x7fffffff, 0], [7, 0]));
    expect(Array.from(u64.data)).toEqual([2147483647, 7]);
    const u32 = decodeOne(one('U32', [3], 0, 12), le(4, 0, 0x7fffffff, 1));
    expect(Array.from(u32.data)).toEqual([0, 2147483647, 1]);
  });

  it('I64 / U64 / U32 outside int32 range is an error naming tensor, element and value', () => {
    const cases: [string, number[], string][] = [
      ['I64', le64([0, 0], [0x80000000, 0]), '2147483648'],
      ['I64', le64([0x7fffffff, 0xffffffff]), '-2147483649'],
      ['I64', le64([0, 1]), '4294967296'],
      ['I64', le64([0xffffffff, 0x7fffffff]), '9223372036854775807'],
      ['I64', le64([0, 0x80000000]), '-9223372036854775808'],
      ['U64', le64([0x80000000, 0]), '2147483648'],
      ['U64', le64([0xffffffff, 0xffffffff]), '18446744073709551615'],
      ['U32', le(4, 0x80000000), '2147483648'],
      ['U32', le(4, 0xffffffff), '4294967295'],
    ];
    for (const [dtype, data, value] of cases) {
      const size = dtype === 'U32' ? 4 : 8;
      const n = data.length / size;
      const header = JSON.stringify({
        big_ids: { dtype, shape: [n], data_offsets: [0, data.length] },
      });
      expectError(
        () => decodeSafetensors(file(header, data)),
        '"big_ids"',
        dtype,
        `element ${n - 1}`,
        value,
        'int32',
      );
    }
  });

  it('I32, I16, U16, I8, U8, BOOL', () => {
    expect(
      Array.from(decodeOne(one('I32', [3], 0, 12), le(4, 0x80000000, 0x7fffffff, 0xfffffffe)).data),
    ).toEqual([-2147483648, 2147483647, -2]);
    expect(
      Array.from(decodeOne(one('I16', [4], 0, 8), le(2, 0x8000, 0x7fff, 0xffff, 1)).data),
    ).toEqual([-32768, 32767, -1, 1]);
    expect(Array.from(decodeOne(one('U16', [3], 0, 6), le(2, 0xffff, 0x8000, 0)).data)).toEqual([
      65535, 32768, 0,
    ]);
    expect(Array.from(decodeOne(one('I8', [4], 0, 4), [0x80, 0x7f, 0xff, 0]).data)).toEqual([
      -128, 127, -1, 0,
    ]);
    expect(Array.from(decodeOne(one('U8', [3], 0, 3), [0xff, 0x80, 0]).data)).toEqual([
      255, 128, 0,
    ]);
    const b = decodeOne(one('BOOL', [2, 2], 0, 4), [1, 0, 0, 1]);
    expect(b).toMatchObject({ sourceDtype: 'BOOL', dtype: 'int32', shape: [2, 2] });
    expect(Array.from(b.data)).toEqual([1, 0, 0, 1]);
    expectError(
      () => decodeSafetensors(file(one('BOOL', [2], 0, 2), [1, 2])),
      '"t"',
      'BOOL',
      'element 1',
      'byte 2',
    );
  });

  it('many dtypes in one file at unaligned offsets, header keys in any order', () => {
    const header = JSON.stringify({
      f64: { dtype: 'F64', shape: [1], data_offsets: [8, 16] },
      u8: { dtype: 'U8', shape: [1], data_offsets: [0, 1] },
      i32: { dtype: 'I32', shape: [1], data_offsets: [1, 5] },
      f16: { dtype: 'F16', shape: [1], data_offsets: [5, 7] },
      i8: { dtype: 'I8', shape: [], data_offsets: [7, 8] },
      f32: { dtype: 'F32', shape: [1, 1], data_offsets: [16, 20] },
      __metadata__: { k: 'v' },
    });
    const data = [
      0x07, // u8 7
      ...le(4, 0xfffffffd), // i32 -3
      ...le(2, 0x3c00), // f16 1
      0xfe, // i8 -2
      ...le64([0, 0x40040000]), // f64 2.5
      ...[0x00, 0x00, 0x80, 0xbf], // f32 -1
    ];
    const out = decodeSafetensors(file(header, data));
    expect(out.metadata).toEqual({ k: 'v' });
    expect(out.entries.map((e) => e.name)).toEqual(['u8', 'i32', 'f16', 'i8', 'f64', 'f32']);
    expect(out.entries.map((e) => e.data[0])).toEqual([7, -3, 1, -2, 2.5, -1]);
    expect(out.entries.map((e) => e.dtype)).toEqual([
      'int32',
      'int32',
      'float32',
      'int32',
      'float32',
      'float32',
    ]);
    expect(byName(out.entries, 'i8').shape).toEqual([]);
  });

  it('accepts trailing whitespace padding, empty tensors anywhere, and no metadata', () => {
    const header =
      '{"a":{"dtype":"F32","shape":[0],"data_offsets":[0,0]},' +
      '"b":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},' +
      '"c":{"dtype":"I64","shape":[0,3],"data_offsets":[2,2]}}   \n\t ';
    const out = decodeSafetensors(file(header, [3, 4]));
    expect(out.metadata).toEqual({});
    expect(out.entries.map((e) => [e.name, e.data.length])).toEqual([
      ['a', 0],
      ['b', 2],
      ['c', 0],
    ]);
  });

  it('keeps odd metadata keys as plain data', () => {
    const out = decodeSafetensors(file('{"__metadata__":{"__proto__":"x","constructor":"y"}}'));
    expect(Object.getPrototypeOf(out.metadata)).toBe(Object.prototype);
    expect(Object.keys(out.metadata)).toEqual(['__proto__', 'constructor']);
    expect(out.metadata.constructor).toBe('y');
  });

  it('treats "__metadata__": null as no metadata', () => {
    expect(decodeSafetensors(file('{"__metadata__":null}')).metadata).toEqual({});
  });
});

describe('safetensors golden file', () => {
  it('decodes a file written byte for byte from the spec', () => {
    // Header written literally: 148 bytes + 4 spaces of padding = 152 (a multiple of 8).
    const header =
      '{"__metadata__":{"format":"pt"},' +
      '"weight":{"dtype":"F16","shape":[2,2],"data_offsets":[0,8]},' +
      '"ids":{"dtype":"I64","shape":[2],"data_offsets":[8,24]}}';
    expect(header.length).toBe(148);
    // biome-ignore format: one row per field of the file
    const bytes = new Uint8Array([
      0x98, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // u64 LE header length = 152 = 0x98
      ...utf8(header),
      0x20, 0x20, 0x20, 0x20, // padding
      0x00, 0x3c, 0x00, 0xc0, 0x00, 0x38, 0xff, 0x7b, // weight: F16 1.0, -2.0, 0.5, 65504
      0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // ids[0]: I64 3
      0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // ids[1]: I64 -1
    ]);
    expect(bytes.length).toBe(8 + 152 + 24);
    const out = decodeSafetensors(bytes);
    expect(out.metadata).toEqual({ format: 'pt' });
    expect(out.entries).toHaveLength(2);
    const [w, ids] = out.entries as [DecodedEntry, DecodedEntry];
    expect(w).toMatchObject({
      name: 'weight',
      sourceDtype: 'F16',
      dtype: 'float32',
      shape: [2, 2],
    });
    expect(Array.from(w.data)).toEqual([1, -2, 0.5, 65504]);
    expect(ids).toMatchObject({ name: 'ids', sourceDtype: 'I64', dtype: 'int32', shape: [2] });
    expect(Array.from(ids.data)).toEqual([3, -1]);
  });
});

describe('safetensors malformed input', () => {
  const f32x2 = [0, 0, 0x80, 0x3f, 0, 0, 0, 0x40];

  it('is a SafetensorsError (an Error with its own name)', () => {
    const e = errorOf(() => decodeSafetensors(new Uint8Array(3)));
    expect(e).toBeInstanceOf(Error);
    expect(e.name).toBe('SafetensorsError');
  });

  it('rejects input that is not a Uint8Array', () => {
    expectError(
      () => decodeSafetensors(new ArrayBuffer(16) as unknown as Uint8Array),
      'Uint8Array',
    );
    expectError(() => decodeSafetensors([1, 2, 3] as unknown as Uint8Array), 'Uint8Array');
  });

  it('rejects files shorter than 8 bytes', () => {
    expectError(() => decodeSafetensors(new Uint8Array(0)), 'at least 8 bytes', 'got 0');
    expectError(() => decodeSafetensors(new Uint8Array(7)), 'at least 8 bytes', 'got 7');
  });

  it('rejects a header length larger than the file, up to 2^64 - 1, without allocating', () => {
    expectError(
      () => decodeSafetensors(file('{}', [], [1000, 0])),
      'header',
      '1000',
      'only 2 bytes',
    );
    expectError(() => decodeSafetensors(file('{}', [], [0, 1])), '4294967296');
    expectError(
      () => decodeSafetensors(file('{}', [], [0xffffffff, 0xffffffff])),
      '18446744073709551615',
    );
    expectError(() => decodeSafetensors(file('{}', [], [3, 0])), 'only 2 bytes');
  });

  it('rejects headers over the size limit before decoding them', () => {
    const n = SAFETENSORS_MAX_HEADER_BYTES + 1;
    const bytes = new Uint8Array(8 + n);
    new DataView(bytes.buffer).setUint32(0, n, true);
    expectError(() => decodeSafetensors(bytes), 'header', String(n), 'limit');
  });

  it('rejects a header that is not valid UTF-8', () => {
    const bad = (header: number[]) => {
      const bytes = new Uint8Array(8 + header.length);
      bytes[0] = header.length;
      bytes.set(header, 8);
      return bytes;
    };
    expectError(
      () => decodeSafetensors(bad([0x7b, 0x22, 0x61, 0xff, 0x22, 0x7d])),
      'UTF-8',
      'header byte 3',
      '0xff',
    );
    expectError(() => decodeSafetensors(bad([0x7b, 0xc0, 0xaf, 0x7d])), 'UTF-8', 'header byte 1'); // overlong
    expectError(
      () => decodeSafetensors(bad([0x7b, 0x7d, 0xed, 0xa0, 0x80])),
      'UTF-8',
      'header byte 2',
    ); // surrogate
    expectError(() => decodeSafetensors(bad([0x7b, 0x7d, 0xe2, 0x82])), 'UTF-8', 'header byte 2'); // truncated
  });

  it('rejects a header that is not JSON', () => {
    expectError(() => decodeSafetensors(file('{"a":')), 'header', 'JSON');
    expectError(() => decodeSafetensors(file('')), 'header', 'JSON');
    expectError(() => decodeSafetensors(file('{}\0\0\0\0\0\0')), 'header', 'JSON');
    expectError(() => decodeSafetensors(file('\uFEFF{}')), 'header', 'JSON'); // BOM
  });

  it('rejects a header that is not an object', () => {
    expectError(() => decodeSafetensors(file('[]')), 'header', 'expected a JSON object', 'array');
    expectError(() => decodeSafetensors(file('null')), 'expected a JSON object', 'null');
    expectError(() => decodeSafetensors(file('"x"')), 'expected a JSON object', 'string');
    expectError(() => decodeSafetensors(file('42')), 'expected a JSON object', 'number 42');
  });

  it('rejects bad __metadata__', () => {
    expectError(
      () => decodeSafetensors(file('{"__metadata__":[]}')),
      '__metadata__',
      'object',
      'array',
    );
    expectError(
      () => decodeSafetensors(file('{"__metadata__":{"k":1}}')),
      '__metadata__',
      '"k"',
      'string',
      'number 1',
    );
  });

  it('rejects tensor entries with missing or mistyped fields', () => {
    const d = (header: string, ...frags: string[]) =>
      expectError(() => decodeSafetensors(file(header, f32x2)), ...frags);
    d('{"w":5}', '"w"', 'expected an object', 'number 5');
    d('{"w":[]}', '"w"', 'expected an object', 'array');
    d('{"w":{"shape":[2],"data_offsets":[0,8]}}', '"w"', '"dtype"', 'missing');
    d('{"w":{"dtype":32,"shape":[2],"data_offsets":[0,8]}}', '"w"', '"dtype"', 'number 32');
    d('{"w":{"dtype":"F32","data_offsets":[0,8]}}', '"w"', '"shape"', 'missing');
    d('{"w":{"dtype":"F32","shape":2,"data_offsets":[0,8]}}', '"w"', '"shape"', 'number 2');
    d('{"w":{"dtype":"F32","shape":[2]}}', '"w"', '"data_offsets"', 'missing');
    d('{"w":{"dtype":"F32","shape":[2],"data_offsets":"0-8"}}', '"w"', '"data_offsets"', 'string');
    d('{"w":{"dtype":"F32","shape":[2],"data_offsets":[0]}}', '"w"', '"data_offsets"', 'length 1');
    d(
      '{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8,8]}}',
      '"w"',
      '"data_offsets"',
      'length 3',
    );
  });

  it('rejects unsupported dtypes, naming tensor, dtype and the supported list', () => {
    for (const dtype of ['F8_E4M3', 'F8_E5M2', 'float32', '', '__proto__', 'toString']) {
      const header = JSON.stringify({ q8: { dtype, shape: [8], data_offsets: [0, 8] } });
      expectError(
        () => decodeSafetensors(file(header, f32x2)),
        '"q8"',
        `unsupported dtype ${JSON.stringify(dtype)}`,
        SAFETENSORS_SUPPORTED_DTYPES.join(', '),
      );
    }
    expect(SAFETENSORS_SUPPORTED_DTYPES).toEqual(
      expect.arrayContaining([
        'F64',
        'F32',
        'F16',
        'BF16',
        'I64',
        'I32',
        'I16',
        'I8',
        'U8',
        'U16',
        'U32',
        'U64',
        'BOOL',
      ]),
    );
  });

  it('rejects bad shapes', () => {
    const d = (shape: string, ...frags: string[]) =>
      expectError(
        () =>
          decodeSafetensors(
            file(`{"w":{"dtype":"F32","shape":${shape},"data_offsets":[0,8]}}`, f32x2),
          ),
        '"w"',
        ...frags,
      );
    d('[-2]', 'shape[0]', 'non-negative integer', 'number -2');
    d('[2,1.5]', 'shape[1]', 'number 1.5');
    d('["2"]', 'shape[0]', 'string "2"');
    d('[null]', 'shape[0]', 'null');
    d('[9007199254740992]', 'shape[0]', 'below 2^53');
    d('[1e400]', 'shape[0]', 'Infinity');
    d('[67108864,67108864,67108864]', '2^53'); // 2^78 elements
    d('[3]', 'needs 3 x 4 = 12 bytes', 'span 8 bytes');
    d('[1]', 'needs 1 x 4 = 4 bytes', 'span 8 bytes');
    d('[]', 'needs 1 x 4 = 4 bytes');
    // 2^50 elements x 8 bytes overflows 2^53 even though the element count does not.
    expectError(
      () =>
        decodeSafetensors(
          file('{"w":{"dtype":"F64","shape":[1125899906842624],"data_offsets":[0,8]}}', f32x2),
        ),
      '"w"',
      'span 8 bytes',
    );
  });

  it('rejects bad data_offsets', () => {
    const d = (offsets: string, ...frags: string[]) =>
      expectError(
        () =>
          decodeSafetensors(
            file(`{"w":{"dtype":"F32","shape":[2],"data_offsets":${offsets}}}`, f32x2),
          ),
        '"w"',
        ...frags,
      );
    d('[-8,0]', 'data_offsets[0]', 'number -8');
    d('[0,8.5]', 'data_offsets[1]', 'number 8.5');
    d('[0,"8"]', 'data_offsets[1]', 'string');
    d('[0,1e300]', 'data_offsets[1]', 'below 2^53');
    d('[0,18446744073709551615]', 'data_offsets[1]', 'below 2^53');
    d('[8,0]', '[8, 0]', 'begin > end');
    d('[8,16]', '[8, 16]', 'out of range', '8 bytes');
    d('[4,12]', 'out of range');
  });

  it('rejects overlapping tensors', () => {
    const header = JSON.stringify({
      a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
      b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] },
    });
    expectError(
      () => decodeSafetensors(file(header, new Array(12).fill(0))),
      'overlap',
      '"a"',
      '"b"',
      '[4, 12]',
    );
    const same = JSON.stringify({
      a: { dtype: 'U8', shape: [4], data_offsets: [0, 4] },
      b: { dtype: 'U8', shape: [4], data_offsets: [0, 4] },
    });
    expectError(() => decodeSafetensors(file(same, [1, 2, 3, 4])), 'overlap');
    const emptyInside = JSON.stringify({
      a: { dtype: 'U8', shape: [4], data_offsets: [0, 4] },
      e: { dtype: 'U8', shape: [0], data_offsets: [2, 2] },
    });
    expectError(() => decodeSafetensors(file(emptyInside, [1, 2, 3, 4])), 'overlap', '"e"', '"a"');
  });

  it('rejects holes and trailing bytes', () => {
    const hole = JSON.stringify({
      a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] },
      b: { dtype: 'F32', shape: [1], data_offsets: [8, 12] },
    });
    expectError(
      () => decodeSafetensors(file(hole, new Array(12).fill(0))),
      'hole',
      '[4, 8)',
      '"b"',
    );
    const late = JSON.stringify({ a: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } });
    expectError(() => decodeSafetensors(file(late, new Array(8).fill(0))), 'hole', '[0, 4)');
    const trailing = JSON.stringify({ a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } });
    expectError(
      () => decodeSafetensors(file(trailing, new Array(7).fill(0))),
      'cover 4 bytes',
      '7 bytes',
      '3 trailing',
    );
    expectError(() => decodeSafetensors(file('{}', [0])), 'cover 0 bytes', '1 bytes');
  });
});

describe('safetensors encoder errors', () => {
  const ok = (): EncodeEntry => ({
    name: 'x',
    shape: [2],
    dtype: 'float32',
    data: new Float32Array(2),
  });
  const enc = (entries: unknown, metadata?: unknown) => () =>
    encodeSafetensors(entries as EncodeEntry[], metadata as Record<string, string>);

  it('rejects duplicate names', () => {
    expectError(
      enc([ok(), { ...ok(), dtype: 'int32', data: new Int32Array(2) }]),
      '"x"',
      'duplicate',
    );
  });

  it('rejects a shape that does not match the data length', () => {
    expectError(enc([{ ...ok(), shape: [3] }]), '"x"', 'shape [3]', '3 elements', 'data has 2');
    expectError(enc([{ ...ok(), shape: [] }]), '"x"', 'shape []', '1 elements', 'data has 2');
    expectError(enc([{ ...ok(), shape: [2, -1] }]), '"x"', 'shape[1]', 'number -1');
    expectError(enc([{ ...ok(), shape: [1.5] }]), '"x"', 'shape[0]');
    expectError(enc([{ ...ok(), shape: [2 ** 30, 2 ** 30, 2 ** 30] }]), '"x"', '2^53');
    expectError(enc([{ ...ok(), shape: '2' }]), '"x"', 'shape');
  });

  it('rejects bad dtypes, data and names', () => {
    expectError(enc([{ ...ok(), data: new Int32Array(2) }]), '"x"', 'Float32Array', 'Int32Array');
    expectError(enc([{ ...ok(), dtype: 'int32' }]), '"x"', 'Int32Array', 'Float32Array');
    expectError(
      enc([{ ...ok(), dtype: 'float64', data: new Float64Array(2) }]),
      '"x"',
      "'float32' or 'int32'",
    );
    expectError(enc([{ ...ok(), data: [0, 0] }]), '"x"', 'Float32Array', 'array');
    expectError(enc([{ ...ok(), name: '__metadata__' }]), '__metadata__', 'reserved');
    expectError(enc([{ ...ok(), name: 7 }]), 'entries[0].name', 'number 7');
    expectError(enc([{ ...ok(), name: 'a\uD800b' }]), 'surrogate');
    expectError(enc([null]), 'entries[0]', 'null');
    expectError(enc('nope'), 'entries', 'array');
  });

  it('rejects bad metadata', () => {
    expectError(enc([], { a: 1 }), 'metadata', '"a"', 'number 1');
    expectError(enc([], ['a']), 'metadata', 'array');
    expectError(enc([], { a: '\uDC00' }), 'surrogate');
  });
});

describe('safetensors fuzzing: corrupt input never escapes as another error', () => {
  function validFiles(): Uint8Array[] {
    const header = JSON.stringify({
      __metadata__: { format: 'pt' },
      b: { dtype: 'BF16', shape: [2], data_offsets: [0, 4] },
      h: { dtype: 'F16', shape: [1, 2], data_offsets: [4, 8] },
      l: { dtype: 'I64', shape: [1], data_offsets: [8, 16] },
      u: { dtype: 'U32', shape: [], data_offsets: [16, 20] },
      d: { dtype: 'F64', shape: [1], data_offsets: [20, 28] },
      k: { dtype: 'BOOL', shape: [2], data_offsets: [28, 30] },
      e: { dtype: 'I8', shape: [0, 4], data_offsets: [30, 30] },
      s: { dtype: 'I16', shape: [1], data_offsets: [30, 32] },
    });
    const data = [
      ...[0x80, 0x3f, 0x00, 0xc0], // b: BF16 1, -2
      ...[0x00, 0x3c, 0x01, 0x00], // h: F16 1, 2^-24
      ...[0x05, 0, 0, 0, 0, 0, 0, 0], // l: I64 5
      ...[0x09, 0, 0, 0], // u: U32 9
      ...[0, 0, 0, 0, 0, 0, 0xf8, 0x3f], // d: F64 1.5
      ...[1, 0], // k: BOOL
      ...[0xfe, 0xff], // s: I16 -2
    ];
    const encoded = encodeSafetensors(
      [
        { name: 'w', shape: [2, 3], dtype: 'float32', data: new Float32Array([1, 2, 3, 4, 5, 6]) },
        { name: 'i', shape: [2], dtype: 'int32', data: new Int32Array([7, -8]) },
      ],
      { a: 'b' },
    );
    const files = [file(header, data), encoded];
    for (const f of files) decodeSafetensors(f); // all valid to begin with
    return files;
  }

  function expectDecodeOrSafetensorsError(bytes: Uint8Array): void {
    try {
      const out = decodeSafetensors(bytes);
      for (const e of out.entries) {
        expect(e.data.length).toBe(e.shape.reduce((a, b) => a * b, 1));
      }
    } catch (e) {
      if (!(e instanceof SafetensorsError)) throw e;
    }
  }

  const mutation = fc.oneof(
    fc.record({
      kind: fc.constant('set' as const),
      pos: fc.nat(),
      byte: fc.integer({ min: 0, max: 255 }),
    }),
    fc.record({
      kind: fc.constant('digit' as const),
      pos: fc.nat(),
      byte: fc.integer({ min: 0x30, max: 0x39 }),
    }),
    fc.record({ kind: fc.constant('truncate' as const), pos: fc.nat(), byte: fc.constant(0) }),
    fc.record({
      kind: fc.constant('insert' as const),
      pos: fc.nat(),
      byte: fc.integer({ min: 0, max: 255 }),
    }),
    fc.record({ kind: fc.constant('delete' as const), pos: fc.nat(), byte: fc.constant(0) }),
  );

  function mutate(
    src: Uint8Array,
    muts: { kind: string; pos: number; byte: number }[],
  ): Uint8Array {
    let b = Array.from(src);
    for (const m of muts) {
      const at = b.length === 0 ? 0 : m.pos % b.length;
      if (m.kind === 'set') b[at] = m.byte;
      else if (m.kind === 'digit') {
        // Replace the k-th ASCII digit (targets shapes, offsets and the length field's meaning).
        const digits = b.map((x, i) => (x >= 0x30 && x <= 0x39 ? i : -1)).filter((i) => i >= 0);
        const d = digits.length ? digits[m.pos % digits.length] : undefined;
        if (d !== undefined) b[d] = m.byte;
      } else if (m.kind === 'truncate') b = b.slice(0, at);
      else if (m.kind === 'insert') b.splice(at, 0, m.byte);
      else b.splice(at, 1);
    }
    return new Uint8Array(b);
  }

  it('property: random corruptions and truncations decode or throw SafetensorsError', () => {
    const files = validFiles();
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: files.length - 1 }),
        fc.array(mutation, { minLength: 1, maxLength: 4 }),
        (which, muts) => expectDecodeOrSafetensorsError(mutate(files[which] as Uint8Array, muts)),
      ),
      { numRuns: 3000 },
    );
  });

  it('property: corrupt length prefixes decode or throw SafetensorsError', () => {
    const files = validFiles();
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: files.length - 1 }),
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.integer({ min: 0, max: 0xffffffff }),
        (which, lo, hi) => {
          const b = (files[which] as Uint8Array).slice();
          const v = new DataView(b.buffer);
          v.setUint32(0, lo, true);
          v.setUint32(4, hi % 3 === 0 ? 0 : hi, true);
          expectDecodeOrSafetensorsError(b);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('property: arbitrary JSON headers over random data decode or throw SafetensorsError', () => {
    const entry = fc.record(
      {
        dtype: fc.oneof(
          fc.constantFrom(...SAFETENSORS_SUPPORTED_DTYPES, 'F8_E4M3'),
          fc.jsonValue(),
        ),
        shape: fc.oneof(
          fc.array(fc.integer({ min: -1, max: 5 }), { maxLength: 3 }),
          fc.jsonValue(),
        ),
        data_offsets: fc.oneof(fc.tuple(fc.nat(24), fc.nat(24)), fc.jsonValue()),
      },
      { requiredKeys: [] },
    );
    const header = fc.dictionary(
      fc.oneof(fc.string(), fc.constant('__metadata__')),
      fc.oneof(entry, fc.jsonValue()),
      {
        maxKeys: 4,
      },
    );
    fc.assert(
      fc.property(header, fc.uint8Array({ maxLength: 24 }), (h, data) => {
        expectDecodeOrSafetensorsError(file(JSON.stringify(h), data));
      }),
      { numRuns: 1000 },
    );
  });

  it('property: random bytes decode or throw SafetensorsError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) =>
        expectDecodeOrSafetensorsError(bytes),
      ),
      { numRuns: 500 },
    );
  });
});

describe('hostile headers (issue 13, case 8)', () => {
  /** A file whose header is `json` and whose data buffer is empty. */
  const fileOf = (json: string): Uint8Array => {
    const header = new TextEncoder().encode(json);
    const bytes = new Uint8Array(8 + header.length);
    new DataView(bytes.buffer).setUint32(0, header.length, true);
    bytes.set(header, 8);
    return bytes;
  };

  it('refuses more than SAFETENSORS_MAX_TENSORS tensors before parsing them', () => {
    const n = SAFETENSORS_MAX_TENSORS + 10;
    const parts: string[] = [];
    for (let i = 0; i < n; i++)
      parts.push(`"t${i}":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}`);
    const bytes = fileOf(`{"__metadata__":{"a":"{{{{"},${parts.join(',')}}`);
    expect(() => decodeSafetensors(bytes)).toThrow(
      new RegExp(`lists about ${n + 1} tensors; at most ${SAFETENSORS_MAX_TENSORS}`),
    );
    // Braces inside strings (metadata holding JSON) are not tensors.
    const meta = JSON.stringify({ __metadata__: { cfg: '{'.repeat(SAFETENSORS_MAX_TENSORS + 5) } });
    expect(decodeSafetensors(fileOf(meta)).entries).toEqual([]);
  });

  it('refuses shapes of rank above SAFETENSORS_MAX_RANK, even 3 million, before parsing them', () => {
    const ok = `{"a":{"dtype":"F32","shape":[${Array(SAFETENSORS_MAX_RANK).fill(0).join(',')}],"data_offsets":[0,0]}}`;
    expect(decodeSafetensors(fileOf(ok)).entries[0]?.shape).toHaveLength(SAFETENSORS_MAX_RANK);
    const over = `{"a":{"dtype":"F32","shape":[${Array(SAFETENSORS_MAX_RANK + 1)
      .fill(1)
      .join(',')}],"data_offsets":[0,4]}}`;
    expect(() => decodeSafetensors(fileOf(over))).toThrow(
      /more than 64 elements; tensors of rank above 64/,
    );
    const huge = `{"a":{"dtype":"F32","shape":[${'1,'.repeat(3_000_000)}1],"data_offsets":[0,4]}}`;
    expect(() => decodeSafetensors(fileOf(huge))).toThrow(/rank above 64/);
  });

  it("keeps a tensor named '__proto__' as a tensor of that name, not the record's prototype", () => {
    const record: Record<string, Tensor> = {};
    Object.defineProperty(record, '__proto__', {
      value: tensor([1, 2, 3]),
      enumerable: true,
      writable: true,
      configurable: true,
    });
    record['constructor' as string] = tensor([4]);
    const loaded = loadSafetensors(saveSafetensors(record));
    expect(Object.getPrototypeOf(loaded)).toBe(Object.prototype);
    expect(Object.keys(loaded).sort()).toEqual(['__proto__', 'constructor']);
    const proto = Object.getOwnPropertyDescriptor(loaded, '__proto__')?.value as Tensor;
    expect(Array.from(proto.dataSync())).toEqual([1, 2, 3]);
    expect(Array.from((loaded.constructor as unknown as Tensor).dataSync())).toEqual([4]);
  });
});
