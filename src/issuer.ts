/**
 * The issuer: holds Ed25519 signing keys by key index, publishes the issuer key set, and signs wallet and
 * reader certificates. (Blocklists are signed by clearing with an issuer key too: src/clearing.)
 */
import { publicKeyOf, sign } from './crypto.js';
import { OffpayError } from './errors.js';
import { isWeakPublicKey } from './weakkeys.js';
import {
  readerCertSigningInput,
  walletCertSigningInput,
  type IssuerKey,
  type IssuerKeySet,
  type ReaderCert,
  type ReaderCertBody,
  type WalletCert,
  type WalletCertBody,
} from './messages.js';

export interface IssuerSigningKey extends IssuerKey {
  secretKey: Uint8Array;
}

export class Issuer {
  readonly issuerId: number;
  readonly keys: IssuerSigningKey[];

  constructor(issuerId: number, keys: IssuerSigningKey[]) {
    if (keys.length === 0) throw new Error('an issuer needs at least one key');
    this.issuerId = issuerId;
    this.keys = keys;
  }

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
    if (!k) throw new Error(`no issuer key is valid at ${now}`);
    return k;
  }

  key(keyIndex: number): IssuerSigningKey {
    const k = this.keys.find((x) => x.keyIndex === keyIndex);
    if (!k) throw new Error(`no issuer key with index ${keyIndex}`);
    return k;
  }

  issueWalletCert(body: Omit<WalletCertBody, 'keyIndex'>, now: number, keyIndex?: number): WalletCert {
    if (isWeakPublicKey(body.walletPublicKey)) throw new OffpayError('issuer.weak_public_key', 'refusing to certify a wallet key that is not a canonical point of prime order (small-order, mixed-order or not on the curve)');
    const key = keyIndex === undefined ? this.currentKey(now) : this.key(keyIndex);
    const full: WalletCertBody = { ...body, keyIndex: key.keyIndex };
    return { ...full, issuerSignature: sign(walletCertSigningInput(full), key.secretKey) };
  }

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
