/**
 * The issuer: holds Ed25519 signing keys by key index, publishes the issuer key set, and signs wallet and
 * reader certificates. (Blocklists are signed by clearing with an issuer key too: src/clearing.)
 */
import { publicKeyOf, sign } from './crypto.js';
import { OffpayError } from '../base/errors.js';
import { isWeakPublicKey } from './weakkeys.js';
import {
  MAX_TOKEN_AMOUNT,
  readerCertSigningInput,
  walletCertSigningInput,
  type IssuerKey,
  type IssuerKeySet,
  type ReaderCert,
  type ReaderCertBody,
  type WalletCert,
  type WalletCertBody,
} from './messages.js';

/**
 * Largest `maxPerPayment` and `offlineAllowance` an issuer certifies, in minor units: 2^32 - 1
 * (4,294,967,295; HKD 42,949,672.95), the uint32 bound of every amount on the wire (MAX_TOKEN_AMOUNT).
 *
 * Why (spec/protocol.md §9.3): (1) size: an amount or limit of at most 2^32 - 1 takes at most 5 CBOR bytes,
 * which is what lets a request-bound token with its certificate fit 200 bytes for any amount (§4.2); (2) exact
 * sums: the wallet's running total checks `spent + amount <= offlineAllowance`, and a reader or clearing
 * totalling one wallet's tokens against its allowance can stop at the first token that passes it; either sum
 * is at most offlineAllowance + maxPerPayment <= 2^33 < 2^53, exact in an IEEE double and in a uint64_t.
 * Sums that are not bounded by one certificate (2^32 counters x 2^32 minor units = 2^64 for one wallet key
 * over many certificates, a merchant's gross) are added by clearing in bigint.
 */
export const MAX_WALLET_LIMIT = MAX_TOKEN_AMOUNT;

/**
 * Check a wallet certificate's limits: positive integers of minor units, at most MAX_WALLET_LIMIT, and
 * offlineAllowance >= maxPerPayment (a larger single payment could never be made). Throws
 * `issuer.bad_wallet_limits`.
 */
export function checkWalletLimits(maxPerPayment: number, offlineAllowance: number): void {
  const ok = (v: number) => Number.isSafeInteger(v) && v >= 1 && v <= MAX_WALLET_LIMIT;
  if (!ok(maxPerPayment)) throw new OffpayError('issuer.bad_wallet_limits', `maxPerPayment ${maxPerPayment} must be an integer of minor units in 1..${MAX_WALLET_LIMIT}`);
  if (!ok(offlineAllowance)) throw new OffpayError('issuer.bad_wallet_limits', `offlineAllowance ${offlineAllowance} must be an integer of minor units in 1..${MAX_WALLET_LIMIT}`);
  if (offlineAllowance < maxPerPayment) {
    throw new OffpayError('issuer.bad_wallet_limits', `offlineAllowance ${offlineAllowance} is below maxPerPayment ${maxPerPayment}; it must be at least the largest single payment`);
  }
}

/** An issuer key with its Ed25519 secret key (32 bytes): what an {@link Issuer} signs with. */
export interface IssuerSigningKey extends IssuerKey {
  /** The Ed25519 secret key (32-byte seed) of this issuer key. */
  secretKey: Uint8Array;
}

/**
 * The issuer: holds Ed25519 signing keys by key index, publishes the {@link IssuerKeySet} that wallets and
 * readers trust, and signs wallet and reader certificates (spec/protocol.md §1, §4 and §8.2 are normative).
 * New signatures use the valid key with the highest index ({@link Issuer.currentKey}).
 *
 * Errors: `issuer.weak_public_key` (a key that is not a canonical point of prime order, spec/protocol.md §8.2),
 * `issuer.bad_wallet_limits` (see {@link checkWalletLimits}); a plain `Error` for no keys or no valid key.
 *
 * @example
 * ```ts
 * import { Issuer, randomSecretKey, publicKeyOf, dayOf } from 'offpay';
 * const now = Math.floor(Date.now() / 1000);
 * const issuer = Issuer.fromSecret(1, 1, randomSecretKey(), now - 86400, now + 365 * 86400);
 * const cert = issuer.issueWalletCert({ walletPublicKey: publicKeyOf(walletKey), expiryDay: dayOf(now) + 30,
 *   maxPerPayment: 20_000, offlineAllowance: 50_000, currency: 344 }, now);
 * const keys = issuer.keySet();   // give this to readers and wallets
 * ```
 */
export class Issuer {
  /** The issuer id named by every certificate and key set. */
  readonly issuerId: number;
  /** The signing keys, by key index. */
  readonly keys: IssuerSigningKey[];

  constructor(issuerId: number, keys: IssuerSigningKey[]) {
    if (!Number.isSafeInteger(issuerId) || issuerId < 0 || issuerId > 0xffffffff) {
      throw new OffpayError('issuer.bad_issuer', `an issuer id is an integer in 0..${0xffffffff} (messages.cddl issuer-id: uint32), not ${String(issuerId)}`);
    }
    if (!Array.isArray(keys) || keys.length === 0) throw new OffpayError('issuer.bad_issuer', 'an issuer needs at least one key');
    this.issuerId = issuerId;
    this.keys = keys;
  }

  /** An issuer with one key: `keyIndex`, its 32-byte secret key, valid from `notBefore` to `notAfter` (unix seconds). */
  static fromSecret(issuerId: number, keyIndex: number, secretKey: Uint8Array, notBefore: number, notAfter: number): Issuer {
    return new Issuer(issuerId, [{ keyIndex, secretKey, publicKey: publicKeyOf(secretKey), notBefore, notAfter }]);
  }

  /** The public key set readers and wallets are provisioned with. */
  keySet(): IssuerKeySet {
    return { issuerId: this.issuerId, keys: this.keys.map(({ keyIndex, publicKey, notBefore, notAfter }) => ({ keyIndex, publicKey, notBefore, notAfter })) };
  }

  /** The key used for new signatures: the valid key with the highest index at `now`. */
  currentKey(now: number): IssuerSigningKey {
    const valid = this.keys.filter((k) => k.notBefore <= now && now <= k.notAfter).sort((a, b) => b.keyIndex - a.keyIndex);
    const k = valid[0];
    if (!k) {
      const windows = this.keys.map((x) => `key ${x.keyIndex}: ${new Date(x.notBefore * 1000).toISOString()} to ${new Date(x.notAfter * 1000).toISOString()}`).join('; ');
      throw new OffpayError('issuer.no_valid_key', `no issuer key is valid at ${new Date(now * 1000).toISOString()} (${windows}): nothing can be signed then`, { now });
    }
    return k;
  }

  /**
   * The signing key with this index.
   * @throws Error when there is none.
   */
  key(keyIndex: number): IssuerSigningKey {
    const k = this.keys.find((x) => x.keyIndex === keyIndex);
    if (!k) throw new Error(`no issuer key with index ${keyIndex}`);
    return k;
  }

  /**
   * Sign a wallet certificate at time `now` (unix seconds) with the current key, or with key `keyIndex`.
   * Amounts are minor units of `currency` (ISO 4217 numeric); `expiryDay` is days since 1970-01-01 UTC.
   * @throws OffpayError `issuer.weak_public_key`, `issuer.bad_wallet_limits`.
   */
  issueWalletCert(body: Omit<WalletCertBody, 'keyIndex'>, now: number, keyIndex?: number): WalletCert {
    if (isWeakPublicKey(body.walletPublicKey)) throw new OffpayError('issuer.weak_public_key', 'refusing to certify a wallet key that is not a canonical point of prime order (small-order, mixed-order or not on the curve)');
    checkWalletLimits(body.maxPerPayment, body.offlineAllowance);
    const key = keyIndex === undefined ? this.currentKey(now) : this.key(keyIndex);
    const full: WalletCertBody = { ...body, keyIndex: key.keyIndex };
    return { ...full, issuerSignature: sign(walletCertSigningInput(full), key.secretKey) };
  }

  /**
   * Sign a reader certificate (reader id, operator id, profile, validity in unix seconds) at time `now`, with the
   * current key or key `keyIndex`.
   * @throws OffpayError `issuer.weak_public_key`.
   */
  issueReaderCert(body: Omit<ReaderCertBody, 'keyIndex'>, now: number, keyIndex?: number): ReaderCert {
    if (isWeakPublicKey(body.readerPublicKey)) throw new OffpayError('issuer.weak_public_key', 'refusing to certify a reader key that is not a canonical point of prime order (small-order, mixed-order or not on the curve)');
    const key = keyIndex === undefined ? this.currentKey(now) : this.key(keyIndex);
    const full: ReaderCertBody = { ...body, keyIndex: key.keyIndex };
    return { ...full, issuerSignature: sign(readerCertSigningInput(full), key.secretKey) };
  }
}

/** Days since 1970-01-01 UTC for a unix time in seconds. */
export function dayOf(unixSeconds: number): number {
  return Math.floor(unixSeconds / 86400);
}
