/**
 * Deterministic CBOR (RFC 8949 §4.2.1 core deterministic encoding) for offpay messages.
 *
 * Encoding (`encodeCbor`) writes RFC 8949 §4.2.1 core deterministic encoding directly: every head in its
 * shortest form, definite lengths only. It needs no eval and no native code, so a page with a strict
 * Content-Security-Policy (no 'unsafe-eval') loads it without a violation report; the tests check it byte for
 * byte against cbor-x (a devDependency, the independent implementation) on random values and on every fixture.
 *
 * Decoding (`decodeCbor`) is the normative single-pass parser of spec/protocol.md §3.4: it reads the heads in
 * order and the FIRST irregular head decides the error, so an early-exit parser in C gives the same code. Its
 * data model is the one offpay messages use: unsigned and negative integers, byte strings and arrays. Text
 * strings, maps, tags and simple values are `cbor.unsupported`; floats (any width, any value) and indefinite
 * lengths are `cbor.non_canonical`; non-shortest arguments are `cbor.non_canonical`; a head or content cut
 * short, reserved additional information, a stray break and trailing bytes are `cbor.malformed`; an array
 * nested 17 deep is `cbor.too_deep`. `decodeCborReference` (cbor-x decode, re-encode, compare) is kept as an
 * independent check: the tests require both to accept exactly the same inputs of the data model with the same
 * values (test/core/cbor-reference.ts).
 */
import { OffpayError } from '../base/errors.js';

export type CborValue = number | bigint | Uint8Array | string | boolean | null | CborValue[];

/** Largest encoded message any offpay decoder accepts (bytes); larger input is refused before parsing. */
export const MAX_MESSAGE_BYTES = 65536;

/** A growable output buffer for the encoder. */
class Writer {
  buf = new Uint8Array(256);
  len = 0;
  ensure(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }
  byte(b: number): void {
    this.ensure(1);
    this.buf[this.len++] = b;
  }
  bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }
}

const TWO_64 = 1n << 64n;
const textEncoder = new TextEncoder();

/**
 * A head: major type `major` (0..7) with argument `n` in its shortest form (RFC 8949 §4.2.1): n < 24 in the
 * initial byte; otherwise additional information 24, 25, 26 or 27 followed by 1, 2, 4 or 8 bytes, big-endian.
 */
function head(w: Writer, major: number, n: number | bigint): void {
  const mt = major << 5;
  if (typeof n === 'bigint' && n <= 0xffffffffn) n = Number(n);
  if (typeof n === 'number') {
    if (n < 24) w.byte(mt | n);
    else if (n < 0x100) { w.byte(mt | 24); w.byte(n); }
    else if (n < 0x10000) { w.byte(mt | 25); w.byte(n >>> 8); w.byte(n & 0xff); }
    else if (n < 0x100000000) { w.byte(mt | 26); w.byte(n >>> 24); w.byte((n >>> 16) & 0xff); w.byte((n >>> 8) & 0xff); w.byte(n & 0xff); }
    else head(w, major, BigInt(n));
    return;
  }
  w.byte(mt | 27);
  for (let shift = 56n; shift >= 0n; shift -= 8n) w.byte(Number((n >> shift) & 0xffn));
}

function encodeInto(w: Writer, v: CborValue): void {
  if (typeof v === 'number') {
    if (!Number.isInteger(v)) throw new OffpayError('cbor.unsupported', `non-integer number ${v} cannot be encoded`);
    if (!Number.isSafeInteger(v)) { encodeInto(w, BigInt(v)); return; }
    if (v >= 0) head(w, 0, v);
    else head(w, 1, -1 - v);
  } else if (typeof v === 'bigint') {
    if (v >= 0n && v < TWO_64) head(w, 0, v);
    else if (v < 0n && v >= -TWO_64) head(w, 1, -1n - v);
    else throw new OffpayError('cbor.unsupported', `integer ${v} is outside CBOR's 64-bit range`);
  } else if (v instanceof Uint8Array) {
    head(w, 2, v.length);
    w.bytes(v);
  } else if (typeof v === 'string') {
    const b = textEncoder.encode(v);
    head(w, 3, b.length);
    w.bytes(b);
  } else if (Array.isArray(v)) {
    head(w, 4, v.length);
    for (const x of v) encodeInto(w, x);
  } else if (v === false) w.byte(0xf4);
  else if (v === true) w.byte(0xf5);
  else if (v === null) w.byte(0xf6);
  else throw new OffpayError('cbor.unsupported', `a value of a kind offpay does not encode (${Object.prototype.toString.call(v)})`);
}

/** Encode a value in deterministic CBOR (RFC 8949 §4.2.1: shortest heads, definite lengths). */
export function encodeCbor(value: CborValue): Uint8Array {
  const w = new Writer();
  encodeInto(w, value);
  return w.buf.slice(0, w.len);
}

/** Length of the canonical (shortest) CBOR encoding of an unsigned integer n, 0 <= n <= 2^53 - 1. */
export function uintLength(n: number): number {
  return n < 24 ? 1 : n < 0x100 ? 2 : n < 0x10000 ? 3 : n < 0x100000000 ? 5 : 9;
}

/**
 * Write the canonical CBOR encoding of an unsigned integer n (0 <= n <= 2^53 - 1; the same bytes as
 * `encodeCbor(n)`) into `out` at `at`, without allocating; returns the offset after it.
 */
export function writeUint(out: Uint8Array, at: number, n: number): number {
  if (n < 24) {
    out[at] = n;
    return at + 1;
  }
  if (n < 0x100) {
    out[at] = 24;
    out[at + 1] = n;
    return at + 2;
  }
  if (n < 0x10000) {
    out[at] = 25;
    out[at + 1] = n >>> 8;
    out[at + 2] = n & 0xff;
    return at + 3;
  }
  if (n < 0x100000000) {
    out[at] = 26;
    for (let i = 3; i >= 0; i--) out[at + 4 - i] = (n >>> (8 * i)) & 0xff;
    return at + 5;
  }
  out[at] = 27;
  const hi = Math.floor(n / 0x100000000);
  const lo = n >>> 0;
  for (let i = 3; i >= 0; i--) {
    out[at + 4 - i] = (hi >>> (8 * i)) & 0xff;
    out[at + 8 - i] = (lo >>> (8 * i)) & 0xff;
  }
  return at + 9;
}

/** Deepest array nesting a decoder accepts: the top-level array is level 1, an array inside it level 2. */
export const MAX_NESTING = 16;

/**
 * Decode exactly one canonical CBOR item from `bytes` (spec/protocol.md §3.4). With `views`, byte strings may be
 * views into `bytes` rather than copies (for a caller that keeps `bytes` unchanged while it uses the value, such
 * as a large batch). Throws OffpayError: `cbor.empty`, `cbor.too_large`, `cbor.malformed`, `cbor.non_canonical`,
 * `cbor.unsupported`, `cbor.too_deep`, decided by the first irregular head in reading order.
 */
export function decodeCbor(bytes: Uint8Array, maxBytes = MAX_MESSAGE_BYTES, options: { views?: boolean } = {}): CborValue {
  if (!(bytes instanceof Uint8Array)) throw new OffpayError('cbor.malformed', 'input is not a byte array');
  if (bytes.length === 0) throw new OffpayError('cbor.empty', 'empty input');
  if (bytes.length > maxBytes) throw new OffpayError('cbor.too_large', `input of ${bytes.length} bytes exceeds ${maxBytes}`);
  return parseCanonical(bytes, options.views === true);
}


// ---------------------------------------------------------------------------------------------------------
// The single-pass parser (normative: spec/protocol.md §3.4)

const MAX_SAFE = Number.MAX_SAFE_INTEGER;

function fail(code: 'cbor.malformed' | 'cbor.non_canonical' | 'cbor.unsupported' | 'cbor.too_deep', message: string, at: number): never {
  throw new OffpayError(code, `${message} (at byte ${at})`, { offset: at });
}

/**
 * Read one item at a time, checking each head in this order (spec/protocol.md §3.4, steps a-f):
 * (a) the kind: major types 3 (text), 5 (map), 6 (tag) and the simple values of major 7 (additional
 *     information 0-24) are `unsupported`; the floats of major 7 (25, 26, 27) are `non_canonical`; major 7 with
 *     28-31 (reserved, break) is `malformed`;
 * (b) additional information 28-30 is `malformed`; 31 (indefinite length) is `non_canonical` for byte strings
 *     and arrays, `malformed` for integers;
 * (c) argument bytes past the end: `malformed`;
 * (d) an argument not in its shortest form: `non_canonical`;
 * (e) an array at nesting level 17: `too_deep`;
 * (f) a byte string longer than the bytes left, or an array with more elements than bytes left: `malformed`.
 * Then the elements of an array, in order. After the top-level item, any byte left is `malformed`.
 */
function parseCanonical(bytes: Uint8Array, views: boolean): CborValue {
  let pos = 0;
  const n = bytes.length;
  const item = (level: number): CborValue => {
    const at = pos;
    if (pos >= n) fail('cbor.malformed', 'input ends where an item should start (truncated)', at);
    const ib = bytes[pos++]!;
    const major = ib >> 5;
    const ai = ib & 0x1f;
    // (a) kind
    if (major === 3) fail('cbor.unsupported', 'a text string (offpay messages carry no text)', at);
    if (major === 5) fail('cbor.unsupported', 'a map (offpay messages are arrays)', at);
    if (major === 6) fail('cbor.unsupported', 'a tag', at);
    if (major === 7) {
      if (ai === 25 || ai === 26 || ai === 27) fail('cbor.non_canonical', 'a floating-point number where offpay has only integers', at);
      if (ai >= 28) fail('cbor.malformed', ib === 0xff ? 'a break byte outside an indefinite-length item' : `reserved additional information ${ai}`, at);
      fail('cbor.unsupported', 'a simple value (false, true, null, undefined or another)', at);
    }
    // (b) additional information
    if (ai >= 28 && ai <= 30) fail('cbor.malformed', `reserved additional information ${ai}`, at);
    if (ai === 31) {
      if (major === 2 || major === 4) fail('cbor.non_canonical', 'an indefinite length', at);
      fail('cbor.malformed', 'an integer with additional information 31', at);
    }
    // (c), (d) argument
    let arg: number | bigint = ai;
    if (ai >= 24) {
      const w = 1 << (ai - 24);
      if (pos + w > n) fail('cbor.malformed', 'input ends inside a head (truncated)', at);
      if (w === 8) {
        const hi = bytes[pos]! * 0x1000000 + ((bytes[pos + 1]! << 16) | (bytes[pos + 2]! << 8) | bytes[pos + 3]!);
        const lo = bytes[pos + 4]! * 0x1000000 + ((bytes[pos + 5]! << 16) | (bytes[pos + 6]! << 8) | bytes[pos + 7]!);
        if (hi === 0) fail('cbor.non_canonical', 'a 64-bit argument that fits in 32 bits', at);
        const v = hi * 0x100000000 + lo;
        arg = v <= MAX_SAFE ? v : (BigInt(hi) << 32n) | BigInt(lo);
      } else {
        let v = 0;
        for (let i = 0; i < w; i++) v = v * 256 + bytes[pos + i]!;
        if (v < (w === 1 ? 24 : w === 2 ? 0x100 : 0x10000)) fail('cbor.non_canonical', `a ${8 * w}-bit argument that fits in fewer bytes`, at);
        arg = v;
      }
      pos += w;
    }
    switch (major) {
      case 0:
        return arg;
      case 1: {
        if (typeof arg === 'number' && arg < MAX_SAFE) return -1 - arg;
        const v = -1n - BigInt(arg);
        return v >= BigInt(-MAX_SAFE) ? Number(v) : v;
      }
      case 2: {
        if (typeof arg !== 'number' || arg > n - pos) fail('cbor.malformed', 'a byte string longer than the input left (truncated)', at);
        const out = views ? bytes.subarray(pos, pos + arg) : bytes.slice(pos, pos + arg);
        pos += arg;
        return out;
      }
      default: {
        // major 4: array
        if (level > MAX_NESTING) fail('cbor.too_deep', `arrays nested deeper than ${MAX_NESTING} levels`, at);
        if (typeof arg !== 'number' || arg > n - pos) fail('cbor.malformed', 'an array with more elements than bytes left (truncated)', at);
        const out: CborValue[] = new Array<CborValue>(arg);
        for (let i = 0; i < arg; i++) out[i] = item(level + 1);
        return out;
      }
    }
  };
  const v = item(1);
  if (pos !== n) fail('cbor.malformed', `${n - pos} trailing byte(s) after the message`, pos);
  return v;
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
