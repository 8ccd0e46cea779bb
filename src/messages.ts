/**
 * offpay wire messages, version 2 (spec/protocol.md, spec/messages.cddl).
 *
 * Every message is a deterministic-CBOR positional array that opens with its type and version. Signed
 * messages end with an Ed25519 signature over `signingInput(TAG, CBOR(the same array without the
 * signature))`. Decoders check the canonical form (src/cbor.ts), the type, the version and the shape of every
 * field, and throw OffpayError with a `message.*` or `cbor.*` code.
 */
import { cborItemEnd, decodeCbor, encodeCbor, MAX_MESSAGE_BYTES, uintLength, writeUint, type CborValue } from './cbor.js';
import { sha256, signingInput, signingInputFrame, signingInputsFromBytes, utf8, PUBLIC_KEY_BYTES, SIGNATURE_BYTES } from './crypto.js';
import { OffpayError, type ErrorCode } from '../base/errors.js';

/** The protocol version every message carries as its second element (spec/protocol.md §11). */
export const PROTOCOL_VERSION = 2;

/** Message type numbers (first array element). 7 and 8 are the reader's blocklist and settlement batch; 9 the signed key set (src/keyset.ts); 10 a merchant's refund (src/refund.ts); 11 a wallet's exit (src/exit.ts). */
export const MessageType = {
  /** 1: the issuer's public keys (spec/protocol.md §4.1). */
  IssuerKeySet: 1,
  /** 2: a wallet certificate, signed by the issuer (§4.2). */
  WalletCert: 2,
  /** 3: a reader certificate, signed by the issuer. */
  ReaderCert: 3,
  /** 4: a payment request, signed by a reader (§4.4). */
  PaymentRequest: 4,
  /** 5: a payment token, signed by a wallet (§4.3). */
  PaymentToken: 5,
  /** 6: a receipt, signed by a reader (§10). */
  Receipt: 6,
  /** 7: a blocklist, signed by the issuer (spec/reader.md §5). */
  Blocklist: 7,
  /** 8: a settlement batch, signed by a reader (spec/reader.md §10). */
  SettlementBatch: 8,
  /** The signed issuer key set (spec/protocol.md §4.4, src/keyset.ts). */
  SignedKeySet: 9,
  /** 10: a refund of a settled token, signed by a merchant's reader key (spec/protocol.md §4.5, src/refund.ts). */
  Refund: 10,
  /** 11: an exit, a transit tap-out signed afresh by the wallet (spec/protocol.md §4.6, src/exit.ts). */
  Exit: 11,
} as const;
/** The name of a message type (a key of {@link MessageType}). */
export type MessageTypeName = keyof typeof MessageType;

/** Domain-separation tags, one per signed structure. */
export const SigningTag = {
  /** Tag of the issuer's signature on a wallet certificate. */
  WalletCert: 'OFFPAY-V2-WALLET-CERT',
  /** Tag of the issuer's signature on a reader certificate. */
  ReaderCert: 'OFFPAY-V2-READER-CERT',
  /** Tag of a reader's signature on a payment request. */
  PaymentRequest: 'OFFPAY-V2-REQUEST',
  /** Tag of a wallet's signature on a payment token. */
  PaymentToken: 'OFFPAY-V2-TOKEN',
  /** Tag of a reader's signature on a receipt. */
  Receipt: 'OFFPAY-V2-RECEIPT',
  /** Tag of the issuer's signature on a blocklist. */
  Blocklist: 'OFFPAY-V2-BLOCKLIST',
  /** Tag of a reader's signature on a settlement batch. */
  SettlementBatch: 'OFFPAY-V2-BATCH',
  /** The signed issuer key set (spec/protocol.md §4.4). */
  SignedKeySet: 'OFFPAY-V2-KEYSET',
  /** A merchant's refund, signed by the reader key of its certificate (spec/protocol.md §4.5). */
  Refund: 'OFFPAY-V2-REFUND',
  /** A wallet's exit of a transit trip, signed by the wallet key of its tap-in token (spec/protocol.md §4.6). */
  Exit: 'OFFPAY-V2-EXIT',
} as const;

/** Length of a payment request's challenge, bytes. */
export const CHALLENGE_BYTES = 8;
/**
 * The time a request-bound token signs when it answers a payment code (spec/protocol.md §4.3, rule P): a code
 * carries no request time, so the wallet signs this fixed value and the reader rebuilds the body with it for a
 * request it opened as a code. It is not a clock reading: such a token's freshness is the reader's open request.
 */
export const PAYMENT_CODE_SIGNED_TIME = 0;
/** @deprecated Renamed {@link PAYMENT_CODE_SIGNED_TIME} in 0.2.0 (the spec's term is "payment code"); this alias goes in the next release. */
export const PAYCODE_SIGNED_TIME = PAYMENT_CODE_SIGNED_TIME;
/** Length of a wallet id, bytes (see {@link walletIdOf}). */
export const WALLET_ID_BYTES = 16;
/** Largest unsigned integer a field may hold: 2^53 - 1 (exact in a JavaScript number; spec/protocol.md §3.3). */
export const MAX_UINT = Number.MAX_SAFE_INTEGER;
/** Largest wallet counter: 2^32 - 1 (then the wallet needs a new certificate: `wallet.counter_exhausted`). */
export const MAX_COUNTER = 0xffffffff;
/**
 * Largest amount and certificate limit in minor units: 2^32 - 1 (uint32; HKD 42,949,672.95). Keeps every
 * amount field at most 5 CBOR bytes, so a request-bound token with its certificate fits 200 bytes
 * (spec/protocol.md §4.2), and one wallet's sums exact (spec/protocol.md §9.3).
 */
export const MAX_TOKEN_AMOUNT = 0xffffffff;

/** Reader profile names and their numbers in a reader certificate (spec/protocol.md §4). */
export const ReaderProfile = {
  /** 0: a vending machine (every token answers the reader's open request). */
  vending: 0,
  /** 1: a transit gate (one-way tokens at a fixed fare, tap-in / tap-out). */
  transit: 1,
} as const;
/** The name of a reader profile: `vending` or `transit` (its parameters: `READER_PROFILES` of `offpay/reader`). */
export type ReaderProfileName = keyof typeof ReaderProfile;

/**
 * One issuer public key: its index (named by certificates and blocklists), the Ed25519 public key (32 bytes)
 * and its validity in unix seconds, inclusive at both ends.
 */
export interface IssuerKey {
  /** The key's index, 0..2^32-1, as certificates and blocklists name it. */
  keyIndex: number;
  /** Ed25519 public key, 32 bytes. */
  publicKey: Uint8Array;
  /** Unix seconds, inclusive. */
  notBefore: number;
  /** Unix seconds, inclusive. */
  notAfter: number;
}

/** The issuer's public keys (message type 1, spec/protocol.md §4): what wallets and readers are provisioned with. */
export interface IssuerKeySet {
  /** The issuer id. */
  issuerId: number;
  /** The keys, each with its index and validity. */
  keys: IssuerKey[];
}

/** The signed fields of a wallet certificate (message type 2, spec/protocol.md §4; spec/messages.cddl). */
export interface WalletCertBody {
  /** Index of the issuer key that signs this certificate (in the {@link IssuerKeySet}). */
  keyIndex: number;
  /** The wallet's Ed25519 public key, 32 bytes (never a weak key: spec/protocol.md §8.2). */
  walletPublicKey: Uint8Array;
  /** Last valid day, as days since 1970-01-01 UTC (valid through 23:59:59 of that day). */
  expiryDay: number;
  /** Largest single payment, minor units. */
  maxPerPayment: number;
  /** Total the wallet may spend offline under this certificate, minor units. */
  offlineAllowance: number;
  /** ISO 4217 numeric. */
  currency: number;
}

/** A wallet certificate with the issuer's signature (64 bytes) over {@link walletCertSigningInput}. */
export interface WalletCert extends WalletCertBody {
  /** Ed25519 signature by issuer key `keyIndex`, 64 bytes. */
  issuerSignature: Uint8Array;
}

/**
 * The signed fields of a reader certificate (message type 3, spec/protocol.md §4): reader id, its public key
 * (32 bytes), operator, profile, and validity from `notBefore` to `notAfter` (unix seconds, inclusive).
 */
export interface ReaderCertBody {
  /** Index of the issuer key that signs this certificate. */
  keyIndex: number;
  /** The reader id, 0..2^32-1: the payee id a token to this reader names. */
  readerId: number;
  /** The reader's Ed25519 public key, 32 bytes (never a weak key). */
  readerPublicKey: Uint8Array;
  /** Merchant (vending) or operator (transit) id; a payee id in the same namespace as reader ids. */
  operatorId: number;
  /** The reader profile (`vending` or `transit`), which selects its row of `READER_PROFILES`. */
  profile: ReaderProfileName;
  /** Start of validity, unix seconds, inclusive. */
  notBefore: number;
  /** End of validity, unix seconds, inclusive. */
  notAfter: number;
}

/** A reader certificate with the issuer's signature (64 bytes) over {@link readerCertSigningInput}. */
export interface ReaderCert extends ReaderCertBody {
  /** Ed25519 signature by issuer key `keyIndex`, 64 bytes. */
  issuerSignature: Uint8Array;
}

/**
 * The signed fields of a payment request (message type 4, spec/protocol.md §4): the reader certificate, the
 * amount in minor units of `currency` (ISO 4217 numeric), an 8-byte challenge and the reader time (unix seconds).
 */
export interface PaymentRequestBody {
  /** The requesting reader's certificate. */
  readerCert: ReaderCert;
  /** The price, minor units of `currency`, at least 1. */
  amount: number;
  /** ISO 4217 numeric currency code. */
  currency: number;
  /** 8 random bytes the answering token must carry (binds the token to this request). */
  challenge: Uint8Array;
  /** Reader time of the request, unix seconds. */
  time: number;
}

/** A payment request with the reader's signature (64 bytes) over {@link requestSigningInput}. */
export interface PaymentRequest extends PaymentRequestBody {
  /** Ed25519 signature by the reader key, 64 bytes. */
  readerSignature: Uint8Array;
}

/**
 * The body a wallet signs (spec/protocol.md §4). With a `challenge` it is a request-bound token: payee = the
 * request's reader id, time = the request's time, challenge = the request's challenge; only amount and
 * counter of these travel on the wire. Without one it is a one-way token, which carries payee and time.
 */
export interface PaymentTokenBody {
  /** The paying wallet's certificate. */
  walletCert: WalletCert;
  /** A reader id, or an operator id for one-way transit. */
  payee: number;
  /** Amount paid, minor units of the certificate's currency (verification refuses 0 and more than maxPerPayment). */
  amount: number;
  /** Wallet counter, 1..2^32-1, never used twice by one wallet (spec/protocol.md §9.2). */
  counter: number;
  /** Wallet time of payment, unix seconds. */
  time: number;
  /** The request's challenge, when the token answers a payment request (request-bound). */
  challenge?: Uint8Array | undefined;
}

/** A whole token: its signed body and the wallet signature (a request-bound one bound to its request). */
export interface PaymentToken extends PaymentTokenBody {
  /** Ed25519 signature by the wallet key, 64 bytes. */
  walletSignature: Uint8Array;
}

/**
 * A token as its bytes carry it. A request-bound token (6 elements) carries no payee, time or challenge:
 * the verifier supplies them from the request it judges the token against (`bindToken`).
 */
export interface WireToken {
  /** The paying wallet's certificate, carried in every token. */
  walletCert: WalletCert;
  /** Amount in minor units of the certificate's currency, 1..MAX_TOKEN_AMOUNT. */
  amount: number;
  /** Wallet counter, 1..2^32-1 (spec/protocol.md §9.2). */
  counter: number;
  /** The wallet's Ed25519 signature over the full body, 64 bytes. */
  walletSignature: Uint8Array;
  /** True for the 6-element request-bound form, false for the 8-element one-way form. */
  requestBound: boolean;
  /** One-way tokens only. */
  payee?: number | undefined;
  /** One-way tokens only. */
  time?: number | undefined;
}

/** What a verifier supplies to a request-bound token: the request it answers. */
export interface TokenBinding {
  /** The request's reader id (the payee the wallet signed). */
  payee: number;
  /** The request's time, unix seconds (PAYMENT_CODE_SIGNED_TIME for a payment-code request). */
  time: number;
  /** The request's challenge, 8 bytes. */
  challenge: Uint8Array;
}
/** A receipt's outcome and its CBOR number (spec/messages.cddl, receipt): accepted 0, rejected 1, voided 2. */
export const ReceiptOutcome = {
  /** 0: the reader accepted the token. */
  accepted: 0,
  /** 1: the reader refused the token (the receipt carries the reason). */
  rejected: 1,
  /** 2: the reader accepted, then voided the sale. */
  voided: 2,
} as const;
/** The name of a receipt outcome: `accepted`, `rejected` or `voided`. */
export type ReceiptOutcomeName = keyof typeof ReceiptOutcome;

/** The signed fields of a receipt (message type 6, spec/protocol.md §10): what a reader decided about a token. */
export interface ReceiptBody {
  /** The reader that decided. */
  readerId: number;
  /** SHA-256 of the token bytes. */
  tokenHash: Uint8Array;
  /** What the reader decided. */
  outcome: ReceiptOutcomeName;
  /** Numeric reason code (spec/protocol.md); 0 when accepted. */
  reason: number;
  /** Reader time of the decision, unix seconds. */
  time: number;
}

/** A receipt with the reader's signature (64 bytes) over {@link receiptSigningInput}. */
export interface Receipt extends ReceiptBody {
  /** Ed25519 signature by the reader key, 64 bytes. */
  readerSignature: Uint8Array;
}

// ---------------------------------------------------------------------------------------------------------
// Field helpers

function fail(code: ErrorCode, msg: string): never {
  throw new OffpayError(code, msg);
}

export function asArray(v: CborValue, what: string): CborValue[] {
  if (!Array.isArray(v)) fail('message.bad_structure', `${what}: expected an array`);
  return v;
}

export function asUint(v: CborValue | undefined, what: string, max = MAX_UINT, min = 0): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    fail('message.bad_structure', `${what}: expected an integer in ${min}..${max}`);
  }
  return v;
}

export function asBytes(v: CborValue | undefined, what: string, length?: number): Uint8Array {
  if (!(v instanceof Uint8Array)) fail('message.bad_structure', `${what}: expected a byte string`);
  if (length !== undefined && v.length !== length) fail('message.bad_structure', `${what}: expected ${length} bytes, got ${v.length}`);
  return v;
}

/** Check type and version; returns the array. */
export function openMessage(v: CborValue, type: number, name: string, length: number | number[]): CborValue[] {
  if (!Array.isArray(v)) fail('message.bad_structure', `${name}: expected an array`);
  if (v.length < 2) fail('message.bad_structure', `${name}: too short`);
  if (v[0] !== type) fail('message.wrong_type', `${name}: expected message type ${type}, got ${describe(v[0])}`);
  if (v[1] !== PROTOCOL_VERSION) fail('message.unsupported_version', `${name}: unsupported version ${describe(v[1])}`);
  const ok = Array.isArray(length) ? length.includes(v.length) : v.length === length;
  if (!ok) fail('message.bad_structure', `${name}: expected ${String(length)} elements, got ${v.length}`);
  return v;
}

function describe(v: CborValue | undefined): string {
  return typeof v === 'number' || typeof v === 'bigint' ? String(v) : Array.isArray(v) ? 'an array' : typeof v;
}

// ---------------------------------------------------------------------------------------------------------
// Issuer key set (unsigned: a trust anchor provisioned to readers and wallets)

export function issuerKeySetToCbor(s: IssuerKeySet): CborValue {
  const keys = [...s.keys].sort((a, b) => a.keyIndex - b.keyIndex);
  return [MessageType.IssuerKeySet, PROTOCOL_VERSION, s.issuerId, keys.map((k) => [k.keyIndex, k.publicKey, k.notBefore, k.notAfter])];
}

/** The deterministic CBOR bytes of an issuer key set (message type 1). */
export function encodeIssuerKeySet(s: IssuerKeySet): Uint8Array {
  return encodeCbor(issuerKeySetToCbor(s));
}

/**
 * Decode an issuer key set (strict deterministic CBOR).
 * @throws OffpayError `cbor.*` (empty, too_large over 64 KiB, malformed, non_canonical, unsupported, too_deep) or `message.*` (bad_structure, wrong_type, unsupported_version).
 */
export function decodeIssuerKeySet(bytes: Uint8Array): IssuerKeySet {
  const a = openMessage(decodeCbor(bytes), MessageType.IssuerKeySet, 'issuer key set', 4);
  const issuerId = asUint(a[2], 'issuerId', 0xffffffff);
  const list = asArray(a[3]!, 'keys');
  if (list.length > 255) fail('message.bad_structure', 'keys: at most 255');
  const keys: IssuerKey[] = [];
  let last = -1;
  for (const item of list) {
    const k = asArray(item, 'key');
    if (k.length !== 4) fail('message.bad_structure', 'key: expected 4 elements');
    const keyIndex = asUint(k[0], 'keyIndex', 255);
    if (keyIndex <= last) fail('message.bad_structure', 'keys: key indexes must be unique and ascending');
    last = keyIndex;
    keys.push({ keyIndex, publicKey: asBytes(k[1], 'publicKey', PUBLIC_KEY_BYTES), notBefore: asUint(k[2], 'notBefore'), notAfter: asUint(k[3], 'notAfter') });
  }
  return { issuerId, keys };
}

// ---------------------------------------------------------------------------------------------------------
// Wallet certificate

function walletCertBodyArray(c: WalletCertBody): CborValue[] {
  return [MessageType.WalletCert, PROTOCOL_VERSION, c.keyIndex, c.walletPublicKey, c.expiryDay, c.maxPerPayment, c.offlineAllowance, c.currency];
}

export function walletCertToCbor(c: WalletCert): CborValue[] {
  return [...walletCertBodyArray(c), c.issuerSignature];
}

/** The exact bytes the issuer signs for a wallet certificate. */
export function walletCertSigningInput(c: WalletCertBody): Uint8Array {
  return signingInput(SigningTag.WalletCert, encodeCbor(walletCertBodyArray(c)));
}

export function walletCertFromCbor(v: CborValue): WalletCert {
  const a = openMessage(v, MessageType.WalletCert, 'wallet certificate', 9);
  return {
    keyIndex: asUint(a[2], 'wallet certificate keyIndex', 255),
    walletPublicKey: asBytes(a[3], 'walletPublicKey', PUBLIC_KEY_BYTES),
    expiryDay: asUint(a[4], 'expiryDay', 0xffff),
    maxPerPayment: asUint(a[5], 'maxPerPayment', MAX_TOKEN_AMOUNT),
    offlineAllowance: asUint(a[6], 'offlineAllowance', MAX_TOKEN_AMOUNT),
    currency: asUint(a[7], 'currency', 999, 1),
    issuerSignature: asBytes(a[8], 'issuerSignature', SIGNATURE_BYTES),
  };
}

/** The deterministic CBOR bytes of a wallet certificate. */
export const encodeWalletCert = (c: WalletCert): Uint8Array => encodeCbor(walletCertToCbor(c));
/**
 * Decode a wallet certificate (strict deterministic CBOR, spec/protocol.md §3.4). Does not check the signature.
 * @throws OffpayError `cbor.*` (empty, too_large over 64 KiB, malformed, non_canonical, unsupported, too_deep) or `message.*` (bad_structure, wrong_type, unsupported_version).
 */
export const decodeWalletCert = (b: Uint8Array): WalletCert => walletCertFromCbor(decodeCbor(b));

/** Wallet id: the first 16 bytes of SHA-256(signingInput("OFFPAY-V2-WALLET-ID", walletPublicKey)). */
export function walletIdOf(walletPublicKey: Uint8Array, hash: (data: Uint8Array) => Uint8Array = sha256): Uint8Array {
  return hash(signingInput('OFFPAY-V2-WALLET-ID', walletPublicKey)).slice(0, WALLET_ID_BYTES);
}

// ---------------------------------------------------------------------------------------------------------
// Reader certificate

function readerCertBodyArray(c: ReaderCertBody): CborValue[] {
  return [MessageType.ReaderCert, PROTOCOL_VERSION, c.keyIndex, c.readerId, c.readerPublicKey, c.operatorId, ReaderProfile[c.profile], c.notBefore, c.notAfter];
}

export function readerCertToCbor(c: ReaderCert): CborValue[] {
  return [...readerCertBodyArray(c), c.issuerSignature];
}

/** The bytes the issuer signs for a reader certificate: signingInput("OFFPAY-V1-READER-CERT", CBOR(body array)). */
export function readerCertSigningInput(c: ReaderCertBody): Uint8Array {
  return signingInput(SigningTag.ReaderCert, encodeCbor(readerCertBodyArray(c)));
}

export function readerCertFromCbor(v: CborValue): ReaderCert {
  const a = openMessage(v, MessageType.ReaderCert, 'reader certificate', 10);
  const p = asUint(a[6], 'profile', 1);
  return {
    keyIndex: asUint(a[2], 'reader certificate keyIndex', 255),
    readerId: asUint(a[3], 'readerId', 0xffffffff),
    readerPublicKey: asBytes(a[4], 'readerPublicKey', PUBLIC_KEY_BYTES),
    operatorId: asUint(a[5], 'operatorId', 0xffffffff),
    profile: p === 0 ? 'vending' : 'transit',
    notBefore: asUint(a[7], 'notBefore'),
    notAfter: asUint(a[8], 'notAfter'),
    issuerSignature: asBytes(a[9], 'issuerSignature', SIGNATURE_BYTES),
  };
}

/** The deterministic CBOR bytes of a reader certificate. */
export const encodeReaderCert = (c: ReaderCert): Uint8Array => encodeCbor(readerCertToCbor(c));
/**
 * Decode a reader certificate (strict deterministic CBOR). Does not check the signature.
 * @throws OffpayError `cbor.*` (empty, too_large over 64 KiB, malformed, non_canonical, unsupported, too_deep) or `message.*` (bad_structure, wrong_type, unsupported_version).
 */
export const decodeReaderCert = (b: Uint8Array): ReaderCert => readerCertFromCbor(decodeCbor(b));

// ---------------------------------------------------------------------------------------------------------
// Payment request (reader -> wallet)

function requestBodyArray(r: PaymentRequestBody): CborValue[] {
  return [MessageType.PaymentRequest, PROTOCOL_VERSION, readerCertToCbor(r.readerCert), r.amount, r.currency, r.challenge, r.time];
}

/** The bytes a reader signs for a payment request: signingInput("OFFPAY-V1-REQUEST", CBOR(body array)). */
export function requestSigningInput(r: PaymentRequestBody): Uint8Array {
  return signingInput(SigningTag.PaymentRequest, encodeCbor(requestBodyArray(r)));
}

export function requestToCbor(r: PaymentRequest): CborValue[] {
  return [...requestBodyArray(r), r.readerSignature];
}

export function requestFromCbor(v: CborValue): PaymentRequest {
  const a = openMessage(v, MessageType.PaymentRequest, 'payment request', 8);
  return {
    readerCert: readerCertFromCbor(a[2]!),
    amount: asUint(a[3], 'amount', MAX_TOKEN_AMOUNT, 1),
    currency: asUint(a[4], 'currency', 999, 1),
    challenge: asBytes(a[5], 'challenge', CHALLENGE_BYTES),
    time: asUint(a[6], 'time'),
    readerSignature: asBytes(a[7], 'readerSignature', SIGNATURE_BYTES),
  };
}

/** The deterministic CBOR bytes of a payment request. */
export const encodeRequest = (r: PaymentRequest): Uint8Array => encodeCbor(requestToCbor(r));
/**
 * Decode a payment request (strict deterministic CBOR). Does not check signatures: see {@link verifyRequest}.
 * @throws OffpayError `cbor.*` (empty, too_large over 64 KiB, malformed, non_canonical, unsupported, too_deep) or `message.*` (bad_structure, wrong_type, unsupported_version).
 */
export const decodeRequest = (b: Uint8Array): PaymentRequest => requestFromCbor(decodeCbor(b));

// ---------------------------------------------------------------------------------------------------------
// Payment token (wallet -> reader)
//
//   one-way:        [5, 2, wallet-cert, payee, amount, counter, time, wallet-signature]   signs 7 elements
//   request-bound:  [5, 2, wallet-cert, amount, counter, wallet-signature]               signs 8 elements:
//                   [5, 2, wallet-cert, payee, amount, counter, time, challenge]
// The element count tells the two apart; the signed bodies differ in length (7 and 8 elements, so different
// array headers), so no wallet signature can serve as both.

/** Element count of a one-way token on the wire: [5, 2, cert, payee, amount, counter, time, signature] (spec/protocol.md §4). */
export const TOKEN_ONE_WAY_ELEMENTS = 8;
/** Element count of a request-bound token on the wire: [5, 2, cert, amount, counter, signature]; payee, time and challenge are signed, not sent (spec/protocol.md §4.3). */
export const TOKEN_REQUEST_BOUND_ELEMENTS = 6;

function tokenBodyArray(t: PaymentTokenBody): CborValue[] {
  const a: CborValue[] = [MessageType.PaymentToken, PROTOCOL_VERSION, walletCertToCbor(t.walletCert), t.payee, t.amount, t.counter, t.time];
  if (t.challenge) a.push(t.challenge);
  return a;
}

/** The exact bytes the wallet signs: the full body, challenge included for a request-bound token. */
export function tokenSigningInput(t: PaymentTokenBody): Uint8Array {
  return signingInput(SigningTag.PaymentToken, encodeCbor(tokenBodyArray(t)));
}

/** The wire array: a request-bound token leaves out payee, time and challenge (the reader knows them). */
export function tokenToCbor(t: PaymentToken): CborValue[] {
  if (t.challenge) return [MessageType.PaymentToken, PROTOCOL_VERSION, walletCertToCbor(t.walletCert), t.amount, t.counter, t.walletSignature];
  return [...tokenBodyArray(t), t.walletSignature];
}

export function tokenFromCbor(v: CborValue): WireToken {
  const a = openMessage(v, MessageType.PaymentToken, 'payment token', [TOKEN_REQUEST_BOUND_ELEMENTS, TOKEN_ONE_WAY_ELEMENTS]);
  const walletCert = walletCertFromCbor(a[2]!);
  if (a.length === TOKEN_REQUEST_BOUND_ELEMENTS) {
    return {
      walletCert,
      amount: asUint(a[3], 'amount', MAX_TOKEN_AMOUNT),
      counter: asUint(a[4], 'counter', MAX_COUNTER, 1),
      walletSignature: asBytes(a[5], 'walletSignature', SIGNATURE_BYTES),
      requestBound: true,
    };
  }
  return {
    walletCert,
    payee: asUint(a[3], 'payee', 0xffffffff),
    amount: asUint(a[4], 'amount', MAX_TOKEN_AMOUNT),
    counter: asUint(a[5], 'counter', MAX_COUNTER, 1),
    time: asUint(a[6], 'time'),
    walletSignature: asBytes(a[7], 'walletSignature', SIGNATURE_BYTES),
    requestBound: false,
  };
}

/** The deterministic CBOR bytes of a payment token. */
export const encodeToken = (t: PaymentToken): Uint8Array => encodeCbor(tokenToCbor(t));
/** The token as its bytes carry it (a request-bound token without payee, time and challenge). */
export const decodeToken = (b: Uint8Array): WireToken => tokenFromCbor(decodeCbor(b));

/**
 * The whole token: a one-way token as carried; a request-bound one completed with the request's reader id,
 * time and challenge (`binding`). A request-bound token without a binding cannot be completed: undefined.
 */
export function bindToken(w: WireToken, binding?: TokenBinding): PaymentToken | undefined {
  const { walletCert, amount, counter, walletSignature } = w;
  if (!w.requestBound) return { walletCert, payee: w.payee!, amount, counter, time: w.time!, walletSignature };
  if (!binding) return undefined;
  return { walletCert, payee: binding.payee, amount, counter, time: binding.time, challenge: binding.challenge, walletSignature };
}

/** A decoded token with its signing inputs, taken from its bytes. */
export interface DecodedToken {
  /** The token as its bytes carry it (before any request binds it). */
  wire: WireToken;
  /** The whole token (undefined for a request-bound token decoded without a binding). */
  token: PaymentToken | undefined;
  /** `walletCertSigningInput(token.walletCert)`. */
  certSigningInput: Uint8Array;
  /** `tokenSigningInput(token)` (undefined when `token` is). */
  tokenSigningInput: Uint8Array | undefined;
}

/**
 * `decodeToken`, plus the signing inputs built from the received bytes (spec/protocol.md §4) without
 * re-encoding the certificate: the bytes are canonical once decoded. The certificate body is its array minus
 * the final 66-byte signature item (0x58 0x40 and 64 bytes) under a header one element shorter. A one-way
 * token's body is taken the same way. A request-bound token's body is rebuilt: 0x88 0x05 0x02, the
 * certificate bytes, CBOR(payee), the amount and counter bytes as received, CBOR(time), 0x48 and the challenge.
 * With `views`, the token's byte strings (keys, signatures) are views into `bytes` instead of copies: for a caller
 * that leaves `bytes` unchanged while it uses the result.
 */
export function decodeTokenWithInputs(bytes: Uint8Array, binding?: TokenBinding, views = false): DecodedToken {
  const wire = tokenFromCbor(decodeCbor(bytes, MAX_MESSAGE_BYTES, { views }));
  // [5, 2, cert, ...]: one-byte array header, then 0x05 0x02, then the certificate array (9 elements).
  const certEnd = cborItemEnd(bytes, 3);
  if (!wire.requestBound) {
    const [certSigningInput, tokenSigningInput] = signingInputsFromBytes(bytes, [
      [SigningTag.WalletCert, 0x88, 4, certEnd - 66],
      [SigningTag.PaymentToken, bytes[0]! - 1, 1, bytes.length - 66],
    ]);
    return { wire, token: bindToken(wire), certSigningInput: certSigningInput!, tokenSigningInput: tokenSigningInput! };
  }
  const [certSigningInput] = signingInputsFromBytes(bytes, [[SigningTag.WalletCert, 0x88, 4, certEnd - 66]]);
  const token = bindToken(wire, binding);
  if (!token) return { wire, token, certSigningInput: certSigningInput!, tokenSigningInput: undefined };
  const challenge = token.challenge!;
  if (challenge.length !== CHALLENGE_BYTES) throw new OffpayError('message.bad_structure', `a challenge is ${CHALLENGE_BYTES} bytes`);
  // body = 88 05 02 | cert | CBOR(payee) | amount counter (as received) | CBOR(time) | 48 challenge, written
  // straight into the signing input (payee and time are unsigned integers: writeUint gives encodeCbor's bytes).
  const cert = bytes.subarray(3, certEnd);
  const amountCounter = bytes.subarray(certEnd, bytes.length - 66);
  const { input, at: bodyAt } = signingInputFrame(
    SigningTag.PaymentToken,
    3 + cert.length + uintLength(token.payee) + amountCounter.length + uintLength(token.time) + 1 + CHALLENGE_BYTES,
  );
  let at = bodyAt;
  input[at++] = 0x88;
  input[at++] = MessageType.PaymentToken;
  input[at++] = PROTOCOL_VERSION;
  input.set(cert, at);
  at = writeUint(input, at + cert.length, token.payee);
  input.set(amountCounter, at);
  at = writeUint(input, at + amountCounter.length, token.time);
  input[at++] = 0x40 | CHALLENGE_BYTES;
  input.set(challenge, at);
  return { wire, token, certSigningInput: certSigningInput!, tokenSigningInput: input };
}

/** Token id: SHA-256 of the token's bytes (used by receipts, journals and clearing). */
export function tokenHash(tokenBytes: Uint8Array, hash: (data: Uint8Array) => Uint8Array = sha256): Uint8Array {
  return hash(tokenBytes);
}

// ---------------------------------------------------------------------------------------------------------
// Receipt (reader -> wallet)

function receiptBodyArray(r: ReceiptBody): CborValue[] {
  return [MessageType.Receipt, PROTOCOL_VERSION, r.readerId, r.tokenHash, ReceiptOutcome[r.outcome], r.reason, r.time];
}

/** The bytes a reader signs for a receipt: signingInput("OFFPAY-V1-RECEIPT", CBOR(body array)). */
export function receiptSigningInput(r: ReceiptBody): Uint8Array {
  return signingInput(SigningTag.Receipt, encodeCbor(receiptBodyArray(r)));
}

export function receiptToCbor(r: Receipt): CborValue[] {
  return [...receiptBodyArray(r), r.readerSignature];
}

export function receiptFromCbor(v: CborValue): Receipt {
  const a = openMessage(v, MessageType.Receipt, 'receipt', 8);
  const o = asUint(a[4], 'outcome', 2);
  return {
    readerId: asUint(a[2], 'readerId', 0xffffffff),
    tokenHash: asBytes(a[3], 'tokenHash', 32),
    outcome: o === 0 ? 'accepted' : o === 1 ? 'rejected' : 'voided',
    reason: asUint(a[5], 'reason', 255),
    time: asUint(a[6], 'time'),
    readerSignature: asBytes(a[7], 'readerSignature', SIGNATURE_BYTES),
  };
}

/** The deterministic CBOR bytes of a receipt. */
export const encodeReceipt = (r: Receipt): Uint8Array => encodeCbor(receiptToCbor(r));
/**
 * Decode a receipt (strict deterministic CBOR). Does not check the signature: see {@link verifyReceipt}.
 * @throws OffpayError `cbor.*` (empty, too_large over 64 KiB, malformed, non_canonical, unsupported, too_deep) or `message.*` (bad_structure, wrong_type, unsupported_version).
 */
export const decodeReceipt = (b: Uint8Array): Receipt => receiptFromCbor(decodeCbor(b));

// ---------------------------------------------------------------------------------------------------------

/**
 * Identify any offpay message by its first two elements (for `offpay inspect`): its `type` number, the
 * type's `name` (undefined for an unknown number) and its protocol `version`.
 */
export function peekType(bytes: Uint8Array): {
  /** The message type number (see {@link MessageType}). */
  type: number;
  /** The name of that type, or undefined if the number is unknown. */
  name: MessageTypeName | undefined;
  /** The message's protocol version. */
  version: number;
} {
  const v = decodeCbor(bytes);
  if (!Array.isArray(v) || typeof v[0] !== 'number' || typeof v[1] !== 'number') {
    throw new OffpayError('message.bad_structure', 'not an offpay message (expected [type, version, ...])');
  }
  const name = (Object.keys(MessageType) as MessageTypeName[]).find((k) => MessageType[k] === v[0]);
  return { type: v[0], name, version: v[1] };
}

export { utf8 };
