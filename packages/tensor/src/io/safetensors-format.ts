/**
 * Pure safetensors codec: bytes <-> typed arrays. No dependency on the Tensor class.
 *
 * File layout (https://github.com/huggingface/safetensors):
 *   - 8 bytes: N, little-endian u64, the header length in bytes;
 *   - N bytes: UTF-8 JSON object
 *       { "<name>": { "dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end] }, ...,
 *         "__metadata__"?: { "<key>": "<string value>" } }
 *     possibly followed by trailing spaces (writers pad the header to 8-byte alignment);
 *   - the data buffer. `data_offsets` are byte offsets relative to the start of this buffer,
 *     data is little-endian, row-major (C order).
 *
 * Decoding is strict, like the reference reader: tensors must tile the data buffer exactly
 * (no holes, no overlaps, no trailing bytes), and `end - begin` must equal
 * `prod(shape) * sizeof(dtype)`. Every problem is reported as a {@link SafetensorsError} whose
 * message names the part of the file (header / tensor name), what was expected and what came.
 * All checks run on the header alone, before any tensor storage is allocated, so a hostile
 * file cannot trigger huge allocations: output storage is bounded by 4x the input size.
 *
 * Conversions on decode:
 *   - F64, F32, F16, BF16 -> float32. F32, F16 and BF16 convert exactly (NaN payloads kept);
 *     F64 is rounded to nearest float32, values beyond the float32 range become +-Infinity
 *     and NaN payloads are not preserved.
 *   - I64, I32, I16, I8, U64, U32, U16, U8, BOOL -> int32. A value outside the int32 range is
 *     an error naming the tensor and element (never a silent wraparound); a BOOL byte other
 *     than 0 or 1 is an error too.
 *   - Any other dtype (F8_E4M3, F8_E5M2, F4, ...) is an error listing the supported dtypes.
 *
 * Known leniencies of the JSON layer (the reference reader is serde-based): a duplicated key
 * keeps its last value (the dropped tensor then usually shows up as a hole), and integer fields
 * written as e.g. `2.0` are accepted since JSON.parse cannot tell them from `2`. Integers at
 * or above 2^53 are rejected.
 *
 * Encoding writes F32 / I32 tensors, laid out like the reference writer: by descending dtype
 * alignment (F32 before I32, as in the reference's dtype order) and then by name in code-point
 * (= UTF-8 byte) order; `__metadata__` comes first in the header, which is padded with spaces
 * to a multiple of 8 bytes so every tensor starts 8-byte aligned in the file.
 */

/** dtype strings of the safetensors format this codec can decode. */
export type SafetensorsDType =
  | 'F64'
  | 'F32'
  | 'F16'
  | 'BF16'
  | 'I64'
  | 'I32'
  | 'I16'
  | 'I8'
  | 'U8'
  | 'U16'
  | 'U32'
  | 'U64'
  | 'BOOL';

export interface DecodedEntry {
  name: string;
  /** The dtype string as written in the file, e.g. 'BF16'. */
  sourceDtype: string;
  shape: number[];
  dtype: 'float32' | 'int32';
  data: Float32Array | Int32Array;
}

export interface EncodeEntry {
  name: string;
  shape: number[];
  dtype: 'float32' | 'int32';
  data: Float32Array | Int32Array;
}

/** Raised for any malformed file or invalid encoder input. */
export class SafetensorsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SafetensorsError';
  }
}

/** Headers larger than this are refused (same limit as the reference implementation). */
export const SAFETENSORS_MAX_HEADER_BYTES = 100_000_000;

/**
 * Files with more tensors than this are refused before their header is parsed (the largest
 * published checkpoints hold tens of thousands per file; a 100 MB header could list 1.7 million
 * empty ones, costing seconds and gigabytes to build).
 */
export const SAFETENSORS_MAX_TENSORS = 262_144;

/** The highest tensor rank accepted (PyTorch's own limit is 64 dimensions). */
export const SAFETENSORS_MAX_RANK = 64;

interface DtypeInfo {
  size: number;
  target: 'float32' | 'int32';
}

type FloatDType = 'F64' | 'F32' | 'F16' | 'BF16';

/** Bytes per element; the float dtypes read as float32, the integer ones (and BOOL) as int32. */
const FLOAT_SIZES = { F64: 8, F32: 4, F16: 2, BF16: 2 } satisfies Record<FloatDType, number>;
const INT_SIZES = {
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U8: 1,
  U16: 2,
  U32: 4,
  U64: 8,
  BOOL: 1,
} satisfies Record<Exclude<SafetensorsDType, FloatDType>, number>;

const DTYPE_INFO = Object.fromEntries([
  ...Object.entries(FLOAT_SIZES).map(([d, size]) => [d, { size, target: 'float32' }]),
  ...Object.entries(INT_SIZES).map(([d, size]) => [d, { size, target: 'int32' }]),
]) as Record<SafetensorsDType, DtypeInfo>;

/** The dtypes {@link decodeSafetensors} accepts. */
export const SAFETENSORS_SUPPORTED_DTYPES: readonly SafetensorsDType[] = Object.keys(
  DTYPE_INFO,
) as SafetensorsDType[];

const METADATA_KEY = '__metadata__';
const INT32_MIN = -2147483648;
const INT32_MAX = 2147483647;
const TWO_POW_32 = 4294967296;

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

// ---------------------------------------------------------------------------------------------
// small helpers

function fail(message: string): never {
  throw new SafetensorsError(`safetensors: ${message}`);
}

function hasOwn(obj: object, key: string): boolean {
  return Object.hasOwn(obj, key);
}

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function tagOf(x: unknown): string {
  return Object.prototype.toString.call(x).slice(8, -1);
}

/** A name or string value, quoted and shortened for messages. */
function q(s: string): string {
  const json = JSON.stringify(s);
  return json.length > 120 ? `${json.slice(0, 100)}..." (${s.length} chars)` : json;
}

/** A short description of an arbitrary (JSON) value for messages. */
function describe(x: unknown): string {
  if (x === undefined) return 'nothing (missing)';
  if (x === null) return 'null';
  if (Array.isArray(x)) return `an array of length ${x.length}`;
  if (typeof x === 'string') return `the string ${q(x)}`;
  if (typeof x === 'number' || typeof x === 'boolean') return `${typeof x} ${String(x)}`;
  if (typeof x === 'object') return tagOf(x) === 'Object' ? 'an object' : `a ${tagOf(x)}`;
  return `a ${typeof x}`;
}

function fmtShape(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

function isWellFormed(s: string): boolean {
  return !/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(s);
}

/** Compare by Unicode code point, which equals UTF-8 byte order (the reference sorts bytes). */
function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const ca = a.codePointAt(i) ?? 0;
    const cb = b.codePointAt(i) ?? 0;
    if (ca !== cb) return ca < cb ? -1 : 1;
    if (ca > 0xffff) i++; // both strings hold the same surrogate pair here
  }
  return a.length === b.length ? 0 : a.length < b.length ? -1 : 1;
}

/** Exact decimal rendering of an unsigned 64-bit value given as two u32 halves. */
function u64ToDecimal(hi: number, lo: number): string {
  return ((BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0)).toString();
}

/** Exact decimal rendering of a signed (two's complement) 64-bit value. */
function i64ToDecimal(hi: number, lo: number): string {
  return BigInt.asIntN(64, (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0)).toString();
}

/** Product of non-negative integer dims, or -1 when it exceeds 2^53 - 1 (0 if any dim is 0). */
function elementCount(shape: readonly number[]): number {
  if (shape.includes(0)) return 0;
  let n = 1;
  for (const d of shape) {
    n *= d;
    if (n > Number.MAX_SAFE_INTEGER) return -1;
  }
  return n;
}

function allocate<T>(make: () => T, what: string, count: number): T {
  try {
    return make();
  } catch (e) {
    if (e instanceof RangeError) fail(`${what}: cannot allocate ${count} elements (${e.message})`);
    throw e;
  }
}

// ---------------------------------------------------------------------------------------------
// decoding

interface TensorInfo {
  name: string;
  dtype: SafetensorsDType;
  shape: number[];
  count: number;
  begin: number;
  end: number;
}

const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function decodeHeaderText(bytes: Uint8Array, n: number): string {
  try {
    return utf8Decoder.decode(bytes.subarray(8, 8 + n));
  } catch {
    // Locate the first bad byte for the message.
    let i = 0;
    while (i < n) {
      const step = utf8SequenceLength(bytes, 8 + i, 8 + n);
      if (step === 0) break;
      i += step;
    }
    return fail(
      `header: expected ${n} bytes of UTF-8 JSON, but found an invalid UTF-8 sequence at header byte ${i} (file offset ${8 + i}, byte 0x${(bytes[8 + i] ?? 0).toString(16).padStart(2, '0')})`,
    );
  }
}

/** Length of the valid UTF-8 sequence starting at `i`, or 0 if it is invalid. */
function utf8SequenceLength(bytes: Uint8Array, i: number, end: number): number {
  const b0 = bytes[i] ?? 0;
  if (b0 < 0x80) return 1;
  let need: number;
  let lo = 0x80;
  let hi = 0xbf;
  if (b0 >= 0xc2 && b0 <= 0xdf) need = 1;
  else if (b0 >= 0xe0 && b0 <= 0xef) {
    need = 2;
    if (b0 === 0xe0) lo = 0xa0; // overlong
    if (b0 === 0xed) hi = 0x9f; // surrogates
  } else if (b0 >= 0xf0 && b0 <= 0xf4) {
    need = 3;
    if (b0 === 0xf0) lo = 0x90; // overlong
    if (b0 === 0xf4) hi = 0x8f; // > U+10FFFF
  } else return 0;
  if (i + need >= end) return 0;
  for (let k = 1; k <= need; k++) {
    const c = bytes[i + k] ?? 0;
    if (c < (k === 1 ? lo : 0x80) || c > (k === 1 ? hi : 0xbf)) return 0;
  }
  return need + 1;
}

/**
 * One linear pass over the header text, before JSON.parse builds anything: counts the objects
 * (tensor entries, plus the metadata) and the longest array (a shape's rank) outside strings, and
 * refuses more than SAFETENSORS_MAX_TENSORS tensors or a rank beyond SAFETENSORS_MAX_RANK.
 */
function checkHeaderSize(text: string): void {
  let objects = 0;
  let inString = false;
  const arrays: number[] = []; // elements so far of each open array, innermost last
  let depthKinds = ''; // '{' or '[' per open container
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92)
        i++; // backslash: skip the escaped character
      else if (c === 34) inString = false;
      continue;
    }
    if (c === 34) inString = true;
    else if (c === 123) {
      objects++;
      depthKinds += '{';
    } else if (c === 91) {
      depthKinds += '[';
      arrays.push(0);
    } else if (c === 125) depthKinds = depthKinds.slice(0, -1);
    else if (c === 93) {
      depthKinds = depthKinds.slice(0, -1);
      arrays.pop();
    } else if (c === 44 && depthKinds.endsWith('[')) {
      const k = arrays.length - 1;
      arrays[k] = arrays[k]! + 1;
      if (arrays[k] + 1 > SAFETENSORS_MAX_RANK) {
        fail(
          `header: an array (a shape) has more than ${SAFETENSORS_MAX_RANK} elements; tensors of rank above ${SAFETENSORS_MAX_RANK} are not supported`,
        );
      }
    }
  }
  // The outer object and the metadata object are not tensors.
  if (objects - 2 > SAFETENSORS_MAX_TENSORS) {
    fail(
      `header: lists about ${objects - 1} tensors; at most ${SAFETENSORS_MAX_TENSORS} are read from one file`,
    );
  }
}

function parseNonNegativeInt(x: unknown, where: string): number {
  if (typeof x !== 'number' || !Number.isSafeInteger(x) || x < 0) {
    return fail(`${where} must be a non-negative integer below 2^53, got ${describe(x)}`);
  }
  return x === 0 ? 0 : x; // normalize -0
}

function parseMetadata(raw: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (raw === undefined || raw === null) return out; // absent (null = None in the reference)
  if (!isRecord(raw)) {
    return fail(`header: "${METADATA_KEY}" must be an object of strings, got ${describe(raw)}`);
  }
  for (const key of Object.keys(raw)) {
    const value = raw[key];
    if (typeof value !== 'string') {
      fail(
        `header: "${METADATA_KEY}" value for key ${q(key)} must be a string, got ${describe(value)}`,
      );
    }
    // defineProperty so keys like "__proto__" become plain data properties.
    Object.defineProperty(out, key, {
      value,
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return out;
}

function parseTensorInfo(name: string, raw: unknown, dataLength: number): TensorInfo {
  const where = `header: tensor ${q(name)}`;
  if (!isRecord(raw)) {
    return fail(`${where}: expected an object {dtype, shape, data_offsets}, got ${describe(raw)}`);
  }
  const dtypeRaw = hasOwn(raw, 'dtype') ? raw.dtype : undefined;
  if (typeof dtypeRaw !== 'string') {
    return fail(`${where}: "dtype" must be a string, got ${describe(dtypeRaw)}`);
  }
  if (!hasOwn(DTYPE_INFO, dtypeRaw)) {
    return fail(
      `${where}: unsupported dtype ${q(dtypeRaw)}; supported dtypes are ${SAFETENSORS_SUPPORTED_DTYPES.join(', ')}`,
    );
  }
  const dtype = dtypeRaw as SafetensorsDType;
  const { size } = DTYPE_INFO[dtype];

  const shapeRaw = hasOwn(raw, 'shape') ? raw.shape : undefined;
  if (!Array.isArray(shapeRaw)) {
    return fail(
      `${where}: "shape" must be an array of non-negative integers, got ${describe(shapeRaw)}`,
    );
  }
  if (shapeRaw.length > SAFETENSORS_MAX_RANK) {
    return fail(`${where}: rank ${shapeRaw.length} is above the ${SAFETENSORS_MAX_RANK} supported`);
  }
  const shape = shapeRaw.map((d: unknown, i) => parseNonNegativeInt(d, `${where}: shape[${i}]`));
  const count = elementCount(shape);
  if (count < 0) {
    return fail(`${where}: shape ${fmtShape(shape)} has more than 2^53 - 1 elements`);
  }

  const offsetsRaw = hasOwn(raw, 'data_offsets') ? raw.data_offsets : undefined;
  if (!Array.isArray(offsetsRaw) || offsetsRaw.length !== 2) {
    return fail(
      `${where}: "data_offsets" must be an array [begin, end], got ${describe(offsetsRaw)}`,
    );
  }
  const begin = parseNonNegativeInt(offsetsRaw[0], `${where}: data_offsets[0] (begin)`);
  const end = parseNonNegativeInt(offsetsRaw[1], `${where}: data_offsets[1] (end)`);
  if (begin > end) {
    return fail(`${where}: data_offsets [${begin}, ${end}] has begin > end`);
  }
  if (end > dataLength) {
    return fail(
      `${where}: data_offsets [${begin}, ${end}] out of range: the data buffer has ${dataLength} bytes`,
    );
  }
  const byteLength = count * size;
  if (byteLength > Number.MAX_SAFE_INTEGER || byteLength !== end - begin) {
    return fail(
      `${where}: shape ${fmtShape(shape)} with dtype ${dtype} needs ${count} x ${size} = ${byteLength} bytes, but data_offsets [${begin}, ${end}] span ${end - begin} bytes`,
    );
  }
  return { name, dtype, shape, count, begin, end };
}

function checkCoverage(sorted: readonly TensorInfo[], dataLength: number): void {
  let cursor = 0;
  let prev: TensorInfo | undefined;
  for (const t of sorted) {
    if (t.begin < cursor && prev) {
      fail(
        `header: tensor ${q(t.name)} data_offsets [${t.begin}, ${t.end}] overlap tensor ${q(prev.name)} data_offsets [${prev.begin}, ${prev.end}]`,
      );
    }
    if (t.begin > cursor) {
      fail(
        `header: hole in the data buffer: bytes [${cursor}, ${t.begin}) belong to no tensor (next tensor ${q(t.name)} has data_offsets [${t.begin}, ${t.end}])`,
      );
    }
    cursor = t.end;
    prev = t;
  }
  if (cursor !== dataLength) {
    fail(
      `header: tensors cover ${cursor} bytes but the data buffer has ${dataLength} bytes (${dataLength - cursor} trailing bytes belong to no tensor)`,
    );
  }
}

/** Copy `n` little-endian 32-bit words starting at byte `off` into `dst` (any alignment). */
function copyWords32(bytes: Uint8Array, view: DataView, off: number, dst: Uint32Array): void {
  if (LITTLE_ENDIAN) {
    new Uint8Array(dst.buffer, dst.byteOffset, dst.byteLength).set(
      bytes.subarray(off, off + dst.byteLength),
    );
  } else {
    for (let i = 0; i < dst.length; i++) dst[i] = view.getUint32(off + 4 * i, true);
  }
}

/** IEEE binary16 bits -> binary32 bits (exact; NaN payload and sign kept). */
function f16BitsToF32Bits(h: number): number {
  const sign = (h & 0x8000) << 16;
  const exp = (h >> 10) & 0x1f;
  let mant = h & 0x3ff;
  if (exp === 0x1f) return (sign | 0x7f800000 | (mant << 13)) >>> 0; // inf / nan
  if (exp !== 0) return (sign | ((exp + 112) << 23) | (mant << 13)) >>> 0; // normal: 127 - 15
  if (mant === 0) return sign >>> 0; // +-0
  // subnormal: value = mant * 2^-24; normalize it
  let e = 113; // biased float32 exponent of 2^-14
  while ((mant & 0x400) === 0) {
    mant <<= 1;
    e--;
  }
  return (sign | (e << 23) | ((mant & 0x3ff) << 13)) >>> 0;
}

function intRangeError(t: TensorInfo, index: number, value: string): never {
  return fail(
    `tensor ${q(t.name)} (${t.dtype}): element ${index} = ${value} is outside the int32 range [${INT32_MIN}, ${INT32_MAX}]; refusing to wrap around`,
  );
}

function decodeTensorData(
  t: TensorInfo,
  bytes: Uint8Array,
  view: DataView,
  dataStart: number,
): Float32Array | Int32Array {
  const off = dataStart + t.begin;
  return DTYPE_INFO[t.dtype].target === 'float32'
    ? decodeFloats(t, bytes, view, off)
    : decodeInts(t, bytes, view, off);
}

/** A float dtype's elements at byte `off`, widened or narrowed to float32. */
function decodeFloats(t: TensorInfo, bytes: Uint8Array, view: DataView, off: number): Float32Array {
  const n = t.count;
  const what = `tensor ${q(t.name)}`;
  const out = allocate(() => new Float32Array(n), what, n);
  const bits = new Uint32Array(out.buffer);
  switch (t.dtype) {
    case 'F32':
      copyWords32(bytes, view, off, bits);
      break;
    case 'F64':
      for (let i = 0; i < n; i++) out[i] = view.getFloat64(off + 8 * i, true);
      break;
    case 'F16':
      for (let i = 0; i < n; i++) bits[i] = f16BitsToF32Bits(view.getUint16(off + 2 * i, true));
      break;
    case 'BF16':
      for (let i = 0; i < n; i++) bits[i] = view.getUint16(off + 2 * i, true) << 16;
      break;
    default:
      return fail(`${what}: internal error: no float conversion for ${t.dtype}`);
  }
  return out;
}

/** An integer (or BOOL) dtype's elements at byte `off` as int32; a value outside int32 throws. */
function decodeInts(t: TensorInfo, bytes: Uint8Array, view: DataView, off: number): Int32Array {
  const n = t.count;
  const what = `tensor ${q(t.name)}`;
  const out = allocate(() => new Int32Array(n), what, n);
  switch (t.dtype) {
    case 'I32':
      copyWords32(bytes, view, off, new Uint32Array(out.buffer));
      break;
    case 'I16':
      for (let i = 0; i < n; i++) out[i] = view.getInt16(off + 2 * i, true);
      break;
    case 'U16':
      for (let i = 0; i < n; i++) out[i] = view.getUint16(off + 2 * i, true);
      break;
    case 'I8':
      for (let i = 0; i < n; i++) out[i] = view.getInt8(off + i);
      break;
    case 'U8':
      out.set(bytes.subarray(off, off + n));
      break;
    case 'BOOL':
      for (let i = 0; i < n; i++) {
        const b = bytes[off + i] ?? 0;
        if (b > 1) fail(`${what} (BOOL): element ${i} is byte ${b}, expected 0 or 1`);
        out[i] = b;
      }
      break;
    case 'U32':
      for (let i = 0; i < n; i++) {
        const v = view.getUint32(off + 4 * i, true);
        if (v > INT32_MAX) intRangeError(t, i, String(v));
        out[i] = v;
      }
      break;
    case 'I64':
      for (let i = 0; i < n; i++) {
        const lo = view.getUint32(off + 8 * i, true);
        const hi = view.getInt32(off + 8 * i + 4, true);
        const fits = (hi === 0 && lo <= INT32_MAX) || (hi === -1 && lo > INT32_MAX);
        if (!fits) intRangeError(t, i, i64ToDecimal(hi, lo));
        out[i] = lo | 0;
      }
      break;
    case 'U64':
      for (let i = 0; i < n; i++) {
        const lo = view.getUint32(off + 8 * i, true);
        const hi = view.getUint32(off + 8 * i + 4, true);
        if (hi !== 0 || lo > INT32_MAX) intRangeError(t, i, u64ToDecimal(hi, lo));
        out[i] = lo;
      }
      break;
    default:
      return fail(`${what}: internal error: no integer conversion for ${t.dtype}`);
  }
  return out;
}

/**
 * Decode a complete safetensors file. Entries come back in data-buffer order (ties between
 * empty tensors broken by name). Throws {@link SafetensorsError} on any malformed input.
 */
export function decodeSafetensors(bytes: Uint8Array): {
  entries: DecodedEntry[];
  metadata: Record<string, string>;
} {
  if (!ArrayBuffer.isView(bytes) || tagOf(bytes) !== 'Uint8Array') {
    return fail(`input: expected a Uint8Array, got ${describe(bytes)}`);
  }
  const total = bytes.length;
  if (total < 8) {
    return fail(`file: expected at least 8 bytes (the u64 header length), got ${total} bytes`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const lenLo = view.getUint32(0, true);
  const lenHi = view.getUint32(4, true);
  const available = total - 8;
  if (lenHi !== 0 || lenLo > available) {
    return fail(
      `header: length field says ${u64ToDecimal(lenHi, lenLo)} bytes, but only ${available} bytes follow the 8-byte length prefix`,
    );
  }
  const n = lenLo;
  if (n > SAFETENSORS_MAX_HEADER_BYTES) {
    return fail(`header: ${n} bytes is larger than the ${SAFETENSORS_MAX_HEADER_BYTES}-byte limit`);
  }

  const text = decodeHeaderText(bytes, n);
  checkHeaderSize(text);
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    return fail(`header: expected ${n} bytes of JSON, but it does not parse (${why})`);
  }
  if (!isRecord(header)) {
    return fail(`header: expected a JSON object, got ${describe(header)}`);
  }

  const dataStart = 8 + n;
  const dataLength = total - dataStart;
  const metadata = parseMetadata(hasOwn(header, METADATA_KEY) ? header[METADATA_KEY] : undefined);
  const infos: TensorInfo[] = [];
  const names = Object.keys(header);
  if (names.length > SAFETENSORS_MAX_TENSORS + 1) {
    return fail(
      `header: lists ${names.length} entries; at most ${SAFETENSORS_MAX_TENSORS} tensors are read from one file`,
    );
  }
  for (const name of names) {
    if (name === METADATA_KEY) continue;
    infos.push(parseTensorInfo(name, header[name], dataLength));
  }
  infos.sort((a, b) => a.begin - b.begin || a.end - b.end || compareCodePoints(a.name, b.name));
  checkCoverage(infos, dataLength);

  const entries = infos.map(
    (t): DecodedEntry => ({
      name: t.name,
      sourceDtype: t.dtype,
      shape: t.shape,
      dtype: DTYPE_INFO[t.dtype].target,
      data: decodeTensorData(t, bytes, view, dataStart),
    }),
  );
  return { entries, metadata };
}

// ---------------------------------------------------------------------------------------------
// encoding

interface Prepared {
  name: string;
  dtype: 'F32' | 'I32';
  shape: number[];
  data: Float32Array | Int32Array;
}

function prepareEntry(entry: unknown, index: number, seen: Set<string>): Prepared {
  if (!isRecord(entry))
    return fail(`encode: entries[${index}] must be an object, got ${describe(entry)}`);
  const { name, shape, dtype, data } = entry;
  if (typeof name !== 'string') {
    return fail(`encode: entries[${index}].name must be a string, got ${describe(name)}`);
  }
  const where = `encode: tensor ${q(name)}`;
  if (name === METADATA_KEY) return fail(`${where}: the name is reserved for file metadata`);
  if (!isWellFormed(name)) return fail(`${where}: the name contains a lone UTF-16 surrogate`);
  if (seen.has(name)) return fail(`${where}: duplicate tensor name`);
  seen.add(name);

  let st: 'F32' | 'I32';
  if (dtype === 'float32') st = 'F32';
  else if (dtype === 'int32') st = 'I32';
  else return fail(`${where}: dtype must be 'float32' or 'int32', got ${describe(dtype)}`);
  const expectedTag = st === 'F32' ? 'Float32Array' : 'Int32Array';
  if (tagOf(data) !== expectedTag) {
    return fail(
      `${where}: dtype '${dtype}' needs data of type ${expectedTag}, got ${describe(data)}`,
    );
  }
  const typed = data as Float32Array | Int32Array;

  if (!Array.isArray(shape)) {
    return fail(
      `${where}: shape must be an array of non-negative integers, got ${describe(shape)}`,
    );
  }
  const dims = shape.map((d: unknown, i) => parseNonNegativeInt(d, `${where}: shape[${i}]`));
  const count = elementCount(dims);
  if (count !== typed.length) {
    return fail(
      `${where}: shape ${fmtShape(dims)} holds ${count < 0 ? 'more than 2^53 - 1' : count} elements, but data has ${typed.length}`,
    );
  }
  return { name, dtype: st, shape: dims, data: typed };
}

function metadataJson(metadata: unknown): string | undefined {
  if (metadata === undefined) return undefined;
  if (!isRecord(metadata)) {
    return fail(`encode: metadata must be an object of strings, got ${describe(metadata)}`);
  }
  const keys = Object.keys(metadata);
  if (keys.length === 0) return undefined;
  const parts: string[] = [];
  for (const key of keys) {
    const value = metadata[key];
    if (typeof value !== 'string') {
      fail(`encode: metadata value for key ${q(key)} must be a string, got ${describe(value)}`);
    }
    if (!isWellFormed(key) || !isWellFormed(value)) {
      fail(`encode: metadata entry ${q(key)} contains a lone UTF-16 surrogate`);
    }
    parts.push(`${JSON.stringify(key)}:${JSON.stringify(value)}`);
  }
  return `{${parts.join(',')}}`;
}

/**
 * Encode tensors as a safetensors file (F32 for float32, I32 for int32). Tensors are laid out
 * F32 first, then I32, each group sorted by name, exactly like the reference writer; the header
 * is padded with spaces to a multiple of 8 bytes. Empty `metadata` is omitted.
 */
export function encodeSafetensors(
  entries: EncodeEntry[],
  metadata?: Record<string, string>,
): Uint8Array {
  if (!Array.isArray(entries))
    return fail(`encode: entries must be an array, got ${describe(entries)}`);
  const seen = new Set<string>();
  const prepared = entries.map((e: unknown, i) => prepareEntry(e, i, seen));
  const meta = metadataJson(metadata);

  // Reference order: descending dtype alignment (F32 sorts after I32 in its enum, so F32 first),
  // then by name.
  prepared.sort((a, b) =>
    a.dtype !== b.dtype ? (a.dtype === 'F32' ? -1 : 1) : compareCodePoints(a.name, b.name),
  );

  const parts: string[] = [];
  if (meta !== undefined) parts.push(`${JSON.stringify(METADATA_KEY)}:${meta}`);
  let offset = 0;
  for (const p of prepared) {
    const end = offset + p.data.byteLength;
    parts.push(
      `${JSON.stringify(p.name)}:{"dtype":"${p.dtype}","shape":[${p.shape.join(',')}],"data_offsets":[${offset},${end}]}`,
    );
    offset = end;
  }
  const headerBytes = new TextEncoder().encode(`{${parts.join(',')}}`);
  const headerLength = Math.ceil(headerBytes.length / 8) * 8;
  if (headerLength > SAFETENSORS_MAX_HEADER_BYTES) {
    return fail(
      `encode: header would be ${headerLength} bytes, over the ${SAFETENSORS_MAX_HEADER_BYTES}-byte limit`,
    );
  }
  const total = 8 + headerLength + offset;
  const out = allocate(() => new Uint8Array(total), 'encode: output file', total);
  const view = new DataView(out.buffer);
  view.setUint32(0, headerLength % TWO_POW_32, true);
  view.setUint32(4, Math.floor(headerLength / TWO_POW_32), true);
  out.set(headerBytes, 8);
  out.fill(0x20, 8 + headerBytes.length, 8 + headerLength);

  let pos = 8 + headerLength;
  for (const p of prepared) {
    // Copy through a Uint32Array view so float NaN payloads are kept bit-for-bit.
    const words = new Uint32Array(p.data.buffer, p.data.byteOffset, p.data.length);
    if (LITTLE_ENDIAN) {
      out.set(new Uint8Array(words.buffer, words.byteOffset, words.byteLength), pos);
    } else {
      for (let i = 0; i < words.length; i++) view.setUint32(pos + 4 * i, words[i] ?? 0, true);
    }
    pos += words.byteLength;
  }
  return out;
}
