/**
 * Deterministic CBOR (RFC 8949 §4.2.1 core deterministic encoding) for offpay messages.
 *
 * offpay messages use a small data model: unsigned and negative integers, byte strings, text strings,
 * null, booleans and arrays (positional; no maps, tags or floats). Encoding is cbor-x configured for
 * deterministic output (no records, no tag 64 on byte strings, shortest argument forms). cbor-x writes
 * numbers >= 2^32 as float64, so integers are normalised to bigint above that before encoding.
 *
 * Decoding is strict by construction: decode with cbor-x, re-encode, and compare the bytes. Any input that is
 * not the one canonical encoding of its value (non-shortest integers or lengths, indefinite lengths, floats
 * standing for integers, tags, trailing bytes) is rejected with `cbor.non_canonical`.
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
 * Decode exactly one canonical CBOR item from `bytes`.
 * Throws OffpayError: `cbor.empty`, `cbor.too_large`, `cbor.malformed` (not CBOR, truncated, trailing bytes),
 * `cbor.non_canonical`, `cbor.unsupported` (maps, tags, floats, undefined), `cbor.too_deep`.
 */
export function decodeCbor(bytes: Uint8Array, maxBytes = MAX_MESSAGE_BYTES): CborValue {
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
