/**
 * The durable webhook outbox (spec/clearing-api.md §9.2): events waiting for delivery, written before the
 * answer that caused them, and kept after delivery or dead-lettering too: a held id is what makes an event
 * derived again (a resent batch) queue nothing. Delivered charge events are pruned after the retention period
 * (`prune`, spec/clearing-api.md §9.2 step 7); wallet.blocklisted and dead-lettered events are kept. `WebhookOutbox` is
 * the interface an engine implements; `SqliteWebhookOutbox` keeps it in its own small SQLite file next to a
 * SQLite clearing database (CLEARING.db.webhooks), so the clearing's schema is not touched; `PgWebhookOutbox`
 * (outbox-pg.ts) keeps it in a table of a PostgreSQL clearing database, shared by every node of the house.
 *
 * Event ids are deterministic (webhooks.ts eventId), and `add` ignores an id already held: deriving the same event
 * twice (a batch resent after a crash between the clearing commit and the outbox write) queues it once.
 *
 * Claims: `due` hands a worker events to try. An outbox shared by several processes (PostgreSQL) claims them
 * for this process for a lease, so another process's `due` skips them until the lease ends; `hold` renews
 * the claim just before a try and says whether this process still holds it; `delivered` and `failed` record
 * the outcome only while it does. The SQLite outbox has one process: every pending event is its own.
 *
 *   CREATE TABLE events(
 *     id TEXT PRIMARY KEY,          -- evt_ + 32 hex digits
 *     type TEXT NOT NULL,
 *     body BLOB NOT NULL,           -- the exact JSON bytes every delivery sends (and signs)
 *     created INTEGER NOT NULL,     -- unix seconds
 *     state TEXT NOT NULL,          -- pending | delivered | dead
 *     attempts INTEGER NOT NULL,    -- deliveries tried
 *     next_at INTEGER NOT NULL,     -- unix ms of the next try (pending)
 *     last_error TEXT)              -- the last failure (HTTP status or network error)
 *   CREATE TABLE intents(            -- batches about to be committed, whose events may not be queued yet
 *     id TEXT PRIMARY KEY,           -- SHA-256 of the batch bytes, hex
 *     reader_id INTEGER NOT NULL,    -- the batch's reader, journal id and number: with id, what clearing
 *     journal_id BLOB NOT NULL,      --   holds when it holds the batch (Clearing.holdsBatch)
 *     batch_seq INTEGER NOT NULL,
 *     hashes BLOB NOT NULL,          -- the token hashes its entries name (32 bytes each, voids left out)
 *     created INTEGER NOT NULL)      -- unix ms, renewed when the same batch is about to be committed again
 *
 * Intents (spec/clearing-api.md §9.2 step 1): an intent is durable BEFORE the batch's clearing commit (after its
 * checks: only a reader's batch new to clearing gets one) and is deleted in the same transaction that queues the
 * batch's events (`add` with `settle`). A node that dies in between leaves it; a sweep (webhooks.ts) queues the
 * events once clearing holds the batch, and deletes it. So a committed batch's events outlive the process that
 * committed it.
 */
import { OffpayError } from '../../base/errors.js';
import { openSqliteDatabase, sqliteFailureOf, type SqliteDatabase } from '../node/sqlite.js';

/** One queued event. */
export interface OutboxEvent {
  id: string;
  type: string;
  /** The JSON body, byte for byte as sent. */
  body: Uint8Array;
  created: number;
  state: 'pending' | 'delivered' | 'dead';
  attempts: number;
  /** Unix ms of the next try. */
  nextAt: number;
  lastError: string | null;
}

/** An event to queue. */
export interface NewOutboxEvent {
  id: string;
  type: string;
  body: Uint8Array;
  created: number;
}

/** A batch about to be committed whose events may not be queued yet (see the header). */
export interface NewOutboxIntent {
  /** SHA-256 of the batch bytes, hex. */
  id: string;
  readerId: number;
  journalId: Uint8Array;
  batchSeq: number;
  /** Token hashes, 32 bytes each, concatenated. */
  hashes: Uint8Array;
}

/** An intent held (its token hashes read apart: intentHashes), with its age on the outbox's clock (PostgreSQL: the database's). */
export interface OutboxIntent extends Omit<NewOutboxIntent, 'hashes'> {
  /** When it was written (or last renewed), unix ms on the outbox's clock: the paging cursor. */
  created: number;
  /** Written (or last renewed) this many ms ago, on that clock. */
  ageMs: number;
}

/** Where undelivered events wait (at least once: nothing leaves it before a receiver answered 2xx). */
export interface WebhookOutbox {
  /** The claim's lease, ms, when several processes share the outbox (undefined: one process, no lease). */
  readonly leaseMs: number | undefined;
  /**
   * Queue events (ids already held are ignored) and delete the intents `settle` in the same transaction; resolves
   * to how many events were new. Durable when it resolves.
   */
  add(events: NewOutboxEvent[], nowMs: number, settle?: readonly string[]): Promise<number>;
  /** Write an intent (durable when it resolves); one already held is renewed (its time set to now). */
  intend(intent: NewOutboxIntent, nowMs: number): Promise<void>;
  /**
   * Up to `limit` intents written at least `minAgeMs` before now (`nowMs`; PostgreSQL: the database's clock), in
   * (time, id) order after `after` (the last of the previous page), each with its age on that clock.
   */
  intents(minAgeMs: number, nowMs: number, limit: number, after?: OutboxIntent): Promise<OutboxIntent[]>;
  /** The token hashes of the intent `id` (32 bytes each, concatenated), or undefined when none is held. */
  intentHashes(id: string): Promise<Uint8Array | undefined>;
  /** How many intents are held (batches whose events are not queued yet: in flight, or waiting for a sweep). */
  intentCount(): Promise<number>;
  /** Delete the intent `id` if it was not renewed since `created` (OutboxIntent.created); resolves to whether it did. */
  dropIntent(id: string, created: number): Promise<boolean>;
  /**
   * The last `add` the outbox's database refused (`clearing.store_unavailable`), until an `add` stores an event:
   * its code and when (ms). The health check holds the node unhealthy for WRITE_FAULT_HOLD_MS after it
   * (spec/clearing-api.md §2.10). Optional for outboxes of one's own.
   */
  readonly writeFault?: { code: string; atMs: number } | undefined;
  /** Up to `limit` pending events due at `nowMs` that no other process holds, oldest due first; claimed for this process. */
  due(nowMs: number, limit: number): Promise<OutboxEvent[]>;
  /** Just before a try: renew this process's claim on `id`; false when it no longer holds it (or it is not pending). */
  hold(id: string): Promise<boolean>;
  /** The earliest next_at of a pending event, or undefined. */
  nextDue(): Promise<number | undefined>;
  /** A 2xx answer: record it, if this process still holds the claim (resolves to whether it was recorded). */
  delivered(id: string, attempts: number): Promise<boolean>;
  /** A failed try: schedule the next at `nextAt`, or dead-letter it (`dead`); only if this process still holds the claim. */
  failed(id: string, attempts: number, error: string, nextAt: number, dead: boolean): Promise<boolean>;
  /** Dead-lettered events, newest first (at most `limit`). */
  dead(limit: number): Promise<OutboxEvent[]>;
  /**
   * Delete up to `limit` delivered events of the types `PRUNED_TYPES` created before `beforeSec` (unix seconds);
   * resolves to how many. Pending, dead and wallet.blocklisted events are never pruned.
   */
  prune(beforeSec: number, limit: number): Promise<number>;
  /** Counts by state (of every process sharing the outbox). */
  counts(): Promise<{ pending: number; delivered: number; dead: number }>;
  get(id: string): Promise<OutboxEvent | undefined>;
  /** Give back this process's claims and close. */
  close(): Promise<void>;
}

/**
 * Event types a delivered event of which may be pruned: each is derived again only by the same batch or refund
 * sent again. wallet.blocklisted is not: every start compares the whole blocklist with the events held.
 */
export const PRUNED_TYPES = ['charge.complete', 'charge.refunded'] as const;
const PRUNED_SQL = PRUNED_TYPES.map((t) => `'${t}'`).join(', ');
/** The partial index prune walks (both engines): delivered events by creation time. */
export const PRUNE_INDEX_SQL = (table: string) => `CREATE INDEX IF NOT EXISTS ${table}_delivered ON ${table}(created) WHERE state = 'delivered' AND type IN (${PRUNED_SQL})`;
/** The rows prune deletes: delivered, of a pruned type, created before $before; at most $limit of them. */
export const PRUNE_WHERE = `state = 'delivered' AND type IN (${PRUNED_SQL})`;

const EVENTS_SQL = `CREATE TABLE IF NOT EXISTS events(
  id TEXT PRIMARY KEY, type TEXT NOT NULL, body BLOB NOT NULL, created INTEGER NOT NULL,
  state TEXT NOT NULL, attempts INTEGER NOT NULL, next_at INTEGER NOT NULL, last_error TEXT) STRICT`;
const INTENTS_SQL = `CREATE TABLE IF NOT EXISTS intents(id TEXT PRIMARY KEY, reader_id INTEGER NOT NULL, journal_id BLOB NOT NULL, batch_seq INTEGER NOT NULL,
  hashes BLOB NOT NULL, created INTEGER NOT NULL) STRICT`;
/** A table's layout as SQLite reports it (name, type, NOT NULL, key, for each column in order). */
function tableLayout(db: SqliteDatabase, table: string): string {
  return (db.prepare(`PRAGMA table_info(${table})`).all() as { name: string; type: string; notnull: number; pk: number }[]).map((c) => `${c.name} ${c.type}${c.notnull ? ' NOT NULL' : ''}${c.pk ? ' KEY' : ''}`).join(', ');
}
const referenceLayouts = new Map<string, string>();
/** The layout `ddl` makes (read once from a database in memory). */
function referenceLayout(table: string, ddl: string): string {
  let l = referenceLayouts.get(table);
  if (l === undefined) {
    const db = openSqliteDatabase('clearing', ':memory:');
    db.exec(ddl);
    l = tableLayout(db, table);
    db.close();
    referenceLayouts.set(table, l);
  }
  return l;
}

/** The intents table's columns, in order (both engines). */
export const INTENT_COLUMNS = ['id', 'reader_id', 'journal_id', 'batch_seq', 'hashes', 'created'];

/** A failure's text is kept to this many characters. */
export const MAX_ERROR_CHARS = 500;

interface Row { id: string; type: string; body: Uint8Array; created: number; state: OutboxEvent['state']; attempts: number; next_at: number; last_error: string | null }
const fromRow = (r: Row): OutboxEvent => ({ id: r.id, type: r.type, body: new Uint8Array(r.body), created: r.created, state: r.state, attempts: r.attempts, nextAt: r.next_at, lastError: r.last_error });

/** The outbox in its own SQLite file (WAL, synchronous FULL: an added event survives a kill -9). */
/**
 * A failed write of the SQLite outbox as the clearing store types its own (spec/clearing-api.md §4): a file that
 * cannot take an intent or the events now (read-only, full, failing, locked) is `clearing.store_unavailable`, 503:
 * the reader sends the batch again (held or not: its intent, when written, keeps its events). A damaged file is
 * `clearing.store_unusable`.
 */
function outboxFailure(e: unknown): unknown {
  const f = sqliteFailureOf(e);
  if (f?.kind === 'unavailable') return new OffpayError('clearing.store_unavailable', `the webhook outbox refused a write (${f.code}: ${(e as Error).message}); send the batch again`, { sqlite: f.code, write: true });
  if (f?.kind === 'damaged') return new OffpayError('clearing.store_unusable', `the webhook outbox is damaged (${f.code}: ${(e as Error).message})`);
  return e;
}

export class SqliteWebhookOutbox implements WebhookOutbox {
  readonly leaseMs = undefined;
  writeFault: { code: string; atMs: number } | undefined;
  private readonly db: SqliteDatabase;
  constructor(path: string) {
    try {
      this.db = openSqliteDatabase('clearing', path);
    } catch (e) {
      // A path SQLite cannot open (a directory, a missing directory): the configuration's, exit 2.
      if (e instanceof OffpayError) throw e;
      const typed = outboxFailure(e);
      throw typed instanceof OffpayError ? typed : new OffpayError('clearing.store_unusable', `cannot open the webhook outbox ${path} (${(e as Error).message})`);
    }
    try {
      if (path !== ':memory:') this.db.pragma('journal_mode = WAL');
      this.db.pragma('synchronous = FULL');
      // Tables of another layout (another program's, a development build's; the right names without the key) are
      // refused at open, not by every write: columns, types, NOT NULL and key must be those the DDL makes. Without
      // its key, `events` would take an event id twice (INSERT OR IGNORE has nothing to conflict with).
      for (const [table, ddl] of [['events', EVENTS_SQL], ['intents', INTENTS_SQL]] as const) {
        this.db.exec(ddl);
        const got = tableLayout(this.db, table);
        if (got !== referenceLayout(table, ddl)) {
          throw new OffpayError('clearing.store_unusable', `the ${table} table of the webhook outbox ${path} is not this offpay's: columns ${got}, this offpay makes ${referenceLayout(table, ddl)}`);
        }
      }
      this.db.exec('CREATE INDEX IF NOT EXISTS events_due ON events(next_at) WHERE state = \'pending\'');
      this.db.exec(PRUNE_INDEX_SQL('events'));
    } catch (e) {
      // Not an outbox (another program's file, not SQLite at all), or one of another layout: refused, the file
      // closed. A failure SQLite does not class (a schema it cannot build on) is the file's, not the disk's.
      this.db.close();
      if (e instanceof OffpayError) throw e;
      const typed = outboxFailure(e);
      throw typed instanceof OffpayError ? typed : new OffpayError('clearing.store_unusable', `the webhook outbox ${path} is not this offpay's (${(e as Error).message})`);
    }
  }
  async add(events: NewOutboxEvent[], nowMs: number, settle: readonly string[] = []): Promise<number> {
    if (!events.length && !settle.length) return 0;
    return this.write(() => {
      const ins = this.db.prepare("INSERT OR IGNORE INTO events(id, type, body, created, state, attempts, next_at, last_error) VALUES (?, ?, ?, ?, 'pending', 0, ?, NULL)");
      const del = this.db.prepare('DELETE FROM intents WHERE id = ?');
      const n = this.db.transaction(() => {
        for (const id of settle) del.run(id);
        return events.reduce((n, e) => n + ins.run(e.id, e.type, e.body, e.created, nowMs).changes, 0);
      })();
      if (n > 0) this.writeFault = undefined;
      return n;
    });
  }
  async intend(i: NewOutboxIntent, nowMs: number): Promise<void> {
    this.write(() =>
      this.db
        .prepare('INSERT INTO intents(id, reader_id, journal_id, batch_seq, hashes, created) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET created = max(created, excluded.created)')
        .run(i.id, i.readerId, i.journalId, i.batchSeq, i.hashes, nowMs),
    );
  }
  async intents(minAgeMs: number, nowMs: number, limit: number, after?: OutboxIntent): Promise<OutboxIntent[]> {
    const cols = 'id, reader_id, journal_id, batch_seq, created';
    const rows = (
      after
        ? this.db.prepare(`SELECT ${cols} FROM intents WHERE created <= ? AND (created, id) > (?, ?) ORDER BY created, id LIMIT ?`).all(nowMs - minAgeMs, after.created, after.id, limit)
        : this.db.prepare(`SELECT ${cols} FROM intents WHERE created <= ? ORDER BY created, id LIMIT ?`).all(nowMs - minAgeMs, limit)
    ) as { id: string; reader_id: number; journal_id: Uint8Array; batch_seq: number; created: number }[];
    return rows.map((r) => ({ id: r.id, readerId: r.reader_id, journalId: new Uint8Array(r.journal_id), batchSeq: r.batch_seq, created: r.created, ageMs: nowMs - r.created }));
  }
  async intentHashes(id: string): Promise<Uint8Array | undefined> {
    const r = this.db.prepare('SELECT hashes FROM intents WHERE id = ?').get(id) as { hashes: Uint8Array } | undefined;
    return r ? new Uint8Array(r.hashes) : undefined;
  }
  async intentCount(): Promise<number> {
    return (this.db.prepare('SELECT COUNT(*) AS n FROM intents').get() as { n: number }).n;
  }
  async dropIntent(id: string, created: number): Promise<boolean> {
    return this.write(() => this.db.prepare('DELETE FROM intents WHERE id = ? AND created = ?').run(id, created).changes > 0);
  }
  /** A write, its failure typed (and a refusal remembered as the write fault). */
  private write<T>(f: () => T): T {
    try {
      return f();
    } catch (e) {
      const typed = outboxFailure(e);
      if (typed instanceof OffpayError && typed.code === 'clearing.store_unavailable') this.writeFault = { code: sqliteFailureOf(e)!.code, atMs: Date.now() };
      throw typed;
    }
  }
  async due(nowMs: number, limit: number): Promise<OutboxEvent[]> {
    return (this.db.prepare("SELECT * FROM events WHERE state = 'pending' AND next_at <= ? ORDER BY next_at, rowid LIMIT ?").all(nowMs, limit) as Row[]).map(fromRow);
  }
  /** One process: a pending event is always this process's. */
  async hold(id: string): Promise<boolean> {
    return (this.db.prepare("SELECT 1 FROM events WHERE id = ? AND state = 'pending'").get(id) as unknown) !== undefined;
  }
  async nextDue(): Promise<number | undefined> {
    const r = this.db.prepare("SELECT MIN(next_at) AS t FROM events WHERE state = 'pending'").get() as { t: number | null };
    return r.t ?? undefined;
  }
  async delivered(id: string, attempts: number): Promise<boolean> {
    return this.db.prepare("UPDATE events SET state = 'delivered', attempts = ?, last_error = NULL WHERE id = ?").run(attempts, id).changes > 0;
  }
  async failed(id: string, attempts: number, error: string, nextAt: number, dead: boolean): Promise<boolean> {
    return this.db.prepare('UPDATE events SET state = ?, attempts = ?, last_error = ?, next_at = ? WHERE id = ?').run(dead ? 'dead' : 'pending', attempts, error.slice(0, MAX_ERROR_CHARS), nextAt, id).changes > 0;
  }
  async dead(limit: number): Promise<OutboxEvent[]> {
    return (this.db.prepare("SELECT * FROM events WHERE state = 'dead' ORDER BY rowid DESC LIMIT ?").all(limit) as Row[]).map(fromRow);
  }
  async prune(beforeSec: number, limit: number): Promise<number> {
    return this.db.prepare(`DELETE FROM events WHERE rowid IN (SELECT rowid FROM events WHERE ${PRUNE_WHERE} AND created < ? LIMIT ?)`).run(beforeSec, limit).changes;
  }
  async counts(): Promise<{ pending: number; delivered: number; dead: number }> {
    const c = { pending: 0, delivered: 0, dead: 0 };
    for (const r of this.db.prepare('SELECT state, COUNT(*) AS n FROM events GROUP BY state').all() as { state: keyof typeof c; n: number }[]) c[r.state] = r.n;
    return c;
  }
  async get(id: string): Promise<OutboxEvent | undefined> {
    const r = this.db.prepare('SELECT * FROM events WHERE id = ?').get(id) as Row | undefined;
    return r ? fromRow(r) : undefined;
  }
  async close(): Promise<void> {
    this.db.close();
  }
}
