/**
 * Node file formats for the CLI and for integrators: issuer, wallet and reader directories, and a durable
 * file-backed wallet counter (src/node/counter.ts).
 *
 *   ISSUER/issuer.json   secret keys (keep offline)     ISSUER/keyset.cbor   public issuer key set
 *   WALLET/wallet.json   wallet secret key + cert       WALLET/counter.json  counter state (durable)
 *   READER/reader.json   reader secret key + cert       READER/requests/     outstanding payment requests
 */
import { readRegularFile } from './bounded-file.js';
import { firstDuplicateName } from '../json-duplicates.js';
import { readFileSync, existsSync, lstatSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { FileCounterStore } from './counter.js';
import { writeFileDurable } from './durable.js';
import { publicKeyOf } from '../crypto.js';
import { fromHex, toHex } from '../../base/hex.js';
import { OffpayError } from '../../base/errors.js';
import { Issuer, type IssuerSigningKey } from '../issuer.js';
import {
  decodeIssuerKeySet,
  decodeReaderCert,
  decodeWalletCert,
  encodeIssuerKeySet,
  encodeReaderCert,
  encodeWalletCert,
  type IssuerKeySet,
  type ReaderCert,
  type WalletCert,
} from '../messages.js';
import { Wallet } from '../wallet.js';

export { writeFileDurable } from './durable.js';
export { FileCounterStore, createCounterFile, readCounterFile, restoreCounter, type RestoreResult } from './counter.js';

/** Why a file could not be read, in words (the errno code after them, for a search). */
export function whyUnreadable(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  const words: Record<string, string> = {
    ENOENT: 'no such file or directory',
    ENOTDIR: 'a part of the path is a file, not a directory',
    EISDIR: 'it is a directory',
    EACCES: 'permission denied',
    EPERM: 'operation not permitted',
  };
  return code && words[code] ? `${words[code]} (${code})` : (code ?? (e as Error).message);
}

/**
 * The file `name` in the directory `dir` that a CLI option names (--issuer, --wallet, --reader). Given the file
 * itself (`--reader vm/reader.json`), says to give its directory instead of failing on `vm/reader.json/reader.json`.
 */
function fileIn(dir: string, name: string, what: string): string {
  if (existsSync(dir) && statSync(dir).isFile()) {
    throw new OffpayError('file.unreadable', `${dir} is a file: give the ${what} directory (the one that holds ${name})`);
  }
  return join(dir, name);
}

/** The largest wallet, reader or issuer file read (the largest real one, an issuer with 255 keys, is about 45 KiB). */
export const MAX_KEY_FILE_BYTES = 256 * 1024;

function readJson(path: string, what: string): Record<string, unknown> {
  // Bounded and non-blocking: a FIFO, /dev/zero or a huge file in its place is refused before it is read (a CLI
  // attack review found `pay` reading a wallet.json linked to /dev/zero until 7.8 GB).
  const r = readRegularFile(path, MAX_KEY_FILE_BYTES);
  if (!Buffer.isBuffer(r)) {
    if (r.kind === 'too_large') throw new OffpayError('file.too_large', `${what} file ${path} is ${r.size} bytes, over the limit of ${MAX_KEY_FILE_BYTES}`);
    throw new OffpayError('file.unreadable', `cannot read ${what} at ${path}: ${r.kind === 'not_regular' ? 'not a regular file' : whyUnreadable(Object.assign(new Error(r.code), { code: r.code }))}`);
  }
  const text = r.toString('utf8');
  try {
    const v = JSON.parse(text) as unknown;
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not an object');
    // A member named twice: JSON.parse keeps the last, another reader may keep the first (two keys from one file).
    const dup = firstDuplicateName(text);
    if (dup !== undefined) throw new Error(`the member ${JSON.stringify(dup)} is given twice in one object`);
    return v as Record<string, unknown>;
  } catch (e) {
    throw new OffpayError('file.bad_format', `${path} is not a valid ${what} file: ${(e as Error).message}`);
  }
}

function hexField(o: Record<string, unknown>, k: string, path: string, len?: number): Uint8Array {
  const v = o[k];
  try {
    if (typeof v !== 'string') throw new Error('missing');
    const b = fromHex(v);
    if (len !== undefined && b.length !== len) throw new Error(`expected ${len} bytes`);
    return b;
  } catch (e) {
    throw new OffpayError('file.bad_format', `${path}: field '${k}': ${(e as Error).message}`);
  }
}

function numField(o: Record<string, unknown>, k: string, path: string): number {
  const v = o[k];
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new OffpayError('file.bad_format', `${path}: field '${k}' must be a non-negative integer`);
  return v;
}

/** Read a file of bytes, with a typed error. */
export function readBytes(path: string, what = 'file', maxBytes = 64 * 1024 * 1024): Uint8Array {
  try {
    const st = statSync(path);
    if (!st.isFile()) throw new OffpayError('file.unreadable', `${path} is not a file`);
    if (st.size > maxBytes) throw new OffpayError('file.too_large', `${what} ${path} is ${st.size} bytes (limit ${maxBytes})`);
    return new Uint8Array(readFileSync(path));
  } catch (e) {
    if (e instanceof OffpayError) throw e;
    throw new OffpayError('file.unreadable', `cannot read ${what} at ${path}: ${whyUnreadable(e)}`);
  }
}

// ------------------------------------------------------------------------------------------------ issuer

/**
 * Save an issuer to a directory (Node): DIR/issuer.json (secret keys, hex) and DIR/keyset.cbor (the public key
 * set to give readers and wallets), each written durably (fsync). Keep DIR secret.
 */
export function saveIssuer(dir: string, issuer: Issuer): void {
  const json = {
    offpay: 'issuer',
    version: 1,
    issuerId: issuer.issuerId,
    keys: issuer.keys.map((k) => ({ keyIndex: k.keyIndex, secretKey: toHex(k.secretKey), notBefore: k.notBefore, notAfter: k.notAfter })),
  };
  writeFileDurable(join(dir, 'issuer.json'), JSON.stringify(json, null, 2) + '\n');
  writeFileDurable(join(dir, 'keyset.cbor'), encodeIssuerKeySet(issuer.keySet()));
}

/**
 * Load the issuer saved by {@link saveIssuer} from DIR/issuer.json.
 * @throws OffpayError `file.unreadable`, `file.too_large` or `file.bad_format`, naming the path.
 */
export function loadIssuer(dir: string): Issuer {
  const path = fileIn(dir, 'issuer.json', 'issuer');
  const o = readJson(path, 'issuer');
  if (o.offpay !== 'issuer') throw new OffpayError('file.bad_format', `${path} is not an offpay issuer file`);
  const keysRaw = o.keys;
  if (!Array.isArray(keysRaw) || keysRaw.length === 0) throw new OffpayError('file.bad_format', `${path}: no keys`);
  const keys: IssuerSigningKey[] = keysRaw.map((k: Record<string, unknown>) => {
    const secretKey = hexField(k, 'secretKey', path, 32);
    return { keyIndex: numField(k, 'keyIndex', path), secretKey, publicKey: publicKeyOf(secretKey), notBefore: numField(k, 'notBefore', path), notAfter: numField(k, 'notAfter', path) };
  });
  return new Issuer(numField(o, 'issuerId', path), keys);
}

/** The public key set: ISSUER may be an issuer directory or a keyset.cbor file. */
export function loadIssuerKeys(pathOrDir: string): IssuerKeySet {
  const path = existsSync(pathOrDir) && statSync(pathOrDir).isDirectory() ? join(pathOrDir, 'keyset.cbor') : pathOrDir;
  try {
    return decodeIssuerKeySet(readBytes(path, 'issuer key set'));
  } catch (e) {
    if (e instanceof OffpayError && e.code.startsWith('file.')) throw e;
    const hint = /\.json$/i.test(path) ? ' (give the issuer directory, or its keyset.cbor)' : '';
    throw new OffpayError('file.bad_format', `${path} is not an issuer key set${hint}: ${(e as Error).message}`);
  }
}

// ------------------------------------------------------------------------------------------------ wallet

/**
 * Save a wallet: WALLET/counter.json first (counter 0, spent 0) when there is none, then WALLET/wallet.json.
 * A directory keeps one wallet key for life (spec/protocol.md §9.4): over a wallet.json of the same key (a renewed
 * certificate) the counter file is kept, so the counter never moves back; over a wallet.json of another key
 * (`wallet.counter_exists`) or one that cannot be read (`file.bad_format`, `file.unreadable`) nothing is written,
 * because resetting the counter there would let the key that signed with it sign its counters again. With no
 * wallet.json, a counter file found is kept (going up is safe).
 * @throws OffpayError `wallet.counter_exists`, `file.bad_format`, `file.unreadable` or `file.too_large`.
 */
export function saveWallet(dir: string, secretKey: Uint8Array, cert: WalletCert): void {
  const counterPath = join(dir, 'counter.json');
  const walletPath = join(dir, 'wallet.json');
  // lstat, not stat: a dangling symlink (its volume not mounted) is a file that exists and cannot be read.
  const exists = (path: string): boolean => {
    try {
      lstatSync(path);
      return true;
    } catch {
      return false;
    }
  };
  if (exists(walletPath)) {
    let held: Uint8Array;
    try {
      held = hexField(readJson(walletPath, 'wallet'), 'secretKey', walletPath, 32);
    } catch (e) {
      const why = e instanceof OffpayError && e.code.startsWith('file.') ? e : new OffpayError('file.bad_format', (e as Error).message);
      throw new OffpayError(why.code, `${walletPath} cannot be read (${why.message}): not saving a wallet over it, and its counter.json is left as it is`);
    }
    if (toHex(held) !== toHex(secretKey)) {
      throw new OffpayError('wallet.counter_exists', `${dir} holds the wallet of another key: a directory keeps one wallet key for life (its counter must never go back); save the new wallet in another directory`);
    }
  } else if (!exists(counterPath)) {
    writeFileDurable(counterPath, JSON.stringify({ counter: 0, spent: 0 }) + '\n');
  }
  if (!existsSync(counterPath)) {
    if (exists(counterPath)) throw new OffpayError('file.unreadable', `${counterPath} cannot be read (a link to nothing?): not saving a wallet beside it`);
    throw new OffpayError('wallet.counter_missing', `${counterPath} is missing: restore it with \`offpay wallet restore-counter\` before saving a renewed certificate`);
  }
  writeFileDurable(walletPath, JSON.stringify({ offpay: 'wallet', version: 1, secretKey: toHex(secretKey), cert: toHex(encodeWalletCert(cert)) }, null, 2) + '\n');
}

/**
 * Load the wallet saved by `saveWallet` from DIR/wallet.json, with its durable counter DIR/counter.json
 * ({@link FileCounterStore}); `clock` is the wallet clock in unix seconds (default: system time).
 * @throws OffpayError `file.unreadable`, `file.too_large` or `file.bad_format`, naming the path.
 */
export function loadWallet(dir: string, clock?: () => number): Wallet {
  const path = fileIn(dir, 'wallet.json', 'wallet');
  const o = readJson(path, 'wallet');
  if (o.offpay !== 'wallet') throw new OffpayError('file.bad_format', `${path} is not an offpay wallet file`);
  let cert: WalletCert;
  try {
    cert = decodeWalletCert(hexField(o, 'cert', path));
  } catch (e) {
    throw new OffpayError('file.bad_format', `${path}: bad certificate: ${(e as Error).message}`);
  }
  return new Wallet({ secretKey: hexField(o, 'secretKey', path, 32), cert, counter: new FileCounterStore(join(dir, 'counter.json')), ...(clock ? { clock } : {}) });
}

// ------------------------------------------------------------------------------------------------ reader

/** A reader's files as loaded by {@link loadReader}: the directory, the secret key (32 bytes) and the certificate. */
export interface ReaderFiles {
  /** The directory holding reader.json. */
  dir: string;
  /** The reader's Ed25519 secret key (32 bytes); keep it secret. */
  secretKey: Uint8Array;
  /** The reader certificate, signed by the issuer. */
  cert: ReaderCert;
}

/** Save a reader's secret key and certificate to DIR/reader.json, durably. Keep DIR secret. */
export function saveReader(dir: string, secretKey: Uint8Array, cert: ReaderCert): void {
  writeFileDurable(join(dir, 'reader.json'), JSON.stringify({ offpay: 'reader', version: 1, secretKey: toHex(secretKey), cert: toHex(encodeReaderCert(cert)) }, null, 2) + '\n');
}

/**
 * Load the reader saved by {@link saveReader} from DIR/reader.json. (The reader's state lives in its database:
 * see `openSqliteReaderStore`.)
 * @throws OffpayError `file.unreadable`, `file.too_large` or `file.bad_format`, naming the path.
 */
export function loadReader(dir: string): ReaderFiles {
  const path = fileIn(dir, 'reader.json', 'reader');
  const o = readJson(path, 'reader');
  if (o.offpay !== 'reader') throw new OffpayError('file.bad_format', `${path} is not an offpay reader file`);
  let cert: ReaderCert;
  try {
    cert = decodeReaderCert(hexField(o, 'cert', path));
  } catch (e) {
    throw new OffpayError('file.bad_format', `${path}: bad certificate: ${(e as Error).message}`);
  }
  return { dir, secretKey: hexField(o, 'secretKey', path, 32), cert };
}
