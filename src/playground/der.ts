/**
 * A minimal DER encoder (ITU-T X.690 §10, distinguished encoding), enough to write an X.509 v3 certificate
 * (src/playground/x509.ts). Node's crypto makes keys and signs but builds no certificates.
 *
 * Every value is tag || length || contents. Length (X.690 §8.1.3, definite form only as DER requires):
 *   0..127            one byte, the length itself;
 *   128..2^32-1       0x80 | n, then the length in n big-endian bytes with no leading zero byte.
 * Tags used here: BOOLEAN 0x01, INTEGER 0x02, BIT STRING 0x03, OCTET STRING 0x04, NULL 0x05, OID 0x06,
 * UTF8String 0x0c, SEQUENCE 0x30, SET 0x31, UTCTime 0x17, GeneralizedTime 0x18, context [n] constructed
 * 0xa0 | n (EXPLICIT), context [n] primitive 0x80 | n (IMPLICIT over a primitive type).
 */
import { concatBytes } from '../../base/bytes.js';

export type Der = Uint8Array;


/** The DER length octets of a contents length. */
export function derLength(n: number): Uint8Array {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new RangeError(`DER length ${n} out of range`);
  if (n < 0x80) return Uint8Array.of(n);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Uint8Array.from([0x80 | bytes.length, ...bytes]);
}

/** tag || length || contents. */
export function tlv(tag: number, ...contents: readonly Uint8Array[]): Der {
  const body = concatBytes(contents);
  return concatBytes([Uint8Array.of(tag), derLength(body.length), body]);
}

export const sequence = (...items: readonly Der[]): Der => tlv(0x30, ...items);
/** A SET OF with one element (DER sorts SET OF elements; with one there is nothing to sort). */
export const setOf1 = (item: Der): Der => tlv(0x31, item);
export const octetString = (b: Uint8Array): Der => tlv(0x04, b);
export const utf8String = (s: string): Der => tlv(0x0c, new TextEncoder().encode(s));
export const boolean = (v: boolean): Der => tlv(0x01, Uint8Array.of(v ? 0xff : 0x00));
/** [n] EXPLICIT: the inner value wrapped in a constructed context tag. */
export const explicit = (n: number, inner: Der): Der => tlv(0xa0 | n, inner);
/** [n] IMPLICIT over a primitive type: the context tag replaces the type's own. */
export const implicitPrimitive = (n: number, contents: Uint8Array): Der => tlv(0x80 | n, contents);

/**
 * INTEGER from big-endian unsigned bytes (X.690 §8.3): leading zero bytes dropped (one kept for zero), and a
 * 0x00 put in front when the top bit is set, since INTEGER is two's complement and the value is positive.
 */
export function unsignedInteger(be: Uint8Array): Der {
  let i = 0;
  while (i < be.length - 1 && be[i] === 0) i++;
  const trimmed = be.length === 0 ? Uint8Array.of(0) : be.subarray(i);
  return tlv(0x02, trimmed[0]! & 0x80 ? concatBytes([Uint8Array.of(0), trimmed]) : trimmed);
}

export const smallInteger = (n: number): Der => {
  if (!Number.isInteger(n) || n < 0 || n > 0x7fffffff) throw new RangeError(`INTEGER ${n} out of range`);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return unsignedInteger(Uint8Array.from(bytes.length ? bytes : [0]));
};

/** BIT STRING (X.690 §8.6): the first contents byte counts the unused bits at the end of the last byte. */
export function bitString(bytes: Uint8Array, unusedBits = 0): Der {
  if (!Number.isInteger(unusedBits) || unusedBits < 0 || unusedBits > 7 || (bytes.length === 0 && unusedBits !== 0)) throw new RangeError('bad BIT STRING padding');
  return tlv(0x03, Uint8Array.of(unusedBits), bytes);
}

/**
 * OBJECT IDENTIFIER (X.690 §8.19): the first two arcs as 40 * a + b, then every arc in base 128, most
 * significant group first, bit 8 set on every byte but the last of an arc.
 */
export function oid(dotted: string): Der {
  const arcs = dotted.split('.').map((a) => {
    if (!/^\d+$/.test(a)) throw new RangeError(`bad OID ${dotted}`);
    return Number(a);
  });
  if (arcs.length < 2 || arcs[0]! > 2 || (arcs[0]! < 2 && arcs[1]! > 39)) throw new RangeError(`bad OID ${dotted}`);
  const out: number[] = [];
  const push = (v: number) => {
    const groups = [v & 0x7f];
    for (v = Math.floor(v / 128); v > 0; v = Math.floor(v / 128)) groups.unshift(0x80 | (v & 0x7f));
    out.push(...groups);
  };
  push(40 * arcs[0]! + arcs[1]!);
  for (const a of arcs.slice(2)) push(a);
  return tlv(0x06, Uint8Array.from(out));
}

const two = (n: number) => String(n).padStart(2, '0');

/**
 * An X.509 Time (RFC 5280 §4.1.2.5): UTCTime YYMMDDHHMMSSZ for years 1950..2049, GeneralizedTime
 * YYYYMMDDHHMMSSZ otherwise; always UTC, always with seconds, never fractions.
 */
export function x509Time(unixSeconds: number): Der {
  const d = new Date(unixSeconds * 1000);
  const y = d.getUTCFullYear();
  const rest = `${two(d.getUTCMonth() + 1)}${two(d.getUTCDate())}${two(d.getUTCHours())}${two(d.getUTCMinutes())}${two(d.getUTCSeconds())}Z`;
  const ascii = (s: string) => new TextEncoder().encode(s);
  if (y >= 1950 && y <= 2049) return tlv(0x17, ascii(`${two(y % 100)}${rest}`));
  return tlv(0x18, ascii(`${String(y).padStart(4, '0')}${rest}`));
}
