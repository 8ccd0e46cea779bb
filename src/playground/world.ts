/**
 * Who the playground serves as: the issuer key set, the readers whose keys the reader page gets, the
 * blocklist it loads and who certifies the wallet page (spec/playground.md §1.2).
 *
 * Two worlds:
 *   demo   (no --issuer): a throw-away issuer (id 1), vending machine 4201 (operator 90) and gate 5001
 *          (operator 77), made in memory; every /api/setup gets a fresh empty blocklist with the next version.
 *   real   (--issuer DIR --reader DIR [--reader DIR]): DIR/keyset.cbor as it is on disk; each reader's key and
 *          certificate (at most one vending and one transit reader, each certified by that issuer); the newest
 *          blocklist of that issuer found in DIR, or ONE empty list version 1 signed at start-up; wallet
 *          certificates only with --issue-wallets.
 *
 * Why the real world is stingier than the demo (threats):
 * - A fresh empty list per request with a rising version (the demo's way) signed by a real issuer key would
 *   hand anyone who can reach /api/setup an issuer-signed list of any version: loaded into a real reader it
 *   would unblock every blocked wallet and, with a version above clearing's, shut out clearing's next lists.
 *   So the real world signs at most one empty list, version 1 (the lowest, spec/reader.md §5): a reader that
 *   ever held a list from clearing refuses it (versions only go up).
 * - A wallet certificate from a real issuer is real spending power, so the server hands them out only when
 *   the operator says so (--issue-wallets); otherwise /api/wallet-cert answers 403 playground.no_wallet_certs.
 * - The reader page holds the readers' SECRET keys: whoever can open /api/setup can act as those readers. The
 *   CLI says so at start-up.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { publicKeyOf, randomSecretKey } from '../crypto.js';
import { equalBytes as bytesEqual } from '../../base/bytes.js';
import { OffpayError } from '../../base/errors.js';
import { Issuer, dayOf } from '../issuer.js';
import { decodeIssuerKeySet, encodeIssuerKeySet, encodeReaderCert, encodeWalletCert, MessageType, peekType, type IssuerKeySet, type ReaderCert } from '../messages.js';
import { nodeEd25519 } from '../node/crypto.js';
import { loadIssuer, loadReader, readBytes } from '../node/files.js';
import { createBlocklist, MAX_BLOCKLIST_BYTES, verifyBlocklist } from '../reader/blocklist.js';
import { Reader } from '../reader/reader.js';
import { MemoryReaderStore } from '../reader/store.js';

/** The reader page's two roles: a vending machine (certificate profile vending) or a gate (transit). */
export type ReaderRole = 'vending' | 'gate';

export interface PlaygroundReader {
  name: ReaderRole;
  readerId: number;
  operatorId: number;
  secretKey: Uint8Array;
  /** The certificate bytes exactly as given (demo: as made). */
  cert: Uint8Array;
  /** Where it came from (real world). */
  dir?: string;
}

/** Terms of a wallet certificate the playground issues: HKD, 200.00 a payment, 500.00 offline, 30 days. */
export const WALLET_TERMS = { currency: 344, maxPerPayment: 20_000, offlineAllowance: 50_000, days: 30 } as const;

/** Most files in ISSUER looked at for blocklists (a directory of thousands is refused, not scanned). */
export const MAX_ISSUER_DIR_ENTRIES = 1024;

export interface World {
  demo: boolean;
  issuerId: number;
  /** The key set's bytes served at /api/setup (real world: keyset.cbor's bytes unchanged). */
  issuerKeys: Uint8Array;
  keySet: IssuerKeySet;
  readers: PlaygroundReader[];
  /** Whether /api/wallet-cert certifies wallets. */
  issuesWallets: boolean;
  /** Where the served blocklist comes from, for the start-up lines. */
  blocklistSource: { kind: 'fresh-per-request' } | { kind: 'file'; path: string; version: number; issuedAt: number; entries: number } | { kind: 'signed-at-start'; version: 1; issuedAt: number };
  /** The blocklist bytes for one /api/setup answer. */
  blocklist(now: number): Uint8Array;
  /** A wallet certificate for `walletPublicKey` (only when issuesWallets). */
  walletCert(walletPublicKey: Uint8Array, now: number): Uint8Array;
}

export function makeDemoWorld(now: number): World {
  const issuer = Issuer.fromSecret(1, 1, randomSecretKey(), now - 86400, now + 365 * 86400);
  const reader = (name: ReaderRole, readerId: number, operatorId: number): PlaygroundReader => {
    const sk = randomSecretKey();
    const cert = issuer.issueReaderCert(
      { readerId, readerPublicKey: publicKeyOf(sk), operatorId, profile: name === 'gate' ? 'transit' : 'vending', notBefore: now - 60, notAfter: now + 365 * 86400 },
      now,
    );
    return { name, readerId, operatorId, secretKey: sk, cert: encodeReaderCert(cert) };
  };
  let version = 0;
  return {
    demo: true,
    issuerId: issuer.issuerId,
    issuerKeys: encodeIssuerKeySet(issuer.keySet()),
    keySet: issuer.keySet(),
    readers: [reader('vending', 4201, 90), reader('gate', 5001, 77)],
    issuesWallets: true,
    blocklistSource: { kind: 'fresh-per-request' },
    blocklist: (t) => createBlocklist(issuer.currentKey(t), { issuerId: issuer.issuerId, version: ++version, issuedAt: t, walletIds: [] }).bytes,
    walletCert: (pk, t) => issueWallet(issuer, pk, t),
  };
}

function issueWallet(issuer: Issuer, walletPublicKey: Uint8Array, now: number): Uint8Array {
  const { currency, maxPerPayment, offlineAllowance, days } = WALLET_TERMS;
  return encodeWalletCert(issuer.issueWalletCert({ walletPublicKey, expiryDay: dayOf(now) + days, maxPerPayment, offlineAllowance, currency }, now));
}

const fail = (code: 'playground.bad_issuer' | 'playground.bad_reader' | 'playground.bad_blocklist', msg: string, cause?: unknown): never => {
  const why = cause instanceof OffpayError ? ` (${cause.code}: ${cause.message})` : cause instanceof Error ? ` (${cause.message})` : '';
  throw new OffpayError(code, msg + why);
};

export interface RealWorldOptions {
  issuerDir: string;
  readerDirs: string[];
  issueWallets: boolean;
}

/**
 * Load the real world from an issuer directory and one or two reader directories. Checks, in this order
 * (spec/playground.md §1.2), each failure a typed error:
 *  1. ISSUER is a directory holding keyset.cbor that decodes            playground.bad_issuer
 *  2. if ISSUER/issuer.json exists it loads and its key set encodes to exactly keyset.cbor's bytes; it is
 *     required when something must be signed (--issue-wallets, or no blocklist in ISSUER)  playground.bad_issuer
 *  3. each READER: reader.json loads, its key matches its certificate, the certificate is signed by a key of
 *     this key set, it is valid now, and no two readers share a profile   playground.bad_reader
 *  4. blocklists in ISSUER (*.cbor files other than keyset.cbor whose message type is 7): each verifies
 *     against the key set; the highest version is served; two different lists with one version are refused
 *                                                                         playground.bad_blocklist
 */
export function loadRealWorld(o: RealWorldOptions, now: number): World {
  const dir = o.issuerDir;
  if (!existsSync(dir) || !statSync(dir).isDirectory()) fail('playground.bad_issuer', `--issuer ${dir} is not a directory (offpay issuer init --dir makes one)`);
  let keySet: IssuerKeySet;
  let keyBytes: Uint8Array;
  try {
    keyBytes = readBytes(join(dir, 'keyset.cbor'), 'issuer key set', 1 << 20);
    keySet = decodeIssuerKeySet(keyBytes);
  } catch (e) {
    return fail('playground.bad_issuer', `--issuer ${dir}: no readable issuer key set`, e);
  }
  let issuer: Issuer | undefined;
  if (existsSync(join(dir, 'issuer.json'))) {
    try {
      issuer = loadIssuer(dir);
    } catch (e) {
      fail('playground.bad_issuer', `--issuer ${dir}: issuer.json does not load`, e);
    }
    if (!bytesEqual(encodeIssuerKeySet(issuer!.keySet()), keyBytes)) fail('playground.bad_issuer', `--issuer ${dir}: keyset.cbor is not the key set of issuer.json (a stale copy, or files of two issuers)`);
  }

  const readers: PlaygroundReader[] = [];
  for (const rdir of o.readerDirs) {
    let files: { secretKey: Uint8Array; cert: ReaderCert };
    try {
      files = loadReader(rdir);
    } catch (e) {
      return fail('playground.bad_reader', `--reader ${rdir}: no readable reader`, e);
    }
    try {
      new Reader({ cert: files.cert, secretKey: files.secretKey, issuerKeys: keySet, store: new MemoryReaderStore(), verifier: nodeEd25519(), clock: () => now });
    } catch (e) {
      fail('playground.bad_reader', `--reader ${rdir}: reader ${files.cert.readerId} cannot serve issuer ${keySet.issuerId}`, e);
    }
    const c = files.cert;
    if (now < c.notBefore || now > c.notAfter) fail('playground.bad_reader', `--reader ${rdir}: the certificate of reader ${c.readerId} is valid ${new Date(c.notBefore * 1000).toISOString()} .. ${new Date(c.notAfter * 1000).toISOString()}, not now`);
    const name: ReaderRole = c.profile === 'transit' ? 'gate' : 'vending';
    const twin = readers.find((r) => r.name === name);
    if (twin) fail('playground.bad_reader', `--reader ${rdir}: reader ${c.readerId} and reader ${twin.readerId} are both ${c.profile} readers; give at most one vending and one transit reader`);
    readers.push({ name, readerId: c.readerId, operatorId: c.operatorId, secretKey: files.secretKey, cert: encodeReaderCert(c), dir: rdir });
  }

  const found = newestBlocklist(dir, keySet);
  const needsSigner = o.issueWallets || !found;
  if (needsSigner && !issuer) {
    fail('playground.bad_issuer', `--issuer ${dir} has no issuer.json (the secret keys), needed to ${o.issueWallets ? 'certify wallets (--issue-wallets)' : 'sign an empty blocklist (there is no blocklist in the directory: offpay clearing blocklist --out makes one)'}`);
  }
  let listBytes: Uint8Array;
  let blocklistSource: World['blocklistSource'];
  if (found) {
    listBytes = found.bytes;
    blocklistSource = { kind: 'file', path: found.path, version: found.version, issuedAt: found.issuedAt, entries: found.entries };
  } else {
    let key;
    try {
      key = issuer!.currentKey(now);
    } catch (e) {
      return fail('playground.bad_issuer', `--issuer ${dir}: no issuer key is valid now`, e);
    }
    listBytes = createBlocklist(key, { issuerId: issuer!.issuerId, version: 1, issuedAt: now, walletIds: [] }).bytes;
    blocklistSource = { kind: 'signed-at-start', version: 1, issuedAt: now };
  }
  return {
    demo: false,
    issuerId: keySet.issuerId,
    issuerKeys: keyBytes,
    keySet,
    readers,
    issuesWallets: o.issueWallets,
    blocklistSource,
    blocklist: () => listBytes,
    walletCert: (pk, t) => {
      if (!o.issueWallets || !issuer) throw new OffpayError('playground.no_wallet_certs', 'this playground does not certify wallets');
      return issueWallet(issuer, pk, t);
    },
  };
}

interface FoundList {
  path: string;
  bytes: Uint8Array;
  version: number;
  issuedAt: number;
  entries: number;
}

/** The blocklist of highest version among ISSUER/*.cbor (keyset.cbor aside), or undefined. */
export function newestBlocklist(dir: string, keySet: IssuerKeySet): FoundList | undefined {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (e) {
    return fail('playground.bad_issuer', `--issuer ${dir}: cannot list the directory`, e);
  }
  if (names.length > MAX_ISSUER_DIR_ENTRIES) fail('playground.bad_issuer', `--issuer ${dir} holds ${names.length} entries (at most ${MAX_ISSUER_DIR_ENTRIES} are searched for blocklists)`);
  let best: FoundList | undefined;
  for (const name of names.sort()) {
    if (!name.endsWith('.cbor') || name === 'keyset.cbor') continue;
    const path = join(dir, name);
    let isFile = false;
    try {
      isFile = statSync(path).isFile();
    } catch {
      // a dangling link or a file gone since the listing: nothing to read
    }
    if (!isFile) continue;
    let bytes: Uint8Array;
    try {
      bytes = readBytes(path, 'blocklist', MAX_BLOCKLIST_BYTES);
    } catch (e) {
      return fail('playground.bad_blocklist', `${path}`, e);
    }
    let type: number;
    try {
      type = peekType(bytes).type;
    } catch {
      continue; // not an offpay message: not ours to judge
    }
    if (type !== MessageType.Blocklist) continue;
    let b;
    try {
      b = verifyBlocklist(bytes, keySet, nodeEd25519());
    } catch (e) {
      return fail('playground.bad_blocklist', `${path} is a blocklist that does not verify against issuer ${keySet.issuerId}'s key set`, e);
    }
    if (best && b.version === best.version && !bytesEqual(bytes, best.bytes)) fail('playground.bad_blocklist', `${best.path} and ${path} are two different blocklists with version ${b.version}`);
    if (!best || b.version > best.version) best = { path, bytes, version: b.version, issuedAt: b.issuedAt, entries: b.entries.length / 16 };
  }
  return best;
}
