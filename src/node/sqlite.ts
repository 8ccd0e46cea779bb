/**
 * The SQLite driver, better-sqlite3, loaded on first use (Node only).
 *
 * better-sqlite3 is a native addon, so offpay lists it as an optional peer dependency: a browser user who
 * never opens a database installs no native code, and a Node user who does installs it next to offpay
 * (`npm install better-sqlite3`). Opening a database without it is a typed error that says so
 * (`reader.sqlite_unavailable`, `clearing.sqlite_unavailable`), never a module-not-found at import time.
 *
 * The types below are the few parts of better-sqlite3's API that offpay uses, declared here so that the
 * shipped .d.ts files never need @types/better-sqlite3 (a devDependency of this repository only).
 */
import { createRequire } from 'node:module';
import { OffpayError } from '../../base/errors.js';

/** The npm package of the SQLite driver (an optional peer dependency of offpay). */
export const SQLITE_DRIVER = 'better-sqlite3';

/** A prepared statement (better-sqlite3 `Statement`, the methods offpay uses). */
export interface SqliteStatement {
  /** Execute with the bound parameters; the number of rows changed and the last inserted rowid. */
  run(...params: unknown[]): {
    /** Rows inserted, updated or deleted. */
    changes: number;
    /** Rowid of the last row inserted. */
    lastInsertRowid: number | bigint;
  };
  /** The first result row, or undefined. */
  get(...params: unknown[]): unknown;
  /** Every result row. */
  all(...params: unknown[]): unknown[];
  /** The result rows one at a time. */
  iterate(...params: unknown[]): IterableIterator<unknown>;
}

/**
 * A function wrapped in a transaction (better-sqlite3 `Transaction`): plain call is BEGIN DEFERRED.
 * @typeParam F - the wrapped function's type.
 */
export interface SqliteTransaction<F extends (...args: never[]) => unknown> {
  (...args: Parameters<F>): ReturnType<F>;
  /** Run in BEGIN DEFERRED. */
  deferred(...args: Parameters<F>): ReturnType<F>;
  /** Run in BEGIN IMMEDIATE (takes the write lock at once). */
  immediate(...args: Parameters<F>): ReturnType<F>;
  /** Run in BEGIN EXCLUSIVE. */
  exclusive(...args: Parameters<F>): ReturnType<F>;
}

/** An open database connection (better-sqlite3 `Database`, the members offpay uses). */
export interface SqliteDatabase {
  /** False once closed. */
  readonly open: boolean;
  /** True inside a transaction. */
  readonly inTransaction: boolean;
  /** The database path. */
  readonly name: string;
  /** Compile an SQL statement. */
  prepare(sql: string): SqliteStatement;
  /** Run SQL text (one or more statements, no parameters). */
  exec(sql: string): this;
  /** Run a PRAGMA; with `simple`, the first column of the first row. */
  pragma(source: string, options?: { simple?: boolean }): unknown;
  /**
   * Wrap `fn` so that each call runs in a transaction (nested calls use savepoints).
   * @typeParam F - the wrapped function's type.
   */
  transaction<F extends (...args: never[]) => unknown>(fn: F): SqliteTransaction<F>;
  /** Close the connection. */
  close(): this;
}

type DatabaseConstructor = new (path: string, options?: { fileMustExist?: boolean; readonly?: boolean }) => SqliteDatabase;

let driver: DatabaseConstructor | undefined;
const nodeRequire = createRequire(import.meta.url);

/**
 * The better-sqlite3 constructor, loaded once. Throws `<area>.sqlite_unavailable` naming the package to
 * install when it is missing or its native part did not build. better-sqlite3 is CommonJS, so a synchronous
 * require keeps the stores' constructors synchronous. `load` replaces that require (tests use it to see the
 * error without uninstalling the package).
 */
export function loadSqliteDriver(area: 'reader' | 'clearing', load: (id: string) => unknown = nodeRequire): DatabaseConstructor {
  if (driver && load === nodeRequire) return driver;
  try {
    const m = load(SQLITE_DRIVER) as DatabaseConstructor | { default: DatabaseConstructor };
    const ctor = typeof m === 'function' ? m : m.default;
    if (load === nodeRequire) driver = ctor;
    return ctor;
  } catch (e) {
    const why = e instanceof Error ? e.message.split('\n')[0] : String(e);
    throw new OffpayError(
      area === 'reader' ? 'reader.sqlite_unavailable' : 'clearing.sqlite_unavailable',
      `the SQLite driver ${SQLITE_DRIVER} is not available (${why}); it is an optional peer dependency of offpay: ` +
        `run \`npm install ${SQLITE_DRIVER}\` next to offpay (if it is installed but did not build, allow its install script, ` +
        `e.g. \`npm install-scripts approve ${SQLITE_DRIVER}\` on npm 11, and run \`npm rebuild ${SQLITE_DRIVER}\`)`,
    );
  }
}

/** Open `path` with better-sqlite3 (see `loadSqliteDriver` for the error when it is missing). */
export function openSqliteDatabase(area: 'reader' | 'clearing', path: string): SqliteDatabase {
  return new (loadSqliteDriver(area))(path);
}

/** Primary SQLite result codes (sqlite.org/rescode.html) of a database that cannot do the work now, the file intact. */
const UNAVAILABLE = new Set(['SQLITE_FULL', 'SQLITE_IOERR', 'SQLITE_BUSY', 'SQLITE_LOCKED', 'SQLITE_CANTOPEN', 'SQLITE_NOMEM', 'SQLITE_READONLY', 'SQLITE_PROTOCOL']);

/** What a SQLite error says, for the stores' typed errors (sqliteFailureOf). */
export interface SqliteFailure {
  /** The result code as better-sqlite3 gives it (extended, e.g. SQLITE_IOERR_WRITE). */
  code: string;
  /**
   * `damaged`: the file is corrupt or not a database (SQLITE_CORRUPT*, SQLITE_NOTADB); `unavailable`: it cannot do
   * the work now (a full disk, an I/O error, a lock held past the busy timeout...: the statement or COMMIT was
   * rolled back); `other`: anything else (a constraint, a misuse: a bug, not the machine).
   */
  kind: 'damaged' | 'unavailable' | 'other';
}

/** Classify a thrown value: a SQLite error's code and kind, or undefined for anything that is not one. */
export function sqliteFailureOf(e: unknown): SqliteFailure | undefined {
  const code = (e as { code?: unknown } | null | undefined)?.code;
  if (typeof code !== 'string' || !code.startsWith('SQLITE_')) return undefined;
  const primary = code.replace(/^(SQLITE_[A-Z]+)_.*$/, '$1');
  // SQLITE_IOERR_CORRUPTFS: the file system reported the file's content corrupt (an I/O error by its primary code).
  const damaged = primary === 'SQLITE_CORRUPT' || primary === 'SQLITE_NOTADB' || code === 'SQLITE_IOERR_CORRUPTFS';
  const kind = damaged ? 'damaged' : UNAVAILABLE.has(primary) ? 'unavailable' : 'other';
  return { code, kind };
}
