/**
 * Deterministic CBOR (RFC 8949 §4.2.1 core deterministic encoding) for offpay messages.
 *
 * offpay messages use a small data model: unsigned and negative integers, byte strings, text strings,
 * null, booleans and arrays (positional; no maps, tags or floats). Encoding is cbor-x configured for
 * deterministic output (no records, no tag 64 on byte strings, shortest argument forms). cbor-x writes
 * numbers >= 2^32 as float64, so integers are normalised to bigint above that before encoding.
 *
 * Decoding is strict: the reference method (spec/protocol.md §3) is decode with cbor-x, re-encode, and compare
 * the bytes. Any input that is not the one canonical encoding of its value (non-shortest integers or lengths,
 * indefinite lengths, floats standing for integers, tags, trailing bytes) is rejected with `cbor.non_canonical`.
 * `decodeCbor` first tries a single-pass parser that accepts only what that method accepts (shortest
 * arguments, definite lengths, integers, byte strings, arrays, false/true/null, depth <= 16, no trailing
 * bytes) and gives the same value; anything else (text, maps, tags, floats, any irregularity) goes to the
 * reference method, so every error code is the reference's. A property test checks the two agree.
 */
import { Decoder, Encoder } from 'cbor-x';
import { OffpayError } from './errors.js';

export type CborValue = number | bigint | Uint8Array | string | boolean | null | CborValue[];

/** Largest encoded message any offpay decoder accepts (bytes); larger input is refused before parsing. */
export const MAX_MESSAGE_BYTES = 65536;

// `useTag259ForMaps` and `int64AsType` are cbor-x options its type declarations do not list.
const encoder = new Encoder({
  useRecords: false,
  mapsAsObjects: false,
  variableMapSize: true,
  tagUint8Array: false,
  useTag259ForMaps: false,
} as ConstructorParameters<typeof Encoder>[0]);
const decoder = new Decoder({ useRecords: false, mapsAsObjects: false, int64AsType: 'bigint' } as ConstructorParameters<typeof Decoder>[0]);

function normalise(v: CborValue): unknown {
  if (typeof v === 'number') {
    if (!Number.isInteger(v)) throw new OffpayError('cbor.unsupported', `non-integer number ${v} cannot be encoded`);
    if (v > 0xffffffff || v < -0x100000000) return BigInt(v);
    return v;
  }
  if (Array.isArray(v)) return v.map(normalise);
  if (v instanceof Uint8Array) return v;
  return v;
}

/** Encode a value in deterministic CBOR. */
export function encodeCbor(value: CborValue): Uint8Array {
  const out = encoder.encode(normalise(value));
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength).slice();
}

function toModel(v: unknown, depth: number): CborValue {
  if (depth > 16) throw new OffpayError('cbor.too_deep', 'CBOR nesting deeper than 16 levels');
  if (v === null || typeof v === 'boolean' || typeof v === 'string') return v;
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v)) throw new OffpayError('cbor.non_canonical', 'floating-point value where offpay allows only integers');
    return v;
  }
  if (typeof v === 'bigint') {
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  }
  if (v instanceof Uint8Array) return new Uint8Array(v);
  if (Array.isArray(v)) return v.map((x) => toModel(x, depth + 1));
  throw new OffpayError('cbor.unsupported', `CBOR item of a kind offpay does not use (${Object.prototype.toString.call(v)})`);
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Pre-scan: refuse deep nesting and absurd declared lengths before handing bytes to the parser. */
function prescan(bytes: Uint8Array): void {
  let depth = 0;
  for (const b of bytes.subarray(0, 64)) {
    if (b >> 5 === 4 || b >> 5 === 5 || b >> 5 === 6) depth++;
    else break;
  }
  if (depth > 16) throw new OffpayError('cbor.too_deep', 'CBOR nesting deeper than 16 levels');
}

/**
 * Decode exactly one canonical CBOR item from `bytes`. With `views`, byte strings may be views into `bytes`
 * rather than copies (for a caller that keeps `bytes` unchanged while it uses the value, such as a large batch).
 * Throws OffpayError: `cbor.empty`, `cbor.too_large`, `cbor.malformed` (not CBOR, truncated, trailing bytes),
 * `cbor.non_canonical`, `cbor.unsupported` (maps, tags, floats, undefined), `cbor.too_deep`.
 */
export function decodeCbor(bytes: Uint8Array, maxBytes = MAX_MESSAGE_BYTES, options: { views?: boolean } = {}): CborValue {
  if (!(bytes instanceof Uint8Array)) throw new OffpayError('cbor.malformed', 'input is not a byte array');
  if (bytes.length === 0) throw new OffpayError('cbor.empty', 'empty input');
  if (bytes.length > maxBytes) throw new OffpayError('cbor.too_large', `input of ${bytes.length} bytes exceeds ${maxBytes}`);
  const fast = parseCanonical(bytes, options.views === true);
  if (fast !== undefined) return fast;
  return decodeCborReference(bytes, maxBytes);
}

/**
 * The reference method alone (cbor-x decode, re-encode, compare). `decodeCbor` gives the same result on every
 * input; this is exported for the tests that check it.
 */
export function decodeCborReference(bytes: Uint8Array, maxBytes = MAX_MESSAGE_BYTES): CborValue {
  if (!(bytes instanceof Uint8Array)) throw new OffpayError('cbor.malformed', 'input is not a byte array');
  if (bytes.length === 0) throw new OffpayError('cbor.empty', 'empty input');
  if (bytes.length > maxBytes) throw new OffpayError('cbor.too_large', `input of ${bytes.length} bytes exceeds ${maxBytes}`);
  prescan(bytes);
  let raw: unknown;
  try {
    raw = decoder.decode(bytes);
  } catch (e) {
    const msg = (e as Error)?.message ?? String(e);
    if (/end of buffer not reached/i.test(msg)) throw new OffpayError('cbor.malformed', 'trailing bytes after the CBOR item');
    if (/^Indefinite length not supported/i.test(msg)) throw new OffpayError('cbor.non_canonical', 'indefinite-length item');
    throw new OffpayError('cbor.malformed', `not valid CBOR: ${msg}`);
  }
  if (raw instanceof Map || (typeof raw === 'object' && raw !== null && !Array.isArray(raw) && !(raw instanceof Uint8Array))) {
    throw new OffpayError('cbor.unsupported', 'CBOR maps, tags and other items are not used by offpay messages');
  }
  const value = toModel(raw, 0);
  let again: Uint8Array;
  try {
    again = encodeCbor(value);
  } catch {
    throw new OffpayError('cbor.non_canonical', 'value cannot be re-encoded canonically');
  }
  if (!equalBytes(again, bytes)) throw new OffpayError('cbor.non_canonical', 'input is not in RFC 8949 deterministic encoding');
  return value;
}

// ---------------------------------------------------------------------------------------------------------
// Single-pass canonical parser (the fast path of decodeCbor)

/** Thrown inside parseCanonical to hand the input to the reference method; never escapes this module. */
const FALLBACK = Symbol('fallback');
const MAX_SAFE = Number.MAX_SAFE_INTEGER;

/**
 * Parse one item in the canonical subset, or return undefined when the input is anything else (the caller
 * then runs the reference method, which classifies the error or, for text strings, decodes it).
 */
function parseCanonical(bytes: Uint8Array, views: boolean): CborValue | undefined {
  let pos = 0;
  const n = bytes.length;
  /** The argument of the head at `pos` (after the initial byte): shortest form only. */
  const arg = (ai: number): number | bigint => {
    if (ai < 24) return ai;
    if (ai === 24) {
      if (pos + 1 > n) throw FALLBACK;
      const v = bytes[pos++]!;
      if (v < 24) throw FALLBACK;
      return v;
    }
    if (ai === 25) {
      if (pos + 2 > n) throw FALLBACK;
      const v = (bytes[pos]! << 8) | bytes[pos + 1]!;
      pos += 2;
      if (v < 0x100) throw FALLBACK;
      return v;
    }
    if (ai === 26) {
      if (pos + 4 > n) throw FALLBACK;
      const v = bytes[pos]! * 0x1000000 + ((bytes[pos + 1]! << 16) | (bytes[pos + 2]! << 8) | bytes[pos + 3]!);
      pos += 4;
      if (v < 0x10000) throw FALLBACK;
      return v;
    }
    if (ai === 27) {
      if (pos + 8 > n) throw FALLBACK;
      const hi = bytes[pos]! * 0x1000000 + ((bytes[pos + 1]! << 16) | (bytes[pos + 2]! << 8) | bytes[pos + 3]!);
      const lo = bytes[pos + 4]! * 0x1000000 + ((bytes[pos + 5]! << 16) | (bytes[pos + 6]! << 8) | bytes[pos + 7]!);
      pos += 8;
      if (hi === 0) throw FALLBACK; // fits in 32 bits: not the shortest form
      const v = hi * 0x100000000 + lo;
      return v <= MAX_SAFE ? v : (BigInt(hi) << 32n) | BigInt(lo);
    }
    throw FALLBACK; // 28..30 reserved, 31 indefinite length
  };
  const item = (depth: number): CborValue => {
    if (depth > 16 || pos >= n) throw FALLBACK;
    const ib = bytes[pos++]!;
    const major = ib >> 5;
    const ai = ib & 0x1f;
    switch (major) {
      case 0:
        return arg(ai);
      case 1: {
        const a = arg(ai);
        if (typeof a === 'number' && a < MAX_SAFE) return -1 - a;
        const v = -1n - BigInt(a);
        return v >= BigInt(-MAX_SAFE) ? Number(v) : v;
      }
      case 2: {
        const len = arg(ai);
        if (typeof len !== 'number' || len > n - pos) throw FALLBACK;
        const out = views ? bytes.subarray(pos, pos + len) : bytes.slice(pos, pos + len);
        pos += len;
        return out;
      }
      case 4: {
        const len = arg(ai);
        if (typeof len !== 'number' || len > n - pos) throw FALLBACK; // every item takes at least one byte
        const out: CborValue[] = new Array<CborValue>(len);
        for (let i = 0; i < len; i++) out[i] = item(depth + 1);
        return out;
      }
      case 7:
        if (ib === 0xf4) return false;
        if (ib === 0xf5) return true;
        if (ib === 0xf6) return null;
        throw FALLBACK;
      default:
        throw FALLBACK; // text strings (3), maps (5), tags (6): the reference method decides
    }
  };
  try {
    const v = item(0);
    return pos === n ? v : undefined;
  } catch (e) {
    if (e === FALLBACK) return undefined;
    throw e;
  }
}

/**
 * The head of the CBOR item at `offset` in definite-length bytes: its major type, its argument (a length, a
 * count or an integer value) and where its content starts. Throws `cbor.malformed` on an indefinite length
 * or a head cut short.
 */
export function cborHead(bytes: Uint8Array, offset: number): { major: number; value: number; next: number } {
  if (offset >= bytes.length) throw new OffpayError('cbor.malformed', 'item runs past the end of the input');
  const ib = bytes[offset]!;
  const ai = ib & 0x1f;
  let pos = offset + 1;
  let value = ai;
  if (ai >= 24 && ai <= 27) {
    const w = 1 << (ai - 24);
    if (pos + w > bytes.length) throw new OffpayError('cbor.malformed', 'item runs past the end of the input');
    value = 0;
    for (let i = 0; i < w; i++) value = value * 256 + bytes[pos + i]!;
    pos += w;
  } else if (ai > 27) throw new OffpayError('cbor.malformed', 'not a definite-length item');
  return { major: ib >> 5, value, next: pos };
}

/**
 * End offset of the CBOR item that starts at `offset` in bytes that `decodeCbor` has accepted (canonical,
 * definite lengths). Used to slice signing inputs and journal entries out of received bytes instead of
 * re-encoding them. Throws `cbor.malformed` if the bytes run out.
 */
export function cborItemEnd(bytes: Uint8Array, offset: number): number {
  let pos = offset;
  let pending = 1;
  while (pending > 0) {
    const { major, value, next } = cborHead(bytes, pos);
    pos = next;
    pending--;
    if (major === 2 || major === 3) pos += value;
    else if (major === 4) pending += value;
    else if (major === 5) pending += 2 * value;
    else if (major === 6) pending += 1;
  }
  if (pos > bytes.length) throw new OffpayError('cbor.malformed', 'item runs past the end of the input');
  return pos;
}
