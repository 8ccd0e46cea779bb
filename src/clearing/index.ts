/**
 * offpay/clearing — the back office (Node): ingest reader settlement batches, re-verify, find double spends,
 * settle per merchant and currency, issue blocklists. spec/reader.md §Clearing is normative.
 */
export {
  BPS_DENOMINATOR, roundHalfEvenDiv, validateFeeBps, feeFor,
} from './fees.js';
export {
  type ClearingOptions, type IngestResult, type SettlementLine, type EvidenceToken, type DoubleSpend,
  type ReaderSummary, type ClearingReport, Clearing,
} from './clearing.js';
export {
  type TokenJob, type TokenCheck, checkTokenJob, checkTokenJobs, type PackedJobs, type PackedChecks, packJobs,
  unpackJobs, packChecks, unpackChecks, buffersOf, VerifyPool,
} from './pool.js';
