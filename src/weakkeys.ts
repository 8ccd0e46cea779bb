/**
 * Ed25519 point-encoding rules shared by every verifier and by the issuer (spec/protocol.md §8).
 *
 * - `SMALL_ORDER_ENCODINGS`: the 14 byte strings that decode (leniently) to a point of the torsion subgroup
 *   E[8]: the eight canonical encodings, the non-canonical twins y + p of y = 0 and y = 1, and the x = 0
 *   "negative zero" sign-bit variants of y = 1, p - 1 and p + 1. It is the same set as libsodium's small-order
 *   block list taken with both sign bits. With a small-order A, the pair (R small order, S = 0) satisfies the
 *   cofactorless equation for many messages: no verifier accepts A or R from this list.
 * - `isCanonicalEncoding`: y < p (the 255 low bits, little-endian, below 2^255 - 19).
 * - `isPrimeOrderKey`: the rule for a key an issuer certifies and a verifier trusts in a certificate: the
 *   canonical encoding of a point P on the curve with [L]P = identity and P != identity (libsodium's
 *   `crypto_core_ed25519_is_valid_point`). Mixed-order keys (a prime-order point plus a torsion component)
 *   fail it. Where node:crypto is at hand (Node >= 20.16: `process.getBuiltinModule`), it is one X25519
 *   scalar multiplication (src/x25519-torsion.ts, about 0.06 to 0.08 ms); elsewhere (browsers, older Node) noble's
 *   point decoding and [L]P (about 0.9 ms on the reference machine). Results are remembered per key.
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { equalBytes } from '../base/bytes.js';
import { fromHex } from '../base/hex.js';
import { x25519TorsionCheck, type X25519Platform } from './x25519-torsion.js';

/** The 14 small-order encodings, hex, sorted (spec/protocol.md §8 lists the same strings). */
export const SMALL_ORDER_ENCODINGS: readonly string[] = [
  '0000000000000000000000000000000000000000000000000000000000000000', // order 4 (y = 0), canonical
  '0000000000000000000000000000000000000000000000000000000000000080', // order 4 (y = 0, x negative), canonical
  '0100000000000000000000000000000000000000000000000000000000000000', // order 1 (identity), canonical
  '0100000000000000000000000000000000000000000000000000000000000080', // order 1, x = 0 with the sign bit set
  '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05', // order 8, canonical
  '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85', // order 8, canonical
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a', // order 8, canonical
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa', // order 8, canonical
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', // order 2 (y = p - 1), canonical
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff', // order 2, x = 0 with the sign bit set
  'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', // order 4, y = p (non-canonical 0)
  'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff', // order 4, y = p, sign bit set
  'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', // order 1, y = p + 1 (non-canonical 1)
  'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff', // order 1, y = p + 1, sign bit set
];

const SMALL: Uint8Array[] = SMALL_ORDER_ENCODINGS.map(fromHex);

/** True if the 32 bytes are one of the 14 small-order encodings. */
export function isSmallOrderEncoding(b: Uint8Array): boolean {
  if (b.length !== 32) return false;
  // Every entry starts with one of five bytes; most keys are decided by the first byte.
  const b0 = b[0]!;
  if (b0 !== 0x00 && b0 !== 0x01 && b0 !== 0x26 && b0 !== 0xc7 && b0 !== 0xec && b0 !== 0xed && b0 !== 0xee) return false;
  for (const s of SMALL) if (equalBytes(s, b)) return true;
  return false;
}

/**
 * y < p for a 32-byte point encoding (the sign bit, bit 255, is ignored): false only for the 19 values
 * y = p .. 2^255 - 1, i.e. bytes 1..30 all 0xff, byte 31 & 0x7f = 0x7f and byte 0 >= 0xed.
 */
export function isCanonicalEncoding(b: Uint8Array): boolean {
  if (b.length !== 32) return false;
  if ((b[31]! & 0x7f) !== 0x7f) return true;
  for (let i = 30; i >= 1; i--) if (b[i] !== 0xff) return true;
  return b[0]! < 0xed;
}

/** The X25519 form of the check on this platform, or null (no node:crypto): looked up once, on first use. */
let fastCheck: ((encoding: Uint8Array) => boolean) | null | undefined;
function platformCheck(): ((encoding: Uint8Array) => boolean) | null {
  if (fastCheck !== undefined) return fastCheck;
  fastCheck = null;
  try {
    // A runtime lookup, not an import: browser bundles carry no Node module (and the id is given without the
    // `node:` scheme, which getBuiltinModule accepts, so bundlers see no Node specifier at all).
    const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
    const platform = typeof proc?.getBuiltinModule === 'function' ? (proc.getBuiltinModule('crypto') as X25519Platform | undefined) : undefined;
    if (platform && typeof platform.diffieHellman === 'function') fastCheck = x25519TorsionCheck(platform);
  } catch {
    fastCheck = null; // a platform without X25519: noble
  }
  return fastCheck;
}

/** Which form of the prime-order check this platform runs: `x25519` (node:crypto) or `noble`. */
export function primeOrderBackend(): 'x25519' | 'noble' {
  return platformCheck() ? 'x25519' : 'noble';
}

/**
 * The reference form of the check, with noble: RFC 8032 §5.1.3 strict decoding, then [L]P = identity. For a
 * canonical encoding that is not one of the small-order ones.
 */
export function primeOrderByNoble(pk: Uint8Array): boolean {
  try {
    const P = ed25519.Point.fromBytes(pk, false); // RFC 8032 §5.1.3 decoding, strict
    return !P.is0() && P.isTorsionFree();
  } catch {
    return false; // not on the curve
  }
}

const MEMO_SIZE = 65_536;
/** Keyed by the first six bytes as a number (cheaper than a string key); a hit is confirmed on all 32 bytes. */
const memo = new Map<number, { key: Uint8Array; ok: boolean }>();
let multiplications = 0;
/** Put a verdict in the memo (replacing the entry of its prefix, else first in, first out past MEMO_SIZE). */
function remember(id: number, replacing: boolean, publicKey: Uint8Array, ok: boolean): void {
  if (!replacing && memo.size >= MEMO_SIZE) memo.delete(memo.keys().next().value as number);
  memo.set(id, { key: publicKey.slice(), ok });
}
/** The memo's key: the first six bytes as a number (crypto.ts prefixKey, which imports this module). */
const keyId = (b: Uint8Array): number => b[0]! + 256 * (b[1]! + 256 * (b[2]! + 256 * (b[3]! + 256 * (b[4]! + 256 * b[5]!))));

/**
 * True if `publicKey` is the canonical encoding of a point of prime order L (not the identity, no torsion
 * component). Remembered for the last 65,536 keys (readers and clearing see the same wallets again and again);
 * a key sharing the six-byte prefix of a remembered one replaces it.
 */
export function isPrimeOrderKey(publicKey: Uint8Array): boolean {
  if (publicKey.length !== 32) return false;
  // The cheap checks first; only candidates reach the memo and the scalar multiplication.
  if (!isCanonicalEncoding(publicKey) || isSmallOrderEncoding(publicKey)) return false;
  const id = keyId(publicKey);
  const hit = memo.get(id);
  if (hit && equalBytes(hit.key, publicKey)) return hit.ok;
  // Canonical and not small-order (checked above): the scalar multiplication decides.
  const fast = platformCheck();
  multiplications++;
  const ok = fast ? fast(publicKey) : primeOrderByNoble(publicKey);
  remember(id, hit !== undefined, publicKey, ok);
  return ok;
}

/**
 * Remember `publicKey` as of prime order without the scalar multiplication: only for a key this implementation
 * found of prime order before (clearing's database memo of verified certificates, spec/clearing.md §4, remembered certificates).
 * The cheap checks still run, so a non-canonical or small-order key is never remembered as good.
 */
export function rememberPrimeOrderKey(publicKey: Uint8Array): void {
  if (publicKey.length !== 32 || !isCanonicalEncoding(publicKey) || isSmallOrderEncoding(publicKey)) return;
  const id = keyId(publicKey);
  remember(id, memo.has(id), publicKey, true);
}

/** Scalar multiplications run by the prime-order check since the process started (for tests and benchmarks). */
export function primeOrderMultiplications(): number {
  return multiplications;
}

/** Forget every remembered prime-order verdict, as a new process would start (for tests and benchmarks). */
export function forgetPrimeOrderKeys(): void {
  memo.clear();
}

/**
 * A key no issuer certifies and no verifier trusts in a certificate (reason `weak_public_key`): not the
 * canonical encoding of a point of prime order L. That covers the 14 small-order encodings, mixed-order keys,
 * non-canonical encodings and byte strings that are not on the curve.
 */
export function isWeakPublicKey(publicKey: Uint8Array): boolean {
  return !isPrimeOrderKey(publicKey);
}

/** The 14 small-order encodings, for tests and the spec. */
export function weakPublicKeys(): string[] {
  return [...SMALL_ORDER_ENCODINGS];
}
