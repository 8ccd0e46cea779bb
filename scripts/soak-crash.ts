/**
 * Crash soak for the durable reader: a child process accepts bursts of tokens into a SQLite reader store and
 * is killed with SIGKILL at random points; after each kill the parent checks the store:
 *   - the hash chain verifies from the genesis hash;
 *   - every token the child reported accepted (its verdict had returned) is in the journal;
 *   - no (wallet, counter) has two accept entries, and no token was ever reported 'accepted' twice or for a
 *     counter already in the journal (replays are refused or resumed, never charged again).
 *
 * Usage: node dist/scripts/soak-crash.js [--kills 1000] [--burst 12] [--seed 1] [--dir DIR]
 * (the vitest suite runs the same campaign with 200 kill points: test/reader/crash.test.ts).
 * Note: SIGKILL kills the process, not the machine: the OS still writes back what SQLite handed it. A power
 * cut is a stronger test (synchronous=FULL is what covers it, see spec/reader.md §Durability).
 */
import { spawn } from 'node:child_process';
import { createPrivateKey, sign as nodeSign } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { publicKeyOf, seededSecretKey } from '../src/crypto.js';
import { fromHex, toHex } from '../base/hex.js';
import { Issuer, dayOf } from '../src/issuer.js';
import { decodeIssuerKeySet, decodeReaderCert, decodeToken, encodeIssuerKeySet, encodeReaderCert, encodeToken, tokenHash, tokenSigningInput, walletIdOf, type WalletCert } from '../src/messages.js';
import { nodeEd25519 } from '../src/node/crypto.js';
import { createBlocklist } from '../src/reader/blocklist.js';
import { decodeEntry, genesisHash, verifyChain } from '../src/reader/journal.js';
import { Reader } from '../src/reader/reader.js';
import { SqliteReaderStore } from '../src/reader/sqlite.js';
import { mulberry32 } from '../base/prng.js';

const NOW = 1_795_000_000;
const READER_ID = 7001;

export interface CrashCampaignOptions {
  kills: number;
  /** Tokens per burst. */
  burst?: number;
  seed?: number;
  /** The compiled entry of this script (the child runs `node childEntry --child DIR`). */
  childEntry: string;
  dir?: string;
  /** Progress callback. */
  log?: (s: string) => void;
}

export interface CrashCampaignResult {
  kills: number;
  /** Kill points that landed while the child was accepting (not before its first or after its last verdict). */
  midBurst: number;
  acked: number;
  journalEntries: number;
  acceptEntries: number;
  resumedAfterRestart: number;
  refusedReplays: number;
  failures: string[];
}

const prng = mulberry32;

const PKCS8 = Buffer.from('302e020100300506032b657004220420', 'hex');

function world(seed: number) {
  const issuer = Issuer.fromSecret(7, 1, seededSecretKey(`crash-${seed}`, 'issuer'), NOW - 86400, NOW + 86400 * 365);
  const rsk = seededSecretKey(`crash-${seed}`, 'reader');
  const cert = issuer.issueReaderCert({ readerId: READER_ID, readerPublicKey: publicKeyOf(rsk), operatorId: 70, profile: 'transit', notBefore: NOW - 86400, notAfter: NOW + 86400 * 365 }, NOW);
  const wallets = Array.from({ length: 6 }, (_, i) => {
    const sk = seededSecretKey(`crash-${seed}`, `wallet-${i}`);
    const wc: WalletCert = issuer.issueWalletCert(
      { walletPublicKey: publicKeyOf(sk), expiryDay: dayOf(NOW) + 30, maxPerPayment: 10_000, offlineAllowance: 1_000_000_000, currency: 344 },
      NOW,
    );
    return { key: createPrivateKey({ key: Buffer.concat([PKCS8, sk]), format: 'der', type: 'pkcs8' }), cert: wc, next: 1 };
  });
  return { issuer, rsk, cert, wallets };
}

function token(w: { key: ReturnType<typeof createPrivateKey>; cert: WalletCert }, counter: number, nonce: number): Uint8Array {
  // `nonce` varies the amount so that a second token for one counter has different bytes.
  const body = { walletCert: w.cert, payee: 70, amount: 100 + (nonce % 50), counter, time: NOW };
  return encodeToken({ ...body, walletSignature: new Uint8Array(nodeSign(null, tokenSigningInput(body), w.key)) });
}

/**
 * Child: load, say LOADED and wait for "go" on stdin (the parent starts the next child while the current
 * one runs, so module loading overlaps), then open the store, accept the burst, and print one line per
 * verdict after accept returns.
 */
async function child(dir: string): Promise<void> {
  process.stdout.write('LOADED\n');
  await new Promise<void>((resolve) => {
    let got = '';
    process.stdin.on('data', (d: Buffer) => {
      got += d.toString();
      if (got.includes('\n')) {
        process.stdin.pause();
        resolve();
      }
    });
  });
  const cfg = JSON.parse(readFileSync(join(dir, 'world.json'), 'utf8')) as { keyset: string; cert: string; rsk: string; blocklist: string };
  // The first run starts the journal explicitly; every restart opens it (a missing database is never recreated).
  const dbPath = join(dir, 'reader.db');
  const store = existsSync(dbPath) ? SqliteReaderStore.open(dbPath) : SqliteReaderStore.create(dbPath);
  const reader = new Reader({ cert: decodeReaderCert(fromHex(cfg.cert)), secretKey: fromHex(cfg.rsk), issuerKeys: decodeIssuerKeySet(fromHex(cfg.keyset)), store, verifier: nodeEd25519(), clock: () => NOW });
  if (!reader.blocklistStatus(NOW).loaded) reader.loadBlocklist(fromHex(cfg.blocklist));
  const burst = readFileSync(join(dir, 'burst.txt'), 'utf8').split('\n').filter(Boolean);
  process.stdout.write('READY\n');
  for (const hex of burst) {
    const v = await reader.accept(fromHex(hex), { fare: { amount: decodeToken(fromHex(hex)).amount, currency: 344 } });
    process.stdout.write(`${toHex(v.tokenHash)} ${v.accepted ? v.status : v.reason}\n`);
  }
  process.stdout.write('DONE\n');
  store.close();
}

interface Child {
  loaded: Promise<void>;
  run(killAfter: number, delayMs: number): Promise<{ lines: string[]; killed: boolean }>;
}

/** Spawn a child that loads its modules and waits; `run` starts it and pulls the plug after `killAfter` verdicts. */
function startChild(entry: string, dir: string): Child {
  const p = spawn(process.execPath, [entry, '--child', dir], { stdio: ['pipe', 'pipe', 'pipe'] });
  const lines: string[] = [];
  let buf = '';
  let err = '';
  let killed = false;
  let verdicts = 0;
  let killAfter = -1;
  let delayMs = 0;
  let onLoaded: () => void = () => undefined;
  let onLoadFailed: (e: Error) => void = () => undefined;
  let isLoaded = false;
  // A child that dies before it says LOADED (a module that fails to import, say) fails the campaign at once
  // with its stderr, instead of leaving the parent waiting for a line that never comes.
  const loaded = new Promise<void>((resolve, reject) => {
    onLoaded = () => {
      isLoaded = true;
      resolve();
    };
    onLoadFailed = reject;
  });
  const kill = () => {
    if (!killed) {
      killed = true;
      p.kill('SIGKILL');
    }
  };
  const exited = new Promise<{ lines: string[]; killed: boolean }>((resolve, reject) => {
    p.on('error', (e) => {
      if (!isLoaded) onLoadFailed(e);
      reject(e);
    });
    p.on('exit', (code, signal) => {
      if (!isLoaded) onLoadFailed(new Error(`child exited (${signal ?? code}) before it loaded: ${err}`));
      if (signal !== 'SIGKILL' && code !== 0) reject(new Error(`child failed (${code}): ${err}`));
      else resolve({ lines, killed: signal === 'SIGKILL' });
    });
  });
  exited.catch(() => undefined); // observed by `run`'s caller; a child that never ran reports through `loaded`
  p.stderr.on('data', (d: Buffer) => (err += d.toString()));
  p.stdout.on('data', (d: Buffer) => {
    buf += d.toString();
    let i: number;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      if (line === 'LOADED') {
        onLoaded();
        continue;
      }
      if (killed) continue; // the parent only trusts verdicts it saw before it pulled the plug
      lines.push(line);
      if (line !== 'READY' && line !== 'DONE') verdicts++;
      if ((line === 'READY' && killAfter === 0) || (line !== 'READY' && line !== 'DONE' && verdicts >= killAfter)) {
        if (delayMs > 0) setTimeout(kill, delayMs);
        else kill();
      }
    }
  });
  return {
    loaded,
    run(k, d) {
      killAfter = k;
      delayMs = d;
      p.stdin.write('go\n');
      return exited;
    },
  };
}

export async function runCrashCampaign(o: CrashCampaignOptions): Promise<CrashCampaignResult> {
  const seed = o.seed ?? 1;
  const burstSize = o.burst ?? 12;
  const rnd = prng(seed);
  const dir = o.dir ?? mkdtempSync(join(tmpdir(), 'offpay-crash-'));
  mkdirSync(dir, { recursive: true });
  const w = world(seed);
  const blocklist = createBlocklist(w.issuer.keys[0]!, { issuerId: 7, version: 1, issuedAt: NOW, walletIds: [] }).bytes;
  writeFileSync(
    join(dir, 'world.json'),
    JSON.stringify({ keyset: toHex(encodeIssuerKeySet(w.issuer.keySet())), cert: toHex(encodeReaderCert(w.cert)), rsk: toHex(w.rsk), blocklist: toHex(blocklist) }),
  );
  const failures: string[] = [];
  const acked = new Map<string, Uint8Array>(); // token hash -> bytes, verdict 'accepted' seen by the parent
  const presented: Uint8Array[] = [];
  let midBurst = 0;
  let resumed = 0;
  let refused = 0;
  let nonce = 0;
  let journalEntries = 0;
  let acceptEntries = 0;
  let genesis: Uint8Array = new Uint8Array(32); // set from the journal id once the child has created the database
  // Journal state after the last check: (wallet:counter) -> token hash of its accept entry. Checks are
  // incremental (rows after the last verified head, whose hash must not have changed); the last one is full.
  let inJournal = new Map<string, string>();
  const journalHashes = new Set<string>();
  let verified = { seq: 0, hash: genesis };
  // One connection for the parent's checks, kept open across kills (WAL lets it read what the child committed).
  let parentStore: SqliteReaderStore | undefined;
  const check = (label: string, full: boolean) => {
    if (!parentStore) {
      parentStore = SqliteReaderStore.open(join(dir, 'reader.db'));
      const jid = parentStore.transact((tx) => tx.getMeta('journal.id'));
      if (!jid) throw new Error('the reader database has no journal id');
      genesis = genesisHash(READER_ID, jid);
      verified = { seq: 0, hash: genesis };
    }
    const store = parentStore;
    {
      if (full) {
        verified = { seq: 0, hash: genesis };
        inJournal = new Map();
        journalHashes.clear();
        acceptEntries = 0;
      } else if (verified.seq > 0) {
        const held = store.journal(verified.seq, verified.seq)[0];
        if (!held || toHex(held.hash) !== toHex(verified.hash)) failures.push(`${label}: verified entry ${verified.seq} changed or vanished`);
      }
      const rows = store.journal(verified.seq + 1);
      const c = verifyChain(rows, verified);
      if (!c.ok) failures.push(`${label}: chain does not verify: ${c.error?.message}`);
      for (const r of rows) {
        const e = decodeEntry(r.bytes);
        if (e.kind !== 'accept') continue;
        acceptEntries++;
        const t = decodeToken(e.data);
        const k = `${toHex(walletIdOf(t.walletCert.walletPublicKey))}:${t.counter}`;
        if (inJournal.has(k)) failures.push(`${label}: counter ${k} has two accept entries (a replay was charged)`);
        inJournal.set(k, toHex(tokenHash(e.data)));
        journalHashes.add(toHex(tokenHash(e.data)));
      }
      for (const h of acked.keys()) if (!journalHashes.has(h)) failures.push(`${label}: acknowledged token ${h} is not in the journal`);
      const last = rows[rows.length - 1];
      if (last) verified = { seq: last.seq, hash: last.hash };
      journalEntries = verified.seq;
    }
  };
  let next: Child | undefined;
  for (let k = 0; k < o.kills; k++) {
    // A burst: new counters (some skipping ahead, to be filled in out of order later), exact replays of
    // tokens already presented (resume or replayed), and clones (an accepted counter, different bytes).
    const burst: Uint8Array[] = [];
    for (let i = 0; i < burstSize; i++) {
      const x = rnd();
      const wl = w.wallets[Math.floor(rnd() * w.wallets.length)]!;
      if (x < 0.6 || presented.length === 0) {
        const c = wl.next + (rnd() < 0.2 ? 1 + Math.floor(rnd() * 3) : 0);
        wl.next = Math.max(wl.next, c) + 1;
        burst.push(token(wl, c, nonce++));
      } else if (x < 0.85) {
        burst.push(presented[Math.floor(rnd() * presented.length)]!);
      } else {
        const old = decodeToken(presented[Math.floor(rnd() * presented.length)]!);
        const owner = w.wallets.find((z) => toHex(z.cert.walletPublicKey) === toHex(old.walletCert.walletPublicKey))!;
        burst.push(token(owner, old.counter, nonce++));
      }
    }
    presented.push(...burst);
    writeFileSync(join(dir, 'burst.txt'), burst.map(toHex).join('\n') + '\n');
    const killAfter = Math.floor(rnd() * (burstSize + 1));
    const delay = rnd() < 0.5 ? 0 : Math.floor(rnd() * 3);
    const before = new Map(inJournal);
    const current = next ?? startChild(o.childEntry, dir);
    await current.loaded;
    next = k + 1 < o.kills ? startChild(o.childEntry, dir) : undefined; // loads while `current` runs
    const { lines, killed } = await current.run(killAfter, delay);
    if (killed && lines.includes('READY') && !lines.includes('DONE')) midBurst++;
    for (const line of lines) {
      if (line === 'READY' || line === 'DONE') continue;
      const [h, status] = line.split(' ') as [string, string];
      const bytes = burst.find((b) => toHex(tokenHash(b)) === h);
      if (!bytes) {
        failures.push(`kill ${k}: verdict for an unknown token ${h}`);
        continue;
      }
      const t = decodeToken(bytes);
      const key = `${toHex(walletIdOf(t.walletCert.walletPublicKey))}:${t.counter}`;
      if (status === 'accepted') {
        if (acked.has(h)) failures.push(`kill ${k}: token ${h} accepted twice`);
        const prior = before.get(key);
        if (prior !== undefined) failures.push(`kill ${k}: counter ${key} accepted again after restart (journal had ${prior})`);
        acked.set(h, bytes);
      } else if (status === 'resumed') {
        resumed++;
      } else if (status === 'replayed' || status === 'stale') {
        refused++;
      }
    }
    check(`kill ${k}`, k === o.kills - 1);
    if (o.log && (k + 1) % 50 === 0) o.log(`${k + 1} kill points, ${acked.size} acknowledged, ${journalEntries} journal entries, ${failures.length} failures`);
    if (failures.length > 20) break;
  }
  if (next) {
    // A child that was started for a kill point that never came (early stop): release it.
    const n: Child = next;
    await n.loaded;
    await n.run(0, 0);
  }
  parentStore?.close();
  if (!o.dir) rmSync(dir, { recursive: true, force: true });
  return { kills: o.kills, midBurst, acked: acked.size, journalEntries, acceptEntries, resumedAfterRestart: resumed, refusedReplays: refused, failures };
}

const isMain = process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1];
if (isMain) {
  const args = process.argv.slice(2);
  if (args[0] === '--child') {
    await child(args[1]!);
  } else {
    const opt = (name: string, def: number) => {
      const i = args.indexOf(`--${name}`);
      return i >= 0 ? Number(args[i + 1]) : def;
    };
    const dirIdx = args.indexOf('--dir');
    const t0 = Date.now();
    const r = await runCrashCampaign({
      kills: opt('kills', 1000),
      burst: opt('burst', 12),
      seed: opt('seed', 1),
      childEntry: fileURLToPath(import.meta.url),
      ...(dirIdx >= 0 ? { dir: args[dirIdx + 1]! } : {}),
      log: (s) => process.stdout.write(s + '\n'),
    });
    process.stdout.write(JSON.stringify({ ...r, failures: r.failures.slice(0, 20), seconds: (Date.now() - t0) / 1000 }, null, 2) + '\n');
    process.exit(r.failures.length ? 1 : 0);
  }
}
