/**
 * The wallet: an Ed25519 key, an issuer-signed certificate, and a durable monotonic counter.
 *
 * A counter value is never used twice, across crashes and across processes too: `CounterStore.reserve`
 * reads, increments and durably persists the counter (and the running offline total) as one atomic step
 * before it returns, and only then is the token signed and emitted. A crash after the reservation burns
 * that value; it never reuses it (spec/protocol.md §9).
 */
import { createExit } from './exit.js';
import { publicKeyOf, sign, nobleEd25519, type SyncVerifier } from './crypto.js';
import { equalBytes } from '../base/bytes.js';
import { toHex } from '../base/hex.js';
import { OffpayError } from '../base/errors.js';
import { validateOptions, type OptionsSchema } from '../base/options.js';
import {
  CHALLENGE_BYTES,
  PAYMENT_CODE_SIGNED_TIME,
  MAX_COUNTER,
  MAX_UINT,
  MAX_TOKEN_AMOUNT,
  decodeRequest,
  encodeRequest,
  decodeToken,
  encodeToken,
  tokenSigningInput,
  walletIdOf,
  type IssuerKeySet,
  type PaymentRequest,
  type PaymentTokenBody,
  type WalletCert,
} from './messages.js';
import { verifyRequest } from './verify.js';

/**
 * The durable state of a wallet's counter: the last counter used and the running offline total under the
 * current certificate (spec/protocol.md §9.2).
 */
export interface CounterState {
  /** Last counter value used (0 before the first token). */
  counter: number;
  /** Sum of the amounts of all tokens issued under the current certificate, minor units. */
  spent: number;
  /**
   * The last requests paid and the tokens given for them, oldest first, at most PAID_REQUESTS_REMEMBERED
   * (spec/protocol.md §9.1): kept with the counter so that a repeated request gets the same token in any
   * process. Absent when none; a store that cannot keep it may drop it (the wallet object still remembers).
   */
  paid?: readonly PaidRequest[];
}

/** A request a wallet paid, and the token it gave for it (spec/protocol.md §9.1). */
export interface PaidRequest {
  /** The request's reader id (the token's payee). */
  payee: number;
  /** The request's challenge, 8 bytes. */
  challenge: Uint8Array;
  /** The request's time, unix seconds (never 0: payment codes are not remembered). */
  time: number;
  /** The amount paid, minor units. */
  amount: number;
  /** The token given, byte for byte. */
  token: Uint8Array;
}

/** Is `v` a list of paid requests as {@link CounterState.paid} holds them (a custom store's state is checked too)? */
function isPaidList(v: unknown): v is readonly PaidRequest[] {
  return (
    Array.isArray(v) &&
    v.length <= PAID_REQUESTS_REMEMBERED &&
    v.every(
      (r: unknown) =>
        typeof r === 'object' && r !== null &&
        ['payee', 'time', 'amount'].every((k) => typeof (r as Record<string, unknown>)[k] === 'number') &&
        (r as PaidRequest).challenge instanceof Uint8Array && (r as PaidRequest).token instanceof Uint8Array,
    )
  );
}

/** Does `r` name the request (payee, challenge, time, amount)? */
function isRequest(r: PaidRequest, payee: number, challenge: Uint8Array, time: number, amount: number): boolean {
  return r.payee === payee && r.time === time && r.amount === amount && equalBytes(r.challenge, challenge);
}

/**
 * Durable storage for the wallet counter.
 *
 * Contract (spec/protocol.md §9.2): `reserve` is one atomic read-modify-write against every other user of
 * the same storage (other objects, other processes): it reads the current state, calls `step` (which
 * returns the next state or throws to refuse, leaving the state unchanged), persists the result durably and
 * only then returns it. Two reservations never observe the same current state. A store that cannot read
 * its state (missing or corrupt) throws a typed error and never starts again from 0.
 */
export interface CounterStore {
  /** The current state, for display only: never derive a counter from it (use `reserve`). */
  load(): Promise<CounterState>;
  /** Atomically read, apply `step`, durably persist and return the new state. */
  reserve(step: (current: CounterState) => CounterState): Promise<CounterState>;
}

/** A counter in memory (tests, demos, or a platform that persists it by other means). */
export class MemoryCounterStore implements CounterStore {
  private state: CounterState;
  constructor(initial: CounterState = { counter: 0, spent: 0 }) {
    this.state = { ...initial };
  }
  async load(): Promise<CounterState> {
    return { ...this.state };
  }
  async reserve(step: (current: CounterState) => CounterState): Promise<CounterState> {
    // Synchronous read-step-write: nothing else can run in between on one JavaScript thread. (`paid` is an
    // array of records never changed in place: the step makes a new one.)
    const next = step({ ...this.state });
    this.state = { ...next };
    return { ...next };
  }
}

/**
 * The schema of the {@link Wallet} constructor's options (`wallet.bad_option` naming the option): the secret
 * key (32 bytes), the certificate (with its 32-byte wallet public key), a counter store and an optional clock.
 */
export const WALLET_OPTIONS_SCHEMA: OptionsSchema = {
  secretKey: { type: 'bytes', minLength: 32, maxLength: 32, required: true },
  cert: { type: 'object', required: true, fields: { walletPublicKey: { type: 'bytes', minLength: 32, maxLength: 32, required: true } } },
  counter: { type: 'object', required: true, methods: ['load', 'reserve'] },
  clock: { type: 'function' },
};

/**
 * How many paid requests a {@link Wallet} object remembers (in memory) to answer a repeated request with the
 * token it gave (spec/protocol.md §9.1).
 */
export const PAID_REQUESTS_REMEMBERED = 16;

/** A token's time: an integer of unix seconds in 0..2^53 - 1 (messages.cddl `time`). */
function isTokenTime(t: unknown): t is number {
  return typeof t === 'number' && Number.isSafeInteger(t) && t >= 0;
}

/** The schema of {@link Wallet.pay}'s options (`wallet.bad_option` naming the option). */
export const PAY_OPTIONS_SCHEMA: OptionsSchema = {
  time: { type: 'integer', min: 0, unit: 'unix seconds' },
  issuerKeys: { type: 'object', fields: { keys: { type: 'array', required: true, maxLength: 256 } } },
  verifier: { type: 'object', methods: ['verify'] },
};

/** What {@link Wallet.payResult} gives: the token, and whether it was given before for the same request. */
export interface PayResult {
  /** The signed token bytes. */
  token: Uint8Array;
  /** True when the request was paid already and this is that payment's token: nothing was spent now (§9.1). */
  repeated: boolean;
}

/** Options of {@link Wallet.pay}. */
export interface PayOptions {
  /** Unix seconds (default: the wallet clock). */
  time?: number;
}

/**
 * A wallet: an Ed25519 key, its issuer-signed certificate and a durable monotonic counter (spec/protocol.md
 * §9, normative). It signs payment tokens; each token reserves the next counter value durably before it is
 * signed, so a counter is never used twice, even across crashes and processes.
 *
 * Errors (`OffpayError`): `wallet.key_mismatch` (constructor: key not that of the certificate);
 * `wallet.amount_invalid`, `wallet.bad_challenge`, `wallet.over_payment_limit`,
 * `wallet.over_offline_allowance`, `wallet.counter_exhausted`, `wallet.currency_mismatch`, and `request.<reason>`
 * when a request given as bytes fails verification against `issuerKeys`.
 *
 * @example
 * ```ts
 * import { Wallet, MemoryCounterStore } from 'offpay';
 * const wallet = new Wallet({ secretKey: walletKey, cert, counter: new MemoryCounterStore() });
 * const token = await wallet.pay(requestBytes, { issuerKeys }); // the signed token bytes (~200 B)
 * ```
 */
export class Wallet {
  /** The wallet's Ed25519 secret key, 32 bytes. */
  readonly secretKey: Uint8Array;
  /** The wallet certificate (limits: maxPerPayment, offlineAllowance, currency, expiry day). */
  readonly cert: WalletCert;
  /** The durable counter store. */
  readonly store: CounterStore;
  private readonly clock: () => number;
  private queue: Promise<unknown> = Promise.resolve();
  /** The tokens of the last PAID_REQUESTS_REMEMBERED requests paid, by request (spec/protocol.md §9.1). */
  private readonly paidRequests = new Map<string, Uint8Array>();
  /** Tokens handed out as a repeated request's (payResult tells them by identity). */
  private readonly repeats = new WeakSet<Uint8Array>();

  /** Mark `token` as given again (not paid now), and return it. */
  private repeat(token: Uint8Array): Uint8Array {
    this.repeats.add(token);
    return token;
  }

  /** Is `bytes` a token of this wallet's key for (payee, amount, challenge, time), its signature checked? */
  private isTokenFor(bytes: Uint8Array, payee: number, amount: number, challenge: Uint8Array, time: number): boolean {
    try {
      const t = decodeToken(bytes);
      if (!t.requestBound || t.amount !== amount || !equalBytes(t.walletCert.walletPublicKey, this.cert.walletPublicKey)) return false;
      const body: PaymentTokenBody = { walletCert: t.walletCert, payee, amount, counter: t.counter, time, challenge };
      return nobleEd25519.verify(t.walletSignature, tokenSigningInput(body), this.cert.walletPublicKey);
    } catch {
      return false;
    }
  }

  constructor(opts: { secretKey: Uint8Array; cert: WalletCert; counter: CounterStore; clock?: () => number }) {
    validateOptions('Wallet options', opts, WALLET_OPTIONS_SCHEMA, 'wallet.bad_option');
    if (!equalBytes(publicKeyOf(opts.secretKey), opts.cert.walletPublicKey)) {
      throw new OffpayError('wallet.key_mismatch', 'the wallet key does not match the certificate');
    }
    this.secretKey = opts.secretKey;
    this.cert = opts.cert;
    this.store = opts.counter;
    this.clock = opts.clock ?? (() => Math.floor(Date.now() / 1000));
  }

  /** The wallet id: 16 bytes derived from the wallet public key (spec/protocol.md §4); what blocklists list. */
  get walletId(): Uint8Array {
    return walletIdOf(this.cert.walletPublicKey);
  }

  /**
   * Pay a reader's payment request. With `issuerKeys`, the request's reader certificate and signature are
   * checked first (recommended; a wallet without issuer keys cannot tell a real reader from a fake one).
   */
  async pay(request: PaymentRequest | Uint8Array, opts: PayOptions & { issuerKeys?: IssuerKeySet; verifier?: SyncVerifier } = {}): Promise<Uint8Array> {
    validateOptions('pay options', opts, PAY_OPTIONS_SCHEMA, 'wallet.bad_option');
    const now = opts.time ?? this.clock();
    let req: PaymentRequest;
    if (opts.issuerKeys) {
      // A request object is checked as its bytes are: its encoding is what the reader signed (an object given
      // with issuerKeys was once paid unchecked: a certificate altered to name another payee, a request of an
      // uncertified key or from last week; wallet attack review, 2026-12-07).
      let bytes: Uint8Array;
      if (request instanceof Uint8Array) bytes = request;
      else {
        try {
          bytes = encodeRequest(request);
        } catch (e) {
          throw new OffpayError('wallet.bad_option', `the request object cannot be encoded as a payment request: ${(e as Error).message}`, { option: 'request' });
        }
      }
      const v = verifyRequest(bytes, { issuerKeys: opts.issuerKeys, now }, opts.verifier ?? nobleEd25519);
      if (!v.accepted) throw new OffpayError(`request.${v.reason}`, `payment request refused: ${v.message}`);
      req = v.request;
    } else {
      req = request instanceof Uint8Array ? decodeRequest(request) : request;
    }
    if (req.currency !== this.cert.currency) {
      throw new OffpayError('wallet.currency_mismatch', `the request is in currency ${req.currency}, this wallet holds ${this.cert.currency}`);
    }
    // Time 0 is what a payment code's token signs (rule P): a signed request with it would get a token that neither
    // the wallet's memory nor clearing's one-settlement rule compares (both leave codes out), so a reader could
    // have it paid twice. A request has the reader's clock; a code goes through payCode.
    if (req.time === PAYMENT_CODE_SIGNED_TIME) {
      throw new OffpayError('wallet.bad_option', 'a payment request with time 0 is refused: time 0 is reserved for payment codes (spec/protocol.md §4.3, rule P)', { option: 'time' });
    }
    // A request-bound token signs the request's reader id, time and challenge (spec/protocol.md §4.3): the reader
    // rebuilds the signed body from its open request, so the time signed is the request's, not the wallet's clock.
    return this.payTo({ payee: req.readerCert.readerId, amount: req.amount, challenge: req.challenge, time: req.time });
  }

  /**
   * {@link pay}, saying whether the token was given before: `repeated` is true when the request was paid already
   * and this is that payment's token (nothing spent now; spec/protocol.md §9.1).
   */
  async payResult(request: PaymentRequest | Uint8Array, opts: PayOptions & { issuerKeys?: IssuerKeySet; verifier?: SyncVerifier } = {}): Promise<PayResult> {
    const token = await this.pay(request, opts);
    return { token, repeated: this.repeats.has(token) };
  }

  /**
   * Sign the exit of a transit trip (message 11, spec/protocol.md §4.6): what the rider shows at the exit gate
   * instead of the tap-in token, so that a recording of the tap-in does not leave by another gate (spec/reader.md
   * §7.3 point 1). `tapIn` is this wallet's one-way token, exactly as shown at entry; `time` defaults to the wallet's
   * clock (a gate takes the exit within `exitMaxAgeSeconds` of it). Spends nothing: no counter is reserved, since the
   * trip's charge is the tap-in's, counted when the tap-in was signed.
   * @throws OffpayError `wallet.bad_option` (not a one-way token, a bad time), `wallet.key_mismatch` (another wallet's token).
   */
  exit(tapIn: Uint8Array, opts: { time?: number } = {}): Uint8Array {
    if (!(tapIn instanceof Uint8Array)) throw new OffpayError('wallet.bad_option', 'the tap-in is the token bytes (a Uint8Array)', { option: 'tapIn' });
    return createExit(this.secretKey, tapIn, opts.time ?? this.clock()).bytes;
  }

  /**
   * Pay a typed payment code (spec/qr.md §6; `decodePaymentCode(digits)` gives `code`): a request-bound token for the code's payee, amount and challenge
   * that signs the fixed time PAYMENT_CODE_SIGNED_TIME, because a code carries no request time (spec/protocol.md §4.3,
   * rule P). A code carries no currency either: the caller must know the reader takes this wallet's currency.
   */
  async payCode(code: { payee: number; amount: number; challenge: Uint8Array }): Promise<Uint8Array> {
    return this.payTo({ payee: code.payee, amount: code.amount, challenge: code.challenge, time: PAYMENT_CODE_SIGNED_TIME });
  }

  /**
   * Pay a payee with no request (one-way transports such as a transit gate that only listens): a one-way token.
   * With a `challenge` it makes a request-bound token instead, and then `payee` and `time` MUST be the request's
   * reader id and time, which the token does not carry (the reader supplies them when it verifies).
   */
  async payTo(p: { payee: number; amount: number; challenge?: Uint8Array; time?: number }): Promise<Uint8Array> {
    if (!Number.isSafeInteger(p.amount) || p.amount <= 0 || p.amount > MAX_TOKEN_AMOUNT) throw new OffpayError('wallet.amount_invalid', `the amount must be an integer of minor units in 1..${MAX_TOKEN_AMOUNT}`);
    if (p.challenge !== undefined && !(p.challenge instanceof Uint8Array && p.challenge.length === CHALLENGE_BYTES)) {
      throw new OffpayError('wallet.bad_challenge', `a challenge is ${CHALLENGE_BYTES} bytes (a Uint8Array)`);
    }
    // Fields the token could not carry are refused before a counter is reserved (spec/protocol.md §9.1).
    if (!Number.isSafeInteger(p.payee) || p.payee < 0 || p.payee > 0xffffffff) {
      throw new OffpayError('wallet.bad_option', `the payee must be a reader id, an integer in 0..${0xffffffff}`, { option: 'payee' });
    }
    if (p.time !== undefined && !isTokenTime(p.time)) throw new OffpayError('wallet.bad_option', `the time must be an integer of unix seconds in 0..${MAX_UINT}`, { option: 'time' });
    if (p.amount > this.cert.maxPerPayment) {
      throw new OffpayError('wallet.over_payment_limit', `amount ${p.amount} exceeds this wallet's maximum per payment ${this.cert.maxPerPayment}`);
    }
    const run = async (): Promise<Uint8Array> => {
      const time = p.time ?? this.clock();
      if (!isTokenTime(time)) throw new OffpayError('wallet.bad_option', `the wallet clock gave ${String(time)}: a token's time is an integer of unix seconds in 0..${MAX_UINT}`, { option: 'clock' });
      // A request paid already (the same reader id, challenge, time and amount) gets the token it got: one
      // consent, one payment, however often a reader asks (a retry after a lost answer, a hostile reader), in
      // this process (the object's memory) or any other (the list kept with the counter, read under its lock).
      // Not for a payment code (time 0): its 21-bit challenge does not tell two sales at one price apart.
      const challenge = time !== PAYMENT_CODE_SIGNED_TIME ? p.challenge : undefined;
      const requestKey = challenge ? `${p.payee}:${toHex(challenge)}:${time}:${p.amount}` : undefined;
      const remembered = requestKey === undefined ? undefined : this.paidRequests.get(requestKey);
      if (remembered) return this.repeat(remembered.slice());
      let token: Uint8Array | undefined;
      let repeated = false;
      await this.store.reserve((s) => {
        // A store may run the step again (a retried write): each run decides afresh.
        token = undefined;
        repeated = false;
        if (s.paid !== undefined && !isPaidList(s.paid)) {
          throw new OffpayError('wallet.counter_corrupt', 'the counter state\'s paid list is not a list of paid requests; repair it with `offpay wallet restore-counter`');
        }
        const held = challenge && s.paid?.find((r) => isRequest(r, p.payee, challenge, time, p.amount));
        if (held) {
          // The file is the wallet's own, but it is checked like input: the token must be this wallet's, for this
          // request (its signature over the request's body), or the state is corrupt and nothing is emitted.
          if (!this.isTokenFor(held.token, p.payee, p.amount, challenge, time)) {
            throw new OffpayError('wallet.counter_corrupt', 'the counter state remembers a token that is not this wallet\'s token for this request; repair it with `offpay wallet restore-counter`');
          }
          token = held.token.slice();
          repeated = true;
          return s; // unchanged: nothing spent (a store writes it again all the same, spec/protocol.md §9.2 step 4)
        }
        if (s.spent + p.amount > this.cert.offlineAllowance) {
          throw new OffpayError('wallet.over_offline_allowance', `offline allowance exhausted: ${s.spent} of ${this.cert.offlineAllowance} spent`);
        }
        if (s.counter >= MAX_COUNTER) throw new OffpayError('wallet.counter_exhausted', 'the counter is exhausted; a new certificate is needed');
        const body: PaymentTokenBody = {
          walletCert: this.cert,
          payee: p.payee,
          amount: p.amount,
          counter: s.counter + 1,
          time,
          challenge: p.challenge,
        };
        // Signed here, under the store's lock, and kept with the new counter in one durable write; emitted only
        // after that write (the store returns), so a token never leaves before its counter is spent.
        const signed = encodeToken({ ...body, walletSignature: sign(tokenSigningInput(body), this.secretKey) });
        token = signed;
        const next: CounterState = { counter: s.counter + 1, spent: s.spent + p.amount };
        const paid = challenge
          ? [...(s.paid ?? []), { payee: p.payee, challenge: challenge.slice(), time, amount: p.amount, token: signed.slice() }].slice(-PAID_REQUESTS_REMEMBERED)
          : s.paid;
        if (paid && paid.length > 0) next.paid = paid;
        return next;
      }); // durable before the token leaves
      if (!token) throw new OffpayError('wallet.counter_corrupt', 'the counter store returned without running the payment step');
      if (repeated) this.repeat(token);
      if (requestKey !== undefined) {
        if (this.paidRequests.size >= PAID_REQUESTS_REMEMBERED) this.paidRequests.delete(this.paidRequests.keys().next().value!);
        this.paidRequests.set(requestKey, token.slice());
      }
      return token;
    };
    // Serialise payments from one wallet object too (the store makes it atomic across objects and processes).
    const result = this.queue.then(run, run);
    this.queue = result.catch(() => undefined);
    return result;
  }
}
