/**
 * Where clearing's per-token cost beyond verification goes, part by part, in one warm process (the companion of
 * clearing.bench.ts: spec/clearing.md §12.1). Over the bench's population (50 readers x 2 batches x 100 tokens,
 * 60 wallets), each part is run on its own, best of 5 rounds after a warm-up, in CPU time of this process:
 *
 *   1. raw node:crypto Ed25519 verification of every token's wallet signature (the reference; its rounds alternate
 *      with those of parts 4 and 6, so that a busy moment of the machine does not favour either);
 *   2. the prime-order check of a new wallet or reader key (src/weakkeys.ts: X25519 on Node, else noble), per key;
 *   3. the batch frame, the reader's batch signature and certificate (remembered), the entries decoded and their
 *      chain hashes (prepare, §4 steps 1-7), per token;
 *   4. token re-verification, `checkTokenJobs` (decode, certificate from cache, signature): minus (1) it is the
 *      non-cryptographic work per token;
 *   5. SQLite, the store alone: the same rows written through the store's own session (BEGIN IMMEDIATE, savepoint,
 *      putBatchBytes, putEntries, COMMIT per batch; file on disk, WAL, synchronous = FULL), split into the
 *      statements and the COMMIT; and the bare INSERT of the same rows through one prepared statement in memory;
 *   6. the whole `Clearing.ingest`, one batch a call, into a new file: beyond verification = (6) - (1).
 *
 *   node dist/bench/clearing-floor.bench.js
 */
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Clearing } from '../src/clearing/index.js';
import { decodeBatchEntries, readBatchFrame } from '../src/clearing/batch-bytes.js';
import { checkTokenJobs, type TokenCheck, type TokenJob } from '../src/clearing/pool.js';
import type { EntryRow } from '../src/clearing/store.js';
import { SqliteClearingStore } from '../src/clearing/store-sqlite.js';
import { prefixKey, signingInput } from '../src/crypto.js';
import { readerCertSigningInput } from '../src/messages.js';
import { nodeEd25519, nodeSha256 } from '../src/node/crypto.js';
import { loadSqliteDriver } from '../src/node/sqlite.js';
import { JOURNAL_TAG, JournalKind } from '../src/reader/journal.js';
import { READER_PROFILES } from '../src/reader/profiles.js';
import { cachingVerifier } from '../src/reader/verifier.js';
import { isWeakPublicKey, primeOrderBackend } from '../src/weakkeys.js';
import { buildFastPopulation } from './clearing-load.js';
import { machine, writeResults } from './common.js';

const log = (s: string) => process.stdout.write(`${s}\n`);
const cpuNow = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};
/** CPU seconds of the fastest of `rounds` runs of `fn` (after one warm-up run when `warm`). */
function best(fn: () => void, rounds = 5, warm = true): number {
  if (warm) fn();
  let b = Infinity;
  for (let k = 0; k < rounds; k++) {
    const c = cpuNow();
    fn();
    b = Math.min(b, cpuNow() - c);
  }
  return b;
}

const t0 = Math.floor(Date.now() / 1000);
const pop = buildFastPopulation({
  seed: 16, t0, readers: 50, batchesPerReader: 2, salesPerBatch: 100,
  honestWallets: 50, cloneGroups: 5, cloneCopies: 2, overAllowanceWallets: 5, cloneShare: 0.01, overAllowanceShare: 0.01, overlapShare: 0,
});
const batches = pop.readers.flatMap((r) => r.batches);
const TOKENS = pop.tokens.length;
const us = (secs: number) => (secs / TOKENS) * 1e6;
const dir = mkdtempSync(join(tmpdir(), 'offpay-clearing-floor-'));
const keys = pop.issuer.keySet();

// 2. Prime-order checks, first (the memo of src/weakkeys.ts is empty in a new process): every wallet and reader key.
const walletKeys = new Map<string, Uint8Array>();
for (const s of pop.signatures) walletKeys.set(Buffer.from(s.pk).toString('hex'), s.pk);
const frames = batches.map((b) => readBatchFrame(b, { maxBytes: 1 << 30, maxEntries: 1 << 24 }));
const readerKeys = new Map<number, Uint8Array>();
for (const f of frames) readerKeys.set(f.readerCert.readerId, f.readerCert.readerPublicKey);
const allKeys = [...walletKeys.values(), ...readerKeys.values()];
// Warm the check up on other keys first (compiling it, the X25519 key object, noble's tables are not the per-key
// cost): 1,000 keys, enough for the JIT to compile the field inversion's loops, as in a running service.
for (let i = 0; i < 1000; i++) isWeakPublicKey(new Uint8Array(generateKeyPairSync('ed25519').publicKey.export({ format: 'der', type: 'spki' }).subarray(-32)));
const k0 = cpuNow();
for (const k of allKeys) if (isWeakPublicKey(k)) throw new Error('a weak key in the population');
const primeOrderPerKey = (cpuNow() - k0) / allKeys.length;

// 1. Raw verification (measured below, in turn with part 4, so that both see the same machine).
const nv = nodeEd25519(65_536);
const rawRound = () => {
  for (const x of pop.signatures) if (!nv.verify(x.sig, x.msg, x.pk)) throw new Error('a token signature does not verify');
};

// 3. Prepare: frame, batch signature, certificate (remembered after the first batch of a reader), entries, chain.
const JOURNAL_PREFIX = signingInput(JOURNAL_TAG, new Uint8Array(0));
const verifier = cachingVerifier(nodeEd25519(65_536), 65_536);
const certsSeen = new Set<number>();
const decoded = batches.map((b, i) => ({ f: frames[i]!, ...decodeBatchEntries(b, frames[i]!) }));
const prepare = best(() => {
  certsSeen.clear();
  for (const b of batches) {
    const f = readBatchFrame(b, { maxBytes: 1 << 30, maxEntries: 1 << 24 });
    const c = f.readerCert;
    if (!certsSeen.has(c.readerId)) {
      if (!verifier.verify(c.issuerSignature, readerCertSigningInput(c), keys.keys.find((k) => k.keyIndex === c.keyIndex)!.publicKey)) throw new Error('reader certificate');
      certsSeen.add(c.readerId);
    }
    if (!verifier.verify(f.signature, f.signed, c.readerPublicKey)) throw new Error('batch signature');
    nodeSha256(b);
    const { raw: entries } = decodeBatchEntries(b, f);
    let h = f.prevHead;
    for (const e of entries) {
      const input = new Uint8Array(JOURNAL_PREFIX.length + h.length + e.length);
      input.set(JOURNAL_PREFIX, 0);
      input.set(h, JOURNAL_PREFIX.length);
      input.set(e, JOURNAL_PREFIX.length + h.length);
      h = nodeSha256(input);
    }
  }
});

// 4. Token re-verification (warm caches: the prime-order memo and the certificate cache already hold every key).
const profile = READER_PROFILES.vending;
const jobsOf = decoded.map(({ f, entries }): TokenJob[] =>
  entries.map((e) => ({
    data: e.data, now: e.time, payees: [f.readerCert.readerId], maxAge: Math.max(profile.maxAgeSeconds, profile.oneWayMaxAgeSeconds), maxFuture: profile.maxFutureSeconds,
    ...(e.request ? { request: e.request } : {}),
  })),
);
let checks: TokenCheck[][] = [];
const verifyRound = () => {
  checks = jobsOf.map((jobs) => checkTokenJobs(jobs, keys, verifier));
};
// Raw verification and re-verification in turn, 7 rounds each after a warm-up, the best of each.
let raw = Infinity;
let verify = Infinity;
rawRound();
verifyRound();
for (let k = 0; k < 7; k++) {
  raw = Math.min(raw, best(rawRound, 1, false));
  verify = Math.min(verify, best(verifyRound, 1, false));
}
if (!checks.every((cs) => cs.every((c) => c.ok))) throw new Error('a token does not verify');

// 5. The store alone: the rows ingest writes, through the SQLite store's session, and the bare INSERT.
const rowsOf = decoded.map(({ f, entries }, i) =>
  entries.map((e, j): EntryRow => {
    const v = checks[i]![j] as Extract<TokenCheck, { ok: true }>;
    return {
      chain: 0, seq: e.seq, kind: JournalKind[e.kind], time: e.time, value: e.value, amount: null, tokenHash: v.tokenHash, prevHash: j === 0 ? f.prevHead : null,
      hash: nodeSha256(e.data), valid: true, reason: null, operatorId: f.readerCert.operatorId, source: null, tokenAt: 100 + j * 300, tokenLen: e.data.length,
      walletId: v.walletId, counter: v.counter, currency: v.currency, certKey: v.certKey, allowance: v.allowance,
      reqTime: e.request && e.request.time !== 0 ? e.request.time : null, reqChallenge: e.request && e.request.time !== 0 ? e.request.challenge : null,
    };
  }),
);
let run = 0;
const sysNow = () => process.cpuUsage().system / 1e6;
const storeRound = async (withoutCounterIndex = false): Promise<{ statements: number; commit: number; commitSystem: number }> => {
  const store = new SqliteClearingStore({ path: join(dir, `store-${++run}.db`) });
  // The bound of any layout that defers the wallet-counter index (a staged index merged in bulk): the same
  // writes with no such index at all. Nothing here looks double spends up, so the index is only written.
  if (withoutCounterIndex) store.db.exec('DROP INDEX entries_counter');
  const exec = store.db.exec.bind(store.db);
  let commit = 0;
  let commitSystem = 0;
  store.db.exec = (sql: string) => {
    const c = cpuNow();
    const y = sysNow();
    const r = exec(sql);
    if (sql === 'COMMIT') {
      commit += cpuNow() - c;
      commitSystem += sysNow() - y;
    }
    return r;
  };
  const c = cpuNow();
  for (const [i, rows] of rowsOf.entries()) {
    const f = decoded[i]!.f;
    await store.session((s) =>
      s.atomic(async (tx) => {
        const chain = (await tx.chainOf(f.readerCert.readerId, f.journalId)) ?? (await tx.addChain(f.readerCert.readerId, f.journalId));
        const source = await tx.putBatchBytes(chain, f.batchSeq, batches[i]!);
        for (const r of rows) {
          r.chain = chain;
          r.source = source;
        }
        await tx.putEntries(rows);
      }),
    );
  }
  const all = cpuNow() - c;
  await store.close();
  return { statements: all - commit, commit, commitSystem };
};
await storeRound(); // warm-up
type StoreRun = { statements: number; commit: number; commitSystem: number };
const storeRuns: StoreRun[] = [];
const unindexedRuns: StoreRun[] = [];
// In turn, so that both see the same machine.
for (let k = 0; k < 5; k++) {
  storeRuns.push(await storeRound());
  unindexedRuns.push(await storeRound(true));
}
const bestOf = (runs: StoreRun[]) => runs.reduce((a, b) => (a.statements + a.commit <= b.statements + b.commit ? a : b));
const storeBest = bestOf(storeRuns);
const unindexedBest = bestOf(unindexedRuns);

const Database = loadSqliteDriver('clearing');
const bare = best(() => {
  const db = new Database(':memory:');
  db.exec(`CREATE TABLE entries(chain INTEGER NOT NULL, seq INTEGER NOT NULL, kind INTEGER NOT NULL, time INTEGER NOT NULL,
    value INTEGER NOT NULL, amount INTEGER, token_hash BLOB, prev_hash BLOB, hash BLOB NOT NULL, valid INTEGER NOT NULL, reason TEXT, operator_id INTEGER NOT NULL,
    source INTEGER, token_at INTEGER, token_len INTEGER, wallet_key INTEGER, wallet_id BLOB, counter INTEGER, currency INTEGER, cert_key INTEGER, allowance INTEGER,
    req_time INTEGER, req_challenge BLOB, PRIMARY KEY(chain, seq)) WITHOUT ROWID;
    CREATE INDEX entries_counter ON entries(wallet_key, counter);
    CREATE INDEX entries_void ON entries(chain, token_hash) WHERE kind = ${JournalKind.void};
    CREATE INDEX entries_request ON entries(chain, req_time, req_challenge) WHERE req_time IS NOT NULL;`);
  const st = db.prepare(`INSERT INTO entries VALUES (${Array(23).fill('?').join(', ')})`);
  db.exec('BEGIN');
  for (const [i, rows] of rowsOf.entries()) {
    for (const e of rows) {
      st.run(
        i + 1, e.seq, e.kind, e.time, e.value, e.amount, e.tokenHash, e.prevHash, e.hash, 1, e.reason, e.operatorId, 1, e.tokenAt, e.tokenLen,
        prefixKey(e.walletId!), e.walletId, e.counter, e.currency, e.certKey, e.allowance, e.reqTime, e.reqChallenge,
      );
    }
  }
  db.exec('COMMIT');
  db.close();
});

// 6. The whole ingest, warm process, new file.
const ingestRuns: number[] = [];
for (let k = 0; k < 4; k++) {
  raw = Math.min(raw, best(rawRound, 1, false));
  const c = new Clearing({ path: join(dir, `ingest-${k}.db`), issuerKeys: keys });
  const s = cpuNow();
  for (const b of batches) if ((await c.ingest(b)).outcome !== 'ingested') throw new Error('ingest');
  ingestRuns.push(cpuNow() - s);
  await c.close();
}
const ingest = Math.min(...ingestRuns.slice(1));
rmSync(dir, { recursive: true, force: true });

const keysPerToken = allKeys.length / TOKENS;
const parts: [string, number, string][] = [
  ['raw node:crypto Ed25519 verification (the reference)', us(raw), 'per token'],
  ['Clearing.ingest, one batch a call, SQLite file (warm process)', us(ingest), 'per token'],
  ['beyond verification: the two above', us(ingest) - us(raw), 'per token'],
  [`  prime-order check of a new key (${primeOrderBackend()})`, primeOrderPerKey * 1e6, `per key; x ${allKeys.length} keys / ${TOKENS} tokens = ${(primeOrderPerKey * 1e6 * keysPerToken).toFixed(1)} us a token when every key is new (not in the warm rows: remembered)`],
  ['  frame, batch signature, reader certificate, entries, chain hashes', us(prepare), 'per token (a batch signature verification is 1/100 of a token verification here)'],
  ['  token re-verification minus the raw signature verification', us(verify) - us(raw), 'per token: decoding, signing inputs, certificate cache, token hash, wallet id'],
  ['  SQLite through the store: statements (chain, batch bytes, entries)', us(storeBest.statements), 'per token, 100 entries a batch'],
  ['  SQLite through the store: COMMIT (WAL, synchronous = FULL)', us(storeBest.commit), 'per token, one COMMIT a batch of 100'],
  ['    of which system time (the kernel: WAL writes, fsync)', us(storeBest.commitSystem), 'per token: SQLite writes each WAL page with two pwrite calls, the frame header and the page (spec/clearing.md §12.1)'],
  ['  the bare INSERT of the same rows, one prepared statement, in memory', us(bare), 'per token: better-sqlite3 binding 23 values + three B-tree inserts (the row, the counter index, the request index; the void index takes none)'],
  [
    '  SQLite through the store, statements and COMMIT, without the wallet-counter index',
    us(unindexedBest.statements + unindexedBest.commit),
    `per token (COMMIT ${us(unindexedBest.commit).toFixed(1)}): the index's share is the difference from the two store rows above, the most that deferring its writes could save (spec/clearing.md §12.1)`,
  ],
];
const m = machine();
const md = [
  '# Clearing: the cost beyond verification, part by part',
  '',
  `Machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, Node ${m.node}; load average ${m.loadAverage1m} at the end (a shared machine: other work ran at the same time). ${m.date}.`,
  `Command: \`node dist/bench/clearing-floor.bench.js\` (50 readers x 2 batches x 100 tokens = ${TOKENS} tokens, 60 wallets; CPU time of this process, each part best of 5 to 7 after a warm-up).`,
  'The parts are measured alone and do not add up exactly to the whole (the whole also builds the rows, looks up',
  'continuity and double spends, and collects the garbage of all of them).',
  '',
  '| part | µs | of what |',
  '|---|---|---|',
  ...parts.map(([what, v, unit]) => `| ${what} | ${v.toFixed(1)} | ${unit} |`),
  '',
].join('\n');
writeResults('clearing-floor', md, { machine: m, tokens: TOKENS, parts: parts.map(([what, value, unit]) => ({ what, us: value, unit })) });
log(md);
