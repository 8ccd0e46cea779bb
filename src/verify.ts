/**
 * Stateless verification of payment tokens (reader side), payment requests (wallet side) and receipts.
 *
 * The algorithm (spec/protocol.md §Verification) is written once, as a generator that yields each signature
 * check it needs and receives the answer. `verifyToken` drives it synchronously (noble, or node:crypto via
 * src/node/crypto.ts); `verifyTokenAsync` drives it with any verifier, the WebCrypto fast path included. So
 * every backend walks the same steps in the same order and gives the same reason code.
 *
 * Order: parse and canonical form; type and version; structure; certificate key a canonical prime-order point
 * (spec/protocol.md §8.2); issuer key known and valid at the reader's time; certificate signature; certificate validity; token signature; payee binding; challenge; time window;
 * currency and amount against the request or the expected fare, then against the certificate limits.
 * The stateful checks (counters, blocklist, daily limits) are the reader's (src/reader).
 */
import { carve, nobleEd25519, prefixKey, type AsyncVerifier, type SyncVerifier } from './crypto.js';
import { equalBytes, startsWithBytes } from '../base/bytes.js';
import { OffpayError } from '../base/errors.js';
import { dayOf } from './issuer.js';
import {
  decodeRequest,
  decodeTokenWithInputs,
  type DecodedToken,
  decodeReceipt,
  readerCertSigningInput,
  receiptSigningInput,
  requestSigningInput,
  tokenHash,
  walletIdOf,
  type IssuerKey,
  type IssuerKeySet,
  type PaymentRequest,
  type PaymentToken,
  type Receipt,
  type WireToken,
  PAYMENT_CODE_SIGNED_TIME,
} from './messages.js';
import { REASONS, type StatelessReason } from './reasons.js';
import { isWeakPublicKey } from './weakkeys.js';

/** Default oldest acceptable token or request time, seconds before `now` (`time_too_old` beyond it). */
export const DEFAULT_MAX_AGE_SECONDS = 300;
/** Default clock skew allowed for a token or request dated after `now`, seconds (`time_in_future` beyond it). */
export const DEFAULT_MAX_FUTURE_SECONDS = 60;

/**
 * The request a token is judged against (spec/protocol.md §5). `readerId`, `time` and `challenge` complete a
 * request-bound token's signed body (§4.3); `amount` and `currency` are what the token must pay. Clearing,
 * which re-verifies from a batch entry, knows the challenge and time (from the entry) and the reader id (from
 * the batch) but not the request's amount or currency: it leaves those out (spec/clearing.md).
 */
export interface VerifyRequestContext {
  /** The reader id of the request's certificate: the payee a request-bound token signs. */
  readerId: number;
  /** The request's challenge, 8 bytes. */
  challenge: Uint8Array;
  /** The request's time (its age is checked against it). */
  time: number;
  /**
   * The reader opened this request as a payment code (spec/protocol.md §4.3, rule P): the token signs
   * `PAYMENT_CODE_SIGNED_TIME` instead of `time`, and its freshness is judged by `time` alone.
   */
  code?: boolean | undefined;
  /** The request's price, minor units (compared with the token's amount, step 12); absent in clearing. */
  amount?: number | undefined;
  /** The request's ISO 4217 numeric currency (compared with the certificate's); absent in clearing. */
  currency?: number | undefined;
}

/** The request context of a payment request this reader issued (`VerifyContext.request`). */
export function requestContextOf(r: PaymentRequest): VerifyRequestContext {
  return { readerId: r.readerCert.readerId, amount: r.amount, currency: r.currency, challenge: r.challenge, time: r.time };
}

/** What the reader knows when it judges a token. */
export interface VerifyContext {
  /** The issuer keys the reader trusts. */
  issuerKeys: IssuerKeySet;
  /** The reader's clock, unix seconds. */
  now: number;
  /** Payee ids this reader accepts: its reader id, and for a transit reader also its operator id. */
  payees: number[];
  /**
   * The payment request this reader issued and is waiting on, if any (two-way flow). The token must carry its
   * challenge and pay exactly its amount in its currency. Not together with `expected`.
   */
  request?: VerifyRequestContext | undefined;
  /**
   * For one-way tokens (no request): what the reader expects, each part optional. `currency`: the certificate's
   * currency must equal it (`currency_mismatch`); `amount`: the token's amount must equal it; `maxAmount`: the
   * amount must not exceed it (both `amount_mismatch`). Giving both `request` and `expected` is an error
   * (`verify.bad_context`): a request already fixes the amount and currency.
   */
  expected?: {
    /** The exact amount the token must carry, minor units. */
    amount?: number;
    /** The largest amount the token may carry, minor units. */
    maxAmount?: number;
    /** The ISO 4217 numeric currency the token's certificate must have. */
    currency?: number;
  } | undefined;
  /** Oldest acceptable token time relative to `now`, seconds (default 300). */
  maxAgeSeconds?: number | undefined;
  /** How far in the future a token time may be (clock skew), seconds (default 60). */
  maxFutureSeconds?: number | undefined;
  /**
   * When the issuer key's end and the certificate's expiry day are judged (spec/protocol.md §5 steps 5 and 7):
   * `now` (default), or `signed`: at the token's signed time as step 11 reads it (a one-way token's time; a
   * request-bound token's request time) less `maxFutureSeconds`, the earliest reader time at which an entry gate
   * could have taken it; the key's start is judged at `now` either way. A tap-out judges them `signed`: the wallet
   * committed to the trip at its tap-in, and a certificate that ends during the trip must not charge the rider the
   * maximum fare (spec/reader.md §7.2 step 1). The time window (step 11) still bounds the signed time against `now`.
   */
  validAt?: 'now' | 'signed' | undefined;
  /**
   * SHA-256 used for the token hash and the wallet id (default: noble, src/crypto.ts). Node callers may pass
   * node:crypto's, which is faster on small inputs; it must be SHA-256, so the bytes are the same.
   */
  sha256?: ((data: Uint8Array) => Uint8Array) | undefined;
  /**
   * The caller leaves the token bytes unchanged while it uses the verdict: the decoded token's byte strings
   * (keys, signatures, challenge) may then be views into them instead of copies (default false: copies).
   * Clearing sets it: it verifies tokens straight out of a batch it keeps.
   */
  views?: boolean | undefined;
}

/** A token that passed every stateless check of spec/protocol.md §5. */
export interface Accepted {
  /** Always true. */
  accepted: true;
  /** The decoded token. */
  token: PaymentToken;
  /** SHA-256 of the token bytes. */
  tokenHash: Uint8Array;
  /** 16-byte wallet id derived from the wallet public key. */
  walletId: Uint8Array;
  /** The certificate's currency, which is the token's currency. */
  currency: number;
}

/** A token refused by a stateless check: `reason` is a row of `REASONS` (spec/protocol.md §7). */
export interface Rejected {
  /** Always false. */
  accepted: false;
  /** The stable reason name, e.g. `bad_token_signature`. */
  reason: StatelessReason;
  /** Numeric reason code (spec/protocol.md §Reason codes). */
  code: number;
  /** A human-readable explanation; not stable, do not parse it. */
  message: string;
  /** The decoded token as its bytes carry it, when decoding got that far. */
  token?: WireToken | undefined;
}

/** The result of {@link verifyToken}: a value, never an exception. */
export type Verdict = Accepted | Rejected;

/**
 * One Ed25519 check the verification generators ask their driver to perform: signature (64 bytes), the exact
 * signed message (signing input) and the public key (32 bytes).
 */
export interface SigCheck {
  /** The signature, 64 bytes. */
  signature: Uint8Array;
  /** The exact signed bytes (a signing input). */
  message: Uint8Array;
  /** The public key, 32 bytes. */
  publicKey: Uint8Array;
}

function reject(reason: StatelessReason, message: string, token?: WireToken): Rejected {
  return { accepted: false, reason, code: REASONS[reason].code, message, token };
}

/** Map a decoding error to a reason. */
/** The reasons a message that does not decode is refused with (§7 reasons 1-5). */
export type DecodeReason = 'malformed' | 'non_canonical' | 'wrong_type' | 'unsupported_version' | 'bad_structure';

export function reasonForDecodeError(e: unknown): { reason: DecodeReason; message: string } {
  if (e instanceof OffpayError) {
    const map: Record<string, DecodeReason> = {
      'cbor.non_canonical': 'non_canonical',
      'message.wrong_type': 'wrong_type',
      'message.unsupported_version': 'unsupported_version',
      'message.bad_structure': 'bad_structure',
    };
    return { reason: map[e.code] ?? 'malformed', message: e.message };
  }
  return { reason: 'malformed', message: String((e as Error)?.message ?? e) };
}

function findKey(set: IssuerKeySet, keyIndex: number): IssuerKey | undefined {
  return set.keys.find((k) => k.keyIndex === keyIndex);
}

/**
 * The one check of a caller's context that the verdict depends on (spec/protocol.md §5, context): a request and
 * an expected fare at once would leave it open which one the token must match. Throws `verify.bad_context`.
 */
export function checkVerifyContext(ctx: VerifyContext): void {
  if (ctx.request !== undefined && ctx.expected !== undefined) {
    throw new OffpayError('verify.bad_context', 'give either a request or an expected amount/currency, not both');
  }
  if (ctx.validAt !== undefined && ctx.validAt !== 'now' && ctx.validAt !== 'signed') {
    throw new OffpayError('verify.bad_context', `validAt is 'now' or 'signed', not ${JSON.stringify(ctx.validAt)}`);
  }
}

/** The verification algorithm. Yields signature checks; receives true/false for each. */
export function* tokenVerification(bytes: Uint8Array, ctx: VerifyContext): Generator<SigCheck, Verdict, boolean> {
  checkVerifyContext(ctx);
  let d: DecodedToken;
  // The signed time of a request-bound token: the request's time, or for a payment-code request the fixed
  // PAYMENT_CODE_SIGNED_TIME (spec/protocol.md §4.3, rule P).
  const binding = ctx.request
    ? { payee: ctx.request.readerId, time: ctx.request.code === true ? PAYMENT_CODE_SIGNED_TIME : ctx.request.time, challenge: ctx.request.challenge }
    : undefined;
  try {
    d = decodeTokenWithInputs(bytes, binding, ctx.views === true);
  } catch (e) {
    const { reason, message } = reasonForDecodeError(e);
    return reject(reason, message);
  }
  const w = d.wire;
  const cert = w.walletCert;
  if (isWeakPublicKey(cert.walletPublicKey)) return reject('weak_public_key', 'the wallet public key is not a canonical point of prime order', w);
  const key = findKey(ctx.issuerKeys, cert.keyIndex);
  if (!key) return reject('unknown_issuer_key', `issuer key index ${cert.keyIndex} is not in the reader's key set`, w);
  const maxAge = ctx.maxAgeSeconds ?? DEFAULT_MAX_AGE_SECONDS;
  const maxFuture = ctx.maxFutureSeconds ?? DEFAULT_MAX_FUTURE_SECONDS;
  // The time the key's end and the certificate's expiry day are judged at (steps 5 and 7): the reader's clock; or,
  // validAt 'signed' (a tap-out), the earliest reader time at which an entry gate could have taken this token: its
  // signed time t (as step 11 reads it) less maxFuture, since a gate takes t <= its clock + maxFuture. A wallet clock
  // a little fast at a tap-in just before the end then still taps out. The key's start is judged at the clock
  // either way (a key that has begun by the tap-in has begun by the exit; the wallet's slow clock must not matter).
  // A request-bound token without a request has no signed time here (it fails at step 8): the clock then.
  const signed = ctx.validAt === 'signed' && d.token !== undefined;
  const at = signed ? (ctx.request?.code === true ? ctx.request.time : d.token!.time) - maxFuture : ctx.now;
  const atWhat = signed ? `the token time less maxFuture (${maxFuture} s)` : 'reader time';
  if (ctx.now < key.notBefore || at > key.notAfter) {
    return reject('issuer_key_not_valid', `issuer key ${cert.keyIndex} is valid ${key.notBefore}..${key.notAfter}, reader time is ${ctx.now}${signed ? `, ${atWhat} is ${at}` : ''}`, w);
  }
  if (!(yield { signature: cert.issuerSignature, message: d.certSigningInput, publicKey: key.publicKey })) {
    return reject('bad_certificate_signature', 'the issuer signature on the wallet certificate does not verify', w);
  }
  if (dayOf(at) > cert.expiryDay) {
    return reject('certificate_expired', `the wallet certificate expired at the end of day ${cert.expiryDay}${signed ? `, before ${atWhat}, ${at}` : ''}`, w);
  }
  // A request-bound token's signed body holds the request's reader id, time and challenge: without a request
  // there is nothing to rebuild it from (spec/protocol.md §5 step 8).
  const t = d.token;
  if (!t || !d.tokenSigningInput) return reject('challenge_mismatch', 'the token answers a payment request, and the verifier has no request to judge it against', w);
  if (!(yield { signature: t.walletSignature, message: d.tokenSigningInput, publicKey: cert.walletPublicKey })) {
    return reject('bad_token_signature', 'the wallet signature on the token does not verify', w);
  }
  if (!ctx.payees.includes(t.payee)) return reject('wrong_payee', `the token pays ${t.payee}, this reader accepts ${ctx.payees.join(', ')}`, w);
  // A request-bound token carries the request's challenge by construction (its signature verified over it).
  if (ctx.request && !t.challenge) return reject('challenge_missing', 'the token carries no challenge but the reader issued a request', w);
  // A code-paid token's signed time is not a clock reading: the request's time stands in for it (§5 step 11).
  const signedAt = ctx.request?.code === true ? ctx.request.time : t.time;
  if (signedAt < ctx.now - maxAge) return reject('time_too_old', `token time ${signedAt} is more than ${maxAge} s before ${ctx.now}`, w);
  if (signedAt > ctx.now + maxFuture) return reject('time_in_future', `token time ${signedAt} is more than ${maxFuture} s after ${ctx.now}`, w);
  if (ctx.request && ctx.request.time < ctx.now - maxAge) return reject('time_too_old', `the request of ${ctx.request.time} has expired`, w);
  // At most one of request and expected is given (checkVerifyContext).
  const wantCurrency = ctx.request?.currency ?? ctx.expected?.currency;
  if (wantCurrency !== undefined && cert.currency !== wantCurrency) {
    return reject('currency_mismatch', `the wallet certificate is in currency ${cert.currency}, the reader asks for ${wantCurrency}`, w);
  }
  if (t.amount === 0) return reject('amount_invalid', 'the amount is zero', w);
  const wantAmount = ctx.request?.amount ?? ctx.expected?.amount;
  if (wantAmount !== undefined && t.amount !== wantAmount) return reject('amount_mismatch', `the token pays ${t.amount}, the reader asks for ${wantAmount}`, w);
  if (ctx.expected?.maxAmount !== undefined && t.amount > ctx.expected.maxAmount) {
    return reject('amount_mismatch', `the token pays ${t.amount}, more than the ${ctx.expected.maxAmount} the reader allows`, w);
  }
  if (t.amount > cert.maxPerPayment) return reject('over_payment_limit', `amount ${t.amount} exceeds the maximum per payment ${cert.maxPerPayment}`, w);
  if (t.amount > cert.offlineAllowance) return reject('over_offline_allowance', `amount ${t.amount} exceeds the offline allowance ${cert.offlineAllowance}`, w);
  const hash = ctx.sha256;
  return {
    accepted: true,
    token: t,
    tokenHash: hash ? tokenHash(bytes, hash) : tokenHash(bytes),
    walletId: walletIdMemo(cert.walletPublicKey, hash),
    currency: cert.currency,
  };
}

/**
 * Wallet ids by public key: a pure function of the key (SHA-256 with either backend), remembered for the last
 * WALLET_ID_MEMO keys because a reader or clearing sees the same wallets again and again. As many as the
 * clearing's other per-wallet memos (spec/clearing.md §12.1): with fewer, a night of more wallets than the memo
 * holds evicts each id (first in, first out) just before its wallet comes round again, and every lookup misses.
 * Each entry is one array, the key (32 bytes) then its id (WALLET_ID_BYTES), about 200 bytes with the map's own.
 */
const WALLET_ID_MEMO = 65_536;
const walletIds = new Map<number, Uint8Array>();
function copyOut(b: Uint8Array): Uint8Array {
  const out = carve(b.length);
  out.set(b);
  return out;
}

function walletIdMemo(publicKey: Uint8Array, hash: ((data: Uint8Array) => Uint8Array) | undefined): Uint8Array {
  // Keyed by the first bytes of the key (prefixKey), confirmed on the whole key; a key sharing the prefix of a
  // remembered one replaces it.
  // The id handed out is a fresh copy carved from a shared slab (crypto.ts carve): no allocation of its own, and
  // its bytes live outside the JS heap, so a database driver binds it without copying it out first.
  const k = prefixKey(publicKey);
  const hit = walletIds.get(k);
  // The key is 32 bytes (a decoded certificate's, past the prime-order check), so an entry's id starts at 32.
  if (hit && startsWithBytes(hit, publicKey)) return copyOut(hit.subarray(32));
  const id = hash ? walletIdOf(publicKey, hash) : walletIdOf(publicKey);
  if (!hit && walletIds.size >= WALLET_ID_MEMO) walletIds.delete(walletIds.keys().next().value as number);
  const entry = new Uint8Array(32 + id.length);
  entry.set(publicKey);
  entry.set(id, 32);
  walletIds.set(k, entry);
  return copyOut(id);
}

function driveSync<T>(gen: Generator<SigCheck, T, boolean>, v: SyncVerifier): T {
  let step = gen.next(false as never);
  while (!step.done) step = gen.next(v.verify(step.value.signature, step.value.message, step.value.publicKey));
  return step.value;
}

async function driveAsync<T>(gen: Generator<SigCheck, T, boolean>, v: SyncVerifier | AsyncVerifier): Promise<T> {
  let step = gen.next(false as never);
  while (!step.done) step = gen.next(await v.verify(step.value.signature, step.value.message, step.value.publicKey));
  return step.value;
}

/**
 * Verify a token synchronously (noble by default). Never throws on bad bytes: returns a Rejected verdict.
 * The checks and their order are spec/protocol.md §5 (normative); each reason is a row of `REASONS`
 * (spec/protocol.md §7). Stateless: replay, limits and blocklists are the `Reader`'s job (`offpay/reader`).
 * @throws OffpayError `verify.bad_context` only for a malformed `ctx` (a caller bug, not a token verdict).
 *
 * @example
 * ```ts
 * import { verifyToken } from 'offpay';
 * const v = verifyToken(tokenBytes, { issuerKeys, now: Math.floor(Date.now() / 1000), payees: [4201], request });
 * if (v.accepted) console.log(v.token.amount, v.currency);
 * else console.log(v.reason, v.code);   // e.g. 'wrong_payee', 11
 * ```
 */
export function verifyToken(bytes: Uint8Array, ctx: VerifyContext, verifier: SyncVerifier = nobleEd25519): Verdict {
  return driveSync(tokenVerification(bytes, ctx), verifier);
}

/** Verify a token with any verifier, e.g. the WebCrypto fast path (`webCryptoEd25519()`). */
export function verifyTokenAsync(bytes: Uint8Array, ctx: VerifyContext, verifier: SyncVerifier | AsyncVerifier): Promise<Verdict> {
  return driveAsync(tokenVerification(bytes, ctx), verifier);
}

// ---------------------------------------------------------------------------------------------------------
// Payment requests (the wallet checks the reader before paying)

/** A payment request that passed the wallet's checks (spec/protocol.md §6). */
export interface RequestVerdictOk {
  /** Always true. */
  accepted: true;
  /** The decoded request. */
  request: PaymentRequest;
}

/**
 * The stateless reasons {@link verifyRequest} refuses a payment request with: it does not decode, its reader
 * certificate or issuer key is not good, it is too old or in the future, or its signature does not verify.
 * A wallet refusing a request throws `request.<reason>` with one of these (spec/protocol.md §13).
 */
export type RequestRefusalReason =
  | DecodeReason
  | 'unknown_issuer_key' | 'issuer_key_not_valid' | 'bad_certificate_signature' | 'certificate_expired' | 'weak_public_key'
  | 'time_too_old' | 'time_in_future' | 'bad_request_signature';

/** The result of {@link verifyRequest}: the request, or a stateless reason (spec/protocol.md §6, §7). */
export type RequestVerdict =
  | RequestVerdictOk
  | {
      /** Always false. */
      accepted: false;
      /** Why the request was refused (spec/protocol.md §7). */
      reason: RequestRefusalReason;
      /** The reason's number, 1-31. */
      code: number;
      /** A sentence for people. */
      message: string;
    };

export function* requestVerification(
  bytes: Uint8Array,
  ctx: { issuerKeys: IssuerKeySet; now: number; maxAgeSeconds?: number; maxFutureSeconds?: number },
): Generator<SigCheck, RequestVerdict, boolean> {
  const no = (reason: RequestRefusalReason, message: string): RequestVerdict => ({ accepted: false, reason, code: REASONS[reason].code, message });
  let r: PaymentRequest;
  try {
    r = decodeRequest(bytes);
  } catch (e) {
    const { reason, message } = reasonForDecodeError(e);
    return no(reason, message);
  }
  const c = r.readerCert;
  if (isWeakPublicKey(c.readerPublicKey)) return no('weak_public_key', 'the reader public key is not a canonical point of prime order');
  const key = findKey(ctx.issuerKeys, c.keyIndex);
  if (!key) return no('unknown_issuer_key', `issuer key index ${c.keyIndex} is not known`);
  if (ctx.now < key.notBefore || ctx.now > key.notAfter) return no('issuer_key_not_valid', `issuer key ${c.keyIndex} is not valid now`);
  if (!(yield { signature: c.issuerSignature, message: readerCertSigningInput(c), publicKey: key.publicKey })) {
    return no('bad_certificate_signature', 'the issuer signature on the reader certificate does not verify');
  }
  if (ctx.now < c.notBefore || ctx.now > c.notAfter) return no('certificate_expired', `the reader certificate is valid ${c.notBefore}..${c.notAfter}`);
  if (!(yield { signature: r.readerSignature, message: requestSigningInput(r), publicKey: c.readerPublicKey })) {
    return no('bad_request_signature', 'the reader signature on the request does not verify');
  }
  const maxAge = ctx.maxAgeSeconds ?? DEFAULT_MAX_AGE_SECONDS;
  const maxFuture = ctx.maxFutureSeconds ?? DEFAULT_MAX_FUTURE_SECONDS;
  if (r.time < ctx.now - maxAge) return no('time_too_old', `the request of ${r.time} is older than ${maxAge} s`);
  if (r.time > ctx.now + maxFuture) return no('time_in_future', `the request of ${r.time} is in the future`);
  return { accepted: true, request: r };
}

/**
 * Check a reader's payment request before paying (spec/protocol.md §6, normative): reader key not weak, issuer
 * key known and valid, reader certificate signature, certificate validity, request signature, request time within
 * `maxAgeSeconds` (default 300) / `maxFutureSeconds` (default 60) of `now` (unix seconds). Never throws on bad
 * bytes: a refused request is a value with its reason.
 */
export function verifyRequest(
  bytes: Uint8Array,
  ctx: { issuerKeys: IssuerKeySet; now: number; maxAgeSeconds?: number; maxFutureSeconds?: number },
  verifier: SyncVerifier = nobleEd25519,
): RequestVerdict {
  return driveSync(requestVerification(bytes, ctx), verifier);
}

/** Check a reader's receipt for a token this wallet sent. Throws OffpayError on bad bytes or signature. */
export function verifyReceipt(bytes: Uint8Array, readerPublicKey: Uint8Array, tokenBytes: Uint8Array, verifier: SyncVerifier = nobleEd25519): Receipt {
  const r = decodeReceipt(bytes);
  if (!verifier.verify(r.readerSignature, receiptSigningInput(r), readerPublicKey)) {
    throw new OffpayError('receipt.bad_signature', REASONS.bad_receipt_signature.text);
  }
  if (!equalBytes(r.tokenHash, tokenHash(tokenBytes))) throw new OffpayError('receipt.wrong_token', 'the receipt is for another token');
  return r;
}
