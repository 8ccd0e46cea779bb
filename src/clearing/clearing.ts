/**
 * Clearing: ingest reader settlement batches (any order, late, twice), verify them, find double spends and
 * reader faults, settle each distinct token once per merchant and currency, check each wallet's offline
 * allowance across all readers, and issue the signed blocklist readers load. spec/clearing.md is normative
 * (money invariants M1-M6, the ingest algorithm step by step, settlement rules, the report). Node only:
 * embedded SQLite (better-sqlite3; ':memory:' for a throwaway database) and node:crypto Ed25519 by default.
 *
 * Per batch (spec/clearing.md §4):
 *   1-3. size, then a bounded walk of the top-level CBOR heads (batch-bytes.ts): nothing inside the entries is
 *        decoded before the reader certificate and the reader's signature over the raw bytes are verified;
 *   4-5. the certificate must have been valid when the batch was created; a byte-identical batch is a duplicate;
 *   6-7. decode the entries; recompute the chain from prevHead (the journal's genesis when firstSeq = 1) to head;
 *   8.   continuity with what is held for that chain (reader id, journal id): else a fork;
 *   9.   every entry dated outside the carrying certificate's validity is stored invalid; every token is
 *        verified again (stateless, at the entry's reader time);
 *  10.   double spends (one wallet counter, different bytes; one token at two readers) and reader faults (one
 *        token listed twice by one reader), both directions, so arrival order does not matter.
 * Settlement and the allowance check are computed from what is held (settle.ts), so a late batch changes them.
 */
import { cborHead, cborItemEnd, encodeCbor } from '../cbor.js';
import { prefixKey, signingInput, type SyncVerifier } from '../crypto.js';
import { equalBytes } from '../../base/bytes.js';
import { fromHex, toHex } from '../../base/hex.js';
import { OffpayError } from '../../base/errors.js';
import type { Issuer } from '../issuer.js';
import { PAYMENT_CODE_SIGNED_TIME, decodeIssuerKeySet, encodeIssuerKeySet, readerCertSigningInput, type IssuerKeySet, type ReaderCert } from '../messages.js';
import { nodeEd25519, nodeSha256 } from '../node/crypto.js';
import { checkTokenJobs, type TokenCheck, type TokenJob, type VerifyPool } from './pool.js';
import { createBlocklist } from '../reader/blocklist.js';
import { JOURNAL_GENESIS_TAG, JOURNAL_TAG, JournalKind, type JournalEntry, type JournalKindName } from '../reader/journal.js';
import { READER_PROFILES } from '../reader/profiles.js';
import { cachingVerifier, type CertMemoVerifier } from '../reader/verifier.js';
import { recallCerts, rememberCerts } from './cert-memo.js';
import { validateFeeBps } from './fees.js';
import { DEFAULT_MAX_BATCH_BYTES, DEFAULT_MAX_BATCH_ENTRIES, decodeBatchEntries, readBatchFrame, type BatchFrame } from './batch-bytes.js';
import { settle, settler, type OverAllowance, type SettlementLine, type TripAnomaly, type TapInAnomaly, type EntryRef } from './settle.js';
import { readBatchView, schemaChangedError, writeBatch, type ClearingStore, type EntryRow, type IngestSession, type IngestTx, type RequestSaleRow, type TokenEntryRow } from './store.js';
import { findPairs } from './pairing.js';
import { decideRequests, type RequestDecision, type RequestPaidTwice } from './requests.js';
import { SqliteClearingStore } from './store-sqlite.js';
import { decideRefund, netRefunds, REFUND_PAGE_MAX, refundRecord, type RefundedLine, type RefundPage, type RefundProblem, type RefundRecord, type RefundResult } from './refunds.js';
import { openPgClearingStore } from './store-pg.js';

export type { OverAllowance, SettledToken, SettlementLine, TripAnomaly, TapInAnomaly, EntryRef } from './settle.js';
export type { RefundRecord, RefundResult, RefundedLine, RefundPage, RefundProblem } from './refunds.js';
import type { SettledToken } from './settle.js';

/** Clearing.paymentFacts: the entries naming one token and how it settles. */
export interface PaymentFacts {
  /** Every non-void entry naming the token, by (time, reader id, journal id, seq); for a `conflict` entry, `value` is the reason code. */
  entries: (EntryRef & {
    /** True when clearing accepted the entry (token re-verified, dated inside the reader certificate). */
    valid: boolean;
    /** Why the entry is invalid (an error code); absent when valid. */
    reason?: string;
    /** Operator (merchant) named by the reader certificate of the batch that carried the entry. */
    operatorId: number;
    /** ISO 4217 numeric currency code of the token (valid entries only). */
    currency?: number;
  })[];
  /** The token as settle() settles it (absent when it does not settle: invalid, voided, or a conflict record). */
  settled?: SettledToken;
  /** Wallet id (hex) of a valid entry, and whether that wallet is on the clearing blocklist. */
  walletId?: string;
  /** True when that wallet is on the clearing blocklist (false without a valid entry). */
  blocked: boolean;
  /** The refund held for the token, if any (spec/clearing.md §13). */
  refund?: RefundRecord;
  /**
   * The request the token answered, when another token of that request settles instead (spec/clearing.md M9):
   * then `settled` is absent. `settled` names the request's token that settles, `unsettled` this token only (the
   * report lists them all).
   */
  requestPaidTwice?: RequestPaidTwice;
}

const KIND_NAMES = Object.keys(JournalKind) as JournalKindName[];
const TOKEN_KINDS = new Set<number>([JournalKind.accept, JournalKind.tap_in, JournalKind.tap_out, JournalKind.conflict]);
/** A wallet's settled tokens (by hash, hex) and whether it is blocked, by wallet id (hex): read once per lookup. */
type WalletSettlements = Map<string, { tokens: Map<string, SettledToken>; blocked: boolean }>;

/** paymentFacts: readings at most, until the token's entries read before and after the others agree. */
const PAYMENT_READS = 5;

/** The same entries of a token (by place, validity and reason: what a commit in between could change). */
function sameEntryRows(a: readonly TokenEntryRow[], b: readonly TokenEntryRow[]): boolean {
  return a.length === b.length && a.every((r, i) => {
    const o = b[i]!;
    return r.readerId === o.readerId && r.seq === o.seq && r.valid === o.valid && r.reason === o.reason && r.operatorId === o.operatorId && equalBytes(r.journalId, o.journalId);
  });
}

/** ingestAll: entries written per database transaction (group commit). */
const GROUP_ENTRIES = 20_000;
/** Reader certificates remembered as verified (checkReaderCert); one per reader, so thousands of readers. */
const READER_CERT_MEMO = 65_536;
/** ingestAll with a pool: batches verified ahead of the one being written. */
const PIPELINE = 4;

/**
 * Options of {@link Clearing}, validated by its constructor: a bad value throws `clearing.bad_option` naming
 * it; a database that cannot be opened or has another schema version `clearing.store_unusable`; a database of
 * another issuer `clearing.wrong_issuer`; no better-sqlite3 installed `clearing.sqlite_unavailable`; no pg
 * installed (a `url`) `clearing.pg_unavailable`; a PostgreSQL server that cannot be reached or refuses the
 * login `clearing.store_unusable`. Give at most one of `path`, `url`, `store`.
 */
export interface ClearingOptions {
  /** The issuer key set; stored in the database, so later opens may omit it. */
  issuerKeys?: IssuerKeySet;
  /** SQLite database path (default ':memory:'). */
  path?: string;
  /** PostgreSQL connection URL, `postgres://user:password@host:port/db` (or `?host=/socket/dir`); Clearing.open only. */
  url?: string;
  /** A store of your own (store.ts); Clearing.open only. */
  store?: ClearingStore;
  /** PostgreSQL: connections in this process's pool (default 4; 1 .. 100). */
  poolSize?: number;
  /** Ed25519 backend (default nodeEd25519(), its key cache and certificate memo shared by every Clearing of the process). */
  verifier?: SyncVerifier;
  /** Fee in basis points charged on each settlement line (default 150 = 1.50%). */
  feeBps?: number;
  /** Clearing clock, unix seconds (default: the system clock); dates detections and blocklists. */
  clock?: () => number;
  /**
   * SQLite page cache, MiB (default 256). The wallet-counter index takes a random insert and a probe per
   * token; with a cache that holds it, neither waits on the disk cache as the database grows.
   */
  cacheMiB?: number;
  /**
   * SQLite: open an existing clearing only. A database without tables (an empty or a new file) is then
   * `clearing.store_missing` instead of a new, empty clearing (the CLI's report and refund; a mistyped path would
   * report nothing to settle). Without it, a new clearing is made there. Either way, a SQLite database of
   * something else is `clearing.store_unusable` and nothing is written to it.
   */
  mustExist?: boolean;
  /** Largest batch accepted, bytes (default DEFAULT_MAX_BATCH_BYTES = 8 MiB; 1 KiB .. 1 GiB). */
  maxBatchBytes?: number;
  /** Most entries in one batch (default DEFAULT_MAX_BATCH_ENTRIES = 65,536; 1 .. 2^24). */
  maxBatchEntries?: number;
  /**
   * Operators whose gates are configured with allowZeroFare (spec/reader.md profiles): a zero-fare tap-out of
   * theirs is a charge of 0. For every other operator a zero fare is never a charge (reported as an anomaly).
   */
  zeroFareOperators?: number[];
  /**
   * PostgreSQL (a house of several nodes): replace the house's stored issuer key set and fee with this node's.
   * Without it, opening a house whose stored key set or fee differ from the ones given is
   * `clearing.settings_mismatch` (spec/clearing.md §11.2, house settings): every node must settle by the same
   * rules. Stop every node first; the others then start with the same settings.
   */
  replaceSettings?: boolean;
}

/**
 * A batch {@link Clearing.ingest} is about to commit (its `beforeCommit` hook): it passed spec/clearing.md §4 steps
 * 1-7 (size, frame, certificate, signature, validity, not held, entries, chain), so it is a reader's and new here.
 */
export interface BatchToCommit {
  /** SHA-256 of the batch bytes (what a duplicate is recognised by). */
  digest: Uint8Array;
  /** The reader that signed the batch (its certificate's reader id). */
  readerId: number;
  /** The reader journal's id (8 bytes). */
  journalId: Uint8Array;
  /** The batch's number in that journal. */
  batchSeq: number;
  /**
   * The tokens the batch names, each once, in entry order: SHA-256 of each token entry's data, and the token hash a
   * void entry names (its sale's token, whose state the void changes).
   */
  tokenHashes: Uint8Array[];
}

/** Hooks of one {@link Clearing.ingest}. */
export interface IngestHooks {
  /**
   * Called once the batch passed every check before its commit, and awaited: a throw refuses the batch (the
   * ingest rejects with it; nothing is committed). The webhook service writes its outbox intent here. It MUST NOT
   * call this Clearing: it runs inside the ingest's store session, which a SQLite clearing's other calls wait for.
   */
  beforeCommit?: (b: BatchToCommit) => Promise<void>;
}

/** The token hashes of a prepared batch (BatchToCommit.tokenHashes). */
function tokenHashesOf(entries: readonly JournalEntry[]): Uint8Array[] {
  const seen = new Set<string>();
  const out: Uint8Array[] = [];
  for (const e of entries) {
    // A void names its sale's token by hash (32 bytes, entryFromCbor checks): that token's state changes too (and,
    // by M9, its request's).
    const h = e.kind === 'void' ? e.data : nodeSha256(e.data);
    const k = toHex(h);
    if (!seen.has(k)) {
      seen.add(k);
      out.push(h);
    }
  }
  return out;
}

/** What {@link Clearing.ingest} did with one batch (spec/clearing.md §4): a value, never an exception. */
export interface IngestResult {
  /** 'ingested', 'duplicate' (already held byte for byte), or 'rejected' (nothing was stored from it). */
  outcome: 'ingested' | 'duplicate' | 'rejected';
  /** The reader that signed the batch (when its certificate was read). */
  readerId?: number;
  /** Journal id, hex. */
  journalId?: string;
  /** The batch number within its journal. */
  batchSeq?: number;
  /** Entries newly stored. */
  entries: number;
  /** Entries already held (overlapping batches). */
  alreadyHeld: number;
  /** Entries stored invalid (token failed re-verification, or dated outside the reader certificate). */
  invalidTokens: number;
  /** Double spends newly found. */
  doubleSpends: number;
  /** Reader faults newly found (a token listed twice by one reader). */
  readerFaults: number;
  /** Why the batch was rejected (stable code) and the message. */
  error?: {
    /** Stable error code (`clearing.*`), as in OffpayError.code. */
    code: string;
    /** Human-readable message. */
    message: string;
  };
}

/**
 * One side of a double spend or reader fault: the journal entry that carried the token, and the token itself, so
 * the finding can be proven to a third party (hex strings, as in the JSON report).
 */
export interface EvidenceToken {
  /** SHA-256 of the token bytes, hex. */
  tokenHash: string;
  /** The reader whose journal holds the entry. */
  readerId: number;
  /** That reader's journal id, hex. */
  journalId: string;
  /** The entry's journal seq. */
  seq: number;
  /** The entry kind (`accept`, `tap_in`, `tap_out`...). */
  kind: JournalKindName;
  /** The entry's value, minor units. */
  amount: number;
  /** Full signed token bytes, hex. */
  token: string;
}

/**
 * A double spend found by clearing (spec/clearing.md §4 step 10): one wallet counter used by two different
 * tokens (`counter_reuse`), or one token accepted by two readers (`same_token_twice`), with both pieces of
 * evidence. The wallet joins the next blocklist.
 */
export interface DoubleSpend {
  /** `counter_reuse`: same wallet and counter, different token bytes; `same_token_twice`: same token at two readers. */
  kind: 'counter_reuse' | 'same_token_twice';
  /** The wallet id, hex (16 bytes). */
  walletId: string;
  /** The wallet counter involved. */
  counter: number;
  /** The entry held first. */
  first: EvidenceToken;
  /** The entry that conflicts with it. */
  second: EvidenceToken;
  /** Clearing time of the detection, unix seconds. */
  detectedAt: number;
}

/** One reader listed one token as a sale more than once: the reader's fault, not the customer's. Settled once. */
export interface ReaderFault {
  /** Always `token_listed_twice`. */
  kind: 'token_listed_twice';
  /** The reader at fault. */
  readerId: number;
  /** SHA-256 of the token bytes, hex. */
  tokenHash: string;
  /** The first listing. */
  first: EvidenceToken;
  /** The second listing. */
  second: EvidenceToken;
  /** Clearing time of the detection, unix seconds. */
  detectedAt: number;
}

/**
 * One reader journal as clearing holds it: batches and entries received, the last seq, and the gaps still
 * missing (a reader that has not uploaded everything).
 */
export interface ReaderSummary {
  /** The reader id. */
  readerId: number;
  /** The journal id, hex. */
  journalId: string;
  /** The merchant (operator) the reader settles to. */
  operatorId: number;
  /** The reader profile from its certificate (`vending`, `transit`). */
  profile: string;
  /** Batches held. */
  batches: number;
  /** Entries held. */
  entries: number;
  /** Highest seq for which every entry from 1 on is accounted for or a gap is listed. */
  lastSeq: number;
  /** Missing entry ranges [from, to], inclusive. */
  gaps: [number, number][];
}

/**
 * The clearing report (spec/clearing.md §7 is normative): settlement per merchant and currency, totals,
 * readers, double spends, reader faults, allowance overruns and exposure, trip anomalies, problems.
 * Amounts are minor units as `bigint` (decimal strings in the CLI's JSON).
 */
export interface ClearingReport {
  /** Per merchant (operator) and currency: distinct tokens, gross, fee, refunds, refunded, net = gross - fee - refunded (bigint; decimal strings in JSON). */
  settlement: RefundedLine[];
  /** Per currency, the total gross. */
  totals: {
    /** ISO 4217 numeric currency code. */
    currency: number;
    /** Tokens settled in the currency (the sum of its lines' counts). */
    count: number;
    /** Sum settled, minor units. */
    gross: bigint;
    /** Sum of the lines' fees, minor units. */
    fee: bigint;
    /** Refunds held in the currency. */
    refunds: number;
    /** Their sum, minor units. */
    refunded: bigint;
    /** Gross minus fee minus refunded, minor units. */
    net: bigint;
  }[];
  /** Every refund held, by (wallet id, token hash): what the issuer credits to each wallet (spec/clearing.md §13). */
  refunds: RefundRecord[];
  /** Refunds whose token no longer settles to its merchant at a charge of at least the refund (M8). */
  refundProblems: RefundProblem[];
  /** Every reader journal held. */
  readers: ReaderSummary[];
  /** Every double spend found. */
  doubleSpends: DoubleSpend[];
  /** Every reader fault found. */
  readerFaults: ReaderFault[];
  /**
   * Every request that more than one token paid (M9), by (reader id, request time, challenge): a reader fault; the
   * first token settles, the others do not.
   */
  requestsPaidTwice: RequestPaidTwice[];
  /** Wallet certificates whose settled total passed their offline allowance (each on the next blocklist). */
  overAllowance: OverAllowance[];
  /** Per currency, what was settled beyond the allowances: the issuer's exposure. */
  exposure: {
    /** ISO 4217 numeric currency code. */
    currency: number;
    /** Settled beyond the allowances, minor units. */
    amount: bigint;
  }[];
  /** Tap-ins with no tap-out (charged at the maximum fare). */
  openTrips: TripAnomaly[];
  /** Trips with more than one tap-out (charged once). */
  multipleTapOuts: TripAnomaly[];
  /**
   * Trips whose token was taken as a tap-in at more than one gate (charged once): a gate that heard the phone
   * meant for the next one, or a token shared (blocked only once it also left by two gates, spec/clearing.md §4
   * step 10). Each opened a gate for one fare.
   */
  multipleTapIns: TapInAnomaly[];
  /** Tap-outs whose tap-in was never received. */
  tapOutsWithoutTapIn: TripAnomaly[];
  /** Zero-fare tap-outs of operators not in `zeroFareOperators` (never a charge). */
  zeroFareTapOuts: EntryRef[];
  /** Batches rejected and other per-reader problems (stable `kind` codes). */
  problems: {
    /** The reader concerned. */
    readerId: number;
    /** The problem's stable code (such as `fork` or `reader_cert_changed`). */
    kind: string;
    /** Human-readable detail. */
    detail: string;
  }[];
  /** Entries stored invalid, with the reason the token failed re-verification. */
  invalidTokens: {
    /** The reader that journaled the entry. */
    readerId: number;
    /** The reader journal's id, hex. */
    journalId: string;
    /** The entry's seq in that journal. */
    seq: number;
    /** Why the token failed (an error code). */
    reason: string;
  }[];
  /** Voided sales (not settled). */
  voided: number;
  /** Trips settled at the maximum fare. */
  tripsAtMaximumFare: number;
  /** The blocklist: entries and the last version issued. */
  blocklist: {
    /** Wallets on the clearing blocklist. */
    entries: number;
    /** The last version issued (0: none yet). */
    version: number;
  };
  /** Fee in basis points applied to each line. */
  feeBps: number;
}

interface Prepared {
  kind: 'prepared';
  f: BatchFrame;
  entries: JournalEntry[];
  bytes: Uint8Array;
  digest: Uint8Array;
  hashes: Uint8Array[];
  /** Where each entry's data (the token, for token entries) starts in the batch bytes. */
  dataAt: number[];
  /** Per entry: dated inside the certificate's validity. */
  inCert: boolean[];
  jobs: (TokenJob | null)[];
  now: number;
  reject: (code: string, message: string, record?: boolean) => Promise<IngestResult>;
}
const JOURNAL_PREFIX = signingInput(JOURNAL_TAG, new Uint8Array(0));
/** journal.ts chainHash with node:crypto SHA-256 (same bytes, faster on Node). */
let chainScratch = new Uint8Array(1024);
function chainHash(prev: Uint8Array, entry: Uint8Array): Uint8Array {
  // One reused input buffer (hashed at once): no allocation per entry.
  const n = JOURNAL_PREFIX.length + prev.length + entry.length;
  if (n > chainScratch.length) chainScratch = new Uint8Array(2 * n);
  chainScratch.set(JOURNAL_PREFIX, 0);
  chainScratch.set(prev, JOURNAL_PREFIX.length);
  chainScratch.set(entry, JOURNAL_PREFIX.length + prev.length);
  return nodeSha256(chainScratch.subarray(0, n));
}
/** h(0) of journal `journalId` of reader `readerId` (spec/reader.md §9). */
function genesis(readerId: number, journalId: Uint8Array): Uint8Array {
  return nodeSha256(signingInput(JOURNAL_GENESIS_TAG, encodeCbor([readerId, journalId])));
}

/** Offset of the data byte string's content in an entry's canonical bytes [seq, kind, time, data, value]. */
function entryDataStart(entry: Uint8Array): number {
  let pos = 1;
  for (let i = 0; i < 3; i++) pos = cborItemEnd(entry, pos);
  return cborHead(entry, pos).next;
}

/**
 * The default verifier (node:crypto behind the wallet-certificate memo), one per process: both its caches hold
 * pure functions of the bytes they are keyed by (an imported public key; a certificate signature that verified,
 * confirmed on signature, key and message), so every Clearing of the process shares them, and a new instance
 * (a new database, a restart of the service in the same process) does not import every key and check every
 * certificate again.
 */
let sharedVerifier: CertMemoVerifier | undefined;
/** Reader certificates verified by the default verifier (Clearing.checkReaderCert), the process's. */
const sharedReaderCerts = new Map<number, { cert: Uint8Array; issuerKey: Uint8Array }>();
function defaultVerifier(): CertMemoVerifier {
  return (sharedVerifier ??= cachingVerifier(nodeEd25519(65_536), 65_536));
}

function boundedOption(name: string, v: number | undefined, dflt: number, min: number, max: number): number {
  if (v === undefined) return dflt;
  if (!Number.isSafeInteger(v) || v < min || v > max) throw new OffpayError('clearing.bad_option', `${name} ${String(v)} must be an integer in ${min}..${max}`);
  return v;
}

/** The options that do not depend on the store, validated in one place. */
function validateOptions(o: ClearingOptions) {
  const maxBatchBytes = boundedOption('maxBatchBytes', o.maxBatchBytes, DEFAULT_MAX_BATCH_BYTES, 1024, 1024 * 1024 * 1024);
  const maxBatchEntries = boundedOption('maxBatchEntries', o.maxBatchEntries, DEFAULT_MAX_BATCH_ENTRIES, 1, 1 << 24);
  if (o.zeroFareOperators !== undefined && (!Array.isArray(o.zeroFareOperators) || !o.zeroFareOperators.every((x) => Number.isSafeInteger(x) && x >= 0))) {
    throw new OffpayError('clearing.bad_option', 'zeroFareOperators must be an array of operator ids');
  }
  if (o.feeBps !== undefined) validateFeeBps(o.feeBps);
  const where = [o.path !== undefined, o.url !== undefined, o.store !== undefined].filter(Boolean).length;
  if (where > 1) throw new OffpayError('clearing.bad_option', 'give one of path, url and store');
  if (o.url !== undefined && !isPostgresUrl(o.url)) throw new OffpayError('clearing.bad_option', `url ${o.url} is not a postgres:// or postgresql:// URL`);
  return { maxBatchBytes, maxBatchEntries };
}

/** True for a PostgreSQL connection URL (what `--db` takes besides a file path). */
export function isPostgresUrl(s: string): boolean {
  return /^postgres(ql)?:\/\//i.test(s);
}

/**
 * The stored settings against the options (both engines): the issuer key set must be the database's issuer's;
 * the fee is the option, else the stored one, else 150. Returns what to store.
 */
function resolveMeta(o: ClearingOptions, storedKeyset: unknown, storedFee: unknown): { issuerKeys: IssuerKeySet; feeBps: number; writeKeyset: boolean } {
  let issuerKeys: IssuerKeySet;
  let writeKeyset = false;
  if (o.issuerKeys) {
    if (storedKeyset instanceof Uint8Array && decodeIssuerKeySet(storedKeyset).issuerId !== o.issuerKeys.issuerId) {
      throw new OffpayError('clearing.wrong_issuer', `this clearing database belongs to issuer ${decodeIssuerKeySet(storedKeyset).issuerId}`);
    }
    issuerKeys = o.issuerKeys;
    writeKeyset = true;
  } else if (storedKeyset instanceof Uint8Array) {
    issuerKeys = decodeIssuerKeySet(storedKeyset);
  } else {
    throw new OffpayError('clearing.no_issuer_keys', 'a new clearing database needs the issuer key set');
  }
  const feeBps = validateFeeBps(o.feeBps ?? (typeof storedFee === 'number' ? storedFee : 150));
  return { issuerKeys, feeBps, writeKeyset };
}

/**
 * A house of several nodes (PostgreSQL) settles by one set of rules: the first node records the issuer key set
 * (insert if absent, so of nodes starting at once on an empty database exactly one records it), and a node whose
 * key set or fee differs from the recorded one is refused, naming what differs (spec/clearing.md §11.2).
 */
async function checkHouseSettings(store: ClearingStore, o: ClearingOptions): Promise<void> {
  if (o.issuerKeys) {
    const mine = encodeIssuerKeySet(o.issuerKeys);
    const held = await store.claimMeta('issuer_keyset', mine);
    if (!held.inserted && held.value instanceof Uint8Array && !equalBytes(held.value, mine)) {
      const theirs = decodeIssuerKeySet(held.value);
      if (theirs.issuerId !== o.issuerKeys.issuerId) throw new OffpayError('clearing.wrong_issuer', `this clearing database belongs to issuer ${theirs.issuerId}`);
      const keys = (s: IssuerKeySet) => s.keys.map((k) => `${k.keyIndex} [${k.notBefore}, ${k.notAfter}]`).join(', ');
      throw new OffpayError('clearing.settings_mismatch', `the issuer key set differs from the house's (${store.location}): keys ${keys(o.issuerKeys)} here, ${keys(theirs)} held. Every node must run with the same one: stop every node, start one with --replace-settings, then the others`);
    }
  }
  const fee = await store.getMeta('fee_bps');
  if (o.feeBps !== undefined && typeof fee === 'number' && fee !== o.feeBps) {
    throw new OffpayError('clearing.settings_mismatch', `the fee differs from the house's (${store.location}): ${o.feeBps} bps here, ${fee} bps held. Every node must run with the same one: stop every node, start one with --replace-settings, then the others`);
  }
}

/** A store with its settings read (Clearing.open), for the constructor. */
export interface OpenedStore {
  /** The open store. */
  store: ClearingStore;
  /** The issuer key set the store was created for. */
  issuerKeys: IssuerKeySet;
  /** The fee in basis points the store was created with. */
  feeBps: number;
}

/**
 * Clearing (Node only): ingests reader settlement batches in any order, late or twice; re-verifies every token;
 * finds double spends and reader faults; settles each distinct token once per merchant and currency; checks each
 * wallet certificate's offline allowance across all readers; issues the signed blocklist. spec/clearing.md is
 * normative (money invariants M1-M8, ingest §4, settlement §5, report §7, error codes §8, the store §11, refunds §13).
 *
 * The rules run over a {@link ClearingStore}: SQLite (`path`, the embedded default; `new Clearing(o)` opens it
 * synchronously) or PostgreSQL (`url`, through `await Clearing.open(o)`; several processes on one database are
 * one clearing house). Every method that reads or writes the store is async.
 *
 * Construction validates {@link ClearingOptions} (error codes there). `ingest` never throws on bad bytes: a
 * rejected batch is an {@link IngestResult} with a stable `error.code`.
 *
 * @example
 * ```ts
 * import { Clearing } from 'offpay/clearing';
 * const clearing = await Clearing.open({ issuerKeys: issuer.keySet(), path: 'settlement.sqlite' }); // or url: 'postgres://...'
 * for (const batch of batches) console.log((await clearing.ingest(batch)).outcome);   // ingested | duplicate | rejected
 * const report = await clearing.report();                  // settlement, double spends, allowance overruns...
 * const { bytes } = await clearing.issueBlocklist(issuer); // the next signed blocklist for the readers
 * await clearing.close();
 * ```
 */
export class Clearing {
  /** The store (SQLite or PostgreSQL). */
  readonly store: ClearingStore;
  /** The issuer key set (given, or read back from the database). */
  readonly issuerKeys: IssuerKeySet;
  /** Fee in basis points on each settlement line. */
  readonly feeBps: number;
  /** Largest batch accepted, bytes. */
  readonly maxBatchBytes: number;
  /** Most entries in one batch. */
  readonly maxBatchEntries: number;
  private readonly zeroFareOperators: ReadonlySet<number>;
  private readonly verifier: CertMemoVerifier;
  /** Reader certificates whose issuer signature verified: their bytes by prefixKey of the signature (checkReaderCert). */
  private readonly readerCertsVerified: Map<number, { cert: Uint8Array; issuerKey: Uint8Array }>;
  private readonly clock: () => number;

  /**
   * Open (or create) a clearing on SQLite (`path`, default ':memory:'), synchronously. For PostgreSQL (`url`)
   * or a store of your own, use {@link Clearing.open}.
   * @throws OffpayError see {@link ClearingOptions}.
   */
  constructor(o: ClearingOptions, opened?: OpenedStore) {
    ({ maxBatchBytes: this.maxBatchBytes, maxBatchEntries: this.maxBatchEntries } = validateOptions(o));
    this.zeroFareOperators = new Set(o.zeroFareOperators ?? []);
    this.verifier = o.verifier ? cachingVerifier(o.verifier, 65_536) : defaultVerifier();
    this.readerCertsVerified = o.verifier ? new Map() : sharedReaderCerts;
    this.clock = o.clock ?? (() => Math.floor(Date.now() / 1000));
    if (opened) {
      ({ store: this.store, issuerKeys: this.issuerKeys, feeBps: this.feeBps } = opened);
      return;
    }
    if (o.url !== undefined || o.store !== undefined) throw new OffpayError('clearing.bad_option', 'a PostgreSQL url or a store opens with `await Clearing.open(options)`');
    const store = new SqliteClearingStore({ path: o.path ?? ':memory:', ...(o.cacheMiB !== undefined ? { cacheMiB: o.cacheMiB } : {}), ...(o.mustExist ? { mustExist: true } : {}) });
    try {
      const m = resolveMeta(o, store.getMetaSync('issuer_keyset'), store.getMetaSync('fee_bps'));
      if (m.writeKeyset) store.setMetaSync('issuer_keyset', encodeIssuerKeySet(m.issuerKeys));
      store.setMetaSync('fee_bps', m.feeBps);
      this.issuerKeys = m.issuerKeys;
      this.feeBps = m.feeBps;
    } catch (e) {
      if (store.db.open) store.db.close();
      throw e;
    }
    this.store = store;
  }

  /**
   * Open (or create) a clearing database: SQLite at `path` (default ':memory:'), PostgreSQL at `url`
   * (`postgres://...`; the optional peer dependency `pg` is loaded on first use, `clearing.pg_unavailable`
   * without it), or a given `store`.
   * @throws OffpayError see {@link ClearingOptions}.
   */
  static async open(o: ClearingOptions): Promise<Clearing> {
    validateOptions(o);
    if (o.url === undefined && o.store === undefined) return new Clearing(o);
    const store = o.store ?? (await openPgClearingStore({ url: o.url!, ...(o.poolSize !== undefined ? { poolSize: o.poolSize } : {}) }));
    try {
      if (store.engine === 'postgres' && !o.replaceSettings) await checkHouseSettings(store, o);
      const m = resolveMeta(o, await store.getMeta('issuer_keyset'), await store.getMeta('fee_bps'));
      if (m.writeKeyset) await store.setMeta('issuer_keyset', encodeIssuerKeySet(m.issuerKeys));
      await store.setMeta('fee_bps', m.feeBps);
      return new Clearing(o, { store, issuerKeys: m.issuerKeys, feeBps: m.feeBps });
    } catch (e) {
      if (!o.store) await store.close();
      throw e;
    }
  }

  /** Close the database (idempotent). */
  close(): Promise<void> {
    return this.store.close();
  }

  /**
   * Check a reader certificate's issuer signature (validity dates are checked against the batch and each entry).
   * A certificate whose signature verified is remembered by its exact bytes and the issuer public key it verified
   * under (a reader sends the same one with every batch): the same bytes under the same key give the same answer.
   * With the default verifier the memo is the process's (shared like the verifier's caches), else this instance's.
   */
  private checkReaderCert(c: ReaderCert, bytes: Uint8Array): void {
    const key = this.issuerKeys.keys.find((k) => k.keyIndex === c.keyIndex);
    if (!key) throw new OffpayError('clearing.unknown_issuer_key', `reader ${c.readerId}: certificate names unknown issuer key ${c.keyIndex}`);
    const memo = this.readerCertsVerified;
    const memoKey = prefixKey(c.issuerSignature);
    const hit = memo.get(memoKey);
    if (hit && equalBytes(hit.cert, bytes) && equalBytes(hit.issuerKey, key.publicKey)) return;
    if (!this.verifier.verify(c.issuerSignature, readerCertSigningInput(c), key.publicKey)) {
      throw new OffpayError('clearing.bad_reader_cert', `reader ${c.readerId}: the issuer signature on the reader certificate does not verify`);
    }
    if (!hit && memo.size >= READER_CERT_MEMO) memo.delete(memo.keys().next().value as number);
    memo.set(memoKey, { cert: bytes.slice(), issuerKey: key.publicKey.slice() });
  }

  /**
   * Phase 1 of an ingest (spec/clearing.md §4 steps 1-7): size, frame, certificate, signature, certificate
   * validity, duplicate, entries, chain; and the token verification jobs. Returns a final result when the
   * batch stops here. Never throws on bad bytes.
   */
  private async prepare(s: IngestSession, bytes: Uint8Array): Promise<Prepared | IngestResult> {
    const empty = { entries: 0, alreadyHeld: 0, invalidTokens: 0, doubleSpends: 0, readerFaults: 0 };
    const now = this.clock();
    let f: BatchFrame;
    try {
      f = readBatchFrame(bytes, { maxBytes: this.maxBatchBytes, maxEntries: this.maxBatchEntries });
    } catch (e) {
      const code = e instanceof OffpayError && e.code.startsWith('clearing.') ? e.code : 'clearing.bad_batch';
      return { outcome: 'rejected', ...empty, error: { code, message: (e as Error).message } };
    }
    const c = f.readerCert;
    const readerId = c.readerId;
    const journalId = toHex(f.journalId);
    const reject = async (code: string, message: string, record = true): Promise<IngestResult> => {
      if (record) await s.problem(readerId, code.replace('clearing.', ''), message, now);
      return { outcome: 'rejected', readerId, journalId, batchSeq: f.batchSeq, ...empty, error: { code, message } };
    };
    try {
      this.checkReaderCert(c, f.readerCertBytes);
    } catch (e) {
      return reject((e as OffpayError).code, (e as Error).message, false);
    }
    if (!this.verifier.verify(f.signature, f.signed, c.readerPublicKey)) {
      // Not recorded against the reader: anyone can send bytes naming a reader with a copy of its certificate.
      return reject('clearing.bad_batch_signature', `batch ${f.batchSeq}: the reader signature does not verify`, false);
    }
    if (f.createdAt < c.notBefore || f.createdAt > c.notAfter) {
      return reject('clearing.reader_cert_not_valid', `batch ${f.batchSeq} created at ${f.createdAt}, outside the reader certificate's validity ${c.notBefore}..${c.notAfter}`);
    }
    const digest = nodeSha256(bytes);
    if (await s.isDuplicate(readerId, f.journalId, f.batchSeq, digest)) return { outcome: 'duplicate', readerId, journalId, batchSeq: f.batchSeq, ...empty };
    let raw: Uint8Array[];
    let entries: JournalEntry[];
    try {
      ({ raw, entries } = decodeBatchEntries(bytes, f));
    } catch (e) {
      return reject('clearing.bad_batch', (e as Error).message);
    }
    if (f.firstSeq === 1 && !equalBytes(f.prevHead, genesis(readerId, f.journalId))) {
      return reject('clearing.bad_chain', `batch ${f.batchSeq} starts the journal but its prevHead is not the genesis hash of reader ${readerId}, journal ${journalId}`);
    }
    const hashes: Uint8Array[] = [];
    const dataAt: number[] = [];
    let h = f.prevHead;
    // The chain covers each entry's canonical bytes: hashed straight out of the (canonical) batch bytes.
    for (const entry of raw) {
      h = chainHash(h, entry);
      hashes.push(h);
      dataAt.push(entry.byteOffset - bytes.byteOffset + entryDataStart(entry));
    }
    if (!equalBytes(h, f.head)) {
      return reject('clearing.bad_chain', `batch ${f.batchSeq} (entries ${f.firstSeq}..${f.firstSeq + entries.length - 1}): the entries do not chain to the signed head`);
    }
    const profile = READER_PROFILES[c.profile];
    const payees = c.profile === 'transit' ? [readerId, c.operatorId] : [readerId];
    const acceptAge = Math.max(profile.maxAgeSeconds, profile.oneWayMaxAgeSeconds);
    const inCert = entries.map((e) => e.time >= c.notBefore && e.time <= c.notAfter);
    const jobs = entries.map((e, i): TokenJob | null =>
      TOKEN_KINDS.has(JournalKind[e.kind]) && inCert[i]
        ? {
            data: e.data, now: e.time, payees, maxAge: e.kind === 'tap_out' ? profile.maxTripSeconds : acceptAge, maxFuture: profile.maxFutureSeconds,
            // A tap-out's certificate and issuer key judged as the gate judged them (validAt signed: spec/clearing.md §4 step 9).
            ...(e.kind === 'tap_out' ? { validAt: 'signed' as const } : {}),
            ...(e.request ? { request: e.request } : {}),
          }
        : null,
    );
    return { kind: 'prepared', f, entries, bytes, digest, hashes, dataAt, inCert, jobs, now, reject };
  }

  /** Verify the token jobs of a batch on this thread (nulls pass through). */
  private checkJobs(jobs: (TokenJob | null)[]): (TokenCheck | null)[] {
    const real = jobs.filter((j): j is TokenJob => j !== null);
    const checks = checkTokenJobs(real, this.issuerKeys, this.verifier);
    let k = 0;
    return jobs.map((j) => (j ? checks[k++]! : null));
  }

  /**
   * Ingest one batch. Never throws on bad bytes: a rejected batch is a result (and a recorded problem). The
   * promise resolves after the batch's commit.
   */
  ingest(bytes: Uint8Array, hooks?: IngestHooks): Promise<IngestResult> {
    return this.store.session(async (s) => {
      const p = await this.prepare(s, bytes);
      if (!('kind' in p)) return p;
      if (hooks?.beforeCommit) {
        await hooks.beforeCommit({ digest: p.digest, readerId: p.f.readerCert.readerId, journalId: p.f.journalId, batchSeq: p.f.batchSeq, tokenHashes: tokenHashesOf(p.entries) });
      }
      return this.verifyAndCommit(s, p);
    });
  }

  /** True when clearing holds this very batch (reader, journal, batch number and bytes' SHA-256): a resend would be a duplicate. */
  holdsBatch(readerId: number, journalId: Uint8Array, batchSeq: number, digest: Uint8Array): Promise<boolean> {
    return this.store.session((s) => s.isDuplicate(readerId, journalId, batchSeq, digest));
  }

  /**
   * The token hashes a batch's entries name (as BatchToCommit.tokenHashes), decoded within this clearing's limits;
   * undefined when the bytes are not a batch it could take. For a batch clearing holds (a duplicate).
   */
  batchTokenHashes(bytes: Uint8Array): Uint8Array[] | undefined {
    try {
      const f = readBatchFrame(bytes, { maxBytes: this.maxBatchBytes, maxEntries: this.maxBatchEntries });
      return tokenHashesOf(decodeBatchEntries(bytes, f).entries);
    } catch {
      return undefined;
    }
  }

  /**
   * Verify a prepared batch's tokens on this thread and commit it; the certificates the process does not
   * remember are looked up in the store's memo first, and those that passed are remembered there after the
   * commit (cert-memo.ts; spec/clearing.md §4, remembered certificates).
   */
  private async verifyAndCommit(s: IngestSession, p: Prepared): Promise<IngestResult> {
    const pending = await recallCerts(s, p.jobs, this.issuerKeys, this.verifier);
    const checks = this.checkJobs(p.jobs);
    const r = await this.commit(s, p, checks);
    if (r.outcome === 'ingested') await rememberCerts(s, pending, checks);
    return r;
  }

  /**
   * Ingest many batches, verifying tokens on `pool` worker threads while the main thread writes the previous
   * batch to the database (same results as `ingest` one by one, in order). Without a pool, verification runs
   * on the calling thread.
   *
   * Group commit (SQLite): the batches are written in database transactions of up to `GROUP_ENTRIES` entries
   * (each batch inside as a savepoint, so a batch that fails rolls back alone, exactly as in `ingest`), which
   * saves one synchronous commit per batch. PostgreSQL commits each batch on its own. Everything is durable
   * before the returned promise resolves; if the process dies before that, the batches of the open group are
   * simply not held and can be ingested again (ingest is idempotent).
   */
  ingestAll(batches: Uint8Array[], pool?: VerifyPool): Promise<IngestResult[]> {
    return this.store.session(
      async (s) => {
        const out: IngestResult[] = [];
        let open = 0; // entries written since the last checkpoint
        const write = async (p: Prepared | IngestResult, checks?: () => (TokenCheck | null)[]): Promise<IngestResult> => {
          // Without a pool the tokens are verified here, with the store's certificate memo; with one, by the
          // workers (each with its own process memos).
          const r = 'kind' in p ? await (checks ? this.commit(s, p, checks()) : this.verifyAndCommit(s, p)) : p;
          open += 'kind' in p ? p.entries.length : 1;
          if (open >= GROUP_ENTRIES) {
            await s.checkpoint();
            open = 0;
          }
          return r;
        };
        if (!pool) {
          for (const bytes of batches) {
            const p = await this.prepare(s, bytes);
            out.push(await write(p));
          }
          return out;
        }
        // A promise of the pipeline may fail before the loop reaches it (a lost database fails every look-up in
        // flight), or after the loop stopped at an earlier failure: each gets a handler when it is made, so that
        // no failure goes unhandled (Node ends the process on one), and the session waits for all of them before
        // it ends, so that nothing reads the store after it.
        const quiet = <T>(x: Promise<T>): Promise<T> => (x.catch(() => undefined), x);
        const start = async (i: number) => {
          const p = await this.prepare(s, batches[i]!);
          if (!('kind' in p)) return { p, checks: Promise.resolve([] as (TokenCheck | null)[]) };
          return { p, checks: quiet(pool.check(p.jobs)) };
        };
        // PIPELINE batches in flight, so the workers always have work queued while the main thread writes, and
        // keep working through the fsyncs of a group commit.
        const ahead: Promise<Awaited<ReturnType<typeof start>>>[] = [];
        try {
          for (let i = 0; i < Math.min(PIPELINE, batches.length); i++) ahead.push(quiet(start(i)));
          for (let i = 0; i < batches.length; i++) {
            const cur = await ahead.shift()!;
            const checks = await cur.checks;
            if (i + PIPELINE < batches.length) ahead.push(quiet(start(i + PIPELINE)));
            // A batch prepared before the previous ones were committed may now be a duplicate or overlap: commit
            // handles overlaps entry by entry, and a byte-identical batch is detected again there.
            out.push(await write(cur.p, () => checks));
          }
        } catch (e) {
          await Promise.allSettled(ahead.map(async (a) => (await a).checks));
          throw e;
        }
        return out;
      },
      { group: true },
    );
  }

  /**
   * Phase 2 (spec/clearing.md §4 steps 8-10): continuity, per-entry storage, double spends, reader faults; one
   * atomic unit of the store (which may run it again after a conflict with a concurrent ingest: nothing here
   * has an effect outside the unit).
   */
  private async commit(s: IngestSession, p: Prepared, checks: (TokenCheck | null)[]): Promise<IngestResult> {
    try {
      return await s.atomic((tx) => this.commitUnit(tx, p, checks));
    } catch (e) {
      // A fork is the unit's verdict on the batch. Anything else is the database failing (a lost connection,
      // clearing.store_unavailable; the writer fence of an upgraded database, clearing.schema_changed): no
      // verdict on the batch and no fault of its reader's, so it is thrown and the service answers 503, and
      // the reader sends the batch again (spec/clearing-api.md §4).
      if (e instanceof OffpayError && e.code === 'clearing.fork') return p.reject(e.code, e.message);
      throw e;
    }
  }

  private async commitUnit(tx: IngestTx, p: Prepared, checks: (TokenCheck | null)[]): Promise<IngestResult> {
    const { f, entries: list, bytes, digest, hashes, dataAt, inCert, now } = p;
    const cert = f.readerCert;
    const readerId = cert.readerId;
    const journalId = toHex(f.journalId);
    const lastSeq = f.firstSeq + list.length - 1;
    // What is held about this batch's place, read in one call (one statement on PostgreSQL).
    const view = await readBatchView(tx, { readerId, journalId: f.journalId, batchSeq: f.batchSeq, firstSeq: f.firstSeq, lastSeq });
    const none = { entries: 0, alreadyHeld: 0, invalidTokens: 0, doubleSpends: 0, readerFaults: 0 };
    if (view.digest && equalBytes(view.digest, digest)) return { outcome: 'duplicate', readerId, journalId, batchSeq: f.batchSeq, ...none };
    // Continuity with what is held for this chain.
    const before = view.before;
    if (before && !equalBytes(before.hash, f.prevHead)) {
      throw new OffpayError('clearing.fork', `batch ${f.batchSeq}: prevHead does not match held entry ${f.firstSeq - 1} (a rewritten or forged history)`);
    }
    const after = view.after;
    // An entry held without prev_hash was not first in its batch: the entry before it (lastSeq) is held too and
    // was compared with this batch's own last entry below, whose hash is the head.
    if (after && after.prevHash !== null && !equalBytes(after.prevHash, f.head)) {
      throw new OffpayError('clearing.fork', `batch ${f.batchSeq}: head does not match the start of held entry ${lastSeq + 1} (a rewritten or forged history)`);
    }
    const existing = view.reader;
    if (existing && (existing.operatorId !== cert.operatorId || existing.profile !== cert.profile)) {
      await tx.problem(readerId, 'reader_cert_changed', `operator ${existing.operatorId} -> ${cert.operatorId}`, now);
    }
    if (!existing) await tx.putReader(readerId, cert.operatorId, cert.profile, encodeCbor(cert.issuerSignature));
    const held = view.held;
    const chain = view.chain ?? (await tx.addChain(readerId, f.journalId));
    let alreadyHeld = 0;
    let invalidTokens = 0;
    let doubleSpends = 0;
    let readerFaults = 0;
    /** Seqs of the entries this commit writes. */
    const fresh = new Set<number>();
    const rows: EntryRow[] = [];
    const drop: number[] = [];
    const problems: string[] = [];
    let tokens = false;
    for (let i = 0; i < list.length; i++) {
      const e = list[i]!;
      const hash = hashes[i]!;
      const have = held.get(e.seq);
      if (have) {
        if (!equalBytes(have.hash, hash)) {
          throw new OffpayError('clearing.fork', `batch ${f.batchSeq}: entry ${e.seq} differs from the entry already held (a rewritten or forged history)`);
        }
        // The same entry, first delivered under a certificate that did not cover its time, now arrives under one
        // that does: judge it again under this one (so the outcome does not depend on which batch came first).
        if (have.reason === 'reader_cert_not_valid' && inCert[i]) drop.push(e.seq);
        else {
          alreadyHeld++;
          continue;
        }
      }
      const kind = JournalKind[e.kind];
      const row: EntryRow = {
        chain, seq: e.seq, kind, time: e.time, value: e.value, amount: null, tokenHash: null, prevHash: i === 0 ? f.prevHead : null, hash, valid: true, reason: null,
        operatorId: cert.operatorId, source: null, tokenAt: null, tokenLen: null, walletId: null, counter: null, currency: null, certKey: null, allowance: null,
        reqTime: null, reqChallenge: null,
      };
      if (TOKEN_KINDS.has(kind)) {
        tokens = true;
        row.tokenAt = dataAt[i]!;
        row.tokenLen = e.data.length;
        const v = checks[i];
        // verifyToken already hashed an accepted token (SHA-256 of the same bytes): reuse it.
        row.tokenHash = v && v.ok ? v.tokenHash : nodeSha256(e.data);
        if (!inCert[i]) {
          row.valid = false;
          row.reason = 'reader_cert_not_valid';
        } else if (!v || !v.ok) {
          row.valid = false;
          row.reason = v ? v.reason : 'malformed';
        } else if ((e.kind === 'accept' || e.kind === 'tap_in') && e.value !== v.amount) {
          row.valid = false;
          row.reason = 'amount_mismatch';
        } else {
          // Only valid tokens are indexed by wallet counter, so only they take part in double spends and settlement.
          row.walletId = v.walletId;
          row.counter = v.counter;
          row.currency = v.currency;
          row.certKey = v.certKey;
          row.allowance = v.allowance;
          if (e.kind === 'tap_out') row.amount = v.amount;
          // The request a request-bound sale answered (M9, one request one settlement); not a payment code's (its
          // 21-bit challenge does not tell two requests apart: spec/protocol.md §4.3, rule P).
          if (e.kind === 'accept' && e.request && e.request.time !== PAYMENT_CODE_SIGNED_TIME) {
            row.reqTime = e.request.time;
            row.reqChallenge = e.request.challenge;
          }
          // A conflict entry (a reader saw this wallet reuse a counter) blocks nothing by itself: it is paired
          // like any token entry, and an honest reader records one only after a sale of that counter with other
          // bytes, so that pair (counter_reuse, with both tokens as evidence) blocks the wallet. Alone, a
          // merchant could block any customer it was paid by, with no evidence (spec/clearing.md §4 step 10).
        }
      } else {
        row.tokenHash = e.data; // void: the hash of the voided token
        if (!inCert[i]) {
          row.valid = false;
          row.reason = 'reader_cert_not_valid';
        }
      }
      if (!row.valid) {
        invalidTokens++;
        problems.push(`journal ${journalId} entry ${e.seq}: ${row.reason}`);
      }
      rows.push(row);
      fresh.add(e.seq);
    }
    if (drop.length) await tx.dropEntries(chain, drop);
    // The batch bytes are stored once, when an entry that needs them (a token entry) is written; the batch
    // record with them (nothing below reads it).
    await writeBatch(tx, {
      chain, batchSeq: f.batchSeq, bytes: tokens ? bytes : null, rows,
      batch: { chain, batchSeq: f.batchSeq, firstSeq: f.firstSeq, entries: list.length, head: f.head, digest, createdAt: f.createdAt },
    });
    for (const d of problems) await tx.problem(readerId, 'invalid_entry', d, now);
    // Double spends and reader faults (spec/clearing.md §4 step 10, pairing.ts): one finding per key, with the
    // first pair the sequential judgment finds. The blocklist keeps the first reason a wallet was blocked for:
    // findings come in the order of the entry that found them, counter reuse first.
    const pairs = await findPairs(tx, { chain, readerId, journalId: f.journalId, from: f.firstSeq, to: lastSeq, rows, now });
    for (const r of pairs.readerFaults) if (await tx.putReaderFault(r)) readerFaults++;
    for (const d of pairs.doubleSpends) {
      if (await tx.putDoubleSpend(d)) doubleSpends++;
      await tx.block(d.walletId, d.kind, now);
    }
    return { outcome: 'ingested', readerId, journalId, batchSeq: f.batchSeq, entries: fresh.size, alreadyHeld, invalidTokens, doubleSpends, readerFaults };
  }

  /**
   * Decide a merchant's refund (message 10; spec/protocol.md §4.5, spec/clearing.md §13, invariant M8): the
   * stateless checks, then against what is held (the token settles, to the signer's operator, in its currency,
   * at a charge of at least the amount, and no other refund of it is held), stored insert-if-absent under the
   * unique key token hash. Resolves after the store committed. Never throws for bad bytes.
   */
  async refund(bytes: Uint8Array, now: number = this.clock()): Promise<RefundResult> {
    // The token's entries are looked up by hash: the payment index, built once (serve builds it too).
    await this.indexPayments();
    return decideRefund({ store: this.store, issuerKeys: this.issuerKeys, verifier: this.verifier, facts: (h) => this.paymentFacts(h) }, bytes, now);
  }
  private paymentsIndexed: Promise<void> | undefined;

  /** Every refund held, by (wallet id, token hash): the issuer's credit list. */
  async refunds(): Promise<RefundRecord[]> {
    return (await this.store.refunds()).map(refundRecord);
  }

  /**
   * The refund part of the report (GET /v1/refunds): every refund by (wallet id, token hash), totals per currency,
   * the settlement lines with refunds netted, and the refunds whose token's settlement moved (M8).
   */
  async refundReport(): Promise<ReturnType<typeof netRefunds>> {
    const rows = await this.store.refunds();
    const s = await this.settle(false, new Set(rows.map((r) => toHex(r.tokenHash))));
    return netRefunds(s.lines, rows, new Map(s.tokens.map((t) => [t.tokenHash, t])), this.feeBps);
  }

  /**
   * One page of the refund list (GET /v1/refunds, keyset paging): at most `limit` (1 .. REFUND_PAGE_MAX) refunds
   * stored after the one numbered `after` (0: from the first), in the order they were stored, with the problems
   * among them (each page's tokens settled over their wallets' entries alone, as paymentFacts does, so a page
   * costs what its refunds cost, not a settlement pass) and the totals of every refund held. Throws
   * `clearing.bad_option` for an `after` or `limit` out of range.
   */
  async refundPage(after: number, limit: number): Promise<RefundPage> {
    if (!Number.isSafeInteger(after) || after < 0) throw new OffpayError('clearing.bad_option', `refund page: after ${String(after)} must be an integer >= 0`);
    if (!Number.isSafeInteger(limit) || limit < 1 || limit > REFUND_PAGE_MAX) throw new OffpayError('clearing.bad_option', `refund page: limit ${String(limit)} must be an integer in 1..${REFUND_PAGE_MAX}`);
    // One consistent view: the totals and the highest refund number they count, read in one statement, then the
    // page among those refunds only (numbers ascend in commit order). A refund stored meanwhile is in neither,
    // and comes after `last` on a later walk.
    const { totals, lastSeq } = await this.store.refundTotals();
    const rows = await this.store.refundsAfter(after, limit + 1, lastSeq);
    const page = rows.slice(0, limit);
    const excluded = new Set<string>();
    if (page.length) await this.indexPayments(); // the page's tokens are looked up by hash (M9)
    for (const r of page) if (await this.paidTwiceOf(r.tokenHash, await this.store.tokenEntries(r.tokenHash))) excluded.add(toHex(r.tokenHash));
    const s = settler({ feeBps: this.feeBps, keep: new Set(page.map((r) => toHex(r.tokenHash))), zeroFareOperators: this.zeroFareOperators, excluded });
    // The page's wallets alone, in one read (settleRows orders them by (wallet key, counter), as settle() wants).
    if (page.length) await this.store.settleRows(s.push, [...new Set(page.map((r) => prefixKey(r.walletId)))]);
    const net = netRefunds([], page, new Map(s.finish().tokens.map((t) => [t.tokenHash, t])), this.feeBps);
    return { refunds: net.refunds, nextAfter: rows.length > limit ? page.at(-1)!.seq : undefined, lastSeq: page.at(-1)?.seq, problems: net.problems, totals };
  }

  /**
   * Whether the house's recorded settings (issuer key set and fee, spec/clearing.md §11.2) are still the ones
   * this instance settles by: false once another node replaced them (`replaceSettings`). Throws
   * `clearing.schema_changed` once a newer offpay upgraded the database (its writes are refused then: §11.2).
   */
  async settingsCurrent(): Promise<boolean> {
    if (!(await this.store.schemaCurrent())) throw schemaChangedError(this.store.location);
    const keyset = await this.store.getMeta('issuer_keyset');
    const fee = await this.store.getMeta('fee_bps');
    return keyset instanceof Uint8Array && equalBytes(keyset, encodeIssuerKeySet(this.issuerKeys)) && fee === this.feeBps;
  }

  /** Put a wallet on the blocklist by hand (lost or stolen device). */
  async block(walletId: Uint8Array, reason = 'manual'): Promise<void> {
    await this.store.block(walletId, reason, this.clock());
  }

  /** Every blocked wallet id (16 bytes each), in ascending byte order: the entries of the next blocklist. */
  async blockedWalletIds(): Promise<Uint8Array[]> {
    return (await this.store.blocklist()).map((b) => b.walletId);
  }

  /** The clearing blocklist with the first reason each wallet was blocked for, by wallet id (hex). */
  async blocklistEntries(): Promise<
    {
      /** The blocked wallet id, hex (16 bytes). */
      walletId: string;
      /** Why it was blocked (the first reason recorded, such as `over_allowance`). */
      reason: string;
      /** Clearing time it was blocked, unix seconds. */
      addedAt: number;
    }[]
  > {
    return (await this.store.blocklist()).map((b) => ({ walletId: toHex(b.walletId), reason: b.reason, addedAt: b.addedAt }));
  }

  /** Wallets (hex ids) a reader itself saw reuse a counter (valid conflict entries): blocked on the reader's word. */
  async readerReportedConflicts(): Promise<string[]> {
    return (await this.store.conflictWallets()).map(toHex);
  }

  /**
   * Sign the next blocklist version (a full snapshot) with the issuer's current key. Before signing, every
   * wallet whose settled total passed its certificate's allowance (spec/clearing.md M2) joins the blocklist.
   * The version is taken atomically in the store, so two nodes never sign two lists with one version.
   */
  async issueBlocklist(
    issuer: Issuer,
    now: number = this.clock(),
  ): Promise<{
    /** The signed blocklist, ready for the readers. */
    bytes: Uint8Array;
    /** Its version (one more than the last issued). */
    version: number;
    /** Number of wallet ids it lists. */
    entries: number;
  }> {
    if (issuer.issuerId !== this.issuerKeys.issuerId) throw new OffpayError('clearing.wrong_issuer', `issuer ${issuer.issuerId} is not the clearing's issuer ${this.issuerKeys.issuerId}`);
    await this.blockOverAllowance(now);
    const { version, walletIds: ids } = await this.store.nextBlocklist();
    const { bytes } = createBlocklist(issuer.currentKey(now), { issuerId: issuer.issuerId, version, issuedAt: now, walletIds: ids });
    return { bytes, version, entries: ids.length };
  }

  /** Put every over-allowance wallet on the clearing blocklist; returns how many were added. */
  async blockOverAllowance(now: number = this.clock()): Promise<number> {
    let added = 0;
    for (const w of (await this.settle()).overAllowance) if (await this.store.block(fromHex(w.walletId), 'over_allowance', now)) added++;
    return added;
  }

  /**
   * What clearing holds of one reader, per journal (spec/clearing-api.md GET /v1/readers/{id}): `batchSeq` is
   * the highest n such that batches 1..n of that journal are all held, `lastSeq` the last entry seq those
   * batches cover (a reader resends from batch batchSeq + 1).
   */
  async heldBatches(readerId: number): Promise<
    {
      /** The journal's id, hex. */
      journalId: string;
      /** The highest n such that batches 1..n of the journal are all held (0: none). */
      batchSeq: number;
      /** The last entry seq those batches cover. */
      lastSeq: number;
      /** The chain hash after entry lastSeq (the head of batch batchSeq), hex; absent when batchSeq is 0. */
      head?: string;
    }[]
  > {
    return (await this.store.heldBatches(readerId)).map((c) => {
      let batchSeq = 0;
      let lastSeq = 0;
      let head: Uint8Array | undefined;
      for (const b of c.batches) {
        if (b.batchSeq !== batchSeq + 1) break;
        batchSeq++;
        lastSeq = Math.max(lastSeq, b.firstSeq + b.entries - 1);
        head = b.head;
      }
      return { journalId: toHex(c.journalId), batchSeq, lastSeq, ...(head ? { head: toHex(head) } : {}) };
    });
  }

  /**
   * An index over the token hash of every entry, for paymentState (a served clearing answers payment lookups;
   * the batch CLI does not pay for it). Idempotent; the schema version is unchanged (an index adds no data).
   * Built once per Clearing: calls share the one build, and a build that failed (the database locked by another
   * process past its busy timeout, a PostgreSQL server restarting) is tried again by the next call instead of
   * failing every later one.
   */
  indexPayments(): Promise<void> {
    this.paymentsIndexed ??= this.store.indexPayments().catch((e: unknown) => {
      this.paymentsIndexed = undefined;
      throw e;
    });
    return this.paymentsIndexed;
  }

  /**
   * Everything clearing holds about one token (by SHA-256 hash), for the payment state of spec/clearing-api.md:
   * its token entries (valid or not, with the reason) and, when it settles, how (settle() run over that wallet's
   * entries alone, so the answer is the report's). Undefined when no entry names the token.
   */
  async paymentFacts(tokenHash: Uint8Array): Promise<PaymentFacts | undefined> {
    // The reads are several (the token's entries, its wallet's rows, the blocklist, the refund), not one snapshot:
    // a batch committed between them (the same token from another reader) could pay one merchant while the
    // evidence showed another's entry. The token's entries are read again after the others; when they changed,
    // everything is read again, at most PAYMENT_READS times, and then the lookup fails (retryable) rather than
    // answer from a torn reading.
    for (let attempt = 1; attempt <= PAYMENT_READS; attempt++) {
      const rows = await this.store.tokenEntries(tokenHash);
      if (!rows.length) return undefined;
      const facts = await this.factsOf(tokenHash, rows);
      if (sameEntryRows(rows, await this.store.tokenEntries(tokenHash))) return facts;
    }
    throw new OffpayError('clearing.store_unavailable', `the entries of token ${toHex(tokenHash)} changed during each of ${PAYMENT_READS} readings (batches naming it committing meanwhile): ask again`);
  }

  /**
   * {@link paymentFacts} of many tokens (a batch's, for its webhook events), each wallet's rows settled once for
   * all its tokens among them instead of once a token. The same answers, each one reading: a token whose entries
   * changed meanwhile is read again alone.
   */
  async paymentFactsMany(tokenHashes: readonly Uint8Array[]): Promise<(PaymentFacts | undefined)[]> {
    const rows: TokenEntryRow[][] = [];
    for (const h of tokenHashes) rows.push(await this.store.tokenEntries(h));
    const wallets: WalletSettlements = new Map();
    const out: (PaymentFacts | undefined)[] = [];
    const tops = new Map<string, RequestSaleRow | undefined>();
    for (let i = 0; i < tokenHashes.length; i++) out.push(rows[i]!.length ? await this.factsOf(tokenHashes[i]!, rows[i]!, wallets, tops) : undefined);
    for (let i = 0; i < tokenHashes.length; i++) {
      if (!sameEntryRows(rows[i]!, await this.store.tokenEntries(tokenHashes[i]!))) out[i] = await this.paymentFacts(tokenHashes[i]!);
    }
    return out;
  }

  private async factsOf(tokenHash: Uint8Array, rows: TokenEntryRow[], wallets: WalletSettlements = new Map(), tops?: Map<string, RequestSaleRow | undefined>): Promise<PaymentFacts> {
    const entries = rows.map((r) => ({
      readerId: r.readerId,
      journalId: toHex(r.journalId),
      seq: r.seq,
      kind: KIND_NAMES[r.kind]!,
      time: r.time,
      value: r.value,
      valid: r.valid,
      reason: r.reason === null ? undefined : r.reason,
      operatorId: r.operatorId,
      currency: r.currency === null ? undefined : r.currency,
    }));
    const withWallet = rows.find((r) => r.valid && r.walletKey !== null);
    let settled: SettledToken | undefined;
    let walletId: string | undefined;
    let blocked = false;
    if (withWallet) {
      walletId = toHex(withWallet.walletId!);
      let w = wallets.get(walletId);
      if (!w) {
        const s = settler({ feeBps: this.feeBps, keepTokens: true, zeroFareOperators: this.zeroFareOperators });
        await this.store.settleRows(s.push, withWallet.walletKey!);
        w = { tokens: new Map(s.finish().tokens.map((t) => [t.tokenHash, t])), blocked: await this.store.isBlocked(withWallet.walletId!) };
        wallets.set(walletId, w);
      }
      settled = w.tokens.get(toHex(tokenHash));
      blocked = w.blocked;
    }
    // M9: another token of its request may settle instead (the wallet's rows alone cannot say).
    const paidTwice = await this.paidTwiceOf(tokenHash, rows, tops);
    if (paidTwice) settled = undefined;
    const held = await this.store.refundOf(tokenHash);
    return { entries, settled, walletId, blocked, ...(held ? { refund: refundRecord(held) } : {}), ...(paidTwice ? { requestPaidTwice: paidTwice } : {}) };
  }

  /**
   * Settlement rules over everything held (settle.ts). `keepTokens` lists every settled token. `excluded`: the
   * tokens M9 leaves unsettled, from {@link requests} (read here when not given).
   */
  async settle(keepTokens = false, keep?: ReadonlySet<string>, excluded?: ReadonlySet<string>): Promise<ReturnType<typeof settle>> {
    const ex = excluded ?? (await this.requests()).excluded;
    const s = settler({ feeBps: this.feeBps, keepTokens, zeroFareOperators: this.zeroFareOperators, ...(keep ? { keep } : {}), excluded: ex });
    await this.store.settleRows(s.push);
    return s.finish();
  }

  /**
   * One request, one settlement (spec/clearing.md M9, requests.ts) over everything held: every request more than one
   * token paid, and the tokens that therefore do not settle.
   */
  async requests(): Promise<RequestDecision> {
    return decideRequests(await this.store.contestedRequestSales());
  }

  /**
   * The token that settles each request (M9) that these tokens answered, when it is another token: what a batch
   * that voids a request's settling sale hands the request to (the webhook service queues its charge.complete).
   * Two one-row reads a token.
   */
  async requestSettlers(tokenHashes: readonly Uint8Array[]): Promise<Uint8Array[]> {
    const out: Uint8Array[] = [];
    const seen = new Set<string>();
    for (const h of tokenHashes) {
      const top = (await this.requestOf(await this.store.tokenEntries(h)))?.top;
      if (!top || equalBytes(top.tokenHash, h) || seen.has(toHex(top.tokenHash))) continue;
      seen.add(toHex(top.tokenHash));
      out.push(top.tokenHash);
    }
    return out;
  }

  /**
   * The request a token paid, from its entries `rows` (its valid request-bound sale), and that request's first
   * unvoided sale (`top`, which settles: §5 step 0); undefined when it paid no request. `tops` keeps each request's
   * first sale across the tokens of one lookup.
   */
  private async requestOf(
    rows: readonly TokenEntryRow[],
    tops?: Map<string, RequestSaleRow | undefined>,
  ): Promise<{ readerId: number; reqTime: number; reqChallenge: Uint8Array; top: RequestSaleRow | undefined } | undefined> {
    const sale = rows.find((r) => r.valid && r.reqTime !== null && r.reqChallenge !== null);
    if (!sale) return undefined;
    const [readerId, reqTime, reqChallenge] = [sale.readerId, sale.reqTime!, sale.reqChallenge!];
    const k = `${readerId}|${reqTime}|${toHex(reqChallenge)}`;
    let top = tops?.get(k);
    if (!tops?.has(k)) {
      top = await this.store.firstRequestSale(readerId, reqTime, reqChallenge);
      tops?.set(k, top);
    }
    return { readerId, reqTime, reqChallenge, top };
  }

  /**
   * M9 for one token (spec/clearing.md §5 step 0), from its entries `rows`: the request it paid, when another token
   * of that request settles instead (`unsettled` names this token only); undefined when it settles as its request's
   * token, every sale of it is voided, or it paid no request. Two reads of one row each, whatever number of tokens
   * the request has; `tops` keeps each request's first sale across the tokens of one lookup (paymentFactsMany).
   */
  private async paidTwiceOf(tokenHash: Uint8Array, rows: readonly TokenEntryRow[], tops?: Map<string, RequestSaleRow | undefined>): Promise<RequestPaidTwice | undefined> {
    const r = await this.requestOf(rows, tops);
    if (!r?.top || equalBytes(r.top.tokenHash, tokenHash)) return undefined;
    const { readerId, reqTime, reqChallenge, top } = r;
    const mine = await this.store.firstRequestSale(readerId, reqTime, reqChallenge, tokenHash);
    if (!mine) return undefined;
    const ref = (r: RequestSaleRow) => ({ tokenHash: toHex(r.tokenHash), journalId: toHex(r.journalId), seq: r.seq, time: r.time });
    return { readerId, requestTime: reqTime, challenge: toHex(reqChallenge), settled: ref(top), unsettled: [ref(mine)] };
  }

  /** The settlement lines: per merchant (the certificate's operatorId) and currency, each distinct token once. */
  async settlement(): Promise<SettlementLine[]> {
    return (await this.settle()).lines;
  }

  private async evidence(hash: Uint8Array, chain: number, seq: number): Promise<EvidenceToken> {
    const e = await this.store.evidence(chain, seq);
    return { tokenHash: toHex(hash), readerId: e.readerId, journalId: toHex(e.journalId), seq, kind: e.kind, amount: e.value, token: e.token ? toHex(e.token) : '' };
  }

  /** Every double spend found so far, by (detectedAt, wallet id, counter, kind). */
  async doubleSpends(): Promise<DoubleSpend[]> {
    const out: DoubleSpend[] = [];
    for (const r of await this.store.doubleSpendRows()) {
      out.push({
        kind: r.kind,
        walletId: toHex(r.walletId),
        counter: r.counter,
        first: await this.evidence(r.aHash, r.aChain, r.aSeq),
        second: await this.evidence(r.bHash, r.bChain, r.bSeq),
        detectedAt: r.detectedAt,
      });
    }
    return out;
  }

  /** Every reader fault found so far (a token listed twice by one reader), by (detectedAt, reader id, token hash). */
  async readerFaults(): Promise<ReaderFault[]> {
    const out: ReaderFault[] = [];
    for (const r of await this.store.readerFaultRows()) {
      out.push({
        kind: 'token_listed_twice',
        readerId: r.readerId,
        tokenHash: toHex(r.tokenHash),
        first: await this.evidence(r.tokenHash, r.aChain, r.aSeq),
        second: await this.evidence(r.tokenHash, r.bChain, r.bSeq),
        detectedAt: r.detectedAt,
      });
    }
    return out;
  }

  /** Every reader journal held, by reader id and journal id, with the seq gaps still missing. */
  async readers(): Promise<ReaderSummary[]> {
    const out: ReaderSummary[] = [];
    for (const c of await this.store.chains()) {
      const gaps: [number, number][] = [];
      let expect = 1;
      let n = 0;
      for (const [from, to] of await this.store.seqRuns(c.chain)) {
        if (from > expect) gaps.push([expect, from - 1]);
        expect = to + 1;
        n += to - from + 1;
      }
      out.push({ readerId: c.readerId, journalId: toHex(c.journalId), operatorId: c.operatorId, profile: c.profile, batches: c.batches, entries: n, lastSeq: expect - 1, gaps });
    }
    return out;
  }

  /** The full report, computed from what is held (a late batch changes it). spec/clearing.md §7. */
  async report(): Promise<ClearingReport> {
    const problems = await this.store.problems();
    const invalidTokens = (await this.store.invalidEntries()).map((p) => ({ readerId: p.readerId, journalId: toHex(p.journalId), seq: p.seq, reason: p.reason }));
    const voided = await this.store.voidCount();
    const refundRows = await this.store.refunds();
    const requests = await this.requests();
    const s = await this.settle(false, new Set(refundRows.map((r) => toHex(r.tokenHash))), requests.excluded);
    const net = netRefunds(s.lines, refundRows, new Map(s.tokens.map((t) => [t.tokenHash, t])), this.feeBps);
    // Over-allowance evidence: each settled token's signed bytes, sliced from the reader-signed batch it came in.
    for (const w of s.overAllowance) {
      for (const t of w.tokens) {
        const token = await this.store.tokenBytes(t.entry.readerId, fromHex(t.entry.journalId), t.entry.seq);
        if (token) t.token = toHex(token);
      }
    }
    const totals = new Map<number, { currency: number; count: number; gross: bigint; fee: bigint; refunds: number; refunded: bigint; net: bigint }>();
    for (const l of net.lines) {
      const t = totals.get(l.currency) ?? { currency: l.currency, count: 0, gross: 0n, fee: 0n, refunds: 0, refunded: 0n, net: 0n };
      t.count += l.count;
      t.gross += l.gross;
      t.fee += l.fee;
      t.refunds += l.refunds;
      t.refunded += l.refunded;
      t.net += l.net;
      totals.set(l.currency, t);
    }
    return {
      settlement: net.lines,
      totals: [...totals.values()].sort((a, b) => a.currency - b.currency),
      refunds: net.refunds,
      refundProblems: net.problems,
      readers: await this.readers(),
      doubleSpends: await this.doubleSpends(),
      readerFaults: await this.readerFaults(),
      requestsPaidTwice: requests.findings,
      overAllowance: s.overAllowance,
      exposure: s.exposure,
      openTrips: s.openTrips,
      multipleTapOuts: s.multipleTapOuts,
      multipleTapIns: s.multipleTapIns,
      tapOutsWithoutTapIn: s.tapOutsWithoutTapIn,
      zeroFareTapOuts: s.zeroFareTapOuts,
      problems,
      invalidTokens,
      voided,
      tripsAtMaximumFare: s.openTrips.length,
      blocklist: { entries: (await this.store.blocklist()).length, version: Number((await this.store.getMeta('blocklist_version')) ?? 0) || 0 },
      feeBps: this.feeBps,
    };
  }
}
