/**
 * offpay/clearing — the back office (Node): ingest reader settlement batches, re-verify, find double spends
 * and reader faults, settle each token once per merchant and currency, check the global offline allowance,
 * issue blocklists. spec/clearing.md is normative.
 */
export {
  BPS_DENOMINATOR, roundHalfEvenDiv, validateFeeBps, feeFor,
} from './fees.js';
export {
  type ClearingOptions, type IngestResult, type IngestHooks, type BatchToCommit, type EvidenceToken, type DoubleSpend, type ReaderFault,
  type ReaderSummary, type ClearingReport, type PaymentFacts, type OpenedStore, Clearing, isPostgresUrl,
} from './clearing.js';
export type {
  ClearingStore, IngestSession, IngestTx, EntryRow, CounterMate, CounterQuery, HeldFindings, TokenTrips, DoubleSpendRow, ReaderFaultRow, BatchRow, TokenEntryRow, ChainRow,
  BlocklistRow, HeldJournal, ProblemRow, InvalidEntryRow, RefundRow, HeldRefund, RefundTotal, RefundTotals, NextBlocklist, EntryEvidence, ClaimedMeta,
  BatchView, BatchPlace, EntryLink, HeldEntry, ReaderRecord, BatchWrites, RequestSaleRow,
} from './store.js';
export { decideRequests, type RequestDecision, type RequestPaidTwice, type RequestSaleRef } from './requests.js';
export { readBatchView, writeBatch } from './store.js';
export {
  type RefundRecord, type RefundResult, type RefundedLine, type RefundProblem, type RefundReport, type RefundDeps, type RefundFacts, type RefundPage, decideRefund, netRefunds, refundRecord,
  REFUND_PAGE_DEFAULT, REFUND_PAGE_MAX,
} from './refunds.js';
export { SqliteClearingStore, SQLITE_SCHEMA_VERSION, type SqliteStoreOptions } from './store-sqlite.js';
export { PgClearingStore, openPgClearingStore, loadPgDriver, PG_DRIVER, PG_SCHEMA_VERSION, type PgStoreOptions,
  type PgModule, type PgPoolConstructor, type PgTypes, type PgPool, type PgClient, type PgQueryable, type PgResult } from './store-pg.js';
export {
  type TokenJob, type TokenCheck, checkTokenJob, checkTokenJobs, type PackedJobs, type PackedChecks, packJobs,
  unpackJobs, packChecks, unpackChecks, buffersOf, VerifyPool,
} from './pool.js';
export { DEFAULT_MAX_BATCH_BYTES, DEFAULT_MAX_BATCH_ENTRIES, readBatchFrame, decodeBatchEntries, type BatchFrame } from './batch-bytes.js';
export {
  settle, settler, type SettleRow, type EntryRef, type SettledToken, type SettlementLine, type TripAnomaly, type TapInAnomaly, type OverAllowance,
  type SettlementResult, type SettleOptions,
} from './settle.js';
