/**
 * Small-order ("weak") Ed25519 public keys.
 *
 * The eight points of the torsion subgroup E[8] let a forger make signatures that verify under the
 * cofactorless equation for any message (with A of small order, R = small-order point and S = 0). An issuer
 * must never certify such a key and a reader refuses one (reason `weak_public_key`). The set holds every
 * 32-byte string that decodes to a small-order point: the eight canonical encodings, their non-canonical
 * twins with y + p < 2^255, and the "negative zero" x sign-bit variants (RFC 8032 §5.1.3 rejects the
 * latter two classes anyway; listing them keeps the check independent of the decoder).
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { toHex } from './crypto.js';

function leBytes(v: bigint, sign: number): Uint8Array {
  const b = new Uint8Array(32);
  for (let i = 0; i < 32; i++) {
    b[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  b[31] = (b[31]! & 0x7f) | (sign << 7);
  return b;
}

/** y of a point of order 8 (the generator of E[8] used in "Taming the many EdDSAs", Chalkias et al. 2020). */
const ORDER8_Y = 2707385501144840649318225287225658788936804267575313519463743609750303402022n;

function computeWeakKeys(): Set<string> {
  const P = ed25519.Point;
  const { p } = P.CURVE();
  const t = P.fromBytes(leBytes(ORDER8_Y, 0));
  const set = new Set<string>();
  let pt = P.ZERO;
  for (let k = 0; k < 8; k++) {
    const enc = pt.toBytes();
    set.add(toHex(enc));
    const { x, y } = pt.toAffine();
    const sign = Number(x & 1n);
    if (y + p < 1n << 255n) set.add(toHex(leBytes(y + p, sign)));
    if (x === 0n) {
      set.add(toHex(leBytes(y, 1)));
      if (y + p < 1n << 255n) set.add(toHex(leBytes(y + p, 1)));
    }
    pt = pt.add(t);
  }
  return set;
}

let weak: Set<string> | undefined;
/** The first two bytes of every weak encoding, as a 16-bit number: a cheap filter before the full lookup. */
let weakPrefixes: Set<number> | undefined;

/** True if `publicKey` decodes to a point of small order (or is one of its alternative encodings). */
export function isWeakPublicKey(publicKey: Uint8Array): boolean {
  weak ??= computeWeakKeys();
  weakPrefixes ??= new Set([...weak].map((h) => parseInt(h.slice(0, 4), 16)));
  if (publicKey.length >= 2 && !weakPrefixes.has((publicKey[0]! << 8) | publicKey[1]!)) return false;
  return weak.has(toHex(publicKey));
}

/** The set, for tests and the spec. */
export function weakPublicKeys(): string[] {
  weak ??= computeWeakKeys();
  return [...weak].sort();
}
