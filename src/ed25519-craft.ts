/**
 * Crafted Ed25519 signatures from the edge-case catalogue of Chalkias, Garillot and Nikolaenko, "Taming the
 * many EdDSAs" (2020), for the vectors (src/vectors.ts) and the backend-agreement tests. Each family builds a
 * (public key, signature) pair for a given message from a known secret scalar and says what offpay's one
 * Ed25519 rule (spec/protocol.md §8) answers, computed here independently of the verifiers: the cofactorless
 * equation is evaluated with noble's point arithmetic on the points the crafter chose, the encoding rules on
 * the bytes it wrote.
 *
 * Families (T, T1, T2: points of the torsion subgroup E[8]; a, r: scalars; k = SHA-512(R || A || M) mod L):
 * - `honest`: A = aB, R = rB, S = r + ka. Valid.
 * - `mixedR`: A = aB, R = rB + T (T != 0), S = r + ka: the cofactored equation holds, the cofactorless one never.
 * - `smallR`: A = aB, R = T, S = ka: the cofactored equation holds; R is small order.
 * - `mixedA`: A = aB + T (T != 0), R = rB, S = r + ka: the cofactorless equation holds iff [k]T = 0 (1 in ord(T)).
 * - `smallA`: A = T, R = rB, S = r: the cofactorless equation holds iff [k]T = 0; A is small order.
 * - `smallBoth`: A = T2, R = T1, S = 0: holds iff T1 + [k]T2 = 0; both small order (the universal forgery).
 * - `smallAMixedR`: A = T1, R = rB + T2, S = r: holds iff T2 + [k]T1 = 0; A is small order (paper case 1).
 * - `mixedASmallR`: A = aB + T1, R = T2, S = ka: holds iff T2 + [k]T1 = 0; R is small order (paper case 2).
 * - `mixedBoth`: A = aB + T1, R = rB + T2, S = r + ka: holds iff T2 + [k]T1 = 0, cofactored always (cases 3, 4).
 * - `sPlusL`: an honest signature with S + nL (n = 1 or the largest n with S + nL < 2^256).
 * - `nonCanonicalR`: A = aB, R = the encoding p + 1 of the identity, S = ka: holds for a lenient decoder.
 * - `nonCanonicalA`: A = the encoding p + 1 of the identity, R = rB, S = r: holds for a lenient decoder.
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { sha512 } from '@noble/hashes/sha2.js';
import { ED25519_L as L } from './crypto.js';

type Point = InstanceType<typeof ed25519.Point>;
const P = ed25519.Point;

export type CraftFamily =
  | 'honest' | 'mixedR' | 'smallR' | 'mixedA' | 'smallA' | 'smallBoth' | 'smallAMixedR' | 'mixedASmallR' | 'mixedBoth' | 'sPlusL' | 'nonCanonicalR' | 'nonCanonicalA';
export const CRAFT_FAMILIES: readonly CraftFamily[] = [
  'honest', 'mixedR', 'smallR', 'mixedA', 'smallA', 'smallBoth', 'smallAMixedR', 'mixedASmallR', 'mixedBoth', 'sPlusL', 'nonCanonicalR', 'nonCanonicalA',
];

export interface Crafted {
  family: CraftFamily;
  publicKey: Uint8Array;
  /** The signed message. */
  message: Uint8Array;
  signature: Uint8Array;
  /** Whether [S]B = R + [k]A holds for the points meant (cofactorless, lenient decoding). */
  cofactorless: boolean;
  /** Whether [8]([S]B - R - [k]A) = 0 holds (the cofactored equation). */
  cofactored: boolean;
  /** offpay's rule: the encoding rules and the cofactorless equation. */
  valid: boolean;
}

/** The point of order 8 used by the paper; [i]T8 for i = 0..7 is E[8]. */
const T8 = P.fromBytes(Uint8Array.from([0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4, 0x89, 0xf2, 0xef, 0x98, 0xf0, 0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6, 0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53, 0xfc, 0x05]));

/** [i mod 8]T8. */
export function torsionPoint(i: number): Point {
  let t = P.ZERO;
  for (let j = 0; j < ((i % 8) + 8) % 8; j++) t = t.add(T8);
  return t;
}

export function le(v: bigint, n = 32): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    b[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return b;
}

function leNum(b: Uint8Array): bigint {
  let v = 0n;
  for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]!);
  return v;
}

const mod = (x: bigint) => ((x % L) + L) % L;

/** k = SHA-512(R || A || M) mod L over the bytes as written. */
export function challengeScalar(rBytes: Uint8Array, aBytes: Uint8Array, message: Uint8Array): bigint {
  return mod(leNum(sha512.create().update(rBytes).update(aBytes).update(message).digest()));
}

/** The secret scalar of a 32-byte Ed25519 secret key (RFC 8032 §5.1.5). */
export function secretScalar(secretKey: Uint8Array): bigint {
  return ed25519.utils.getExtendedPublicKey(secretKey).scalar;
}

/** A nonzero scalar from bytes (for deterministic crafting). */
function scalarFrom(seed: Uint8Array, label: number): bigint {
  const h = sha512.create().update(Uint8Array.of(label)).update(seed).digest();
  return mod(leNum(h)) || 1n;
}

const IDENTITY_P_PLUS_1 = (() => {
  const b = new Uint8Array(32).fill(0xff);
  b[0] = 0xee;
  b[31] = 0x7f;
  return b;
})();

export function equations(A: Point, R: Point, s: bigint, k: bigint): { cofactorless: boolean; cofactored: boolean } {
  const d = P.BASE.multiplyUnsafe(mod(s)).subtract(R).subtract(A.multiplyUnsafe(k));
  return { cofactorless: d.is0(), cofactored: d.clearCofactor().is0() };
}

/**
 * Craft a signature of `family` on `message` with secret scalar `a` (the holder's key) and `seed` (for r and
 * the torsion choices). `torsion` picks T in 1..7 (or 0..7 for `smallR`/`smallA`/`smallBoth`, where 0 is the
 * identity).
 */
export function craft(family: CraftFamily, message: Uint8Array | ((publicKey: Uint8Array) => Uint8Array), a: bigint, seed: Uint8Array, torsion = 1, torsion2 = 3): Crafted {
  // The message may depend on the public key (an offpay token signs the certificate that carries it).
  const msgOf = (publicKey: Uint8Array) => (typeof message === 'function' ? message(publicKey) : message);
  const r = scalarFrom(seed, 1);
  const T = torsionPoint(torsion);
  const aB = P.BASE.multiply(a);
  const rB = P.BASE.multiply(r);
  const out = (publicKey: Uint8Array, rBytes: Uint8Array, s: bigint, A: Point, R: Point, ruleValid: (eq: boolean) => boolean): Crafted => {
    const msg = msgOf(publicKey);
    const k = challengeScalar(rBytes, publicKey, msg);
    const eq = equations(A, R, s, k);
    const signature = new Uint8Array(64);
    signature.set(rBytes, 0);
    signature.set(le(s), 32);
    return { family, publicKey, message: msg, signature, ...eq, valid: ruleValid(eq.cofactorless) };
  };
  const sign = (A: Point, aBytes: Uint8Array, R: Point, rBytes: Uint8Array, base: bigint, times: bigint) =>
    mod(base + challengeScalar(rBytes, aBytes, msgOf(aBytes)) * times);
  switch (family) {
    case 'honest': {
      const A = aB.toBytes();
      const R = rB.toBytes();
      return out(A, R, sign(aB, A, rB, R, r, a), aB, rB, (eq) => eq);
    }
    case 'mixedR': {
      const Rp = rB.add(torsionPoint(torsion % 8 || 1));
      const A = aB.toBytes();
      const R = Rp.toBytes();
      return out(A, R, sign(aB, A, Rp, R, r, a), aB, Rp, (eq) => eq);
    }
    case 'smallR': {
      const A = aB.toBytes();
      const R = T.toBytes();
      return out(A, R, sign(aB, A, T, R, 0n, a), aB, T, () => false);
    }
    case 'mixedA': {
      const Ap = aB.add(torsionPoint(torsion % 8 || 1));
      const A = Ap.toBytes();
      const R = rB.toBytes();
      return out(A, R, sign(Ap, A, rB, R, r, a), Ap, rB, (eq) => eq);
    }
    case 'smallA': {
      const A = T.toBytes();
      const R = rB.toBytes();
      return out(A, R, r, T, rB, () => false);
    }
    case 'smallBoth': {
      const T2 = torsionPoint(torsion2);
      return out(T2.toBytes(), T.toBytes(), 0n, T2, T, () => false);
    }
    case 'smallAMixedR': {
      const T1 = torsionPoint(torsion);
      const Rp = rB.add(torsionPoint(torsion2));
      return out(T1.toBytes(), Rp.toBytes(), r, T1, Rp, () => false);
    }
    case 'mixedASmallR': {
      const Ap = aB.add(torsionPoint(torsion % 8 || 1));
      const T2 = torsionPoint(torsion2);
      const A = Ap.toBytes();
      const R = T2.toBytes();
      return out(A, R, sign(Ap, A, T2, R, 0n, a), Ap, T2, () => false);
    }
    case 'mixedBoth': {
      const Ap = aB.add(torsionPoint(torsion % 8 || 1));
      const Rp = rB.add(torsionPoint(torsion2 % 8 || 1));
      const A = Ap.toBytes();
      const R = Rp.toBytes();
      return out(A, R, sign(Ap, A, Rp, R, r, a), Ap, Rp, (eq) => eq);
    }
    case 'sPlusL': {
      const A = aB.toBytes();
      const R = rB.toBytes();
      const s = sign(aB, A, rB, R, r, a);
      const n = torsion % 2 === 0 ? 1n : (2n ** 256n - 1n - s) / L;
      const c = out(A, R, s, aB, rB, () => false);
      c.signature.set(le(s + n * L), 32);
      return c;
    }
    case 'nonCanonicalR': {
      const A = aB.toBytes();
      return out(A, IDENTITY_P_PLUS_1, sign(aB, A, P.ZERO, IDENTITY_P_PLUS_1, 0n, a), aB, P.ZERO, () => false);
    }
    case 'nonCanonicalA': {
      const R = rB.toBytes();
      return out(IDENTITY_P_PLUS_1, R, r, P.ZERO, rB, () => false);
    }
  }
}

/** The secret scalar `a` of a crafted key is only meaningful with a prime-order part: a nonzero scalar from a seed. */
export function craftScalar(seed: Uint8Array): bigint {
  return scalarFrom(seed, 2);
}
