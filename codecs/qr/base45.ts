/**
 * Base45 (RFC 9285): bytes as text in the 45-character QR alphanumeric alphabet.
 *
 * Two bytes [a, b] give n = a*256 + b, written as three characters c, d, e with n = c + 45*d + 45^2*e
 * (least significant first). A trailing odd byte a gives two characters c, d with a = c + 45*d.
 * QR alphanumeric mode packs two characters into 11 bits, so Base45 costs 16.5 bits of symbol per two
 * payload bytes (8.25 bits per byte, against 8 in byte mode) and survives text-only scanner stacks.
 *
 * Decoding is strict: a character outside the alphabet (lower case included), a length of 3k+1, a
 * triple worth more than 65535 or a pair worth more than 255 raise `qr.bad_base45`.
 */
import { OffpayError } from '../../base/errors.js';

/** The QR alphanumeric character set, in Base45 digit order (RFC 9285 §4 table 1). */
export const BASE45_ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:';

const DECODE = new Int8Array(128).fill(-1);
for (let i = 0; i < BASE45_ALPHABET.length; i++) DECODE[BASE45_ALPHABET.charCodeAt(i)] = i;

/** Base45 text length for `n` bytes: 3 per pair, 2 for a trailing odd byte. */
export function base45Length(n: number): number {
  return Math.floor(n / 2) * 3 + (n % 2) * 2;
}

export function base45Encode(bytes: Uint8Array): string {
  let out = '';
  const a = BASE45_ALPHABET;
  let i = 0;
  for (; i + 1 < bytes.length; i += 2) {
    let n = (bytes[i]! << 8) | bytes[i + 1]!;
    const c = n % 45;
    n = (n - c) / 45;
    const d = n % 45;
    const e = (n - d) / 45;
    out += a[c]! + a[d]! + a[e]!;
  }
  if (i < bytes.length) {
    const n = bytes[i]!;
    out += a[n % 45]! + a[Math.floor(n / 45)]!;
  }
  return out;
}

function digit(text: string, i: number): number {
  const code = text.charCodeAt(i);
  const v = code < 128 ? DECODE[code]! : -1;
  if (v < 0) {
    throw new OffpayError('qr.bad_base45', `Base45: character ${JSON.stringify(text[i])} at ${i} is not in the alphabet`, {
      position: i,
    });
  }
  return v;
}

export function base45Decode(text: string): Uint8Array {
  if (typeof text !== 'string') throw new OffpayError('qr.bad_base45', 'Base45: input is not a string');
  if (text.length % 3 === 1) {
    throw new OffpayError('qr.bad_base45', `Base45: length ${text.length} is 1 mod 3`, { length: text.length });
  }
  const out = new Uint8Array(Math.floor(text.length / 3) * 2 + (text.length % 3 === 2 ? 1 : 0));
  let o = 0;
  let i = 0;
  for (; i + 2 < text.length; i += 3) {
    const n = digit(text, i) + 45 * digit(text, i + 1) + 2025 * digit(text, i + 2);
    if (n > 0xffff) throw new OffpayError('qr.bad_base45', `Base45: triple at ${i} is ${n} > 65535`, { position: i });
    out[o++] = n >> 8;
    out[o++] = n & 0xff;
  }
  if (i < text.length) {
    const n = digit(text, i) + 45 * digit(text, i + 1);
    if (n > 0xff) throw new OffpayError('qr.bad_base45', `Base45: final pair at ${i} is ${n} > 255`, { position: i });
    out[o++] = n;
  }
  return out;
}
