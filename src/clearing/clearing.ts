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
import { equalBytes, prefixKey, signingInput, toHex, type SyncVerifier } from '../crypto.js';
import { OffpayError } from '../errors.js';
import type { Issuer } from '../issuer.js';
import { decodeIssuerKeySet, encodeIssuerKeySet, readerCertSigningInput, type IssuerKeySet, type ReaderCert } from '../messages.js';
import { nodeEd25519, nodeSha256 } from '../node/crypto.js';
import { loadSqliteDriver, type SqliteDatabase, type SqliteStatement } from '../node/sqlite.js';
import { checkTokenJobs, type TokenCheck, type TokenJob, type VerifyPool } from './pool.js';
import { createBlocklist } from '../reader/blocklist.js';
import { JOURNAL_GENESIS_TAG, JOURNAL_TAG, JournalKind, type JournalEntry, type JournalKindName } from '../reader/journal.js';
import { READER_PROFILES } from '../reader/profiles.js';
import { cachingVerifier } from '../reader/verifier.js';
import { validateFeeBps } from './fees.js';
import { DEFAULT_MAX_BATCH_BYTES, DEFAULT_MAX_BATCH_ENTRIES, decodeBatchEntries, readBatchFrame, type BatchFrame } from './batch-bytes.js';
import { settle, type OverAllowance, type SettlementLine, type SettleRow, type TripAnomaly, type EntryRef } from './settle.js';

export type { OverAllowance, SettledToken, SettlementLine, TripAnomaly, EntryRef } from './settle.js';
import type { SettledToken } from './settle.js';

/** Clearing.paymentFacts: the entries naming one token and how it settles. */
export interface PaymentFacts {
  entries: { readerId: number; journalId: string; seq: number; kind: JournalKindName; time: number; value: number; valid: boolean; reason?: string; operatorId: number; currency?: number }[];
  /** The token as settle() settles it (absent when it does not settle: invalid, voided, or a conflict record). */
  settled?: SettledToken;
  /** Wallet id (hex) of a valid entry, and whether that wallet is on the clearing blocklist. */
  walletId?: string;
  blocked: boolean;
}

/** Bumped whenever the tables change; a database of another version is refused (clearing.store_unusable). */
const SCHEMA_VERSION = 4;
// Every byte and index of an entry row is paid for a million times, so the row is narrow:
//  - entries are keyed by (chain, seq): a chain is one journal of one reader (reader id, journal id), numbered
//    in the chains table;
//  - the signed batch is kept once as received (batch_bytes) and an entry points at its token inside it
//    (source, token_at, token_len) instead of holding a copy;
//  - prev_hash is held only for the first entry of its batch (for any other entry it is the hash of the entry
//    before it, held from the same batch);
//  - the wallet-counter index is keyed by wallet_key, the first six bytes of the wallet id as an integer
//    (SQLite compares integer keys much faster than blobs); the full wallet_id is compared after the index;
//  - operator_id is the operator named by the certificate of the batch that carried the entry (money goes to
//    the certificate, not to the reader id); cert_key and allowance identify the wallet certificate and its
//    offline allowance (the global allowance check); amount is the token amount of a tap-out (its value is
//    the fare), null otherwise (accept and tap_in values equal the token amount).
// Two secondary indexes only, because every index costs each ingested entry a random B-tree insert: one by
// wallet counter (double spends, settlement order; a token's other entries, such as its tap-out, share its
// counter) and one over void entries alone (a partial index, so sales do not pay for it).
const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS readers(reader_id INTEGER PRIMARY KEY, operator_id INTEGER NOT NULL, profile TEXT NOT NULL, cert BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS chains(chain INTEGER PRIMARY KEY, reader_id INTEGER NOT NULL, journal_id BLOB NOT NULL, UNIQUE(reader_id, journal_id));
CREATE TABLE IF NOT EXISTS batches(chain INTEGER NOT NULL, batch_seq INTEGER NOT NULL, first_seq INTEGER NOT NULL, entries INTEGER NOT NULL,
  head BLOB NOT NULL, digest BLOB NOT NULL, created_at INTEGER NOT NULL, PRIMARY KEY(chain, batch_seq)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS batch_bytes(id INTEGER PRIMARY KEY, chain INTEGER NOT NULL, batch_seq INTEGER NOT NULL, bytes BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS entries(chain INTEGER NOT NULL, seq INTEGER NOT NULL, kind INTEGER NOT NULL, time INTEGER NOT NULL,
  value INTEGER NOT NULL, amount INTEGER, token_hash BLOB, prev_hash BLOB, hash BLOB NOT NULL, valid INTEGER NOT NULL, reason TEXT, operator_id INTEGER NOT NULL,
  source INTEGER, token_at INTEGER, token_len INTEGER, wallet_key INTEGER, wallet_id BLOB, counter INTEGER, currency INTEGER, cert_key INTEGER, allowance INTEGER,
  PRIMARY KEY(chain, seq)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS entries_counter ON entries(wallet_key, counter);
CREATE INDEX IF NOT EXISTS entries_void ON entries(chain, token_hash) WHERE kind = ${JournalKind.void};
CREATE TABLE IF NOT EXISTS double_spends(kind TEXT NOT NULL, wallet_id BLOB NOT NULL, counter INTEGER NOT NULL,
  a_hash BLOB NOT NULL, a_chain INTEGER NOT NULL, a_seq INTEGER NOT NULL, b_hash BLOB NOT NULL, b_chain INTEGER NOT NULL, b_seq INTEGER NOT NULL,
  detected_at INTEGER NOT NULL, PRIMARY KEY(a_chain, a_seq, b_chain, b_seq)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS reader_faults(kind TEXT NOT NULL, reader_id INTEGER NOT NULL, token_hash BLOB NOT NULL,
  a_chain INTEGER NOT NULL, a_seq INTEGER NOT NULL, b_chain INTEGER NOT NULL, b_seq INTEGER NOT NULL, detected_at INTEGER NOT NULL,
  PRIMARY KEY(a_chain, a_seq, b_chain, b_seq)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS problems(reader_id INTEGER NOT NULL, kind TEXT NOT NULL, detail TEXT NOT NULL, at INTEGER NOT NULL,
  PRIMARY KEY(reader_id, kind, detail)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS blocklist(wallet_id BLOB PRIMARY KEY, reason TEXT NOT NULL, added_at INTEGER NOT NULL) WITHOUT ROWID;
`;

const KIND_NAMES = Object.keys(JournalKind) as JournalKindName[];
const TOKEN_KINDS = new Set<number>([JournalKind.accept, JournalKind.tap_in, JournalKind.tap_out, JournalKind.conflict]);
const SALE_KINDS = [JournalKind.accept, JournalKind.tap_in];
/** ingestAll: entries written per database transaction (group commit). */
const GROUP_ENTRIES = 20_000;
/** ingestAll with a pool: batches verified ahead of the one being written. */
const PIPELINE = 4;

/**
 * Options of {@link Clearing}, validated by its constructor: a bad value throws `clearing.bad_option` naming
 * it; a database that cannot be opened or has another schema version `clearing.store_unusable`; a database of
 * another issuer `clearing.wrong_issuer`; no better-sqlite3 installed `clearing.sqlite_unavailable`.
 */
export interface ClearingOptions {
  /** The issuer key set; stored in the database, so later opens may omit it. */
  issuerKeys?: IssuerKeySet;
  /** Database path (default ':memory:'). */
  path?: string;
  /** Ed25519 backend (default nodeEd25519()). */
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
  /** Largest batch accepted, bytes (default DEFAULT_MAX_BATCH_BYTES = 8 MiB; 1 KiB .. 1 GiB). */
  maxBatchBytes?: number;
  /** Most entries in one batch (default DEFAULT_MAX_BATCH_ENTRIES = 65,536; 1 .. 2^24). */
  maxBatchEntries?: number;
  /**
   * Operators whose gates are configured with allowZeroFare (spec/reader.md profiles): a zero-fare tap-out of
   * theirs is a charge of 0. For every other operator a zero fare is never a charge (reported as an anomaly).
   */
  zeroFareOperators?: number[];
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
  error?: { code: string; message: string };
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
  /** Per merchant (operator) and currency: distinct tokens, gross, fee, net (bigint; decimal strings in JSON). */
  settlement: SettlementLine[];
  /** Per currency, the total gross. */
  totals: { currency: number; count: number; gross: bigint; fee: bigint; net: bigint }[];
  /** Every reader journal held. */
  readers: ReaderSummary[];
  /** Every double spend found. */
  doubleSpends: DoubleSpend[];
  /** Every reader fault found. */
  readerFaults: ReaderFault[];
  /** Wallet certificates whose settled total passed their offline allowance (each on the next blocklist). */
  overAllowance: OverAllowance[];
  /** Per currency, what was settled beyond the allowances: the issuer's exposure. */
  exposure: { currency: number; amount: bigint }[];
  /** Tap-ins with no tap-out (charged at the maximum fare). */
  openTrips: TripAnomaly[];
  /** Trips with more than one tap-out (charged once). */
  multipleTapOuts: TripAnomaly[];
  /** Tap-outs whose tap-in was never received. */
  tapOutsWithoutTapIn: TripAnomaly[];
  /** Zero-fare tap-outs of operators not in `zeroFareOperators` (never a charge). */
  zeroFareTapOuts: EntryRef[];
  /** Batches rejected and other per-reader problems (stable `kind` codes). */
  problems: { readerId: number; kind: string; detail: string }[];
  /** Entries stored invalid, with the reason the token failed re-verification. */
  invalidTokens: { readerId: number; journalId: string; seq: number; reason: string }[];
  /** Voided sales (not settled). */
  voided: number;
  /** Trips settled at the maximum fare. */
  tripsAtMaximumFare: number;
  /** The blocklist: entries and the last version issued. */
  blocklist: { entries: number; version: number };
  /** Fee in basis points applied to each line. */
  feeBps: number;
}

type Row = Record<string, unknown>;

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
  reject: (code: string, message: string, record?: boolean) => IngestResult;
}
const u8 = (b: unknown): Uint8Array => {
  const x = b as Buffer;
  return new Uint8Array(x.buffer.slice(x.byteOffset, x.byteOffset + x.byteLength));
};
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

function boundedOption(name: string, v: number | undefined, dflt: number, min: number, max: number): number {
  if (v === undefined) return dflt;
  if (!Number.isSafeInteger(v) || v < min || v > max) throw new OffpayError('clearing.bad_option', `${name} ${String(v)} must be an integer in ${min}..${max}`);
  return v;
}

/**
 * Clearing (Node only): ingests reader settlement batches in any order, late or twice; re-verifies every token;
 * finds double spends and reader faults; settles each distinct token once per merchant and currency; checks each
 * wallet certificate's offline allowance across all readers; issues the signed blocklist. spec/clearing.md is
 * normative (money invariants M1-M6, ingest §4, settlement §5, report §7, error codes §8).
 *
 * Construction validates {@link ClearingOptions} (error codes there). `ingest` never throws on bad bytes: a
 * rejected batch is an {@link IngestResult} with a stable `error.code`.
 *
 * @example
 * ```ts
 * import { Clearing } from 'offpay/clearing';
 * const clearing = Clearing.open({ issuerKeys: issuer.keySet(), path: 'settlement.sqlite' });
 * for (const batch of batches) console.log(clearing.ingest(batch).outcome);   // ingested | duplicate | rejected
 * const report = clearing.report();                  // settlement, double spends, allowance overruns...
 * const { bytes } = clearing.issueBlocklist(issuer); // the next signed blocklist for the readers
 * clearing.close();
 * ```
 */
export class Clearing {
  /** The clearing database (better-sqlite3, loaded on first use; see src/node/sqlite.ts). */
  readonly db: SqliteDatabase;
  /** The issuer key set (given, or read back from the database). */
  readonly issuerKeys: IssuerKeySet;
  /** Fee in basis points on each settlement line. */
  readonly feeBps: number;
  /** Largest batch accepted, bytes. */
  readonly maxBatchBytes: number;
  /** Most entries in one batch. */
  readonly maxBatchEntries: number;
  private readonly zeroFareOperators: ReadonlySet<number>;
  private readonly verifier: SyncVerifier;
  private readonly clock: () => number;
  private readonly q: Record<string, SqliteStatement>;

  constructor(o: ClearingOptions) {
    this.maxBatchBytes = boundedOption('maxBatchBytes', o.maxBatchBytes, DEFAULT_MAX_BATCH_BYTES, 1024, 1024 * 1024 * 1024);
    this.maxBatchEntries = boundedOption('maxBatchEntries', o.maxBatchEntries, DEFAULT_MAX_BATCH_ENTRIES, 1, 1 << 24);
    if (o.zeroFareOperators !== undefined && (!Array.isArray(o.zeroFareOperators) || !o.zeroFareOperators.every((x) => Number.isSafeInteger(x) && x >= 0))) {
      throw new OffpayError('clearing.bad_option', 'zeroFareOperators must be an array of operator ids');
    }
    this.zeroFareOperators = new Set(o.zeroFareOperators ?? []);
    this.verifier = cachingVerifier(o.verifier ?? nodeEd25519(), 65_536);
    this.clock = o.clock ?? (() => Math.floor(Date.now() / 1000));
    const Database = loadSqliteDriver('clearing');
    try {
      this.db = new Database(o.path ?? ':memory:');
      this.db.pragma('journal_mode = WAL');
      this.db.pragma('synchronous = FULL');
      this.db.pragma('busy_timeout = 5000');
      const cacheMiB = Number.isFinite(o.cacheMiB) ? Math.max(2, Math.min(65536, Math.floor(o.cacheMiB!))) : 256;
      this.db.pragma(`cache_size = -${cacheMiB * 1024}`);
    } catch (e) {
      throw new OffpayError('clearing.store_unusable', `cannot open clearing database ${o.path}: ${(e as Error).message}`);
    }
    const version = Number(this.db.pragma('user_version', { simple: true }));
    const used = (this.db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE type = 'table' AND name = 'meta'").get() as Row).n !== 0;
    if (used && version !== SCHEMA_VERSION) {
      this.db.close();
      throw new OffpayError('clearing.store_unusable', `clearing database ${o.path} has schema version ${version}, this offpay uses ${SCHEMA_VERSION}`);
    }
    this.db.exec(SCHEMA);
    this.db.pragma(`user_version = ${SCHEMA_VERSION}`);
    const keyset = this.getMeta('issuer_keyset');
    if (o.issuerKeys) {
      if (keyset instanceof Uint8Array && decodeIssuerKeySet(u8(keyset)).issuerId !== o.issuerKeys.issuerId) {
        throw new OffpayError('clearing.wrong_issuer', `this clearing database belongs to issuer ${decodeIssuerKeySet(u8(keyset)).issuerId}`);
      }
      this.issuerKeys = o.issuerKeys;
      this.setMeta('issuer_keyset', encodeIssuerKeySet(o.issuerKeys));
    } else if (keyset instanceof Uint8Array) {
      this.issuerKeys = decodeIssuerKeySet(u8(keyset));
    } else {
      throw new OffpayError('clearing.no_issuer_keys', 'a new clearing database needs the issuer key set');
    }
    const stored = this.getMeta('fee_bps');
    this.feeBps = validateFeeBps(o.feeBps ?? (typeof stored === 'number' ? stored : 150));
    this.setMeta('fee_bps', this.feeBps);
    const db = this.db;
    this.q = {
      reader: db.prepare('SELECT * FROM readers WHERE reader_id = ?'),
      putReader: db.prepare('INSERT OR REPLACE INTO readers(reader_id, operator_id, profile, cert) VALUES (?, ?, ?, ?)'),
      chain: db.prepare('SELECT chain FROM chains WHERE reader_id = ? AND journal_id = ?'),
      putChain: db.prepare('INSERT INTO chains(reader_id, journal_id) VALUES (?, ?)'),
      batch: db.prepare('SELECT digest FROM batches WHERE chain = ? AND batch_seq = ?'),
      putBatch: db.prepare('INSERT OR REPLACE INTO batches(chain, batch_seq, first_seq, entries, head, digest, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)'),
      entry: db.prepare('SELECT hash, prev_hash FROM entries WHERE chain = ? AND seq = ?'),
      entryRange: db.prepare('SELECT seq, hash, reason FROM entries WHERE chain = ? AND seq BETWEEN ? AND ?'),
      dropEntry: db.prepare('DELETE FROM entries WHERE chain = ? AND seq = ?'),
      putBytes: db.prepare('INSERT INTO batch_bytes(chain, batch_seq, bytes) VALUES (?, ?, ?)'),
      putEntry: db.prepare(
        `INSERT INTO entries(chain, seq, kind, time, value, amount, token_hash, prev_hash, hash, valid, reason, operator_id, source, token_at, token_len,
           wallet_key, wallet_id, counter, currency, cert_key, allowance)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      // For each valid token entry of a batch, every other valid entry that spends the same wallet counter.
      // The common case (no such entry) costs one index probe per entry inside SQLite.
      counterPeers: db.prepare(
        `SELECT e.seq AS seq, e.kind AS kind, e.token_hash AS hash, e.wallet_id AS wallet_id, e.counter AS counter,
                o.chain AS o_chain, oc.reader_id AS o_reader, o.seq AS o_seq, o.kind AS o_kind, o.token_hash AS o_hash
         FROM entries e JOIN entries o ON o.wallet_key = e.wallet_key AND o.counter = e.counter JOIN chains oc ON oc.chain = o.chain
         WHERE e.chain = ? AND e.seq BETWEEN ? AND ? AND e.wallet_key IS NOT NULL AND NOT (o.chain = e.chain AND o.seq = e.seq)
           AND o.valid = 1 AND o.wallet_id = e.wallet_id
         ORDER BY e.seq, oc.reader_id, oc.journal_id, o.seq`,
      ),
      putDouble: db.prepare(
        'INSERT OR IGNORE INTO double_spends(kind, wallet_id, counter, a_hash, a_chain, a_seq, b_hash, b_chain, b_seq, detected_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
      ),
      putFault: db.prepare('INSERT OR IGNORE INTO reader_faults(kind, reader_id, token_hash, a_chain, a_seq, b_chain, b_seq, detected_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)'),
      block: db.prepare('INSERT OR IGNORE INTO blocklist(wallet_id, reason, added_at) VALUES (?, ?, ?)'),
      problem: db.prepare('INSERT OR IGNORE INTO problems(reader_id, kind, detail, at) VALUES (?, ?, ?, ?)'),
    };
  }

  /**
   * Open (or create) a clearing database: the same as `new Clearing(o)`.
   * @throws OffpayError see {@link ClearingOptions}.
   */
  static open(o: ClearingOptions): Clearing {
    return new Clearing(o);
  }

  /** Close the database (idempotent). */
  close(): void {
    if (this.db.open) this.db.close();
  }

  private getMeta(key: string): unknown {
    return (this.db.prepare('SELECT value FROM meta WHERE key = ?').get(key) as Row | undefined)?.value;
  }

  private setMeta(key: string, value: number | string | Uint8Array): void {
    this.db.prepare('INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)').run(key, value);
  }

  /** Check a reader certificate's issuer signature (validity dates are checked against the batch and each entry). */
  private checkReaderCert(c: ReaderCert): void {
    const key = this.issuerKeys.keys.find((k) => k.keyIndex === c.keyIndex);
    if (!key) throw new OffpayError('clearing.unknown_issuer_key', `reader ${c.readerId}: certificate names unknown issuer key ${c.keyIndex}`);
    if (!this.verifier.verify(c.issuerSignature, readerCertSigningInput(c), key.publicKey)) {
      throw new OffpayError('clearing.bad_reader_cert', `reader ${c.readerId}: the issuer signature on the reader certificate does not verify`);
    }
  }

  private chainOf(readerId: number, journalId: Uint8Array): number | undefined {
    const r = this.q.chain!.get(readerId, journalId) as Row | undefined;
    return r ? Number(r.chain) : undefined;
  }

  /**
   * Phase 1 of an ingest (spec/clearing.md §4 steps 1-7): size, frame, certificate, signature, certificate
   * validity, duplicate, entries, chain; and the token verification jobs. Returns a final result when the
   * batch stops here. Never throws.
   */
  private prepare(bytes: Uint8Array): Prepared | IngestResult {
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
    const reject = (code: string, message: string, record = true): IngestResult => {
      if (record) this.q.problem!.run(readerId, code.replace('clearing.', ''), message, now);
      return { outcome: 'rejected', readerId, journalId, batchSeq: f.batchSeq, ...empty, error: { code, message } };
    };
    try {
      this.checkReaderCert(c);
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
    const chain = this.chainOf(readerId, f.journalId);
    if (chain !== undefined) {
      const held = this.q.batch!.get(chain, f.batchSeq) as Row | undefined;
      if (held && equalBytes(u8(held.digest), digest)) return { outcome: 'duplicate', readerId, journalId, batchSeq: f.batchSeq, ...empty };
    }
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
        ? { data: e.data, now: e.time, payees, maxAge: e.kind === 'tap_out' ? profile.maxTripSeconds : acceptAge, maxFuture: profile.maxFutureSeconds, ...(e.request ? { request: e.request } : {}) }
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

  /** Ingest one batch. Never throws on bad bytes: a rejected batch is a result (and a recorded problem). */
  ingest(bytes: Uint8Array): IngestResult {
    const p = this.prepare(bytes);
    if (!('kind' in p)) return p;
    return this.commit(p, this.checkJobs(p.jobs));
  }
  /**
   * Ingest many batches, verifying tokens on `pool` worker threads while the main thread writes the previous
   * batch to the database (same results as `ingest` one by one, in order). Without a pool, verification runs
   * on the calling thread.
   *
   * Group commit: the batches are written in database transactions of up to `GROUP_ENTRIES` entries (each
   * batch inside as a savepoint, so a batch that fails rolls back alone, exactly as in `ingest`), which
   * saves one synchronous commit per batch. Everything is durable before the returned promise resolves; if
   * the process dies before that, the batches of the open group are simply not held and can be ingested
   * again (ingest is idempotent).
   */
  async ingestAll(batches: Uint8Array[], pool?: VerifyPool): Promise<IngestResult[]> {
    const out: IngestResult[] = [];
    let open = 0; // entries written in the open group transaction
    const flush = () => {
      if (this.db.inTransaction) this.db.exec('COMMIT');
      open = 0;
    };
    const write = (p: Prepared | IngestResult, checks: () => (TokenCheck | null)[]): IngestResult => {
      if (!this.db.inTransaction) this.db.exec('BEGIN IMMEDIATE');
      const r = 'kind' in p ? this.commit(p, checks()) : p;
      open += 'kind' in p ? p.entries.length : 1;
      if (open >= GROUP_ENTRIES) flush();
      return r;
    };
    try {
      if (!pool) {
        for (const bytes of batches) {
          if (!this.db.inTransaction) this.db.exec('BEGIN IMMEDIATE');
          const p = this.prepare(bytes);
          out.push(write(p, () => ('kind' in p ? this.checkJobs(p.jobs) : [])));
        }
      } else {
        const start = (i: number) => {
          if (!this.db.inTransaction) this.db.exec('BEGIN IMMEDIATE');
          const p = this.prepare(batches[i]!);
          if (!('kind' in p)) return { p, checks: Promise.resolve([] as (TokenCheck | null)[]) };
          return { p, checks: pool.check(p.jobs) };
        };
        // PIPELINE batches in flight, so the workers always have work queued while the main thread writes, and
        // keep working through the fsyncs of a group commit.
        const ahead: ReturnType<typeof start>[] = [];
        for (let i = 0; i < Math.min(PIPELINE, batches.length); i++) ahead.push(start(i));
        for (let i = 0; i < batches.length; i++) {
          const cur = ahead.shift()!;
          const checks = await cur.checks;
          if (i + PIPELINE < batches.length) ahead.push(start(i + PIPELINE));
          // A batch prepared before the previous ones were committed may now be a duplicate or overlap: commit
          // handles overlaps entry by entry, and a byte-identical batch is detected again there.
          out.push(write(cur.p, () => checks));
        }
      }
      flush();
    } catch (e) {
      // What was written before the failure stays (each batch is whole or absent); then report the failure.
      try {
        flush();
      } catch {
        if (this.db.inTransaction) this.db.exec('ROLLBACK');
      }
      throw e;
    }
    return out;
  }

  /** Phase 2 (spec/clearing.md §4 steps 8-10): continuity, per-entry storage, double spends, reader faults; one transaction. */
  private commit(p: Prepared, checks: (TokenCheck | null)[]): IngestResult {
    const { f, entries: list, bytes, digest, hashes, dataAt, inCert, now, reject } = p;
    const cert = f.readerCert;
    const readerId = cert.readerId;
    const journalId = toHex(f.journalId);
    const lastSeq = f.firstSeq + list.length - 1;
    const run = this.db.transaction((): IngestResult => {
      const chain = this.chainOf(readerId, f.journalId) ?? Number(this.q.putChain!.run(readerId, f.journalId).lastInsertRowid);
      const again = this.q.batch!.get(chain, f.batchSeq) as Row | undefined;
      const none = { entries: 0, alreadyHeld: 0, invalidTokens: 0, doubleSpends: 0, readerFaults: 0 };
      if (again && equalBytes(u8(again.digest), digest)) return { outcome: 'duplicate', readerId, journalId, batchSeq: f.batchSeq, ...none };
      // Continuity with what is held for this chain.
      if (f.firstSeq > 1) {
        const before = this.q.entry!.get(chain, f.firstSeq - 1) as Row | undefined;
        if (before && !equalBytes(u8(before.hash), f.prevHead)) {
          throw new OffpayError('clearing.fork', `batch ${f.batchSeq}: prevHead does not match held entry ${f.firstSeq - 1} (a rewritten or forged history)`);
        }
      }
      const after = this.q.entry!.get(chain, lastSeq + 1) as Row | undefined;
      // An entry held without prev_hash was not first in its batch: the entry before it (lastSeq) is held too and
      // was compared with this batch's own last entry below, whose hash is the head.
      if (after && after.prev_hash !== null && !equalBytes(u8(after.prev_hash), f.head)) {
        throw new OffpayError('clearing.fork', `batch ${f.batchSeq}: head does not match the start of held entry ${lastSeq + 1} (a rewritten or forged history)`);
      }
      const existing = this.q.reader!.get(readerId) as Row | undefined;
      if (existing && (existing.operator_id !== cert.operatorId || existing.profile !== cert.profile)) {
        this.q.problem!.run(readerId, 'reader_cert_changed', `operator ${String(existing.operator_id)} -> ${cert.operatorId}`, now);
      }
      if (!existing) this.q.putReader!.run(readerId, cert.operatorId, cert.profile, encodeCbor(cert.issuerSignature));
      // The batch bytes are stored once, when the first entry that needs them (a token entry) is written.
      let source: number | null = null;
      const held = new Map<number, { hash: Uint8Array; reason: unknown }>();
      for (const r of this.q.entryRange!.all(chain, f.firstSeq, lastSeq) as Row[]) held.set(Number(r.seq), { hash: u8(r.hash), reason: r.reason });
      let entries = 0;
      let alreadyHeld = 0;
      let invalidTokens = 0;
      let doubleSpends = 0;
      let readerFaults = 0;
      /** Seqs of the entries this commit writes. */
      const fresh = new Set<number>();
      /** Conflict entries (a counter reuse a reader saw) and their wallet. */
      const conflicts = new Map<number, Uint8Array>();
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
          if (have.reason === 'reader_cert_not_valid' && inCert[i]) this.q.dropEntry!.run(chain, e.seq);
          else {
            alreadyHeld++;
            continue;
          }
        }
        const kind = JournalKind[e.kind];
        let tokenHash: Uint8Array | null = null;
        let valid = 1;
        let reason: string | null = null;
        let tokenAt: number | null = null;
        let walletId: Uint8Array | null = null;
        let counter: number | null = null;
        let currency: number | null = null;
        let certKey: number | null = null;
        let allowance: number | null = null;
        let amount: number | null = null;
        if (TOKEN_KINDS.has(kind)) {
          source ??= Number(this.q.putBytes!.run(chain, f.batchSeq, bytes).lastInsertRowid);
          tokenAt = dataAt[i]!;
          const v = checks[i];
          // verifyToken already hashed an accepted token (SHA-256 of the same bytes): reuse it.
          tokenHash = v && v.ok ? v.tokenHash : nodeSha256(e.data);
          if (!inCert[i]) {
            valid = 0;
            reason = 'reader_cert_not_valid';
          } else if (!v || !v.ok) {
            valid = 0;
            reason = v ? v.reason : 'malformed';
          } else if ((e.kind === 'accept' || e.kind === 'tap_in') && e.value !== v.amount) {
            valid = 0;
            reason = 'amount_mismatch';
          } else {
            // Only valid tokens are indexed by wallet counter, so only they take part in double spends and settlement.
            walletId = v.walletId;
            counter = v.counter;
            currency = v.currency;
            certKey = v.certKey;
            allowance = v.allowance;
            if (e.kind === 'tap_out') amount = v.amount;
            // A reader saw this wallet reuse a counter: the wallet is cloned or rolled back, whatever else arrives.
            if (e.kind === 'conflict') conflicts.set(e.seq, v.walletId);
          }
        } else {
          tokenHash = e.data; // void: the hash of the voided token
          if (!inCert[i]) {
            valid = 0;
            reason = 'reader_cert_not_valid';
          }
        }
        if (valid === 0) {
          invalidTokens++;
          this.q.problem!.run(readerId, 'invalid_entry', `journal ${journalId} entry ${e.seq}: ${reason}`, now);
        }
        this.q.putEntry!.run(
          chain,
          e.seq,
          kind,
          e.time,
          e.value,
          amount,
          tokenHash,
          i === 0 ? f.prevHead : null,
          hash,
          valid,
          reason,
          cert.operatorId,
          tokenAt === null ? null : source,
          tokenAt,
          tokenAt === null ? null : e.data.length,
          walletId ? prefixKey(walletId) : null,
          walletId,
          counter,
          currency,
          certKey,
          allowance,
        );
        fresh.add(e.seq);
        entries++;
      }
      // Double spends, as if the new entries were checked one by one in order against everything held before
      // them: another valid entry with the same wallet counter counts when it was held before this batch, or
      // is an earlier entry of it (a later one finds this one in its turn, so each pair is recorded once).
      //  - counter_reuse: different token bytes; this entry is not a tap-out, the other is a sale or conflict;
      //  - same token bytes taken as a sale (accept or tap-in) twice: at two readers it is the customer's
      //    same_token_twice (one operator-bound token shown at two gates); at one reader (in any of its journals)
      //    it is a reader fault (token_listed_twice): the customer paid once, the token settles once, and the
      //    wallet is not blocked.
      // The blocklist keeps the first reason a wallet was blocked for, so the order is: per entry, counter
      // reuses, then the same token twice, then a reader-reported conflict.
      const found = new Map<number, { what: 'counter_reuse' | 'same_token_twice'; row: Row }[]>();
      if (fresh.size > 0) {
        for (const r of this.q.counterPeers!.all(chain, f.firstSeq, lastSeq) as Row[]) {
          const seq = Number(r.seq);
          const oChain = Number(r.o_chain);
          const oSeq = Number(r.o_seq);
          if (!fresh.has(seq) || (oChain === chain && fresh.has(oSeq) && oSeq > seq)) continue;
          const k = Number(r.kind);
          const ok = Number(r.o_kind);
          if (!equalBytes(u8(r.hash), u8(r.o_hash))) {
            if (k === JournalKind.tap_out || ok === JournalKind.tap_out) continue;
            const l = found.get(seq) ?? [];
            l.push({ what: 'counter_reuse', row: r });
            found.set(seq, l);
          } else if (SALE_KINDS.includes(k as 0 | 2) && SALE_KINDS.includes(ok as 0 | 2)) {
            if (Number(r.o_reader) === readerId) {
              if (this.q.putFault!.run('token_listed_twice', readerId, u8(r.hash), oChain, oSeq, chain, seq, now).changes) readerFaults++;
              continue;
            }
            const l = found.get(seq) ?? [];
            l.push({ what: 'same_token_twice', row: r });
            found.set(seq, l);
          }
        }
      }
      for (const seq of fresh) {
        const l = found.get(seq) ?? [];
        l.sort((x, y) => (x.what === y.what ? 0 : x.what === 'counter_reuse' ? -1 : 1));
        for (const { what, row: r } of l) {
          const wallet = u8(r.wallet_id);
          if (this.q.putDouble!.run(what, wallet, Number(r.counter), u8(r.o_hash), Number(r.o_chain), Number(r.o_seq), u8(r.hash), chain, seq, now).changes) doubleSpends++;
          this.q.block!.run(wallet, what, now);
        }
        const conflict = conflicts.get(seq);
        if (conflict) this.q.block!.run(conflict, 'counter_reuse', now);
      }
      this.q.putBatch!.run(chain, f.batchSeq, f.firstSeq, list.length, f.head, digest, f.createdAt);
      return { outcome: 'ingested', readerId, journalId, batchSeq: f.batchSeq, entries, alreadyHeld, invalidTokens, doubleSpends, readerFaults };
    });
    try {
      return run.immediate();
    } catch (e) {
      if (e instanceof OffpayError) return reject(e.code, e.message);
      throw e;
    }
  }

  /** Put a wallet on the blocklist by hand (lost or stolen device). */
  block(walletId: Uint8Array, reason = 'manual'): void {
    this.q.block!.run(walletId, reason, this.clock());
  }

  /** Every blocked wallet id (16 bytes each), in ascending byte order: the entries of the next blocklist. */
  blockedWalletIds(): Uint8Array[] {
    return (this.db.prepare('SELECT wallet_id FROM blocklist ORDER BY wallet_id').all() as Row[]).map((r) => u8(r.wallet_id));
  }

  /**
   * Sign the next blocklist version (a full snapshot) with the issuer's current key. Before signing, every
   * wallet whose settled total passed its certificate's allowance (spec/clearing.md M2) joins the blocklist.
   */
  issueBlocklist(issuer: Issuer, now: number = this.clock()): { bytes: Uint8Array; version: number; entries: number } {
    if (issuer.issuerId !== this.issuerKeys.issuerId) throw new OffpayError('clearing.wrong_issuer', `issuer ${issuer.issuerId} is not the clearing's issuer ${this.issuerKeys.issuerId}`);
    this.blockOverAllowance(now);
    const version = (Number(this.getMeta('blocklist_version') ?? 0) || 0) + 1;
    const ids = this.blockedWalletIds();
    const { bytes } = createBlocklist(issuer.currentKey(now), { issuerId: issuer.issuerId, version, issuedAt: now, walletIds: ids });
    this.setMeta('blocklist_version', version);
    return { bytes, version, entries: ids.length };
  }

  /** Put every over-allowance wallet on the clearing blocklist; returns how many were added. */
  blockOverAllowance(now: number = this.clock()): number {
    let added = 0;
    for (const w of this.settle().overAllowance) added += this.q.block!.run(Buffer.from(w.walletId, 'hex'), 'over_allowance', now).changes;
    return added;
  }

  /**
   * What clearing holds of one reader, per journal (spec/clearing-api.md GET /v1/readers/{id}): `batchSeq` is
   * the highest n such that batches 1..n of that journal are all held, `lastSeq` the last entry seq those
   * batches cover (a reader resends from batch batchSeq + 1).
   */
  heldBatches(readerId: number): { journalId: string; batchSeq: number; lastSeq: number }[] {
    const chains = this.db.prepare('SELECT chain, journal_id FROM chains WHERE reader_id = ? ORDER BY journal_id').all(readerId) as Row[];
    const batches = this.db.prepare('SELECT batch_seq, first_seq, entries FROM batches WHERE chain = ? ORDER BY batch_seq');
    return chains.map((c) => {
      let batchSeq = 0;
      let lastSeq = 0;
      for (const b of batches.iterate(Number(c.chain)) as Iterable<Row>) {
        if (Number(b.batch_seq) !== batchSeq + 1) break;
        batchSeq++;
        lastSeq = Math.max(lastSeq, Number(b.first_seq) + Number(b.entries) - 1);
      }
      return { journalId: toHex(u8(c.journal_id)), batchSeq, lastSeq };
    });
  }

  /**
   * An index over the token hash of every entry, for paymentState (a served clearing answers payment lookups;
   * the batch CLI does not pay for it). Idempotent; the schema version is unchanged (an index adds no data).
   */
  indexPayments(): void {
    this.db.exec('CREATE INDEX IF NOT EXISTS entries_token ON entries(token_hash) WHERE token_hash IS NOT NULL');
  }

  /**
   * Everything clearing holds about one token (by SHA-256 hash), for the payment state of spec/clearing-api.md:
   * its token entries (valid or not, with the reason) and, when it settles, how (settle() run over that wallet's
   * entries alone, so the answer is the report's). Undefined when no entry names the token.
   */
  paymentFacts(tokenHash: Uint8Array): PaymentFacts | undefined {
    const rows = this.db
      .prepare(
        `SELECT c.reader_id AS reader_id, c.journal_id AS journal_id, e.seq AS seq, e.kind AS kind, e.time AS time, e.value AS value, e.valid AS valid,
                e.reason AS reason, e.operator_id AS operator_id, e.wallet_key AS wallet_key, e.wallet_id AS wallet_id, e.counter AS counter, e.currency AS currency
         FROM entries e JOIN chains c ON c.chain = e.chain WHERE e.token_hash = ? AND e.kind != ${JournalKind.void}
         ORDER BY e.time, c.reader_id, c.journal_id, e.seq`,
      )
      .all(tokenHash) as Row[];
    if (!rows.length) return undefined;
    const entries = rows.map((r) => ({
      readerId: Number(r.reader_id),
      journalId: toHex(u8(r.journal_id)),
      seq: Number(r.seq),
      kind: KIND_NAMES[Number(r.kind)]!,
      time: Number(r.time),
      value: Number(r.value),
      valid: Number(r.valid) === 1,
      reason: r.reason === null ? undefined : String(r.reason),
      operatorId: Number(r.operator_id),
      currency: r.currency === null ? undefined : Number(r.currency),
    }));
    const withWallet = rows.find((r) => Number(r.valid) === 1 && r.wallet_key !== null);
    let settled: SettledToken | undefined;
    let walletId: string | undefined;
    let blocked = false;
    if (withWallet) {
      walletId = toHex(u8(withWallet.wallet_id));
      const hex = toHex(tokenHash);
      const s = settle(this.settleRows(Number(withWallet.wallet_key)), { feeBps: this.feeBps, keepTokens: true, zeroFareOperators: this.zeroFareOperators });
      settled = s.tokens.find((t) => t.tokenHash === hex);
      blocked = this.db.prepare('SELECT 1 FROM blocklist WHERE wallet_id = ?').get(u8(withWallet.wallet_id)) !== undefined;
    }
    return { entries, settled, walletId, blocked };
  }

  /** Every valid sale and tap-out, ordered for settle(): by wallet key and counter (the counter index); one wallet key's alone when given. */
  private *settleRows(walletKey?: number): Generator<SettleRow> {
    // Chains are few: looked up in memory, so the scan is one pass over the counter index (a join here let
    // SQLite put chains in the outer loop and scan the index once per chain).
    const chains = new Map<number, { readerId: number; journalId: string }>();
    for (const r of this.db.prepare('SELECT chain, reader_id, journal_id FROM chains').all() as Row[]) {
      chains.set(Number(r.chain), { readerId: Number(r.reader_id), journalId: toHex(u8(r.journal_id)) });
    }
    // Voids are few (a sale voided within minutes at its own reader): held in memory as chain|token hash.
    const voids = new Set<string>();
    for (const r of this.db.prepare(`SELECT chain, token_hash FROM entries INDEXED BY entries_void WHERE kind = ${JournalKind.void} AND valid = 1`).all() as Row[]) {
      voids.add(`${Number(r.chain)}|${toHex(r.token_hash as Uint8Array)}`);
    }
    const stmt = this.db.prepare(
      `SELECT e.chain AS chain, e.seq AS seq, e.kind AS kind, e.time AS time, e.value AS value, e.amount AS amount,
              e.token_hash AS token_hash, e.operator_id AS operator_id, e.wallet_key AS wallet_key, e.wallet_id AS wallet_id, e.counter AS counter,
              e.currency AS currency, e.cert_key AS cert_key, e.allowance AS allowance
       FROM entries e INDEXED BY entries_counter
       WHERE e.wallet_key IS NOT NULL AND e.valid = 1 AND e.kind IN (${JournalKind.accept}, ${JournalKind.tap_in}, ${JournalKind.tap_out})
         ${walletKey === undefined ? '' : 'AND e.wallet_key = ?'}
       ORDER BY e.wallet_key, e.counter`,
    );
    for (const r of (walletKey === undefined ? stmt.iterate() : stmt.iterate(walletKey)) as Iterable<Row>) {
      const kind = Number(r.kind);
      const chain = chains.get(Number(r.chain))!;
      yield {
        readerId: chain.readerId,
        journalId: chain.journalId,
        seq: Number(r.seq),
        kind,
        time: Number(r.time),
        value: Number(r.value),
        amount: kind === JournalKind.tap_out ? Number(r.amount) : Number(r.value),
        tokenHash: r.token_hash as Uint8Array,
        operatorId: Number(r.operator_id),
        walletKey: Number(r.wallet_key),
        walletId: r.wallet_id as Uint8Array,
        counter: Number(r.counter),
        currency: Number(r.currency),
        certKey: Number(r.cert_key),
        allowance: Number(r.allowance),
        voided: voids.size > 0 && kind !== JournalKind.tap_out && voids.has(`${Number(r.chain)}|${toHex(r.token_hash as Uint8Array)}`),
      };
    }
  }

  /** Settlement rules over everything held (settle.ts). `keepTokens` lists every settled token. */
  settle(keepTokens = false): ReturnType<typeof settle> {
    return settle(this.settleRows(), { feeBps: this.feeBps, keepTokens, zeroFareOperators: this.zeroFareOperators });
  }

  /** The settlement lines: per merchant (the certificate's operatorId) and currency, each distinct token once. */
  settlement(): SettlementLine[] {
    return this.settle().lines;
  }

  private evidence(hash: Uint8Array, chain: number, seq: number): EvidenceToken {
    const e = this.db
      .prepare(
        `SELECT c.reader_id AS reader_id, c.journal_id AS journal_id, e.kind AS kind, e.value AS value, substr(b.bytes, e.token_at + 1, e.token_len) AS token
         FROM entries e JOIN chains c ON c.chain = e.chain LEFT JOIN batch_bytes b ON b.id = e.source WHERE e.chain = ? AND e.seq = ?`,
      )
      .get(chain, seq) as Row;
    return {
      tokenHash: toHex(hash),
      readerId: Number(e.reader_id),
      journalId: toHex(u8(e.journal_id)),
      seq,
      kind: KIND_NAMES[e.kind as number]!,
      amount: Number(e.value),
      token: e.token === null || e.token === undefined ? '' : toHex(u8(e.token)),
    };
  }

  /** Every double spend found so far, in order of detection. */
  doubleSpends(): DoubleSpend[] {
    return (this.db.prepare('SELECT * FROM double_spends ORDER BY detected_at, a_chain, a_seq, b_chain, b_seq').all() as Row[]).map((r) => ({
      kind: r.kind as DoubleSpend['kind'],
      walletId: toHex(u8(r.wallet_id)),
      counter: Number(r.counter),
      first: this.evidence(u8(r.a_hash), Number(r.a_chain), Number(r.a_seq)),
      second: this.evidence(u8(r.b_hash), Number(r.b_chain), Number(r.b_seq)),
      detectedAt: Number(r.detected_at),
    }));
  }

  /** Every reader fault found so far (a token listed twice by one reader), in order of detection. */
  readerFaults(): ReaderFault[] {
    return (this.db.prepare('SELECT * FROM reader_faults ORDER BY detected_at, reader_id, a_chain, a_seq, b_chain, b_seq').all() as Row[]).map((r) => ({
      kind: 'token_listed_twice',
      readerId: Number(r.reader_id),
      tokenHash: toHex(u8(r.token_hash)),
      first: this.evidence(u8(r.token_hash), Number(r.a_chain), Number(r.a_seq)),
      second: this.evidence(u8(r.token_hash), Number(r.b_chain), Number(r.b_seq)),
      detectedAt: Number(r.detected_at),
    }));
  }

  /** Every reader journal held, by reader id and journal id, with the seq gaps still missing. */
  readers(): ReaderSummary[] {
    const chains = this.db
      .prepare('SELECT c.chain AS chain, c.reader_id AS reader_id, c.journal_id AS journal_id, r.operator_id AS operator_id, r.profile AS profile FROM chains c JOIN readers r ON r.reader_id = c.reader_id ORDER BY c.reader_id, c.journal_id')
      .all() as Row[];
    const seqs = this.db.prepare('SELECT seq FROM entries WHERE chain = ? ORDER BY seq');
    const nb = this.db.prepare('SELECT count(*) AS n FROM batches WHERE chain = ?');
    return chains.map((r) => {
      const chain = Number(r.chain);
      const gaps: [number, number][] = [];
      let expect = 1;
      let n = 0;
      for (const s of seqs.iterate(chain) as Iterable<Row>) {
        const seq = Number(s.seq);
        if (seq > expect) gaps.push([expect, seq - 1]);
        expect = seq + 1;
        n++;
      }
      return {
        readerId: Number(r.reader_id),
        journalId: toHex(u8(r.journal_id)),
        operatorId: Number(r.operator_id),
        profile: String(r.profile),
        batches: Number((nb.get(chain) as Row).n),
        entries: n,
        lastSeq: expect - 1,
        gaps,
      };
    });
  }

  /** The full report, computed from what is held (a late batch changes it). spec/clearing.md §7. */
  report(): ClearingReport {
    const problems = (this.db.prepare("SELECT reader_id, kind, detail FROM problems WHERE kind != 'invalid_entry' ORDER BY at, reader_id, kind, detail").all() as Row[]).map((p) => ({
      readerId: Number(p.reader_id),
      kind: String(p.kind),
      detail: String(p.detail),
    }));
    const invalidTokens = (
      this.db.prepare('SELECT c.reader_id AS reader_id, c.journal_id AS journal_id, e.seq AS seq, e.reason AS reason FROM entries e JOIN chains c ON c.chain = e.chain WHERE e.valid = 0 ORDER BY c.reader_id, c.journal_id, e.seq').all() as Row[]
    ).map((p) => ({ readerId: Number(p.reader_id), journalId: toHex(u8(p.journal_id)), seq: Number(p.seq), reason: String(p.reason) }));
    const voided = Number((this.db.prepare(`SELECT count(*) AS n FROM entries WHERE kind = ${JournalKind.void} AND valid = 1`).get() as Row).n);
    const s = this.settle();
    // Over-allowance evidence: each settled token's signed bytes, sliced from the reader-signed batch it came in.
    const tokenBytes = this.db.prepare(
      `SELECT substr(b.bytes, e.token_at + 1, e.token_len) AS token FROM chains c JOIN entries e ON e.chain = c.chain JOIN batch_bytes b ON b.id = e.source
       WHERE c.reader_id = ? AND c.journal_id = ? AND e.seq = ?`,
    );
    for (const w of s.overAllowance) {
      for (const t of w.tokens) {
        const r = tokenBytes.get(t.entry.readerId, Buffer.from(t.entry.journalId, 'hex'), t.entry.seq) as Row | undefined;
        if (r?.token) t.token = toHex(r.token as Uint8Array);
      }
    }
    const totals = new Map<number, { currency: number; count: number; gross: bigint; fee: bigint; net: bigint }>();
    for (const l of s.lines) {
      const t = totals.get(l.currency) ?? { currency: l.currency, count: 0, gross: 0n, fee: 0n, net: 0n };
      t.count += l.count;
      t.gross += l.gross;
      t.fee += l.fee;
      t.net += l.net;
      totals.set(l.currency, t);
    }
    return {
      settlement: s.lines,
      totals: [...totals.values()].sort((a, b) => a.currency - b.currency),
      readers: this.readers(),
      doubleSpends: this.doubleSpends(),
      readerFaults: this.readerFaults(),
      overAllowance: s.overAllowance,
      exposure: s.exposure,
      openTrips: s.openTrips,
      multipleTapOuts: s.multipleTapOuts,
      tapOutsWithoutTapIn: s.tapOutsWithoutTapIn,
      zeroFareTapOuts: s.zeroFareTapOuts,
      problems,
      invalidTokens,
      voided,
      tripsAtMaximumFare: s.openTrips.length,
      blocklist: { entries: this.blockedWalletIds().length, version: Number(this.getMeta('blocklist_version') ?? 0) || 0 },
      feeBps: this.feeBps,
    };
  }
}
