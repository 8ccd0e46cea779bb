/**
 * Clearing: ingest reader settlement batches (any order, late, twice), verify them, find cross-reader double
 * spends, settle per merchant and currency, and issue the signed blocklist readers load (spec/reader.md
 * §Clearing). Node only: embedded SQLite (better-sqlite3; ':memory:' for a throwaway database) and the
 * node:crypto Ed25519 verifier by default.
 *
 * Per batch, in one SQLite transaction:
 *   1. decode; verify the reader certificate against the issuer keys and the batch signature with its key;
 *   2. recompute the chain over the entries from prevHead: it must end at the signed head (else bad_chain);
 *   3. continuity with what is held for that reader: entry firstSeq-1 must hash to prevHead, entry lastSeq+1
 *      must start from head, and an entry held twice must be the same entry (else fork: a forged or
 *      rewritten history). Missing ranges are gaps, computed at report time, so a late batch closes them;
 *   4. every token is verified again (stateless, at the entry's reader time; wallet-certificate checks are
 *      cached, so about one Ed25519 verification per token);
 *   5. double spends: one (wallet, counter) with different token bytes, or one token taken at two readers
 *      (or twice at one). Both signed tokens are kept as evidence and the wallet goes on the blocklist.
 */
import { cborHead, cborItemEnd, encodeCbor } from '../cbor.js';
import { equalBytes, prefixKey, signingInput, toHex, type SyncVerifier } from '../crypto.js';
import { OffpayError } from '../errors.js';
import type { Issuer } from '../issuer.js';
import { decodeIssuerKeySet, encodeIssuerKeySet, readerCertSigningInput, type IssuerKeySet, type ReaderCert } from '../messages.js';
import { nodeEd25519, nodeSha256 } from '../node/crypto.js';
import { loadSqliteDriver, type SqliteDatabase, type SqliteStatement } from '../node/sqlite.js';
import { checkTokenJobs, type TokenCheck, type TokenJob, type VerifyPool } from './pool.js';
import { batchEntryBytes, batchSigningInputFromBytes, decodeBatch, type SettlementBatch } from '../reader/batch.js';
import { createBlocklist } from '../reader/blocklist.js';
import { JOURNAL_TAG, JournalKind, type JournalKindName } from '../reader/journal.js';
import { PROFILES } from '../reader/profiles.js';
import { cachingVerifier } from '../reader/verifier.js';
import { feeFor, validateFeeBps } from './fees.js';

/** Bumped whenever the tables change; a database of another version is refused (clearing.store_unusable). */
const SCHEMA_VERSION = 3;
// Every byte and index of an entry row is paid for a million times, so the row is narrow:
//  - the signed batch is kept once as received (batch_bytes) and an entry points at its token inside it
//    (source, token_at, token_len) instead of holding a copy;
//  - prev_hash is held only for the first entry of its batch (for any other entry it is the hash of the entry
//    before it, held from the same batch);
//  - the wallet-counter index is keyed by wallet_key, the first six bytes of the wallet id as an integer
//    (SQLite compares integer keys much faster than blobs); the full wallet_id is compared after the index.
// Two secondary indexes only, because every index costs each ingested entry a random B-tree insert: one by
// wallet counter (double spends; a token's other entries, such as its tap-out, share its counter) and one
// over void entries alone (a partial index, so sales do not pay for it).
const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS readers(reader_id INTEGER PRIMARY KEY, operator_id INTEGER NOT NULL, profile TEXT NOT NULL, cert BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS batches(reader_id INTEGER NOT NULL, batch_seq INTEGER NOT NULL, first_seq INTEGER NOT NULL, entries INTEGER NOT NULL,
  head BLOB NOT NULL, digest BLOB NOT NULL, created_at INTEGER NOT NULL, PRIMARY KEY(reader_id, batch_seq)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS batch_bytes(id INTEGER PRIMARY KEY, reader_id INTEGER NOT NULL, batch_seq INTEGER NOT NULL, bytes BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS entries(reader_id INTEGER NOT NULL, seq INTEGER NOT NULL, kind INTEGER NOT NULL, time INTEGER NOT NULL,
  value INTEGER NOT NULL, token_hash BLOB, prev_hash BLOB, hash BLOB NOT NULL, valid INTEGER NOT NULL, reason TEXT,
  source INTEGER, token_at INTEGER, token_len INTEGER, wallet_key INTEGER, wallet_id BLOB, counter INTEGER, currency INTEGER,
  PRIMARY KEY(reader_id, seq)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS entries_counter ON entries(wallet_key, counter);
CREATE INDEX IF NOT EXISTS entries_void ON entries(reader_id, token_hash) WHERE kind = ${JournalKind.void};
CREATE TABLE IF NOT EXISTS double_spends(kind TEXT NOT NULL, wallet_id BLOB NOT NULL, counter INTEGER NOT NULL,
  a_hash BLOB NOT NULL, a_reader INTEGER NOT NULL, a_seq INTEGER NOT NULL, b_hash BLOB NOT NULL, b_reader INTEGER NOT NULL, b_seq INTEGER NOT NULL,
  detected_at INTEGER NOT NULL, PRIMARY KEY(a_reader, a_seq, b_reader, b_seq)) WITHOUT ROWID;
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

export interface ClearingOptions {
  /** The issuer key set; stored in the database, so later opens may omit it. */
  issuerKeys?: IssuerKeySet;
  /** Database path (default ':memory:'). */
  path?: string;
  /** Ed25519 backend (default nodeEd25519()). */
  verifier?: SyncVerifier;
  /** Fee in basis points charged on each settlement line (default 150 = 1.50%). */
  feeBps?: number;
  clock?: () => number;
  /**
   * SQLite page cache, MiB (default 256). The wallet-counter index takes a random insert and a probe per
   * token; with a cache that holds it, neither waits on the disk cache as the database grows.
   */
  cacheMiB?: number;
}

export interface IngestResult {
  /** 'ingested', 'duplicate' (already held byte for byte), or 'rejected' (nothing was stored from it). */
  outcome: 'ingested' | 'duplicate' | 'rejected';
  readerId?: number;
  batchSeq?: number;
  /** Entries newly stored. */
  entries: number;
  /** Entries already held (overlapping batches). */
  alreadyHeld: number;
  /** Entries whose token failed re-verification (stored, not settled). */
  invalidTokens: number;
  /** Double spends newly found. */
  doubleSpends: number;
  /** Why the batch was rejected (stable code) and the message. */
  error?: { code: string; message: string };
}

export interface SettlementLine {
  operatorId: number;
  currency: number;
  count: number;
  gross: number;
  feeBps: number;
  fee: number;
  net: number;
}

export interface EvidenceToken {
  tokenHash: string;
  readerId: number;
  seq: number;
  kind: JournalKindName;
  amount: number;
  /** Full signed token bytes, hex. */
  token: string;
}

export interface DoubleSpend {
  kind: 'counter_reuse' | 'same_token_twice';
  walletId: string;
  counter: number;
  first: EvidenceToken;
  second: EvidenceToken;
  detectedAt: number;
}

export interface ReaderSummary {
  readerId: number;
  operatorId: number;
  profile: string;
  batches: number;
  entries: number;
  lastSeq: number;
  /** Missing entry ranges [from, to], inclusive. */
  gaps: [number, number][];
}

export interface ClearingReport {
  settlement: SettlementLine[];
  readers: ReaderSummary[];
  doubleSpends: DoubleSpend[];
  problems: { readerId: number; kind: string; detail: string }[];
  invalidTokens: { readerId: number; seq: number; reason: string }[];
  voided: number;
  tripsAtMaximumFare: number;
  blocklist: { entries: number; version: number };
  feeBps: number;
}

type Row = Record<string, unknown>;

interface Prepared {
  kind: 'prepared';
  b: SettlementBatch;
  bytes: Uint8Array;
  digest: Uint8Array;
  hashes: Uint8Array[];
  /** Where each entry's data (the token, for token entries) starts in the batch bytes. */
  dataAt: number[];
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

/** Offset of the data byte string's content in an entry's canonical bytes [seq, kind, time, data, value]. */
function entryDataStart(entry: Uint8Array): number {
  let pos = 1;
  for (let i = 0; i < 3; i++) pos = cborItemEnd(entry, pos);
  return cborHead(entry, pos).next;
}

export class Clearing {
  /** The clearing database (better-sqlite3, loaded on first use; see src/node/sqlite.ts). */
  readonly db: SqliteDatabase;
  readonly issuerKeys: IssuerKeySet;
  readonly feeBps: number;
  private readonly verifier: SyncVerifier;
  private readonly clock: () => number;
  private readonly q: Record<string, SqliteStatement>;

  constructor(o: ClearingOptions) {
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
      batch: db.prepare('SELECT digest FROM batches WHERE reader_id = ? AND batch_seq = ?'),
      putBatch: db.prepare('INSERT OR REPLACE INTO batches(reader_id, batch_seq, first_seq, entries, head, digest, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)'),
      entry: db.prepare('SELECT hash, prev_hash FROM entries WHERE reader_id = ? AND seq = ?'),
      entryRange: db.prepare('SELECT seq, hash FROM entries WHERE reader_id = ? AND seq BETWEEN ? AND ?'),
      putBytes: db.prepare('INSERT INTO batch_bytes(reader_id, batch_seq, bytes) VALUES (?, ?, ?)'),
      putEntry: db.prepare(
        `INSERT INTO entries(reader_id, seq, kind, time, value, token_hash, prev_hash, hash, valid, reason, source, token_at, token_len, wallet_key, wallet_id, counter, currency)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      // For each valid token entry of a batch, every other valid entry that spends the same wallet counter.
      // The common case (no such entry) costs one index probe per entry inside SQLite.
      counterPeers: db.prepare(
        `SELECT e.seq AS seq, e.kind AS kind, e.token_hash AS hash, e.wallet_id AS wallet_id, e.counter AS counter,
                o.reader_id AS o_reader, o.seq AS o_seq, o.kind AS o_kind, o.token_hash AS o_hash
         FROM entries e JOIN entries o ON o.wallet_key = e.wallet_key AND o.counter = e.counter
         WHERE e.reader_id = ? AND e.seq BETWEEN ? AND ? AND e.wallet_key IS NOT NULL AND NOT (o.reader_id = e.reader_id AND o.seq = e.seq)
           AND o.valid = 1 AND o.wallet_id = e.wallet_id
         ORDER BY e.seq, o.reader_id, o.seq`,
      ),
      putDouble: db.prepare(
        'INSERT OR IGNORE INTO double_spends(kind, wallet_id, counter, a_hash, a_reader, a_seq, b_hash, b_reader, b_seq, detected_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
      ),
      block: db.prepare('INSERT OR IGNORE INTO blocklist(wallet_id, reason, added_at) VALUES (?, ?, ?)'),
      problem: db.prepare('INSERT OR IGNORE INTO problems(reader_id, kind, detail, at) VALUES (?, ?, ?, ?)'),
    };
  }

  static open(o: ClearingOptions): Clearing {
    return new Clearing(o);
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  private getMeta(key: string): unknown {
    return (this.db.prepare('SELECT value FROM meta WHERE key = ?').get(key) as Row | undefined)?.value;
  }

  private setMeta(key: string, value: number | string | Uint8Array): void {
    this.db.prepare('INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)').run(key, value);
  }

  /** Check a reader certificate against the issuer keys (signature only: batches arrive after expiry too). */
  private checkReaderCert(c: ReaderCert): void {
    const key = this.issuerKeys.keys.find((k) => k.keyIndex === c.keyIndex);
    if (!key) throw new OffpayError('clearing.unknown_issuer_key', `reader ${c.readerId}: certificate names unknown issuer key ${c.keyIndex}`);
    if (!this.verifier.verify(c.issuerSignature, readerCertSigningInput(c), key.publicKey)) {
      throw new OffpayError('clearing.bad_reader_cert', `reader ${c.readerId}: the issuer signature on the reader certificate does not verify`);
    }
  }

  /**
   * Phase 1 of an ingest: decode, certificate, signature, duplicate and chain checks, and the token
   * verification jobs. Returns a final result when the batch stops here.
   */
  private prepare(bytes: Uint8Array): Prepared | IngestResult {
    const empty = { entries: 0, alreadyHeld: 0, invalidTokens: 0, doubleSpends: 0 };
    const now = this.clock();
    let b: SettlementBatch;
    try {
      b = decodeBatch(bytes);
    } catch (e) {
      const err = e instanceof OffpayError ? e : new OffpayError('clearing.bad_batch', String(e));
      return { outcome: 'rejected', ...empty, error: { code: err.code.startsWith('clearing.') ? err.code : 'clearing.bad_batch', message: err.message } };
    }
    const readerId = b.readerCert.readerId;
    const reject = (code: string, message: string, record = true): IngestResult => {
      if (record) this.q.problem!.run(readerId, code.replace('clearing.', ''), message, now);
      return { outcome: 'rejected', readerId, batchSeq: b.batchSeq, ...empty, error: { code, message } };
    };
    try {
      this.checkReaderCert(b.readerCert);
    } catch (e) {
      return reject((e as OffpayError).code, (e as Error).message, false);
    }
    if (!this.verifier.verify(b.signature, batchSigningInputFromBytes(bytes), b.readerCert.readerPublicKey)) {
      return reject('clearing.bad_batch_signature', `batch ${b.batchSeq}: the reader signature does not verify`);
    }
    const digest = nodeSha256(bytes);
    const held = this.q.batch!.get(readerId, b.batchSeq) as Row | undefined;
    if (held && equalBytes(u8(held.digest), digest)) return { outcome: 'duplicate', readerId, batchSeq: b.batchSeq, ...empty };
    const hashes: Uint8Array[] = [];
    const dataAt: number[] = [];
    let h = b.prevHead;
    // The chain covers each entry's canonical bytes: hashed straight out of the (canonical) batch bytes.
    for (const entry of batchEntryBytes(bytes)) {
      h = chainHash(h, entry);
      hashes.push(h);
      dataAt.push(entry.byteOffset - bytes.byteOffset + entryDataStart(entry));
    }
    if (!equalBytes(h, b.head)) {
      return reject('clearing.bad_chain', `batch ${b.batchSeq} (entries ${b.firstSeq}..${b.firstSeq + b.entries.length - 1}): the entries do not chain to the signed head`);
    }
    const profile = PROFILES[b.readerCert.profile];
    const payees = b.readerCert.profile === 'transit' ? [readerId, b.readerCert.operatorId] : [readerId];
    const acceptAge = Math.max(profile.maxAgeSeconds, profile.oneWayMaxAgeSeconds);
    const jobs = b.entries.map((e): TokenJob | null =>
      TOKEN_KINDS.has(JournalKind[e.kind])
        ? { data: e.data, now: e.time, payees, maxAge: e.kind === 'tap_out' ? profile.maxTripSeconds : acceptAge, maxFuture: profile.maxFutureSeconds }
        : null,
    );
    return { kind: 'prepared', b, bytes, digest, hashes, dataAt, jobs, now, reject };
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
    return this.commit(
      p,
      this.checkJobs(p.jobs),
    );
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
      open += 'kind' in p ? p.b.entries.length : 1;
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

  /** Phase 2: continuity, per-entry storage, double spends; one database transaction. */
  private commit(p: Prepared, checks: (TokenCheck | null)[]): IngestResult {
    const { b, bytes, digest, hashes, dataAt, now, reject } = p;
    const readerId = b.readerCert.readerId;
    const lastSeq = b.firstSeq + b.entries.length - 1;
    const run = this.db.transaction((): IngestResult => {
      const again = this.q.batch!.get(readerId, b.batchSeq) as Row | undefined;
      if (again && equalBytes(u8(again.digest), digest)) return { outcome: 'duplicate', readerId, batchSeq: b.batchSeq, entries: 0, alreadyHeld: 0, invalidTokens: 0, doubleSpends: 0 };
      // Continuity with what is held.
      if (b.firstSeq > 1) {
        const before = this.q.entry!.get(readerId, b.firstSeq - 1) as Row | undefined;
        if (before && !equalBytes(u8(before.hash), b.prevHead)) {
          return reject('clearing.fork', `batch ${b.batchSeq}: prevHead does not match held entry ${b.firstSeq - 1} (a rewritten or forged history)`);
        }
      }
      const after = this.q.entry!.get(readerId, lastSeq + 1) as Row | undefined;
      // An entry held without prev_hash was not first in its batch: the entry before it (lastSeq) is held too and
      // was compared with this batch's own last entry below, whose hash is the head.
      if (after && after.prev_hash !== null && !equalBytes(u8(after.prev_hash), b.head)) {
        return reject('clearing.fork', `batch ${b.batchSeq}: head does not match the start of held entry ${lastSeq + 1} (a rewritten or forged history)`);
      }
      const existing = this.q.reader!.get(readerId) as Row | undefined;
      if (existing && (existing.operator_id !== b.readerCert.operatorId || existing.profile !== b.readerCert.profile)) {
        this.q.problem!.run(readerId, 'reader_cert_changed', `operator ${String(existing.operator_id)} -> ${b.readerCert.operatorId}`, now);
      }
      if (!existing) this.q.putReader!.run(readerId, b.readerCert.operatorId, b.readerCert.profile, encodeCbor(b.readerCert.issuerSignature));
      // The batch bytes are stored once, when the first entry that needs them (a token entry) is written.
      let source: number | null = null;
      const held = new Map<number, Uint8Array>();
      for (const r of this.q.entryRange!.all(readerId, b.firstSeq, lastSeq) as Row[]) held.set(Number(r.seq), u8(r.hash));
      let entries = 0;
      let alreadyHeld = 0;
      let invalidTokens = 0;
      let doubleSpends = 0;
      /** Seqs of the entries this commit writes. */
      const fresh = new Set<number>();
      /** Conflict entries (a counter reuse a reader saw) and their wallet. */
      const conflicts = new Map<number, Uint8Array>();
      for (let i = 0; i < b.entries.length; i++) {
        const e = b.entries[i]!;
        const hash = hashes[i]!;
        const have = held.get(e.seq);
        if (have) {
          if (!equalBytes(have, hash)) {
            throw new OffpayError('clearing.fork', `batch ${b.batchSeq}: entry ${e.seq} differs from the entry already held (a rewritten or forged history)`);
          }
          alreadyHeld++;
          continue;
        }
        const kind = JournalKind[e.kind];
        let tokenHash: Uint8Array | null = null;
        let valid = 1;
        let reason: string | null = null;
        let tokenAt: number | null = null;
        let walletId: Uint8Array | null = null;
        let counter: number | null = null;
        let currency: number | null = null;
        if (TOKEN_KINDS.has(kind)) {
          const v = checks[i]!;
          source ??= Number(this.q.putBytes!.run(readerId, b.batchSeq, bytes).lastInsertRowid);
          tokenAt = dataAt[i]!;
          // verifyToken already hashed an accepted token (SHA-256 of the same bytes): reuse it.
          tokenHash = v.ok ? v.tokenHash : nodeSha256(e.data);
          if (!v.ok) {
            valid = 0;
            reason = v.reason;
          } else if ((e.kind === 'accept' || e.kind === 'tap_in') && e.value !== v.amount) {
            valid = 0;
            reason = 'amount_mismatch';
          } else {
            // Only valid tokens are indexed by wallet counter, so only they take part in double-spend detection.
            walletId = v.walletId;
            counter = v.counter;
            currency = v.currency;
            // A reader saw this wallet reuse a counter: the wallet is cloned or rolled back, whatever else arrives.
            if (e.kind === 'conflict') conflicts.set(e.seq, v.walletId);
          }
          if (valid === 0) {
            invalidTokens++;
            this.q.problem!.run(readerId, 'invalid_token', `entry ${e.seq}: ${reason}`, now);
          }
        } else {
          tokenHash = e.data; // void: the hash of the voided token
        }
        this.q.putEntry!.run(
          readerId,
          e.seq,
          kind,
          e.time,
          e.value,
          tokenHash,
          i === 0 ? b.prevHead : null,
          hash,
          valid,
          reason,
          tokenAt === null ? null : source,
          tokenAt,
          tokenAt === null ? null : e.data.length,
          walletId ? prefixKey(walletId) : null,
          walletId,
          counter,
          currency,
        );
        fresh.add(e.seq);
        entries++;
      }
      // Double spends, as if the new entries were checked one by one in order against everything held before
      // them: another valid entry with the same wallet counter counts when it was held before this batch, or
      // is an earlier entry of it (a later one finds this one in its turn, so each pair is recorded once).
      //  - counter_reuse: different token bytes; this entry is not a tap-out, the other is a sale or conflict;
      //  - same_token_twice: the same token bytes taken as a sale (accept or tap-in) twice.
      // The blocklist keeps the first reason a wallet was blocked for, so the order is: per entry, counter
      // reuses, then the same token twice, then a reader-reported conflict.
      const found = new Map<number, { what: 'counter_reuse' | 'same_token_twice'; row: Row }[]>();
      if (fresh.size > 0) {
        for (const r of this.q.counterPeers!.all(readerId, b.firstSeq, lastSeq) as Row[]) {
          const seq = Number(r.seq);
          const oReader = Number(r.o_reader);
          const oSeq = Number(r.o_seq);
          if (!fresh.has(seq) || (oReader === readerId && fresh.has(oSeq) && oSeq > seq)) continue;
          const k = Number(r.kind);
          const ok = Number(r.o_kind);
          let what: 'counter_reuse' | 'same_token_twice' | null = null;
          if (!equalBytes(u8(r.hash), u8(r.o_hash))) {
            if (k !== JournalKind.tap_out && ok !== JournalKind.tap_out) what = 'counter_reuse';
          } else if (SALE_KINDS.includes(k as 0 | 2) && SALE_KINDS.includes(ok as 0 | 2)) {
            what = 'same_token_twice';
          }
          if (!what) continue;
          const list = found.get(seq) ?? [];
          list.push({ what, row: r });
          found.set(seq, list);
        }
      }
      for (const seq of fresh) {
        const list = found.get(seq) ?? [];
        list.sort((x, y) => (x.what === y.what ? 0 : x.what === 'counter_reuse' ? -1 : 1));
        for (const { what, row: r } of list) {
          const wallet = u8(r.wallet_id);
          if (this.q.putDouble!.run(what, wallet, Number(r.counter), u8(r.o_hash), Number(r.o_reader), Number(r.o_seq), u8(r.hash), readerId, seq, now).changes) doubleSpends++;
          this.q.block!.run(wallet, what, now);
        }
        const conflict = conflicts.get(seq);
        if (conflict) this.q.block!.run(conflict, 'counter_reuse', now);
      }
      this.q.putBatch!.run(readerId, b.batchSeq, b.firstSeq, b.entries.length, b.head, digest, b.createdAt);
      return { outcome: 'ingested', readerId, batchSeq: b.batchSeq, entries, alreadyHeld, invalidTokens, doubleSpends };
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

  blockedWalletIds(): Uint8Array[] {
    return (this.db.prepare('SELECT wallet_id FROM blocklist').all() as Row[]).map((r) => u8(r.wallet_id));
  }

  /** Sign the next blocklist version (a full snapshot) with the issuer's current key. */
  issueBlocklist(issuer: Issuer, now: number = this.clock()): { bytes: Uint8Array; version: number; entries: number } {
    if (issuer.issuerId !== this.issuerKeys.issuerId) throw new OffpayError('clearing.wrong_issuer', `issuer ${issuer.issuerId} is not the clearing's issuer ${this.issuerKeys.issuerId}`);
    const version = (Number(this.getMeta('blocklist_version') ?? 0) || 0) + 1;
    const ids = this.blockedWalletIds();
    const { bytes } = createBlocklist(issuer.currentKey(now), { issuerId: issuer.issuerId, version, issuedAt: now, walletIds: ids });
    this.setMeta('blocklist_version', version);
    return { bytes, version, entries: ids.length };
  }

  /** The settlement: per merchant (operatorId) and currency, valid and unvoided sales; trips at the tap-out fare. */
  settlement(): SettlementLine[] {
    const rows = this.db
      .prepare(
        `SELECT r.operator_id AS operator_id, e.currency AS currency, count(*) AS n, sum(
           CASE WHEN e.kind = ${JournalKind.tap_in} THEN
             min(e.value, coalesce((SELECT o.value FROM entries o JOIN readers ro ON ro.reader_id = o.reader_id
                WHERE o.wallet_key = e.wallet_key AND o.counter = e.counter AND o.token_hash = e.token_hash AND o.kind = ${JournalKind.tap_out} AND o.valid = 1 AND ro.operator_id = r.operator_id
                ORDER BY o.time, o.reader_id, o.seq LIMIT 1), e.value))
           ELSE e.value END) AS gross
         FROM entries e JOIN readers r ON r.reader_id = e.reader_id
         WHERE e.kind IN (${SALE_KINDS.join(',')}) AND e.valid = 1
           AND NOT EXISTS (SELECT 1 FROM entries v WHERE v.reader_id = e.reader_id AND v.kind = ${JournalKind.void} AND v.token_hash = e.token_hash)
         GROUP BY r.operator_id, e.currency ORDER BY r.operator_id, e.currency`,
      )
      .all() as Row[];
    return rows.map((r) => {
      const gross = Number(r.gross);
      return { operatorId: Number(r.operator_id), currency: Number(r.currency), count: Number(r.n), gross, feeBps: this.feeBps, ...feeFor(gross, this.feeBps) };
    });
  }

  private evidence(hash: Uint8Array, readerId: number, seq: number): EvidenceToken {
    const e = this.db
      .prepare('SELECT e.kind AS kind, e.value AS value, substr(b.bytes, e.token_at + 1, e.token_len) AS token FROM entries e LEFT JOIN batch_bytes b ON b.id = e.source WHERE e.reader_id = ? AND e.seq = ?')
      .get(readerId, seq) as Row;
    return { tokenHash: toHex(hash), readerId, seq, kind: KIND_NAMES[e.kind as number]!, amount: Number(e.value), token: e.token === null || e.token === undefined ? '' : toHex(u8(e.token)) };
  }

  doubleSpends(): DoubleSpend[] {
    return (this.db.prepare('SELECT * FROM double_spends ORDER BY detected_at, a_reader, a_seq, b_reader, b_seq').all() as Row[]).map((r) => ({
      kind: r.kind as DoubleSpend['kind'],
      walletId: toHex(u8(r.wallet_id)),
      counter: Number(r.counter),
      first: this.evidence(u8(r.a_hash), Number(r.a_reader), Number(r.a_seq)),
      second: this.evidence(u8(r.b_hash), Number(r.b_reader), Number(r.b_seq)),
      detectedAt: Number(r.detected_at),
    }));
  }

  readers(): ReaderSummary[] {
    const readers = this.db.prepare('SELECT reader_id, operator_id, profile FROM readers ORDER BY reader_id').all() as Row[];
    const seqs = this.db.prepare('SELECT seq FROM entries WHERE reader_id = ? ORDER BY seq');
    const nb = this.db.prepare('SELECT count(*) AS n FROM batches WHERE reader_id = ?');
    return readers.map((r) => {
      const id = Number(r.reader_id);
      const gaps: [number, number][] = [];
      let expect = 1;
      let n = 0;
      for (const s of seqs.iterate(id) as Iterable<Row>) {
        const seq = Number(s.seq);
        if (seq > expect) gaps.push([expect, seq - 1]);
        expect = seq + 1;
        n++;
      }
      return { readerId: id, operatorId: Number(r.operator_id), profile: String(r.profile), batches: Number((nb.get(id) as Row).n), entries: n, lastSeq: expect - 1, gaps };
    });
  }

  report(): ClearingReport {
    const problems = (this.db.prepare("SELECT reader_id, kind, detail FROM problems WHERE kind != 'invalid_token' ORDER BY at, reader_id").all() as Row[]).map((p) => ({
      readerId: Number(p.reader_id),
      kind: String(p.kind),
      detail: String(p.detail),
    }));
    const invalidTokens = (this.db.prepare('SELECT reader_id, seq, reason FROM entries WHERE valid = 0 ORDER BY reader_id, seq').all() as Row[]).map((p) => ({
      readerId: Number(p.reader_id),
      seq: Number(p.seq),
      reason: String(p.reason),
    }));
    const voided = Number((this.db.prepare(`SELECT count(*) AS n FROM entries WHERE kind = ${JournalKind.void}`).get() as Row).n);
    const atMax = Number(
      (
        this.db
          .prepare(
            `SELECT count(*) AS n FROM entries e WHERE e.kind = ${JournalKind.tap_in} AND e.valid = 1
             AND NOT EXISTS (SELECT 1 FROM entries o WHERE o.wallet_key = e.wallet_key AND o.counter = e.counter AND o.token_hash = e.token_hash AND o.kind = ${JournalKind.tap_out} AND o.valid = 1)`,
          )
          .get() as Row
      ).n,
    );
    return {
      settlement: this.settlement(),
      readers: this.readers(),
      doubleSpends: this.doubleSpends(),
      problems,
      invalidTokens,
      voided,
      tripsAtMaximumFare: atMax,
      blocklist: { entries: this.blockedWalletIds().length, version: Number(this.getMeta('blocklist_version') ?? 0) || 0 },
      feeBps: this.feeBps,
    };
  }
}


