/**
 * The prime-order check of a certificate key (spec/protocol.md §8.2) with ONE X25519 scalar multiplication,
 * where the platform has a fast X25519 (node:crypto, OpenSSL): about 0.06 to 0.08 ms a key, key import and
 * field inversion included, against about 0.9 ms for noble's point decoding plus [L]P (src/weakkeys.ts keeps
 * noble as the portable reference and for browsers).
 * The verdict is the same for every 32-byte string; test/core/x25519-torsion.test.ts compares the two on
 * prime-order, mixed-order, small-order and off-curve keys.
 *
 * The math. Edwards25519 and Curve25519 are the same group under u = (1 + y) / (1 - y) (RFC 7748 §4.1); the
 * group E(F_p) is cyclic of order 8L (L = 2^252 + 27742317777372353535851937790883648493), so every point is
 * P = P0 + T with P0 in the subgroup of order L and T in E[8]. X25519(k, u) is the u-coordinate of [k]Q for the
 * points ±Q whose u-coordinate is u (x-only: the sign of Q does not matter), for a k with bit 254 set and bits
 * 0-2 clear (X25519 forces that form, "clamping").
 *
 * Take k = 5L - 1. Then 2^254 < k < 2^255 and, as L = 5 (mod 8), k = 24 = 0 (mod 8): k is already clamped, so
 * X25519 uses it as it is. k = -1 (mod L) and k = 0 (mod 8), so [k]P = [k]P0 + [k]T = -P0 + O = -P0, and
 *
 *     X25519(k, u(P)) = u(-P0) = u(P0),   which equals u(P) iff P0 = ±P,  i.e.  T = O  or  T = -2 P0.
 *
 * -2 P0 has order L (or 1), T an order dividing 8, so T = -2 P0 only when P0 = O and T = O. So for a P that is
 * not of small order (the 14 small-order encodings are refused before; for P0 = O the result would be u(O),
 * which X25519 returns as 0 and OpenSSL refuses, so it fails anyway): P has prime order  <=>  X25519(k, u(P)) = u(P).
 *
 * Strings that are not on the curve. For a canonical y other than 1 and -1, y is the y-coordinate of a point of
 * Edwards25519 exactly when u = (1 + y) / (1 - y) is the u-coordinate of a point of Curve25519 (the birational
 * map is defined over F_p, with x = sqrt(-486664) u / v); otherwise u belongs to the quadratic twist, whose group
 * has order 4 p' with p' = 2^253 - 55484635554744707071703875581767296995 prime. X25519's ladder computes on the
 * twist as well, and [k]Q = ±Q there would need k = ±1 modulo the order of Q: an order dividing 4 gives [k]Q = O
 * (k = 0 mod 8; output 0, refused), and otherwise p' divides the order while k mod p' is neither 1 nor p' - 1
 * (`twistResidue` below; the test checks it). So a y that is not on the curve always fails, as strict decoding
 * (RFC 8032 §5.1.3) would. The sign bit only chooses between P and -P, which are of prime order together; its
 * one special case (x = 0 with the sign bit set, y = ±1) is among the small-order encodings.
 *
 * So: canonical, not a small-order encoding (checked by the caller), and X25519(5L - 1, u) = u.
 */

import { ed25519 } from '@noble/curves/ed25519.js';
import { equalBytes } from '../base/bytes.js';
import { toHex } from '../base/hex.js';

/** The field of Edwards25519 coordinates (noble: little-endian bytes). */
const Fp = ed25519.Point.Fp;

/** The field prime p = 2^255 - 19. */
export const FIELD_P = 2n ** 255n - 19n;
/** The prime order L of the Edwards25519 base point. */
export const ORDER_L = 2n ** 252n + 27742317777372353535851937790883648493n;
/** The prime p' of the twist's group order 4 p'. */
export const TWIST_PRIME = 2n ** 253n - 55484635554744707071703875581767296995n;
/** The X25519 scalar of the check: 5L - 1 (clamped form as it is; -1 mod L; 0 mod 8). */
export const TORSION_SCALAR = 5n * ORDER_L - 1n;

/** k mod p' (neither 1 nor p' - 1: a twist point never passes; the test checks it). */
export function twistResidue(): bigint {
  return TORSION_SCALAR % TWIST_PRIME;
}

/** The little-endian 32 bytes of a number below 2^256. */
function le32(v: bigint): Uint8Array {
  const out = new Uint8Array(32);
  for (let i = 0; i < 32; i++) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

/** The Edwards y of a 32-byte point encoding, bit 255 (the sign of x) cleared: the little-endian number (read as hex, about three times as fast as 32 BigInt shifts). */
function edwardsY(encoding: Uint8Array): bigint {
  const be = new Uint8Array(32);
  for (let i = 0; i < 32; i++) be[i] = encoding[31 - i]!;
  be[0] = be[0]! & 0x7f;
  return BigInt(`0x${toHex(be)}`);
}

/** Leading bits of each Lehmer digit: small enough that every sum and product below stays under 2^53. */
const LEHMER_DIGIT_BITS = 50;

/**
 * a^-1 mod p for 0 < a < p (p = 2^255 - 19, prime), by the extended Euclidean algorithm with Lehmer's
 * acceleration (Knuth, TAOCP vol. 2, §4.5.2, Algorithm L): the quotients of the next several steps are found
 * from the leading 50 bits of the two remainders in double-precision numbers (exact below 2^53), kept only
 * while the two bounding quotients agree (so they are the steps of the full-precision algorithm), and applied to
 * the big numbers at once as a 2x2 matrix. About three times as fast as one BigInt division a step (noble's
 * `Fp.inv`), which is most of the cost of `montgomeryU`. The result is checked: `undefined` if a * r = 1 mod p
 * does not hold (never, test/core/x25519-torsion.test.ts; `inverseModP` then takes noble's inverse).
 */
export function lehmerInverseModP(a: bigint): bigint | undefined {
  const p = FIELD_P;
  let u = p;
  let v = a % p;
  // Invariants: u = t0 * a, v = t1 * a (mod p).
  let t0 = 0n;
  let t1 = 1n;
  while (v !== 0n) {
    const un = Number(u);
    if (un >= 2 ** 52) {
      // The quotients of the next steps from the leading bits, as the matrix [[A, B], [C, D]].
      const shift = BigInt(Math.floor(Math.log2(un)) + 1 - LEHMER_DIGIT_BITS);
      let x = Number(u >> shift);
      let y = Number(v >> shift);
      let A = 1;
      let B = 0;
      let C = 0;
      let D = 1;
      for (;;) {
        if (y + C === 0 || y + D === 0) break;
        const q = Math.floor((x + A) / (y + C));
        if (q !== Math.floor((x + B) / (y + D))) break;
        let T = A - q * C;
        A = C;
        C = T;
        T = B - q * D;
        B = D;
        D = T;
        T = x - q * y;
        x = y;
        y = T;
      }
      if (B !== 0) {
        const a1 = BigInt(A);
        const b1 = BigInt(B);
        const c1 = BigInt(C);
        const d1 = BigInt(D);
        const nu = a1 * u + b1 * v;
        v = c1 * u + d1 * v;
        u = nu;
        const nt = a1 * t0 + b1 * t1;
        t1 = c1 * t0 + d1 * t1;
        t0 = nt;
        continue;
      }
    }
    // One full-precision step: on small numbers (the last few steps), or when the leading bits decided none.
    const q = u / v;
    const r = u - q * v;
    u = v;
    v = r;
    const t = t0 - q * t1;
    t0 = t1;
    t1 = t;
  }
  let r = t0 % p;
  if (r < 0n) r += p;
  return u === 1n && (a * r) % p === 1n ? r : undefined;
}

/** a^-1 mod p for 0 < a < p: `lehmerInverseModP`, checked, else noble's (the verdict never depends on the fast path). */
export function inverseModP(a: bigint): bigint {
  return lehmerInverseModP(a) ?? Fp.inv(a);
}

/**
 * The Montgomery u-coordinate (32 bytes, little-endian, canonical) of the Edwards y of a 32-byte point
 * encoding (bit 255, the sign of x, ignored): u = (1 + y) / (1 - y). `undefined` for y = 1 (the identity).
 * The caller has checked y < p.
 */
export function montgomeryU(encoding: Uint8Array): Uint8Array | undefined {
  const y = edwardsY(encoding);
  if (y === 1n) return undefined;
  return Fp.toBytes(((1n + y) * inverseModP(FIELD_P + 1n - y)) % FIELD_P);
}

/** The part of node:crypto the check uses. */
export interface X25519Platform {
  /** node:crypto createPrivateKey. */
  createPrivateKey(o: { key: Uint8Array; format: 'der'; type: 'pkcs8' }): unknown;
  /** node:crypto createPublicKey (JWK). */
  createPublicKey(o: { key: { kty: 'OKP'; crv: 'X25519'; x: string }; format: 'jwk' }): unknown;
  /** node:crypto diffieHellman: X25519(private scalar, public u). */
  diffieHellman(o: { privateKey: unknown; publicKey: unknown }): Uint8Array;
}

/** PKCS #8 DER of an X25519 private key before its 32 bytes: SEQUENCE { 0, { id-X25519 1.3.101.110 }, OCTET STRING { OCTET STRING } }. */
const PKCS8_X25519 = [0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x04, 0x22, 0x04, 0x20];

/** base64url of bytes, without padding (JWK). */
function base64url(b: Uint8Array): string {
  let s = '';
  for (const x of b) s += String.fromCharCode(x);
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/**
 * The check over a platform's X25519: for a 32-byte encoding that the caller found canonical and not one of
 * the small-order encodings, true iff it encodes a point of prime order L (see the file comment).
 */
export function x25519TorsionCheck(platform: X25519Platform): (encoding: Uint8Array) => boolean {
  const scalar = new Uint8Array([...PKCS8_X25519, ...le32(TORSION_SCALAR)]);
  const privateKey = platform.createPrivateKey({ key: scalar, format: 'der', type: 'pkcs8' });
  return (encoding) => {
    const u = montgomeryU(encoding);
    if (!u) return false;
    let out: Uint8Array;
    try {
      const publicKey = platform.createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: base64url(u) }, format: 'jwk' });
      out = platform.diffieHellman({ privateKey, publicKey });
    } catch {
      return false; // an all-zero result (a point of order dividing 8): refused by OpenSSL
    }
    return equalBytes(out, u);
  };
}
