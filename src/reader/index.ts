/**
 * offpay/reader — the reader verifier (browser-safe): anti-replay window, limits, blocklist, torn-transaction
 * handling, profiles, the hash-chained journal and settlement batches. spec/reader.md is normative.
 *
 * Durable storage on Node: `openSqliteReaderStore(path)` / `SqliteReaderStore` from offpay/node (better-sqlite3,
 * an optional peer dependency). In browsers and tests: `new MemoryReaderStore()`, or your own `ReaderStore`.
 */
export * from './reasons.js';
export * from './window.js';
export * from './journal.js';
export * from './blocklist.js';
export * from './batch.js';
export * from './profiles.js';
export * from './store.js';
export * from './verifier.js';
export * from './reader.js';
