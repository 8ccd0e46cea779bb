/**
 * The reader verifier: stateless checks (src/verify.ts), then the stateful checks of spec/reader.md:
 *
 *   0. a token this reader already holds (same bytes): resume a pending sale, or refuse (replayed/voided)
 *   1. stateless verification with the reader's context (profile, request or fare, payee binding)
 *   2. anti-replay window per wallet (window.ts): replayed / stale
 *   3. blocklist: blocklisted
 *   4. limits per currency: currency_not_accepted, below_minimum, above_maximum
 *   5. blocklist freshness: blocklist_stale (refuse) or stale_limit (reduce)
 *   6. the certificate's offline allowance, cumulative at this reader: allowance_exhausted
 *   7. the wallet's daily total at this reader: daily_limit
 *
 * Steps 0 and 2-7 run inside one store transaction with the writes they imply (window, totals, token
 * record, journal entry), so the verdict is durable before `accept` returns.
 */
import { decodeCbor, encodeCbor } from '../cbor.js';
import { nobleEd25519, type AsyncVerifier, type SyncVerifier } from '../crypto.js';
import { hex as toHex } from './hex.js';
import { OffpayError } from '../errors.js';
import { dayOf } from '../issuer.js';
import { tokenHash, type IssuerKeySet, type PaymentRequest, type PaymentToken, type ReaderCert } from '../messages.js';
import { createReceipt } from '../request.js';
import { verifyToken, verifyTokenAsync, type VerifyContext } from '../verify.js';
import { createBatch, type SettlementBatch } from './batch.js';
import { BlocklistIndex, verifyBlocklist, type Blocklist } from './blocklist.js';
import { chainHash, decodeEntry, encodeEntry, genesisHash, verifyChain, type ChainCheck, type JournalEntry, type JournalKindName, type JournalRow } from './journal.js';
import { PROFILES, type CurrencyLimits, type ProfileParams } from './profiles.js';
import { READER_REASONS, type AnyReason, type ReaderReason } from './reasons.js';
import type { ReaderStore, ReaderTx, TokenRecord } from './store.js';
import { cachingVerifier } from './verifier.js';
import { advanceWindow, checkWindow, DEFAULT_WINDOW, validateWindowSize } from './window.js';

export interface ReaderOptions {
  cert: ReaderCert;
  secretKey: Uint8Array;
  issuerKeys: IssuerKeySet;
  store: ReaderStore;
  /** Ed25519 backend (default noble; on Node pass nodeEd25519() from src/node/crypto.ts, ~15x faster). */
  verifier?: SyncVerifier;
  /** An asynchronous backend instead (e.g. webCryptoEd25519() in a browser); takes precedence over `verifier`. */
  asyncVerifier?: AsyncVerifier;
  /** Overrides of the profile row named by the reader certificate. */
  profile?: Partial<Omit<ProfileParams, 'name'>>;
  /** Limits per ISO 4217 numeric currency. */
  limits?: Record<number, CurrencyLimits>;
  /** Accept currencies not listed in `limits` (with no reader limits). Default true. */
  acceptUnlistedCurrencies?: boolean;
  /** Anti-replay window size W in counters (multiple of 8, 8..4096; default 128). */
  window?: number;
  /** Reader clock, unix seconds. */
  clock?: () => number;
}

/** What the reader is waiting for when a token arrives. */
export interface AcceptContext {
  /** Reader time (default: the reader clock). */
  now?: number;
  /** Vending: the payment request this reader issued (challenge and exact price). */
  request?: PaymentRequest | { amount: number; currency: number; challenge: Uint8Array; time: number };
  /** Transit: a fixed fare (one-way token, payee = reader or operator). */
  fare?: { amount: number; currency: number };
  /** Transit: tap-in with a maximum-fare authorisation; settled at the tap-out fare, or this amount. */
  tapIn?: { maxFare: number; currency: number };
  /** Mark the sale complete in the same transaction (nothing left to dispense). Default false. */
  complete?: boolean;
}

export type AcceptStatus = 'accepted' | 'resumed' | 'tapped_out';

export interface ReaderAccepted {
  accepted: true;
  /** 'accepted': charged now; 'resumed': the same token was already committed and is not charged again. */
  status: AcceptStatus;
  reason: 'ok';
  code: 0;
  charged: boolean;
  tokenHash: Uint8Array;
  walletId: Uint8Array;
  counter: number;
  /** Amount charged (for a tap-in, the authorised maximum; for a tap-out, the fare). */
  amount: number;
  currency: number;
  /** Journal entry that recorded the sale. */
  seq: number;
  token?: PaymentToken;
}

export interface ReaderRejected {
  accepted: false;
  status: 'rejected';
  reason: AnyReason;
  code: number;
  message: string;
  tokenHash: Uint8Array;
  token?: PaymentToken | undefined;
  /** Journal entry when the rejection was recorded as evidence (a conflicting token). */
  seq?: number;
}

export type ReaderVerdict = ReaderAccepted | ReaderRejected;

export type VoidResult =
  | { ok: true; tokenHash: Uint8Array; amount: number; currency: number; seq: number }
  | { ok: false; reason: ReaderReason; code: number; message: string };

export interface BlocklistStatus {
  loaded: boolean;
  version: number;
  issuedAt: number;
  count: number;
  ageSeconds: number;
  stale: boolean;
}

export interface ExportResult {
  batch: SettlementBatch;
  bytes: Uint8Array;
}

function rejectedR(reason: ReaderReason, message: string, hash: Uint8Array, token?: PaymentToken, seq?: number): ReaderRejected {
  return { accepted: false, status: 'rejected', reason, code: READER_REASONS[reason].code, message, tokenHash: hash, token, ...(seq !== undefined ? { seq } : {}) };
}

const META_BLOCKLIST = 'blocklist';
/** The challenges of the last PAID_RING paid requests, 8 bytes each, oldest first. */
const META_PAID_REQUESTS = 'requests.paid';
const PAID_RING = 64;

function ringHas(ring: Uint8Array, challenge: Uint8Array): boolean {
  outer: for (let off = 0; off + challenge.length <= ring.length; off += challenge.length) {
    for (let i = 0; i < challenge.length; i++) if (ring[off + i] !== challenge[i]) continue outer;
    return true;
  }
  return false;
}

function ringAdd(ring: Uint8Array, challenge: Uint8Array): Uint8Array {
  const keep = Math.min(ring.length, (PAID_RING - 1) * challenge.length);
  const out = new Uint8Array(keep + challenge.length);
  out.set(ring.subarray(ring.length - keep), 0);
  out.set(challenge, keep);
  return out;
}
const META_EXPORT_LAST = 'export.last';
const META_EXPORT_BATCH = 'export.batch';

function u(n: number): Uint8Array {
  return encodeCbor(n);
}
function fromU(b: Uint8Array | undefined): number {
  if (!b) return 0;
  const v = decodeCbor(b);
  if (typeof v !== 'number') throw new OffpayError('reader.corrupt_store', 'a stored counter is not an integer');
  return v;
}

/**
 * The id of a wallet certificate for the allowance total: the first 16 bytes of its issuer signature
 * (Ed25519 signatures are deterministic, so distinct certificates have distinct signatures).
 */
export function certIdOf(token: PaymentToken): Uint8Array {
  return token.walletCert.issuerSignature.slice(0, 16);
}

export class Reader {
  readonly cert: ReaderCert;
  readonly profile: ProfileParams;
  readonly window: number;
  readonly store: ReaderStore;
  private readonly secretKey: Uint8Array;
  private readonly issuerKeys: IssuerKeySet;
  private readonly verifier: SyncVerifier | AsyncVerifier;
  private readonly syncVerifier: SyncVerifier | undefined;
  private readonly limits: Record<number, CurrencyLimits>;
  private readonly acceptUnlisted: boolean;
  private readonly clock: () => number;
  private readonly genesis: Uint8Array;
  private blocklist: { list: Blocklist; index: BlocklistIndex } | undefined;

  constructor(o: ReaderOptions) {
    this.cert = o.cert;
    this.secretKey = o.secretKey;
    this.issuerKeys = o.issuerKeys;
    this.store = o.store;
    this.profile = { ...PROFILES[o.cert.profile], ...(o.profile ?? {}), name: o.cert.profile };
    this.window = validateWindowSize(o.window ?? DEFAULT_WINDOW);
    this.syncVerifier = o.asyncVerifier ? undefined : cachingVerifier(o.verifier ?? nobleEd25519);
    this.verifier = o.asyncVerifier ?? this.syncVerifier!;
    this.limits = o.limits ?? {};
    this.acceptUnlisted = o.acceptUnlistedCurrencies ?? true;
    this.clock = o.clock ?? (() => Math.floor(Date.now() / 1000));
    this.genesis = genesisHash(o.cert.readerId);
    const stored = this.store.transact((tx) => {
      const id = tx.getMeta('reader.id');
      if (!id) tx.putMeta('reader.id', u(o.cert.readerId));
      else if (fromU(id) !== o.cert.readerId) throw new OffpayError('reader.wrong_store', `this store belongs to reader ${fromU(id)}, not ${o.cert.readerId}`);
      return tx.getMeta(META_BLOCKLIST);
    });
    if (stored) {
      const list = verifyBlocklist(stored, this.issuerKeys, this.syncVerifier ?? nobleEd25519);
      this.blocklist = { list, index: new BlocklistIndex(list.entries) };
    }
  }

  get readerId(): number {
    return this.cert.readerId;
  }

  /** Payee ids this reader accepts: its reader id, and for a transit reader its operator id too. */
  get payees(): number[] {
    return this.cert.profile === 'transit' ? [this.cert.readerId, this.cert.operatorId] : [this.cert.readerId];
  }

  /** The stateless verification context for `ctx` (exposed for tools and tests). */
  verifyContext(ctx: AcceptContext, now: number): VerifyContext {
    const modes = [ctx.request, ctx.fare, ctx.tapIn].filter((x) => x !== undefined).length;
    if (modes > 1) throw new OffpayError('reader.bad_context', 'give at most one of request, fare and tapIn');
    if (this.profile.requireRequest && !ctx.request) {
      throw new OffpayError('reader.bad_context', `a ${this.profile.name} reader judges a token against the payment request it issued: pass context.request`);
    }
    if ((ctx.fare || ctx.tapIn) && this.cert.profile !== 'transit') throw new OffpayError('reader.bad_context', 'fares and tap-in are for transit readers');
    const base = { issuerKeys: this.issuerKeys, now, payees: this.payees, maxFutureSeconds: this.profile.maxFutureSeconds };
    if (ctx.request) {
      const r = ctx.request;
      return { ...base, request: { amount: r.amount, currency: r.currency, challenge: r.challenge, time: r.time }, maxAgeSeconds: this.profile.maxAgeSeconds };
    }
    const expected = ctx.fare ? { amount: ctx.fare.amount, currency: ctx.fare.currency } : ctx.tapIn ? { amount: ctx.tapIn.maxFare, currency: ctx.tapIn.currency } : undefined;
    return { ...base, expected, maxAgeSeconds: this.profile.oneWayMaxAgeSeconds };
  }

  /** Judge a token. The verdict and the state it implies are committed before this returns. */
  async accept(bytes: Uint8Array, ctx: AcceptContext = {}): Promise<ReaderVerdict> {
    const now = ctx.now ?? this.clock();
    if (!(bytes instanceof Uint8Array)) throw new OffpayError('reader.bad_input', 'a token is a byte array');
    const hash = tokenHash(bytes);
    // A token this reader already holds is judged by its record alone (so a resume works whatever request
    // the machine shows now).
    const prior = this.store.transact((tx) => tx.getToken(hash));
    if (prior) return this.priorVerdict(prior);
    const vctx = this.verifyContext(ctx, now);
    const v = this.syncVerifier ? verifyToken(bytes, vctx, this.syncVerifier) : await verifyTokenAsync(bytes, vctx, this.verifier);
    if (!v.accepted) {
      return { accepted: false, status: 'rejected', reason: v.reason, code: v.code, message: v.message, tokenHash: hash, token: v.token };
    }
    return this.store.transact((tx) => this.decide(tx, bytes, hash, v.token, v.walletId, v.currency, ctx, now));
  }

  private priorVerdict(r: TokenRecord): ReaderVerdict {
    if (r.status === 'pending') {
      return { accepted: true, status: 'resumed', reason: 'ok', code: 0, charged: false, tokenHash: r.hash, walletId: r.walletId, counter: r.counter, amount: r.amount, currency: r.currency, seq: r.seq };
    }
    if (r.status === 'voided') return rejectedR('already_voided', `token was voided (journal entry ${r.seq} accepted it)`, r.hash);
    if (r.status === 'completed') return rejectedR('replayed', `token already accepted and completed (journal entry ${r.seq})`, r.hash);
    return rejectedR('replayed', `counter ${r.counter} was already used by another token (evidence in journal entry ${r.seq})`, r.hash);
  }

  private append(tx: ReaderTx, kind: JournalKindName, time: number, data: Uint8Array, value: number): JournalRow {
    const head = tx.head();
    const entry: JournalEntry = { seq: (head?.seq ?? 0) + 1, kind, time, data, value };
    const entryBytes = encodeEntry(entry);
    const row: JournalRow = { seq: entry.seq, bytes: entryBytes, hash: chainHash(head?.hash ?? this.genesis, entryBytes) };
    tx.append(row);
    return row;
  }

  private limitsFor(currency: number): CurrencyLimits | undefined {
    const l = this.limits[currency];
    if (l) return l;
    return this.acceptUnlisted ? {} : undefined;
  }

  private decide(tx: ReaderTx, bytes: Uint8Array, hash: Uint8Array, t: PaymentToken, walletId: Uint8Array, currency: number, ctx: AcceptContext, now: number): ReaderVerdict {
    const prior = tx.getToken(hash);
    if (prior) return this.priorVerdict(prior);
    const day = dayOf(now);
    const certId = certIdOf(t);
    const base: Omit<TokenRecord, 'status' | 'seq'> = { hash, walletId, counter: t.counter, amount: t.amount, currency, day, certId, acceptedAt: now, trip: ctx.tapIn !== undefined };
    // 2. anti-replay window
    const win = tx.getWindow(walletId);
    const w = checkWindow(win, t.counter, this.window);
    if (w === 'replayed') {
      const row = this.append(tx, 'conflict', now, bytes, READER_REASONS.replayed.code);
      tx.putToken({ ...base, status: 'conflict', seq: row.seq });
      return rejectedR('replayed', `counter ${t.counter} was already accepted from this wallet with other token bytes (recorded as evidence, journal entry ${row.seq})`, hash, t, row.seq);
    }
    if (w === 'stale') return rejectedR('stale', `counter ${t.counter} is below the window (highest ${win!.high}, window ${this.window})`, hash, t);
    // 2a. a request is paid once: a second token for it (another wallet, or the same wallet again) is refused
    const paid = ctx.request ? (tx.getMeta(META_PAID_REQUESTS) ?? new Uint8Array(0)) : undefined;
    if (ctx.request && paid && ringHas(paid, ctx.request.challenge)) {
      return rejectedR('request_already_paid', `request ${toHex(ctx.request.challenge)} was already paid; the machine must issue a new request for another sale`, hash, t);
    }
    // 3. blocklist
    if (this.blocklist?.index.has(walletId)) return rejectedR('blocklisted', `wallet ${toHex(walletId)} is on blocklist version ${this.blocklist.list.version}`, hash, t);
    // 4. limits
    const lim = this.limitsFor(currency);
    if (!lim) return rejectedR('currency_not_accepted', `currency ${currency} is not accepted by this reader`, hash, t);
    if (lim.minAmount !== undefined && t.amount < lim.minAmount) return rejectedR('below_minimum', `amount ${t.amount} is below the minimum ${lim.minAmount}`, hash, t);
    if (lim.maxAmount !== undefined && t.amount > lim.maxAmount) return rejectedR('above_maximum', `amount ${t.amount} is above the maximum ${lim.maxAmount}`, hash, t);
    // 5. blocklist freshness
    const bs = this.blocklistStatus(now);
    if (bs.stale) {
      const why = bs.loaded ? `the blocklist (version ${bs.version}) is ${bs.ageSeconds} s old, more than ${this.profile.blocklistMaxAgeSeconds} s` : 'no blocklist has been loaded';
      if (this.profile.whenBlocklistStale === 'refuse') return rejectedR('blocklist_stale', why, hash, t);
      const cap = lim.staleMaxAmount ?? 0;
      if (t.amount > cap) return rejectedR('stale_limit', `${why}; the reduced limit is ${cap}`, hash, t);
    }
    // 6. offline allowance under this certificate, at this reader
    const certKey = `c:${toHex(walletId)}:${toHex(certId)}`;
    const spent = tx.getTotal(certKey);
    if (spent + t.amount > t.walletCert.offlineAllowance) {
      return rejectedR('allowance_exhausted', `${spent} already taken from this wallet under this certificate; ${t.amount} more exceeds the allowance ${t.walletCert.offlineAllowance}`, hash, t);
    }
    // 7. daily total at this reader
    const dayKey = `d:${toHex(walletId)}:${day}:${currency}`;
    const today = tx.getTotal(dayKey);
    if (lim.dailyTotal !== undefined && today + t.amount > lim.dailyTotal) {
      return rejectedR('daily_limit', `${today} already taken today; ${t.amount} more exceeds the daily limit ${lim.dailyTotal}`, hash, t);
    }
    // commit
    tx.putWindow(walletId, advanceWindow(win, t.counter, this.window));
    tx.putTotal(certKey, spent + t.amount);
    tx.putTotal(dayKey, today + t.amount);
    if (ctx.request && paid) tx.putMeta(META_PAID_REQUESTS, ringAdd(paid, ctx.request.challenge));
    const row = this.append(tx, ctx.tapIn ? 'tap_in' : 'accept', now, bytes, t.amount);
    tx.putToken({ ...base, status: ctx.complete ? 'completed' : 'pending', seq: row.seq });
    return { accepted: true, status: 'accepted', reason: 'ok', code: 0, charged: true, tokenHash: hash, walletId, counter: t.counter, amount: t.amount, currency, seq: row.seq, token: t };
  }

  /** Mark a pending sale complete (goods dispensed, gate passed). Returns false if there is no pending sale. */
  complete(hash: Uint8Array): boolean {
    return this.store.transact((tx) => {
      const r = tx.getToken(hash);
      if (!r || r.status !== 'pending') return false;
      tx.putToken({ ...r, status: 'completed' });
      return true;
    });
  }

  /** Void a pending sale within the void window: the amount is given back and the token can never be used again. */
  void(hash: Uint8Array, now: number = this.clock()): VoidResult {
    return this.store.transact((tx): VoidResult => {
      const r = tx.getToken(hash);
      const no = (reason: ReaderReason, message: string): VoidResult => ({ ok: false, reason, code: READER_REASONS[reason].code, message });
      if (!r || r.status === 'conflict') return no('unknown_token', `no sale with token hash ${toHex(hash)}`);
      if (r.status === 'voided') return no('already_voided', 'the sale was already voided');
      if (r.status === 'completed') return no('already_completed', 'the sale was completed');
      if (now - r.acceptedAt > this.profile.voidWindowSeconds) {
        return no('void_window_passed', `accepted at ${r.acceptedAt}; the void window of ${this.profile.voidWindowSeconds} s has passed`);
      }
      const certKey = `c:${toHex(r.walletId)}:${toHex(r.certId)}`;
      const dayKey = `d:${toHex(r.walletId)}:${r.day}:${r.currency}`;
      tx.putTotal(certKey, Math.max(0, tx.getTotal(certKey) - r.amount));
      tx.putTotal(dayKey, Math.max(0, tx.getTotal(dayKey) - r.amount));
      const row = this.append(tx, 'void', now, hash, r.amount);
      tx.putToken({ ...r, status: 'voided' });
      return { ok: true, tokenHash: hash, amount: r.amount, currency: r.currency, seq: row.seq };
    });
  }

  /**
   * Transit tap-out: record the fare for a trip whose tap-in token the wallet presents again (at this or any
   * gate of the operator). Clearing settles the trip at this fare instead of the authorised maximum.
   */
  async tapOut(bytes: Uint8Array, p: { fare: number; now?: number }): Promise<ReaderVerdict> {
    if (this.cert.profile !== 'transit') throw new OffpayError('reader.bad_context', 'tap-out is for transit readers');
    if (!Number.isSafeInteger(p.fare) || p.fare < 0) throw new OffpayError('reader.bad_context', 'the fare is a non-negative integer of minor units');
    const now = p.now ?? this.clock();
    const hash = tokenHash(bytes);
    const vctx: VerifyContext = { issuerKeys: this.issuerKeys, now, payees: this.payees, maxAgeSeconds: this.profile.maxTripSeconds, maxFutureSeconds: this.profile.maxFutureSeconds };
    const v = this.syncVerifier ? verifyToken(bytes, vctx, this.syncVerifier) : await verifyTokenAsync(bytes, vctx, this.verifier);
    if (!v.accepted) return { accepted: false, status: 'rejected', reason: v.reason, code: v.code, message: v.message, tokenHash: hash, token: v.token };
    const t = v.token;
    if (p.fare > t.amount) return rejectedR('fare_exceeds_authorisation', `fare ${p.fare} exceeds the authorised ${t.amount}`, hash, t);
    return this.store.transact((tx): ReaderVerdict => {
      const local = tx.getToken(hash);
      if (local && !local.trip) return rejectedR('not_a_trip', 'this token was taken as a fixed fare, not a tap-in', hash, t);
      const key = `tapout:${toHex(hash)}`;
      if (tx.getMeta(key)) return rejectedR('already_tapped_out', 'a tap-out is already recorded for this token', hash, t);
      const row = this.append(tx, 'tap_out', now, bytes, p.fare);
      tx.putMeta(key, u(row.seq));
      if (local) tx.putToken({ ...local, status: 'completed' });
      return { accepted: true, status: 'tapped_out', reason: 'ok', code: 0, charged: false, tokenHash: hash, walletId: v.walletId, counter: t.counter, amount: p.fare, currency: v.currency, seq: row.seq, token: t };
    });
  }

  /** Load a signed blocklist (must be newer than the one held). Throws OffpayError `blocklist.*`. */
  loadBlocklist(bytes: Uint8Array): BlocklistStatus {
    const list = verifyBlocklist(bytes, this.issuerKeys, this.syncVerifier ?? nobleEd25519);
    this.store.transact((tx) => {
      const held = tx.getMeta(META_BLOCKLIST);
      if (held) {
        const heldVersion = this.blocklist?.list.version ?? verifyBlocklist(held, this.issuerKeys, this.syncVerifier ?? nobleEd25519).version;
        if (list.version <= heldVersion) throw new OffpayError('blocklist.old_version', `blocklist version ${list.version} is not newer than the version ${heldVersion} held`);
      }
      tx.putMeta(META_BLOCKLIST, bytes);
    });
    this.blocklist = { list, index: new BlocklistIndex(list.entries) };
    return this.blocklistStatus(this.clock());
  }

  blocklistStatus(now: number = this.clock()): BlocklistStatus {
    const b = this.blocklist?.list;
    if (!b) return { loaded: false, version: 0, issuedAt: 0, count: 0, ageSeconds: Number.POSITIVE_INFINITY, stale: true };
    const age = now - b.issuedAt;
    return { loaded: true, version: b.version, issuedAt: b.issuedAt, count: b.entries.length / 16, ageSeconds: age, stale: age > this.profile.blocklistMaxAgeSeconds };
  }

  isBlocklisted(walletId: Uint8Array): boolean {
    return this.blocklist?.index.has(walletId) ?? false;
  }

  /** A reader-signed receipt for a verdict (for transports with a back channel). */
  receipt(v: ReaderVerdict, now: number = this.clock()): Uint8Array {
    return createReceipt(
      { secretKey: this.secretKey },
      { readerId: this.cert.readerId, tokenHash: v.tokenHash, outcome: v.accepted ? 'accepted' : 'rejected', reason: v.code, time: now },
    ).bytes;
  }

  /** A receipt saying a sale was voided. */
  voidReceipt(hash: Uint8Array, now: number = this.clock()): Uint8Array {
    return createReceipt({ secretKey: this.secretKey }, { readerId: this.cert.readerId, tokenHash: hash, outcome: 'voided', reason: 0, time: now }).bytes;
  }

  /** The chain head: last sequence number and hash (the genesis hash for an empty journal). */
  head(): { seq: number; hash: Uint8Array } {
    const h = this.store.transact((tx) => tx.head());
    return h ? { seq: h.seq, hash: h.hash } : { seq: 0, hash: this.genesis };
  }

  /** Recompute the whole chain from the genesis hash. */
  verifyJournal(): ChainCheck {
    const rows = this.store.journal(1);
    const c = verifyChain(rows, { seq: 0, hash: this.genesis });
    return c;
  }

  /** Decoded journal entries from `fromSeq`. */
  entries(fromSeq = 1, toSeq?: number): JournalEntry[] {
    return this.store.journal(fromSeq, toSeq).map((r) => decodeEntry(r.bytes));
  }

  /**
   * Export the next settlement batch: every journal entry after the last exported one, reader-signed.
   * The store records the batch so that `exportBatch(n)` re-creates it byte for byte.
   */
  export(now: number = this.clock()): ExportResult {
    const info = this.store.transact((tx) => {
      const last = fromU(tx.getMeta(META_EXPORT_LAST));
      const batchSeq = fromU(tx.getMeta(META_EXPORT_BATCH)) + 1;
      const headSeq = tx.head()?.seq ?? 0;
      tx.putMeta(META_EXPORT_LAST, u(headSeq));
      tx.putMeta(META_EXPORT_BATCH, u(batchSeq));
      tx.putMeta(`batch:${batchSeq}`, encodeCbor([last + 1, headSeq, now]));
      return { batchSeq, first: last + 1, last: headSeq, createdAt: now };
    });
    return this.buildBatch(info);
  }

  /** Re-create an earlier batch (after a lost upload). Throws `reader.unknown_batch`. */
  exportBatch(batchSeq: number): ExportResult {
    const raw = this.store.transact((tx) => tx.getMeta(`batch:${batchSeq}`));
    if (!raw) throw new OffpayError('reader.unknown_batch', `no batch ${batchSeq} was exported`);
    const a = decodeBatchMeta(raw);
    return this.buildBatch({ batchSeq, first: a[0], last: a[1], createdAt: a[2] });
  }

  /** Batches exported so far. */
  exportedBatches(): number {
    return this.store.transact((tx) => fromU(tx.getMeta(META_EXPORT_BATCH)));
  }

  private buildBatch(i: { batchSeq: number; first: number; last: number; createdAt: number }): ExportResult {
    const rows = i.last >= i.first ? this.store.journal(i.first, i.last) : [];
    const prevHead = i.first <= 1 ? this.genesis : (this.store.journal(i.first - 1, i.first - 1)[0]?.hash ?? this.genesis);
    const head = rows.length ? rows[rows.length - 1]!.hash : prevHead;
    return createBatch(
      { secretKey: this.secretKey },
      { readerCert: this.cert, batchSeq: i.batchSeq, firstSeq: i.first, prevHead, head, entries: rows.map((r) => decodeEntry(r.bytes)), createdAt: i.createdAt },
    );
  }
}

function decodeBatchMeta(raw: Uint8Array): [number, number, number] {
  // [first, last, createdAt] as written by export().
  const v = decodeCbor(raw);
  if (!Array.isArray(v) || v.length !== 3 || !v.every((x) => typeof x === 'number')) throw new OffpayError('reader.corrupt_store', 'bad batch record');
  return v as [number, number, number];
}

