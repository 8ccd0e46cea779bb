/**
 * Opening a reader from the CLI: the reader directory (key and certificate), its SQLite database (which
 * must exist: `offpay reader init` creates it), the issuer key set (stored in the database; `--issuer`
 * replaces it, e.g. after a key rotation) and the policy file, validated against the schema of
 * src/reader/policy.ts (spec/reader.md §14).
 */
import { readRegularFile } from '../node/bounded-file.js';
import { firstDuplicateName } from '../json-duplicates.js';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { OffpayError } from '../../base/errors.js';
import { decodeIssuerKeySet, encodeIssuerKeySet, type IssuerKeySet, type ReaderProfileName } from '../messages.js';
import { nodeEd25519 } from '../node/crypto.js';
import { loadIssuerKeys, loadReader } from '../node/files.js';
import { checkClearingBounds, checkExitWindow, parsePolicy, type ReaderPolicy } from '../reader/policy.js';
import { Reader } from '../reader/reader.js';
import { SqliteReaderStore } from '../reader/sqlite.js';
import { MemoryReaderStore } from '../reader/store.js';
import type { CommandContext } from './framework.js';

export const META_KEYSET = 'issuer.keyset';
/** The last signed key set (message 9) loaded by `reader sync`: a served one older than it is refused. */
export const META_SIGNED_KEYSET = 'issuer.keyset.signed';

/**
 * Read and validate a reader policy file; with `profile` (the reader certificate's), its time fields against the
 * bounds clearing judges by too. Throws `reader.bad_policy` naming the field.
 */
/** The largest policy file read (a policy lists a few currencies and profile fields: a few KiB). */
export const MAX_POLICY_BYTES = 64 * 1024;

export function loadPolicy(path: string, profile?: ReaderProfileName): ReaderPolicy {
  let o: unknown;
  // Bounded and non-blocking, before it is parsed (a FIFO hung every reader command; /dev/zero took 4 GB), and a
  // member named twice is refused: JSON.parse keeps the last (a currency's limits given twice dropped the first
  // without a word), so the file would mean one thing to the reference and another to a port.
  const r = readRegularFile(path, MAX_POLICY_BYTES);
  if (!Buffer.isBuffer(r)) {
    const why = r.kind === 'not_regular' ? 'not a regular file' : r.kind === 'too_large' ? `${r.size} bytes, over the limit of ${MAX_POLICY_BYTES}` : r.code;
    throw new OffpayError('reader.bad_policy', `${path}: ${why}`);
  }
  try {
    const text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(r); // a BOM is kept, and JSON.parse refuses it
    o = JSON.parse(text);
    const dup = firstDuplicateName(text);
    if (dup !== undefined) throw new Error(`the member ${JSON.stringify(dup)} is given twice in one object`);
  } catch (e) {
    throw new OffpayError('reader.bad_policy', `${path}: ${(e as Error).message}`);
  }
  const policy = parsePolicy(o, path);
  if (profile && policy.profile) {
    checkClearingBounds(profile, policy.profile, 'reader.bad_policy', `${path}: profile`);
    checkExitWindow(profile, policy.profile, 'reader.bad_policy', `${path}: profile`);
  }
  return policy;
}

function policyOf(ctx: CommandContext, dir: string, profile: ReaderProfileName): ReaderPolicy | Record<string, never> {
  const policyPath = ctx.opt('policy') ?? (existsSync(join(dir, 'policy.json')) ? join(dir, 'policy.json') : undefined);
  return policyPath ? loadPolicy(policyPath, profile) : {};
}

/**
 * Open an existing reader database. A missing one is refused (`reader.store_missing`, exit 2): a lost
 * database is never recreated here, because a new journal forgets which tokens were paid.
 */
export function openReader(ctx: CommandContext, now: number): { reader: Reader; store: SqliteReaderStore; dir: string } {
  const files = loadReader(ctx.need('reader'));
  const store = SqliteReaderStore.open(ctx.need('db'));
  try {
    const issuerPath = ctx.opt('issuer');
    let keys: IssuerKeySet;
    if (issuerPath) keys = loadIssuerKeys(issuerPath);
    else {
      const stored = store.transact((tx) => tx.getMeta(META_KEYSET));
      if (!stored) throw new OffpayError('reader.corrupt_store', 'the reader database holds no issuer key set (offpay reader init stores it)');
      keys = decodeIssuerKeySet(stored);
    }
    const reader = new Reader({ cert: files.cert, secretKey: files.secretKey, issuerKeys: keys, store, verifier: nodeEd25519(), clock: () => now, ...policyOf(ctx, files.dir, files.cert.profile) });
    // A new key set (key rotation) is stored only once the reader opened with it (its certificate verifies).
    if (issuerPath) store.transact((tx) => tx.putMeta(META_KEYSET, encodeIssuerKeySet(keys)));
    return { reader, store, dir: files.dir };
  } catch (e) {
    store.close();
    throw e;
  }
}

/**
 * The reader over an open store with another key set (a newer signed key set from `reader sync`). Throws
 * `reader.bad_cert` when the set no longer certifies this reader; the caller stores the set only after this.
 */
export function readerWithKeys(ctx: CommandContext, now: number, store: SqliteReaderStore, keys: IssuerKeySet): Reader {
  const files = loadReader(ctx.need('reader'));
  return new Reader({ cert: files.cert, secretKey: files.secretKey, issuerKeys: keys, store, verifier: nodeEd25519(), clock: () => now, ...policyOf(ctx, files.dir, files.cert.profile) });
}

/** Create a reader database: a new journal with a fresh random journal id, and the issuer key set. */
export function initReader(ctx: CommandContext, now: number, path: string): { reader: Reader; store: SqliteReaderStore } {
  const files = loadReader(ctx.need('reader'));
  const keys = loadIssuerKeys(ctx.need('issuer'));
  const policy = policyOf(ctx, files.dir, files.cert.profile);
  // Key, certificate and policy are checked before anything is created (a failed init leaves no file).
  new Reader({ cert: files.cert, secretKey: files.secretKey, issuerKeys: keys, store: new MemoryReaderStore(), verifier: nodeEd25519(), clock: () => now, ...policy });
  const store = SqliteReaderStore.create(path);
  try {
    store.transact((tx) => tx.putMeta(META_KEYSET, encodeIssuerKeySet(keys)));
    const reader = new Reader({ cert: files.cert, secretKey: files.secretKey, issuerKeys: keys, store, verifier: nodeEd25519(), clock: () => now, ...policy });
    return { reader, store };
  } catch (e) {
    store.close();
    throw e;
  }
}
