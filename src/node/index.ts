/**
 * offpay/node — the Node-only helpers an integrator needs next to the browser-safe core: the node:crypto
 * Ed25519 verifier (the fastest on Node), the durable file-backed wallet counter and the CLI's key and
 * certificate files, the durable SQLite reader store (better-sqlite3, an optional peer dependency loaded on
 * first use), and the clearing back office. Per transport: offpay/fsk/node (WAV files), offpay/qr/node
 * (the zxing wasm and code files), offpay/nfc/node (PC/SC and vpcd).
 */
export { nodeEd25519, nodeSha256, nodeHmacSha256 } from './crypto.js';
export {
  FileCounterStore,
  createCounterFile,
  readCounterFile,
  restoreCounter,
  type RestoreResult,
  writeFileDurable,
  readBytes,
  saveIssuer,
  loadIssuer,
  loadIssuerKeys,
  saveWallet,
  loadWallet,
  saveReader,
  loadReader,
  type ReaderFiles,
} from './files.js';
export { withLock, inspectLock, removeLock, type LockOptions, type LockHolder, type LockFileState, type LockInspection, type HolderLiveness } from './lock.js';
export { SqliteReaderStore, openSqliteReaderStore, type SqliteReaderStoreOptions } from '../reader/sqlite.js';
export { SQLITE_DRIVER, type SqliteDatabase, type SqliteStatement, type SqliteTransaction } from './sqlite.js';
export { Clearing, type ClearingOptions, type ClearingReport, type IngestResult } from '../clearing/clearing.js';
