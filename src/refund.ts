/**
 * The refund (message type 10, spec/protocol.md §4.5 is normative): a merchant gives back all or part of a
 * settled payment, signed by the reader key of a reader certificate the issuer made for that merchant (its
 * `operatorId`). So a refund authenticates itself by a signature chained to the issuer, like a batch, and needs
 * no password; clearing then decides it against what it holds (spec/clearing.md M8, Clearing.refund).
 *
 *   refund        = [10, 2, reader-cert, token-hash, amount, currency, time, reader-signature]
 *   signing input = 0x10 || "OFFPAY-V2-REFUND" || CBOR([10, 2, reader-cert, token-hash, amount, currency, time])
 *
 * Stateless verification (verifyRefund), in this order, the first failure deciding (a value, never a throw):
 *   1. size <= MAX_REFUND_BYTES (4,096) before decoding, then decode (spec/protocol.md §3.4) and shape:
 *      `cbor.*`, `message.*`;
 *   2. the reader certificate: its reader key a valid certificate key (§8.2), its issuer key index in the key
 *      set, the issuer signature (§8.1): else `refund.bad_cert`;
 *   3. the certificate's window [notBefore, notAfter] and its issuer key's window both hold `time`: else
 *      `refund.cert_not_valid`;
 *   4. the reader signature by the certificate's reader key (§8.1): else `refund.bad_signature`;
 *   5. `time <= now + REFUND_MAX_FUTURE_SECONDS` (60): else `refund.future`.
 */
import { decodeCbor, encodeCbor, type CborValue } from './cbor.js';
import { nobleEd25519, sign, signingInput, SIGNATURE_BYTES, type SyncVerifier } from './crypto.js';
import { OffpayError, type ErrorCode } from '../base/errors.js';
import {
  asBytes, asUint, MessageType, openMessage, PROTOCOL_VERSION, readerCertFromCbor, readerCertSigningInput, readerCertToCbor, SigningTag,
  MAX_UINT, type IssuerKeySet, type ReaderCert,
} from './messages.js';
import { isWeakPublicKey } from './weakkeys.js';

/** Largest refund accepted, bytes, checked before decoding (the largest possible refund is 258 bytes). */
export const MAX_REFUND_BYTES = 4096;
/** Element count of a refund on the wire. */
export const REFUND_ELEMENTS = 8;
/** How far a refund's time may be ahead of the verifier's clock, seconds. */
export const REFUND_MAX_FUTURE_SECONDS = 60;
/** Length of the token hash a refund names (SHA-256 of the token bytes). */
export const TOKEN_HASH_BYTES = 32;

/** The signed fields of a refund (spec/protocol.md §4.5). */
export interface RefundBody {
  /** The signing reader's certificate (message 3, whole): its operatorId is the merchant that refunds. */
  readerCert: ReaderCert;
  /** SHA-256 of the refunded token's bytes, 32 bytes. */
  tokenHash: Uint8Array;
  /** Amount given back, minor units of `currency`, 1..2^53-1 (clearing allows at most the token's charge). */
  amount: number;
  /** ISO 4217 numeric; must be the payment's. */
  currency: number;
  /** The merchant's clock when it signed, unix seconds. */
  time: number;
}

/** A refund with the reader's signature over {@link refundSigningInput}. */
export interface Refund extends RefundBody {
  /** Ed25519 signature by the certificate's reader key, 64 bytes. */
  readerSignature: Uint8Array;
}

function bodyArray(r: RefundBody): CborValue[] {
  return [MessageType.Refund, PROTOCOL_VERSION, readerCertToCbor(r.readerCert), r.tokenHash, r.amount, r.currency, r.time];
}

/** The bytes the reader key signs: signingInput("OFFPAY-V2-REFUND", CBOR(the array without its signature)). */
export function refundSigningInput(r: RefundBody): Uint8Array {
  return signingInput(SigningTag.Refund, encodeCbor(bodyArray(r)));
}

/** The deterministic CBOR bytes of a refund. */
export function encodeRefund(r: Refund): Uint8Array {
  return encodeCbor([...bodyArray(r), r.readerSignature]);
}

/**
 * Decode a refund and check its shape (not its signatures).
 * @throws OffpayError `cbor.*` (too_large over 4,096 bytes, and the others of spec/protocol.md §3.4), `message.*`.
 */
export function decodeRefund(bytes: Uint8Array): Refund {
  const a = openMessage(decodeCbor(bytes, MAX_REFUND_BYTES), MessageType.Refund, 'refund', REFUND_ELEMENTS);
  return {
    readerCert: readerCertFromCbor(a[2]!),
    tokenHash: asBytes(a[3], 'refund tokenHash', TOKEN_HASH_BYTES),
    amount: asUint(a[4], 'refund amount', MAX_UINT, 1),
    currency: asUint(a[5], 'refund currency', 999, 1),
    time: asUint(a[6], 'refund time'),
    readerSignature: asBytes(a[7], 'refund readerSignature', SIGNATURE_BYTES),
  };
}

/** A merchant's signing material: a reader certificate and the secret key of the reader key it certifies. */
export interface RefundSigner {
  /** The reader certificate (the merchant is its operatorId). */
  readerCert: ReaderCert;
  /** The reader's Ed25519 secret key, 32 bytes. */
  secretKey: Uint8Array;
}

/** The fields a merchant signs besides its certificate (see {@link RefundBody}). */
export interface RefundFields {
  /** SHA-256 of the refunded token's bytes, 32 bytes. */
  tokenHash: Uint8Array;
  /** Amount given back, minor units, 1..2^53-1. */
  amount: number;
  /** ISO 4217 numeric, 1..999. */
  currency: number;
  /** The merchant's clock, unix seconds. */
  time: number;
}

/** A signed refund: the message and its bytes. */
export interface SignedRefund {
  /** The refund. */
  refund: Refund;
  /** Its deterministic CBOR bytes (what POST /v1/refunds takes). */
  bytes: Uint8Array;
}

/** Sign a refund. Checks the fields' ranges (`refund.bad_input`), not the certificate. */
export function createRefund(signer: RefundSigner, f: RefundFields): SignedRefund {
  const bad = (m: string): never => {
    throw new OffpayError('refund.bad_input', m);
  };
  if (!(f.tokenHash instanceof Uint8Array) || f.tokenHash.length !== TOKEN_HASH_BYTES) bad('a token hash is 32 bytes (SHA-256 of the token)');
  if (!Number.isSafeInteger(f.amount) || f.amount < 1) bad(`amount ${String(f.amount)} must be an integer in 1..2^53-1`);
  if (!Number.isSafeInteger(f.currency) || f.currency < 1 || f.currency > 999) bad(`currency ${String(f.currency)} must be an ISO 4217 numeric code 1..999`);
  if (!Number.isSafeInteger(f.time) || f.time < 0) bad(`time ${String(f.time)} must be unix seconds`);
  const body: RefundBody = { readerCert: signer.readerCert, tokenHash: f.tokenHash, amount: f.amount, currency: f.currency, time: f.time };
  const refund: Refund = { ...body, readerSignature: sign(refundSigningInput(body), signer.secretKey) };
  return { refund, bytes: encodeRefund(refund) };
}

/** A refund code of the stateless checks (steps 2-5), or a decoding code (step 1). */
export type RefundStatelessCode = ErrorCode;

/** The result of {@link verifyRefund}: the refund with its signing input, or the first failure's code. */
export type RefundVerdict =
  | {
      /** The refund passed every stateless check. */
      ok: true;
      /** The decoded refund. */
      refund: Refund;
      /** The exact bytes the reader signature covers. */
      signingInput: Uint8Array;
    }
  | {
      /** A check failed. */
      ok: false;
      /** `cbor.*`, `message.*`, `refund.bad_cert`, `refund.cert_not_valid`, `refund.bad_signature` or `refund.future`. */
      code: RefundStatelessCode;
      /** A sentence for people. */
      message: string;
    };

/**
 * Verify a refund statelessly (steps of the module comment; spec/protocol.md §4.5): decoding, the reader
 * certificate chained to `issuerKeys`, the certificate valid at the refund's time, the reader signature, and
 * the time not more than 60 s ahead of `now`. Never throws for bad input: a refused refund is a value.
 */
export function verifyRefund(bytes: Uint8Array, issuerKeys: IssuerKeySet, now: number, verifier: SyncVerifier = nobleEd25519): RefundVerdict {
  const no = (code: RefundStatelessCode, message: string): RefundVerdict => ({ ok: false, code, message });
  let r: Refund;
  try {
    if (!(bytes instanceof Uint8Array)) return no('cbor.malformed', 'a refund is bytes');
    r = decodeRefund(bytes);
  } catch (e) {
    if (e instanceof OffpayError) return no(e.code, e.message);
    return no('cbor.malformed', String((e as Error)?.message ?? e));
  }
  const c = r.readerCert;
  if (isWeakPublicKey(c.readerPublicKey)) return no('refund.bad_cert', 'the reader public key is not a valid certificate key (spec/protocol.md §8.2)');
  const key = issuerKeys.keys.find((k) => k.keyIndex === c.keyIndex);
  if (!key) return no('refund.bad_cert', `the reader certificate names issuer key ${c.keyIndex}, which the key set does not hold`);
  if (!verifier.verify(c.issuerSignature, readerCertSigningInput(c), key.publicKey)) return no('refund.bad_cert', 'the issuer signature on the reader certificate does not verify');
  if (r.time < c.notBefore || r.time > c.notAfter) return no('refund.cert_not_valid', `refund time ${r.time} is outside the reader certificate's validity ${c.notBefore}..${c.notAfter}`);
  if (r.time < key.notBefore || r.time > key.notAfter) return no('refund.cert_not_valid', `refund time ${r.time} is outside issuer key ${key.keyIndex}'s validity ${key.notBefore}..${key.notAfter}`);
  const input = refundSigningInput(r);
  if (!verifier.verify(r.readerSignature, input, c.readerPublicKey)) return no('refund.bad_signature', 'the reader signature on the refund does not verify');
  if (r.time > now + REFUND_MAX_FUTURE_SECONDS) return no('refund.future', `refund time ${r.time} is more than ${REFUND_MAX_FUTURE_SECONDS} s after now (${now})`);
  return { ok: true, refund: r, signingInput: input };
}
