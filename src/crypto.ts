/**
 * Ed25519 and SHA-256 for offpay, with one interface over several implementations.
 *
 * offpay has ONE Ed25519 verification rule (spec/protocol.md §8), the one libsodium applies: signature and key
 * of the right lengths; S < L; A and R canonical encodings (y < p); neither A nor R one of the 14 small-order
 * encodings; and the cofactorless equation [S]B = R + [k]A with k = SHA-512(R || A || M) mod L. Every backend
 * runs `ed25519Precheck` (the encoding rules) itself, then the equation:
 *
 * - `nobleEd25519`: the portable reference. It decodes A and R (RFC 8032 §5.1.3, strict) and computes the
 *   cofactorless equation itself with @noble/curves point arithmetic. (noble's own `ed25519.verify` checks the
 *   cofactored equation [8]([S]B - R - [k]A) = 0 even with `zip215: false`, which accepts R' = R + T for a
 *   small-order T: it is not used.) Synchronous.
 * - `webCryptoEd25519()`: the fast path where the platform's WebCrypto has Ed25519 (Node >= 20, current
 *   browsers). OpenSSL and the browsers compute the cofactorless equation but accept small-order A and R:
 *   the precheck stops those first. Asynchronous.
 * - src/node/crypto.ts adds a synchronous node:crypto backend for Node-only readers and clearing, with the
 *   same precheck.
 *
 * test/core/ed25519-rule.test.ts crafts edge-case signatures at random and requires all three to agree.
 *
 * Every signature in offpay is over a domain-separated input: `len(tag) || tag || body`, where `tag` is an
 * ASCII string such as "OFFPAY-V2-TOKEN" (spec/protocol.md §Signing inputs).
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { sha256 as nobleSha256, sha512 } from '@noble/hashes/sha2.js';
import { isCanonicalEncoding, isSmallOrderEncoding } from './weakkeys.js';
import { toHex } from '../base/hex.js';

/** Length of an Ed25519 public key, bytes (RFC 8032). */
export const PUBLIC_KEY_BYTES = 32;
/** Length of an Ed25519 secret key (seed), bytes (RFC 8032). */
export const SECRET_KEY_BYTES = 32;
/** Length of an Ed25519 signature, bytes (RFC 8032). */
export const SIGNATURE_BYTES = 64;

/** A synchronous Ed25519 verifier. */
export interface SyncVerifier {
  /** The backend's name, for logs and benchmarks (`noble`, `webcrypto`, `node`). */
  readonly name: string;
  /**
   * True when `signature` (64 bytes) is valid for `message` under `publicKey` (32 bytes) by the one rule of
   * spec/protocol.md §8.1; false (never a throw) otherwise.
   */
  verify(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean;
}

/** An asynchronous Ed25519 verifier (WebCrypto). */
export interface AsyncVerifier {
  /** The backend's name, for logs and benchmarks (`noble`, `webcrypto`, `node`). */
  readonly name: string;
  /** Resolves true when `signature` is valid for `message` under `publicKey` by spec/protocol.md §8.1, else false. */
  verify(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): Promise<boolean>;
}

/** Either kind of Ed25519 verifier; every backend gives the same verdict on every vector. */
export type Verifier = SyncVerifier | AsyncVerifier;

/** The order of the prime-order subgroup, L = 2^252 + 27742317777372353535851937790883648493. */
export const ED25519_L = 2n ** 252n + 27742317777372353535851937790883648493n;

/** The little-endian number in bytes [from, to). */
function leNumber(b: Uint8Array, from: number, to: number): bigint {
  let v = 0n;
  for (let i = to - 1; i >= from; i--) v = (v << 8n) | BigInt(b[i]!);
  return v;
}

/**
 * The encoding half of offpay's Ed25519 rule, run by every backend before its equation (spec/protocol.md §8,
 * in this order): signature 64 bytes and key 32 bytes; S (signature bytes 32..63, little-endian) < L; A
 * canonical (y < p); A not a small-order encoding; R (signature bytes 0..31) canonical; R not a small-order
 * encoding. True if the signature may go on to the equation.
 */
export function ed25519Precheck(signature: Uint8Array, publicKey: Uint8Array): boolean {
  if (signature.length !== SIGNATURE_BYTES || publicKey.length !== PUBLIC_KEY_BYTES) return false;
  // S < L: L's top byte is 0x10, so any S with one of the top three bits set (byte 63 >= 0x20) or byte 63 > 0x10 is
  // out at once; the rest are compared as numbers.
  if (signature[63]! > 0x10) return false;
  if (signature[63] === 0x10 && leNumber(signature, 32, 64) >= ED25519_L) return false;
  if (!isCanonicalEncoding(publicKey) || isSmallOrderEncoding(publicKey)) return false;
  const r = signature.subarray(0, 32);
  return isCanonicalEncoding(r) && !isSmallOrderEncoding(r);
}

/**
 * The reference backend: `ed25519Precheck`, then A and R decoded strictly (RFC 8032 §5.1.3; a string that is
 * not a point fails) and the cofactorless equation [S]B = R + [k]A, k = SHA-512(R || A || M) mod L, computed
 * with noble's point arithmetic.
 */
export const nobleEd25519: SyncVerifier = {
  name: 'noble',
  verify(signature, message, publicKey) {
    if (!ed25519Precheck(signature, publicKey)) return false;
    try {
      const P = ed25519.Point;
      const A = P.fromBytes(publicKey, false);
      const R = P.fromBytes(signature.subarray(0, 32), false);
      const s = leNumber(signature, 32, 64); // < L (precheck)
      const h = sha512.create().update(signature.subarray(0, 32)).update(publicKey).update(message).digest();
      const k = leNumber(h, 0, 64) % ED25519_L;
      return P.BASE.multiplyUnsafe(s).equals(R.add(A.multiplyUnsafe(k)));
    } catch {
      return false;
    }
  },
};

/** Sign `message` with a 32-byte Ed25519 secret key (RFC 8032, deterministic). */
export function sign(message: Uint8Array, secretKey: Uint8Array): Uint8Array {
  return ed25519.sign(message, secretKey);
}

/** The 32-byte Ed25519 public key of a 32-byte secret key (RFC 8032). */
export function publicKeyOf(secretKey: Uint8Array): Uint8Array {
  return ed25519.getPublicKey(secretKey);
}

/** A fresh random secret key from the platform CSPRNG. */
export function randomSecretKey(): Uint8Array {
  return ed25519.utils.randomSecretKey();
}

/** A secret key derived from a seed and a label (for reproducible vectors and demos, never production). */
export function seededSecretKey(seed: string, label: string): Uint8Array {
  return sha256(utf8(`offpay-seed:${seed}:${label}`));
}

/** SHA-256 of `data` (32 bytes; noble, browser-safe). */
export function sha256(data: Uint8Array): Uint8Array {
  return nobleSha256(data);
}

/** The UTF-8 bytes of a string. */
export function utf8(s: string): Uint8Array {
  return new TextEncoder().encode(s);
}

/** `len(tag) || tag || body`: the exact bytes every offpay signature covers. */
export function signingInput(tag: string, body: Uint8Array): Uint8Array {
  const t = tagBytes(tag);
  const out = new Uint8Array(1 + t.length + body.length);
  out[0] = t.length;
  out.set(t, 1);
  out.set(body, 1 + t.length);
  return out;
}

/**
 * Signing inputs for bodies given as one array-header byte followed by `bytes[from, to)`: how a verifier takes
 * a body straight out of a received canonical message (the message array minus its final signature element)
 * instead of re-encoding it. Each part [tag, header, from, to] gives the same bytes as
 * `signingInput(tag, [header, ...bytes[from, to)])`; the results are views of one new buffer (one allocation).
 */
export function signingInputsFromBytes(bytes: Uint8Array, parts: [string, number, number, number][]): Uint8Array[] {
  let total = 0;
  for (const [tag, , from, to] of parts) total += 2 + tagBytes(tag).length + (to - from);
  const buf = carve(total);
  const out: Uint8Array[] = [];
  let at = 0;
  for (const [tag, header, from, to] of parts) {
    const t = tagBytes(tag);
    const start = at;
    buf[at++] = t.length;
    buf.set(t, at);
    at += t.length;
    buf[at++] = header;
    buf.set(bytes.subarray(from, to), at);
    at += to - from;
    out.push(buf.subarray(start, at));
  }
  return out;
}

/**
 * A carved buffer for `signingInput(tag, body)` with a body of `bodyLength` bytes still to be written: the
 * tag's length byte and the tag are in place, the body goes at `at` (for a body assembled from parts, with no
 * intermediate buffer).
 */
export function signingInputFrame(tag: string, bodyLength: number): { input: Uint8Array; at: number } {
  const t = tagBytes(tag);
  const input = carve(1 + t.length + bodyLength);
  input[0] = t.length;
  input.set(t, 1);
  return { input, at: 1 + t.length };
}

const tags = new Map<string, Uint8Array>();
function tagBytes(tag: string): Uint8Array {
  let t = tags.get(tag);
  if (!t) {
    t = utf8(tag);
    if (t.length > 255) throw new Error('domain tag too long');
    if (tags.size < 64) tags.set(tag, t);
  }
  return t;
}

type SubtleLike = {
  importKey(format: 'raw', keyData: Uint8Array, algorithm: { name: string }, extractable: boolean, usages: string[]): Promise<unknown>;
  verify(algorithm: { name: string }, key: unknown, signature: Uint8Array, data: Uint8Array): Promise<boolean>;
};

function subtle(): SubtleLike | undefined {
  const c = (globalThis as { crypto?: { subtle?: unknown } }).crypto;
  return c?.subtle as SubtleLike | undefined;
}

let webCryptoProbe: Promise<boolean> | undefined;

/** Whether this platform's WebCrypto implements Ed25519 (probed once). */
export function hasWebCryptoEd25519(): Promise<boolean> {
  webCryptoProbe ??= (async () => {
    const s = subtle();
    if (!s) return false;
    try {
      const pk = publicKeyOf(new Uint8Array(32).fill(7));
      const key = await s.importKey('raw', pk, { name: 'Ed25519' }, false, ['verify']);
      const msg = utf8('probe');
      const sig = sign(msg, new Uint8Array(32).fill(7));
      return (await s.verify({ name: 'Ed25519' }, key, sig, msg)) === true;
    } catch {
      return false;
    }
  })();
  return webCryptoProbe;
}

/**
 * The WebCrypto fast path: `ed25519Precheck`, then the platform's cofactorless verification. Imported keys are
 * cached (issuer and reader keys repeat), bounded to `cacheSize`. Encodings WebCrypto refuses to import are
 * invalid keys: verify returns false.
 */
export function webCryptoEd25519(cacheSize = 1024): AsyncVerifier {
  const cache = new Map<string, Promise<unknown>>();
  const keyFor = (pk: Uint8Array): Promise<unknown> => {
    const id = toHex(pk);
    let k = cache.get(id);
    if (!k) {
      const s = subtle();
      if (!s) return Promise.reject(new Error('no WebCrypto'));
      k = s.importKey('raw', pk, { name: 'Ed25519' }, false, ['verify']);
      if (cache.size >= cacheSize) cache.delete(cache.keys().next().value as string);
      cache.set(id, k);
    }
    return k;
  };
  return {
    name: 'webcrypto',
    async verify(signature, message, publicKey) {
      if (!ed25519Precheck(signature, publicKey)) return false;
      const s = subtle();
      if (!s) throw new Error('WebCrypto is not available on this platform');
      try {
        const key = await keyFor(publicKey);
        return (await s.verify({ name: 'Ed25519' }, key, signature, message)) === true;
      } catch {
        return false;
      }
    },
  };
}

/**
 * Small byte arrays carved from shared 16 KiB slabs. On V8 a fresh ArrayBuffer costs about 2 µs (an off-heap
 * allocation, then finalisation by the GC), a view of a slab about a tenth of that: it matters for the signing
 * inputs and hashes made for every token. A carved range is zero-filled and never handed out twice; a slab is
 * freed once no view of it is left. Never transfer or detach the `.buffer` of a carved array: it holds others.
 */
const SLAB_BYTES = 16_384;
let slab = new Uint8Array(0);
let slabAt = 0;
export function carve(n: number): Uint8Array {
  if (n > 1024) return new Uint8Array(n);
  if (slabAt + n > slab.length) {
    slab = new Uint8Array(SLAB_BYTES);
    slabAt = 0;
  }
  const v = slab.subarray(slabAt, slabAt + n);
  slabAt += n;
  return v;
}

/**
 * A number made of the first six bytes, as a Map key for byte strings such as keys and signatures (about ten
 * times cheaper than building a string key). Different strings may share it, so every hit must be confirmed
 * by comparing the whole bytes; a collision is then only a miss.
 */
export function prefixKey(b: Uint8Array): number {
  return (b[0] ?? 0) + 256 * ((b[1] ?? 0) + 256 * ((b[2] ?? 0) + 256 * ((b[3] ?? 0) + 256 * ((b[4] ?? 0) + 256 * (b[5] ?? 0)))));
}

