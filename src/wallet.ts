/**
 * The wallet: an Ed25519 key, an issuer-signed certificate, and a durable monotonic counter.
 *
 * A counter value is never used twice, across crashes too: `CounterStore.reserve` persists the new counter
 * (and the running offline total) before it returns, and only then is the token signed and emitted. A crash
 * after the reservation burns that value; it never reuses it.
 */
import { publicKeyOf, sign, equalBytes, nobleEd25519, type SyncVerifier } from './crypto.js';
import { OffpayError } from './errors.js';
import {
  CHALLENGE_BYTES,
  MAX_COUNTER,
  decodeRequest,
  encodeToken,
  tokenSigningInput,
  walletIdOf,
  type IssuerKeySet,
  type PaymentRequest,
  type PaymentTokenBody,
  type WalletCert,
} from './messages.js';
import { verifyRequest } from './verify.js';

export interface CounterState {
  /** Last counter value used (0 before the first token). */
  counter: number;
  /** Sum of the amounts of all tokens issued under the current certificate, minor units. */
  spent: number;
}

/** Durable storage for the wallet counter. */
export interface CounterStore {
  load(): Promise<CounterState>;
  /** Durably record `next` and return only once it is persisted. */
  commit(next: CounterState): Promise<void>;
}

export class MemoryCounterStore implements CounterStore {
  private state: CounterState;
  constructor(initial: CounterState = { counter: 0, spent: 0 }) {
    this.state = { ...initial };
  }
  async load(): Promise<CounterState> {
    return { ...this.state };
  }
  async commit(next: CounterState): Promise<void> {
    this.state = { ...next };
  }
}

export interface PayOptions {
  /** Unix seconds (default: the wallet clock). */
  time?: number;
}

export class Wallet {
  readonly secretKey: Uint8Array;
  readonly cert: WalletCert;
  readonly store: CounterStore;
  private readonly clock: () => number;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(opts: { secretKey: Uint8Array; cert: WalletCert; counter: CounterStore; clock?: () => number }) {
    if (!equalBytes(publicKeyOf(opts.secretKey), opts.cert.walletPublicKey)) {
      throw new OffpayError('wallet.key_mismatch', 'the wallet key does not match the certificate');
    }
    this.secretKey = opts.secretKey;
    this.cert = opts.cert;
    this.store = opts.counter;
    this.clock = opts.clock ?? (() => Math.floor(Date.now() / 1000));
  }

  get walletId(): Uint8Array {
    return walletIdOf(this.cert.walletPublicKey);
  }

  /**
   * Pay a reader's payment request. With `issuerKeys`, the request's reader certificate and signature are
   * checked first (recommended; a wallet without issuer keys cannot tell a real reader from a fake one).
   */
  async pay(request: PaymentRequest | Uint8Array, opts: PayOptions & { issuerKeys?: IssuerKeySet; verifier?: SyncVerifier } = {}): Promise<Uint8Array> {
    const now = opts.time ?? this.clock();
    let req: PaymentRequest;
    if (request instanceof Uint8Array) {
      if (opts.issuerKeys) {
        const v = verifyRequest(request, { issuerKeys: opts.issuerKeys, now }, opts.verifier ?? nobleEd25519);
        if (!v.accepted) throw new OffpayError(`request.${v.reason}`, `payment request refused: ${v.message}`);
        req = v.request;
      } else {
        req = decodeRequest(request);
      }
    } else {
      req = request;
    }
    if (req.currency !== this.cert.currency) {
      throw new OffpayError('wallet.currency_mismatch', `the request is in currency ${req.currency}, this wallet holds ${this.cert.currency}`);
    }
    return this.payTo({ payee: req.readerCert.readerId, amount: req.amount, challenge: req.challenge, time: now });
  }

  /** Pay a payee with no request (one-way transports such as a transit gate that only listens). */
  async payTo(p: { payee: number; amount: number; challenge?: Uint8Array; time?: number }): Promise<Uint8Array> {
    if (!Number.isSafeInteger(p.amount) || p.amount <= 0) throw new OffpayError('wallet.amount_invalid', 'the amount must be a positive integer of minor units');
    if (p.challenge && p.challenge.length !== CHALLENGE_BYTES) throw new OffpayError('wallet.bad_challenge', `a challenge is ${CHALLENGE_BYTES} bytes`);
    if (p.amount > this.cert.maxPerPayment) {
      throw new OffpayError('wallet.over_payment_limit', `amount ${p.amount} exceeds this wallet's maximum per payment ${this.cert.maxPerPayment}`);
    }
    const run = async (): Promise<Uint8Array> => {
      const s = await this.store.load();
      if (s.spent + p.amount > this.cert.offlineAllowance) {
        throw new OffpayError('wallet.over_offline_allowance', `offline allowance exhausted: ${s.spent} of ${this.cert.offlineAllowance} spent`);
      }
      if (s.counter >= MAX_COUNTER) throw new OffpayError('wallet.counter_exhausted', 'the counter is exhausted; a new certificate is needed');
      const next: CounterState = { counter: s.counter + 1, spent: s.spent + p.amount };
      await this.store.commit(next); // durable before the token exists
      const body: PaymentTokenBody = {
        walletCert: this.cert,
        payee: p.payee,
        amount: p.amount,
        counter: next.counter,
        time: p.time ?? this.clock(),
        challenge: p.challenge,
      };
      return encodeToken({ ...body, walletSignature: sign(tokenSigningInput(body), this.secretKey) });
    };
    // Serialise payments from one wallet object so two concurrent calls never read the same counter.
    const result = this.queue.then(run, run);
    this.queue = result.catch(() => undefined);
    return result;
  }
}
