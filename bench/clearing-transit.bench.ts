/**
 * Clearing's per-entry cost on a transit population (spec/clearing.md §12.1): trips of a tap-in at one gate and a
 * tap-out of the same token at another, uploaded as the gates' batches (100 entries each, the gates' batches
 * interleaved), ingested in process into SQLite one batch a call. Every tap-out shares its wallet counter with its
 * tap-in, so it is paired (§4 step 10: counter_firsts recorded, the one-way rule read), which a vending population
 * (clearing.bench.ts, one sale a counter) never is.
 *
 * Each pass ingests the same population into a new database file in this process; raw node:crypto verification of
 * every entry's token (clearing re-verifies each entry) is timed before and after. Beyond verification is the
 * difference of two large numbers on a shared machine; each pass therefore also ingests the population into another
 * new file with a verifier that answers "valid" without computing (everything else the same): its CPU is the
 * non-cryptographic work itself, measured directly. CPU time of this process.
 *
 *   node dist/bench/clearing-transit.bench.js [--passes N] [--trips N]
 */
import { createPrivateKey, sign as nodeSign } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dayOf, encodeToken, Issuer, publicKeyOf, seededSecretKey, tokenSigningInput, type PaymentTokenBody, type ReaderCert, type WalletCert } from '../src/index.js';
import { Clearing } from '../src/clearing/index.js';
import { nodeEd25519 } from '../src/node/crypto.js';
import { chainHash, createBatch, encodeEntry, genesisHash, type JournalEntry } from '../src/reader/index.js';
import { mulberry32 } from '../base/prng.js';
import { machine, writeResults } from './common.js';

const argv = process.argv.slice(2);
const arg = (name: string, dflt: number): number => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && argv[i + 1] ? Number(argv[i + 1]) : dflt;
};
const PASSES = arg('passes', 4);
const TRIPS = arg('trips', 10_000);
const GATES = 40;
const WALLETS = 2_000;
const PER_BATCH = 100;
const NOW = Math.floor(Date.now() / 1000) - 7200;
const OPERATOR = 300;

const cpu = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;

// The population: gates of one operator, wallets, trips (wallet counter k's token tapped in at gate a, out at b).
const issuer = Issuer.fromSecret(7, 1, seededSecretKey('bench-transit', 'issuer'), NOW - 86_400, NOW + 86_400 * 30);
const gates = Array.from({ length: GATES }, (_, i) => {
  const secretKey = seededSecretKey('bench-transit', `gate-${i}`);
  const cert: ReaderCert = issuer.issueReaderCert(
    { readerId: 1000 + i, readerPublicKey: publicKeyOf(secretKey), operatorId: OPERATOR, profile: 'transit', notBefore: NOW - 86_400, notAfter: NOW + 86_400 * 30 },
    NOW,
  );
  return { secretKey, cert, entries: [] as Omit<JournalEntry, 'seq'>[] };
});
const PKCS8 = Buffer.from('302e020100300506032b657004220420', 'hex');
const wallets = Array.from({ length: WALLETS }, (_, i) => {
  const sk = seededSecretKey('bench-transit', `wallet-${i}`);
  const cert: WalletCert = issuer.issueWalletCert({ walletPublicKey: publicKeyOf(sk), expiryDay: dayOf(NOW) + 30, maxPerPayment: 50_000, offlineAllowance: 1e9, currency: 344 }, NOW);
  return { key: createPrivateKey({ key: Buffer.concat([PKCS8, sk]), format: 'der', type: 'pkcs8' }), cert, publicKey: publicKeyOf(sk), counter: 0 };
});
const rand = mulberry32(21);
const signatures: { sig: Uint8Array; msg: Uint8Array; pk: Uint8Array }[] = [];
for (let t = 0; t < TRIPS; t++) {
  const w = wallets[Math.floor(rand() * WALLETS)]!;
  w.counter++;
  const body: PaymentTokenBody = { walletCert: w.cert, payee: OPERATOR, amount: 900, counter: w.counter, time: NOW + t };
  const msg = tokenSigningInput(body);
  const sig = new Uint8Array(nodeSign(null, msg, w.key));
  const token = encodeToken({ ...body, walletSignature: sig });
  const a = Math.floor(rand() * GATES);
  const b = (a + 1 + Math.floor(rand() * (GATES - 1))) % GATES;
  gates[a]!.entries.push({ kind: 'tap_in', time: NOW + t, data: token, value: 900 });
  gates[b]!.entries.push({ kind: 'tap_out', time: NOW + t + 600, data: token, value: 400 });
  signatures.push({ sig, msg, pk: w.publicKey }, { sig, msg, pk: w.publicKey });
}
const batches: { at: number; bytes: Uint8Array }[] = [];
for (const g of gates) {
  const journalId = new Uint8Array(8).fill(g.cert.readerId & 0xff);
  let head = genesisHash(g.cert.readerId, journalId);
  let seq = 0;
  let batchSeq = 0;
  for (let i = 0; i < g.entries.length; i += PER_BATCH) {
    const es = g.entries.slice(i, i + PER_BATCH).map((e) => ({ ...e, seq: ++seq }) as JournalEntry);
    const prevHead = head;
    for (const e of es) head = chainHash(head, encodeEntry(e));
    const bytes = createBatch(g, { readerCert: g.cert, journalId, batchSeq: ++batchSeq, firstSeq: es[0]!.seq, prevHead, head, entries: es, createdAt: NOW + TRIPS + 3600 }).bytes;
    batches.push({ at: i, bytes });
  }
}
batches.sort((x, y) => x.at - y.at); // the gates' batches interleaved, as gates upload through the night

const nv = nodeEd25519(65_536);
const raw = () => {
  const c0 = cpu();
  for (const x of signatures) nv.verify(x.sig, x.msg, x.pk);
  return (cpu() - c0) / signatures.length;
};
const dir = mkdtempSync(join(tmpdir(), 'offpay-bench-transit-'));
const rows: { pass: number; ingest: number; raw: number; beyond: number; stub: number; findings: number }[] = [];
/** CPU seconds an entry of ingesting the population into a new file `name`, and the findings made. */
const ingestAll = async (name: string, stub: boolean): Promise<{ perEntry: number; findings: number }> => {
  const c = new Clearing({ path: join(dir, name), issuerKeys: issuer.keySet(), clock: () => NOW + TRIPS + 7200, ...(stub ? { verifier: { name: 'stub', verify: () => true } } : {}) });
  const c0 = cpu();
  let findings = 0;
  for (const b of batches) {
    const r = await c.ingest(b.bytes);
    if (r.outcome !== 'ingested' || r.invalidTokens) throw new Error(`transit bench: ${r.outcome} ${JSON.stringify(r)}`);
    findings += r.doubleSpends;
  }
  const perEntry = (cpu() - c0) / signatures.length;
  await c.close();
  return { perEntry, findings };
};
try {
  for (let p = 1; p <= PASSES; p++) {
    const r0 = raw();
    const { perEntry: ingest, findings } = await ingestAll(`p${p}.db`, false);
    const r1 = raw();
    const { perEntry: stub } = await ingestAll(`s${p}.db`, true);
    const rawMean = (r0 + r1) / 2;
    rows.push({ pass: p, ingest: ingest * 1e6, raw: rawMean * 1e6, beyond: (ingest - rawMean) * 1e6, stub: stub * 1e6, findings });
    process.stdout.write(
      `pass ${p}: ingest ${(ingest * 1e6).toFixed(1)} us CPU an entry, raw verification ${(rawMean * 1e6).toFixed(1)} us, beyond ${((ingest - rawMean) * 1e6).toFixed(1)} us; verification stubbed ${(stub * 1e6).toFixed(1)} us\n`,
    );
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
const warm = rows.slice(1);
const beyond = median(warm.map((r) => r.beyond));
const stubbed = median(warm.map((r) => r.stub));
const md = [
  '# Clearing on a transit population',
  '',
  `${new Date().toISOString()}; ${JSON.stringify(machine())}`,
  `Command: \`node dist/bench/clearing-transit.bench.js --passes ${PASSES} --trips ${TRIPS}\`. ${TRIPS} trips (${2 * TRIPS} entries: a tap-in at one of ${GATES} gates, the tap-out of the same`,
  `token at another) of ${WALLETS} wallets, batches of ${PER_BATCH} entries, the gates' batches interleaved; in-process \`Clearing.ingest\`, one batch a call, SQLite`,
  'file (WAL, synchronous = FULL), a new file each pass, every entry re-verified. Raw: node:crypto Ed25519 verification of every entry\'s token, timed',
  'before and after each pass. CPU time of this process. Every tap-out shares its wallet counter with its tap-in, so each trip is paired (spec/clearing.md',
  '§4 step 10: counter_firsts recorded, the one-way rule read); a vending population (clearing.md) pairs almost nothing.',
  '',
  '| pass | ingest us/entry (CPU) | raw verification us | beyond verification us | verification stubbed us/entry | findings |',
  '|---|---|---|---|---|---|',
  ...rows.map((r) => `| ${r.pass} | ${r.ingest.toFixed(1)} | ${r.raw.toFixed(1)} | ${r.beyond.toFixed(1)} | ${r.stub.toFixed(1)} | ${r.findings} |`),
  '',
  `Medians over passes 2-${PASSES}: beyond verification ${beyond.toFixed(1)} us an entry; the ingest with verification stubbed ${stubbed.toFixed(1)} us an entry.`,
  '',
].join('\n');
writeResults('clearing-transit', md, { machine: machine(), passes: rows, trips: TRIPS, gates: GATES, wallets: WALLETS, medianBeyond: beyond, medianStubbed: stubbed });
process.stdout.write(`medians (passes 2-${PASSES}): beyond verification ${beyond.toFixed(1)} us an entry; verification stubbed ${stubbed.toFixed(1)} us an entry\n`);
