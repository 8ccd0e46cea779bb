/**
 * offpay/clearing — the back office (Node): ingest reader settlement batches, re-verify, find double spends
 * and reader faults, settle each token once per merchant and currency, check the global offline allowance,
 * issue blocklists. spec/clearing.md is normative.
 */
export * from './fees.js';
export * from './clearing.js';
export * from './pool.js';
export { DEFAULT_MAX_BATCH_BYTES, DEFAULT_MAX_BATCH_ENTRIES, readBatchFrame, decodeBatchEntries, type BatchFrame } from './batch-bytes.js';
export { settle, type SettleRow, type SettleOptions, type SettlementResult } from './settle.js';
