/**
 * The signed issuer key set (message type 9, spec/protocol.md §4.4 is normative): a new issuer key set,
 * signed by an issuer key that the verifier ALREADY trusts, so a reader can take a key rotation over an
 * untrusted network (`reader sync`) without giving whoever answers the URL the power to mint certificates.
 *
 *   signed-key-set = [9, 2, key-index, issued-at, issuer-key-set, issuer-signature]
 *   signature      = Ed25519(issuer key key-index, signingInput("OFFPAY-V2-KEYSET", CBOR(array without signature)))
 *
 * Verification (verifySignedKeySet), in this order, first failure decides:
 *   1. decode (spec/protocol.md §3.4, 65,536 bytes): cbor.* / message.*;
 *   2. the inner key set's issuer id is the trusted set's: keyset.wrong_issuer;
 *   3. key-index is a key of the TRUSTED set (not of the new one): keyset.unknown_key;
 *   4. that key's window holds issued-at: keyset.key_not_valid;
 *   5. the signature verifies (spec/protocol.md §8.1): keyset.bad_signature;
 *   6. that key has not ended: now <= notAfter, else keyset.key_not_valid (a retired key signs no new set);
 *   7. issued-at <= now + maxFutureSeconds: keyset.future;
 *   8. the new set equals the trusted one: outcome `unchanged` (nothing to load);
 *   9. issued-at > heldIssuedAt (the issued-at of the last signed set loaded, 0 if none): else keyset.rollback;
 *  10. outcome `newer`: the caller loads the new set.
 */
import { decodeCbor, encodeCbor, type CborValue } from './cbor.js';
import { nobleEd25519, sign, signingInput, type SyncVerifier } from './crypto.js';
import { equalBytes } from '../base/bytes.js';
import { OffpayError } from '../base/errors.js';
import { asUint, decodeIssuerKeySet, encodeIssuerKeySet, issuerKeySetToCbor, MessageType, openMessage, PROTOCOL_VERSION, SigningTag, type IssuerKeySet } from './messages.js';

/** The signed fields of a signed key set. */
export interface SignedKeySetBody {
  /** The issuer key (of the key set the verifier already trusts) that signs. */
  keyIndex: number;
  /** When it was signed, unix seconds: a verifier refuses an older set than the one it loaded last. */
  issuedAt: number;
  /** The key set it publishes. */
  keySet: IssuerKeySet;
}

/** A signed key set with its Ed25519 signature over {@link signedKeySetSigningInput}. */
export interface SignedKeySet extends SignedKeySetBody {
  /** Ed25519 signature by issuer key `keyIndex`, 64 bytes. */
  signature: Uint8Array;
}

/** Default future tolerance for issued-at, seconds (the reader's maxFutureSeconds default). */
export const KEYSET_MAX_FUTURE_SECONDS = 60;

function bodyArray(b: SignedKeySetBody): CborValue[] {
  return [MessageType.SignedKeySet, PROTOCOL_VERSION, b.keyIndex, b.issuedAt, issuerKeySetToCbor(b.keySet)];
}

/** The bytes the signature covers: signingInput("OFFPAY-V2-KEYSET", CBOR(the array without its signature)). */
export function signedKeySetSigningInput(b: SignedKeySetBody): Uint8Array {
  return signingInput(SigningTag.SignedKeySet, encodeCbor(bodyArray(b)));
}

/** The deterministic CBOR bytes of a signed key set. */
export function encodeSignedKeySet(s: SignedKeySet): Uint8Array {
  return encodeCbor([...bodyArray(s), s.signature]);
}

/**
 * Decode a signed key set and check its shape (not the signature).
 * @throws OffpayError `cbor.*` (65,536 bytes at most), `message.*`.
 */
export function decodeSignedKeySet(bytes: Uint8Array): SignedKeySet {
  const a = openMessage(decodeCbor(bytes), MessageType.SignedKeySet, 'signed key set', 6);
  const keyIndex = asUint(a[2], 'signed key set keyIndex', 255);
  const issuedAt = asUint(a[3], 'signed key set issuedAt');
  // The inner key set is decoded from its own canonical bytes (the outer decode already bounded the size).
  const keySet = decodeIssuerKeySet(encodeCbor(a[4]!));
  const sig = a[5];
  if (!(sig instanceof Uint8Array) || sig.length !== 64) throw new OffpayError('message.bad_structure', 'signed key set signature: expected 64 bytes');
  return { keyIndex, issuedAt, keySet, signature: sig };
}

/** A freshly signed key set: the message and its bytes. */
export interface SignedKeySetResult {
  /** The signed key set. */
  signed: SignedKeySet;
  /** Its deterministic CBOR bytes (what GET /v1/keyset serves). */
  bytes: Uint8Array;
}

/** Sign a key set with an issuer key (the clearing service does this with the issuer's oldest valid key). */
export function signKeySet(key: { keyIndex: number; secretKey: Uint8Array }, keySet: IssuerKeySet, issuedAt: number): SignedKeySetResult {
  const body: SignedKeySetBody = { keyIndex: key.keyIndex, issuedAt, keySet };
  const signed: SignedKeySet = { ...body, signature: sign(signedKeySetSigningInput(body), key.secretKey) };
  return { signed, bytes: encodeSignedKeySet(signed) };
}

/** What a verifier knows when it judges a signed key set. */
export interface KeySetContext {
  /** The key set the verifier trusts now (provisioned, or loaded from an earlier signed set). */
  trusted: IssuerKeySet;
  /** The verifier's clock, unix seconds. */
  now: number;
  /** issued-at of the last signed key set loaded (0 or absent: none). */
  heldIssuedAt?: number;
  /** Tolerance for an issued-at ahead of `now`, seconds (default 60). */
  maxFutureSeconds?: number;
  /** The Ed25519 verifier (default: noble, the rule of spec/protocol.md §8.1). */
  verifier?: SyncVerifier;
}

/** A signed key set that verified: `newer` to be loaded, or `unchanged` (it publishes the trusted set). */
export interface KeySetVerdict {
  /** `newer`: load `signed.keySet`; `unchanged`: it is the trusted set. */
  outcome: 'newer' | 'unchanged';
  /** The decoded, verified message. */
  signed: SignedKeySet;
}

/**
 * Verify a signed key set against the trusted one (steps 1-10 above).
 * @throws OffpayError `cbor.*`, `message.*`, `keyset.wrong_issuer`, `keyset.unknown_key`, `keyset.key_not_valid`,
 * `keyset.bad_signature`, `keyset.future`, `keyset.rollback`.
 */
export function verifySignedKeySet(bytes: Uint8Array, c: KeySetContext): KeySetVerdict {
  const s = decodeSignedKeySet(bytes);
  if (s.keySet.issuerId !== c.trusted.issuerId) throw new OffpayError('keyset.wrong_issuer', `key set of issuer ${s.keySet.issuerId}, the verifier trusts issuer ${c.trusted.issuerId}`);
  const key = c.trusted.keys.find((k) => k.keyIndex === s.keyIndex);
  if (!key) throw new OffpayError('keyset.unknown_key', `key set signed with issuer key ${s.keyIndex}, which the trusted key set does not hold`);
  if (s.issuedAt < key.notBefore || s.issuedAt > key.notAfter) throw new OffpayError('keyset.key_not_valid', `issuer key ${s.keyIndex} was not valid at ${s.issuedAt}`);
  if (!(c.verifier ?? nobleEd25519).verify(s.signature, signedKeySetSigningInput(s), key.publicKey)) throw new OffpayError('keyset.bad_signature', 'the issuer signature on the key set does not verify');
  // A retired, perhaps leaked, key signs no new set however it is dated (the blocklist's rule, spec/reader.md §5 step 8).
  if (c.now > key.notAfter) throw new OffpayError('keyset.key_not_valid', `issuer key ${s.keyIndex} ended at ${key.notAfter}, before now (${c.now}): it signs no new key set`);
  const maxFuture = c.maxFutureSeconds ?? KEYSET_MAX_FUTURE_SECONDS;
  if (s.issuedAt > c.now + maxFuture) throw new OffpayError('keyset.future', `key set issued at ${s.issuedAt}, more than ${maxFuture} s after now (${c.now})`);
  if (equalBytes(encodeIssuerKeySet(s.keySet), encodeIssuerKeySet(c.trusted))) return { outcome: 'unchanged', signed: s };
  const held = c.heldIssuedAt ?? 0;
  if (s.issuedAt <= held) throw new OffpayError('keyset.rollback', `key set issued at ${s.issuedAt} is not newer than the one loaded (issued at ${held})`);
  return { outcome: 'newer', signed: s };
}
