import { createPrivateKey, sign as nodeSign } from 'node:crypto';
import {
  Issuer,
  MemoryCounterStore,
  Wallet,
  dayOf,
  encodeToken,
  publicKeyOf,
  seededSecretKey,
  tokenSigningInput,
  type PaymentTokenBody,
  type ReaderCert,
  type ReaderProfileName,
  type WalletCert,
} from '../../src/index.js';
import { OffpayError } from '../../base/errors.js';
import { mulberry32 } from '../../base/prng.js';
import { nodeEd25519 } from '../../src/node/crypto.js';
import { chainHash, createBatch, createBlocklist, encodeEntry, genesisHash, MemoryReaderStore, Reader, type JournalEntry, type ReaderOptions } from '../../src/reader/index.js';

export const NOW = 1_795_000_000; // 2026-11-18
export const HKD = 344;

export function makeIssuer(seed = 'reader-test'): Issuer {
  return Issuer.fromSecret(7, 1, seededSecretKey(seed, 'issuer'), NOW - 86400 * 365, NOW + 86400 * 365);
}

export function makeReader(issuer: Issuer, seed: string, readerId: number, profile: ReaderProfileName = 'vending', operatorId = 90): { secretKey: Uint8Array; cert: ReaderCert } {
  const secretKey = seededSecretKey(seed, `reader-${readerId}`);
  const cert = issuer.issueReaderCert(
    { readerId, readerPublicKey: publicKeyOf(secretKey), operatorId, profile, notBefore: NOW - 86400, notAfter: NOW + 86400 * 365 },
    NOW,
  );
  return { secretKey, cert };
}

/**
 * A reader of `profile` over a memory store (node:crypto verification, clock NOW) holding `list` as its blocklist
 * (a fresh, empty version 1 by default): what the transit tests open gate after gate.
 */
export function openTestReader(
  issuer: Issuer,
  seed: string,
  readerId: number,
  o: { profile?: ReaderProfileName; operatorId?: number; list?: Uint8Array; options?: Partial<ReaderOptions> } = {},
): Reader {
  const m = makeReader(issuer, seed, readerId, o.profile ?? 'transit', o.operatorId ?? 300);
  const r = new Reader({ ...m, issuerKeys: issuer.keySet(), store: new MemoryReaderStore(), verifier: nodeEd25519(), clock: () => NOW, ...o.options });
  r.loadBlocklist(o.list ?? createBlocklist(issuer.keys[0]!, { issuerId: issuer.issuerId, version: 1, issuedAt: NOW, walletIds: [] }).bytes, NOW);
  return r;
}

/**
 * A reader-signed batch with any entries, as its first batch of journal `journalId` (seqs from 1): what a gate
 * exports, or what a faulty or dishonest reader holding its key can upload.
 */
export function handBatch(m: { secretKey: Uint8Array; cert: ReaderCert }, journalId: Uint8Array, entries: Omit<JournalEntry, 'seq'>[], createdAt = NOW + 60, batchSeq = 1): Uint8Array {
  const es = entries.map((e, i) => ({ ...e, seq: i + 1 }));
  let h = genesisHash(m.cert.readerId, journalId);
  const prevHead = h;
  for (const e of es) h = chainHash(h, encodeEntry(e));
  return createBatch(m, { readerCert: m.cert, journalId, batchSeq, firstSeq: 1, prevHead, head: h, entries: es, createdAt }).bytes;
}

/**
 * Batch `batchSeq` of a journal whose entries are `all` (seqs from 1): the entries from index `from` on, chained from
 * the hash of entry `from` (the genesis for 0). A later batch of a journal held in part.
 */
export function tailBatch(m: { secretKey: Uint8Array; cert: ReaderCert }, journalId: Uint8Array, all: Omit<JournalEntry, 'seq'>[], from: number, batchSeq: number, createdAt = NOW + 120): Uint8Array {
  const es = all.map((e, i) => ({ ...e, seq: i + 1 }));
  let h = genesisHash(m.cert.readerId, journalId);
  for (const e of es.slice(0, from)) h = chainHash(h, encodeEntry(e));
  const prevHead = h;
  for (const e of es.slice(from)) h = chainHash(h, encodeEntry(e));
  return createBatch(m, { readerCert: m.cert, journalId, batchSeq, firstSeq: from + 1, prevHead, head: h, entries: es.slice(from), createdAt }).bytes;
}

export interface TestWallet {
  secretKey: Uint8Array;
  cert: WalletCert;
  wallet: Wallet;
}

export function makeWallet(issuer: Issuer, seed: string, label: string, limits: { maxPerPayment?: number; offlineAllowance?: number } = {}): TestWallet {
  const secretKey = seededSecretKey(seed, `wallet-${label}`);
  const cert = issuer.issueWalletCert(
    {
      walletPublicKey: publicKeyOf(secretKey),
      expiryDay: dayOf(NOW) + 30,
      maxPerPayment: limits.maxPerPayment ?? 50_000,
      offlineAllowance: limits.offlineAllowance ?? 10_000_000,
      currency: HKD,
    },
    NOW,
  );
  return { secretKey, cert, wallet: new Wallet({ secretKey, cert, counter: new MemoryCounterStore(), clock: () => NOW }) };
}

const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

/** Sign a token directly (any counter, fast: node:crypto), for tests that need exact counters. */
export function signToken(w: { secretKey: Uint8Array; cert: WalletCert }, p: { payee: number; amount: number; counter: number; time?: number; challenge?: Uint8Array }): Uint8Array {
  const body: PaymentTokenBody = { walletCert: w.cert, payee: p.payee, amount: p.amount, counter: p.counter, time: p.time ?? NOW, challenge: p.challenge };
  const key = keyCache.get(w.secretKey) ?? createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, w.secretKey]), format: 'der', type: 'pkcs8' });
  keyCache.set(w.secretKey, key);
  const sig = new Uint8Array(nodeSign(null, tokenSigningInput(body), key));
  return encodeToken({ ...body, walletSignature: sig });
}
const keyCache = new WeakMap<Uint8Array, ReturnType<typeof createPrivateKey>>();

/** A deterministic PRNG (mulberry32, base/prng.ts) for seeded tests. */
export const prng = mulberry32;

/** Run `f`: 'ok', or the code of the OffpayError it throws (anything else is rethrown). */
export function codeOf(f: () => unknown): string {
  try {
    f();
    return 'ok';
  } catch (e) {
    if (e instanceof OffpayError) return e.code;
    throw e;
  }
}
