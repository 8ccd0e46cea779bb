/**
 * The durable reader store: embedded SQLite through better-sqlite3 (Node only; the driver is an optional
 * peer dependency loaded on first use, `reader.sqlite_unavailable` when missing: src/node/sqlite.ts).
 *
 * WAL journal mode with synchronous=FULL: every commit fsyncs the WAL before it returns, so a committed
 * decision survives a crash or power cut (sqlite.org/atomiccommit.html; research note S44: with NORMAL a
 * committed transaction "might roll back" on power loss). Each `transact` is one BEGIN IMMEDIATE
 * transaction. One process owns a reader database at a time (busy_timeout guards short overlaps).
 */
import { OffpayError } from '../errors.js';
import { loadSqliteDriver, type SqliteDatabase, type SqliteStatement, type SqliteTransaction } from '../node/sqlite.js';
import type { JournalRow } from './journal.js';
import { TOKEN_STATUS, type ReaderStore, type ReaderTx, type TokenRecord } from './store.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS windows(wallet_id BLOB PRIMARY KEY, high INTEGER NOT NULL, bitmap BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS totals(key TEXT PRIMARY KEY, total INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS tokens(
  hash BLOB PRIMARY KEY, status INTEGER NOT NULL, wallet_id BLOB NOT NULL, counter INTEGER NOT NULL,
  amount INTEGER NOT NULL, currency INTEGER NOT NULL, day INTEGER NOT NULL, cert_id BLOB NOT NULL,
  accepted_at INTEGER NOT NULL, seq INTEGER NOT NULL, trip INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS journal(seq INTEGER PRIMARY KEY, entry BLOB NOT NULL, hash BLOB NOT NULL);
`;

const u8 = (b: Buffer | Uint8Array): Uint8Array => new Uint8Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));

type Row = Record<string, unknown>;

export interface SqliteReaderStoreOptions {
  /** 'FULL' (default) fsyncs every commit; 'NORMAL' is for benchmarks that want to see the fsync cost. */
  synchronous?: 'FULL' | 'NORMAL' | 'OFF';
}

export class SqliteReaderStore implements ReaderStore {
  readonly kind = 'sqlite';
  /** The reader database (better-sqlite3). */
  readonly db: SqliteDatabase;
  private readonly tx: ReaderTx;
  private readonly run: SqliteTransaction<(fn: (tx: ReaderTx) => unknown) => unknown>;
  private readonly qJournal: SqliteStatement;
  private readonly qJournalAll: SqliteStatement;

  constructor(path: string, opts: SqliteReaderStoreOptions = {}) {
    const Database = loadSqliteDriver('reader');
    try {
      this.db = new Database(path);
      this.db.pragma('journal_mode = WAL');
      this.db.pragma(`synchronous = ${opts.synchronous ?? 'FULL'}`);
      this.db.pragma('busy_timeout = 5000');
      this.db.exec(SCHEMA);
    } catch (e) {
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
        'INSERT OR REPLACE INTO tokens(hash, status, wallet_id, counter, amount, currency, day, cert_id, accepted_at, seq, trip) VALUES (?,?,?,?,?,?,?,?,?,?,?)',
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
        };
        return rec;
      },
      putToken: (r) =>
        void s.putToken.run(r.hash, TOKEN_STATUS.indexOf(r.status), r.walletId, r.counter, r.amount, r.currency, r.day, r.certId, r.acceptedAt, r.seq, r.trip ? 1 : 0),
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

  static open(path: string, opts?: SqliteReaderStoreOptions): SqliteReaderStore {
    return new SqliteReaderStore(path, opts);
  }

  transact<T>(fn: (tx: ReaderTx) => T): T {
    return this.run.immediate(fn) as T;
  }

  journal(fromSeq: number, toSeq?: number): JournalRow[] {
    const rows = (toSeq === undefined ? this.qJournalAll.all(fromSeq) : this.qJournal.all(fromSeq, toSeq)) as Row[];
    return rows.map((r) => ({ seq: r.seq as number, bytes: u8(r.entry as Buffer), hash: u8(r.hash as Buffer) }));
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}

/**
 * Open (or create) a durable SQLite reader store. Throws `reader.sqlite_unavailable` when better-sqlite3 is
 * not installed, `reader.store_unusable` when the file cannot be opened as a database. (Async for
 * compatibility with the former dynamic-import wrapper of offpay/reader.)
 */
export async function openSqliteReaderStore(path: string, opts?: SqliteReaderStoreOptions): Promise<SqliteReaderStore> {
  return new SqliteReaderStore(path, opts);
}
