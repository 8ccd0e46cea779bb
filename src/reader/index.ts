/**
 * offpay/reader — the reader verifier (browser-safe): anti-replay window, limits, blocklist, torn-transaction
 * handling, profiles, the hash-chained journal and settlement batches. spec/reader.md is normative.
 *
 * Durable storage on Node: `openSqliteReaderStore(path)` / `SqliteReaderStore` from offpay/node (better-sqlite3,
 * an optional peer dependency). In browsers: `await IndexedDbReaderStore.open(name, { mode })` (durable, one page
 * at a time; await its flush() after every call that changes state, before acting on the result: spec/reader.md
 * §9.2); in tests `new MemoryReaderStore()`, or your own `ReaderStore`.
 */
export {
  READER_REASONS, type ReaderReason, type StatelessReasonName, type AnyReason, anyReasonCode, reasonName,
} from './reasons.js';
export {
  type WindowState, type WindowCheck, DEFAULT_WINDOW, validateWindowSize, windowSizeOf, checkWindow, advanceWindow,
} from './window.js';
export {
  JournalKind, type JournalKindName, JOURNAL_TAG, JOURNAL_GENESIS_TAG, HASH_BYTES, JOURNAL_ID_BYTES, type JournalEntry,
  type JournalRow, entryToCbor, encodeEntry, entryFromCbor, decodeEntry, genesisHash, chainHash, type ChainCheck,
  verifyChain,
} from './journal.js';
export {
  MAX_BLOCKLIST_BYTES, type BlocklistBody, type Blocklist, blocklistSigningInput, packWalletIds, encodeBlocklist,
  decodeBlocklist, createBlocklist, verifyBlocklist, BlocklistIndex,
} from './blocklist.js';
export {
  MAX_BATCH_BYTES, type SettlementBatchBody, type SettlementBatch, batchSigningInput, createBatch,
  batchSigningInputFromBytes, decodeBatch, batchEntryBytes, batchChainHashes,
} from './batch.js';
export {
  type StalePolicy, type TapOutWithoutTapIn, type ReaderProfileParams, READER_PROFILES, type CurrencyLimits,
  type ProfileParams, PROFILES,
} from './profiles.js';
export {
  type TokenStatus, TOKEN_STATUS, type TokenRecord, type ReaderTx, type ReaderStore, MemoryReaderStore, type PrunePlan,
  type PruneCounts, type PruneTotals, type PruneMeta,
} from './store.js';
export { IndexedDbReaderStore, type IndexedDbOpenOptions, INDEXEDDB_SCHEMA_VERSION } from './indexeddb.js';
export {
  cachingVerifier, type CertMemoVerifier,
} from './verifier.js';
export {
  type ReaderOptions, type OpenRequest, type RequestRef, type AcceptContext, type AcceptStatus, type ReaderAccepted, type ReaderRejected,
  type ReaderVerdict, type VoidResult, type BlocklistStatus, type ExportResult, certIdOf, Reader,
  EXPORT_MAX_BATCH_BYTES, EXPORT_MAX_BATCH_ENTRIES, cutBacklog, type PruneOptions, type PruneResult, pruneRetainMinimum,
  PRUNE_DEFAULT_RETAIN_SECONDS, PRUNE_CLOCK_MARGIN_SECONDS,
} from './reader.js';
export {
  type FieldType, type FieldSpec, PROFILE_SCHEMA, POLICY_KEYS, LIMIT_KEYS, WINDOW_RANGE, validateProfileOverrides,
  validateWindow, validateLimits, type ReaderPolicy, parsePolicy, clearingBounds, type ClearingBoundField,
} from './policy.js';
export { syncReader, type SyncOptions, type SyncResult } from './sync.js';
