/**
 * The SQLite clearing store (store.ts; the embedded default): one file, one process, better-sqlite3 loaded on
 * first use. Every call runs synchronously inside better-sqlite3; the async interface costs one resolved
 * promise per call, and an ingest makes a dozen calls per batch (entries are written in one call).
 *
 * Atomicity (store.ts duty 1): a session holds this store's lock (a FIFO queue: one connection, so two
 * interleaved async ingests would otherwise share one SQLite transaction); `atomic` opens a transaction (BEGIN
 * IMMEDIATE) or, when one is open, is a SAVEPOINT inside it, so a unit that fails rolls back alone. The transaction
 * commits at a session's `checkpoint`, and after its end once no other session continues it: group commit of
 * concurrent ingests (`finish`, `handOn`), one COMMIT (one fsync) for up to GROUP_SESSIONS sessions, each
 * session's promise settling only after the COMMIT that holds its writes. SQLite has one writer at a time, so an
 * atomic unit is serialisable and never needs a retry. Reads outside a session wait until no session runs and
 * no transaction is open, so they never see a half-written or uncommitted batch.
 */
import { existsSync } from 'node:fs';
import { prefixKey } from '../crypto.js';
import { toHex } from '../../base/hex.js';
import { OffpayError } from '../../base/errors.js';
import { loadSqliteDriver, sqliteFailureOf, type SqliteDatabase, type SqliteStatement } from '../node/sqlite.js';
import { JournalKind, type JournalKindName } from '../reader/journal.js';
import type { SettleRow } from './settle.js';
import type {
  BatchRow, BlocklistRow, ChainRow, ClearingStore, CounterMate, CounterQuery, DoubleSpendRow, HeldFindings, EntryEvidence, HeldJournal, IngestSession, IngestTx, InvalidEntryRow, ProblemRow,
  ClaimedMeta, HeldRefund, NextBlocklist, RefundTotals, ReaderFaultRow, RefundRow, RequestSaleRow, TokenEntryRow,
} from './store.js';
import { classKind, firstsClass, heldFaultError, isSpaceFault, refundTotalsOf, WRITE_FAULT_HOLD_MS } from './store.js';

/** Bumped whenever the tables change; a database of another version is refused (clearing.store_unusable). */
export const SQLITE_SCHEMA_VERSION = 7;
/**
 * The schema versions this store upgrades when it opens a database: 4 (before counter_firsts, one finding per key),
 * 5 (before the request columns of entries, M9) and 6 (counter_firsts before classes of their own for tap-ins and
 * tap-outs, the one-way rule of spec/clearing.md §4 step 10).
 */
const SQLITE_UPGRADES_FROM = [4, 5, 6];
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
  req_time INTEGER, req_challenge BLOB, PRIMARY KEY(chain, seq)) WITHOUT ROWID;
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

// Refunds (spec/clearing.md §13): one row per refunded token, the token hash the unique key; `seq` numbers the
// rows in the order they were stored (1, 2, ...: the paging key of GET /v1/refunds). A table added to schema 4
// without a version bump: it is created if absent when a database is opened, and changes no other table. A
// refunds table of a pre-release 0.2.0 without `seq` is given it at open (numbered by acceptance time, token hash).
const REFUNDS_SCHEMA = `
CREATE TABLE IF NOT EXISTS refunds(token_hash BLOB PRIMARY KEY, bytes BLOB NOT NULL, operator_id INTEGER NOT NULL, reader_id INTEGER NOT NULL,
  wallet_id BLOB NOT NULL, amount INTEGER NOT NULL, currency INTEGER NOT NULL, charge INTEGER NOT NULL, time INTEGER NOT NULL, accepted_at INTEGER NOT NULL,
  seq INTEGER NOT NULL) WITHOUT ROWID;
`;
// Verified wallet certificates (spec/clearing.md §4, remembered certificates): the digest of each (issuer key,
// certificate bytes) whose checks passed in a committed batch. A table added to schema 4 without a version bump,
// created if absent when a database is opened, as refunds.
const CERTS_SCHEMA = 'CREATE TABLE IF NOT EXISTS verified_certs(digest BLOB PRIMARY KEY) WITHOUT ROWID';
// The firsts of each wallet counter that more than one valid entry names (spec/clearing.md §11.1): per (token
// hash, reader id, class) its first entry by (journal id, seq). What the pairing of §4 step 10 reads instead of
// walking the counter's entries. A table added to schema 4 without a version bump, created if absent.
const FIRSTS_SCHEMA = `CREATE TABLE IF NOT EXISTS counter_firsts(wallet_id BLOB NOT NULL, counter INTEGER NOT NULL, token_hash BLOB NOT NULL,
  reader_id INTEGER NOT NULL, class INTEGER NOT NULL, journal_id BLOB NOT NULL, seq INTEGER NOT NULL, chain INTEGER NOT NULL,
  PRIMARY KEY(wallet_id, counter, class, token_hash, reader_id)) WITHOUT ROWID`;
// firstOtherToken in (reader id, journal id, seq) order without a sort, over the sales and conflicts alone (the
// tap-out rows, one a token and reader, are never stepped over).
const FIRSTS_ORDER_INDEX = 'CREATE INDEX IF NOT EXISTS counter_firsts_order ON counter_firsts(wallet_id, counter, reader_id, journal_id, seq) WHERE class IN (0, 1, 3)';
// Schema 6 to 7: counter_firsts held tap-ins as sales (class 0) and a counter's tap-outs as one marker row, keyed
// with the class last. Derived data: the table is made again, empty, and each counter's rows are recorded again
// from its entries by its next batch (§11.1).
const FIRSTS_UPGRADE = 'DROP TABLE IF EXISTS counter_firsts';
// One finding per key (spec/clearing.md §4 step 10, §11.1): double_spends by (kind, wallet id, counter),
// reader_faults by (reader id, token hash). Added to schema 4 without a version bump: a database that recorded one
// row per pair (a pre-release 0.2.0) keeps, of each key, the row detected first, and the indexes are created. The rows
// dropped are pairs the entries held still show (every entry stays); the report lists one pair per key.
// One pass of a window function over each table (a correlated self-join was quadratic: 16,000 old rows took 16 s).
const FINDINGS_UPGRADE = `
DELETE FROM double_spends WHERE (a_chain, a_seq, b_chain, b_seq) IN (SELECT a_chain, a_seq, b_chain, b_seq FROM (SELECT a_chain, a_seq, b_chain, b_seq,
  row_number() OVER (PARTITION BY kind, wallet_id, counter ORDER BY detected_at, a_chain, a_seq, b_chain, b_seq) AS rn FROM double_spends) WHERE rn > 1);
DELETE FROM reader_faults WHERE (a_chain, a_seq, b_chain, b_seq) IN (SELECT a_chain, a_seq, b_chain, b_seq FROM (SELECT a_chain, a_seq, b_chain, b_seq,
  row_number() OVER (PARTITION BY reader_id, token_hash ORDER BY detected_at, a_chain, a_seq, b_chain, b_seq) AS rn FROM reader_faults) WHERE rn > 1);
CREATE UNIQUE INDEX double_spends_key ON double_spends(kind, wallet_id, counter);
CREATE UNIQUE INDEX reader_faults_key ON reader_faults(reader_id, token_hash);
`;
const REFUNDS_SEQ_UPGRADE = `
ALTER TABLE refunds ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;
UPDATE refunds SET seq = (SELECT n FROM (SELECT token_hash AS h, row_number() OVER (ORDER BY accepted_at, token_hash) AS n FROM refunds) WHERE h = refunds.token_hash);
`;
const REFUNDS_SEQ_INDEX = 'CREATE UNIQUE INDEX IF NOT EXISTS refunds_seq ON refunds(seq)';
// One request, one settlement (spec/clearing.md M9): the request a valid request-bound accept answered, and an
// index over those rows alone by (chain, request time, challenge). Chain first: a batch is one chain whose request
// times rise, so its rows land side by side in the index (a few pages a batch, not one a row). Schema 5 to 6 adds
// the columns (NULL in the rows held: a sale taken before the upgrade is not compared).
const REQUEST_UPGRADE = 'ALTER TABLE entries ADD COLUMN req_time INTEGER; ALTER TABLE entries ADD COLUMN req_challenge BLOB;';
const REQUEST_INDEX = 'CREATE INDEX IF NOT EXISTS entries_request ON entries(chain, req_time, req_challenge) WHERE req_time IS NOT NULL';

type Row = Record<string, unknown>;
/** The columns of a RequestSaleRow (entries e, chains c), `voided` from the valid voids of the entry's journal. */
const REQUEST_SALE_COLUMNS = `c.reader_id AS reader_id, e.operator_id AS operator_id, c.journal_id AS journal_id, e.seq AS seq, e.time AS time, e.token_hash AS token_hash,
  e.req_time AS req_time, e.req_challenge AS req_challenge,
  EXISTS (SELECT 1 FROM entries v INDEXED BY entries_void WHERE v.chain = e.chain AND v.token_hash = e.token_hash AND v.kind = ${JournalKind.void} AND v.valid = 1) AS voided`;
const KIND_NAMES = Object.keys(JournalKind) as JournalKindName[];
/** A copy of a better-sqlite3 Buffer as a plain Uint8Array. */
const u8 = (b: unknown): Uint8Array => {
  const x = b as Buffer;
  return new Uint8Array(x.buffer.slice(x.byteOffset, x.byteOffset + x.byteLength));
};
const requestSaleRow = (r: Row): RequestSaleRow => ({
  readerId: Number(r.reader_id), operatorId: Number(r.operator_id), journalId: u8(r.journal_id), seq: Number(r.seq), time: Number(r.time), tokenHash: u8(r.token_hash),
  reqTime: Number(r.req_time), reqChallenge: u8(r.req_challenge), voided: Number(r.voided) === 1,
});
const resolved = <T>(v: T): Promise<T> => Promise.resolve(v);
/** counter_firsts' class of an entry kind, in SQL over `o.kind` (firstsClass). */
const FIRSTS_CLASS_SQL = `CASE o.kind WHEN ${JournalKind.accept} THEN 0 WHEN ${JournalKind.conflict} THEN 1 WHEN ${JournalKind.tap_in} THEN 3 ELSE 2 END`;
/** The named parameters of building one wallet counter's firsts (firstsBuild). */
const counterParams = (c: CounterQuery) => ({ key: prefixKey(c.walletId), counter: c.counter, wallet: c.walletId, chain: c.chain, fresh: JSON.stringify(c.fresh) });
const mate = (r: Row): CounterMate => ({
  tokenHash: u8(r.hash), kind: Number(r.kind), chain: Number(r.chain), readerId: Number(r.reader_id), journalId: u8(r.journal_id), seq: Number(r.seq),
});
/** Most sessions made durable by one COMMIT (group commit of concurrent ingests, `finish`). */
const GROUP_SESSIONS = 16;

/** Options of {@link SqliteClearingStore}. */
export interface SqliteStoreOptions {
  /** Database path (':memory:' for a throwaway database). */
  path: string;
  /** Page cache, MiB (2 .. 65536; default 256). */
  cacheMiB?: number;
  /**
   * Refuse to make a new clearing: a file without tables (an empty file, or one SQLite creates now) is
   * `clearing.store_missing`, for the commands that only read a clearing or decide against what it holds.
   */
  mustExist?: boolean;
}

/** The SQLite clearing store. Synchronous underneath: see the module comment. */
/**
 * A SQLite failure met by an ingest session as a typed error: a full disk, an I/O error, a lock held past the busy
 * timeout is `clearing.store_unavailable` (the unit that met it, or the COMMIT, was rolled back: that batch is not
 * held, try again; the service answers 503); a damaged file is `clearing.store_unusable`. Anything else (a
 * constraint, which would be a bug; an error of clearing's own) is returned as it is.
 */
function sqliteFailure(e: unknown, where: string): unknown {
  const f = sqliteFailureOf(e);
  if (f?.kind === 'damaged') return new OffpayError('clearing.store_unusable', `the clearing database ${where} is damaged (${f.code}: ${(e as Error).message})`);
  if (f?.kind !== 'unavailable') return e;
  return new OffpayError('clearing.store_unavailable', `the clearing database ${where} failed (${f.code}: ${(e as Error).message}); the batch that met it is not held: try again`, { sqlite: f.code });
}

/**
 * SQLite result codes after which writes keep failing until someone mends the machine (a file or file system
 * gone read-only, a file that can no longer be opened, a full disk, an I/O error): they set the store's
 * `writeFault`. A lock held past the busy timeout (BUSY, LOCKED) passes by itself and does not.
 */
const LASTING_WRITE_FAULT = /^SQLITE_(READONLY|CANTOPEN|IOERR|FULL)/;

/** `clearing.store_missing`: no clearing database at `where`, and the command makes none. */
export function storeMissingError(where: string): OffpayError {
  return new OffpayError('clearing.store_missing', `no clearing database at ${where}: check the path (clearing ingest, clearing serve and clearing blocklist create one)`);
}

/**
 * `clearing.store_unavailable` for a transaction SQLite rolled back on its own (SQLite may cancel the whole
 * transaction on SQLITE_FULL, SQLITE_IOERR or SQLITE_NOMEM): none of the batches written into it is held, and
 * they may be sent again.
 */
function lostTransaction(where: string): OffpayError {
  return new OffpayError('clearing.store_unavailable', `SQLite rolled back the open transaction of the clearing database ${where} (a full disk or an I/O error): the batches it held are not held; try again`);
}

export class SqliteClearingStore implements ClearingStore {
  readonly engine = 'sqlite' as const;
  readonly location: string;
  /** The database (better-sqlite3). */
  readonly db: SqliteDatabase;
  private readonly q: Record<string, SqliteStatement>;
  private readonly tx: IngestTx;
  /** True while a session runs, and while an uncommitted transaction is handed from one session to the next. */
  private locked = false;
  /** Sessions waiting for the lock, first come first served: each is started by the one before it. */
  private readonly queue: (() => void)[] = [];
  /** Reads waiting until no session runs. */
  private readonly readers: (() => void)[] = [];
  /** Sessions whose writes are in the open transaction, each waiting for its commit (group commit). */
  private members: { resolve: () => void; reject: (e: unknown) => void }[] = [];
  /** True from this store's BEGIN until its COMMIT or ROLLBACK. */
  private began = false;
  /** ClearingStore.writeFault: the SQLite code of the last write that failed for good, until a write succeeds. */
  private fault: string | undefined;
  /** When `fault` was last set (ms). */
  private faultAt = 0;

  get writeFault(): string | undefined {
    return this.fault;
  }

  /** Remember a write's outcome for writeFault: success clears it, a lasting failure sets it. */
  private noteWrite(e?: unknown): void {
    if (e === undefined) {
      this.fault = undefined;
      return;
    }
    const code = sqliteFailureOf(e)?.code;
    if (code !== undefined && code !== 'SQLITE_IOERR_CORRUPTFS' && LASTING_WRITE_FAULT.test(code)) {
      this.fault = code;
      this.faultAt = Date.now();
    }
  }

  /**
   * A write outside the ingest sessions (refunds, the blocklist, settings): its failure typed and noted, its
   * success noted when it changed the file (`changed`: an INSERT OR IGNORE that met its row wrote nothing).
   */
  private write<T>(fn: () => T, changed: (r: T) => boolean = () => true): T {
    try {
      const r = fn();
      if (changed(r)) this.noteWrite();
      return r;
    } catch (e) {
      this.noteWrite(e);
      throw sqliteFailure(e, this.location);
    }
  }

  /**
   * A read (report, blocklist, chains, problems, lookups): a SQLite failure typed as an ingest's is, a damaged
   * file (SQLITE_CORRUPT, SQLITE_NOTADB) `clearing.store_unusable`, an I/O error or a lock held past the busy
   * timeout `clearing.store_unavailable` (sqliteFailure); anything else as it is.
   */
  private read<T>(fn: () => T): T {
    try {
      return fn();
    } catch (e) {
      throw sqliteFailure(e, this.location);
    }
  }

  /**
   * ClearingStore.writeProbe: BEGIN IMMEDIATE, an INSERT into meta, ROLLBACK (nothing is written to the file).
   * SQLite opens a file it may not write read-only without a word, and BEGIN IMMEDIATE succeeds on it: only a
   * statement that changes a page finds out (SQLITE_READONLY).
   */
  async writeProbe(o: { holdMs?: number; nowMs?: number } = {}): Promise<void> {
    await this.idle();
    const ago = (o.nowMs ?? Date.now()) - this.faultAt;
    if (this.fault !== undefined && isSpaceFault(this.fault) && ago >= 0 && ago < (o.holdMs ?? WRITE_FAULT_HOLD_MS)) throw heldFaultError(this.location, this.fault, ago);
    const db = this.db;
    try {
      db.exec('BEGIN IMMEDIATE');
      try {
        db.prepare("INSERT OR REPLACE INTO meta(key, value) VALUES ('write_probe', 0)").run();
      } finally {
        if (db.inTransaction) db.exec('ROLLBACK');
      }
    } catch (e) {
      this.noteWrite(e);
      const f = sqliteFailure(e, this.location);
      // Only a refusal for good says "refuses writes"; a lock held past the busy timeout tells nothing either way.
      const lasting = LASTING_WRITE_FAULT.test(sqliteFailureOf(e)?.code ?? '');
      throw f instanceof OffpayError && f.code === 'clearing.store_unavailable' && lasting ? new OffpayError(f.code, f.message, { ...f.detail, write: true }) : f;
    }
    this.noteWrite();
  }

  /**
   * Open or create. Throws `clearing.sqlite_unavailable` (no driver), `clearing.store_unusable` (cannot open, a
   * SQLite database of something else, or another schema version), `clearing.store_missing` (`mustExist` and no
   * clearing there).
   */
  constructor(o: SqliteStoreOptions) {
    this.location = o.path;
    const Database = loadSqliteDriver('clearing');
    const unusable = (e: unknown) => new OffpayError('clearing.store_unusable', `cannot open clearing database ${o.path}: ${(e as Error).message}`);
    try {
      // mustExist: SQLite must not create the file (a missing one is clearing.store_missing, and nothing is made).
      this.db = new Database(o.path, o.mustExist ? { fileMustExist: true } : undefined);
    } catch (e) {
      if (o.mustExist && !existsSync(o.path)) throw storeMissingError(o.path);
      throw unusable(e);
    }
    const db = this.db;
    const close = () => {
      try {
        if (db.inTransaction) db.exec('ROLLBACK');
        db.close();
      } catch {
        // closing is all that is left to do
      }
    };
    // Checked and made in one write transaction, before anything else is written (the journal mode too): a second
    // process opening the same new file waits for it, then finds a whole clearing (not a half-made one it would
    // take for another program's database), and a clearing is made only in a database without tables, never
    // added to another program's database (or a reader's) that a mistyped --db names.
    let tables: string[];
    let step = 'busy_timeout';
    try {
      db.pragma('busy_timeout = 5000');
      step = 'BEGIN IMMEDIATE';
      db.exec('BEGIN IMMEDIATE');
      step = 'reading its tables';
      tables = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as Row[]).map((r) => String(r.name));
    } catch (e) {
      close();
      throw new OffpayError('clearing.store_unusable', `cannot open clearing database ${o.path} (${step}): ${(e as Error).message}`);
    }
    if (tables.length === 0 && o.mustExist) {
      close();
      throw storeMissingError(`${o.path} (an empty file)`);
    }
    if (tables.length > 0 && !(tables.includes('meta') && tables.includes('entries'))) {
      close();
      const some = tables.slice(0, 5).join(', ') + (tables.length > 5 ? ', ...' : '');
      throw new OffpayError('clearing.store_unusable', `${o.path} is a SQLite database but not a clearing database (its tables: ${some}): check the path`);
    }
    const version = Number(db.pragma('user_version', { simple: true }));
    if (tables.length > 0 && version !== SQLITE_SCHEMA_VERSION && !SQLITE_UPGRADES_FROM.includes(version)) {
      close();
      throw new OffpayError('clearing.store_unusable', `clearing database ${o.path} has schema version ${version}, this offpay uses ${SQLITE_SCHEMA_VERSION}`);
    }
    try {
      db.exec(SCHEMA);
      db.exec(REFUNDS_SCHEMA);
      db.exec(CERTS_SCHEMA);
      if (tables.length > 0 && version < 7) db.exec(FIRSTS_UPGRADE);
      db.exec(FIRSTS_SCHEMA);
      db.exec(FIRSTS_ORDER_INDEX);
      if (!(db.prepare('PRAGMA table_info(refunds)').all() as Row[]).some((c) => c.name === 'seq')) db.exec(REFUNDS_SEQ_UPGRADE);
      db.exec(REFUNDS_SEQ_INDEX);
      // Schema 4 to 5 with it: an older offpay, which neither keeps counter_firsts nor one finding per key, refuses
      // the database from then on (a writer that skipped counter_firsts would leave it stale: findings missed).
      if ((db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE type = 'index' AND name = 'double_spends_key'").get() as Row).n === 0) db.exec(FINDINGS_UPGRADE);
      // Schema 5 to 6: an older offpay, which leaves the request columns empty (its sales never compared, M9),
      // refuses the database from then on.
      if (!(db.prepare('PRAGMA table_info(entries)').all() as Row[]).some((c) => c.name === 'req_time')) db.exec(REQUEST_UPGRADE);
      db.exec(REQUEST_INDEX);
      db.pragma(`user_version = ${SQLITE_SCHEMA_VERSION}`);
      db.exec('COMMIT');
    } catch (e) {
      close();
      throw unusable(e);
    }
    try {
      // WAL (outside a transaction). Another process of the same new file may hold it for a moment: SQLite then
      // keeps the old mode and says so; try again for up to about a second.
      if (o.path !== ':memory:' && o.path !== '') {
        const toWal = (): boolean => {
          try {
            return String(db.pragma('journal_mode = WAL', { simple: true })).toLowerCase() === 'wal';
          } catch (e) {
            if (/^SQLITE_(BUSY|LOCKED)/.test(sqliteFailureOf(e)?.code ?? '')) return false;
            throw e;
          }
        };
        for (let i = 0; !toWal(); i++) {
          if (i >= 50) throw new Error('another process holds the database: it stays out of WAL mode');
          Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
        }
      } else db.pragma('journal_mode = WAL');
      db.pragma('synchronous = FULL');
      // Temporary files in memory. In a group commit (concurrent ingests, the server's path) every batch after
      // the first is a savepoint, whose statement journal (the originals of the pages it changes) otherwise
      // spills to a temporary file past 64 KiB: about 1 µs a token less with it (spec/clearing.md §12.1). What
      // else SQLite keeps there here is small: the sorts of reads whose rows are returned whole anyway.
      db.pragma('temp_store = MEMORY');
      const cacheMiB = Number.isFinite(o.cacheMiB) ? Math.max(2, Math.min(65536, Math.floor(o.cacheMiB!))) : 256;
      db.pragma(`cache_size = -${cacheMiB * 1024}`);
    } catch (e) {
      close();
      throw unusable(e);
    }
    this.q = {
      getMeta: db.prepare('SELECT value FROM meta WHERE key = ?'),
      setMeta: db.prepare('INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)'),
      reader: db.prepare('SELECT operator_id, profile FROM readers WHERE reader_id = ?'),
      putReader: db.prepare('INSERT OR IGNORE INTO readers(reader_id, operator_id, profile, cert) VALUES (?, ?, ?, ?)'),
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
           wallet_key, wallet_id, counter, currency, cert_key, allowance, req_time, req_challenge)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      // The valid token entries of a batch's seq range that share their wallet counter with another valid entry.
      // The common case (no such entry) costs one index probe per entry inside SQLite.
      contested: db.prepare(
        `SELECT e.seq AS seq FROM entries e
         WHERE e.chain = ? AND e.seq BETWEEN ? AND ? AND e.wallet_key IS NOT NULL
           AND EXISTS (SELECT 1 FROM entries o WHERE o.wallet_key = e.wallet_key AND o.counter = e.counter AND o.wallet_id = e.wallet_id
             AND o.valid = 1 AND NOT (o.chain = e.chain AND o.seq = e.seq))
         ORDER BY e.seq`,
      ),
      firstsHeld: db.prepare('SELECT 1 AS one FROM counter_firsts WHERE wallet_id = ? AND counter = ? LIMIT 1'),
      // A counter's firsts from its valid entries held before the batch (the batch's own seqs, a JSON array, left out).
      firstsBuild: db.prepare(
        `INSERT OR IGNORE INTO counter_firsts(wallet_id, counter, token_hash, reader_id, class, journal_id, seq, chain)
         SELECT @wallet, @counter, hash, reader_id, class, journal_id, seq, chain FROM (
           SELECT hash, reader_id, class, journal_id, seq, chain, row_number() OVER (PARTITION BY hash, reader_id, class ORDER BY journal_id, seq) AS rn FROM (
             SELECT o.token_hash AS hash, oc.reader_id AS reader_id, ${FIRSTS_CLASS_SQL} AS class, oc.journal_id AS journal_id, o.seq AS seq, o.chain AS chain
             FROM entries o JOIN chains oc ON oc.chain = o.chain
             WHERE o.wallet_key = @key AND o.counter = @counter AND o.wallet_id = @wallet AND o.valid = 1
               AND NOT (o.chain = @chain AND o.seq IN (SELECT value FROM json_each(@fresh)))))
         WHERE rn = 1`,
      ),
      firstsPut: db.prepare(
        `INSERT INTO counter_firsts(wallet_id, counter, token_hash, reader_id, class, journal_id, seq, chain) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT DO UPDATE SET journal_id = excluded.journal_id, seq = excluded.seq, chain = excluded.chain
         WHERE (excluded.journal_id, excluded.seq) < (counter_firsts.journal_id, counter_firsts.seq)`,
      ),
      mateHere: db.prepare(
        'SELECT token_hash AS hash, reader_id, class, journal_id, seq, chain FROM counter_firsts WHERE wallet_id = ? AND counter = ? AND token_hash = ? AND reader_id = ? AND class = ?',
      ),
      mateThere: db.prepare(
        `SELECT token_hash AS hash, reader_id, class, journal_id, seq, chain FROM counter_firsts
         WHERE wallet_id = ? AND counter = ? AND token_hash = ? AND reader_id <> ? AND class = ? ORDER BY reader_id LIMIT 1`,
      ),
      tripIns: db.prepare(
        `SELECT token_hash AS hash, reader_id, class, journal_id, seq, chain FROM counter_firsts
         WHERE wallet_id = ? AND counter = ? AND token_hash = ? AND class = 3 ORDER BY reader_id LIMIT 2`,
      ),
      tripOuts: db.prepare('SELECT reader_id FROM counter_firsts WHERE wallet_id = ? AND counter = ? AND token_hash = ? AND class = 2 ORDER BY reader_id LIMIT 2'),
      firstOther: db.prepare(
        `SELECT token_hash AS hash, class, reader_id, journal_id, seq, chain FROM counter_firsts
         WHERE wallet_id = @wallet AND counter = @counter AND class IN (0, 1, 3) AND (@not IS NULL OR token_hash <> @not)
         ORDER BY reader_id, journal_id, seq LIMIT 1`,
      ),
      // Is there a sale or conflict row of another token than @not? Two seeks in the primary key's token order (the
      // ordered firstOther would step over every row of @not: one a reader that sold it).
      otherExists: db.prepare(
        `SELECT EXISTS (SELECT 1 FROM counter_firsts WHERE wallet_id = @wallet AND counter = @counter AND class IN (0, 1, 3) AND token_hash < @not)
             OR EXISTS (SELECT 1 FROM counter_firsts WHERE wallet_id = @wallet AND counter = @counter AND class IN (0, 1, 3) AND token_hash > @not) AS any`,
      ),
      heldDoubles: db.prepare("SELECT kind FROM double_spends WHERE kind IN ('counter_reuse', 'same_token_twice') AND wallet_id = ? AND counter = ?"),
      heldListed: db.prepare('SELECT token_hash AS hash FROM reader_faults WHERE reader_id = ? AND token_hash IN (SELECT unhex(value) FROM json_each(?))'),
      putDouble: db.prepare(
        'INSERT OR IGNORE INTO double_spends(kind, wallet_id, counter, a_hash, a_chain, a_seq, b_hash, b_chain, b_seq, detected_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
      ),
      putFault: db.prepare('INSERT OR IGNORE INTO reader_faults(kind, reader_id, token_hash, a_chain, a_seq, b_chain, b_seq, detected_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)'),
      block: db.prepare('INSERT OR IGNORE INTO blocklist(wallet_id, reason, added_at) VALUES (?, ?, ?)'),
      problem: db.prepare('INSERT OR IGNORE INTO problems(reader_id, kind, detail, at) VALUES (?, ?, ?, ?)'),
      knownCert: db.prepare('SELECT 1 AS held FROM verified_certs WHERE digest = ?'),
      putCert: db.prepare('INSERT OR IGNORE INTO verified_certs(digest) VALUES (?)'),
    };
    const q = this.q;
    this.tx = {
      chainOf: (readerId, journalId) => resolved(this.chainOf(readerId, journalId)),
      addChain: (readerId, journalId) => resolved(this.chainOf(readerId, journalId) ?? Number(q.putChain!.run(readerId, journalId).lastInsertRowid)),
      batchDigest: (chain, batchSeq) => {
        const r = q.batch!.get(chain, batchSeq) as Row | undefined;
        return resolved(r ? u8(r.digest) : undefined);
      },
      entryLink: (chain, seq) => {
        const r = q.entry!.get(chain, seq) as Row | undefined;
        return resolved(r ? { hash: u8(r.hash), prevHash: r.prev_hash === null ? null : u8(r.prev_hash) } : undefined);
      },
      reader: (readerId) => {
        const r = q.reader!.get(readerId) as Row | undefined;
        return resolved(r ? { operatorId: Number(r.operator_id), profile: String(r.profile) } : undefined);
      },
      putReader: (readerId, operatorId, profile, cert) => {
        q.putReader!.run(readerId, operatorId, profile, cert);
        return resolved(undefined);
      },
      heldEntries: (chain, from, to) => {
        const held = new Map<number, { hash: Uint8Array; reason: string | null }>();
        for (const r of q.entryRange!.all(chain, from, to) as Row[]) held.set(Number(r.seq), { hash: u8(r.hash), reason: r.reason === null ? null : String(r.reason) });
        return resolved(held);
      },
      dropEntries: (chain, seqs) => {
        for (const s of seqs) q.dropEntry!.run(chain, s);
        return resolved(undefined);
      },
      putBatchBytes: (chain, batchSeq, bytes) => resolved(Number(q.putBytes!.run(chain, batchSeq, bytes).lastInsertRowid)),
      putEntries: (rows) => {
        const s = q.putEntry!;
        for (const e of rows) {
          s.run(
            e.chain, e.seq, e.kind, e.time, e.value, e.amount, e.tokenHash, e.prevHash, e.hash, e.valid ? 1 : 0, e.reason, e.operatorId, e.source, e.tokenAt, e.tokenLen,
            e.walletId ? prefixKey(e.walletId) : null, e.walletId, e.counter, e.currency, e.certKey, e.allowance, e.reqTime, e.reqChallenge,
          );
        }
        return resolved(undefined);
      },
      contested: (chain, from, to) => resolved((q.contested!.all(chain, from, to) as Row[]).map((r) => Number(r.seq))),
      counterFirsts: (c) => {
        if (!q.firstsHeld!.get(c.walletId, c.counter)) q.firstsBuild!.run(counterParams(c));
        return resolved(undefined);
      },
      firstMates: (c, readerId, hashes) => {
        const out: CounterMate[] = [];
        for (const h of hashes) {
          for (const s of [q.mateHere!, q.mateThere!]) {
            for (const cls of [0, 3]) {
              const r = s.get(c.walletId, c.counter, h, readerId, cls) as Row | undefined;
              if (r) out.push(mate({ ...r, kind: classKind(Number(r.class)) }));
            }
          }
        }
        return resolved(out);
      },
      tokenTrips: (c, h) =>
        resolved({
          tapIns: (q.tripIns!.all(c.walletId, c.counter, h) as Row[]).map((r) => mate({ ...r, kind: JournalKind.tap_in })),
          tapOutReaders: (q.tripOuts!.all(c.walletId, c.counter, h) as Row[]).map((r) => Number(r.reader_id)),
        }),
      putCounterFirsts: (c, entries) => {
        for (const e of entries) {
          q.firstsPut!.run(c.walletId, c.counter, e.tokenHash, e.readerId, firstsClass(e.kind), e.journalId, e.seq, e.chain);
        }
        return resolved(undefined);
      },
      heldFindings: (c, readerId, hashes): Promise<HeldFindings> =>
        resolved({
          doubleSpends: (q.heldDoubles!.all(c.walletId, c.counter) as Row[]).map((r) => r.kind as HeldFindings['doubleSpends'][number]),
          listed: hashes.length ? (q.heldListed!.all(readerId, JSON.stringify(hashes.map(toHex))) as Row[]).map((r) => u8(r.hash)) : [],
        }),
      firstOtherToken: (c, notHash) => {
        if (notHash && !(q.otherExists!.get({ wallet: c.walletId, counter: c.counter, not: notHash }) as Row).any) return resolved(undefined);
        const r = q.firstOther!.get({ wallet: c.walletId, counter: c.counter, not: notHash }) as Row | undefined;
        return resolved(r ? mate({ ...r, kind: classKind(Number(r.class)) }) : undefined);
      },
      putDoubleSpend: (d) =>
        resolved(q.putDouble!.run(d.kind, d.walletId, d.counter, d.aHash, d.aChain, d.aSeq, d.bHash, d.bChain, d.bSeq, d.detectedAt).changes > 0),
      putReaderFault: (f) => resolved(q.putFault!.run(f.kind, f.readerId, f.tokenHash, f.aChain, f.aSeq, f.bChain, f.bSeq, f.detectedAt).changes > 0),
      block: (walletId, reason, at) => resolved(q.block!.run(walletId, reason, at).changes > 0),
      problem: (readerId, kind, detail, at) => {
        q.problem!.run(readerId, kind, detail, at);
        return resolved(undefined);
      },
      putBatch: (b: BatchRow) => {
        q.putBatch!.run(b.chain, b.batchSeq, b.firstSeq, b.entries, b.head, b.digest, b.createdAt);
        return resolved(undefined);
      },
    };
  }

  private chainOf(readerId: number, journalId: Uint8Array): number | undefined {
    const r = this.q.chain!.get(readerId, journalId) as Row | undefined;
    return r ? Number(r.chain) : undefined;
  }

  /** Take the lock (first come, first served). */
  private acquire(): Promise<void> {
    if (!this.locked) {
      this.locked = true;
      return resolved(undefined);
    }
    return new Promise<void>((r) => this.queue.push(r));
  }

  /** Hand the lock to the next session waiting, else free it and wake the reads. */
  private release(): void {
    const next = this.queue.shift();
    if (next) return next();
    this.locked = false;
    for (const r of this.readers.splice(0)) r();
  }

  /** Wait until no session runs and no transaction is open (reads never see a half-written batch). */
  private async idle(): Promise<void> {
    while (this.locked) await new Promise<void>((r) => this.readers.push(r));
  }

  /**
   * COMMIT the open transaction (if any) and settle every session waiting for it. If SQLite rolled the
   * transaction back on its own (an I/O error or a full disk during a statement), nothing of it is held: the
   * waiting sessions fail instead of reporting writes that were lost.
   */
  private commit(): void {
    const db = this.db;
    const members = this.members;
    this.members = [];
    try {
      if (this.began && !db.inTransaction) throw lostTransaction(this.location);
      if (db.inTransaction) {
        db.exec('COMMIT');
        this.noteWrite();
      }
    } catch (e) {
      this.noteWrite(e);
      if (db.inTransaction) {
        try {
          db.exec('ROLLBACK');
        } catch {
          // the connection is unusable; the error below says why
        }
      }
      this.began = false;
      for (const m of members) m.reject(e);
      throw e;
    }
    this.began = false;
    for (const m of members) m.resolve();
  }

  /**
   * The end of a session (group commit). Its writes are in the open transaction: it joins the sessions waiting
   * for that transaction's COMMIT (`members`) and gets a promise that settles with it. Then the lock goes on
   * (`handOn`). Up to GROUP_SESSIONS sessions share one COMMIT (one fsync); each session's promise settles only
   * after the COMMIT that holds its writes, and reads wait for it too.
   */
  private finish(): Promise<void> {
    if (!this.db.inTransaction && !this.began) return resolved(undefined);
    const durable = new Promise<void>((resolve, reject) => this.members.push({ resolve, reject }));
    // A full group commits now; so does a transaction SQLite rolled back on its own (commit() fails its members).
    if (this.members.length >= GROUP_SESSIONS || !this.db.inTransaction) this.commitQuietly();
    return durable;
  }

  /** commit(), its failure reported to the members only (each session learns it from its own promise). */
  private commitQuietly(): void {
    try {
      this.commit();
    } catch {
      // every member was rejected with the error
    }
  }

  /**
   * Pass the lock on after a session. With no transaction open, as usual. With one open (members waiting for
   * its COMMIT): to the next session waiting, which continues the transaction; if none waits yet, the
   * transaction stays open for one turn of the event loop, so that requests already received (whose handlers
   * run in that turn, and then wait for the lock) join it; then the next session continues it, or it commits.
   */
  private handOn(): void {
    if (this.members.length === 0) return this.release();
    const next = this.queue.shift();
    if (next) return next();
    setImmediate(() => {
      const joiner = this.queue.shift();
      if (joiner && this.members.length > 0) return joiner();
      if (joiner) this.queue.unshift(joiner);
      this.commitQuietly();
      this.release();
    });
  }

  session<T>(fn: (s: IngestSession) => Promise<T>, _o: { group?: boolean } = {}): Promise<T> {
    return this.acquire().then(async () => {
      let out: { ok: true; value: T } | { ok: false; error: unknown };
      let durable: Promise<void>;
      try {
        try {
          out = { ok: true, value: await fn(this.ingestSession()) };
        } catch (error) {
          // What was written before the failure stays (each unit is whole or absent); then report the failure.
          out = { ok: false, error };
        }
        durable = this.finish();
      } finally {
        this.handOn();
      }
      if (!out.ok) {
        await durable.catch(() => undefined);
        this.noteWrite(out.error);
        throw sqliteFailure(out.error, this.location);
      }
      await durable.catch((e: unknown) => {
        throw sqliteFailure(e, this.location);
      });
      return out.value;
    });
  }

  /**
   * The session's operations. Every atomic unit is a SAVEPOINT inside one open transaction (BEGIN IMMEDIATE
   * when none is open), so a unit that fails rolls back alone; `checkpoint` and the end of the session commit
   * (or hand the transaction to the next session, `finish`).
   */
  private ingestSession(): IngestSession {
    const db = this.db;
    let depth = 0;
    return {
      atomic: async (f) => {
        // A unit that opens the transaction is the whole of it: it rolls back with ROLLBACK. A unit that joins
        // an open one (other units or sessions before it) is a savepoint. A savepoint is not free: SQLite keeps
        // the original of every page the unit changes in a statement journal, to roll back to it.
        // A transaction this store began and SQLite rolled back on its own (an I/O error or a full disk in a
        // statement whose error was not this unit's, such as the certificate memo's, which is best effort): what
        // the session's earlier units wrote is gone, so no unit may begin a new transaction and commit after them
        // as if they were held. The session fails; its COMMIT (finish) fails every session that wrote into it.
        if (this.began && !db.inTransaction) throw lostTransaction(this.location);
        const opens = !this.began;
        if (opens) {
          db.exec('BEGIN IMMEDIATE');
          this.began = true;
        }
        const name = opens ? undefined : `u${depth++}`;
        if (name) db.exec(`SAVEPOINT ${name}`);
        try {
          const r = await f(this.tx);
          if (name) db.exec(`RELEASE ${name}`);
          return r;
        } catch (e) {
          if (name && db.inTransaction) {
            db.exec(`ROLLBACK TO ${name}`);
            db.exec(`RELEASE ${name}`);
          } else if (!name) {
            // The unit that began the transaction is all of it (nothing was written before it).
            if (db.inTransaction) db.exec('ROLLBACK');
            this.began = false;
          }
          throw e;
        } finally {
          if (name) depth--;
        }
      },
      isDuplicate: (readerId, journalId, batchSeq, digest) => {
        const chain = this.chainOf(readerId, journalId);
        if (chain === undefined) return resolved(false);
        const held = this.q.batch!.get(chain, batchSeq) as Row | undefined;
        return resolved(held !== undefined && Buffer.compare(held.digest as Buffer, digest) === 0);
      },
      problem: (readerId, kind, detail, at) => {
        this.q.problem!.run(readerId, kind, detail, at);
        return resolved(undefined);
      },
      knownCerts: (digests) => resolved(digests.map((d) => this.q.knownCert!.get(d) !== undefined)),
      rememberCerts: (digests) => {
        for (const d of digests) this.q.putCert!.run(d);
        return resolved(undefined);
      },
      checkpoint: () => {
        this.commit();
        return resolved(undefined);
      },
    };
  }

  async schemaCurrent(): Promise<boolean> {
    return this.read(() => Number(this.db.pragma('user_version', { simple: true })) === SQLITE_SCHEMA_VERSION);
  }

  async getMeta(key: string): Promise<Uint8Array | number | undefined> {
    await this.idle();
    return this.getMetaSync(key);
  }

  /** getMeta without waiting (construction). */
  getMetaSync(key: string): Uint8Array | number | undefined {
    // Not through read(): write() calls it (nextBlocklist), and its fault accounting needs the SQLite error itself.
    const v = (this.q.getMeta!.get(key) as Row | undefined)?.value;
    return v === undefined || v === null ? undefined : v instanceof Uint8Array ? u8(v) : Number(v);
  }

  /** setMeta without waiting (construction). */
  setMetaSync(key: string, value: Uint8Array | number): void {
    this.q.setMeta!.run(key, value);
  }

  /** Store a setting, replacing any earlier value (ClearingStore.setMeta). */
  async setMeta(key: string, value: Uint8Array | number): Promise<void> {
    await this.idle();
    this.write(() => this.setMetaSync(key, value));
  }

  async nextBlocklist(): Promise<NextBlocklist> {
    await this.idle();
    // One write transaction (BEGIN IMMEDIATE): processes sharing the file take versions and lists in turn.
    return this.write(() =>
      this.db.transaction(() => {
        const version = (Number(this.getMetaSync('blocklist_version') ?? 0) || 0) + 1;
        this.setMetaSync('blocklist_version', version);
        const walletIds = (this.db.prepare('SELECT wallet_id FROM blocklist ORDER BY wallet_id').all() as Row[]).map((r) => u8(r.wallet_id));
        return { version, walletIds };
      }).immediate(),
    );
  }

  async block(walletId: Uint8Array, reason: string, at: number): Promise<boolean> {
    await this.idle();
    return this.write(() => this.q.block!.run(walletId, reason, at).changes > 0, (inserted) => inserted);
  }

  async blocklist(): Promise<BlocklistRow[]> {
    await this.idle();
    return this.read(() => {
      return (this.db.prepare('SELECT wallet_id, reason, added_at FROM blocklist ORDER BY wallet_id').all() as Row[]).map((r) => ({
        walletId: u8(r.wallet_id), reason: String(r.reason), addedAt: Number(r.added_at),
      }));
    });
  }

  async conflictWallets(): Promise<Uint8Array[]> {
    await this.idle();
    return this.read(() => {
      return (this.db.prepare(`SELECT DISTINCT wallet_id FROM entries WHERE kind = ${JournalKind.conflict} AND valid = 1 ORDER BY wallet_id`).all() as Row[]).map((r) => u8(r.wallet_id));
    });
  }

  async heldBatches(readerId: number): Promise<HeldJournal[]> {
    await this.idle();
    return this.read(() => {
      const chains = this.db.prepare('SELECT chain, journal_id FROM chains WHERE reader_id = ? ORDER BY journal_id').all(readerId) as Row[];
      const batches = this.db.prepare('SELECT batch_seq, first_seq, entries, head FROM batches WHERE chain = ? ORDER BY batch_seq');
      return chains.map((c) => ({
        journalId: u8(c.journal_id),
        batches: (batches.all(Number(c.chain)) as Row[]).map((b) => ({ batchSeq: Number(b.batch_seq), firstSeq: Number(b.first_seq), entries: Number(b.entries), head: u8(b.head) })),
      }));
    });
  }

  async indexPayments(): Promise<void> {
    await this.idle();
    this.write(() => this.db.exec('CREATE INDEX IF NOT EXISTS entries_token ON entries(token_hash) WHERE token_hash IS NOT NULL'), () => false);
  }

  async tokenEntries(tokenHash: Uint8Array): Promise<TokenEntryRow[]> {
    await this.idle();
    return this.read(() => {
      const rows = this.db
        .prepare(
          `SELECT c.reader_id AS reader_id, c.journal_id AS journal_id, e.seq AS seq, e.kind AS kind, e.time AS time, e.value AS value, e.valid AS valid,
                  e.reason AS reason, e.operator_id AS operator_id, e.wallet_key AS wallet_key, e.wallet_id AS wallet_id, e.currency AS currency,
                  e.req_time AS req_time, e.req_challenge AS req_challenge
           FROM entries e JOIN chains c ON c.chain = e.chain WHERE e.token_hash = ? AND e.kind != ${JournalKind.void}
           ORDER BY e.time, c.reader_id, c.journal_id, e.seq`,
        )
        .all(tokenHash) as Row[];
      return rows.map((r) => ({
        readerId: Number(r.reader_id), journalId: u8(r.journal_id), seq: Number(r.seq), kind: Number(r.kind), time: Number(r.time), value: Number(r.value),
        valid: Number(r.valid) === 1, reason: r.reason === null ? null : String(r.reason), operatorId: Number(r.operator_id),
        walletKey: r.wallet_key === null ? null : Number(r.wallet_key), walletId: r.wallet_id === null ? null : u8(r.wallet_id), currency: r.currency === null ? null : Number(r.currency),
        reqTime: r.req_time === null ? null : Number(r.req_time), reqChallenge: r.req_challenge === null ? null : u8(r.req_challenge),
      }));
    });
  }

  async contestedRequestSales(): Promise<RequestSaleRow[]> {
    await this.idle();
    return this.read(() => {
      // One pass over the request rows, partitioned by request: the rows of a request whose lowest and highest token
      // hash differ. (Grouping first and joining back probed each journal of a reader once per request: a reader with
      // thousands of journals made the report's read grow with journals times requests.)
      return (
        this.db
          .prepare(
            `SELECT ${REQUEST_SALE_COLUMNS} FROM (
               SELECT e.chain AS chain, e.seq AS seq, e.time AS time, e.token_hash AS token_hash, e.operator_id AS operator_id, e.req_time AS req_time,
                      e.req_challenge AS req_challenge, min(e.token_hash) OVER w AS lo, max(e.token_hash) OVER w AS hi
               FROM entries e INDEXED BY entries_request JOIN chains c ON c.chain = e.chain
               WHERE e.req_time IS NOT NULL AND e.valid = 1 AND e.kind = ${JournalKind.accept}
               WINDOW w AS (PARTITION BY c.reader_id, e.req_time, e.req_challenge)) e
             JOIN chains c ON c.chain = e.chain
             WHERE e.lo <> e.hi`,
          )
          .all() as Row[]
      ).map(requestSaleRow);
    });
  }

  async firstRequestSale(readerId: number, reqTime: number, reqChallenge: Uint8Array, tokenHash?: Uint8Array): Promise<RequestSaleRow | undefined> {
    await this.idle();
    return this.read(() => {
      // With a token: its own entries (the token-hash index when payments are indexed); without: the request's rows
      // in the request index, the first by order taken without handing the others to JavaScript.
      const r = this.db
        .prepare(
          `SELECT ${REQUEST_SALE_COLUMNS}
           FROM chains c JOIN entries e ${tokenHash ? '' : 'INDEXED BY entries_request'} ON e.chain = c.chain
           WHERE c.reader_id = ? AND e.req_time = ? AND e.req_challenge = ? AND e.valid = 1 AND e.kind = ${JournalKind.accept}
             ${tokenHash ? 'AND e.token_hash = ?' : ''}
             AND NOT EXISTS (SELECT 1 FROM entries v INDEXED BY entries_void WHERE v.chain = e.chain AND v.token_hash = e.token_hash AND v.kind = ${JournalKind.void} AND v.valid = 1)
           ORDER BY e.time < e.req_time, e.time, c.journal_id, e.seq LIMIT 1`,
        )
        .get(...[readerId, reqTime, reqChallenge, ...(tokenHash ? [tokenHash] : [])]) as Row | undefined;
      return r ? requestSaleRow(r) : undefined;
    });
  }

  async isBlocked(walletId: Uint8Array): Promise<boolean> {
    await this.idle();
    return this.read(() => {
      return this.db.prepare('SELECT 1 FROM blocklist WHERE wallet_id = ?').get(walletId) !== undefined;
    });
  }

  async settleRows(sink: (r: SettleRow) => void, walletKey?: number | readonly number[]): Promise<void> {
    const keys = walletKey === undefined ? undefined : typeof walletKey === 'number' ? [walletKey] : [...walletKey];
    if (keys && !keys.length) return;
    await this.idle();
    this.read(() => {
      // Streams synchronously (memory bounded by settle()'s one wallet at a time); nothing else can run meanwhile.
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
           ${keys === undefined ? '' : `AND e.wallet_key IN (${keys.map(() => '?').join(', ')})`}
         ORDER BY e.wallet_key, e.counter`,
      );
      for (const r of (keys === undefined ? stmt.iterate() : stmt.iterate(...keys)) as Iterable<Row>) {
        const kind = Number(r.kind);
        const chain = chains.get(Number(r.chain))!;
        sink({
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
        });
      }
    });
  }

  async evidence(
    chain: number,
    seq: number,
  ): Promise<EntryEvidence> {
    await this.idle();
    return this.read(() => {
      const e = this.db
        .prepare(
          `SELECT c.reader_id AS reader_id, c.journal_id AS journal_id, e.kind AS kind, e.value AS value, substr(b.bytes, e.token_at + 1, e.token_len) AS token
           FROM entries e JOIN chains c ON c.chain = e.chain LEFT JOIN batch_bytes b ON b.id = e.source WHERE e.chain = ? AND e.seq = ?`,
        )
        .get(chain, seq) as Row;
      return {
        readerId: Number(e.reader_id), journalId: u8(e.journal_id), kind: KIND_NAMES[Number(e.kind)]!, value: Number(e.value),
        token: e.token === null || e.token === undefined ? null : u8(e.token),
      };
    });
  }

  async tokenBytes(readerId: number, journalId: Uint8Array, seq: number): Promise<Uint8Array | undefined> {
    await this.idle();
    return this.read(() => {
      const r = this.db
        .prepare(
          `SELECT substr(b.bytes, e.token_at + 1, e.token_len) AS token FROM chains c JOIN entries e ON e.chain = c.chain JOIN batch_bytes b ON b.id = e.source
           WHERE c.reader_id = ? AND c.journal_id = ? AND e.seq = ?`,
        )
        .get(readerId, journalId, seq) as Row | undefined;
      return r?.token ? u8(r.token) : undefined;
    });
  }

  async doubleSpendRows(): Promise<DoubleSpendRow[]> {
    await this.idle();
    return this.read(() => {
      return (this.db.prepare('SELECT * FROM double_spends ORDER BY detected_at, wallet_id, counter, kind').all() as Row[]).map((r) => ({
        kind: r.kind as DoubleSpendRow['kind'], walletId: u8(r.wallet_id), counter: Number(r.counter),
        aHash: u8(r.a_hash), aChain: Number(r.a_chain), aSeq: Number(r.a_seq), bHash: u8(r.b_hash), bChain: Number(r.b_chain), bSeq: Number(r.b_seq), detectedAt: Number(r.detected_at),
      }));
    });
  }

  async readerFaultRows(): Promise<ReaderFaultRow[]> {
    await this.idle();
    return this.read(() => {
      return (this.db.prepare('SELECT * FROM reader_faults ORDER BY detected_at, reader_id, token_hash').all() as Row[]).map((r) => ({
        kind: 'token_listed_twice', readerId: Number(r.reader_id), tokenHash: u8(r.token_hash),
        aChain: Number(r.a_chain), aSeq: Number(r.a_seq), bChain: Number(r.b_chain), bSeq: Number(r.b_seq), detectedAt: Number(r.detected_at),
      }));
    });
  }

  async chains(): Promise<ChainRow[]> {
    await this.idle();
    return this.read(() => {
      return (
        this.db
          .prepare(
            `SELECT c.chain AS chain, c.reader_id AS reader_id, c.journal_id AS journal_id, r.operator_id AS operator_id, r.profile AS profile,
                    (SELECT count(*) FROM batches b WHERE b.chain = c.chain) AS batches
             FROM chains c JOIN readers r ON r.reader_id = c.reader_id ORDER BY c.reader_id, c.journal_id`,
          )
          .all() as Row[]
      ).map((r) => ({ chain: Number(r.chain), readerId: Number(r.reader_id), journalId: u8(r.journal_id), operatorId: Number(r.operator_id), profile: String(r.profile), batches: Number(r.batches) }));
    });
  }

  async seqRuns(chain: number): Promise<[number, number][]> {
    await this.idle();
    return this.read(() => {
      const runs: [number, number][] = [];
      for (const s of this.db.prepare('SELECT seq FROM entries WHERE chain = ? ORDER BY seq').iterate(chain) as Iterable<Row>) {
        const seq = Number(s.seq);
        const last = runs[runs.length - 1];
        if (last && last[1] + 1 === seq) last[1] = seq;
        else runs.push([seq, seq]);
      }
      return runs;
    });
  }

  async problems(): Promise<ProblemRow[]> {
    await this.idle();
    return this.read(() => {
      return (this.db.prepare("SELECT reader_id, kind, detail FROM problems WHERE kind != 'invalid_entry' ORDER BY at, reader_id, kind, detail").all() as Row[]).map((p) => ({
        readerId: Number(p.reader_id), kind: String(p.kind), detail: String(p.detail),
      }));
    });
  }

  async invalidEntries(): Promise<InvalidEntryRow[]> {
    await this.idle();
    return this.read(() => {
      return (
        this.db.prepare('SELECT c.reader_id AS reader_id, c.journal_id AS journal_id, e.seq AS seq, e.reason AS reason FROM entries e JOIN chains c ON c.chain = e.chain WHERE e.valid = 0 ORDER BY c.reader_id, c.journal_id, e.seq').all() as Row[]
      ).map((p) => ({ readerId: Number(p.reader_id), journalId: u8(p.journal_id), seq: Number(p.seq), reason: String(p.reason) }));
    });
  }

  async voidCount(): Promise<number> {
    await this.idle();
    return this.read(() => {
      return Number((this.db.prepare(`SELECT count(*) AS n FROM entries WHERE kind = ${JournalKind.void} AND valid = 1`).get() as Row).n);
    });
  }

  async refundOf(tokenHash: Uint8Array): Promise<RefundRow | undefined> {
    await this.idle();
    return this.read(() => {
      const r = this.db.prepare('SELECT * FROM refunds WHERE token_hash = ?').get(tokenHash) as Row | undefined;
      return r ? refundRow(r) : undefined;
    });
  }

  async putRefund(r: RefundRow): Promise<boolean> {
    await this.idle();
    return this.write(
      () =>
        this.db
          // One statement, so the number is the next one even with another process writing (SQLite's write lock).
          .prepare(
            `INSERT OR IGNORE INTO refunds(token_hash, bytes, operator_id, reader_id, wallet_id, amount, currency, charge, time, accepted_at, seq)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, (SELECT coalesce(max(seq), 0) + 1 FROM refunds))`,
          )
          .run(r.tokenHash, r.bytes, r.operatorId, r.readerId, r.walletId, r.amount, r.currency, r.charge, r.time, r.acceptedAt).changes > 0,
      (inserted) => inserted,
    );
  }

  async refunds(): Promise<RefundRow[]> {
    await this.idle();
    return this.read(() => {
      return (this.db.prepare('SELECT * FROM refunds ORDER BY wallet_id, token_hash').all() as Row[]).map(refundRow);
    });
  }

  async refundsAfter(after: number, limit: number, upTo = Number.MAX_SAFE_INTEGER): Promise<HeldRefund[]> {
    await this.idle();
    return this.read(() => {
      return (this.db.prepare('SELECT * FROM refunds WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?').all(after, upTo, limit) as Row[]).map((r) => ({ ...refundRow(r), seq: Number(r.seq) }));
    });
  }

  async refundTotals(): Promise<RefundTotals> {
    await this.idle();
    return this.read(() => {
      const rows = this.db.prepare('SELECT currency, count(*) AS n, CAST(sum(amount) AS TEXT) AS amount, max(seq) AS last FROM refunds GROUP BY currency ORDER BY currency').all() as Row[];
      return refundTotalsOf(rows);
    });
  }

  async claimMeta(key: string, value: Uint8Array): Promise<ClaimedMeta> {
    await this.idle();
    // One writer at a time (SQLite's write lock): the insert if absent decides; a held row is never deleted.
    const inserted = this.write(() => this.db.prepare('INSERT OR IGNORE INTO meta(key, value) VALUES (?, ?)').run(key, value).changes > 0, (i) => i);
    return { inserted, value: this.getMetaSync(key)! };
  }

  async close(): Promise<void> {
    await this.idle();
    if (this.db.open) this.db.close();
  }
}

function refundRow(r: Row): RefundRow {
  return {
    tokenHash: u8(r.token_hash), bytes: u8(r.bytes), operatorId: Number(r.operator_id), readerId: Number(r.reader_id), walletId: u8(r.wallet_id),
    amount: Number(r.amount), currency: Number(r.currency), charge: Number(r.charge), time: Number(r.time), acceptedAt: Number(r.accepted_at),
  };
}
