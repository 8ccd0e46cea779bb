/// <reference lib="dom" preserve="true" />
// The public types of this browser module are DOM types (IDBFactory, LockManager, AudioBuffer...): a Node project
// that imports its entry point without the DOM lib still type-checks (the declaration keeps this reference).
/**
 * Durable reader state in a browser: IndexedDB behind the synchronous `ReaderStore` interface.
 *
 * IndexedDB is asynchronous and `ReaderStore.transact` is synchronous, so the store keeps a full copy of the
 * state in memory (a `MemoryReaderStore`, which gives the same atomic, all-or-nothing transactions), loaded
 * from IndexedDB when the store is opened. Every transaction that commits in memory is written to IndexedDB
 * as ONE readwrite transaction (durability 'strict'), queued in commit order; IndexedDB runs readwrite
 * transactions over the same object stores in the order they were created, so the disk state is always the
 * memory state after some prefix of the committed transactions.
 *
 * One page at a time: `open` takes the Web Lock `offpay-reader:NAME` and holds it until `close()`
 * (`reader.store_in_use` while another page holds it).
 *
 * Durability rule (spec/reader.md I8 / §9.2 item 3): a caller MUST `await store.flush()` after every call that
 * changes the reader's state (accept, tapOut, complete, void, loadBlocklist, openRequest, closeRequest, export)
 * and before it acts on the result (vends, opens the gate, shows "accepted" or "refunded", uploads). flush()
 * resolves when every transaction committed so far is on disk, and rejects with `reader.store_unusable` if
 * one could not be written; from then on the store refuses every transaction (fails closed), because memory
 * is ahead of the disk and a reload would forget a payment.
 *
 * Creation is explicit as for SQLite: `open(name, { mode: 'create' })` refuses an existing database
 * (`reader.store_exists`), `mode: 'open'` refuses a missing one (`reader.store_missing`).
 * The state is small (one window per wallet, one record per token); loading it all is bounded by what the
 * reader itself wrote.
 */
import { OffpayError } from '../../base/errors.js';
import type { JournalRow } from './journal.js';
import { MemoryReaderStore, type PruneCounts, type PrunePlan, type ReaderStore, type ReaderTx, type TokenRecord } from './store.js';
import type { WindowState } from './window.js';
import { fromHex, toHex } from '../../base/hex.js';

/** Object stores of the IndexedDB database, version 1. */
const STORES = ['windows', 'totals', 'tokens', 'journal', 'meta'] as const;
type StoreName = (typeof STORES)[number];
/** The IndexedDB schema version of a reader database (its object stores: windows, totals, tokens, journal, meta). */
export const INDEXEDDB_SCHEMA_VERSION = 1;

/**
 * One write of a committed transaction, as it goes to IndexedDB: a put (an add for journal rows), or a deletion
 * of a key or key range (a prune, spec/reader.md §9.3).
 */
type Write = { store: StoreName; key: IDBValidKey; value: unknown; add?: true } | { store: StoreName; del: IDBValidKey | IDBKeyRange };

function req<T>(r: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
}

function done(tx: IDBTransaction): Promise<void> {
  return new Promise((resolve, reject) => {
    // A request's error reaches the transaction before its abort, while tx.error is still null: keep it.
    let cause: unknown;
    tx.oncomplete = () => resolve();
    tx.onerror = (ev) => {
      cause ??= (ev.target as IDBRequest | null)?.error ?? tx.error;
    };
    tx.onabort = () => reject(tx.error ?? cause ?? new Error('IndexedDB transaction aborted'));
  });
}

/** How `IndexedDbReaderStore.open` opens a reader database (spec/reader.md §9.2). */
export interface IndexedDbOpenOptions {
  /** 'create' a new reader database (refused if it exists) or 'open' an existing one (refused if missing). */
  mode: 'create' | 'open';
  /** The IndexedDB factory (default globalThis.indexedDB). */
  indexedDB?: IDBFactory;
  /**
   * The Web Locks manager that makes one page at a time hold the database (default globalThis.navigator.locks;
   * without one, open refuses with `reader.store_unusable`).
   */
  locks?: LockManager;
  /** How long to wait for another page to let the database go, ms (default 2000: a reload's old page closing). */
  lockWaitMs?: number;
}

/** The Web Lock name that holds reader database `name` for one page (spec/reader.md §9.2 item 1). */
export function readerLockName(name: string): string {
  return `offpay-reader:${name}`;
}

/**
 * Take the Web Lock of `name` exclusively, waiting up to `waitMs` for its holder to let it go; resolves with the
 * function that releases it. Refuses with `reader.store_in_use` when it stays held.
 */
async function takeLock(locks: LockManager, name: string, waitMs: number): Promise<() => void> {
  // An AbortController and a timer rather than AbortSignal.timeout, which Safari 15.4-15.6 (Web Locks, no
  // AbortSignal.timeout) lacks.
  const controller = new AbortController();
  const signal = controller.signal;
  const timer = setTimeout(() => controller.abort(), waitMs);
  return new Promise<() => void>((resolve, reject) => {
    locks
      .request(readerLockName(name), { mode: 'exclusive', signal }, () => {
        clearTimeout(timer);
        return new Promise<void>((release) => resolve(release));
      })
      .catch((e: unknown) => {
        clearTimeout(timer);
        if (signal.aborted) reject(new OffpayError('reader.store_in_use', `reader database ${name} is open in another page or tab of this browser (its Web Lock ${readerLockName(name)} stayed held for ${waitMs} ms); close it there first`));
        else reject(new OffpayError('reader.store_unusable', `cannot take the Web Lock of reader database ${name}: ${(e as Error)?.message ?? String(e)}`));
      });
  });
}

export class IndexedDbReaderStore implements ReaderStore {
  readonly kind = 'indexeddb';
  private readonly mem = new MemoryReaderStore();
  private queue: Promise<void> = Promise.resolve();
  private failure: OffpayError | undefined;
  private closed = false;

  /** IndexedDB transactions queued and not yet settled, in commit order (a failure aborts those after it). */
  private readonly inflight: IDBTransaction[] = [];

  private constructor(
    private readonly db: IDBDatabase,
    /** The IndexedDB database name. */
    readonly name: string,
    private readonly release: () => void,
  ) {}

  /** Open (or create) the reader database `name`; see the module comment for the modes. */
  static async open(name: string, options: IndexedDbOpenOptions): Promise<IndexedDbReaderStore> {
    const factory = options.indexedDB ?? globalThis.indexedDB;
    if (!factory) throw new OffpayError('reader.store_unusable', 'this browser has no IndexedDB');
    const locks = options.locks ?? (globalThis as { navigator?: { locks?: LockManager } }).navigator?.locks;
    if (!locks) {
      throw new OffpayError('reader.store_unusable', 'this browser has no Web Locks (navigator.locks, which needs a secure context: https or localhost): a reader database must be held by one page at a time');
    }
    // One page at a time (spec/reader.md §9.2 item 1): two pages each working from their own copy in memory would
    // each take the same token once (vend once, I1), overwrite each other's journal rows, and undo each other's
    // blocklist.
    const release = await takeLock(locks, name, options.lockWaitMs ?? 2000);
    try {
      return await IndexedDbReaderStore.openHeld(factory, name, options, release);
    } catch (e) {
      release();
      throw e;
    }
  }

  private static async openHeld(factory: IDBFactory, name: string, options: IndexedDbOpenOptions, release: () => void): Promise<IndexedDbReaderStore> {
    let created = false;
    const open = factory.open(name, INDEXEDDB_SCHEMA_VERSION);
    open.onupgradeneeded = (e) => {
      if (e.oldVersion !== 0) return;
      created = true;
      if (options.mode === 'open') {
        open.transaction!.abort();
        return;
      }
      for (const s of STORES) open.result.createObjectStore(s);
    };
    let db: IDBDatabase;
    try {
      db = await req(open);
    } catch (e) {
      if (created && options.mode === 'open') {
        throw new OffpayError('reader.store_missing', `reader database ${name} does not exist in this browser; a reader database is created only explicitly`);
      }
      throw new OffpayError('reader.store_unusable', `cannot open IndexedDB database ${name}: ${(e as Error)?.message ?? String(e)}`);
    }
    if (options.mode === 'create' && !created) {
      db.close();
      throw new OffpayError('reader.store_exists', `reader database ${name} already exists in this browser`);
    }
    if (STORES.some((s) => !db.objectStoreNames.contains(s))) {
      db.close();
      throw new OffpayError('reader.store_missing', `${name} is not a reader database`);
    }
    const store = new IndexedDbReaderStore(db, name, release);
    try {
      await store.load();
    } catch (e) {
      db.close();
      throw e;
    }
    return store;
  }

  /** Copy every record from IndexedDB into the memory store (one read transaction). */
  private async load(): Promise<void> {
    const tx = this.db.transaction([...STORES], 'readonly');
    const all = async (s: StoreName): Promise<[IDBValidKey[], unknown[]]> => [await req(tx.objectStore(s).getAllKeys()), await req(tx.objectStore(s).getAll())];
    const [windows, totals, tokens, journal, meta] = await Promise.all(STORES.map(all));
    try {
      // A pruned journal starts at its oldest row kept (spec/reader.md §9.3); the rows from there are contiguous.
      const first = journal![0].length ? (journal![0][0] as number) : 1;
      this.mem.startJournalAt(first);
      this.mem.transact((m) => {
        // Windows are keyed by wallet-id hex; ReaderTx takes the bytes, so rebuild them from the key.
        windows![0].forEach((k, i) => m.putWindow(fromHex(k as string), windows![1][i] as WindowState));
        totals![0].forEach((k, i) => m.putTotal(k as string, totals![1][i] as number));
        for (const r of tokens![1] as TokenRecord[]) m.putToken(r);
        journal![0].forEach((k, i) => {
          const r = journal![1][i] as JournalRow;
          // getAll returns ascending keys (seq): a gap or a row under another key is damage, not a journal.
          if (k !== first + i || r?.seq !== k) throw new Error(`journal row ${String(k)} where row ${first + i} belongs`);
          m.append(r);
        });
        meta![0].forEach((k, i) => m.putMeta(k as string, meta![1][i] as Uint8Array));
      });
    } catch (e) {
      throw new OffpayError('reader.corrupt_store', `reader database ${this.name} is damaged: ${(e as Error)?.message ?? String(e)}`);
    }
  }

  transact<T>(fn: (tx: ReaderTx) => T): T {
    if (this.closed) throw new Error('store is closed');
    if (this.failure) throw this.failure;
    const writes: Write[] = [];
    const out = this.mem.transact((m) => {
      const tx: ReaderTx = {
        getWindow: (w) => m.getWindow(w),
        putWindow: (w, s) => {
          m.putWindow(w, s);
          writes.push({ store: 'windows', key: toHex(w), value: { high: s.high, bitmap: s.bitmap.slice() } });
        },
        getTotal: (k) => m.getTotal(k),
        putTotal: (k, v) => {
          m.putTotal(k, v);
          writes.push({ store: 'totals', key: k, value: v });
        },
        getToken: (h) => m.getToken(h),
        putToken: (r) => {
          m.putToken(r);
          writes.push({ store: 'tokens', key: toHex(r.hash), value: { ...r } });
        },
        head: () => m.head(),
        append: (row) => {
          m.append(row);
          writes.push({ store: 'journal', key: row.seq, value: row, add: true });
        },
        getMeta: (k) => m.getMeta(k),
        putMeta: (k, v) => {
          m.putMeta(k, v);
          writes.push({ store: 'meta', key: k, value: v.slice() });
        },
      };
      return fn(tx);
    });
    if (writes.length) this.persist(writes);
    return out;
  }

  /**
   * Queue one IndexedDB transaction with `writes`, over every object store (so that all of the store's
   * transactions run one after another, in the order they were created: transactions over disjoint stores may
   * commit in any order). Journal rows are added, never overwritten (a row already there aborts the transaction).
   * A failure poisons the store and aborts every transaction queued after the failed one, so that the disk holds
   * a prefix of the committed transactions (spec/reader.md §9.2 item 2).
   */
  private persist(writes: Write[]): void {
    let tx: IDBTransaction | undefined;
    try {
      tx = this.db.transaction([...STORES], 'readwrite', { durability: 'strict' });
      for (const w of writes) {
        if ('del' in w) tx.objectStore(w.store).delete(w.del);
        else if (w.add) tx.objectStore(w.store).add(w.value, w.key);
        else tx.objectStore(w.store).put(w.value, w.key);
      }
    } catch (e) {
      // The writes placed before the throw must not commit without the rest (a prefix, item 2).
      try {
        tx?.abort();
      } catch {
        /* not active */
      }
      this.fail(e);
      return;
    }
    this.inflight.push(tx);
    // Handled at once (no unhandled rejection if it fails before earlier writes settle); flush() awaits it.
    const p = done(tx).then(
      () => this.settled(tx),
      (e: unknown) => {
        this.settled(tx);
        this.fail(e);
      },
    );
    this.queue = this.queue.then(() => p);
  }

  private settled(tx: IDBTransaction): void {
    const i = this.inflight.indexOf(tx);
    if (i >= 0) this.inflight.splice(i, 1);
  }

  private fail(e: unknown): void {
    const why = e instanceof Error || (typeof DOMException !== 'undefined' && e instanceof DOMException) ? `${(e as Error).name}: ${(e as Error).message}` : String(e);
    this.failure ??= new OffpayError('reader.store_unusable', `IndexedDB write failed (${why}); the reader refuses further work until reloaded`);
    // Memory is ahead of the disk from the failed transaction on: none after it may reach the disk either.
    for (const t of this.inflight.splice(0)) {
      try {
        t.abort();
      } catch {
        /* already finished */
      }
    }
  }

  /** Resolves when every committed transaction is on disk; rejects (reader.store_unusable) if one failed. */
  async flush(): Promise<void> {
    await this.queue;
    if (this.failure) throw this.failure;
  }

  journal(fromSeq: number, toSeq?: number): JournalRow[] {
    return this.mem.journal(fromSeq, toSeq);
  }

  /**
   * Apply a prune plan (spec/reader.md §9.3) to the copy in memory and queue its deletions as one IndexedDB
   * transaction, in order with the others: `flush()` resolves once they are on disk.
   */
  prune(plan: PrunePlan): PruneCounts {
    if (this.closed) throw new Error('store is closed');
    if (this.failure) throw this.failure;
    const writes: Write[] = [];
    const counts = this.mem.pruneWith(plan, (store, key) => writes.push({ store, del: key }));
    if (counts.journal) writes.push({ store: 'journal', del: IDBKeyRange.upperBound(this.mem.firstSeq(), true) });
    if (writes.length) this.persist(writes);
    return counts;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.mem.close();
    // Pending writes still complete: IDBDatabase.close() waits for running transactions. The Web Lock is let go
    // once they have (another page may then open the database and must see them).
    this.db.close();
    void this.queue.finally(() => this.release());
  }
}
