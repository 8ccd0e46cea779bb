/**
 * offpay/clearing — the back office (Node): ingest reader settlement batches, re-verify, find double spends,
 * settle per merchant and currency, issue blocklists. spec/reader.md §Clearing is normative.
 */
export * from './fees.js';
export * from './clearing.js';
export * from './pool.js';
