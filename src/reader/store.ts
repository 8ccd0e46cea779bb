/**
 * Durable reader state behind one small interface, so the reader logic is written once.
 *
 * `ReaderStore.transact(fn)` runs `fn` against a `ReaderTx` atomically: either every write in it commits
 * (durably, for the SQLite store: WAL + synchronous=FULL) or none does. The reader puts the window update,
 * the running totals, the token record and the journal entry of one decision into one transaction, and
 * returns the verdict only after `transact` returns.
 *
 * Two implementations run the same test suite: `MemoryReaderStore` (here; browsers and tests) and
 * `SqliteReaderStore` (src/reader/sqlite.ts; Node, better-sqlite3).
 */
import { toHex } from '../../base/hex.js';
import type { JournalRow } from './journal.js';
import type { WindowState } from './window.js';

/**
 * The state of a token a reader holds (spec/reader.md §6): `pending` (accepted, sale not finished), `completed`,
 * `voided` (amount released), `conflict` (evidence: a different token reused an accepted counter).
 */
export type TokenStatus = 'pending' | 'completed' | 'voided' | 'conflict';
/** Every {@link TokenStatus}, in their stored numeric order (index = stored value). */
export const TOKEN_STATUS: TokenStatus[] = ['pending', 'completed', 'voided', 'conflict'];

/** What the reader remembers about a token it accepted (or recorded as conflict evidence). */
export interface TokenRecord {
  /** SHA-256 of the token bytes, 32 bytes. */
  hash: Uint8Array;
  /** Where the sale stands. */
  status: TokenStatus;
  /** The paying wallet's id, 16 bytes. */
  walletId: Uint8Array;
  /** The token's wallet counter. */
  counter: number;
  /** Amount charged (or authorised, for a tap-in), minor units. */
  amount: number;
  /** ISO 4217 numeric currency code. */
  currency: number;
  /** Reader day (days since epoch, UTC) the token counted towards. */
  day: number;
  /** The certificate id (first 16 bytes of its issuer signature, see certIdOf). */
  certId: Uint8Array;
  /** Reader time of the decision. */
  acceptedAt: number;
  /** Journal entry that recorded it. */
  seq: number;
  /** Taken as a transit tap-in (amount is the maximum-fare authorisation). */
  trip: boolean;
  /** The challenge of the open request the token paid (absent for a token that answered no request). */
  challenge?: Uint8Array;
}

/**
 * One transaction of a {@link ReaderStore}: every read and write a reader verdict needs, committed together by
 * {@link ReaderStore.transact} (or none of them, if the callback throws).
 */
export interface ReaderTx {
  /** The anti-replay window of a wallet (16-byte id), or undefined if the wallet was never seen. */
  getWindow(walletId: Uint8Array): WindowState | undefined;
  /** Store the anti-replay window of a wallet. */
  putWindow(walletId: Uint8Array, state: WindowState): void;
  /** A running total (daily spend, spend under a certificate); 0 when absent. */
  getTotal(key: string): number;
  /** Store a running total (minor units). */
  putTotal(key: string, total: number): void;
  /** The record of the token with this SHA-256 hash (32 bytes), or undefined. */
  getToken(hash: Uint8Array): TokenRecord | undefined;
  /** Insert or replace a token record (keyed by its hash). */
  putToken(record: TokenRecord): void;
  /** The last journal row, or undefined for an empty journal. */
  head(): JournalRow | undefined;
  /** Append a journal row (its seq must follow the head's). */
  append(row: JournalRow): void;
  /** A metadata value (reader id, journal id, blocklist, open request...), or undefined. */
  getMeta(key: string): Uint8Array | undefined;
  /** Set a metadata value. */
  putMeta(key: string, value: Uint8Array): void;
}

/**
 * Where a {@link Reader} keeps its state: anti-replay windows, totals, token records, the journal and metadata.
 * Implementations: {@link MemoryReaderStore} (no durability) and `SqliteReaderStore` (`offpay/node`, durable).
 */
export interface ReaderStore {
  /** A name for the backend (`memory`, `sqlite`), for diagnostics. */
  readonly kind: string;
  /**
   * Run `fn` in one atomic transaction and return its result; if `fn` throws, nothing it wrote is kept. A read,
   * write or commit the store cannot do (disk full, I/O error) throws, and nothing of the transaction is kept
   * either: the reader then reports an error, never a verdict (spec/reader.md §1, a store that fails). Throw a
   * typed error: the SQLite store throws `reader.store_unusable` (`reader.corrupt_store` for a damaged file).
   */
  transact<T>(fn: (tx: ReaderTx) => T): T;
  /**
   * Journal rows with fromSeq <= seq <= toSeq (to the end when toSeq is omitted), ascending: the rows the store
   * holds (after a prune, not those below the oldest row kept).
   */
  journal(fromSeq: number, toSeq?: number): JournalRow[];
  /**
   * Delete what `plan` names (spec/reader.md §9.3); optional: a store without it cannot be pruned
   * (`Reader.prune` refuses with `reader.bad_config`). Each deletion stands alone (no rule needs two of them
   * together), so a store may commit them in several transactions; one that fails midway has deleted a part,
   * which a later prune finishes.
   */
  prune?(plan: PrunePlan): PruneCounts;
  /** Release the store (closes the database); the reader must not be used afterwards. */
  close(): void;
}

/**
 * What one prune deletes (spec/reader.md §9.3), computed by the reader from its profile, the time and the batches
 * clearing holds: the store only applies it. Windows, certificate totals, the blocklist, the open request and the
 * export records are never deleted.
 */
export interface PrunePlan {
  /** Journal rows with seq below this are deleted (0: none). The row at it and every later one are kept. */
  journalBefore: number;
  /** Token records with `acceptedAt` below this are deleted, but those whose hash is in `keepTokens`. */
  acceptedBefore: number;
  /** Token hashes (32 bytes) whose records stay whatever their age. */
  keepTokens: Uint8Array[];
  /** Totals whose key starts with `prefix` and for which `drop(key)` is true are deleted. */
  totals: PruneTotals;
  /** Metadata whose key starts with `prefix` and for which `drop(key, value)` is true are deleted. */
  meta: PruneMeta;
}

/** The totals a prune deletes (the reader's daily totals). */
export interface PruneTotals {
  /** Only keys with this prefix are looked at. */
  prefix: string;
  /** True to delete the total stored under `key`. */
  drop(key: string): boolean;
}

/** The metadata a prune deletes (the reader's tap-out records). */
export interface PruneMeta {
  /** Only keys with this prefix are looked at. */
  prefix: string;
  /** True to delete the value stored under `key`. */
  drop(key: string, value: Uint8Array): boolean;
}

/** How many of each a prune deleted. */
export interface PruneCounts {
  /** Journal rows. */
  journal: number;
  /** Token records. */
  tokens: number;
  /** Totals. */
  totals: number;
  /** Metadata values. */
  meta: number;
}

/** In-memory store: the same semantics without durability (browsers, tests, simulations). */
export class MemoryReaderStore implements ReaderStore {
  readonly kind = 'memory';
  private readonly windows = new Map<string, WindowState>();
  private readonly totals = new Map<string, number>();
  private readonly tokens = new Map<string, TokenRecord>();
  /** The journal rows held, ascending and contiguous: rows[i].seq = base + i (base 1 until a prune). */
  private readonly rows: JournalRow[] = [];
  private base = 1;
  private readonly meta = new Map<string, Uint8Array>();
  private undo: (() => void)[] | undefined;
  private closed = false;

  private set<K, V>(map: Map<K, V>, k: K, v: V): void {
    const had = map.has(k);
    const old = map.get(k);
    this.undo!.push(() => (had ? map.set(k, old as V) : map.delete(k)));
    map.set(k, v);
  }

  /** Run `fn` atomically: an undo log reverts every write if it throws (as the SQLite store rolls back). Not reentrant. */
  transact<T>(fn: (tx: ReaderTx) => T): T {
    if (this.closed) throw new Error('store is closed');
    if (this.undo) throw new Error('nested transactions are not supported');
    this.undo = [];
    const tx: ReaderTx = {
      getWindow: (w) => {
        const s = this.windows.get(toHex(w));
        return s && { high: s.high, bitmap: s.bitmap.slice() };
      },
      putWindow: (w, s) => this.set(this.windows, toHex(w), { high: s.high, bitmap: s.bitmap.slice() }),
      getTotal: (k) => this.totals.get(k) ?? 0,
      putTotal: (k, v) => this.set(this.totals, k, v),
      getToken: (h) => {
        const r = this.tokens.get(toHex(h));
        return r && { ...r };
      },
      putToken: (r) => this.set(this.tokens, toHex(r.hash), { ...r }),
      head: () => this.rows[this.rows.length - 1],
      append: (row) => {
        const head = this.rows[this.rows.length - 1];
        if (row.seq !== (head ? head.seq + 1 : this.base)) throw new Error(`journal append out of order: ${row.seq}`);
        this.rows.push(row);
        this.undo!.push(() => this.rows.pop());
      },
      getMeta: (k) => this.meta.get(k),
      putMeta: (k, v) => this.set(this.meta, k, v),
    };
    try {
      const out = fn(tx);
      this.undo = undefined;
      return out;
    } catch (e) {
      const undo = this.undo ?? [];
      this.undo = undefined;
      for (let i = undo.length - 1; i >= 0; i--) undo[i]!();
      throw e;
    }
  }

  journal(fromSeq: number, toSeq?: number): JournalRow[] {
    const last = this.base + this.rows.length - 1;
    const hi = Math.min(toSeq ?? last, last);
    const lo = Math.max(fromSeq, this.base);
    return hi < lo ? [] : this.rows.slice(lo - this.base, hi - this.base + 1);
  }

  /** The seq of the oldest journal row held (1 until a prune; the next row's seq when the journal is empty). */
  firstSeq(): number {
    return this.base;
  }

  /**
   * Start the journal at row `seq` (a store loaded from a pruned database: its oldest row). Only on an empty
   * journal, before any row is appended.
   */
  startJournalAt(seq: number): void {
    if (this.rows.length) throw new Error('the journal already holds rows');
    if (!Number.isSafeInteger(seq) || seq < 1) throw new Error(`bad first journal seq ${seq}`);
    this.base = seq;
  }

  prune(plan: PrunePlan): PruneCounts {
    if (this.closed) throw new Error('store is closed');
    if (this.undo) throw new Error('prune inside a transaction');
    return this.pruneWith(plan);
  }

  /**
   * Apply `plan`, calling `deleted` with each key removed (the IndexedDB store mirrors them on disk). The newest
   * journal row is never deleted (it is the chain head the next entry links to).
   */
  pruneWith(plan: PrunePlan, deleted?: (store: 'tokens' | 'totals' | 'meta', key: string) => void): PruneCounts {
    const counts: PruneCounts = { journal: 0, tokens: 0, totals: 0, meta: 0 };
    const drop = Math.min(plan.journalBefore - this.base, this.rows.length - 1);
    if (drop > 0) {
      this.rows.splice(0, drop);
      this.base += drop;
      counts.journal = drop;
    }
    const keep = new Set(plan.keepTokens.map(toHex));
    for (const [k, r] of this.tokens) {
      if (r.acceptedAt < plan.acceptedBefore && !keep.has(k)) {
        this.tokens.delete(k);
        deleted?.('tokens', k);
        counts.tokens++;
      }
    }
    for (const k of this.totals.keys()) {
      if (k.startsWith(plan.totals.prefix) && plan.totals.drop(k)) {
        this.totals.delete(k);
        deleted?.('totals', k);
        counts.totals++;
      }
    }
    for (const [k, v] of this.meta) {
      if (k.startsWith(plan.meta.prefix) && plan.meta.drop(k, v)) {
        this.meta.delete(k);
        deleted?.('meta', k);
        counts.meta++;
      }
    }
    return counts;
  }

  /** Nothing to release; present for the {@link ReaderStore} interface. */
  close(): void {
    this.closed = true;
  }
}
