/**
 * The independent CBOR implementation the tests hold offpay's own against (cbor-x, a devDependency):
 * - `encodeCborX`: cbor-x configured for deterministic output (no records, no tag 64 on byte strings, shortest
 *   argument forms; cbor-x writes numbers >= 2^32 as float64, so integers are normalised to bigint above that
 *   first, and bigints that fit 32 bits, which cbor-x would write with 8 bytes, go as numbers). `encodeCbor` (src/cbor.ts) must give the same bytes for every value.
 * - `decodeCborReference`: the decode/re-encode/compare method. It must accept the same inputs of offpay's data
 *   model as `decodeCbor` with the same values.
 */
import { Decoder, Encoder } from 'cbor-x';
import { OffpayError } from '../../base/errors.js';
import { MAX_MESSAGE_BYTES, MAX_NESTING, type CborValue } from '../../src/cbor.js';

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
  // cbor-x writes every bigint with an 8-byte argument, even 0n: a bigint that fits 32 bits goes as a number.
  if (typeof v === 'bigint' && v >= -0x100000000n && v <= 0xffffffffn) return Number(v);
  if (Array.isArray(v)) return v.map(normalise);
  return v;
}

/** `value` in deterministic CBOR, as cbor-x writes it. */
export function encodeCborX(value: CborValue): Uint8Array {
  const out = encoder.encode(normalise(value));
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength).slice();
}

function toModel(v: unknown, depth: number): CborValue {
  if (v === null || typeof v === 'boolean' || typeof v === 'string') return v;
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v)) throw new OffpayError('cbor.non_canonical', 'floating-point value where offpay allows only integers');
    return v;
  }
  if (typeof v === 'bigint') {
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  }
  if (v instanceof Uint8Array) return new Uint8Array(v);
  if (Array.isArray(v)) {
    if (depth >= MAX_NESTING) throw new OffpayError('cbor.too_deep', `CBOR nesting deeper than ${MAX_NESTING} levels`);
    return v.map((x) => toModel(x, depth + 1));
  }
  throw new OffpayError('cbor.unsupported', `CBOR item of a kind offpay does not use (${Object.prototype.toString.call(v)})`);
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Pre-scan for the reference method: refuse deep nesting before handing bytes to cbor-x. */
function prescan(bytes: Uint8Array): void {
  let depth = 0;
  for (const b of bytes.subarray(0, 64)) {
    if (b >> 5 === 4 || b >> 5 === 5 || b >> 5 === 6) depth++;
    else break;
  }
  if (depth > MAX_NESTING) throw new OffpayError('cbor.too_deep', `CBOR nesting deeper than ${MAX_NESTING} levels`);
}


/**
 * The decode/re-encode/compare method alone (cbor-x decode, re-encode canonically, compare bytes). It accepts the
 * same inputs of offpay's data model as `decodeCbor` with the same values (and also text strings, null and
 * booleans, which `decodeCbor` refuses); its error codes are not normative. 
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
    again = encodeCborX(value);
  } catch {
    throw new OffpayError('cbor.non_canonical', 'value cannot be re-encoded canonically');
  }
  if (!equalBytes(again, bytes)) throw new OffpayError('cbor.non_canonical', 'input is not in RFC 8949 deterministic encoding');
  return value;
}
