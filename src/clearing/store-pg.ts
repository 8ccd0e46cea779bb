/**
 * The PostgreSQL clearing store (store.ts): several `clearing serve` processes on one database are one clearing
 * house. spec/clearing.md §11 is the contract this file implements; in short:
 *  - the same tables as the SQLite store (bytea for blobs, bigint for integers, boolean for valid), with the
 *    same primary keys and UNIQUE constraints, and the same two secondary indexes;
 *  - each batch's ingest is one transaction at ISOLATION LEVEL SERIALIZABLE. Two nodes ingesting entries that
 *    spend one wallet counter at the same moment each write into the wallet-counter index and read it (contested,
 *    then firstMates and firstOtherToken); PostgreSQL's serialisable snapshot isolation sees the read/write dependency both ways and aborts
 *    one of them with SQLSTATE 40001, which is rolled back and run again from the start, now seeing the other's
 *    committed entry: the double spend is found once, by the later commit, exactly as a single node would in
 *    that commit order. A concurrent insert of one key (the same batch at two nodes) fails with 40001 or 23505
 *    and is retried the same way (then it is a duplicate). No in-process lock is involved;
 *  - rows that may meet an existing key are written with INSERT ... ON CONFLICT DO NOTHING (double spends,
 *    reader faults, blocklist, problems, readers, chains), so a record exists once whatever the interleaving.
 *
 * The driver is node-postgres (`pg`, an optional peer dependency loaded on first use: pure JavaScript, the
 * reference client; `clearing.pg_unavailable` names what to install). bigint columns are read as JS numbers:
 * every value clearing stores is below 2^53.
 */
import { createRequire } from 'node:module';
import { prefixKey } from '../crypto.js';
import { toHex } from '../../base/hex.js';
import { OffpayError } from '../../base/errors.js';
import { JournalKind, type JournalKindName } from '../reader/journal.js';
import type { SettleRow } from './settle.js';
import type {
  BatchRow, BlocklistRow, ChainRow, ClearingStore, CounterMate, CounterQuery, DoubleSpendRow, HeldFindings, EntryEvidence, EntryRow, HeldJournal, IngestSession, IngestTx, InvalidEntryRow,
  ClaimedMeta, HeldRefund, NextBlocklist, RefundTotals, ProblemRow, ReaderFaultRow, RefundRow, RequestSaleRow, TokenEntryRow,
} from './store.js';
import { classKind, firstsClass, heldFaultError, isSpaceFault, refundTotalsOf, schemaChangedError, WRITE_FAULT_HOLD_MS } from './store.js';

/** The npm package of the PostgreSQL client (an optional peer dependency of offpay). */
export const PG_DRIVER = 'pg';
/** Bumped whenever the tables change; a database of another version is refused (clearing.store_unusable). */
export const PG_SCHEMA_VERSION = 4;
/**
 * The schema versions this store upgrades when it opens a database: 1 (before counter_firsts, one finding per key),
 * 2 (before the request columns of entries, spec/clearing.md M9) and 3 (counter_firsts before classes of their own
 * for tap-ins and tap-outs, the one-way rule of spec/clearing.md §4 step 10).
 */
const PG_UPGRADES_FROM: readonly unknown[] = [1, 2, 3];
/** Times one batch's transaction is tried before a conflict is reported as an error. */
const MAX_ATTEMPTS = 50;
/** settleRows: rows per page (keyset pagination inside one REPEATABLE READ snapshot). */
const PAGE = 10_000;
/** pg_advisory_xact_lock key taken while the schema is created (two nodes starting at once): 'offpay' */
const SCHEMA_LOCK = 0x6f6666706179;
/** Session advisory lock key under which nodes build the payment index in turn ("offpix"). */
export const PAYMENTS_INDEX_LOCK = 0x6f6666706978;

// The writer fence (spec/clearing.md §11.2, upgrades): every entry row names the schema version of the offpay that
// wrote it (`writer`, NOT NULL, no default), and the check WRITER_CHECK admits only writers of the database's
// current version. An upgrade replaces the check (NOT VALID: the rows held are not read again; entries are never
// updated), so a node of an older version still running in the house, whose INSERT names no writer or an older
// one, has its next ingest refused by the database itself (clearing.schema_changed, 503: the reader resends to
// another node) instead of writing by rules the house no longer keeps. Entries only: every ingest of a token
// writes one, and nothing else an older node writes affects a verdict it cannot see.
const WRITER_CHECK = 'entries_writer';
/** Adds the fence to entries of a database from before it (the rows held count as this version's). */
const WRITER_UPGRADE = `ALTER TABLE entries ADD COLUMN writer smallint NOT NULL DEFAULT ${PG_SCHEMA_VERSION};
ALTER TABLE entries ALTER COLUMN writer DROP DEFAULT;`;
/** The fence at this version: run at the upgrade from an older schema version (and after WRITER_UPGRADE). */
const WRITER_FENCE = `ALTER TABLE entries DROP CONSTRAINT IF EXISTS ${WRITER_CHECK}, ADD CONSTRAINT ${WRITER_CHECK} CHECK (writer >= ${PG_SCHEMA_VERSION}) NOT VALID`;

/**
 * Whether a database error is the writer fence refusing this node's entries (a newer offpay upgraded the
 * database): the check's violation, or a NOT NULL violation of `writer` (a writer from before the column).
 */
function isFenced(e: unknown): boolean {
  const x = e as { code?: unknown; constraint?: unknown; column?: unknown } | null;
  return (x?.code === '23514' && x.constraint === WRITER_CHECK) || (x?.code === '23502' && x.column === 'writer');
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta(key text PRIMARY KEY, num bigint, bytes bytea);
CREATE TABLE IF NOT EXISTS readers(reader_id bigint PRIMARY KEY, operator_id bigint NOT NULL, profile text NOT NULL, cert bytea NOT NULL);
CREATE TABLE IF NOT EXISTS chains(chain bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, reader_id bigint NOT NULL, journal_id bytea NOT NULL, UNIQUE(reader_id, journal_id));
CREATE TABLE IF NOT EXISTS batches(chain bigint NOT NULL, batch_seq bigint NOT NULL, first_seq bigint NOT NULL, entries bigint NOT NULL,
  head bytea NOT NULL, digest bytea NOT NULL, created_at bigint NOT NULL, PRIMARY KEY(chain, batch_seq));
CREATE TABLE IF NOT EXISTS batch_bytes(id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, chain bigint NOT NULL, batch_seq bigint NOT NULL, bytes bytea NOT NULL);
CREATE TABLE IF NOT EXISTS entries(chain bigint NOT NULL, seq bigint NOT NULL, kind smallint NOT NULL, time bigint NOT NULL,
  value bigint NOT NULL, amount bigint, token_hash bytea, prev_hash bytea, hash bytea NOT NULL, valid boolean NOT NULL, reason text, operator_id bigint NOT NULL,
  source bigint, token_at bigint, token_len bigint, wallet_key bigint, wallet_id bytea, counter bigint, currency bigint, cert_key bigint, allowance bigint,
  req_time bigint, req_challenge bytea,
  writer smallint NOT NULL, CONSTRAINT ${WRITER_CHECK} CHECK (writer >= ${PG_SCHEMA_VERSION}), PRIMARY KEY(chain, seq));
CREATE INDEX IF NOT EXISTS entries_counter ON entries(wallet_key, counter);
CREATE INDEX IF NOT EXISTS entries_void ON entries(chain, token_hash) WHERE kind = ${JournalKind.void};
CREATE TABLE IF NOT EXISTS double_spends(kind text NOT NULL, wallet_id bytea NOT NULL, counter bigint NOT NULL,
  a_hash bytea NOT NULL, a_chain bigint NOT NULL, a_seq bigint NOT NULL, b_hash bytea NOT NULL, b_chain bigint NOT NULL, b_seq bigint NOT NULL,
  detected_at bigint NOT NULL, PRIMARY KEY(a_chain, a_seq, b_chain, b_seq));
CREATE TABLE IF NOT EXISTS reader_faults(kind text NOT NULL, reader_id bigint NOT NULL, token_hash bytea NOT NULL,
  a_chain bigint NOT NULL, a_seq bigint NOT NULL, b_chain bigint NOT NULL, b_seq bigint NOT NULL, detected_at bigint NOT NULL,
  PRIMARY KEY(a_chain, a_seq, b_chain, b_seq));
CREATE TABLE IF NOT EXISTS problems(reader_id bigint NOT NULL, kind text NOT NULL, detail text NOT NULL, at bigint NOT NULL,
  PRIMARY KEY(reader_id, kind, detail));
CREATE TABLE IF NOT EXISTS blocklist(wallet_id bytea PRIMARY KEY, reason text NOT NULL, added_at bigint NOT NULL);
`;

// Refunds (spec/clearing.md §13): one row per refunded token, the token hash the unique key, so two nodes racing
// two refunds of one token insert exactly one (INSERT ... ON CONFLICT DO NOTHING). A table added to schema 1
// without a version bump: created if absent at open (under the schema lock), it changes no other table. `seq`
// numbers the rows in commit order (the paging key of GET /v1/refunds): putRefund takes REFUND_LOCK for its
// transaction, so a row that commits later always has a higher seq than every row committed before it. A
// refunds table of a pre-release 0.2.0 without `seq` is given it at open (existing rows numbered in table order).
const REFUNDS_SCHEMA = `
CREATE TABLE IF NOT EXISTS refunds(token_hash bytea PRIMARY KEY, bytes bytea NOT NULL, operator_id bigint NOT NULL, reader_id bigint NOT NULL,
  wallet_id bytea NOT NULL, amount bigint NOT NULL, currency bigint NOT NULL, charge bigint NOT NULL, time bigint NOT NULL, accepted_at bigint NOT NULL,
  seq bigint GENERATED BY DEFAULT AS IDENTITY);
`;
// One finding per key (spec/clearing.md §4 step 10, §11.1): double_spends by (kind, wallet id, counter),
// reader_faults by (reader id, token hash). Added to schema 1 without a version bump, at open under the schema
// lock: a database of a pre-release 0.2.0 (one row per pair) keeps, of each key, the row detected first, and
// the indexes are created. The rows dropped are pairs the entries held still show (every entry stays).
// One pass of a window function over each table (a self-join compared every pair of rows of a key: 28,680 old
// rows took 159 s, with the schema lock held).
const FINDINGS_UPGRADE = `
DELETE FROM double_spends d USING (SELECT a_chain, a_seq, b_chain, b_seq,
  row_number() OVER (PARTITION BY kind, wallet_id, counter ORDER BY detected_at, a_chain, a_seq, b_chain, b_seq) AS rn FROM double_spends) x
  WHERE x.rn > 1 AND (d.a_chain, d.a_seq, d.b_chain, d.b_seq) = (x.a_chain, x.a_seq, x.b_chain, x.b_seq);
DELETE FROM reader_faults d USING (SELECT a_chain, a_seq, b_chain, b_seq,
  row_number() OVER (PARTITION BY reader_id, token_hash ORDER BY detected_at, a_chain, a_seq, b_chain, b_seq) AS rn FROM reader_faults) x
  WHERE x.rn > 1 AND (d.a_chain, d.a_seq, d.b_chain, d.b_seq) = (x.a_chain, x.a_seq, x.b_chain, x.b_seq);
CREATE UNIQUE INDEX double_spends_key ON double_spends(kind, wallet_id, counter);
CREATE UNIQUE INDEX reader_faults_key ON reader_faults(reader_id, token_hash);
`;
// The firsts of each wallet counter that more than one valid entry names (spec/clearing.md §11.1): per (token
// hash, reader id, class) its first entry by (journal id, seq). Added to schema 1 without a version bump.
const FIRSTS_SCHEMA = `CREATE TABLE IF NOT EXISTS counter_firsts(wallet_id bytea NOT NULL, counter bigint NOT NULL, token_hash bytea NOT NULL,
  reader_id bigint NOT NULL, class smallint NOT NULL, journal_id bytea NOT NULL, seq bigint NOT NULL, chain bigint NOT NULL,
  PRIMARY KEY(wallet_id, counter, class, token_hash, reader_id))`;
const REFUNDS_SEQ_UPGRADE = 'ALTER TABLE refunds ADD COLUMN IF NOT EXISTS seq bigint GENERATED BY DEFAULT AS IDENTITY';
const REFUNDS_SEQ_INDEX = 'CREATE UNIQUE INDEX IF NOT EXISTS refunds_seq ON refunds(seq)';
/** pg_advisory_xact_lock key held by each refund insert, so seq follows commit order: 'offref' */
const REFUND_LOCK = 0x6f6666726566;

/**
 * One fixed-width byte column of a batch of entry rows as a single Buffer (`width` bytes a row, zeros where the
 * value is null) and whether each row has a value (putEntries). A value of another width is a caller's bug.
 */
function packFixed(rows: EntryRow[], width: number, get: (e: EntryRow) => Uint8Array | null, what: string): [Buffer, boolean[]] {
  const out = Buffer.alloc(width * rows.length);
  const has = new Array<boolean>(rows.length);
  for (let i = 0; i < rows.length; i++) {
    const v = get(rows[i]!);
    has[i] = v !== null;
    if (v === null) continue;
    if (v.length !== width) throw new Error(`entry ${rows[i]!.seq}: a ${what} is ${width} bytes, not ${v.length}`);
    out.set(v, width * i);
  }
  return [out, has];
}

// The few parts of node-postgres offpay uses, declared here so the shipped .d.ts files never need @types/pg.
/** A query result, as node-postgres returns it (the fields offpay reads). */
export interface PgResult {
  /** The rows, one object per row keyed by column name. */
  rows: Record<string, unknown>[];
  /** Rows written by an INSERT/UPDATE/DELETE (null for other statements). */
  rowCount: number | null;
}
/** Anything that runs a query: a pool or a client. */
export interface PgQueryable {
  /** Run `text` with `$1..$n` bound to `values`. */
  query(text: string, values?: unknown[]): Promise<PgResult>;
}
/** A client checked out of a pool (one connection, one transaction at a time). */
export interface PgClient extends PgQueryable {
  /** Give the connection back (an error destroys it instead). */
  release(err?: Error | boolean): void;
}
/** A node-postgres connection pool (the parts offpay uses). */
export interface PgPool extends PgQueryable {
  /** Check a client out for a transaction. */
  connect(): Promise<PgClient>;
  /** Close every connection. */
  end(): Promise<void>;
  /** Errors of idle connections (logged, never thrown). */
  on(event: 'error', fn: (e: Error) => void): unknown;
  /** Each new connection (before its first use). */
  on(event: 'connect', fn: (c: { on: (event: 'error', f: (e: unknown) => void) => unknown }) => void): unknown;
}
/** The `pg` module as offpay loads it (loadPgDriver): declared here so no shipped type needs @types/pg. */
export interface PgModule {
  /** The pool constructor. */
  Pool: PgPoolConstructor;
  /** Type parsers (bigint columns are read as bigint). */
  types: PgTypes;
}

/** `new pg.Pool(config)`. */
export interface PgPoolConstructor {
  /** A pool for `config` (connectionString, max, ...). */
  new (config: Record<string, unknown>): PgPool;
}

/** `pg.types`: the parsers node-postgres applies to column text. */
export interface PgTypes {
  /** The parser for type `oid` (20 = int8). */
  getTypeParser(oid: number, format?: string): (v: string) => unknown;
}

/**
 * Connections a node's pool holds unless told otherwise (`PgStoreOptions.poolSize`, `clearing serve --pool-size`).
 * Each batch is a transaction on a connection of its own, so this is also how many batches a node commits at once.
 */
export const DEFAULT_PG_POOL_SIZE = 4;

const nodeRequire = createRequire(import.meta.url);
/**
 * Load node-postgres. Without it: `clearing.pg_unavailable`, naming what to install (never a module-not-found
 * at import time: offpay users on SQLite never install it).
 */
export function loadPgDriver(load: (id: string) => unknown = nodeRequire): PgModule {
  try {
    const m = load(PG_DRIVER) as PgModule | { default: PgModule };
    return 'Pool' in m ? m : m.default;
  } catch (e) {
    const why = e instanceof Error ? e.message.split('\n')[0] : String(e);
    throw new OffpayError(
      'clearing.pg_unavailable',
      `the PostgreSQL client ${PG_DRIVER} (node-postgres) is not available (${why}); it is an optional peer dependency of offpay, needed only for a postgres:// clearing database: run \`npm install ${PG_DRIVER}\` next to offpay`,
    );
  }
}

type Row = Record<string, unknown>;
const KIND_NAMES = Object.keys(JournalKind) as JournalKindName[];
const u8 = (b: unknown): Uint8Array => {
  const x = b as Buffer;
  return new Uint8Array(x.buffer.slice(x.byteOffset, x.byteOffset + x.byteLength));
};
const buf = (b: Uint8Array | null): Buffer | null => (b === null ? null : Buffer.from(b.buffer, b.byteOffset, b.byteLength));
/** The columns of a RequestSaleRow (entries e, chains c), `voided` from the valid voids of the entry's journal. */
const REQUEST_SALE_COLUMNS = `c.reader_id, e.operator_id, c.journal_id, e.seq, e.time, e.token_hash, e.req_time, e.req_challenge,
  EXISTS (SELECT 1 FROM entries v WHERE v.chain = e.chain AND v.token_hash = e.token_hash AND v.kind = ${JournalKind.void} AND v.valid) AS voided`;
const requestSaleRow = (r: Record<string, unknown>): RequestSaleRow => ({
  readerId: Number(r.reader_id), operatorId: Number(r.operator_id), journalId: u8(r.journal_id), seq: Number(r.seq), time: Number(r.time), tokenHash: u8(r.token_hash),
  reqTime: Number(r.req_time), reqChallenge: u8(r.req_challenge), voided: r.voided === true,
});
/** counter_firsts' class of an entry kind, in SQL over `o.kind` (store.ts firstsClass). */
const FIRSTS_CLASS_SQL = `(CASE o.kind WHEN ${JournalKind.accept} THEN 0 WHEN ${JournalKind.conflict} THEN 1 WHEN ${JournalKind.tap_in} THEN 3 ELSE 2 END)`;
/** $1..$5 of building one wallet counter's firsts (counterFirsts). */
const counterParams = (q: CounterQuery): unknown[] => [prefixKey(q.walletId), q.counter, buf(q.walletId), q.chain, q.fresh];
const mate = (r: Record<string, unknown>): CounterMate => ({
  tokenHash: u8(r.hash), kind: Number(r.kind), chain: Number(r.chain), readerId: Number(r.reader_id), journalId: u8(r.journal_id), seq: Number(r.seq),
});
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** SQLSTATEs of a conflict with a concurrent transaction: serialization_failure, deadlock_detected, unique_violation. */
const RETRY = new Set(['40001', '40P01', '23505']);
const isRetryable = (e: unknown): boolean => typeof e === 'object' && e !== null && RETRY.has(String((e as { code?: unknown }).code));

/**
 * Whether an error means the connection or the server went away (a restart, a failover, a terminated backend,
 * a reset socket) or would not take a new connection now (too many connections, 53300; a database closed to
 * connections, `ALLOW_CONNECTIONS false`, whose 55000 is told by its message), not that the statement was wrong:
 * SQLSTATE class 08 and 57P01-57P03, the socket errors, and node-postgres's messages for a connection that
 * ended. Nothing of an open transaction was committed then.
 */
export function isConnectionLoss(e: unknown): boolean {
  const code = String((e as { code?: unknown } | null)?.code ?? '');
  if (code.startsWith('08') || code === '57P01' || code === '57P02' || code === '57P03' || code === '53300') return true;
  if (['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ENOTFOUND', 'EHOSTUNREACH'].includes(code)) return true;
  return /Connection terminated|not queryable|Connection ended|timeout exceeded when trying to connect|is not currently accepting connections/i.test(String((e as Error | null)?.message ?? ''));
}

/**
 * Whether the database refused a write for a reason retrying alone does not heal: 25006 (a read-only
 * transaction: the server is a standby after a failover, or default_transaction_read_only is on), 53100 (disk
 * full), 58030 (I/O error). Nothing of the transaction was committed.
 */
export function isWriteRefused(e: unknown): boolean {
  const code = String((e as { code?: unknown } | null)?.code ?? '');
  return code === '25006' || code === '53100' || code === '58030';
}

/**
 * A lost connection, or a write the database refused for good (isWriteRefused), as `clearing.store_unavailable`
 * (answered 503 by the service, retried by readers); any other error as it is.
 */
function unavailableOr(e: unknown, where: string): unknown {
  if (isWriteRefused(e)) {
    const code = String((e as { code?: unknown }).code);
    return new OffpayError('clearing.store_unavailable', `the clearing database ${where} refused a write (${code}: ${(e as Error).message}): nothing of the request was committed`, { pg: code, write: true });
  }
  return isConnectionLoss(e) ? new OffpayError('clearing.store_unavailable', `the clearing database ${where} is unreachable: ${(e as Error).message}`) : e;
}

/** Options of {@link openPgClearingStore}. */
export interface PgStoreOptions {
  /** postgres://user:password@host:port/database (a `host` query parameter may name a unix socket directory). */
  url: string;
  /** Connections in this process's pool (default 4; 1 .. 100). */
  poolSize?: number;
}

/** The URL without its password (for messages and `location`). */
export function redactPgUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    // node-postgres also takes a password (and a client key's) as query parameters.
    for (const k of ['password', 'sslpassword']) if (u.searchParams.has(k)) u.searchParams.set(k, '***');
    return u.toString();
  } catch {
    return 'postgres://(unparsable url)';
  }
}

/**
 * Open a pool of `max` connections on `url` (int8 read as a JS number: offpay's values fit in 2^53; an idle
 * connection that dies, a server restart, is dropped and the next query reconnects) and run `setup` in one
 * transaction holding the advisory lock `lock`, so that nodes starting at once do not race on CREATE. On any
 * failure the transaction is rolled back, the pool ended and the error thrown: an OffpayError as it is, any
 * other as `clearing.store_unusable` naming `what` and the URL without its password. The clearing store and the
 * webhook outbox (src/server/outbox-pg.ts) open their pools this way.
 */
export async function openPgPool(
  pg: PgModule, url: string, max: number, lock: number, what: string, setup: (client: PgClient, where: string) => Promise<void>,
): Promise<{ pool: PgPool; where: string }> {
  const pool = new pg.Pool({
    connectionString: url,
    // Whatever the server's or the database's defaults: a COMMIT returns only once it is durable (an answer
    // `ingested`, `accepted` or a queued event survives a crash, spec/clearing.md §11.3), and a transaction
    // that names no isolation level runs at READ COMMITTED (the refund insert, the outbox claim, §11.2).
    options: '-c synchronous_commit=on -c default_transaction_isolation=read\\ committed',
    max,
    types: { getTypeParser: (oid: number, format?: string) => (oid === 20 ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format)) },
  });
  // A connection whose server goes away emits 'error': an idle one on the pool ('error' above), a checked-out one
  // on itself, where pg-pool listens only while it is idle. Without a listener of its own that event would be an
  // uncaught exception: a PostgreSQL restart would take down every node. The query in progress rejects anyway.
  pool.on('error', () => {});
  pool.on('connect', (c) => c.on('error', () => {}));
  const where = redactPgUrl(url);
  let client: PgClient | undefined;
  try {
    // The setup of an upgrade takes strong locks on several tables in turn (ALTER TABLE, CREATE INDEX) while the
    // nodes still running may ingest, taking theirs in another order: PostgreSQL may then break a deadlock by
    // cancelling the setup (40P01). Nothing of it was committed: it runs again, after the other transaction ended.
    for (let attempt = 1; ; attempt++) {
      const c = await pool.connect();
      client = c;
      try {
        await c.query('BEGIN');
        await c.query('SELECT pg_advisory_xact_lock($1)', [lock]);
        await setup(c, where);
        await c.query('COMMIT');
        c.release();
        client = undefined;
        break;
      } catch (e) {
        const code = String((e as { code?: unknown } | null)?.code ?? '');
        if ((code !== '40P01' && code !== '40001') || attempt >= SETUP_ATTEMPTS) throw e;
        await c.query('ROLLBACK').catch(() => {});
        c.release();
        client = undefined;
        await sleep(Math.random() * 50 * attempt);
      }
    }
  } catch (e) {
    if (client) {
      await client.query('ROLLBACK').catch(() => {});
      client.release(true);
    }
    await pool.end().catch(() => {});
    if (e instanceof OffpayError) throw e;
    throw new OffpayError('clearing.store_unusable', `cannot use ${what} ${where}: ${(e as Error).message}`);
  }
  return { pool, where };
}

/**
 * Connect to PostgreSQL and create the clearing tables if needed (under an advisory lock, so nodes starting at
 * once do not race on CREATE). Throws `clearing.pg_unavailable`, `clearing.bad_option` (pool size),
 * `clearing.store_unusable` (cannot connect, or another schema version).
 */
export async function openPgClearingStore(o: PgStoreOptions, load?: (id: string) => unknown): Promise<PgClearingStore> {
  const poolSize = o.poolSize ?? DEFAULT_PG_POOL_SIZE;
  if (!Number.isSafeInteger(poolSize) || poolSize < 1 || poolSize > 100) throw new OffpayError('clearing.bad_option', `poolSize ${String(o.poolSize)} must be an integer in 1..100`);
  const { pool, where } = await openPgPool(loadPgDriver(load), o.url, poolSize, SCHEMA_LOCK, 'clearing database', async (client, where) => {
    const used = (await client.query("SELECT to_regclass('meta') IS NOT NULL AS used")).rows[0]!.used === true;
    let stored: unknown = PG_SCHEMA_VERSION;
    if (used) {
      stored = (await client.query("SELECT num FROM meta WHERE key = 'schema_version'")).rows[0]?.num;
      if (stored !== PG_SCHEMA_VERSION && !PG_UPGRADES_FROM.includes(stored)) throw new OffpayError('clearing.store_unusable', `clearing database ${where} has schema version ${String(stored)}, this offpay uses ${PG_SCHEMA_VERSION}`);
    }
    await client.query(SCHEMA);
    if (used) {
      const hasWriter = (await client.query("SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = 'entries' AND column_name = 'writer'")).rows.length > 0;
      if (!hasWriter) await client.query(WRITER_UPGRADE);
      if (!hasWriter || stored !== PG_SCHEMA_VERSION) await client.query(WRITER_FENCE);
    }
    await client.query(REFUNDS_SCHEMA);
    await client.query('CREATE TABLE IF NOT EXISTS verified_certs(digest bytea PRIMARY KEY)');
    // Schema 3 to 4: counter_firsts held tap-ins as sales (class 0) and a counter's tap-outs as one marker row, keyed
    // with the class last. Derived data: the table is made again, empty, and its rows recorded again, counter by
    // counter, from the entries (§11.1); the writer fence above refuses an older node from then on.
    if (used && stored !== PG_SCHEMA_VERSION) await client.query('DROP TABLE IF EXISTS counter_firsts');
    await client.query(FIRSTS_SCHEMA);
    await client.query('CREATE INDEX IF NOT EXISTS counter_firsts_order ON counter_firsts(wallet_id, counter, reader_id, journal_id, seq) WHERE class IN (0, 1, 3)');
    const hasSeq = (await client.query("SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = 'refunds' AND column_name = 'seq'")).rows.length > 0;
    if (!hasSeq) await client.query(REFUNDS_SEQ_UPGRADE);
    await client.query(REFUNDS_SEQ_INDEX);
    if ((await client.query("SELECT to_regclass('double_spends_key') IS NULL AS missing")).rows[0]!.missing === true) await client.query(FINDINGS_UPGRADE);
    // Schema 2 to 3 (spec/clearing.md M9): the request a valid request-bound accept answered, NULL in the rows held
    // (a sale taken before the upgrade is not compared); an index over those rows alone, chain first (a batch's rows
    // side by side). The writer fence above refuses an older node from then on (it would leave them empty).
    await client.query('ALTER TABLE entries ADD COLUMN IF NOT EXISTS req_time bigint, ADD COLUMN IF NOT EXISTS req_challenge bytea');
    await client.query('CREATE INDEX IF NOT EXISTS entries_request ON entries(chain, req_time, req_challenge) WHERE req_time IS NOT NULL');
    // Schema 1 to 2 with it: an older offpay, which neither keeps counter_firsts nor one finding per key, refuses the
    // database from then on (a writer that skipped counter_firsts would leave it stale: findings missed).
    await client.query("INSERT INTO meta(key, num) VALUES ('schema_version', $1) ON CONFLICT (key) DO UPDATE SET num = $1", [PG_SCHEMA_VERSION]);
  });
  return new PgClearingStore(pool, where, poolSize);
}

/**
 * The INSERT of a batch's entry rows as one statement with 24 parameters ($1 .. $24): each number and text
 * column as an array, unnested into rows. The byte columns are of fixed width (hashes 32 bytes, wallet ids 16)
 * and go as one binary bytea each, n slots end to end, cut per row in SQL, with a presence array for those that
 * may be null: node-postgres sends a Buffer parameter as binary, while an array of bytea goes as text, every
 * byte as two hex digits. `source` is the SQL for the source column (`r.source`: the rows' own).
 */
function entriesInsert(rows: EntryRow[], source: string): { sql: string; params: unknown[] } {
  const col = <T>(f: (e: EntryRow) => T) => rows.map(f);
  const [tokenHash, hasTokenHash] = packFixed(rows, 32, (e) => e.tokenHash, 'token hash');
  const [prevHash, hasPrevHash] = packFixed(rows, 32, (e) => e.prevHash, 'prev hash');
  const [hash] = packFixed(rows, 32, (e) => e.hash, 'chain hash');
  const [walletId, hasWalletId] = packFixed(rows, 16, (e) => e.walletId, 'wallet id');
  const [reqChallenge, hasReqChallenge] = packFixed(rows, 8, (e) => e.reqChallenge, 'request challenge');
  return {
    sql: `INSERT INTO entries(chain, seq, kind, time, value, amount, token_hash, prev_hash, hash, valid, reason, operator_id, source, token_at, token_len,
             wallet_key, wallet_id, counter, currency, cert_key, allowance, req_time, req_challenge, writer)
           SELECT r.chain, r.seq, r.kind, r.time, r.value, r.amount,
             CASE WHEN r.has_token_hash THEN substring($7::bytea FROM (r.i::int - 1) * 32 + 1 FOR 32) END,
             CASE WHEN r.has_prev_hash THEN substring($8::bytea FROM (r.i::int - 1) * 32 + 1 FOR 32) END,
             substring($9::bytea FROM (r.i::int - 1) * 32 + 1 FOR 32),
             r.valid, r.reason, r.operator_id, ${source}, r.token_at, r.token_len, r.wallet_key,
             CASE WHEN r.has_wallet_id THEN substring($17::bytea FROM (r.i::int - 1) * 16 + 1 FOR 16) END,
             r.counter, r.currency, r.cert_key, r.allowance, r.req_time,
             CASE WHEN r.has_req_challenge THEN substring($26::bytea FROM (r.i::int - 1) * 8 + 1 FOR 8) END, ${PG_SCHEMA_VERSION}
           FROM unnest($1::bigint[], $2::bigint[], $3::smallint[], $4::bigint[], $5::bigint[], $6::bigint[], $22::boolean[], $23::boolean[],
             $10::boolean[], $11::text[], $12::bigint[], $13::bigint[], $14::bigint[], $15::bigint[], $16::bigint[], $24::boolean[], $18::bigint[], $19::bigint[],
             $20::bigint[], $21::bigint[], $25::bigint[], $27::boolean[]) WITH ORDINALITY
             AS r(chain, seq, kind, time, value, amount, has_token_hash, has_prev_hash, valid, reason, operator_id, source, token_at, token_len, wallet_key,
               has_wallet_id, counter, currency, cert_key, allowance, req_time, has_req_challenge, i)`,
    params: [
      col((e) => e.chain), col((e) => e.seq), col((e) => e.kind), col((e) => e.time), col((e) => e.value), col((e) => e.amount),
      tokenHash, prevHash, hash, col((e) => e.valid), col((e) => e.reason), col((e) => e.operatorId),
      col((e) => e.source), col((e) => e.tokenAt), col((e) => e.tokenLen), col((e) => (e.walletId ? prefixKey(e.walletId) : null)), walletId,
      col((e) => e.counter), col((e) => e.currency), col((e) => e.certKey), col((e) => e.allowance), hasTokenHash, hasPrevHash, hasWalletId,
      col((e) => e.reqTime), reqChallenge, hasReqChallenge,
    ],
  };
}

// Certificate digests (verified_certs) are 32 bytes each, sent as one binary bytea ($1) and cut in SQL, one row
// d.i for each of the $2 digests (an array of bytea would go as text, every byte as two hex digits).
const DIGESTS = 'generate_series(1, $2::int) AS d(i)';
const DIGEST_I = 'substring($1::bytea FROM (d.i - 1) * 32 + 1 FOR 32)';
function digestParams(digests: Uint8Array[]): [Buffer, number] {
  if (digests.some((d) => d.length !== 32)) throw new Error('a certificate digest is 32 bytes');
  return [Buffer.concat(digests), digests.length];
}

/** The PostgreSQL clearing store; open it with {@link openPgClearingStore}. */
/** How many times the setup of a pool (openPgPool) runs when PostgreSQL cancels it to break a deadlock. */
const SETUP_ATTEMPTS = 10;

/** What writeProbe throws to roll its transaction back. */
const PROBED = Symbol('write probe');

export class PgClearingStore implements ClearingStore {
  readonly engine = 'postgres' as const;
  private closed = false;
  /** Transactions run again after a conflict with a concurrent one (since open; for tests and benchmarks). */
  retries = 0;
  /** ClearingStore.writeFault: the SQLSTATE of the last write refused for good (isWriteRefused), until a write succeeds. */
  private fault: string | undefined;
  /** When `fault` was last set (ms). */
  private faultAt = 0;

  get writeFault(): string | undefined {
    return this.fault;
  }

  /** unavailableOr, and a write refused for good noted in writeFault. */
  private failure(e: unknown): unknown {
    if (isWriteRefused(e)) {
      this.fault = String((e as { code?: unknown }).code);
      this.faultAt = Date.now();
    }
    return unavailableOr(e, this.location);
  }

  /**
   * ClearingStore.writeProbe: an UPDATE in a transaction that is rolled back. PostgreSQL refuses any UPDATE in a
   * read-only transaction before it runs (25006), so a standby or a read-only database is found; a full disk is
   * found only by a COMMIT, at the next ingest.
   */
  async writeProbe(o: { holdMs?: number; nowMs?: number } = {}): Promise<void> {
    const ago = (o.nowMs ?? Date.now()) - this.faultAt;
    if (this.fault !== undefined && isSpaceFault(this.fault) && ago >= 0 && ago < (o.holdMs ?? WRITE_FAULT_HOLD_MS)) throw heldFaultError(this.location, this.fault, ago);
    await this.inTransaction('BEGIN', async (c) => {
      await c.query("UPDATE meta SET num = num WHERE key = 'write_probe'", []);
      throw PROBED;
    }).catch((e: unknown) => {
      if (e !== PROBED) throw e;
    });
    this.fault = undefined;
  }

  constructor(
    private readonly pool: PgPool,
    readonly location: string,
    /** Connections the pool holds at most: so also the batches this node has in a transaction at once. */
    readonly poolSize: number = DEFAULT_PG_POOL_SIZE,
  ) {}

  /** The pool as a PgQueryable whose lost connection is `clearing.store_unavailable` (statements outside a unit). */
  private readonly pooled: PgQueryable = {
    query: async (text, values) => {
      try {
        return await this.pool.query(text, values);
      } catch (e) {
        throw this.failure(e);
      }
    },
  };

  private async rows(text: string, values?: unknown[]): Promise<Row[]> {
    return (await this.pooled.query(text, values)).rows;
  }

  private txOf(c: PgClient): IngestTx {
    const one = async (text: string, values: unknown[]) => (await c.query(text, values)).rows[0];
    return {
      // One statement for the reads the fallback (store.ts readBatchView) makes one by one: the chain and the
      // reader (each a row or nulls), the batch digest and the two neighbouring links (null when not held: hash is
      // NOT NULL), and one row per held entry of the range (a single row of nulls when none is held).
      batchView: async ({ readerId, journalId, batchSeq, firstSeq, lastSeq }) => {
        const rs = (
          await c.query(
            `SELECT v.chain, v.digest, v.b_hash, v.b_prev, v.a_hash, v.a_prev, v.r_operator, v.r_profile, h.seq AS h_seq, h.hash AS h_hash, h.reason AS h_reason
             FROM (SELECT c.chain AS chain,
                     (SELECT b.digest FROM batches b WHERE b.chain = c.chain AND b.batch_seq = $3::bigint) AS digest,
                     (SELECT e.hash FROM entries e WHERE e.chain = c.chain AND e.seq = $4::bigint - 1 AND $4::bigint > 1) AS b_hash,
                     (SELECT e.prev_hash FROM entries e WHERE e.chain = c.chain AND e.seq = $4::bigint - 1 AND $4::bigint > 1) AS b_prev,
                     (SELECT e.hash FROM entries e WHERE e.chain = c.chain AND e.seq = $5::bigint + 1) AS a_hash,
                     (SELECT e.prev_hash FROM entries e WHERE e.chain = c.chain AND e.seq = $5::bigint + 1) AS a_prev,
                     r.operator_id AS r_operator, r.profile AS r_profile
                   FROM (SELECT 1) AS one
                   LEFT JOIN chains c ON c.reader_id = $1::bigint AND c.journal_id = $2::bytea
                   LEFT JOIN readers r ON r.reader_id = $1::bigint) AS v
             LEFT JOIN entries h ON h.chain = v.chain AND h.seq BETWEEN $4::bigint AND $5::bigint
             ORDER BY h.seq`,
            [readerId, buf(journalId), batchSeq, firstSeq, lastSeq],
          )
        ).rows;
        const r = rs[0]!;
        const held = new Map<number, { hash: Uint8Array; reason: string | null }>();
        for (const h of rs) if (h.h_seq !== null) held.set(Number(h.h_seq), { hash: u8(h.h_hash), reason: h.h_reason === null ? null : String(h.h_reason) });
        return {
          chain: r.chain === null ? undefined : Number(r.chain),
          digest: r.digest === null ? undefined : u8(r.digest),
          before: r.b_hash === null ? undefined : { hash: u8(r.b_hash), prevHash: r.b_prev === null ? null : u8(r.b_prev) },
          after: r.a_hash === null ? undefined : { hash: u8(r.a_hash), prevHash: r.a_prev === null ? null : u8(r.a_prev) },
          reader: r.r_operator === null ? undefined : { operatorId: Number(r.r_operator), profile: String(r.r_profile) },
          held,
        };
      },
      chainOf: async (readerId, journalId) => (await one('SELECT chain FROM chains WHERE reader_id = $1 AND journal_id = $2', [readerId, buf(journalId)]))?.chain as number | undefined,
      addChain: async (readerId, journalId) => {
        const r = await one('INSERT INTO chains(reader_id, journal_id) VALUES ($1, $2) ON CONFLICT (reader_id, journal_id) DO NOTHING RETURNING chain', [readerId, buf(journalId)]);
        if (r) return r.chain as number;
        return (await one('SELECT chain FROM chains WHERE reader_id = $1 AND journal_id = $2', [readerId, buf(journalId)]))!.chain as number;
      },
      batchDigest: async (chain, batchSeq) => {
        const r = await one('SELECT digest FROM batches WHERE chain = $1 AND batch_seq = $2', [chain, batchSeq]);
        return r ? u8(r.digest) : undefined;
      },
      entryLink: async (chain, seq) => {
        const r = await one('SELECT hash, prev_hash FROM entries WHERE chain = $1 AND seq = $2', [chain, seq]);
        return r ? { hash: u8(r.hash), prevHash: r.prev_hash === null ? null : u8(r.prev_hash) } : undefined;
      },
      reader: async (readerId) => {
        const r = await one('SELECT operator_id, profile FROM readers WHERE reader_id = $1', [readerId]);
        return r ? { operatorId: Number(r.operator_id), profile: String(r.profile) } : undefined;
      },
      putReader: async (readerId, operatorId, profile, cert) => {
        await c.query('INSERT INTO readers(reader_id, operator_id, profile, cert) VALUES ($1, $2, $3, $4) ON CONFLICT (reader_id) DO NOTHING', [readerId, operatorId, profile, buf(cert)]);
      },
      heldEntries: async (chain, from, to) => {
        const held = new Map<number, { hash: Uint8Array; reason: string | null }>();
        for (const r of (await c.query('SELECT seq, hash, reason FROM entries WHERE chain = $1 AND seq BETWEEN $2 AND $3', [chain, from, to])).rows) {
          held.set(Number(r.seq), { hash: u8(r.hash), reason: r.reason === null ? null : String(r.reason) });
        }
        return held;
      },
      dropEntries: async (chain, seqs) => {
        await c.query('DELETE FROM entries WHERE chain = $1 AND seq = ANY($2::bigint[])', [chain, seqs]);
      },
      putBatchBytes: async (chain, batchSeq, bytes) => (await one('INSERT INTO batch_bytes(chain, batch_seq, bytes) VALUES ($1, $2, $3) RETURNING id', [chain, batchSeq, buf(bytes)]))!.id as number,
      putEntries: async (rows) => {
        const { sql, params } = entriesInsert(rows, 'r.source');
        await c.query(sql, params);
      },
      // One statement for the batch's bytes, its entries (pointing into those bytes) and its record: the writes
      // the fallback (store.ts writeBatch) makes with putBatchBytes, putEntries and putBatch.
      putBatchWrites: async ({ chain, batchSeq, bytes, rows, batch }) => {
        const { sql, params } = entriesInsert(rows, 'CASE WHEN r.token_at IS NOT NULL THEN (SELECT id FROM bb) END');
        const n = params.length;
        await c.query(
          `WITH bb AS (INSERT INTO batch_bytes(chain, batch_seq, bytes) SELECT $${n + 1}::bigint, $${n + 2}::bigint, $${n + 3}::bytea WHERE $${n + 3}::bytea IS NOT NULL RETURNING id),
             ent AS (${sql}),
             bat AS (INSERT INTO batches(chain, batch_seq, first_seq, entries, head, digest, created_at)
               VALUES ($${n + 1}::bigint, $${n + 2}::bigint, $${n + 4}::bigint, $${n + 5}::bigint, $${n + 6}::bytea, $${n + 7}::bytea, $${n + 8}::bigint)
               ON CONFLICT (chain, batch_seq) DO UPDATE SET first_seq = EXCLUDED.first_seq, entries = EXCLUDED.entries, head = EXCLUDED.head, digest = EXCLUDED.digest, created_at = EXCLUDED.created_at)
           SELECT 1`,
          [...params, chain, batchSeq, bytes ? buf(bytes) : null, batch.firstSeq, batch.entries, buf(batch.head), buf(batch.digest), batch.createdAt],
        );
      },
      contested: async (chain, from, to) =>
        (
          await c.query(
            `SELECT e.seq AS seq FROM entries e
             WHERE e.chain = $1 AND e.seq BETWEEN $2 AND $3 AND e.wallet_key IS NOT NULL
               AND EXISTS (SELECT 1 FROM entries o WHERE o.wallet_key = e.wallet_key AND o.counter = e.counter AND o.wallet_id = e.wallet_id
                 AND o.valid AND NOT (o.chain = e.chain AND o.seq = e.seq))
             ORDER BY e.seq`,
            [chain, from, to],
          )
        ).rows.map((r) => Number(r.seq)),
      counterFirsts: async (q) => {
        if ((await c.query('SELECT 1 FROM counter_firsts WHERE wallet_id = $1 AND counter = $2 LIMIT 1', [buf(q.walletId), q.counter])).rows.length > 0) return;
        await c.query(
          `INSERT INTO counter_firsts(wallet_id, counter, token_hash, reader_id, class, journal_id, seq, chain)
           SELECT DISTINCT ON (x.hash, x.reader_id, x.class) $3, $2, x.hash, x.reader_id, x.class, x.journal_id, x.seq, x.chain
           FROM (SELECT o.token_hash AS hash, oc.reader_id AS reader_id, ${FIRSTS_CLASS_SQL} AS class, oc.journal_id, o.seq, o.chain
                 FROM entries o JOIN chains oc ON oc.chain = o.chain
                 WHERE o.wallet_key = $1 AND o.counter = $2 AND o.wallet_id = $3 AND o.valid AND NOT (o.chain = $4 AND o.seq = ANY($5::bigint[]))) AS x
           ORDER BY x.hash, x.reader_id, x.class, x.journal_id, x.seq
           ON CONFLICT DO NOTHING`,
          counterParams(q),
        );
      },
      firstMates: async (q, readerId, hashes) =>
        (
          await c.query(
            `SELECT x.* FROM unnest($3::text[]) AS h(hex) CROSS JOIN (VALUES (0), (3)) AS k(cls) CROSS JOIN LATERAL (
               (SELECT token_hash AS hash, reader_id, class, journal_id, seq, chain FROM counter_firsts
                 WHERE wallet_id = $1 AND counter = $2 AND token_hash = decode(h.hex, 'hex') AND reader_id = $4 AND class = k.cls)
               UNION ALL
               (SELECT token_hash AS hash, reader_id, class, journal_id, seq, chain FROM counter_firsts
                 WHERE wallet_id = $1 AND counter = $2 AND token_hash = decode(h.hex, 'hex') AND reader_id <> $4 AND class = k.cls ORDER BY reader_id LIMIT 1)) AS x`,
            [buf(q.walletId), q.counter, hashes.map(toHex), readerId],
          )
        ).rows.map((r) => mate({ ...r, kind: classKind(Number(r.class)) })),
      tokenTrips: async (q, h) => {
        // Two rows of each class at most, whatever the readers that took the token (M5).
        const rows = (
          await c.query(
            `(SELECT token_hash AS hash, reader_id, class, journal_id, seq, chain FROM counter_firsts
               WHERE wallet_id = $1 AND counter = $2 AND class = 3 AND token_hash = $3 ORDER BY reader_id LIMIT 2)
             UNION ALL
             (SELECT token_hash AS hash, reader_id, class, journal_id, seq, chain FROM counter_firsts
               WHERE wallet_id = $1 AND counter = $2 AND class = 2 AND token_hash = $3 ORDER BY reader_id LIMIT 2)`,
            [buf(q.walletId), q.counter, buf(h)],
          )
        ).rows;
        return {
          tapIns: rows.filter((r) => Number(r.class) === 3).slice(0, 2).map((r) => mate({ ...r, kind: JournalKind.tap_in })),
          tapOutReaders: rows.filter((r) => Number(r.class) === 2).slice(0, 2).map((r) => Number(r.reader_id)),
        };
      },
      putCounterFirsts: async (q, entries) => {
        if (!entries.length) return;
        await c.query(
          `INSERT INTO counter_firsts(wallet_id, counter, token_hash, reader_id, class, journal_id, seq, chain)
           SELECT DISTINCT ON (u.h, u.reader_id, u.class) $1, $2, decode(u.h, 'hex'), u.reader_id, u.class, decode(u.j, 'hex'), u.seq, u.chain
           FROM unnest($3::text[], $4::bigint[], $5::smallint[], $6::text[], $7::bigint[], $8::bigint[]) AS u(h, reader_id, class, j, seq, chain)
           ORDER BY u.h, u.reader_id, u.class, decode(u.j, 'hex'), u.seq
           ON CONFLICT (wallet_id, counter, class, token_hash, reader_id) DO UPDATE SET journal_id = excluded.journal_id, seq = excluded.seq, chain = excluded.chain
           WHERE (excluded.journal_id, excluded.seq) < (counter_firsts.journal_id, counter_firsts.seq)`,
          [
            buf(q.walletId), q.counter, entries.map((e) => toHex(e.tokenHash)), entries.map((e) => e.readerId), entries.map((e) => firstsClass(e.kind)),
            entries.map((e) => toHex(e.journalId)), entries.map((e) => e.seq), entries.map((e) => e.chain),
          ],
        );
      },
      heldFindings: async (q, readerId, hashes): Promise<HeldFindings> => ({
        doubleSpends: (
          await c.query("SELECT kind FROM double_spends WHERE kind IN ('counter_reuse', 'same_token_twice') AND wallet_id = $1 AND counter = $2", [buf(q.walletId), q.counter])
        ).rows.map((r) => r.kind as HeldFindings['doubleSpends'][number]),
        listed: hashes.length
          ? (
              await c.query("SELECT token_hash AS hash FROM reader_faults WHERE reader_id = $1 AND token_hash IN (SELECT decode(x, 'hex') FROM unnest($2::text[]) AS x)", [readerId, hashes.map(toHex)])
            ).rows.map((r) => u8(r.hash))
          : [],
      }),
      firstOtherToken: async (q, notHash) => {
        // Is there a sale or conflict row of another token? Two seeks in the primary key's token order (the ordered
        // read below would step over every row of notHash: one a reader that sold it).
        if (notHash) {
          const any = (
            await c.query(
              `SELECT EXISTS (SELECT 1 FROM counter_firsts WHERE wallet_id = $1 AND counter = $2 AND token_hash < $3 AND class IN (0, 1, 3))
                   OR EXISTS (SELECT 1 FROM counter_firsts WHERE wallet_id = $1 AND counter = $2 AND token_hash > $3 AND class IN (0, 1, 3)) AS any`,
              [buf(q.walletId), q.counter, buf(notHash)],
            )
          ).rows[0]!.any;
          if (!any) return undefined;
        }
        const r = (
          await c.query(
            `SELECT token_hash AS hash, class, reader_id, journal_id, seq, chain FROM counter_firsts
             WHERE wallet_id = $1 AND counter = $2 AND class IN (0, 1, 3) AND ($3::bytea IS NULL OR token_hash <> $3::bytea)
             ORDER BY reader_id, journal_id, seq LIMIT 1`,
            [buf(q.walletId), q.counter, notHash ? buf(notHash) : null],
          )
        ).rows[0];
        return r ? mate({ ...r, kind: classKind(Number(r.class)) }) : undefined;
      },
      putDoubleSpend: async (d) =>
        ((
          await c.query(
            `INSERT INTO double_spends(kind, wallet_id, counter, a_hash, a_chain, a_seq, b_hash, b_chain, b_seq, detected_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
             ON CONFLICT DO NOTHING`,
            [d.kind, buf(d.walletId), d.counter, buf(d.aHash), d.aChain, d.aSeq, buf(d.bHash), d.bChain, d.bSeq, d.detectedAt],
          )
        ).rowCount ?? 0) > 0,
      putReaderFault: async (f) =>
        ((
          await c.query(
            'INSERT INTO reader_faults(kind, reader_id, token_hash, a_chain, a_seq, b_chain, b_seq, detected_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING',
            [f.kind, f.readerId, buf(f.tokenHash), f.aChain, f.aSeq, f.bChain, f.bSeq, f.detectedAt],
          )
        ).rowCount ?? 0) > 0,
      block: (walletId, reason, at) => this.blockOn(c, walletId, reason, at),
      problem: (readerId, kind, detail, at) => this.problemOn(c, readerId, kind, detail, at),
      putBatch: async (b: BatchRow) => {
        await c.query(
          `INSERT INTO batches(chain, batch_seq, first_seq, entries, head, digest, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)
           ON CONFLICT (chain, batch_seq) DO UPDATE SET first_seq = EXCLUDED.first_seq, entries = EXCLUDED.entries, head = EXCLUDED.head, digest = EXCLUDED.digest, created_at = EXCLUDED.created_at`,
          [b.chain, b.batchSeq, b.firstSeq, b.entries, buf(b.head), buf(b.digest), b.createdAt],
        );
      },
    };
  }

  private async blockOn(q: PgQueryable, walletId: Uint8Array, reason: string, at: number): Promise<boolean> {
    return ((await q.query('INSERT INTO blocklist(wallet_id, reason, added_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING', [buf(walletId), reason, at])).rowCount ?? 0) > 0;
  }

  private async problemOn(q: PgQueryable, readerId: number, kind: string, detail: string, at: number): Promise<void> {
    await q.query('INSERT INTO problems(reader_id, kind, detail, at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING', [readerId, kind, detail, at]);
  }

  /** A pooled connection for a transaction; a database that cannot be reached is `clearing.store_unavailable`. */
  private async connect(): Promise<PgClient> {
    try {
      return await this.pool.connect();
    } catch (e) {
      throw this.failure(e);
    }
  }

  /** One batch: SERIALIZABLE, run again from the start after a conflict with a concurrent transaction. */
  private async atomic<T>(fn: (tx: IngestTx) => Promise<T>): Promise<T> {
    const c = await this.connect();
    let broken = false;
    try {
      const tx = this.txOf(c);
      for (let attempt = 1; ; attempt++) {
        await c.query('BEGIN ISOLATION LEVEL SERIALIZABLE');
        try {
          const r = await fn(tx);
          await c.query('COMMIT');
          this.fault = undefined;
          return r;
        } catch (e) {
          await c.query('ROLLBACK').catch(() => {
            broken = true;
          });
          // A lost connection committed nothing: the caller is told so (a reader resends; the ingest is idempotent).
          if (broken || isConnectionLoss(e)) {
            broken = true;
            throw this.failure(e);
          }
          if (isFenced(e)) throw schemaChangedError(this.location);
          if (isWriteRefused(e)) throw this.failure(e);
          if (!isRetryable(e) || attempt >= MAX_ATTEMPTS) throw e;
          this.retries++;
          // Jittered backoff, growing: the two conflicting nodes do not collide again in step.
          await sleep(Math.random() * Math.min(100, 2 * attempt));
        }
      }
    } finally {
      c.release(broken);
    }
  }

  session<T>(fn: (s: IngestSession) => Promise<T>): Promise<T> {
    return fn({
      atomic: (f) => this.atomic(f),
      isDuplicate: async (readerId, journalId, batchSeq, digest) => {
        const r = await this.rows('SELECT b.digest FROM chains c JOIN batches b ON b.chain = c.chain WHERE c.reader_id = $1 AND c.journal_id = $2 AND b.batch_seq = $3', [
          readerId, buf(journalId), batchSeq,
        ]);
        return r.length > 0 && Buffer.compare(r[0]!.digest as Buffer, buf(digest)!) === 0;
      },
      problem: (readerId, kind, detail, at) => this.problemOn(this.pooled, readerId, kind, detail, at),
      knownCerts: async (digests) => {
        if (!digests.length) return [];
        const held = await this.rows(`SELECT d.i FROM ${DIGESTS} JOIN verified_certs v ON v.digest = ${DIGEST_I}`, digestParams(digests));
        const out = digests.map(() => false);
        for (const r of held) out[Number(r.i) - 1] = true;
        return out;
      },
      rememberCerts: async (digests) => {
        if (!digests.length) return;
        await this.rows(`INSERT INTO verified_certs(digest) SELECT ${DIGEST_I} FROM ${DIGESTS} ON CONFLICT DO NOTHING`, digestParams(digests));
      },
      checkpoint: async () => {}, // every atomic unit is its own committed transaction
    });
  }

  async schemaCurrent(): Promise<boolean> {
    return (await this.rows("SELECT num FROM meta WHERE key = 'schema_version'"))[0]?.num === PG_SCHEMA_VERSION;
  }

  async getMeta(key: string): Promise<Uint8Array | number | undefined> {
    const r = (await this.rows('SELECT num, bytes FROM meta WHERE key = $1', [key]))[0];
    if (!r) return undefined;
    return r.bytes !== null ? u8(r.bytes) : r.num === null ? undefined : Number(r.num);
  }

  /** Store a setting, replacing any earlier value (ClearingStore.setMeta). */
  async setMeta(key: string, value: Uint8Array | number): Promise<void> {
    const [num, bytes] = typeof value === 'number' ? [value, null] : [null, buf(value)];
    await this.rows('INSERT INTO meta(key, num, bytes) VALUES ($1, $2, $3) ON CONFLICT (key) DO UPDATE SET num = EXCLUDED.num, bytes = EXCLUDED.bytes', [key, num, bytes]);
    this.fault = undefined; // a write that committed
  }

  async nextBlocklist(): Promise<NextBlocklist> {
    let out: NextBlocklist | undefined;
    // READ COMMITTED: the version row stays locked until COMMIT, so a concurrent issuer's increment waits for it,
    // and each statement reads what was committed when it starts: the list is read after every lower version's.
    await this.inTransaction('BEGIN ISOLATION LEVEL READ COMMITTED', async (c) => {
      const r = await c.query("INSERT INTO meta(key, num) VALUES ('blocklist_version', 1) ON CONFLICT (key) DO UPDATE SET num = COALESCE(meta.num, 0) + 1 RETURNING num", []);
      const ids = await c.query('SELECT wallet_id FROM blocklist ORDER BY wallet_id', []);
      out = { version: Number(r.rows[0]!.num), walletIds: ids.rows.map((x) => u8(x.wallet_id)) };
    });
    return out!;
  }

  async block(walletId: Uint8Array, reason: string, at: number): Promise<boolean> {
    const inserted = await this.blockOn(this.pooled, walletId, reason, at);
    if (inserted) this.fault = undefined; // a write that committed
    return inserted;
  }

  async blocklist(): Promise<BlocklistRow[]> {
    return (await this.rows('SELECT wallet_id, reason, added_at FROM blocklist ORDER BY wallet_id')).map((r) => ({ walletId: u8(r.wallet_id), reason: String(r.reason), addedAt: Number(r.added_at) }));
  }

  async conflictWallets(): Promise<Uint8Array[]> {
    return (await this.rows(`SELECT DISTINCT wallet_id FROM entries WHERE kind = ${JournalKind.conflict} AND valid ORDER BY wallet_id`)).map((r) => u8(r.wallet_id));
  }

  async heldBatches(readerId: number): Promise<HeldJournal[]> {
    const rows = await this.rows(
      `SELECT c.journal_id, b.batch_seq, b.first_seq, b.entries, b.head FROM chains c LEFT JOIN batches b ON b.chain = c.chain
       WHERE c.reader_id = $1 ORDER BY c.journal_id, b.batch_seq`,
      [readerId],
    );
    const out: HeldJournal[] = [];
    let key = '';
    for (const r of rows) {
      const j = toHex(r.journal_id as Buffer);
      if (j !== key) {
        out.push({ journalId: u8(r.journal_id), batches: [] });
        key = j;
      }
      if (r.batch_seq !== null) out[out.length - 1]!.batches.push({ batchSeq: Number(r.batch_seq), firstSeq: Number(r.first_seq), entries: Number(r.entries), head: u8(r.head) });
    }
    return out;
  }

  async indexPayments(): Promise<void> {
    // Built CONCURRENTLY: the other nodes go on ingesting while the index is built over what the batch CLI may
    // have filled (a plain CREATE INDEX blocks every insert into entries until it ends). That cannot run in a
    // transaction, so nodes starting at once take turns under a session advisory lock; an index left invalid by
    // a build that failed (its node killed) is dropped and built again. The lock is polled (pg_try_advisory_lock,
    // short statements), never waited for in a statement: a concurrent build waits for every open transaction,
    // so a node blocked in pg_advisory_lock while another builds would be a deadlock. Between two polls the
    // connection goes back to the pool: while another node builds (minutes on a large house), this node's batches,
    // reads and health checks still have its connections, even with a pool of two.
    for (;;) {
      const c = await this.connect();
      let broken = false;
      try {
        if ((await c.query('SELECT pg_try_advisory_lock($1) AS got', [PAYMENTS_INDEX_LOCK])).rows[0]!.got) {
          try {
            const r = await c.query("SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass('entries_token')", []);
            const valid = r.rows[0]?.indisvalid;
            if (valid === true) return;
            if (valid === false) await c.query('DROP INDEX CONCURRENTLY IF EXISTS entries_token', []);
            await c.query('CREATE INDEX CONCURRENTLY IF NOT EXISTS entries_token ON entries(token_hash) WHERE token_hash IS NOT NULL', []);
            return;
          } finally {
            await c.query('SELECT pg_advisory_unlock($1)', [PAYMENTS_INDEX_LOCK]).catch(() => {
              broken = true; // a session lock dies with its connection: drop the connection, not the lock's owner
            });
          }
        }
      } catch (e) {
        throw this.failure(e);
      } finally {
        c.release(broken || undefined);
      }
      await sleep(50);
    }
  }

  /** Run `fn` on one client inside `begin` .. COMMIT, rolled back if it throws (no retry: not an ingest unit). */
  private async inTransaction(begin: string, fn: (c: PgClient) => Promise<void>): Promise<void> {
    const c = await this.connect();
    let broken = false;
    try {
      await c.query(begin);
      await fn(c);
      await c.query('COMMIT');
      if (!/READ ONLY/.test(begin)) this.fault = undefined;
    } catch (e) {
      await c.query('ROLLBACK').catch(() => {
        broken = true;
      });
      throw e === PROBED ? e : this.failure(e);
    } finally {
      c.release(broken || undefined);
    }
  }

  async tokenEntries(tokenHash: Uint8Array): Promise<TokenEntryRow[]> {
    const rows = await this.rows(
      `SELECT c.reader_id, c.journal_id, e.seq, e.kind, e.time, e.value, e.valid, e.reason, e.operator_id, e.wallet_key, e.wallet_id, e.currency,
              e.req_time, e.req_challenge
       FROM entries e JOIN chains c ON c.chain = e.chain WHERE e.token_hash = $1 AND e.kind != ${JournalKind.void}
       ORDER BY e.time, c.reader_id, c.journal_id, e.seq`,
      [buf(tokenHash)],
    );
    return rows.map((r) => ({
      readerId: Number(r.reader_id), journalId: u8(r.journal_id), seq: Number(r.seq), kind: Number(r.kind), time: Number(r.time), value: Number(r.value),
      valid: r.valid === true, reason: r.reason === null ? null : String(r.reason), operatorId: Number(r.operator_id),
      walletKey: r.wallet_key === null ? null : Number(r.wallet_key), walletId: r.wallet_id === null ? null : u8(r.wallet_id), currency: r.currency === null ? null : Number(r.currency),
      reqTime: r.req_time === null ? null : Number(r.req_time), reqChallenge: r.req_challenge === null ? null : u8(r.req_challenge),
    }));
  }

  async contestedRequestSales(): Promise<RequestSaleRow[]> {
    return (
      await this.rows(
        // Contested requests, then their rows joined back by (request time, challenge, operator) and the reader
        // checked through the chain: PostgreSQL hashes the few contested keys and reads the request rows once
        // (joining back through every journal of a reader probed it once per request).
        `WITH r AS (SELECT c.reader_id, e.req_time, e.req_challenge FROM entries e JOIN chains c ON c.chain = e.chain
                    WHERE e.req_time IS NOT NULL AND e.valid AND e.kind = ${JournalKind.accept}
                    GROUP BY 1, 2, 3 HAVING count(DISTINCT e.token_hash) > 1)
         SELECT ${REQUEST_SALE_COLUMNS}
         FROM entries e JOIN r ON e.req_time = r.req_time AND e.req_challenge = r.req_challenge
           JOIN chains c ON c.chain = e.chain AND c.reader_id = r.reader_id
         WHERE e.req_time IS NOT NULL AND e.valid AND e.kind = ${JournalKind.accept}`,
      )
    ).map(requestSaleRow);
  }

  async firstRequestSale(readerId: number, reqTime: number, reqChallenge: Uint8Array, tokenHash?: Uint8Array): Promise<RequestSaleRow | undefined> {
    const rows = await this.rows(
      `SELECT ${REQUEST_SALE_COLUMNS}
       FROM chains c JOIN entries e ON e.chain = c.chain AND e.req_time = $2 AND e.req_challenge = $3
       WHERE c.reader_id = $1 AND e.req_time IS NOT NULL AND e.valid AND e.kind = ${JournalKind.accept} ${tokenHash ? 'AND e.token_hash = $4' : ''}
         AND NOT EXISTS (SELECT 1 FROM entries v WHERE v.chain = e.chain AND v.token_hash = e.token_hash AND v.kind = ${JournalKind.void} AND v.valid)
       ORDER BY e.time < e.req_time, e.time, c.journal_id, e.seq LIMIT 1`,
      [readerId, reqTime, buf(reqChallenge), ...(tokenHash ? [buf(tokenHash)] : [])],
    );
    return rows[0] ? requestSaleRow(rows[0]) : undefined;
  }

  async isBlocked(walletId: Uint8Array): Promise<boolean> {
    return (await this.rows('SELECT 1 FROM blocklist WHERE wallet_id = $1', [buf(walletId)])).length > 0;
  }

  async settleRows(sink: (r: SettleRow) => void, walletKey?: number | readonly number[]): Promise<void> {
    const keys = walletKey === undefined ? undefined : typeof walletKey === 'number' ? [walletKey] : [...walletKey];
    if (keys && !keys.length) return;
    // One snapshot for the whole read (REPEATABLE READ), paged by the full key (wallet_key, counter, chain, seq)
    // so memory stays bounded and the order is total (ties within one counter are settled order-free anyway).
    await this.inTransaction('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY', async (c) => {
      const chains = new Map<number, { readerId: number; journalId: string }>();
      for (const r of (await c.query('SELECT chain, reader_id, journal_id FROM chains')).rows) chains.set(Number(r.chain), { readerId: Number(r.reader_id), journalId: toHex(r.journal_id as Buffer) });
      const voids = new Set<string>();
      for (const r of (await c.query(`SELECT chain, token_hash FROM entries WHERE kind = ${JournalKind.void} AND valid`)).rows) voids.add(`${Number(r.chain)}|${toHex(r.token_hash as Buffer)}`);
      let after: [number, number, number, number] = [-1, -1, -1, -1];
      for (;;) {
        const page = (
          await c.query(
            `SELECT chain, seq, kind, time, value, amount, token_hash, operator_id, wallet_key, wallet_id, counter, currency, cert_key, allowance
             FROM entries
             WHERE wallet_key IS NOT NULL AND valid AND kind IN (${JournalKind.accept}, ${JournalKind.tap_in}, ${JournalKind.tap_out})
               AND (wallet_key, counter, chain, seq) > ($1, $2, $3, $4) ${keys === undefined ? '' : 'AND wallet_key = ANY($6::bigint[])'}
             ORDER BY wallet_key, counter, chain, seq LIMIT $5`,
            keys === undefined ? [...after, PAGE] : [...after, PAGE, keys],
          )
        ).rows;
        for (const r of page) {
          const kind = Number(r.kind);
          const chain = chains.get(Number(r.chain))!;
          const tokenHash = r.token_hash as Buffer;
          sink({
            readerId: chain.readerId, journalId: chain.journalId, seq: Number(r.seq), kind, time: Number(r.time), value: Number(r.value),
            amount: kind === JournalKind.tap_out ? Number(r.amount) : Number(r.value), tokenHash, operatorId: Number(r.operator_id), walletKey: Number(r.wallet_key),
            walletId: r.wallet_id as Buffer, counter: Number(r.counter), currency: Number(r.currency), certKey: Number(r.cert_key), allowance: Number(r.allowance),
            voided: voids.size > 0 && kind !== JournalKind.tap_out && voids.has(`${Number(r.chain)}|${toHex(tokenHash)}`),
          });
        }
        if (page.length < PAGE) break;
        const l = page[page.length - 1]!;
        after = [Number(l.wallet_key), Number(l.counter), Number(l.chain), Number(l.seq)];
      }
    });
  }

  async evidence(
    chain: number,
    seq: number,
  ): Promise<EntryEvidence> {
    const e = (
      await this.rows(
        `SELECT c.reader_id, c.journal_id, e.kind, e.value, substring(b.bytes FROM (e.token_at + 1)::int FOR e.token_len::int) AS token
         FROM entries e JOIN chains c ON c.chain = e.chain LEFT JOIN batch_bytes b ON b.id = e.source WHERE e.chain = $1 AND e.seq = $2`,
        [chain, seq],
      )
    )[0]!;
    return { readerId: Number(e.reader_id), journalId: u8(e.journal_id), kind: KIND_NAMES[Number(e.kind)]!, value: Number(e.value), token: e.token === null ? null : u8(e.token) };
  }

  async tokenBytes(readerId: number, journalId: Uint8Array, seq: number): Promise<Uint8Array | undefined> {
    const r = (
      await this.rows(
        `SELECT substring(b.bytes FROM (e.token_at + 1)::int FOR e.token_len::int) AS token FROM chains c JOIN entries e ON e.chain = c.chain JOIN batch_bytes b ON b.id = e.source
         WHERE c.reader_id = $1 AND c.journal_id = $2 AND e.seq = $3`,
        [readerId, buf(journalId), seq],
      )
    )[0];
    return r?.token ? u8(r.token) : undefined;
  }

  async doubleSpendRows(): Promise<DoubleSpendRow[]> {
    return (await this.rows('SELECT * FROM double_spends ORDER BY detected_at, wallet_id, counter, kind COLLATE "C"')).map((r) => ({
      kind: r.kind as DoubleSpendRow['kind'], walletId: u8(r.wallet_id), counter: Number(r.counter),
      aHash: u8(r.a_hash), aChain: Number(r.a_chain), aSeq: Number(r.a_seq), bHash: u8(r.b_hash), bChain: Number(r.b_chain), bSeq: Number(r.b_seq), detectedAt: Number(r.detected_at),
    }));
  }

  async readerFaultRows(): Promise<ReaderFaultRow[]> {
    return (await this.rows('SELECT * FROM reader_faults ORDER BY detected_at, reader_id, token_hash')).map((r) => ({
      kind: 'token_listed_twice', readerId: Number(r.reader_id), tokenHash: u8(r.token_hash),
      aChain: Number(r.a_chain), aSeq: Number(r.a_seq), bChain: Number(r.b_chain), bSeq: Number(r.b_seq), detectedAt: Number(r.detected_at),
    }));
  }

  async chains(): Promise<ChainRow[]> {
    return (
      await this.rows(
        `SELECT c.chain, c.reader_id, c.journal_id, r.operator_id, r.profile, (SELECT count(*) FROM batches b WHERE b.chain = c.chain) AS batches
         FROM chains c JOIN readers r ON r.reader_id = c.reader_id ORDER BY c.reader_id, c.journal_id`,
      )
    ).map((r) => ({ chain: Number(r.chain), readerId: Number(r.reader_id), journalId: u8(r.journal_id), operatorId: Number(r.operator_id), profile: String(r.profile), batches: Number(r.batches) }));
  }

  async seqRuns(chain: number): Promise<[number, number][]> {
    // Gaps and islands: consecutive seqs share seq - row_number().
    const rows = await this.rows(
      'SELECT min(seq) AS a, max(seq) AS b FROM (SELECT seq, seq - row_number() OVER (ORDER BY seq) AS g FROM entries WHERE chain = $1) t GROUP BY g ORDER BY a',
      [chain],
    );
    return rows.map((r) => [Number(r.a), Number(r.b)]);
  }

  async problems(): Promise<ProblemRow[]> {
    return (await this.rows(`SELECT reader_id, kind, detail FROM problems WHERE kind != 'invalid_entry' ORDER BY at, reader_id, kind COLLATE "C", detail COLLATE "C"`)).map((p) => ({
      readerId: Number(p.reader_id), kind: String(p.kind), detail: String(p.detail),
    }));
  }

  async invalidEntries(): Promise<InvalidEntryRow[]> {
    return (await this.rows('SELECT c.reader_id, c.journal_id, e.seq, e.reason FROM entries e JOIN chains c ON c.chain = e.chain WHERE NOT e.valid ORDER BY c.reader_id, c.journal_id, e.seq')).map(
      (p) => ({ readerId: Number(p.reader_id), journalId: u8(p.journal_id), seq: Number(p.seq), reason: String(p.reason) }),
    );
  }

  async voidCount(): Promise<number> {
    return Number((await this.rows(`SELECT count(*) AS n FROM entries WHERE kind = ${JournalKind.void} AND valid`))[0]!.n);
  }

  async refundOf(tokenHash: Uint8Array): Promise<RefundRow | undefined> {
    const r = (await this.rows('SELECT * FROM refunds WHERE token_hash = $1', [buf(tokenHash)]))[0];
    return r ? refundRow(r) : undefined;
  }

  async putRefund(r: RefundRow): Promise<boolean> {
    let inserted = false;
    // Under REFUND_LOCK until COMMIT: seq is drawn and committed before the next insert draws its own, so a
    // reader paging by seq never finds a lower seq appearing behind its cursor (refundsAfter).
    await this.inTransaction('BEGIN', async (c) => {
      await c.query('SELECT pg_advisory_xact_lock($1)', [REFUND_LOCK]);
      const res = await c.query(
        `INSERT INTO refunds(token_hash, bytes, operator_id, reader_id, wallet_id, amount, currency, charge, time, accepted_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (token_hash) DO NOTHING`,
        [buf(r.tokenHash), buf(r.bytes), r.operatorId, r.readerId, buf(r.walletId), r.amount, r.currency, r.charge, r.time, r.acceptedAt],
      );
      inserted = (res.rowCount ?? 0) > 0;
    });
    return inserted;
  }

  async refunds(): Promise<RefundRow[]> {
    return (await this.rows('SELECT * FROM refunds ORDER BY wallet_id, token_hash')).map(refundRow);
  }

  async refundsAfter(after: number, limit: number, upTo = Number.MAX_SAFE_INTEGER): Promise<HeldRefund[]> {
    return (await this.rows('SELECT * FROM refunds WHERE seq > $1 AND seq <= $2 ORDER BY seq LIMIT $3', [after, upTo, limit])).map((r) => ({ ...refundRow(r), seq: Number(r.seq) }));
  }

  async refundTotals(): Promise<RefundTotals> {
    return refundTotalsOf(await this.rows('SELECT currency, count(*) AS n, sum(amount)::text AS amount, max(seq) AS last FROM refunds GROUP BY currency ORDER BY currency'));
  }

  async claimMeta(key: string, value: Uint8Array): Promise<ClaimedMeta> {
    // One statement: of nodes racing, the first insert wins and every one gets the row held (DO UPDATE waits
    // for a concurrent insert of the key to commit, then returns that row, its values unchanged). xmax = 0
    // only on a row this statement inserted.
    const r = (await this.rows('INSERT INTO meta(key, bytes) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET key = meta.key RETURNING num, bytes, xmax = 0 AS inserted', [key, buf(value)]))[0]!;
    if (r.inserted === true) this.fault = undefined; // a write that committed
    return { inserted: r.inserted === true, value: r.bytes !== null ? u8(r.bytes) : Number(r.num) };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.end();
  }
}

function refundRow(r: Row): RefundRow {
  return {
    tokenHash: u8(r.token_hash), bytes: u8(r.bytes), operatorId: Number(r.operator_id), readerId: Number(r.reader_id), walletId: u8(r.wallet_id),
    amount: Number(r.amount), currency: Number(r.currency), charge: Number(r.charge), time: Number(r.time), acceptedAt: Number(r.accepted_at),
  };
}
