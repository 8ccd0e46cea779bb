/**
 * Reader pruning (spec/reader.md §9.3): what a reader holds with and without it, and what a prune costs.
 *
 *  1. Memory: a transit gate on MemoryReaderStore (the state IndexedDbReaderStore keeps in a browser page) takes
 *     TRIPS trips a day (a tap-in and a tap-out here, 8 riders) for DAYS days; one gate never prunes, the other
 *     exports, records the batch as delivered and prunes each night (default retention, 7 days). Heap after a full
 *     collection, per trip taken and in total.
 *  2. Time: a SQLite reader file with N token records, journal rows and tap-out records (synthetic rows written
 *     straight into the store, 90 % of them older than the cutoff) pruned by `SqliteReaderStore.prune`: wall time
 *     and rows a second, and the longest single transaction (what a `reader listen` process on the file waits).
 *
 *   node dist/bench/reader-prune.bench.js [--days N] [--trips N] [--rows N] [--quick]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { encodeCbor } from '../src/cbor.js';
import { nodeEd25519 } from '../src/node/crypto.js';
import { createBlocklist, MemoryReaderStore, Reader } from '../src/reader/index.js';
import { SqliteReaderStore } from '../src/reader/sqlite.js';
import { createPrivateKey, sign as nodeSign } from 'node:crypto';
import { publicKeyOf, seededSecretKey } from '../src/crypto.js';
import { Issuer, dayOf } from '../src/issuer.js';
import { encodeToken, tokenSigningInput, type WalletCert } from '../src/messages.js';
import { machine, writeResults } from './common.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const DAY = 86_400;
const argv = process.argv.slice(2);
const quick = argv.includes('--quick');
const arg = (name: string, dflt: number): number => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && argv[i + 1] ? Number(argv[i + 1]) : dflt;
};
const DAYS = arg('days', quick ? 10 : 30);
const TRIPS = arg('trips', quick ? 100 : 400);
const ROWS = arg('rows', quick ? 100_000 : 1_000_000);
const log = (s: string) => process.stdout.write(`${s}\n`);
const heap = () => {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
};

// ------------------------------------------------------------------------------------------------ 1. memory
const NOW = 1_795_000_000;
const HKD = 344;
const issuer = Issuer.fromSecret(7, 1, seededSecretKey('prune-bench', 'issuer'), NOW - DAY, NOW + DAY * 365);
const gateKey = seededSecretKey('prune-bench', 'gate');
const gateId = { secretKey: gateKey, cert: issuer.issueReaderCert({ readerId: 5601, readerPublicKey: publicKeyOf(gateKey), operatorId: 300, profile: 'transit', notBefore: NOW - DAY, notAfter: NOW + DAY * 365 }, NOW) };
const PKCS8 = Buffer.from('302e020100300506032b657004220420', 'hex');
const riders = Array.from({ length: 8 }, (_, i) => {
  const sk = seededSecretKey('prune-bench', `rider-${i}`);
  const cert: WalletCert = issuer.issueWalletCert({ walletPublicKey: publicKeyOf(sk), expiryDay: dayOf(NOW) + 400, maxPerPayment: 1e6, offlineAllowance: 2 ** 32 - 1, currency: HKD }, NOW);
  return { key: createPrivateKey({ key: Buffer.concat([PKCS8, sk]), format: 'der', type: 'pkcs8' }), cert };
});
function signToken(w: (typeof riders)[number], p: { payee: number; amount: number; counter: number; time: number }): Uint8Array {
  const body = { walletCert: w.cert, ...p };
  return encodeToken({ ...body, walletSignature: new Uint8Array(nodeSign(null, tokenSigningInput(body), w.key)) });
}

async function gateFor(prune: boolean): Promise<{ bytes: number; perTrip: number; trips: number; held: number }> {
  let now = NOW;
  const base = heap();
  const store = new MemoryReaderStore();
  const g = new Reader({ ...gateId, issuerKeys: issuer.keySet(), store, verifier: nodeEd25519(), clock: () => now, limits: { [HKD]: { staleMaxAmount: 1_000_000 } } });
  const counters = riders.map(() => 0);
  let trips = 0;
  for (let day = 0; day < DAYS; day++) {
    now = NOW + day * DAY + 6 * 3600;
    g.loadBlocklist(createBlocklist(issuer.keys[0]!, { issuerId: issuer.issuerId, version: day + 1, issuedAt: now, walletIds: [] }).bytes, now);
    for (let k = 0; k < TRIPS; k++) {
      const w = (day * 7 + k) % riders.length;
      const t = signToken(riders[w]!, { payee: 300, amount: 500, counter: ++counters[w]!, time: now });
      if (!(await g.accept(t, { tapIn: { maxFare: 500, currency: HKD }, now })).accepted) throw new Error('tap-in refused');
      if (!(await g.tapOut(t, { fare: 300, currency: HKD, now: now + 30 })).accepted) throw new Error('tap-out refused');
      trips++;
      now += 60;
    }
    g.export(now);
    if (prune) {
      g.recordDelivered(g.exportedBatches());
      g.prune({ now });
    }
  }
  const bytes = heap() - base;
  const held = g.entries().length;
  // Keep the reader alive through the measurement.
  if (g.head().seq !== trips * 2) throw new Error('journal lost entries');
  return { bytes, perTrip: bytes / trips, trips, held };
}

const unpruned = await gateFor(false);
const pruned = await gateFor(true);
log(`memory: ${unpruned.trips} trips; never pruned ${(unpruned.bytes / 2 ** 20).toFixed(1)} MiB (${Math.round(unpruned.perTrip)} B a trip), pruned nightly ${(pruned.bytes / 2 ** 20).toFixed(1)} MiB, journal rows held ${pruned.held}`);

// ------------------------------------------------------------------------------------------------ 2. time
const dir = mkdtempSync(join(tmpdir(), 'offpay-prune-bench-'));
const store = SqliteReaderStore.create(join(dir, 'r.db'), { synchronous: 'FULL' });
const CUTOFF = NOW;
const OLD = Math.floor(ROWS * 0.9);
const fill0 = performance.now();
for (let i = 0; i < ROWS; i += 10_000) {
  store.transact((tx) => {
    for (let j = i; j < Math.min(ROWS, i + 10_000); j++) {
      const hash = new Uint8Array(32);
      new DataView(hash.buffer).setUint32(0, j);
      const at = j < OLD ? CUTOFF - DAY - (OLD - j) : CUTOFF + (j - OLD);
      tx.putToken({ hash, status: 'completed', walletId: hash.subarray(0, 16), counter: j, amount: 300, currency: HKD, day: Math.floor(at / DAY), certId: hash.subarray(16), acceptedAt: at, seq: j + 1, trip: true });
      tx.append({ seq: j + 1, bytes: hash, hash });
      tx.putMeta(`tapout:${j.toString(16).padStart(64, '0')}`, encodeCbor([j + 1, at]));
    }
  });
}
const fillS = (performance.now() - fill0) / 1000;
// The longest transaction: time each one the store opens.
const db = (store as unknown as { db: { transaction(fn: () => unknown): { immediate(): unknown } } }).db;
const orig = db.transaction.bind(db);
let longest = 0;
let first = 0;
let txs = 0;
db.transaction = (fn: () => unknown) => {
  const t = orig(fn);
  return {
    immediate: () => {
      const a = performance.now();
      const r = t.immediate();
      // The first is the index on accepted_at that the first prune of a file builds.
      if (txs === 0) first = performance.now() - a;
      else longest = Math.max(longest, performance.now() - a);
      txs++;
      return r;
    },
  };
};
const t0 = performance.now();
const counts = store.prune({
  journalBefore: OLD + 1,
  acceptedBefore: CUTOFF,
  keepTokens: [],
  totals: { prefix: 'd:', drop: () => true },
  meta: { prefix: 'tapout:', drop: (_k, v) => readTime(v) < CUTOFF },
});
const pruneS = (performance.now() - t0) / 1000;
store.close();
rmSync(dir, { recursive: true, force: true });
const deleted = counts.tokens + counts.journal + counts.meta;
log(`sqlite: ${ROWS} each of tokens, journal rows, tap-outs written in ${fillS.toFixed(1)} s; prune deleted ${JSON.stringify(counts)} in ${pruneS.toFixed(2)} s (${Math.round(deleted / pruneS)} rows/s), ${txs} transactions: the first (the index on accepted_at) ${first.toFixed(0)} ms, the longest of the others ${longest.toFixed(0)} ms`);

/** The time of a tap-out record CBOR [seq, time] (both unsigned integers). */
function readTime(v: Uint8Array): number {
  let o = 1;
  const uint = (): number => {
    const ai = v[o]! & 0x1f;
    o++;
    if (ai < 24) return ai;
    const n = ai === 24 ? 1 : ai === 25 ? 2 : ai === 26 ? 4 : 8;
    let x = 0;
    for (let k = 0; k < n; k++) x = x * 256 + v[o + k]!;
    o += n;
    return x;
  };
  uint();
  return uint();
}

const m = machine();
writeResults(
  'reader-prune',
  `# Reader pruning benchmark

Machine: ${m.cpu}, ${m.cores} cores, Node ${m.node}; ${m.date} (a shared machine).
Command: \`node dist/bench/reader-prune.bench.js${argv.length ? ` ${argv.join(' ')}` : ''}\`.

## What a gate holds (MemoryReaderStore: the state a browser page keeps with IndexedDbReaderStore)

A transit gate, ${TRIPS} trips a day (a tap-in and a tap-out here each), ${DAYS} days, 8 riders; heap after a full
collection, above the heap before the gate was made.

| gate | trips | heap held | per trip taken | journal rows held |
|---|---|---|---|---|
| never pruned | ${unpruned.trips} | ${(unpruned.bytes / 2 ** 20).toFixed(1)} MiB | ${Math.round(unpruned.perTrip)} B | ${unpruned.held} |
| exported, delivered and pruned each night (7 days kept) | ${pruned.trips} | ${(pruned.bytes / 2 ** 20).toFixed(1)} MiB | ${Math.round(pruned.perTrip)} B | ${pruned.held} |

Unpruned, the state grows by about ${Math.round(unpruned.perTrip)} B a trip: ${((unpruned.perTrip * 10_000 * 365) / 2 ** 30).toFixed(1)} GiB a year at 10,000 trips a day.
Pruned, it holds the records of the last 7 days and one window and certificate total per rider.

## What a prune costs (SQLite, synchronous = FULL)

${ROWS} token records, ${ROWS} journal rows and ${ROWS} tap-out records, 90 % of each older than the cutoff.

| deleted | seconds | rows a second | transactions | the first (builds the index on accepted_at) | the longest other |
|---|---|---|---|---|---|
| ${JSON.stringify(counts).replace(/[{}"]/g, '').replace(/,/g, ', ')} | ${pruneS.toFixed(2)} | ${Math.round(deleted / pruneS)} | ${txs} | ${first.toFixed(0)} ms | ${longest.toFixed(0)} ms |

A \`reader listen\` process on the same file waits at most one transaction of the prune (5,000 deletions), or,
at the first prune of a file, the building of the index.
`,
  { machine: m, options: { days: DAYS, trips: TRIPS, rows: ROWS }, memory: { unpruned, pruned }, sqlite: { rows: ROWS, fillSeconds: fillS, pruneSeconds: pruneS, counts, transactions: txs, firstMs: first, longestOtherMs: longest } },
);
