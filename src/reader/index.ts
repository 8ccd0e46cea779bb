/**
 * offpay/reader — the reader verifier (browser-safe): anti-replay window, limits, blocklist, torn-transaction
 * handling, profiles, the hash-chained journal and settlement batches. spec/reader.md is normative.
 *
 * Durable storage on Node: `openSqliteReaderStore(path)` (loads better-sqlite3 on demand, so bundles for
 * browsers that never call it do not need it). In browsers and tests: `new MemoryReaderStore()`.
 */
export * from './reasons.js';
export * from './window.js';
export * from './journal.js';
export * from './blocklist.js';
export * from './batch.js';
export * from './profiles.js';
export * from './policy.js';
export * from './store.js';
export * from './verifier.js';
export * from './reader.js';
import type { ReaderStore } from './store.js';
import type { SqliteReaderStoreOptions } from './sqlite.js';

/**
 * Open a durable SQLite reader store (Node only). `opts.mode`: 'open' (default) refuses a missing database
 * (`reader.store_missing`); 'create' starts a new one (a new journal) and refuses an existing path.
 */
export async function openSqliteReaderStore(path: string, opts?: SqliteReaderStoreOptions): Promise<ReaderStore> {
  const { SqliteReaderStore } = await import('./sqlite.js');
  return new SqliteReaderStore(path, opts);
}
