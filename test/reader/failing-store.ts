/**
 * A {@link ReaderStore} that fails on purpose, for test/reader/store-faults.test.ts: it wraps a real store
 * (MemoryReaderStore or SqliteReaderStore) and, once armed, makes ONE chosen store call throw, as a full disk or
 * an I/O error would while the process lives on. The sites it counts, in the order the reader reaches them:
 *
 * - every write of a transaction (putWindow, putTotal, putToken, append, putMeta), failing before the write
 *   reaches the inner store or just after it (the statement ran, then reported the error);
 * - the commit of a transaction that wrote something: the fault is thrown as the callback returns, inside the
 *   inner `transact`, so the inner store rolls back exactly as a failed COMMIT does;
 * - with `reads`, every read too (the transaction's getters, and `journal()` in or out of a transaction).
 *
 * A fault is raised inside the inner store (within its `transact`), so that it meets the store's own error
 * mapping as a real failure of that store would.
 *
 * The error is shaped like better-sqlite3's SqliteError (`code` SQLITE_FULL or SQLITE_IOERR_*), so the SQLite
 * store maps it as it maps a real one.
 */
import type { JournalRow } from '../../src/reader/journal.js';
import type { ReaderStore, ReaderTx } from '../../src/reader/store.js';

/** Where a fault was thrown. */
export type FaultSite = 'write' | 'commit' | 'read';

/** The error an armed {@link FailingStore} throws (one per arming). */
export class InjectedFault extends Error {
  constructor(
    /** The SQLite result code it imitates. */
    readonly code: 'SQLITE_FULL' | 'SQLITE_IOERR_WRITE' | 'SQLITE_IOERR_READ',
    /** The kind of call that failed. */
    readonly site: FaultSite,
    /** The call: `putToken`, `commit`, `journal`... */
    readonly call: string,
  ) {
    super(`injected ${code} at ${call}`);
    this.name = 'SqliteError';
  }
}

/** Which call fails: the `at`-th site (0-based) counted from arming. */
export interface FaultPlan {
  /** The site that fails, counted from 0 at arming. */
  at: number;
  /** Count reads as sites too (an I/O error on read), not only writes and commits. */
  reads: boolean;
  /** A write fails after the inner store took it (then rolled back with the transaction), not before. */
  afterWrite: boolean;
}

export class FailingStore implements ReaderStore {
  readonly kind: string;
  /** The fault thrown since the last {@link arm}, if one was. */
  fired: InjectedFault | undefined;
  /** Sites passed since the last {@link count} reset, armed or not: writes (and commits), and reads. */
  passed = { writes: 0, reads: 0 };
  private sites = 0;
  private inTransaction = false;
  private plan: FaultPlan | undefined;

  constructor(
    /** The real store: its state is what the reader's state must match. */
    readonly inner: ReaderStore,
  ) {
    this.kind = inner.kind;
  }

  /** Fail once, at `plan.at`; every later call passes (the disk was freed, the I/O error was transient). */
  arm(plan: FaultPlan): void {
    this.plan = plan;
    this.sites = 0;
    this.fired = undefined;
  }

  disarm(): void {
    this.plan = undefined;
  }

  /** Start counting the sites an operation passes (to aim later faults at any of them, the last ones included). */
  count(): void {
    this.passed = { writes: 0, reads: 0 };
  }

  /** Count a site; throw the fault if it is the chosen one. */
  private site(site: FaultSite, call: string): void {
    this.passed[site === 'read' ? 'reads' : 'writes']++;
    const p = this.plan;
    if (!p || this.fired || (site === 'read' && !p.reads)) return;
    if (this.sites++ !== p.at) return;
    this.fired = new InjectedFault(site === 'read' ? 'SQLITE_IOERR_READ' : site === 'commit' ? 'SQLITE_FULL' : this.sites % 2 ? 'SQLITE_FULL' : 'SQLITE_IOERR_WRITE', site, call);
    throw this.fired;
  }

  private write<A extends unknown[]>(call: string, inner: (...a: A) => void): (...a: A) => void {
    return (...a: A) => {
      if (!this.plan?.afterWrite) this.site('write', call);
      inner(...a);
      if (this.plan?.afterWrite) this.site('write', call);
    };
  }

  private read<A extends unknown[], R>(call: string, inner: (...a: A) => R): (...a: A) => R {
    return (...a: A) => {
      this.site('read', call);
      return inner(...a);
    };
  }

  transact<T>(fn: (tx: ReaderTx) => T): T {
    return this.inner.transact((tx) => {
      let wrote = false;
      const w = <A extends unknown[]>(call: string, f: (...a: A) => void) => {
        const g = this.write(call, f);
        return (...a: A) => {
          wrote = true;
          g(...a);
        };
      };
      this.inTransaction = true;
      try {
        const out = fn({
          getWindow: this.read('getWindow', tx.getWindow),
          putWindow: w('putWindow', tx.putWindow),
          getTotal: this.read('getTotal', tx.getTotal),
          putTotal: w('putTotal', tx.putTotal),
          getToken: this.read('getToken', tx.getToken),
          putToken: w('putToken', tx.putToken),
          head: this.read('head', tx.head),
          append: w('append', tx.append),
          getMeta: this.read('getMeta', tx.getMeta),
          putMeta: w('putMeta', tx.putMeta),
        });
        // Thrown inside the inner transaction: the inner store rolls back, as SQLite does when COMMIT fails.
        if (wrote) this.site('commit', 'commit');
        return out;
      } finally {
        this.inTransaction = false;
      }
    });
  }

  journal(fromSeq: number, toSeq?: number): JournalRow[] {
    if (this.inTransaction || !this.plan) this.site('read', 'journal');
    else {
      // A read outside a transaction: raise the fault inside the inner store all the same (a transaction that
      // writes nothing), where its error mapping sees it.
      this.inner.transact(() => this.site('read', 'journal'));
    }
    return this.inner.journal(fromSeq, toSeq);
  }

  close(): void {
    this.inner.close();
  }
}
