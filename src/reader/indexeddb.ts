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
 * Durability rule (spec/reader.md I8 / §9.1 in a browser): a caller MUST `await store.flush()` after
 * `Reader.accept()` and before it acts on the verdict (vends, opens the gate, shows "accepted"). flush()
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
import { MemoryReaderStore, type ReaderStore, type ReaderTx, type TokenRecord } from './store.js';
import type { WindowState } from './window.js';
import { fromHex, toHex } from '../../base/hex.js';

/** Object stores of the IndexedDB database, version 1. */
const STORES = ['windows', 'totals', 'tokens', 'journal', 'meta'] as const;
type StoreName = (typeof STORES)[number];
/** The IndexedDB schema version of a reader database (its object stores: windows, totals, tokens, journal, meta). */
export const INDEXEDDB_SCHEMA_VERSION = 1;

/** One write of a committed transaction, as it goes to IndexedDB. */
type Write = { store: StoreName; key: IDBValidKey; value: unknown };

function req<T>(r: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
}

function done(tx: IDBTransaction): Promise<void> {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error ?? new Error('IndexedDB transaction aborted'));
  });
}

/** How `IndexedDbReaderStore.open` opens a reader database (spec/reader.md §9.2). */
export interface IndexedDbOpenOptions {
  /** 'create' a new reader database (refused if it exists) or 'open' an existing one (refused if missing). */
  mode: 'create' | 'open';
  /** The IndexedDB factory (default globalThis.indexedDB). */
  indexedDB?: IDBFactory;
}

export class IndexedDbReaderStore implements ReaderStore {
  readonly kind = 'indexeddb';
  private readonly mem = new MemoryReaderStore();
  private queue: Promise<void> = Promise.resolve();
  private failure: OffpayError | undefined;
  private closed = false;

  private constructor(
    private readonly db: IDBDatabase,
    /** The IndexedDB database name. */
    readonly name: string,
  ) {}

  /** Open (or create) the reader database `name`; see the module comment for the modes. */
  static async open(name: string, options: IndexedDbOpenOptions): Promise<IndexedDbReaderStore> {
    const factory = options.indexedDB ?? globalThis.indexedDB;
    if (!factory) throw new OffpayError('reader.store_unusable', 'this browser has no IndexedDB');
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
    const store = new IndexedDbReaderStore(db, name);
    await store.load();
    return store;
  }

  /** Copy every record from IndexedDB into the memory store (one read transaction). */
  private async load(): Promise<void> {
    const tx = this.db.transaction([...STORES], 'readonly');
    const all = async (s: StoreName): Promise<[IDBValidKey[], unknown[]]> => [await req(tx.objectStore(s).getAllKeys()), await req(tx.objectStore(s).getAll())];
    const [windows, totals, tokens, journal, meta] = await Promise.all(STORES.map(all));
    this.mem.transact((m) => {
      // Windows are keyed by wallet-id hex; ReaderTx takes the bytes, so rebuild them from the key.
      windows![0].forEach((k, i) => m.putWindow(fromHex(k as string), windows![1][i] as WindowState));
      totals![0].forEach((k, i) => m.putTotal(k as string, totals![1][i] as number));
      for (const r of tokens![1] as TokenRecord[]) m.putToken(r);
      for (const r of journal![1] as JournalRow[]) m.append(r); // getAll returns ascending keys (seq)
      meta![0].forEach((k, i) => m.putMeta(k as string, meta![1][i] as Uint8Array));
    });
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
          writes.push({ store: 'journal', key: row.seq, value: row });
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

  /** Queue one IndexedDB transaction with `writes`; a failure poisons the store. */
  private persist(writes: Write[]): void {
    let tx: IDBTransaction;
    try {
      tx = this.db.transaction([...new Set(writes.map((w) => w.store))], 'readwrite', { durability: 'strict' });
      for (const w of writes) tx.objectStore(w.store).put(w.value, w.key);
    } catch (e) {
      this.fail(e);
      return;
    }
    // Handled at once (no unhandled rejection if it fails before earlier writes settle); flush() awaits it.
    const p = done(tx).catch((e: unknown) => this.fail(e));
    this.queue = this.queue.then(() => p);
  }

  private fail(e: unknown): void {
    this.failure ??= new OffpayError('reader.store_unusable', `IndexedDB write failed (${(e as Error)?.message ?? String(e)}); the reader refuses further work until reloaded`);
  }

  /** Resolves when every committed transaction is on disk; rejects (reader.store_unusable) if one failed. */
  async flush(): Promise<void> {
    await this.queue;
    if (this.failure) throw this.failure;
  }

  journal(fromSeq: number, toSeq?: number): JournalRow[] {
    return this.mem.journal(fromSeq, toSeq);
  }

  close(): void {
    this.closed = true;
    this.mem.close();
    // Pending writes still complete: IDBDatabase.close() waits for running transactions.
    this.db.close();
  }
}
