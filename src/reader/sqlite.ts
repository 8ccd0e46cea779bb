/**
 * The durable reader store: embedded SQLite through better-sqlite3 (Node only; the driver is an optional
 * peer dependency loaded on first use, `reader.sqlite_unavailable` when missing: src/node/sqlite.ts).
 *
 * WAL journal mode with synchronous=FULL: every commit fsyncs the WAL before it returns, so a committed
 * decision survives a crash or power cut (sqlite.org/atomiccommit.html; research note S44: with NORMAL a
 * committed transaction "might roll back" on power loss). Each `transact` is one BEGIN IMMEDIATE
 * transaction. One process owns a reader database at a time (busy_timeout guards short overlaps).
 */
import { existsSync } from 'node:fs';
import { OffpayError } from '../../base/errors.js';
import { toHex } from '../../base/hex.js';
import { loadSqliteDriver, sqliteFailureOf, type SqliteDatabase, type SqliteStatement, type SqliteTransaction } from '../node/sqlite.js';
import type { JournalRow } from './journal.js';
import { TOKEN_STATUS, type PruneCounts, type PrunePlan, type ReaderStore, type ReaderTx, type TokenRecord } from './store.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS windows(wallet_id BLOB PRIMARY KEY, high INTEGER NOT NULL, bitmap BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS totals(key TEXT PRIMARY KEY, total INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS tokens(
  hash BLOB PRIMARY KEY, status INTEGER NOT NULL, wallet_id BLOB NOT NULL, counter INTEGER NOT NULL,
  amount INTEGER NOT NULL, currency INTEGER NOT NULL, day INTEGER NOT NULL, cert_id BLOB NOT NULL,
  accepted_at INTEGER NOT NULL, seq INTEGER NOT NULL, trip INTEGER NOT NULL, challenge BLOB) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS journal(seq INTEGER PRIMARY KEY, entry BLOB NOT NULL, hash BLOB NOT NULL);
`;

const u8 = (b: Buffer | Uint8Array): Uint8Array => new Uint8Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));

type Row = Record<string, unknown>;

/** Deletions a prune makes in one transaction (spec/reader.md §9.3). */
const PRUNE_CHUNK = 5000;

/** Options of {@link SqliteReaderStore}. */
export interface SqliteReaderStoreOptions {
  /** 'FULL' (default) fsyncs every commit; 'NORMAL' is for benchmarks that want to see the fsync cost. */
  synchronous?: 'FULL' | 'NORMAL' | 'OFF';
  /**
   * 'open' (default): the database must exist and be a reader database (`reader.store_missing` otherwise):
   * a lost database is never silently recreated (spec/reader.md invariant I8). 'create': start a new
   * database (a new journal); refuses a path that exists (`reader.store_exists`).
   */
  mode?: 'open' | 'create';
}

/**
 * Map a SQLite error to a typed one: damage -> reader.corrupt_store; any other SQLite failure (a full disk, an I/O
 * error, a lock held past busy_timeout: SQLITE_FULL, SQLITE_IOERR_*, SQLITE_BUSY...) -> reader.store_unusable, so
 * that the reader's caller (the CLI; a process that lives on, such as reader listen) sees a code the spec lists,
 * not an internal error. The transaction was rolled back: nothing of the operation was recorded and it may be retried
 * (spec/reader.md §1, a store that fails). Anything else (an OffpayError of the reader's own; a SQLite constraint
 * or misuse error, which is a bug) is rethrown as is.
 */
function typed(e: unknown, path: string): unknown {
  const f = sqliteFailureOf(e);
  // Not SQLite's, or SQLite's answer to a wrong statement (a constraint, a misuse): a bug, not the machine. Telling
  // the caller to retry would hide it.
  if (!f || f.kind === 'other') return e;
  const code = f.code;
  if (code === 'SQLITE_NOTADB') {
    // No SQLite header: a mistyped path to some other file, or a reader database whose first page was destroyed.
    return new OffpayError('reader.corrupt_store', `${path} is not a SQLite database (${code}): check the path; if it is the reader's database, it is damaged: restore it from a backup or start a new journal (offpay reader init --new-journal)`);
  }
  if (f.kind === 'damaged') {
    return new OffpayError('reader.corrupt_store', `reader database ${path} is damaged (${code}: ${(e as Error).message}); restore it from a backup or start a new journal (offpay reader init --new-journal)`);
  }
  return new OffpayError('reader.store_unusable', `reader database ${path} failed (${code}: ${(e as Error).message}); nothing of this operation was recorded, it may be retried`, { sqlite: code });
}

/**
 * The durable {@link ReaderStore} (Node, better-sqlite3, an optional peer dependency): WAL mode, every verdict
 * committed with `synchronous=FULL` before `Reader.accept` resolves (spec/reader.md §9.1, §16). A reader database
 * is created explicitly ({@link SqliteReaderStore.create}) and never recreated silently when lost.
 *
 * Errors: `reader.sqlite_unavailable` (better-sqlite3 not installed), `reader.store_missing`,
 * `reader.store_exists`, `reader.store_unusable`, `reader.corrupt_store` (a damaged file).
 *
 * @example
 * ```ts
 * import { SqliteReaderStore } from 'offpay/node';
 * import { Reader } from 'offpay/reader';
 * const store = SqliteReaderStore.create('vm.db');   // once, at installation; later SqliteReaderStore.open('vm.db')
 * const reader = new Reader({ cert, secretKey, issuerKeys, store });
 * ```
 */
export class SqliteReaderStore implements ReaderStore {
  readonly kind = 'sqlite';
  /** The reader database (better-sqlite3). */
  readonly db: SqliteDatabase;
  private readonly tx: ReaderTx;
  private readonly run: SqliteTransaction<(fn: (tx: ReaderTx) => unknown) => unknown>;
  private readonly qJournal: SqliteStatement;
  private readonly qJournalAll: SqliteStatement;

  /** The database file path. */
  readonly path: string;

  constructor(path: string, opts: SqliteReaderStoreOptions = {}) {
    this.path = path;
    const mode = opts.mode ?? 'open';
    // The driver first: on a machine without it, "install better-sqlite3" is the first thing to do, before any
    // question about the file.
    const Database = loadSqliteDriver('reader');
    const exists = path !== ':memory:' && existsSync(path);
    if (mode === 'open' && !exists) {
      throw new OffpayError('reader.store_missing', `reader database ${path} does not exist; a reader database is created only explicitly (offpay reader init)`);
    }
    if (mode === 'create' && exists) throw new OffpayError('reader.store_exists', `reader database ${path} already exists; a new journal is started only with offpay reader init --new-journal`);
    try {
      this.db = new Database(path, { fileMustExist: mode === 'open' });
    } catch (e) {
      throw new OffpayError('reader.store_unusable', `cannot open reader database ${path}: ${(e as Error).message}`);
    }
    try {
      this.db.pragma('busy_timeout = 5000');
      if (mode === 'open') {
        // Checked before anything is set: a file that is not a reader database (another program's, an empty file)
        // is refused without a byte of it changed (the journal mode is written into the file; CLI attack review,
        // 2026-12-07: reader commands turned another program's database to WAL, then refused it).
        const tables = this.db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE type = 'table' AND name IN ('meta','windows','totals','tokens','journal')").get() as Row;
        if (tables.n !== 5) throw new OffpayError('reader.store_missing', `${path} is not a reader database (offpay reader init creates one)`);
      }
      this.db.pragma('journal_mode = WAL');
      this.db.pragma(`synchronous = ${opts.synchronous ?? 'FULL'}`);
      if (mode === 'create') this.db.transaction(() => this.db.exec(SCHEMA))(); // all tables or none
    } catch (e) {
      this.db.close();
      const t = typed(e, path);
      if (t instanceof OffpayError && t.code !== 'reader.store_unusable') throw t; // damaged, or not a reader database
      throw new OffpayError('reader.store_unusable', `cannot open reader database ${path}: ${(e as Error).message}`);
    }
    const db = this.db;
    const s = {
      getWindow: db.prepare('SELECT high, bitmap FROM windows WHERE wallet_id = ?'),
      putWindow: db.prepare('INSERT OR REPLACE INTO windows(wallet_id, high, bitmap) VALUES (?, ?, ?)'),
      getTotal: db.prepare('SELECT total FROM totals WHERE key = ?'),
      putTotal: db.prepare('INSERT OR REPLACE INTO totals(key, total) VALUES (?, ?)'),
      getToken: db.prepare('SELECT * FROM tokens WHERE hash = ?'),
      putToken: db.prepare(
        'INSERT OR REPLACE INTO tokens(hash, status, wallet_id, counter, amount, currency, day, cert_id, accepted_at, seq, trip, challenge) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)',
      ),
      head: db.prepare('SELECT seq, entry, hash FROM journal ORDER BY seq DESC LIMIT 1'),
      append: db.prepare('INSERT INTO journal(seq, entry, hash) VALUES (?, ?, ?)'),
      getMeta: db.prepare('SELECT value FROM meta WHERE key = ?'),
      putMeta: db.prepare('INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)'),
    };
    this.qJournal = db.prepare('SELECT seq, entry, hash FROM journal WHERE seq >= ? AND seq <= ? ORDER BY seq');
    this.qJournalAll = db.prepare('SELECT seq, entry, hash FROM journal WHERE seq >= ? ORDER BY seq');
    this.tx = {
      getWindow: (w) => {
        const r = s.getWindow.get(w) as Row | undefined;
        return r && { high: r.high as number, bitmap: u8(r.bitmap as Buffer) };
      },
      putWindow: (w, st) => void s.putWindow.run(w, st.high, st.bitmap),
      getTotal: (k) => ((s.getTotal.get(k) as Row | undefined)?.total as number | undefined) ?? 0,
      putTotal: (k, v) => void s.putTotal.run(k, v),
      getToken: (h) => {
        const r = s.getToken.get(h) as Row | undefined;
        if (!r) return undefined;
        const rec: TokenRecord = {
          hash: u8(r.hash as Buffer),
          status: TOKEN_STATUS[r.status as number]!,
          walletId: u8(r.wallet_id as Buffer),
          counter: r.counter as number,
          amount: r.amount as number,
          currency: r.currency as number,
          day: r.day as number,
          certId: u8(r.cert_id as Buffer),
          acceptedAt: r.accepted_at as number,
          seq: r.seq as number,
          trip: r.trip === 1,
          ...(r.challenge ? { challenge: u8(r.challenge as Buffer) } : {}),
        };
        return rec;
      },
      putToken: (r) =>
        void s.putToken.run(r.hash, TOKEN_STATUS.indexOf(r.status), r.walletId, r.counter, r.amount, r.currency, r.day, r.certId, r.acceptedAt, r.seq, r.trip ? 1 : 0, r.challenge ?? null),
      head: () => {
        const r = s.head.get() as Row | undefined;
        return r && { seq: r.seq as number, bytes: u8(r.entry as Buffer), hash: u8(r.hash as Buffer) };
      },
      append: (row) => void s.append.run(row.seq, row.bytes, row.hash),
      getMeta: (k) => {
        const r = s.getMeta.get(k) as Row | undefined;
        return r && u8(r.value as Buffer);
      },
      putMeta: (k, v) => void s.putMeta.run(k, v),
    };
    this.run = db.transaction((fn: (tx: ReaderTx) => unknown) => fn(this.tx));
  }

  /** Open an existing reader database; refuses a missing one (`reader.store_missing`). */
  static open(path: string, opts?: Omit<SqliteReaderStoreOptions, 'mode'>): SqliteReaderStore {
    return new SqliteReaderStore(path, { ...opts, mode: 'open' });
  }

  /** Create a new reader database (a new journal); refuses an existing path (`reader.store_exists`). */
  static create(path: string, opts?: Omit<SqliteReaderStoreOptions, 'mode'>): SqliteReaderStore {
    return new SqliteReaderStore(path, { ...opts, mode: 'create' });
  }

  /**
   * Run `fn` in one BEGIN IMMEDIATE transaction, committed durably when it returns and rolled back if it throws.
   * @throws OffpayError `reader.corrupt_store` when SQLite reports a damaged database, `reader.store_unusable` when
   * a read, write or the commit fails otherwise (disk full, I/O error): rolled back, nothing recorded.
   */
  transact<T>(fn: (tx: ReaderTx) => T): T {
    try {
      return this.run.immediate(fn) as T;
    } catch (e) {
      throw typed(e, this.path);
    }
  }

  journal(fromSeq: number, toSeq?: number): JournalRow[] {
    try {
      const rows = (toSeq === undefined ? this.qJournalAll.all(fromSeq) : this.qJournal.all(fromSeq, toSeq)) as Row[];
      return rows.map((r) => ({ seq: r.seq as number, bytes: u8(r.entry as Buffer), hash: u8(r.hash as Buffer) }));
    } catch (e) {
      throw typed(e, this.path);
    }
  }

  /**
   * Apply a prune plan (spec/reader.md §9.3) in transactions of at most PRUNE_CHUNK deletions each, so that a
   * `reader listen` process on the same database waits for one chunk, not for the whole prune. The newest journal
   * row is never deleted. The first prune adds the index on `accepted_at` the token deletions search by.
   */
  prune(plan: PrunePlan): PruneCounts {
    try {
      return this.pruneChunks(plan);
    } catch (e) {
      throw typed(e, this.path);
    }
  }

  private pruneChunks(plan: PrunePlan): PruneCounts {
    const db = this.db;
    const counts: PruneCounts = { journal: 0, tokens: 0, totals: 0, meta: 0 };
    const inTx = <T>(fn: () => T): T => db.transaction(fn).immediate();
    inTx(() => db.exec('CREATE INDEX IF NOT EXISTS tokens_accepted ON tokens(accepted_at)'));
    const range = inTx(() => db.prepare('SELECT min(seq) AS lo, max(seq) AS hi FROM journal').get() as Row);
    if (typeof range.lo === 'number' && typeof range.hi === 'number') {
      const before = Math.min(plan.journalBefore, range.hi);
      const del = db.prepare('DELETE FROM journal WHERE seq < ?');
      for (let lo = range.lo; lo < before; lo += PRUNE_CHUNK) {
        const upto = Math.min(lo + PRUNE_CHUNK, before);
        counts.journal += inTx(() => del.run(upto).changes);
      }
    }
    // The kept hashes (a few: the open request's sale) go in as one JSON array of hex strings.
    const delTokens = db.prepare('DELETE FROM tokens WHERE hash IN (SELECT hash FROM tokens WHERE accepted_at < ? AND hex(hash) NOT IN (SELECT value FROM json_each(?)) LIMIT ?)');
    const keep = JSON.stringify(plan.keepTokens.map((h) => toHex(h).toUpperCase()));
    for (;;) {
      const n = inTx(() => delTokens.run(plan.acceptedBefore, keep, PRUNE_CHUNK).changes);
      counts.tokens += n;
      if (n < PRUNE_CHUNK) break;
    }
    const sweep = (table: 'totals' | 'meta', prefix: string, drop: (key: string, row: Row) => boolean): number => {
      const page = db.prepare(`SELECT * FROM ${table} WHERE key > ? ORDER BY key LIMIT ?`);
      const del = db.prepare(`DELETE FROM ${table} WHERE key = ?`);
      let cursor = prefix;
      let n = 0;
      for (;;) {
        const more = inTx(() => {
          const rows = page.all(cursor, PRUNE_CHUNK) as Row[];
          for (const r of rows) {
            const key = r.key as string;
            if (!key.startsWith(prefix)) return false;
            cursor = key;
            if (drop(key, r)) n += del.run(key).changes;
          }
          return rows.length === PRUNE_CHUNK;
        });
        if (!more) return n;
      }
    };
    counts.totals = sweep('totals', plan.totals.prefix, (k) => plan.totals.drop(k));
    counts.meta = sweep('meta', plan.meta.prefix, (k, r) => plan.meta.drop(k, u8(r.value as Buffer)));
    return counts;
  }

  /** SQLite's own check of every page and index (PRAGMA quick_check or integrity_check): 'ok' or the problems found. */
  integrityCheck(full = false): {
    /** True when SQLite found nothing wrong. */
    ok: boolean;
    /** The problems SQLite reported (empty when ok). */
    problems: string[];
  } {
    try {
      const rows = this.db.pragma(full ? 'integrity_check' : 'quick_check') as Row[];
      const problems = rows.map((r) => String(Object.values(r)[0])).filter((x) => x !== 'ok');
      return { ok: problems.length === 0, problems };
    } catch (e) {
      return { ok: false, problems: [(e as Error).message] };
    }
  }

  /** Close the database (idempotent). */
  close(): void {
    if (this.db.open) this.db.close();
  }
}

/**
 * Open a durable SQLite reader store made by `offpay reader init` (the default, `mode: 'open'`), or create a new
 * one (`mode: 'create'`: a new journal, once, at installation). Throws `reader.sqlite_unavailable` when
 * better-sqlite3 is not installed, `reader.store_missing` when there is no reader database to open,
 * `reader.store_exists` when creating over one, `reader.store_unusable` when the file cannot be opened as a
 * database. (Async for compatibility with the former dynamic-import wrapper of offpay/reader.)
 */
export async function openSqliteReaderStore(path: string, opts?: SqliteReaderStoreOptions): Promise<SqliteReaderStore> {
  return new SqliteReaderStore(path, opts);
}
