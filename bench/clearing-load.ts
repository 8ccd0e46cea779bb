/**
 * A seeded population of readers and wallets, and `offpay clearing serve` as child processes: shared by the
 * clearing load test (test/clearing/load.test.ts), the kill test (test/clearing/kill.test.ts) and the
 * service benchmark (bench/clearing.bench.ts). It lives under bench/ because the benchmark runs from dist/
 * (tsconfig.build.json compiles bench/, not test/).
 *
 * Population: one issuer (its validity around `t0`), `readers` vending readers (real `Reader` objects on
 * memory stores, node:crypto verification), and wallets of three kinds:
 *   - honest wallets: one device each, counters 1, 2, 3, ...;
 *   - clone groups: one wallet key copied onto `cloneCopies` devices, each counting from 1 on its own, so
 *     the copies reuse counters at different readers (spec/clearing.md C2: `counter_reuse`);
 *   - over-allowance wallets: a small offline allowance, spent in amounts that stay under it at every single
 *     reader but pass it summed over readers (spec/clearing.md §5: `overAllowance`, then the blocklist).
 * Every sale goes through `Reader.openRequest` + `Reader.accept`, so the journals hold what real readers
 * write (refusals, e.g. a clone's counter already seen at the same reader, leave a conflict entry or
 * nothing, as the reader decides). Batches are exported with `Reader.export`; some readers also get an
 * overlapping batch (their last two batches' entries again, as batch R + 1), built with `createBatch`.
 *
 * Everything is derived from `seed` (keys, journal ids, which wallet pays where, amounts, challenges), except
 * `t0` (the dates), which the caller takes from the system clock because `clearing serve` runs on it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { dayOf, Issuer } from '../src/issuer.js';
import { seededSecretKey } from '../src/crypto.js';
import { createPrivateKey, createPublicKey, sign as nodeSign } from 'node:crypto';
import { encodeCbor } from '../src/cbor.js';
import { encodeToken, MessageType, PROTOCOL_VERSION, readerCertSigningInput, readerCertToCbor, tokenSigningInput, walletIdOf, type PaymentTokenBody, type ReaderCert, type ReaderCertBody, type WalletCert, type WalletCertBody, walletCertSigningInput } from '../src/messages.js';
import { nodeEd25519 } from '../src/node/crypto.js';
import { mulberry32 } from '../base/prng.js';
import { batchSigningInput, batchSigningInputFromBytes, createBatch, type SettlementBatchBody } from '../src/reader/batch.js';
import { createBlocklist } from '../src/reader/blocklist.js';
import { chainHash, decodeEntry, encodeEntry, entryToCbor, genesisHash, type JournalEntry } from '../src/reader/journal.js';
import { Reader } from '../src/reader/reader.js';
import { MemoryReaderStore } from '../src/reader/store.js';

export const HKD = 344;
const ISSUER_ID = 7;

export interface PopulationOptions {
  seed: number;
  /** Unix seconds: tokens, batches and certificates are dated around it. */
  t0: number;
  readers: number;
  batchesPerReader: number;
  salesPerBatch: number;
  honestWallets: number;
  cloneGroups: number;
  cloneCopies: number;
  overAllowanceWallets: number;
  /** Share of sales paid by a clone (0..1); the rest by honest wallets, but for over-allowance spends. */
  cloneShare: number;
  /** Share of sales paid by an over-allowance wallet (0..1). */
  overAllowanceShare: number;
  /** Share of readers that also send an overlapping batch (0..1). */
  overlapShare: number;
  /** Leave the sales of the last batch in the journal, unexported (the kill test's `syncReader` exports them). */
  lastBatchUnexported?: boolean;
  /** Readers per operator (merchants): reader i settles to operator 90 + floor(i / readersPerOperator). */
  readersPerOperator?: number;
  /**
   * buildFastPopulation: the seed of the population whose issuer signs the certificates (default `seed`), so that
   * two populations of different wallets and readers can go to one clearing.
   */
  issuerSeed?: number;
  /** buildFastPopulation: reader i has id readerIdBase + i (default 10,000). */
  readerIdBase?: number;
}

export interface SimReader {
  readerId: number;
  reader: Reader;
  /** The reader's batches as exported, batch n at index n - 1, then the overlapping batch when it has one. */
  batches: Uint8Array[];
  overlapping: boolean;
}

export interface Population {
  issuer: Issuer;
  readers: SimReader[];
  /** Every token a reader accepted (signed bytes), for the raw verification benchmark. */
  tokens: Uint8Array[];
  /** The clone and over-allowance wallet ids (16 bytes, hex): the ones clearing must block. */
  suspectWallets: string[];
  counts: { accepted: number; refused: Record<string, number>; batches: number };
}

interface Device {
  secretKey: Uint8Array;
  cert: WalletCert;
  key: ReturnType<typeof createPrivateKey>;
  counter: number;
}

const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

/** A wallet device: key and certificate made with node:crypto (the library's issuer signs with noble, ~10x slower). */
function device(issuerSecret: Uint8Array, seed: string, label: string, t0: number, offlineAllowance: number): Device {
  const secretKey = seededSecretKey(seed, `wallet-${label}`);
  const k = nodeKey(secretKey);
  const body: WalletCertBody = { walletPublicKey: k.publicKey, expiryDay: dayOf(t0) + 30, maxPerPayment: Math.min(50_000, offlineAllowance), offlineAllowance, currency: HKD, keyIndex: 1 };
  const cert: WalletCert = { ...body, issuerSignature: new Uint8Array(nodeSign(null, walletCertSigningInput(body), nodeKey(issuerSecret).key)) };
  return { secretKey, cert, key: k.key, counter: 0 };
}

function signToken(d: Device, p: { payee: number; amount: number; time: number; challenge: Uint8Array }): Uint8Array {
  d.counter++;
  const body: PaymentTokenBody = { walletCert: d.cert, payee: p.payee, amount: p.amount, counter: d.counter, time: p.time, challenge: p.challenge };
  return encodeToken({ ...body, walletSignature: new Uint8Array(nodeSign(null, tokenSigningInput(body), d.key)) });
}

export function makeIssuer(t0: number, seed = 'clearing-load'): Issuer {
  return Issuer.fromSecret(ISSUER_ID, 1, seededSecretKey(seed, 'issuer'), t0 - 86_400 * 30, t0 + 86_400 * 365);
}

/** Build the population (seconds for 1,000 readers: each reader key, certificate and batch is an Ed25519 signature). */
export async function buildPopulation(o: PopulationOptions): Promise<Population> {
  const rand = mulberry32(o.seed);
  const pick = <T>(xs: T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const seed = `clearing-load-${o.seed}`;
  const t0 = o.t0;
  const issuer = makeIssuer(t0, seed);
  const keys = issuer.keySet();
  const issuerKey = nodeKey(seededSecretKey(seed, 'issuer'));
  const list0 = createBlocklist(issuer.currentKey(t0), { issuerId: ISSUER_ID, version: 1, issuedAt: t0 - 7_200, walletIds: [] }).bytes;
  const honest = Array.from({ length: o.honestWallets }, (_, i) => device(seededSecretKey(seed, 'issuer'), seed, `honest-${i}`, t0, 10_000_000));
  const clones = Array.from({ length: o.cloneGroups }, (_, g) => {
    const first = device(seededSecretKey(seed, 'issuer'), seed, `clone-${g}`, t0, 10_000_000);
    return [first, ...Array.from({ length: o.cloneCopies - 1 }, () => ({ ...first, counter: 0 }))];
  });
  // Allowance 2,000 minor units, amounts 300..700: a few sales at one reader stay under it, the sum over readers does not.
  const over = Array.from({ length: o.overAllowanceWallets }, (_, i) => device(seededSecretKey(seed, 'issuer'), seed, `over-${i}`, t0, 2_000));
  const verifier = nodeEd25519();
  const perOperator = o.readersPerOperator ?? 100;
  const readers: SimReader[] = [];
  const tokens: Uint8Array[] = [];
  const refused: Record<string, number> = {};
  let accepted = 0;
  let batches = 0;
  for (let i = 0; i < o.readers; i++) {
    const readerId = 10_000 + i;
    const secretKey = seededSecretKey(seed, `reader-${readerId}`);
    const cert = readerCert(issuerKey.key, { readerId, readerPublicKey: nodeKey(secretKey).publicKey, operatorId: 90 + Math.floor(i / perOperator), profile: 'vending', notBefore: t0 - 86_400, notAfter: t0 + 86_400 * 365, keyIndex: 1 });
    const journalId = Uint8Array.from({ length: 8 }, () => Math.floor(rand() * 256));
    const store = new MemoryReaderStore();
    const reader = new Reader({ cert, secretKey, issuerKeys: keys, store, verifier, clock: () => t0, journalId });
    reader.loadBlocklist(list0, t0);
    const out: Uint8Array[] = [];
    const ranges: [number, number][] = []; // [firstSeq, lastSeq] of each exported batch
    for (let b = 0; b < o.batchesPerReader; b++) {
      for (let s = 0; s < o.salesPerBatch; s++) {
        const u = rand();
        const amount = 100 + Math.floor(rand() * 900);
        const d = u < o.cloneShare ? pick(pick(clones)) : u < o.cloneShare + o.overAllowanceShare ? pick(over) : pick(honest);
        const challenge = Uint8Array.from({ length: 8 }, () => Math.floor(rand() * 256));
        const time = t0 - 3_600 + b * 60 + s;
        const price = d.cert.offlineAllowance === 2_000 ? 300 + Math.floor(rand() * 400) : amount;
        reader.openRequest({ amount: price, currency: HKD, now: time, challenge });
        const token = signToken(d, { payee: readerId, amount: price, time, challenge });
        const v = await reader.accept(token, { now: time, complete: true });
        if (v.accepted) {
          accepted++;
          tokens.push(token);
        } else {
          refused[v.reason] = (refused[v.reason] ?? 0) + 1;
          reader.closeRequest();
        }
      }
      if (o.lastBatchUnexported && b === o.batchesPerReader - 1) break;
      const from = ranges.length ? ranges[ranges.length - 1]![1] + 1 : 1;
      const head = reader.head().seq;
      if (head >= from) {
        out.push(reader.export(t0 - 3_600 + b * 60 + 59).bytes);
        ranges.push([from, head]);
      }
    }
    const overlapping = out.length >= 2 && rand() < o.overlapShare;
    if (overlapping) {
      // Batch R + 1 carries the entries of batches R - 1 and R again (a reader that re-sent its last two).
      const first = ranges[ranges.length - 2]![0];
      const last = ranges[ranges.length - 1]![1];
      const rows = store.journal(first, last);
      const prevHead = first <= 1 ? genesisHash(readerId, journalId) : store.journal(first - 1, first - 1)[0]!.hash;
      out.push(
        createBatch({ secretKey }, { readerCert: cert, journalId, batchSeq: out.length + 1, firstSeq: first, prevHead, head: rows[rows.length - 1]!.hash, entries: rows.map((r) => decodeEntry(r.bytes)), createdAt: t0 }).bytes,
      );
    }
    batches += out.length;
    readers.push({ readerId, reader, batches: out, overlapping });
  }
  const walletHex = (d: Device) => Buffer.from(walletIdOf(d.cert.walletPublicKey)).toString('hex');
  return { issuer, readers, tokens, suspectWallets: [...clones.map((c) => walletHex(c[0]!)), ...over.map(walletHex)], counts: { accepted, refused, batches } };
}

/**
 * The same kind of population without `Reader` objects, for 1,000 readers in seconds on a loaded 2-core
 * machine: each sale is written as `Reader.accept` writes it (an `accept` entry with the token, the amount and
 * the request context {challenge, time}, chained with `chainHash`), and keys, certificates and batches are
 * signed with node:crypto instead of the noble code the library signs with (3.6 ms a signature at load 11).
 * A real reader's own checks are kept where they matter: a wallet counter is never taken twice at one
 * reader (a clone's copies collide at different readers only) and a wallet never passes its allowance at one
 * reader. Encoding: checked once per run against `batchSigningInputFromBytes` (the bytes clearing verifies).
 */
export interface FastPopulation extends Omit<Population, 'readers'> {
  readers: { readerId: number; batches: Uint8Array[]; overlapping: boolean }[];
  /** Each token's wallet signature, signing input and wallet key: what a raw verification checks. */
  signatures: { sig: Uint8Array; msg: Uint8Array; pk: Uint8Array }[];
}

export function buildFastPopulation(o: PopulationOptions): FastPopulation {
  const rand = mulberry32(o.seed);
  const pick = <T>(xs: T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const seed = `clearing-load-${o.seed}`;
  const issuerSeed = `clearing-load-${o.issuerSeed ?? o.seed}`;
  const t0 = o.t0;
  const issuer = makeIssuer(t0, issuerSeed);
  const issuerKey = nodeKey(seededSecretKey(issuerSeed, 'issuer'));
  const honest = Array.from({ length: o.honestWallets }, (_, i) => device(seededSecretKey(issuerSeed, 'issuer'), seed, `honest-${i}`, t0, 10_000_000));
  const clones = Array.from({ length: o.cloneGroups }, (_, g) => {
    const first = device(seededSecretKey(issuerSeed, 'issuer'), seed, `clone-${g}`, t0, 10_000_000);
    return [first, ...Array.from({ length: o.cloneCopies - 1 }, () => ({ ...first, counter: 0 }))];
  });
  const over = Array.from({ length: o.overAllowanceWallets }, (_, i) => device(seededSecretKey(issuerSeed, 'issuer'), seed, `over-${i}`, t0, 2_000));
  const perOperator = o.readersPerOperator ?? 100;
  const readers: { readerId: number; batches: Uint8Array[]; overlapping: boolean }[] = [];
  const tokens: Uint8Array[] = [];
  let batches = 0;
  let checked = false;
  const signatures: FastPopulation['signatures'] = [];
  for (let i = 0; i < o.readers; i++) {
    const readerId = (o.readerIdBase ?? 10_000) + i;
    const key = nodeKey(seededSecretKey(seed, `reader-${readerId}`));
    const cert = readerCert(issuerKey.key, { readerId, readerPublicKey: key.publicKey, operatorId: 90 + Math.floor(i / perOperator), profile: 'vending', notBefore: t0 - 86_400, notAfter: t0 + 86_400 * 365, keyIndex: 1 });
    const journalId = Uint8Array.from({ length: 8 }, () => Math.floor(rand() * 256));
    const rows: { bytes: Uint8Array; hash: Uint8Array; entry: JournalEntry }[] = [];
    const taken = new Set<string>(); // wallet:counter taken here
    const spent = new Map<Device, number>();
    const genesis = genesisHash(readerId, journalId);
    const out: Uint8Array[] = [];
    const ranges: [number, number][] = [];
    const batch = (batchSeq: number, first: number, last: number, createdAt: number): Uint8Array => {
      const rs = rows.slice(first - 1, last);
      const b: SettlementBatchBody = { readerCert: cert, journalId, batchSeq, firstSeq: first, prevHead: first <= 1 ? genesis : rows[first - 2]!.hash, head: rs[rs.length - 1]!.hash, entries: rs.map((r) => r.entry), createdAt };
      const input = batchSigningInput(b);
      const sig = new Uint8Array(nodeSign(null, input, key.key));
      const bytes = encodeCbor([MessageType.SettlementBatch, PROTOCOL_VERSION, readerCertToCbor(cert), journalId, batchSeq, first, b.prevHead, b.head, rs.map((r) => entryToCbor(r.entry)), createdAt, sig]);
      if (!checked) {
        if (Buffer.compare(batchSigningInputFromBytes(bytes), input) !== 0) throw new Error('fast batch encoding differs from createBatch');
        checked = true;
      }
      return bytes;
    };
    for (let b = 0; b < o.batchesPerReader; b++) {
      for (let s = 0; s < o.salesPerBatch; s++) {
        const u = rand();
        let d = u < o.cloneShare ? pick(pick(clones)) : u < o.cloneShare + o.overAllowanceShare ? pick(over) : pick(honest);
        const isOver = d.cert.offlineAllowance === 2_000;
        let amount = isOver ? 300 + Math.floor(rand() * 400) : 100 + Math.floor(rand() * 900);
        const walletKey = Buffer.from(d.cert.walletPublicKey).toString('hex');
        // What a real reader refuses: a counter it already took from this wallet, an allowance passed here.
        if (taken.has(`${walletKey}:${d.counter + 1}`) || (spent.get(d) ?? 0) + amount > d.cert.offlineAllowance) {
          d = pick(honest);
          amount = 100 + Math.floor(rand() * 900);
        }
        const challenge = Uint8Array.from({ length: 8 }, () => Math.floor(rand() * 256));
        const time = t0 - 3_600 + b * 60 + s;
        const token = signToken(d, { payee: readerId, amount, time, challenge });
        const signed: PaymentTokenBody = { walletCert: d.cert, payee: readerId, amount, counter: d.counter, time, challenge };
        signatures.push({ sig: token.subarray(token.length - 64), msg: tokenSigningInput(signed), pk: d.cert.walletPublicKey });
        taken.add(`${Buffer.from(d.cert.walletPublicKey).toString('hex')}:${d.counter}`);
        spent.set(d, (spent.get(d) ?? 0) + amount);
        tokens.push(token);
        const entry: JournalEntry = { seq: rows.length + 1, kind: 'accept', time, data: token, value: amount, request: { challenge, time } };
        const bytes = encodeEntry(entry);
        rows.push({ bytes, hash: chainHash(rows.length ? rows[rows.length - 1]!.hash : genesis, bytes), entry });
      }
      const from = ranges.length ? ranges[ranges.length - 1]![1] + 1 : 1;
      if (rows.length >= from) {
        out.push(batch(out.length + 1, from, rows.length, t0 - 3_600 + b * 60 + 59));
        ranges.push([from, rows.length]);
      }
    }
    const overlapping = out.length >= 2 && rand() < o.overlapShare;
    if (overlapping) out.push(batch(out.length + 1, ranges[ranges.length - 2]![0], rows.length, t0));
    batches += out.length;
    readers.push({ readerId, batches: out, overlapping });
  }
  const walletHex = (d: Device) => Buffer.from(walletIdOf(d.cert.walletPublicKey)).toString('hex');
  return { issuer, readers, tokens, suspectWallets: [...clones.map((c) => walletHex(c[0]!)), ...over.map(walletHex)], counts: { accepted: tokens.length, refused: {}, batches }, signatures };
}

/** A reader certificate signed with node:crypto (what Issuer.issueReaderCert signs, without its noble cost). */
function readerCert(issuerKey: ReturnType<typeof createPrivateKey>, body: ReaderCertBody): ReaderCert {
  return { ...body, issuerSignature: new Uint8Array(nodeSign(null, readerCertSigningInput(body), issuerKey)) };
}

function nodeKey(secretKey: Uint8Array): { key: ReturnType<typeof createPrivateKey>; publicKey: Uint8Array } {
  const key = createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, secretKey]), format: 'der', type: 'pkcs8' });
  return { key, publicKey: new Uint8Array(createPublicKey(key).export({ format: 'der', type: 'spki' }).subarray(-32)) };
}

/** The built CLI (`npm run build` first; CI's `npm test` builds before it tests). */
export function cliPath(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  // From bench/ (vitest, TypeScript source) or dist/bench/ (the built benchmark).
  const candidates = [resolve(here, '../dist/src/cli/main.js'), resolve(here, '../src/cli/main.js')];
  const found = candidates.find((c) => c.includes(`${join('dist', 'src')}`) && existsSync(c)) ?? candidates.find((c) => existsSync(c) && c.endsWith('.js'));
  if (!found) throw new Error(`the built CLI is missing (${candidates[0]}): run npm run build`);
  return found;
}

export interface ServeOptions {
  issuerDir: string;
  /** The server's --db argument: a SQLite file today; a postgres:// URL once that engine exists. */
  db: string;
  operatorTokenFile: string;
  /** Port to listen on (0: any; a restarted node keeps its port so that its readers find it again). */
  port?: number;
  extraArgs?: string[];
  /** Called with every stdout line (the server logs one line per batch). */
  onLine?: (line: string) => void;
}

/** One `offpay clearing serve` node: start, kill -9, start again on the same port and database. */
export class ServeNode {
  child: ChildProcess | undefined;
  url = '';
  port: number;
  starts = 0;
  constructor(readonly o: ServeOptions) {
    this.port = o.port ?? 0;
  }

  /** Spawn the server and resolve with its URL once it prints "listening on"; reject if it exits first. */
  start(timeoutMs = 30_000): Promise<string> {
    const args = [cliPath(), 'clearing', 'serve', '--issuer', this.o.issuerDir, '--db', this.o.db, '--port', String(this.port), '--operator-token-file', this.o.operatorTokenFile, ...(this.o.extraArgs ?? [])];
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    this.starts++;
    return new Promise((resolvePromise, reject) => {
      let out = '';
      let err = '';
      let ready = false;
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`clearing serve did not start within ${timeoutMs} ms: ${err}`));
      }, timeoutMs);
      child.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        let nl: number;
        while ((nl = out.indexOf('\n')) >= 0) {
          const line = out.slice(0, nl);
          out = out.slice(nl + 1);
          this.o.onLine?.(line);
          const m = /listening on (http:\/\/\S+)/.exec(line);
          if (m && !ready) {
            ready = true;
            clearTimeout(timer);
            this.url = m[1]!;
            this.port = Number(new URL(this.url).port);
            resolvePromise(this.url);
          }
        }
      });
      child.stderr!.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-4000)));
      child.on('exit', (code, signal) => {
        if (!ready) {
          clearTimeout(timer);
          reject(new Error(`clearing serve exited (${code ?? signal}) before listening: ${err}`));
        }
      });
    });
  }

  /** CPU seconds (user + system) the running server has used so far, from /proc (Linux; undefined elsewhere). */
  cpuSeconds(): number | undefined {
    try {
      const f = readFileSync(`/proc/${this.child!.pid}/stat`, 'utf8');
      const fields = f.slice(f.lastIndexOf(')') + 2).split(' ');
      return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
    } catch {
      return undefined;
    }
  }

  /** SIGKILL, and wait until the process is gone. */
  async kill9(): Promise<void> {
    const c = this.child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const gone = new Promise<void>((r) => c.once('exit', () => r()));
    c.kill('SIGKILL');
    await gone;
  }

  /** SIGTERM (a clean stop), bounded: SIGKILL after 5 s. */
  async stop(): Promise<void> {
    const c = this.child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const gone = new Promise<void>((r) => c.once('exit', () => r()));
    c.kill('SIGTERM');
    const t = setTimeout(() => c.kill('SIGKILL'), 5_000);
    await gone;
    clearTimeout(t);
  }
}
