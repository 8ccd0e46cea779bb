/**
 * The reader verifier: stateless checks (src/verify.ts), then the stateful checks of spec/reader.md §2, in
 * this order (the first that fails gives the verdict):
 *
 *   0. a token this reader already holds (same bytes): resume a pending sale only within the resume window
 *      and while its request is still the open one; otherwise already_accepted / replayed / already_voided
 *   1. the open request (a vending reader, or any reader given a request): request_not_open, once the bytes
 *      have passed the structure checks (parse, shape, version, fields: spec/protocol.md §5 steps 1-3), so a
 *      truncated or garbled token says malformed (or its structural reason) whether a request is open or not
 *   2. stateless verification with the reader's context (profile, open request or fare, payee binding)
 *   3. anti-replay window per wallet (window.ts): replayed / stale
 *   4. the open request already paid by another token: request_already_paid
 *   5. blocklist: blocklisted
 *   6. limits per currency: currency_not_accepted, below_minimum, above_maximum
 *   7. blocklist freshness: blocklist_stale (refuse) or stale_limit (reduce)
 *   8. the certificate's offline allowance, cumulative at this reader: allowance_exhausted
 *   9. the wallet's daily total at this reader: daily_limit
 *
 * Steps 0 and 3-9 run inside one store transaction with the writes they imply (window, totals, open request
 * paid, token record, journal entry), so the verdict is durable before `accept` returns. The money
 * invariants these steps hold are listed in spec/reader.md §Money invariants.
 */
import { decodeCbor, encodeCbor } from '../cbor.js';
import { nobleEd25519, publicKeyOf, type AsyncVerifier, type SyncVerifier } from '../crypto.js';
import { equalBytes } from '../../base/bytes.js';
import { toHex } from '../../base/hex.js';
import { OffpayError } from '../../base/errors.js';
import { formatMoney } from '../currency.js';
import { dayOf } from '../issuer.js';
import { CHALLENGE_BYTES, decodeRequest, decodeToken, readerCertSigningInput, readerCertToCbor, tokenHash, type IssuerKeySet, type PaymentRequest, type PaymentToken, type ReaderCert, type WireToken } from '../messages.js';
import { encodePaymentCode, paymentCodeChallenge } from '../paycode.js';
import { createReceipt, createRequest } from '../request.js';
import { REASONS } from '../reasons.js';
import { reasonForDecodeError, verifyToken, verifyTokenAsync, type VerifyContext } from '../verify.js';
import { createBatch, type SettlementBatch } from './batch.js';
import { decodeExit, exitProblem, exitSigningInput, looksLikeExit, type Exit } from '../exit.js';
import { BlocklistIndex, decodeBlocklist, verifyBlocklist, type Blocklist } from './blocklist.js';
import { chainHash, decodeEntry, encodeEntry, genesisHash, JOURNAL_ID_BYTES, verifyChain, type ChainCheck, type JournalEntry, type JournalKindName, type JournalRow } from './journal.js';
import { checkClearingBounds, checkExitWindow, effectiveExitMaxAge, validateLimits, validateProfileOverrides, validateWindow, WINDOW_RANGE } from './policy.js';
import { validateOptions, type OptionsSchema } from '../../base/options.js';
import { READER_PROFILES, type CurrencyLimits, type ReaderProfileParams } from './profiles.js';
import { READER_REASONS, type AnyReason, type ReaderReason } from './reasons.js';
import type { ReaderStore, ReaderTx, TokenRecord } from './store.js';
import { cachingVerifier } from './verifier.js';
import { advanceWindow, checkWindow, DEFAULT_WINDOW } from './window.js';

/**
 * Options of {@link Reader}, validated once by its constructor (a bad field throws `reader.bad_config` naming it;
 * a key that does not match the certificate `reader.key_mismatch`; a certificate not signed by a key of
 * `issuerKeys` `reader.bad_cert`; a store of another reader `reader.wrong_store`). Normative: spec/reader.md §14.
 */
export interface ReaderOptions {
  /** The reader certificate issued by `Issuer.issueReaderCert` (`offpay`): reader id, operator, profile, validity. */
  cert: ReaderCert;
  /** The reader's Ed25519 secret key (32 bytes); its public key must be the one in `cert`. */
  secretKey: Uint8Array;
  /** The issuer keys the reader trusts (wallet certificates, its own certificate, blocklists). */
  issuerKeys: IssuerKeySet;
  /** Where the reader keeps its state: {@link MemoryReaderStore}, or `SqliteReaderStore` from `offpay/node`. */
  store: ReaderStore;
  /** Ed25519 backend (default noble; on Node pass nodeEd25519() from offpay/node, ~15x faster). */
  verifier?: SyncVerifier;
  /** An asynchronous backend instead (e.g. webCryptoEd25519() in a browser); takes precedence over `verifier`. */
  asyncVerifier?: AsyncVerifier;
  /** Overrides of the profile row named by the reader certificate. */
  profile?: Partial<Omit<ReaderProfileParams, 'name'>>;
  /** Limits per ISO 4217 numeric currency. */
  limits?: Record<number, CurrencyLimits>;
  /** Accept currencies not listed in `limits` (with no reader limits). Default true. */
  acceptUnlistedCurrencies?: boolean;
  /** Anti-replay window size W in counters (multiple of 8, 8..4096; default 128). */
  window?: number;
  /** Reader clock, unix seconds. */
  clock?: () => number;
  /**
   * The journal id to give a NEW store (JOURNAL_ID_BYTES bytes; default random). Ignored for a store that
   * already holds a journal. Fixed only for reproducible vectors (fixtures/scenarios).
   */
  journalId?: Uint8Array;
}

/**
 * The schema of {@link ReaderOptions}, validated first by the {@link Reader} constructor (`reader.bad_config`
 * naming the option); `profile`, `limits` and `window` are then checked field by field against the reader
 * configuration schema of spec/reader.md §14 (policy.ts).
 */
export const READER_OPTIONS_SCHEMA: OptionsSchema = {
  cert: {
    type: 'object', required: true, fields: {
      keyIndex: { type: 'integer', min: 0, required: true },
      readerId: { type: 'integer', min: 0, required: true },
      readerPublicKey: { type: 'bytes', minLength: 32, maxLength: 32, required: true },
      operatorId: { type: 'integer', min: 0, required: true },
      profile: { type: 'enum', values: Object.keys(READER_PROFILES), required: true },
      notBefore: { type: 'integer', required: true },
      notAfter: { type: 'integer', required: true },
      issuerSignature: { type: 'bytes', minLength: 64, maxLength: 64, required: true },
    },
  },
  secretKey: { type: 'bytes', minLength: 32, maxLength: 32, required: true },
  issuerKeys: {
    type: 'object', required: true, fields: {
      issuerId: { type: 'integer', min: 0, required: true },
      keys: {
        type: 'array', required: true, maxLength: 256, items: {
          type: 'object', fields: {
            keyIndex: { type: 'integer', min: 0, required: true },
            publicKey: { type: 'bytes', minLength: 32, maxLength: 32, required: true },
          },
        },
      },
    },
  },
  store: { type: 'object', required: true, methods: ['transact', 'journal', 'close'] },
  verifier: { type: 'object', methods: ['verify'] },
  asyncVerifier: { type: 'object', methods: ['verify'] },
  profile: { type: 'object' },
  limits: { type: 'object' },
  acceptUnlistedCurrencies: { type: 'boolean' },
  window: { type: 'integer', min: WINDOW_RANGE.min, max: WINDOW_RANGE.max, unit: 'counters' },
  clock: { type: 'function' },
  journalId: { type: 'bytes', minLength: JOURNAL_ID_BYTES, maxLength: JOURNAL_ID_BYTES },
};

/** The payment request open at this reader: the one price a token may pay now (spec/reader.md §2 step 1). */
export interface OpenRequest {
  /** The decoded signed request. */
  request: PaymentRequest;
  /** The signed request bytes (what the machine shows). */
  bytes: Uint8Array;
  /** The token that paid it, once one did (the sale is then pending until completed or voided). */
  paidBy?: Uint8Array;
  /**
   * Present iff the request was opened as a payment code (`openRequest({ code: true })`): its 20 digits. A
   * token answering it signs PAYMENT_CODE_SIGNED_TIME, not the request's time (spec/protocol.md §4.3, rule P).
   */
  paymentCode?: string;
}

/** Which request a verdict concerns (for the CLI line and --json). */
export interface RequestRef {
  /** The request's 8-byte challenge. */
  challenge: Uint8Array;
  /** The price, minor units. */
  amount: number;
  /** ISO 4217 numeric currency code. */
  currency: number;
}

/** What the reader is waiting for when a token arrives. */
export interface AcceptContext {
  /** Reader time (default: the reader clock). */
  now?: number;
  /**
   * The payment request the caller believes is open. The reader judges a request-answering token against its
   * OWN open request (openRequest); if this is given it must be that request, or the token is refused.
   */
  request?: PaymentRequest | {
    /** The price, minor units. */
    amount: number;
    /** ISO 4217 numeric currency code. */
    currency: number;
    /** The request's 8-byte challenge. */
    challenge: Uint8Array;
    /** The request's time, unix seconds. */
    time: number;
  };
  /** Transit: a fixed fare (one-way token, payee = reader or operator). */
  fare?: {
    /** The fare, minor units (0 only with the profile's allowZeroFare). */
    amount: number;
    /** ISO 4217 numeric currency code (1..999). */
    currency: number;
  };
  /** Transit: tap-in with a maximum-fare authorisation; settled at the tap-out fare, or this amount. */
  tapIn?: {
    /** The largest fare the trip may cost, minor units (charged if no tap-out arrives). */
    maxFare: number;
    /** ISO 4217 numeric currency code (1..999). */
    currency: number;
  };
  /** Mark the sale complete in the same transaction (nothing left to dispense). Default false. */
  complete?: boolean;
}

/**
 * How an accepted token was accepted: `accepted` (charged now), `resumed` (the same token again within the
 * resume window: not charged twice), `tapped_out` (a transit tap-out settled at its fare).
 */
export type AcceptStatus = 'accepted' | 'resumed' | 'tapped_out';

/**
 * A token the {@link Reader} accepted (spec/reader.md §2). `code` 0, `reason` `ok`; the sale is pending until
 * {@link Reader.complete} or {@link Reader.void}.
 */
export interface ReaderAccepted {
  /** Always true. */
  accepted: true;
  /** 'accepted': charged now; 'resumed': the same token was already committed and is not charged again. */
  status: AcceptStatus;
  /** Always `ok`. */
  reason: 'ok';
  /** Always 0. */
  code: 0;
  /** True when this verdict charged the wallet (false for a resumed token). */
  charged: boolean;
  /** SHA-256 of the token bytes (32 bytes): the token's id in the journal, batches and clearing. */
  tokenHash: Uint8Array;
  /** The paying wallet's id (16 bytes, from its certificate). */
  walletId: Uint8Array;
  /** The wallet counter the token carries (unique per wallet; the replay window is over it). */
  counter: number;
  /** Amount charged (for a tap-in, the authorised maximum; for a tap-out, the fare). */
  amount: number;
  /** ISO 4217 numeric currency code of `amount` (e.g. 344 = HKD). */
  currency: number;
  /** Journal entry that recorded the sale. */
  seq: number;
  /** The request this token paid (vending). */
  request?: RequestRef;
  /** The decoded token. */
  token?: PaymentToken;
}

/**
 * A token the {@link Reader} refused: `reason` and `code` are a row of `READER_REASONS` (reader reasons 32-63,
 * spec/reader.md §12) or of `REASONS` (stateless reasons, spec/protocol.md §7); `message` is for people.
 */
export interface ReaderRejected {
  /** Always false. */
  accepted: false;
  /** Always `rejected`. */
  status: 'rejected';
  /** The stable reason name (e.g. `replayed`, `wrong_payee`). */
  reason: AnyReason;
  /** The numeric reason code of `reason` (stateless 1-31, reader 32-63). */
  code: number;
  /** A human-readable explanation; not stable, do not parse it. */
  message: string;
  /** SHA-256 of the token bytes (32 bytes), even for a token that does not decode. */
  tokenHash: Uint8Array;
  /** The token: whole when it was bound to a request or is one-way, else as its bytes carry it. */
  token?: PaymentToken | WireToken | undefined;
  /** Journal entry when the rejection was recorded as evidence (a conflicting token). */
  seq?: number;
}

/** The verdict of {@link Reader.accept} and {@link Reader.tapOut}: a value, never an exception. */
export type ReaderVerdict = ReaderAccepted | ReaderRejected;

/**
 * The result of {@link Reader.void}: the voided sale (amount released back to the wallet's totals, journal `seq`),
 * or a reader reason (`unknown_token`, `already_voided`, `already_completed`, `void_window_passed`; spec/reader.md §6).
 */
export type VoidResult =
  | {
      /** The sale was voided. */
      ok: true;
      /** SHA-256 of the voided token's bytes. */
      tokenHash: Uint8Array;
      /** The amount refunded, minor units. */
      amount: number;
      /** ISO 4217 numeric currency code. */
      currency: number;
      /** Sequence number of the void's journal entry. */
      seq: number;
    }
  | {
      /** The sale was not voided. */
      ok: false;
      /** Why not (`unknown_token`, `void_window_passed`, `already_voided`, `already_completed`). */
      reason: ReaderReason;
      /** The reason's number (spec/reader.md §12). */
      code: number;
      /** A sentence for people. */
      message: string;
    };

/**
 * The blocklist a {@link Reader} holds (spec/reader.md §5): its version, issue time (unix seconds), entry count,
 * age in seconds at the reader clock, and whether it is stale for the reader's profile.
 */
export interface BlocklistStatus {
  /** False when no blocklist was ever loaded (then `stale` is true). */
  loaded: boolean;
  /** The list version (monotonic; a reader refuses to load an older one). */
  version: number;
  /** When clearing signed the list, unix seconds. */
  issuedAt: number;
  /** Number of blocked wallet ids. */
  count: number;
  /** Reader time minus `issuedAt`, seconds (negative when the list is dated in the future). */
  ageSeconds: number;
  /**
   * True when the profile's `blocklistMaxAgeSeconds` is exceeded (or no list, or an untrusted key): a vending
   * reader then refuses with `blocklist_stale`, a transit reader caps at `staleMaxAmount` (`stale_limit`).
   */
  stale: boolean;
  /** Why the list is stale (none loaded, too old, dated in the future, signed by a key no longer trusted). */
  staleReason?: string;
}

/** A settlement batch from {@link Reader.export}: the decoded batch and its signed CBOR bytes (spec/reader.md §10). */
export interface ExportResult {
  /** The (first) batch exported. */
  batch: SettlementBatch;
  /** The reader-signed batch bytes, as sent to clearing. */
  bytes: Uint8Array;
  /**
   * Every batch this export made, in order (`export` cuts a long backlog into several, spec/reader.md §10); one
   * element for `exportBatch` and for a backlog within the limits.
   */
  batches: {
    /** The batch. */
    batch: SettlementBatch;
    /** Its reader-signed bytes. */
    bytes: Uint8Array;
  }[];
}

/**
 * Largest batch `export` makes: clearing's default limits (spec/clearing.md §3), 8 MiB of encoding and 65,536
 * entries. A caller may ask for smaller batches (never larger).
 */
export const EXPORT_MAX_BATCH_BYTES = 8 * 1024 * 1024;
/** The most journal entries one exported batch carries (clearing's limit, spec/clearing.md §3). */
export const EXPORT_MAX_BATCH_ENTRIES = 65_536;

/**
 * Cut a backlog of entries (their encoded sizes, in seq order) into consecutive runs, greedily: each run holds
 * as many entries as fit `overhead + sum(sizes) <= maxBytes` and `count <= maxEntries`, and at least one entry.
 * Returns the run lengths (none for an empty backlog). `overhead` is an upper bound of a batch's bytes besides
 * its entries.
 */
export function cutBacklog(sizes: readonly number[], overhead: number, maxBytes: number, maxEntries: number): number[] {
  const runs: number[] = [];
  let n = 0;
  let bytes = overhead;
  for (const size of sizes) {
    if (n > 0 && (n >= maxEntries || bytes + size > maxBytes)) {
      runs.push(n);
      n = 0;
      bytes = overhead;
    }
    n++;
    bytes += size;
  }
  if (n > 0) runs.push(n);
  return runs;
}

/**
 * The stateless reason of bytes that fail the structure checks of spec/protocol.md §5 steps 1-3 (parse, shape,
 * type, version, fields; no key or signature involved), or undefined when they are a well-formed token.
 */
function structureRejection(bytes: Uint8Array, hash: Uint8Array): ReaderRejected | undefined {
  try {
    decodeToken(bytes);
    return undefined;
  } catch (e) {
    const { reason, message } = reasonForDecodeError(e);
    return { accepted: false, status: 'rejected', reason, code: REASONS[reason].code, message, tokenHash: hash };
  }
}

function rejectedR(reason: ReaderReason, message: string, hash: Uint8Array, token?: PaymentToken | WireToken, seq?: number): ReaderRejected {
  return { accepted: false, status: 'rejected', reason, code: READER_REASONS[reason].code, message, tokenHash: hash, token, ...(seq !== undefined ? { seq } : {}) };
}

const META_BLOCKLIST = 'blocklist';
/**
 * The version of the stored blocklist (a small value beside the list's bytes): each decision compares it with the
 * list held in memory, so a list another process loaded into the same database (reader load-blocklist or sync
 * while reader listen runs) takes effect at the next decision, without reading the list's bytes every time.
 */
const META_BLOCKLIST_VERSION = 'blocklist.version';
/** The open request: CBOR [request bytes, token hash that paid it or empty]; an empty value = none open. */
const META_OPEN_REQUEST = 'request.open';
const META_READER_ID = 'reader.id';
const META_JOURNAL_ID = 'journal.id';
const META_EXPORT_LAST = 'export.last';
const META_EXPORT_BATCH = 'export.batch';
/** How many batches clearing last said it holds of this journal (`reader sync`, spec/reader.md §9.3). */
const META_DELIVERED = 'sync.delivered';
/**
 * The meta key of a tap-out recorded here: `tapout:` + the token hash in hex. Its value is CBOR [journal seq, time]
 * (before pruning came, spec/reader.md §9.3: the seq alone, which a prune keeps).
 */
const TAP_OUT_PREFIX = 'tapout:';
const tapOutKey = (hash: Uint8Array): string => `${TAP_OUT_PREFIX}${toHex(hash)}`;
/** Read a tap-out record: [seq, time], or a seq alone (written before pruning came). */
function readTapOut(b: Uint8Array): { seq: number; time?: number } {
  let v: unknown;
  try {
    v = decodeCbor(b);
  } catch (e) {
    throw new OffpayError('reader.corrupt_store', `a stored tap-out record does not decode: ${(e as Error).message}`);
  }
  if (typeof v === 'number') return { seq: v };
  if (Array.isArray(v) && v.length === 2 && typeof v[0] === 'number' && typeof v[1] === 'number') return { seq: v[0], time: v[1] };
  throw new OffpayError('reader.corrupt_store', 'a stored tap-out record is not [seq, time]');
}
/** The totals key prefix of the daily totals, `d:` + wallet id hex + `:` + day + `:` + currency (§4). */
const DAY_TOTAL_PREFIX = 'd:';
/** The day of a daily-total key, or undefined for a key that is not one (kept). */
function dayOfTotalKey(key: string): number | undefined {
  const parts = key.split(':');
  if (parts.length !== 4) return undefined;
  const d = Number(parts[2]);
  return Number.isSafeInteger(d) ? d : undefined;
}

/** Default of {@link PruneOptions.retainSeconds}: 7 days, or the minimum of the profile when that is longer. */
export const PRUNE_DEFAULT_RETAIN_SECONDS = 7 * 86_400;
/** The clock error a prune allows for (one day): a reader clock set back by less cannot meet a forgotten token young. */
export const PRUNE_CLOCK_MARGIN_SECONDS = 86_400;

/**
 * The shortest `retainSeconds` a prune takes with this profile (spec/reader.md §9.3): a token whose record is older
 * fails every age check the reader makes (as a payment, a one-way token, a tap-out) by a day, and its void and resume
 * windows have ended.
 */
export function pruneRetainMinimum(p: Pick<ReaderProfileParams, 'maxFutureSeconds' | 'maxAgeSeconds' | 'oneWayMaxAgeSeconds' | 'maxTripSeconds' | 'voidWindowSeconds' | 'resumeWindowSeconds'>): number {
  return p.maxFutureSeconds + Math.max(p.maxAgeSeconds, p.oneWayMaxAgeSeconds, p.maxTripSeconds, p.voidWindowSeconds, p.resumeWindowSeconds) + PRUNE_CLOCK_MARGIN_SECONDS;
}

/** Options of {@link Reader.prune}. */
export interface PruneOptions {
  /** The reader clock, unix seconds (default the reader's clock). */
  now?: number;
  /**
   * Keep token records, daily totals and tap-out records this many seconds (default
   * {@link PRUNE_DEFAULT_RETAIN_SECONDS}); at least {@link pruneRetainMinimum} of the profile (`reader.bad_config`).
   */
  retainSeconds?: number;
  /**
   * Batches 1..n of this journal that clearing holds: their journal rows are deleted, but for the last one. Default:
   * what the last `reader sync` heard from clearing (0 if none). At most the batches exported (`reader.bad_config`).
   */
  deliveredBatches?: number;
}

/** What {@link Reader.prune} did. */
export interface PruneResult {
  /** The retention applied, seconds. */
  retainSeconds: number;
  /** The time before which records were forgotten (now - retainSeconds). */
  cutoff: number;
  /** The batches counted as delivered (their rows, but the last, deleted). */
  deliveredBatches: number;
  /** Journal rows before this seq are gone (the last row of batch `deliveredBatches`; 0: none). */
  journalBefore: number;
  /** Journal rows deleted. */
  journal: number;
  /** Token records deleted. */
  tokens: number;
  /** Daily totals deleted. */
  totals: number;
  /** Tap-out records deleted. */
  tapOuts: number;
}

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

function sameRequest(a: { amount: number; currency: number; challenge: Uint8Array; time: number }, b: PaymentRequest): boolean {
  return a.amount === b.amount && a.currency === b.currency && a.time === b.time && equalBytes(a.challenge, b.challenge);
}

/** The stored open request (readOpen reads it): [request bytes, paid-by hash or empty], with a third element 1 for a payment code. */
function openRecord(bytes: Uint8Array, paidBy: Uint8Array | undefined, code: boolean): Uint8Array {
  return encodeCbor(code ? [bytes, paidBy ?? new Uint8Array(0), 1] : [bytes, paidBy ?? new Uint8Array(0)]);
}

function randomJournalId(): Uint8Array {
  const id = new Uint8Array(JOURNAL_ID_BYTES);
  globalThis.crypto.getRandomValues(id);
  return id;
}

/**
 * A reader time is an integer of unix seconds, 0 or more (spec/reader.md §1): anything else is `reader.bad_context`, before any
 * state is read. A numeric string passed the certificate check (compared as a number), was committed as a journal
 * time no decoder reads (every later export failed) and made `now + maxFutureSeconds` a string concatenation; a
 * fraction (Date.now() / 1000) failed later with an encoder's code (reader attack review, 2026-12-07).
 */
function checkNow(now: unknown): asserts now is number {
  if (typeof now !== 'number' || !Number.isSafeInteger(now) || now < 0) {
    throw new OffpayError('reader.bad_context', `the reader time must be an integer of unix seconds, not ${typeof now === 'number' ? now : JSON.stringify(now)?.slice(0, 40) ?? typeof now}`);
  }
}

/**
 * The stateful reader verifier: the stateless checks of {@link verifyToken}, then the anti-replay window, open
 * request, blocklist, limits and allowances of spec/reader.md §2 (normative), each verdict committed to the
 * store (journal entry included) before {@link Reader.accept} resolves.
 *
 * Construction validates the options (see {@link ReaderOptions} for the error codes). Methods throw an
 * `OffpayError` only for misuse (`reader.bad_context`, `reader.bad_input`, `reader.cert_not_valid`) or a
 * damaged store (`reader.corrupt_store`); a refused token is a {@link ReaderRejected} value.
 *
 * @example
 * ```ts
 * import { Reader, MemoryReaderStore } from 'offpay/reader';
 * const reader = new Reader({ cert, secretKey, issuerKeys: issuer.keySet(), store: new MemoryReaderStore() });
 * reader.loadBlocklist(listBytes);                       // a vending reader needs a fresh blocklist
 * const { bytes } = reader.openRequest({ amount: 1250, currency: 344 });   // show these bytes (QR, sound)
 * const v = await reader.accept(tokenBytes);
 * if (v.accepted) { vend(); reader.complete(v.tokenHash); } else console.log(v.reason, v.code);
 * ```
 */
export class Reader {
  /** The reader certificate this reader was built with. */
  readonly cert: ReaderCert;
  /** The effective profile: the row of `READER_PROFILES` named by the certificate, with the options' overrides. */
  readonly profile: ReaderProfileParams;
  /** The anti-replay window size W, counters (multiple of 8, 8..4096). */
  readonly window: number;
  /** The store holding this reader's state and journal. */
  readonly store: ReaderStore;
  /** The journal this reader writes (chosen when the store was created): batches and the chain genesis carry it. */
  readonly journalId: Uint8Array;
  private readonly secretKey: Uint8Array;
  private readonly issuerKeys: IssuerKeySet;
  private readonly verifier: SyncVerifier | AsyncVerifier;
  private readonly syncVerifier: SyncVerifier | undefined;
  private readonly limits: Record<number, CurrencyLimits>;
  private readonly acceptUnlisted: boolean;
  private readonly clock: () => number;
  private readonly genesis: Uint8Array;
  /** The list held; `trusted` false when its signing key is no longer in the key set (stale, still used to block). */
  private blocklist: { list: Blocklist; index: BlocklistIndex; trusted: boolean; why?: string } | undefined;

  constructor(o: ReaderOptions) {
    validateOptions<ReaderOptions>('ReaderOptions', o, READER_OPTIONS_SCHEMA, 'reader.bad_config');
    this.cert = o.cert;
    this.secretKey = o.secretKey;
    this.issuerKeys = o.issuerKeys;
    this.store = o.store;
    const overrides = validateProfileOverrides(o.profile, 'reader.bad_config', 'ReaderOptions.profile');
    if (Object.hasOwn(READER_PROFILES, o.cert.profile)) {
      checkClearingBounds(o.cert.profile, overrides, 'reader.bad_config', 'ReaderOptions.profile');
      checkExitWindow(o.cert.profile, overrides, 'reader.bad_config', 'ReaderOptions.profile');
    }
    this.profile = { ...READER_PROFILES[o.cert.profile], ...overrides, name: o.cert.profile };
    if (Object.hasOwn(READER_PROFILES, o.cert.profile)) this.profile.exitMaxAgeSeconds = effectiveExitMaxAge(o.cert.profile, overrides);
    this.window = validateWindow(o.window ?? DEFAULT_WINDOW, 'reader.bad_config', 'ReaderOptions.window');
    this.syncVerifier = o.asyncVerifier ? undefined : cachingVerifier(o.verifier ?? nobleEd25519);
    this.verifier = o.asyncVerifier ?? this.syncVerifier!;
    this.limits = validateLimits(o.limits, 'reader.bad_config', 'ReaderOptions.limits');
    this.acceptUnlisted = o.acceptUnlistedCurrencies ?? true;
    this.clock = o.clock ?? (() => Math.floor(Date.now() / 1000));
    // Certificates bind (spec invariant I7): the key is the certified one, and an issuer key certified it.
    if (!equalBytes(publicKeyOf(o.secretKey), o.cert.readerPublicKey)) {
      throw new OffpayError('reader.key_mismatch', `the reader secret key does not match the public key in the certificate of reader ${o.cert.readerId}`);
    }
    const ik = o.issuerKeys.keys.find((k) => k.keyIndex === o.cert.keyIndex);
    if (!ik || !(this.syncVerifier ?? nobleEd25519).verify(o.cert.issuerSignature, readerCertSigningInput(o.cert), ik.publicKey)) {
      throw new OffpayError('reader.bad_cert', ik ? `the certificate of reader ${o.cert.readerId} is not signed by issuer key ${o.cert.keyIndex}` : `the certificate of reader ${o.cert.readerId} names issuer key ${o.cert.keyIndex}, which is not in the key set`);
    }
    const stored = this.store.transact((tx) => {
      const id = tx.getMeta(META_READER_ID);
      let jid = tx.getMeta(META_JOURNAL_ID);
      if (!id) {
        // A new store: a new journal. (A SQLite store is new only when created explicitly: SqliteReaderStore.create.)
        if (tx.head()) throw new OffpayError('reader.corrupt_store', 'the store holds journal entries but no reader id');
        tx.putMeta(META_READER_ID, u(o.cert.readerId));
        jid = o.journalId ?? randomJournalId();
        tx.putMeta(META_JOURNAL_ID, jid);
      } else if (fromU(id) !== o.cert.readerId) throw new OffpayError('reader.wrong_store', `this store belongs to reader ${fromU(id)}, not ${o.cert.readerId}`);
      if (!jid || jid.length !== JOURNAL_ID_BYTES) throw new OffpayError('reader.corrupt_store', 'the store has no journal id (a database from before journal ids: start a new journal)');
      const list = tx.getMeta(META_BLOCKLIST);
      // A database from before the version was stored beside the list: store it now.
      if (list && list.length && !tx.getMeta(META_BLOCKLIST_VERSION)) tx.putMeta(META_BLOCKLIST_VERSION, u(decodeBlocklist(list).version));
      return { jid, list };
    });
    this.journalId = stored.jid.slice();
    this.genesis = genesisHash(o.cert.readerId, this.journalId);
    if (stored.list && stored.list.length) this.blocklist = this.holdStoredList(stored.list);
  }

  /**
   * A stored list was verified when it was loaded. If its key has since left the key set (key rotation), the
   * reader still opens and still blocks its wallets, but reports the list stale so that a new list is loaded.
   */
  private holdStoredList(bytes: Uint8Array): NonNullable<Reader['blocklist']> {
    try {
      const list = verifyBlocklist(bytes, this.issuerKeys, this.syncVerifier ?? nobleEd25519);
      return { list, index: new BlocklistIndex(list.entries), trusted: true };
    } catch (e) {
      const code = (e as { code?: string }).code;
      if (code !== 'blocklist.unknown_key' && code !== 'blocklist.key_not_valid') throw new OffpayError('reader.corrupt_store', `the stored blocklist does not verify: ${(e as Error).message}`);
      const list = decodeBlocklist(bytes);
      return { list, index: new BlocklistIndex(list.entries), trusted: false, why: `signed by issuer key ${list.keyIndex}, which the current key set no longer trusts (${code})` };
    }
  }

  /** The reader id from the certificate (the payee id a token must name). */
  get readerId(): number {
    return this.cert.readerId;
  }

  /** Payee ids this reader accepts: its reader id, and for a transit reader its operator id too. */
  get payees(): number[] {
    return this.cert.profile === 'transit' ? [this.cert.readerId, this.cert.operatorId] : [this.cert.readerId];
  }

  /** Refuse to act outside the certificate's validity (typed error: the reader is misconfigured, not the customer). */
  private checkCertValid(now: number): void {
    checkNow(now);
    if (now < this.cert.notBefore || now > this.cert.notAfter) {
      throw new OffpayError('reader.cert_not_valid', `the certificate of reader ${this.cert.readerId} is valid ${this.cert.notBefore}..${this.cert.notAfter}, not at ${now}`);
    }
  }

  // ------------------------------------------------------------------------------------- the open request

  /**
   * Open a payment request: sign it with the reader key and make it THE open request of this reader, closing
   * any previous one (a token for that one is then refused: `request_not_open`). With `unlessPaid`, a previous
   * request paid by a sale still pending is not closed: `reader.sale_pending` (checked in the transaction that
   * writes; spec/reader.md §6, "After a restart"). A `challenge` other than 8 bytes is `reader.bad_context`.
   */
  openRequest(p: { amount: number; currency: number; now?: number; challenge?: Uint8Array; code?: boolean; unlessPaid?: boolean }): OpenRequest {
    const now = p.now ?? this.clock();
    this.checkCertValid(now);
    if (!Number.isSafeInteger(p.amount) || p.amount <= 0) throw new OffpayError('reader.bad_context', 'a request amount is a positive integer of minor units');
    if (!Number.isInteger(p.currency) || p.currency < 1 || p.currency > 999) throw new OffpayError('reader.bad_context', 'a request currency is an ISO 4217 numeric code');
    // A payment-code request (spec/protocol.md §4.3, rule P): its challenge has 21 bits, and payee and amount must
    // fit the code (paycode.range otherwise), checked by encoding the code before anything is stored.
    if (p.challenge !== undefined && !(p.challenge instanceof Uint8Array && p.challenge.length === CHALLENGE_BYTES)) {
      // Stored, it would be a request no decoder reads: every later accept, prune and `offpay request` would fail.
      throw new OffpayError('reader.bad_context', `a request challenge is ${CHALLENGE_BYTES} bytes (a Uint8Array)`);
    }
    const code = p.code === true;
    const challenge = code ? (p.challenge ?? paymentCodeChallenge()) : p.challenge;
    const paymentCode = code ? encodePaymentCode({ payee: this.readerId, amount: p.amount, challenge: challenge! }) : undefined;
    const { request, bytes } = createRequest({ secretKey: this.secretKey, cert: this.cert }, { amount: p.amount, currency: p.currency, time: now, ...(challenge ? { challenge } : {}) });
    this.store.transact((tx) => {
      // Checked in the transaction that writes: a sale another process commits meanwhile (a `reader listen` on the
      // same database) is seen, never closed silently (reader attack review, 2026-12-07).
      const paidBy = p.unlessPaid === true ? this.readOpen(tx)?.paidBy : undefined;
      if (paidBy) {
        throw new OffpayError('reader.sale_pending', `the open request of reader ${this.readerId} was paid by token ${toHex(paidBy)}, whose sale is pending: if the goods were handed out, offpay reader complete it; if not, offpay reader void it (within the void window); then open the next request`, { tokenHash: toHex(paidBy) });
      }
      tx.putMeta(META_OPEN_REQUEST, openRecord(bytes, undefined, code));
    });
    return { request, bytes, ...(paymentCode ? { paymentCode } : {}) };
  }

  /** The open request, if any. */
  openRequestInfo(): OpenRequest | undefined {
    return this.store.transact((tx) => this.readOpen(tx));
  }

  /** Close the open request (the machine stopped selling, or the customer cancelled). */
  closeRequest(): void {
    this.store.transact((tx) => tx.putMeta(META_OPEN_REQUEST, new Uint8Array(0)));
  }

  private readOpen(tx: ReaderTx): OpenRequest | undefined {
    const raw = tx.getMeta(META_OPEN_REQUEST);
    if (!raw || raw.length === 0) return undefined;
    // [request bytes, paid-by hash or empty] or, for a request opened as a payment code, [..., 1]
    const v = decodeCbor(raw);
    if (!Array.isArray(v) || (v.length !== 2 && !(v.length === 3 && v[2] === 1)) || !(v[0] instanceof Uint8Array) || !(v[1] instanceof Uint8Array)) {
      throw new OffpayError('reader.corrupt_store', 'bad open request record');
    }
    const request = decodeRequest(v[0]);
    const paymentCode = v.length === 3 ? encodePaymentCode({ payee: request.readerCert.readerId, amount: request.amount, challenge: request.challenge }) : undefined;
    return { request, bytes: v[0], ...(v[1].length ? { paidBy: v[1] } : {}), ...(paymentCode ? { paymentCode } : {}) };
  }

  /** Close the open request if `hash` paid it (the sale it was for has ended: completed or voided). */
  private closeIfPaidBy(tx: ReaderTx, hash: Uint8Array): void {
    const open = this.readOpen(tx);
    if (open?.paidBy && equalBytes(open.paidBy, hash)) tx.putMeta(META_OPEN_REQUEST, new Uint8Array(0));
  }

  // ------------------------------------------------------------------------------------------- accepting

  /** The stateless verification context for `ctx` (exposed for tools and tests); `open` is the open request. */
  verifyContext(ctx: AcceptContext, now: number, open?: PaymentRequest, openAsCode = false): VerifyContext {
    const modes = [ctx.request, ctx.fare, ctx.tapIn].filter((x) => x !== undefined).length;
    if (modes > 1) throw new OffpayError('reader.bad_context', 'give at most one of request, fare and tapIn');
    if ((ctx.fare || ctx.tapIn) && this.cert.profile !== 'transit') throw new OffpayError('reader.bad_context', 'fares and tap-in are for transit readers');
    if (this.profile.requireRequest && (ctx.fare || ctx.tapIn)) throw new OffpayError('reader.bad_context', `a reader with requireRequest judges tokens against its open request, not a fare`);
    // Without a request, a fare or a tap-in, nothing would say what the token must pay: any amount would do.
    if (modes === 0 && open === undefined && !this.profile.requireRequest) throw new OffpayError('reader.bad_context', 'give the request, the fare or the tap-in maximum the token is judged against');
    const base = { issuerKeys: this.issuerKeys, now, payees: this.payees, maxFutureSeconds: this.profile.maxFutureSeconds };
    const r = open ?? ctx.request;
    const code = open !== undefined && openAsCode ? { code: true } : {};
    if (r) return { ...base, request: { readerId: this.readerId, amount: r.amount, currency: r.currency, challenge: r.challenge, time: r.time, ...code }, maxAgeSeconds: this.profile.maxAgeSeconds };
    const expected = ctx.fare ? { amount: ctx.fare.amount, currency: ctx.fare.currency } : ctx.tapIn ? { amount: ctx.tapIn.maxFare, currency: ctx.tapIn.currency } : undefined;
    return { ...base, expected, maxAgeSeconds: this.profile.oneWayMaxAgeSeconds };
  }

  /** Judge a token. The verdict and the state it implies are committed before this returns. */
  async accept(bytes: Uint8Array, ctx: AcceptContext = {}): Promise<ReaderVerdict> {
    const now = ctx.now ?? this.clock();
    if (!(bytes instanceof Uint8Array)) throw new OffpayError('reader.bad_input', 'a token is a byte array');
    this.checkCertValid(now);
    this.verifyContext(ctx, now); // context shape errors (typed, exit 2) come before any verdict: spec §2 step E
    const hash = tokenHash(bytes);
    // 0. A token this reader already holds is judged by its record (and the resume rule) alone.
    const first = this.store.transact((tx) => {
      const prior = tx.getToken(hash);
      if (prior) return { prior: this.priorVerdict(tx, prior, now, ctx.complete === true) };
      const ended = this.tappedOutHere(tx, hash);
      return ended ? { prior: ended } : { open: this.readOpen(tx) };
    });
    if (first.prior) return first.prior;
    // 1. The open request: a reader that requires one, or that was given one, judges against its own.
    const wantsRequest = this.profile.requireRequest || ctx.request !== undefined;
    const open = first.open;
    if (wantsRequest && (!open || (ctx.request && !sameRequest(ctx.request, open.request)))) {
      // Structure first (spec/reader.md §2 step 1): bytes that are no token say why, not "no request open".
      const bad = structureRejection(bytes, hash);
      if (bad) return bad;
      if (!open) return rejectedR('request_not_open', `reader ${this.readerId} has no open payment request: the token answers a closed, superseded or never-issued request`, hash);
      if (ctx.request && !sameRequest(ctx.request, open.request)) {
        return rejectedR('request_not_open', `the request given (challenge ${toHex(ctx.request.challenge)}) is not the open request ${toHex(open.request.challenge)} of reader ${this.readerId}`, hash);
      }
    }
    // 2. Stateless verification.
    const vctx = this.verifyContext(ctx, now, wantsRequest ? open!.request : undefined, wantsRequest && open!.paymentCode !== undefined);
    const v = this.syncVerifier ? verifyToken(bytes, vctx, this.syncVerifier) : await verifyTokenAsync(bytes, vctx, this.verifier);
    if (!v.accepted) {
      if (wantsRequest && v.reason === 'challenge_mismatch') {
        return rejectedR('request_not_open', `the token answers a request, and it is not the open request ${toHex(open!.request.challenge)} (closed, superseded or never issued)`, hash, v.token);
      }
      return { accepted: false, status: 'rejected', reason: v.reason, code: v.code, message: v.message, tokenHash: hash, token: v.token };
    }
    return this.store.transact((tx) => this.decide(tx, bytes, hash, v.token, v.walletId, v.currency, ctx, now, wantsRequest ? open!.bytes : undefined));
  }

  /**
   * Step 0: the verdict for a token this reader holds a record of. A pending sale RESUMES (not charged again)
   * only while acceptedAt <= now <= acceptedAt + resumeWindowSeconds and, for a token that paid a request,
   * while that request is still the open one; otherwise `already_accepted`. No state changes, but one: with
   * `complete` (the accept context's), a sale that resumes is completed in the same transaction, as a new one would
   * be (spec/reader.md §2 step 0): a gate that opens at once must not leave a copy of the token able to resume.
   */
  private priorVerdict(tx: ReaderTx, r: TokenRecord, now: number, complete: boolean): ReaderVerdict {
    if (r.status === 'pending') {
      const age = now - r.acceptedAt;
      const inWindow = age >= 0 && age <= this.profile.resumeWindowSeconds;
      let requestOpen = true;
      if (r.challenge) {
        // The open request must be the one this token paid: the request it paid names it (paidBy), which a new
        // request clears, whatever its challenge (a 21-bit code challenge, or one the integrator chose, may repeat).
        const open = this.readOpen(tx);
        requestOpen = open?.paidBy !== undefined && equalBytes(open.paidBy, r.hash) && equalBytes(open.request.challenge, r.challenge);
      }
      if (inWindow && requestOpen) {
        const request = r.challenge ? this.requestRef(tx, r) : undefined;
        if (complete) {
          tx.putToken({ ...r, status: 'completed' });
          this.closeIfPaidBy(tx, r.hash);
        }
        return { accepted: true, status: 'resumed', reason: 'ok', code: 0, charged: false, tokenHash: r.hash, walletId: r.walletId, counter: r.counter, amount: r.amount, currency: r.currency, seq: r.seq, ...(request ? { request } : {}) };
      }
      const why = !inWindow
        ? `accepted at ${r.acceptedAt} (journal entry ${r.seq}); the resume window of ${this.profile.resumeWindowSeconds} s ${age < 0 ? 'does not run backwards (clock moved back)' : 'has passed'}`
        : `accepted at ${r.acceptedAt} (journal entry ${r.seq}) for request ${toHex(r.challenge!)}, which is no longer open`;
      return rejectedR('already_accepted', `token already accepted and not to be vended again: ${why}`, r.hash);
    }
    if (r.status === 'voided') return rejectedR('already_voided', `token was voided (journal entry ${r.seq} accepted it)`, r.hash);
    if (r.status === 'completed') return rejectedR('replayed', `token already accepted and completed (journal entry ${r.seq})`, r.hash);
    return rejectedR('replayed', `counter ${r.counter} was already used by another token (evidence in journal entry ${r.seq})`, r.hash);
  }

  /**
   * Step 0, a token with no record here but a tap-out recorded here (spec/reader.md §2 step 0): its trip ended
   * at this gate (its tap-in was elsewhere), so it opens nothing again: `already_tapped_out`. No state changes.
   */
  private tappedOutHere(tx: ReaderTx, hash: Uint8Array): ReaderVerdict | undefined {
    const rec = tx.getMeta(tapOutKey(hash));
    if (!rec) return undefined;
    return rejectedR('already_tapped_out', `this token's trip ended at this gate (tap-out in journal entry ${readTapOut(rec).seq}); it opens nothing again`, hash);
  }

  private requestRef(tx: ReaderTx, r: TokenRecord): RequestRef | undefined {
    const open = this.readOpen(tx);
    if (open && r.challenge && equalBytes(open.request.challenge, r.challenge)) return { challenge: open.request.challenge, amount: open.request.amount, currency: open.request.currency };
    return undefined;
  }

  private append(tx: ReaderTx, kind: JournalKindName, time: number, data: Uint8Array, value: number, request?: JournalEntry['request']): JournalRow {
    const head = tx.head();
    const entry: JournalEntry = { seq: (head?.seq ?? 0) + 1, kind, time, data, value, ...(request ? { request } : {}) };
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

  /**
   * Take the blocklist the store holds if it is not the one in memory (another process of the same database
   * loaded a newer one): read in the decision's own transaction, so the verdict uses the list stored then.
   */
  private syncBlocklist(tx: ReaderTx): void {
    const stored = tx.getMeta(META_BLOCKLIST_VERSION);
    if (!stored || fromU(stored) === (this.blocklist?.list.version ?? 0)) return;
    const bytes = tx.getMeta(META_BLOCKLIST);
    if (bytes && bytes.length) this.blocklist = this.holdStoredList(bytes);
  }

  /**
   * Steps 3-10 in one transaction. `verifiedAgainst`: the bytes of the open request the token was verified against (step 2),
   * when it answers the open request; the open request read again here must be that very request.
   */
  private decide(tx: ReaderTx, bytes: Uint8Array, hash: Uint8Array, t: PaymentToken, walletId: Uint8Array, currency: number, ctx: AcceptContext, now: number, verifiedAgainst: Uint8Array | undefined): ReaderVerdict {
    const wantsRequest = verifiedAgainst !== undefined;
    this.syncBlocklist(tx);
    const prior = tx.getToken(hash);
    if (prior) return this.priorVerdict(tx, prior, now, ctx.complete === true);
    const ended = this.tappedOutHere(tx, hash);
    if (ended) return ended;
    const open = wantsRequest ? this.readOpen(tx) : undefined;
    // The very request the token was verified against, not merely one with its challenge: a request re-opened
    // meanwhile with the same challenge and another price would take the token at the new price.
    if (wantsRequest && (!open || !equalBytes(open.bytes, verifiedAgainst))) {
      return rejectedR('request_not_open', 'the open request changed while the token was being verified', hash, t);
    }
    const day = dayOf(now);
    const certId = certIdOf(t);
    // A request-bound token's entry carries the request it was judged against: clearing rebuilds the signed body
    // from it and the batch's reader id (spec/reader.md §9). t.time is the SIGNED time: the request's time, or
    // PAYMENT_CODE_SIGNED_TIME for a payment-code request (spec/protocol.md §4.3, rule P).
    const judged = t.challenge ? { challenge: t.challenge, time: t.time } : undefined;
    const base: Omit<TokenRecord, 'status' | 'seq'> = { hash, walletId, counter: t.counter, amount: t.amount, currency, day, certId, acceptedAt: now, trip: ctx.tapIn !== undefined, ...(open ? { challenge: open.request.challenge } : {}) };
    // 3. anti-replay window
    const win = tx.getWindow(walletId);
    const w = checkWindow(win, t.counter, this.window);
    if (w === 'replayed') {
      const row = this.append(tx, 'conflict', now, bytes, READER_REASONS.replayed.code, judged);
      tx.putToken({ ...base, status: 'conflict', seq: row.seq });
      return rejectedR('replayed', `counter ${t.counter} was already accepted from this wallet with other token bytes (recorded as evidence, journal entry ${row.seq})`, hash, t, row.seq);
    }
    if (w === 'stale') return rejectedR('stale', `counter ${t.counter} is below the window (highest ${win!.high}, window ${win!.bitmap.length * 8})`, hash, t);
    // 4. the open request is paid once: a second token for it (another wallet, or the same wallet again) is refused
    if (open?.paidBy) {
      return rejectedR('request_already_paid', `request ${toHex(open.request.challenge)} was already paid; the machine must open a new request for another sale`, hash, t);
    }
    // 5. blocklist
    if (this.blocklist?.index.has(walletId)) return rejectedR('blocklisted', `wallet ${toHex(walletId)} is on blocklist version ${this.blocklist.list.version}`, hash, t);
    // 6. limits
    const lim = this.limitsFor(currency);
    if (!lim) return rejectedR('currency_not_accepted', `currency ${currency} is not accepted by this reader`, hash, t);
    if (lim.minAmount !== undefined && t.amount < lim.minAmount) return rejectedR('below_minimum', `amount ${formatMoney(t.amount, currency)} is below the minimum ${formatMoney(lim.minAmount, currency)}`, hash, t);
    if (lim.maxAmount !== undefined && t.amount > lim.maxAmount) return rejectedR('above_maximum', `amount ${formatMoney(t.amount, currency)} is above the maximum ${formatMoney(lim.maxAmount, currency)}`, hash, t);
    // 7. blocklist freshness
    const bs = this.heldListStatus(now);
    if (bs.stale) {
      const why = bs.staleReason ?? 'the blocklist is stale';
      if (this.profile.whenBlocklistStale === 'refuse') return rejectedR('blocklist_stale', why, hash, t);
      const cap = lim.staleMaxAmount ?? 0;
      if (t.amount > cap) return rejectedR('stale_limit', `${why}; the reduced limit is ${formatMoney(cap, currency)}`, hash, t);
    }
    // 8. offline allowance under this certificate, at this reader
    const certKey = `c:${toHex(walletId)}:${toHex(certId)}`;
    const spent = tx.getTotal(certKey);
    if (spent + t.amount > t.walletCert.offlineAllowance) {
      return rejectedR('allowance_exhausted', `${formatMoney(spent, currency)} already taken from this wallet under this certificate; ${formatMoney(t.amount, currency)} more exceeds the allowance ${formatMoney(t.walletCert.offlineAllowance, currency)}`, hash, t);
    }
    // 9. daily total at this reader
    const dayKey = `d:${toHex(walletId)}:${day}:${currency}`;
    const today = tx.getTotal(dayKey);
    if (lim.dailyTotal !== undefined && today + t.amount > lim.dailyTotal) {
      return rejectedR('daily_limit', `${formatMoney(today, currency)} already taken today; ${formatMoney(t.amount, currency)} more exceeds the daily limit ${formatMoney(lim.dailyTotal, currency)}`, hash, t);
    }
    // commit
    tx.putWindow(walletId, advanceWindow(win, t.counter, this.window));
    tx.putTotal(certKey, spent + t.amount);
    tx.putTotal(dayKey, today + t.amount);
    const row = this.append(tx, ctx.tapIn ? 'tap_in' : 'accept', now, bytes, t.amount, judged);
    const done = ctx.complete === true;
    tx.putToken({ ...base, status: done ? 'completed' : 'pending', seq: row.seq });
    // The open request is now paid by this token; a completed sale closes it at once.
    if (open) tx.putMeta(META_OPEN_REQUEST, done ? new Uint8Array(0) : openRecord(open.bytes, hash, open.paymentCode !== undefined));
    const request = open ? { request: { challenge: open.request.challenge, amount: open.request.amount, currency: open.request.currency } } : {};
    return { accepted: true, status: 'accepted', reason: 'ok', code: 0, charged: true, tokenHash: hash, walletId, counter: t.counter, amount: t.amount, currency, seq: row.seq, ...request, token: t };
  }

  /** Mark a pending sale complete (goods dispensed, gate passed); closes the request it paid. False if there is no pending sale. */
  complete(hash: Uint8Array): boolean {
    return this.store.transact((tx) => {
      const r = tx.getToken(hash);
      if (!r || r.status !== 'pending') return false;
      tx.putToken({ ...r, status: 'completed' });
      this.closeIfPaidBy(tx, hash);
      return true;
    });
  }

  /**
   * Void a pending sale within the void window: the amount is given back (to the day it counted towards) and
   * the token can never be used again; closes the request it paid. Refusals in this order: unknown_token
   * (none, or only conflict evidence), already_voided, already_completed, void_window_passed.
   */
  void(hash: Uint8Array, now: number = this.clock()): VoidResult {
    checkNow(now);
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
      this.closeIfPaidBy(tx, hash);
      return { ok: true, tokenHash: hash, amount: r.amount, currency: r.currency, seq: row.seq };
    });
  }

  /**
   * Transit tap-out: record the fare for a trip whose tap-in token the wallet presents again (at this or any
   * gate of the operator). Checks, in order (spec/reader.md §7.2): the fare (typed `reader.bad_context`:
   * a non-negative integer, not 0 unless allowZeroFare); the certificate's validity; stateless verification
   * with maxAgeSeconds = maxTripSeconds and the fare's currency (`currency_mismatch` 16 and the other
   * stateless reasons); fare above the authorisation (46); then in one transaction: a record of the token
   * here that is not a trip (48), voided (41) or conflict evidence (32); a tap-out already recorded here (47);
   * the wallet on the held blocklist (38); no tap-in here under tapOutWithoutTapIn = 'refuse' (52); with no tap-in
   * here, the token's amount over the certificate's allowance at this reader (37). Commit: a `tap_out` entry, a
   * pending tap-in here becomes completed, and with no tap-in here the token's amount joins the allowance total.
   */
  async tapOut(bytes: Uint8Array, p: { fare: number; currency: number; now?: number }): Promise<ReaderVerdict> {
    if (this.cert.profile !== 'transit') throw new OffpayError('reader.bad_context', 'tap-out is for transit readers');
    if (!(bytes instanceof Uint8Array)) throw new OffpayError('reader.bad_input', 'a token is a byte array');
    if (!Number.isSafeInteger(p.fare) || p.fare < 0) throw new OffpayError('reader.bad_context', 'the fare is a non-negative integer of minor units');
    if (p.fare === 0 && !this.profile.allowZeroFare) throw new OffpayError('reader.bad_context', 'a fare of 0 is refused (profile allowZeroFare is false): the gate is misconfigured');
    if (!Number.isInteger(p.currency) || p.currency < 1 || p.currency > 999) throw new OffpayError('reader.bad_context', 'the fare currency is an ISO 4217 numeric code');
    const now = p.now ?? this.clock();
    this.checkCertValid(now);
    // Step 0, the form (spec/reader.md §7.2): an exit (message 11) carries the tap-in token and the wallet's fresh
    // signature; a token shown again is the tap-in itself, which a gate that requires exits refuses (a recording of
    // a rider's tap-in would otherwise leave by it: §7.3 point 1).
    let exit: Exit | undefined;
    let tapIn = bytes;
    if (looksLikeExit(bytes)) {
      try {
        exit = decodeExit(bytes);
      } catch (e) {
        const { reason, message } = reasonForDecodeError(e);
        return { accepted: false, status: 'rejected', reason, code: REASONS[reason].code, message: `exit: ${message}`, tokenHash: tokenHash(bytes) };
      }
      tapIn = exit.tapIn;
    } else if (this.profile.requireExit) {
      return rejectedR('exit_required', 'this gate takes an exit signed by the wallet at the gate, not the tap-in token shown again', tokenHash(bytes));
    }
    bytes = tapIn;
    const hash = tokenHash(bytes);
    const vctx: VerifyContext = {
      issuerKeys: this.issuerKeys,
      now,
      payees: this.payees,
      maxAgeSeconds: this.profile.maxTripSeconds,
      maxFutureSeconds: this.profile.maxFutureSeconds,
      expected: { currency: p.currency },
      // The wallet committed to the trip when it signed: its certificate and the issuer key's end are judged at the
      // earliest time an entry gate could have taken the token, so a certificate that ends during the trip does not
      // refuse the exit (spec/reader.md §7.2 step 1).
      validAt: 'signed',
    };
    const v = this.syncVerifier ? verifyToken(bytes, vctx, this.syncVerifier) : await verifyTokenAsync(bytes, vctx, this.verifier);
    if (!v.accepted) return { accepted: false, status: 'rejected', reason: v.reason, code: v.code, message: v.message, tokenHash: hash, token: v.token };
    const t = v.token;
    if (exit) {
      // Step 1b: the exit's own signature, by the wallet key of the certificate step 1 verified, and its time.
      const input = exitSigningInput(exit);
      const key = t.walletCert.walletPublicKey;
      const valid = this.syncVerifier ? this.syncVerifier.verify(exit.walletSignature, input, key) : await this.verifier.verify(exit.walletSignature, input, key);
      const bad = exitProblem(exit, { now, maxAgeSeconds: this.profile.exitMaxAgeSeconds, maxFutureSeconds: this.profile.maxFutureSeconds }, valid);
      if (bad) return { accepted: false, status: 'rejected', reason: bad.reason, code: REASONS[bad.reason].code, message: bad.message, tokenHash: hash, token: t };
    }
    if (p.fare > t.amount) return rejectedR('fare_exceeds_authorisation', `fare ${formatMoney(p.fare, v.currency)} exceeds the authorised ${formatMoney(t.amount, v.currency)}`, hash, t);
    return this.store.transact((tx): ReaderVerdict => {
      this.syncBlocklist(tx);
      const local = tx.getToken(hash);
      if (local && local.status === 'conflict') return rejectedR('replayed', `this token reused counter ${local.counter} (evidence in journal entry ${local.seq})`, hash, t);
      if (local && !local.trip) return rejectedR('not_a_trip', 'this token was taken as a fixed fare, not a tap-in', hash, t);
      if (local && local.status === 'voided') return rejectedR('already_voided', 'the tap-in of this token was voided', hash, t);
      const key = tapOutKey(hash);
      if (tx.getMeta(key)) return rejectedR('already_tapped_out', 'a tap-out is already recorded for this token', hash, t);
      // A blocklisted wallet does not pass the exit either (I6): station staff settle with the rider. Otherwise the
      // gate would record a charge against a wallet clearing already blocked (spec/reader.md §7.2 step 3c).
      if (this.blocklist?.index.has(v.walletId)) return rejectedR('blocklisted', `wallet ${toHex(v.walletId)} is on blocklist version ${this.blocklist.list.version}`, hash, t);
      if (!local && this.profile.tapOutWithoutTapIn === 'refuse') return rejectedR('no_tap_in', 'this gate has no tap-in for this token and the profile refuses such tap-outs', hash, t);
      // With no tap-in here, this gate lets clearing charge the wallet up to the token's amount (its maximum fare,
      // charged when no tap-in pairs with the tap-out): that amount counts towards the certificate's allowance at
      // this reader, as a sale's does (I5; spec/reader.md §7.2 step 3e). An honest wallet is never refused here: it
      // counted the token's amount in its own total when it signed it. A tap-in here already counted it.
      let allowance: { certKey: string; spent: number } | undefined;
      if (!local) {
        const certKey = `c:${toHex(v.walletId)}:${toHex(certIdOf(t))}`;
        const spent = tx.getTotal(certKey);
        if (spent + t.amount > t.walletCert.offlineAllowance) {
          return rejectedR('allowance_exhausted', `${formatMoney(spent, v.currency)} already taken from this wallet under this certificate; this trip's ${formatMoney(t.amount, v.currency)} more exceeds the allowance ${formatMoney(t.walletCert.offlineAllowance, v.currency)}`, hash, t);
        }
        allowance = { certKey, spent };
      }
      const row = this.append(tx, 'tap_out', now, bytes, p.fare);
      tx.putMeta(key, encodeCbor([row.seq, now]));
      if (local) tx.putToken({ ...local, status: 'completed' });
      if (allowance) tx.putTotal(allowance.certKey, allowance.spent + t.amount);
      return { accepted: true, status: 'tapped_out', reason: 'ok', code: 0, charged: false, tokenHash: hash, walletId: v.walletId, counter: t.counter, amount: p.fare, currency: v.currency, seq: row.seq, token: t };
    });
  }

  /**
   * Load a signed blocklist: signed by a key of the current key set, newer than the one held, and not dated
   * more than maxFutureSeconds ahead of the reader clock (`blocklist.future`: it would stay fresh for ever).
   */
  loadBlocklist(bytes: Uint8Array, now: number = this.clock()): BlocklistStatus {
    checkNow(now);
    const list = verifyBlocklist(bytes, this.issuerKeys, this.syncVerifier ?? nobleEd25519);
    // A key that has ended signs no new list, however the list is dated: a retired (perhaps leaked) key could
    // otherwise back-date a list with the highest version and lock every later list out (blocklist.old_version).
    const key = this.issuerKeys.keys.find((k) => k.keyIndex === list.keyIndex)!;
    if (now > key.notAfter) throw new OffpayError('blocklist.key_not_valid', `issuer key ${list.keyIndex} ended at ${key.notAfter}, before the reader clock ${now}: it signs no new blocklist`);
    if (list.issuedAt > now + this.profile.maxFutureSeconds) {
      throw new OffpayError('blocklist.future', `blocklist version ${list.version} is dated ${list.issuedAt}, more than ${this.profile.maxFutureSeconds} s after the reader clock ${now}`);
    }
    this.store.transact((tx) => {
      // The version the store holds (another process of the same database may have loaded a newer list than the
      // one in memory): a list is loaded only over an older one.
      const storedVersion = tx.getMeta(META_BLOCKLIST_VERSION);
      const held = storedVersion ? undefined : tx.getMeta(META_BLOCKLIST);
      const heldVersion = storedVersion ? fromU(storedVersion) : held && held.length ? decodeBlocklist(held).version : undefined;
      if (heldVersion !== undefined && list.version <= heldVersion) throw new OffpayError('blocklist.old_version', `blocklist version ${list.version} is not newer than the version ${heldVersion} held`);
      tx.putMeta(META_BLOCKLIST, bytes);
      tx.putMeta(META_BLOCKLIST_VERSION, u(list.version));
    });
    this.blocklist = { list, index: new BlocklistIndex(list.entries), trusted: true };
    return this.heldListStatus(now);
  }

  /**
   * Freshness: stale when none is loaded, when its key is no longer trusted, when it is older than
   * blocklistMaxAgeSeconds, or when it is dated more than maxFutureSeconds ahead (a clock set back).
   */
  blocklistStatus(now: number = this.clock()): BlocklistStatus {
    checkNow(now);
    this.store.transact((tx) => this.syncBlocklist(tx)); // the list the store holds (another process may have loaded one)
    return this.heldListStatus(now);
  }

  /** {@link blocklistStatus} of the list held in memory (inside a decision, which has synced it already). */
  private heldListStatus(now: number): BlocklistStatus {
    const held = this.blocklist;
    if (!held) return { loaded: false, version: 0, issuedAt: 0, count: 0, ageSeconds: Number.POSITIVE_INFINITY, stale: true, staleReason: 'no blocklist has been loaded' };
    const b = held.list;
    const age = now - b.issuedAt;
    const staleReason = !held.trusted
      ? `the blocklist (version ${b.version}) is ${held.why}`
      : age > this.profile.blocklistMaxAgeSeconds
        ? `the blocklist (version ${b.version}) is ${age} s old, more than ${this.profile.blocklistMaxAgeSeconds} s`
        : age < -this.profile.maxFutureSeconds
          ? `the blocklist (version ${b.version}) is dated ${-age} s in the future of the reader clock`
          : undefined;
    return { loaded: true, version: b.version, issuedAt: b.issuedAt, count: b.entries.length / 16, ageSeconds: age, stale: staleReason !== undefined, ...(staleReason ? { staleReason } : {}) };
  }

  /** True when `walletId` (16 bytes) is on the blocklist held (trusted or stale); false with no list. */
  isBlocklisted(walletId: Uint8Array): boolean {
    this.store.transact((tx) => this.syncBlocklist(tx));
    return this.blocklist?.index.has(walletId) ?? false;
  }

  /** A reader-signed receipt for a verdict (for transports with a back channel). */
  receipt(v: ReaderVerdict, now: number = this.clock()): Uint8Array {
    checkNow(now);
    return createReceipt(
      { secretKey: this.secretKey },
      { readerId: this.cert.readerId, tokenHash: v.tokenHash, outcome: v.accepted ? 'accepted' : 'rejected', reason: v.code, time: now },
    ).bytes;
  }

  /** A receipt saying a sale was voided. */
  voidReceipt(hash: Uint8Array, now: number = this.clock()): Uint8Array {
    checkNow(now);
    return createReceipt({ secretKey: this.secretKey }, { readerId: this.cert.readerId, tokenHash: hash, outcome: 'voided', reason: 0, time: now }).bytes;
  }

  /** The chain head: last sequence number and hash (the genesis hash for an empty journal). */
  head(): {
    /** Sequence number of the last entry (0 for an empty journal). */
    seq: number;
    /** The chain hash after it, 32 bytes. */
    hash: Uint8Array;
  } {
    const h = this.store.transact((tx) => tx.head());
    return h ? { seq: h.seq, hash: h.hash } : { seq: 0, hash: this.genesis };
  }

  /**
   * Recompute the chain from the genesis hash, or, for a pruned journal (spec/reader.md §9.3), from its oldest row
   * held (whose stored hash is taken as the start: the rows before it went to clearing, which checked them).
   */
  verifyJournal(): ChainCheck {
    const rows = this.store.journal(1);
    const first = rows[0];
    if (first && first.seq > 1) return verifyChain(rows.slice(1), { seq: first.seq, hash: first.hash });
    return verifyChain(rows, { seq: 0, hash: this.genesis });
  }

  /** Decoded journal entries from `fromSeq`. */
  entries(fromSeq = 1, toSeq?: number): JournalEntry[] {
    return this.store.journal(fromSeq, toSeq).map((r) => decodeEntry(r.bytes));
  }

  /**
   * Export the next settlement batch: every journal entry after the last exported one, reader-signed.
   * The store records the batch so that `exportBatch(n)` re-creates it byte for byte. Refused outside the
   * certificate's validity (`reader.cert_not_valid`): a re-certified reader (new certificate, same store)
   * exports what an expired one could not.
   *
   * All or nothing (spec/reader.md §1, §10): the batches are built (their journal rows read, signed) before the
   * transaction that records them, which records them only if no other export recorded batches since they were
   * planned (else they are planned again). Built after the commit, a read failing there (an I/O error) would have
   * thrown with the batches already recorded as exported: the caller holds none of them, and the next export
   * starts after them, so clearing would first meet a gap. Built before it rather than inside it, a month's
   * backlog (seconds of reading and signing) does not hold the database's write lock, which a `reader listen`
   * process on the same database needs for every sale.
   */
  export(now: number = this.clock(), limits: { maxBatchBytes?: number; maxBatchEntries?: number } = {}): ExportResult {
    this.checkCertValid(now);
    const maxBytes = limits.maxBatchBytes ?? EXPORT_MAX_BATCH_BYTES;
    const maxEntries = limits.maxBatchEntries ?? EXPORT_MAX_BATCH_ENTRIES;
    if (!Number.isSafeInteger(maxBytes) || maxBytes < 1024 || maxBytes > EXPORT_MAX_BATCH_BYTES) throw new OffpayError('reader.bad_config', `maxBatchBytes must be an integer in 1024..${EXPORT_MAX_BATCH_BYTES}`);
    if (!Number.isSafeInteger(maxEntries) || maxEntries < 1 || maxEntries > EXPORT_MAX_BATCH_ENTRIES) throw new OffpayError('reader.bad_config', `maxBatchEntries must be an integer in 1..${EXPORT_MAX_BATCH_ENTRIES}`);
    // A batch besides its entries, at most: array header, type, version (3), the reader certificate, journal id
    // (9), batchSeq, firstSeq and createdAt (9 each), prevHead and head (34 each), the entries' array header (5)
    // and the signature (66).
    const overhead = 3 + encodeCbor(readerCertToCbor(this.cert)).length + 9 + 27 + 68 + 5 + 66;
    for (;;) {
      // Plan: where the last export ended, and the journal's head now (entries up to it never change).
      const [last, seq0, headSeq] = this.store.transact((tx) => [fromU(tx.getMeta(META_EXPORT_LAST)), fromU(tx.getMeta(META_EXPORT_BATCH)), tx.head()?.seq ?? 0]);
      const sizes = headSeq > last ? this.store.journal(last + 1, headSeq).map((r) => r.bytes.length) : [];
      const runs = cutBacklog(sizes, overhead, maxBytes, maxEntries);
      if (runs.length === 0) runs.push(0); // nothing new: one empty batch, as before
      const infos: { batchSeq: number; first: number; last: number; createdAt: number }[] = [];
      let first = last + 1;
      for (const [k, n] of runs.entries()) {
        infos.push({ batchSeq: seq0 + k + 1, first, last: first + n - 1, createdAt: now });
        first += n;
      }
      // Build before recording: a read or signature that fails here records nothing.
      const batches = infos.map((i) => this.buildBatch(i));
      const recorded = this.store.transact((tx) => {
        // Another process exported meanwhile: plan again from where it ended.
        if (fromU(tx.getMeta(META_EXPORT_LAST)) !== last || fromU(tx.getMeta(META_EXPORT_BATCH)) !== seq0) return false;
        for (const i of infos) tx.putMeta(`batch:${i.batchSeq}`, encodeCbor([i.first, i.last, i.createdAt]));
        tx.putMeta(META_EXPORT_LAST, u(headSeq));
        tx.putMeta(META_EXPORT_BATCH, u(infos[infos.length - 1]!.batchSeq));
        return true;
      });
      if (recorded) return { ...batches[0]!, batches };
    }
  }

  /** Re-create an earlier batch (after a lost upload). Throws `reader.unknown_batch`. */
  exportBatch(batchSeq: number): ExportResult {
    const raw = this.store.transact((tx) => tx.getMeta(`batch:${batchSeq}`));
    if (!raw) throw new OffpayError('reader.unknown_batch', `no batch ${batchSeq} was exported`);
    const a = decodeBatchMeta(raw);
    const b = this.buildBatch({ batchSeq, first: a[0], last: a[1], createdAt: a[2] });
    return { ...b, batches: [b] };
  }

  /** Batches exported so far. */
  exportedBatches(): number {
    return this.store.transact((tx) => fromU(tx.getMeta(META_EXPORT_BATCH)));
  }

  /**
   * The entries batch `batchSeq` covers, from the export records (no journal row is read: it works for a pruned
   * batch): `firstSeq..lastSeq` (`lastSeq = firstSeq - 1` for an empty batch) and its time. `reader.unknown_batch`
   * for a batch never exported.
   */
  exportedBatchRange(batchSeq: number): {
    /** The batch's first entry. */
    firstSeq: number;
    /** Its last entry (firstSeq - 1 for an empty batch). */
    lastSeq: number;
    /** When it was exported, reader time. */
    createdAt: number;
  } {
    const raw = this.store.transact((tx) => tx.getMeta(`batch:${batchSeq}`));
    if (!raw) throw new OffpayError('reader.unknown_batch', `no batch ${batchSeq} was exported`);
    const [firstSeq, lastSeq, createdAt] = decodeBatchMeta(raw);
    return { firstSeq, lastSeq, createdAt };
  }

  /** The chain hash h(seq) after journal entry `seq` (the genesis hash for 0), or undefined when the row is not held (pruned, or not written yet). */
  chainHashAt(seq: number): Uint8Array | undefined {
    if (seq === 0) return this.genesis.slice();
    return this.store.journal(seq, seq)[0]?.hash.slice();
  }

  /** The seq of the last journal entry exported (0 before the first export). */
  exportedThrough(): number {
    return this.store.transact((tx) => fromU(tx.getMeta(META_EXPORT_LAST)));
  }

  /**
   * Record that clearing holds batches 1..n of this journal (`reader sync` does, from clearing's answer after its
   * uploads): the default of {@link PruneOptions.deliveredBatches}. The latest answer counts, lower or higher (a
   * clearing restored from a backup holds fewer). Refused above the batches exported (`reader.bad_config`).
   */
  recordDelivered(n: number): void {
    this.store.transact((tx) => {
      const exported = fromU(tx.getMeta(META_EXPORT_BATCH));
      if (!Number.isSafeInteger(n) || n < 0 || n > exported) throw new OffpayError('reader.bad_config', `delivered batches must be an integer in 0..${exported} (the batches exported), not ${n}`);
      tx.putMeta(META_DELIVERED, u(n));
    });
  }

  /** The batches clearing last said it holds ({@link recordDelivered}; 0 if never recorded). */
  deliveredBatches(): number {
    return this.store.transact((tx) => fromU(tx.getMeta(META_DELIVERED)));
  }

  /**
   * Forget what no rule of this reader can use any more (spec/reader.md §9.3, invariant I11): the journal rows of
   * batches clearing holds (but the last row, the chain's link to the next batch), and the token records, daily
   * totals and tap-out records older than `retainSeconds`. Windows, certificate totals, the blocklist, the open
   * request and the export records are kept. Checks in order: a store that cannot prune, `retainSeconds` below
   * {@link pruneRetainMinimum} or not an integer, `deliveredBatches` outside 0..exported (each `reader.bad_config`).
   * A re-export of a batch whose rows are gone is then `reader.batch_pruned`.
   */
  prune(o: PruneOptions = {}): PruneResult {
    const now = o.now ?? this.clock();
    const store = this.store;
    if (!store.prune) throw new OffpayError('reader.bad_config', `this reader store (${store.kind}) cannot prune`);
    if (!Number.isSafeInteger(now)) throw new OffpayError('reader.bad_config', `now must be an integer of unix seconds, not ${now}`);
    // A time past the certificate (milliseconds for seconds, a mistyped --now, a clock far ahead) would forget every
    // record the rules still use: refused as accept and export refuse it.
    this.checkCertValid(now);
    const min = pruneRetainMinimum(this.profile);
    const retain = o.retainSeconds ?? Math.max(min, PRUNE_DEFAULT_RETAIN_SECONDS);
    if (!Number.isSafeInteger(retain) || retain < min) {
      throw new OffpayError('reader.bad_config', `retainSeconds must be an integer of at least ${min} for this profile (the longest age, void and resume window, the clock skew allowed and a day), not ${retain}`);
    }
    const { delivered, journalBefore, keepTokens } = store.transact((tx) => {
      const exported = fromU(tx.getMeta(META_EXPORT_BATCH));
      const stored = fromU(tx.getMeta(META_DELIVERED));
      if (o.deliveredBatches === undefined && (!Number.isSafeInteger(stored) || stored < 0 || stored > exported)) {
        throw new OffpayError('reader.corrupt_store', `the stored count of batches clearing holds (${stored}) is not in 0..${exported}, the batches exported`);
      }
      const d = o.deliveredBatches ?? stored;
      if (!Number.isSafeInteger(d) || d < 0 || d > exported) throw new OffpayError('reader.bad_config', `deliveredBatches must be an integer in 0..${exported} (the batches exported), not ${d}`);
      const rec = d > 0 ? tx.getMeta(`batch:${d}`) : undefined;
      if (d > 0 && !rec) throw new OffpayError('reader.corrupt_store', `batch ${d} is counted as exported but has no record`);
      // The last row of batch d (first - 1 for an empty batch): every row before it goes; it stays.
      const last = rec ? decodeBatchMeta(rec)[1] : 0;
      // A damaged record must not turn into rows never exported: its last entry is within what was exported.
      const exportedThrough = fromU(tx.getMeta(META_EXPORT_LAST));
      if (last > exportedThrough) throw new OffpayError('reader.corrupt_store', `batch ${d}'s record ends at entry ${last}, past the last entry exported (${exportedThrough})`);
      // The sale that paid the open request stays (complete and void close the request through it).
      const paidBy = this.readOpen(tx)?.paidBy;
      return { delivered: d, journalBefore: last, keepTokens: paidBy ? [paidBy] : [] };
    });
    const cutoff = now - retain;
    const dayBefore = Math.floor(cutoff / 86_400);
    const counts = store.prune({
      journalBefore,
      acceptedBefore: cutoff,
      keepTokens,
      totals: { prefix: DAY_TOTAL_PREFIX, drop: (k) => (dayOfTotalKey(k) ?? Infinity) < dayBefore },
      meta: {
        prefix: TAP_OUT_PREFIX,
        drop: (_k, v) => {
          const t = readTapOut(v);
          return t.time !== undefined && t.time < cutoff;
        },
      },
    });
    return { retainSeconds: retain, cutoff, deliveredBatches: delivered, journalBefore, journal: counts.journal, tokens: counts.tokens, totals: counts.totals, tapOuts: counts.meta };
  }

  private buildBatch(i: { batchSeq: number; first: number; last: number; createdAt: number }): { batch: SettlementBatch; bytes: Uint8Array } {
    const rows = i.last >= i.first ? this.store.journal(i.first, i.last) : [];
    const before = i.first <= 1 ? undefined : this.store.journal(i.first - 1, i.first - 1)[0];
    // A batch whose rows (or the row before them) a prune deleted cannot be made again (spec/reader.md §9.3).
    if (rows.length !== Math.max(0, i.last - i.first + 1) || (i.first > 1 && !before)) {
      throw new OffpayError('reader.batch_pruned', `batch ${i.batchSeq} (entries ${i.first}..${i.last}) cannot be made again: its journal rows were pruned after clearing said it held it`);
    }
    const prevHead = before ? before.hash : this.genesis;
    const head = rows.length ? rows[rows.length - 1]!.hash : prevHead;
    return createBatch(
      { secretKey: this.secretKey },
      { readerCert: this.cert, journalId: this.journalId, batchSeq: i.batchSeq, firstSeq: i.first, prevHead, head, entries: rows.map((r) => decodeEntry(r.bytes)), createdAt: i.createdAt },
    );
  }
}

function decodeBatchMeta(raw: Uint8Array): [number, number, number] {
  // [first, last, createdAt] as written by export().
  const v = decodeCbor(raw);
  if (!Array.isArray(v) || v.length !== 3 || !v.every((x) => Number.isSafeInteger(x) && (x as number) >= 0)) throw new OffpayError('reader.corrupt_store', 'bad batch record');
  const [first, last] = v as [number, number, number];
  // 1 <= first <= last + 1 (an empty batch has last = first - 1).
  if (first < 1 || first > last + 1) throw new OffpayError('reader.corrupt_store', `bad batch record: entries ${first}..${last}`);
  return v as [number, number, number];
}

