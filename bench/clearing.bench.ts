/**
 * Clearing as a service: ingest throughput through `offpay clearing serve` (HTTP, the built CLI as a child
 * process) beside raw Ed25519 verification of the same tokens and an in-process `Clearing.ingest` of the same
 * batches, in one run. The per-token cost beyond verification is (1 / tokens per second) - (1 / raw
 * verifications per second), in microseconds (issue 16: about 28 us on a fast CPU; the goal is 20 us or less).
 *
 *   node dist/bench/clearing.bench.js [--quick] [--readers N] [--batches N] [--sales N] [--sockets N]
 *        [--db sqlite,postgres://HOST/DB,...] [--nodes 1,2,3] [--passes N] [--many-wallets N]
 *
 * --db lists the engines: `sqlite` (a fresh file in the system temp directory, on the disk, synchronous = FULL,
 * one node), or a PostgreSQL URL of a database the bench may connect to as a user allowed to create
 * databases: each node count of --nodes gets a fresh database made next to it (`offpay_bench_<pid>_<n>`,
 * dropped afterwards), its nodes sharing it (clients spread over the nodes). Without a PostgreSQL URL its rows
 * say they were not measured. Raw verification: for the in-process rows, interleaved with the ingest (before
 * each batch, as many verifications as it has tokens, timed apart); for the HTTP rows, best of 3 passes over
 * every token (one thread) before and after each pass, each pass's cost against the mean of its two.
 *
 * Each mode makes --passes passes (default 4), each a row: the population to a fresh process (or database), then
 * further populations of the same issuer (other readers, other wallets, as many tokens) to the same process. The
 * first pass pays for warming up (compiling the code, first-time caches) on top of the per-token cost; the others
 * are what a running service pays, their keys still new to it (so their prime-order checks are in every pass).
 * The summary gives, per mode, the median of the running-service passes (one pass is at the mercy of whatever
 * else the machine did at that moment).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { Agent, request } from 'node:http';
import { Clearing } from '../src/clearing/index.js';
import { nodeEd25519 } from '../src/node/crypto.js';
import { saveIssuer } from '../src/node/files.js';
import { buildFastPopulation, cliPath, ServeNode, type FastPopulation } from './clearing-load.js';
import { machine, writeResults } from './common.js';
import { forgetPrimeOrderKeys, isWeakPublicKey, primeOrderBackend } from '../src/weakkeys.js';

const argv = process.argv.slice(2);
const arg = (name: string, dflt: string): string => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && argv[i + 1] ? argv[i + 1]! : dflt;
};
const quick = argv.includes('--quick');
const READERS = Number(arg('readers', quick ? '20' : '50'));
const BATCHES = Number(arg('batches', '2'));
const SALES = Number(arg('sales', quick ? '50' : '100'));
const SOCKETS = Number(arg('sockets', '8'));
const DBS = arg('db', 'sqlite').split(',').filter(Boolean);
const NODES = arg('nodes', '1,2,3').split(',').map(Number);
const PASS_COUNT = Math.max(2, Number(arg('passes', '4')));
const log = (s: string) => process.stdout.write(`${s}\n`);

interface Row {
  mode: string;
  engine: string;
  nodes: number | null;
  tokens: number;
  batches: number;
  wallSeconds: number | null;
  tokensPerSecond: number | null;
  rawPerSecond: number | null;
  rawPerCpuSecond: number | null;
  usPerToken: number | null;
  usBeyondVerification: number | null;
  /** CPU seconds of the ingesting process(es): this process in-process, the server(s) over HTTP. */
  cpuSeconds: number | null;
  usPerTokenCpu: number | null;
  usBeyondVerificationCpu: number | null;
  note: string;
}

const dir = mkdtempSync(join(tmpdir(), 'offpay-clearing-bench-'));
const t0 = Math.floor(Date.now() / 1000);
log(`population: ${READERS} readers x ${BATCHES} batches x ${SALES} tokens`);
const population = (seed: number, readerIdBase: number, honestWallets = 50): FastPopulation =>
  buildFastPopulation({
    seed, issuerSeed: 16, readerIdBase, t0, readers: READERS, batchesPerReader: BATCHES, salesPerBatch: SALES,
    honestWallets, cloneGroups: 5, cloneCopies: 2, overAllowanceWallets: 5, cloneShare: 0.01, overAllowanceShare: 0.01, overlapShare: 0,
  });
/** Wallets a pass in the many-wallets rows: about two tokens each, as a day of a transit system's riders. */
const MANY_WALLETS = Number(arg('many-wallets', String(Math.round((READERS * BATCHES * SALES) / 2))));
/**
 * PASS_COUNT populations of one issuer, with different readers and wallets: the first goes to a fresh process
 * (its cost includes warming up: compiling the code, first-time caches), the others to the same process
 * afterwards (a running service; their readers' and wallets' keys are new to it, so the prime-order checks are
 * paid again).
 */
const pops = Array.from({ length: PASS_COUNT }, (_, k) => population(16 + k, 10_000 * (k + 1)));
const pop = pops[0]!;
const batchesOf = pops.map((p) => p.readers.flatMap((r) => r.batches));
const batches = batchesOf[0]!;
const TOKENS = pop.tokens.length;
if (pops.some((p) => p.tokens.length !== TOKENS)) throw new Error('the populations differ in size');
const issuerDir = join(dir, 'issuer');
saveIssuer(issuerDir, pop.issuer);

const nv = nodeEd25519(65_536);
const cpuNow = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};
/** Raw verifications per wall second and per CPU-second: best of 3 passes over every token's signature, this thread. */
function rawRate(p: FastPopulation = pop): { wall: number; cpu: number } {
  let wall = 0;
  let cpu = 0;
  for (let k = 0; k < 3; k++) {
    const s = process.hrtime.bigint();
    const c = cpuNow();
    let ok = 0;
    for (const x of p.signatures) if (nv.verify(x.sig, x.msg, x.pk)) ok++;
    const secs = Number(process.hrtime.bigint() - s) / 1e9;
    const cpuSecs = cpuNow() - c;
    if (ok !== p.signatures.length) throw new Error('a token signature does not verify');
    wall = Math.max(wall, ok / secs);
    cpu = Math.max(cpu, ok / Math.max(cpuSecs, 1e-6));
  }
  return { wall, cpu };
}

function row(mode: string, engine: string, nodes: number | null, wall: number, rawBefore: { wall: number; cpu: number }, rawAfter: { wall: number; cpu: number }, cpu: number | null, note: string): Row {
  const raw = (rawBefore.wall + rawAfter.wall) / 2;
  const rawCpu = (rawBefore.cpu + rawAfter.cpu) / 2;
  const us = (wall / TOKENS) * 1e6;
  return {
    mode, engine, nodes, tokens: TOKENS, batches: batches.length, wallSeconds: wall, tokensPerSecond: TOKENS / wall, rawPerSecond: raw, rawPerCpuSecond: rawCpu, usPerToken: us,
    usBeyondVerification: us - 1e6 / raw, cpuSeconds: cpu, usPerTokenCpu: cpu === null ? null : (cpu / TOKENS) * 1e6, usBeyondVerificationCpu: cpu === null ? null : (cpu / TOKENS) * 1e6 - 1e6 / rawCpu, note,
  };
}
const pending = (mode: string, engine: string, nodes: number, note: string): Row => ({
  mode, engine, nodes, tokens: TOKENS, batches: batches.length, wallSeconds: null, tokensPerSecond: null, rawPerSecond: null, rawPerCpuSecond: null, usPerToken: null, usBeyondVerification: null, cpuSeconds: null, usPerTokenCpu: null, usBeyondVerificationCpu: null, note,
});

/** The passes of a mode: the first population (a fresh process), then the others (the same process). */
const PASSES = pops.map((p, k) => ({
  label: k === 0 ? 'pass 1: a fresh process' : `pass ${k + 1}: the same process, new readers and wallets`,
  pop: () => p,
  batches: () => batchesOf[k]!,
}));
const passLabel = (k: number) => PASSES[k]!.label;

/**
 * The in-process passes over `passes` (the first to a fresh Clearing), one row each. `what` names the population
 * in the note.
 */
async function inProcess(passes: readonly { label: string; pop: () => FastPopulation; batches: () => Uint8Array[] }[], file: string, what: string, restart = false): Promise<Row[]> {
  const out: Row[] = [];
  // restart: each pass to a Clearing opened afresh on the same database with nothing in memory, as a new process
  // (its own verifier, so an empty key cache, certificate memos and reader-certificate memo; the prime-order memo
  // cleared): what it does not verify again, the database's memo of verified certificates saved it.
  const open = () => new Clearing({ path: join(dir, file), issuerKeys: pop.issuer.keySet(), ...(restart ? { verifier: nodeEd25519(65_536) } : {}) });
  let c = open();
  for (const [k, pass] of passes.entries()) {
    if (restart && k > 0) {
      await c.close();
      forgetPrimeOrderKeys();
      c = open();
    }
    // Raw verification interleaved with the ingest: before each batch, as many verifications of the pass's token
    // signatures as the batch has tokens, timed apart; so both see the same moments of a busy machine.
    const sigs = pass.pop().signatures;
    let wall = 0;
    let cpu = 0;
    let rawWall = 0;
    let rawCpu = 0;
    let at = 0;
    for (const b of pass.batches()) {
      let w = process.hrtime.bigint();
      let c0 = cpuNow();
      for (let i = 0; i < SALES; i++, at++) {
        const x = sigs[at % sigs.length]!;
        if (!nv.verify(x.sig, x.msg, x.pk)) throw new Error('a token signature does not verify');
      }
      rawWall += Number(process.hrtime.bigint() - w) / 1e9;
      rawCpu += cpuNow() - c0;
      w = process.hrtime.bigint();
      c0 = cpuNow();
      const r = await c.ingest(b);
      wall += Number(process.hrtime.bigint() - w) / 1e9;
      cpu += cpuNow() - c0;
      if (r.outcome !== 'ingested') throw new Error(`in-process ingest: ${r.outcome} ${r.error?.code ?? ''}`);
    }
    if ((await c.report()).totals[0]?.count !== TOKENS * (k + 1)) throw new Error('in-process: not every token settled');
    const raw = { wall: at / rawWall, cpu: at / rawCpu };
    const label = restart && k > 0 ? pass.label.replace('the same process', 'a new process (a clearing opened afresh, nothing in memory)') : pass.label;
    out.push(row(`in-process Clearing.ingest (one batch a call)${what}`, 'sqlite', 1, wall, raw, raw, cpu, `${label}; raw interleaved batch by batch; SQLite file on disk, WAL, synchronous = FULL`));
  }
  await c.close();
  return out;
}

/**
 * The same passes with MANY_WALLETS wallets a population (about two tokens each instead of about 167): each
 * token then also pays for most of a new wallet's certificate (its issuer signature verified, its key checked
 * for prime order, its key imported), which the 60-wallet populations pay once per 167 tokens.
 */
function manyWalletPasses() {
  return Array.from({ length: PASS_COUNT }, (_, k) => {
    const p = population(116 + k, 500_000 + 10_000 * k, MANY_WALLETS);
    const b = p.readers.flatMap((r) => r.batches);
    return { label: PASSES[k]!.label, pop: () => p, batches: () => b };
  });
}

/**
 * Nights of the same MANY_WALLETS wallets at the same readers: one population of PASS_COUNT x BATCHES batches a
 * reader, pass k being each reader's k-th run of BATCHES batches (its wallets' counters go on from the night
 * before). Pass 1 meets every wallet for the first time; from pass 2 on the riders come back, their certificates,
 * prime-order checks, imported keys and wallet ids remembered by the process (MANY_WALLETS is below the 65,536
 * each memo holds), so the cost left is what the wallets' spread costs the database and the memos.
 */
let returning: ReturnType<typeof buildReturning> | undefined;
function returningWalletPasses() {
  return (returning ??= buildReturning());
}
function buildReturning() {
  const p = buildFastPopulation({
    seed: 216, issuerSeed: 16, readerIdBase: 900_000, t0, readers: READERS, batchesPerReader: BATCHES * PASS_COUNT, salesPerBatch: SALES,
    honestWallets: MANY_WALLETS, cloneGroups: 5, cloneCopies: 2, overAllowanceWallets: 5, cloneShare: 0.01, overAllowanceShare: 0.01, overlapShare: 0,
  });
  return Array.from({ length: PASS_COUNT }, (_, k) => {
    const b = p.readers.flatMap((r) => r.batches.slice(k * BATCHES, (k + 1) * BATCHES));
    return { label: k === 0 ? 'pass 1: a fresh process, every wallet new' : `pass ${k + 1}: the same process, the same wallets and readers the night after`, pop: () => p, batches: () => b };
  });
}

function post(agent: Agent, url: string, body: Uint8Array): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}/v1/batches`, { method: 'POST', agent, headers: { 'content-type': 'application/cbor', 'content-length': String(body.length) } }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function served(engine: string, db: string, nodeCount: number): Promise<Row[]> {
  const nodes = Array.from({ length: nodeCount }, () => new ServeNode({ issuerDir, db, operatorTokenFile: join(dir, `token-${engine}-${nodeCount}`) }));
  for (const n of nodes) await n.start();
  let agent = new Agent({ keepAlive: true, maxSockets: SOCKETS });
  const out: Row[] = [];
  try {
    for (const [k, pass] of PASSES.entries()) {
      const list = pass.batches();
      const before = rawRate(pass.pop());
      // New connections for each pass: the server closes the idle ones while raw verification is measured.
      agent.destroy();
      agent = new Agent({ keepAlive: true, maxSockets: SOCKETS });
      const cpu0 = nodes.map((n) => n.cpuSeconds() ?? NaN);
      let at = 0;
      const s = process.hrtime.bigint();
      await Promise.all(
        Array.from({ length: SOCKETS }, async (_, lane) => {
          while (at < list.length) {
            const b = list[at++]!;
            const a = await post(agent, nodes[lane % nodes.length]!.url, b);
            if (a.status !== 200 || !a.text.includes('"ingested"')) throw new Error(`served ingest: ${a.status} ${a.text.slice(0, 200)}`);
          }
        }),
      );
      const wall = Number(process.hrtime.bigint() - s) / 1e9;
      const cpu = nodes.map((n, j) => (n.cpuSeconds() ?? NaN) - cpu0[j]!).reduce((a, b) => a + b, 0);
      const where = engine === 'sqlite' ? 'SQLite file on disk, WAL, synchronous = FULL' : db.replace(/\/\/[^@/]*@/, '//');
      out.push(row(`HTTP clearing serve, ${SOCKETS} client sockets`, engine, nodeCount, wall, before, rawRate(pass.pop()), Number.isNaN(cpu) ? null : cpu, `${passLabel(k)}; ${where}`));
    }
    return out;
  } finally {
    agent.destroy();
    for (const n of nodes) await n.stop();
  }
}

/** A new, empty database `name` on the server of `adminUrl` (so every run starts from nothing), and its dropping. */
async function freshDatabase(adminUrl: string, name: string): Promise<{ url: string; drop(): Promise<void> }> {
  const { default: pg } = await import('pg');
  const admin = async (sql: string) => {
    const c = new pg.Client({ connectionString: adminUrl });
    await c.connect();
    try {
      await c.query(sql);
    } finally {
      await c.end();
    }
  };
  await admin(`CREATE DATABASE ${name}`);
  const u = new URL(adminUrl);
  u.pathname = `/${name}`;
  return { url: u.toString(), drop: () => admin(`DROP DATABASE IF EXISTS ${name}`) };
}

/** Does this build's `clearing serve --db` take a PostgreSQL URL? (Its help names the engines it has.) */
function servesPostgres(): boolean {
  const r = spawnSync(process.execPath, [cliPath(), 'clearing', 'serve', '--help'], { encoding: 'utf8' });
  return /postgres/i.test(`${r.stdout}${r.stderr}`);
}

const rows: Row[] = [];
const logRows = (rs: Row[]) => {
  for (const r of rs) log(JSON.stringify(r));
  rows.push(...rs);
};
/** The prime-order check of a key new to the process, µs (keys of another seed, so the passes' keys stay new). */
const primeOrderUs = (() => {
  // A warm-up long enough for the JIT to compile the field inversion's loops (a running service checks many keys).
  const keys = Array.from({ length: 2000 }, () => new Uint8Array(Buffer.from(generateKeyPairSync('ed25519').publicKey.export({ format: 'jwk' }).x!, 'base64url')));
  for (const k of keys.slice(0, 1000)) isWeakPublicKey(k);
  const c = cpuNow();
  for (const k of keys.slice(1000)) if (isWeakPublicKey(k)) throw new Error('a weak key from node:crypto');
  return ((cpuNow() - c) / 1000) * 1e6;
})();
log(`prime-order check (${primeOrderBackend()}): ${primeOrderUs.toFixed(0)} us a key`);
log(`raw node:crypto verify: ${Math.round(rawRate().wall)}/s over ${TOKENS} tokens`);
logRows(await inProcess(PASSES, 'in-process.db', ''));
logRows(await inProcess(manyWalletPasses(), 'in-process-many.db', `, ${MANY_WALLETS.toLocaleString('en-US')} wallets a pass`));
logRows(await inProcess(returningWalletPasses(), 'in-process-returning.db', `, the same ${MANY_WALLETS.toLocaleString('en-US')} wallets every pass`));
logRows(await inProcess(returningWalletPasses(), 'in-process-restart.db', `, the same ${MANY_WALLETS.toLocaleString('en-US')} wallets every pass, a new process each`, true));
for (const db of DBS) {
  if (db === 'sqlite') {
    logRows(await served('sqlite', join(dir, 'served.db'), 1));
    continue;
  }
  for (const n of NODES) {
    if (!/^postgres(ql)?:\/\//.test(db)) throw new Error(`--db ${db}: sqlite or a postgres:// URL`);
    if (!servesPostgres()) {
      logRows([pending(`HTTP clearing serve, ${SOCKETS} client sockets`, 'postgresql', n, 'not measured: clearing serve in this build has no PostgreSQL engine')]);
    } else {
      const fresh = await freshDatabase(db, `offpay_bench_${process.pid}_${n}`);
      try {
        logRows(await served('postgresql', fresh.url, n));
      } finally {
        await fresh.drop();
      }
    }
  }
}
for (const n of NODES) {
  if (!rows.some((r) => r.engine === 'postgresql' && r.nodes === n)) rows.push(pending(`HTTP clearing serve, ${SOCKETS} client sockets`, 'postgresql', n, 'not measured in this run (give --db postgres://...)'));
}
rmSync(dir, { recursive: true, force: true });

/** Per mode, the medians of the running-service passes (2 and later). */
function summary(): { mode: string; engine: string; nodes: number | null; cpu: number | null; wall: number | null; rate: number | null; n: number }[] {
  const med = (xs: (number | null)[]): number | null => {
    const v = xs.filter((x): x is number => x !== null).sort((a, b) => a - b);
    if (!v.length) return null;
    return v.length % 2 ? v[(v.length - 1) / 2]! : (v[v.length / 2 - 1]! + v[v.length / 2]!) / 2;
  };
  const groups = new Map<string, Row[]>();
  for (const r of rows) {
    if (r.note.startsWith('pass 1:')) continue;
    const k = `${r.mode}|${r.engine}|${r.nodes}`;
    groups.set(k, [...(groups.get(k) ?? []), r]);
  }
  return [...groups.values()].map((g) => ({
    mode: g[0]!.mode, engine: g[0]!.engine, nodes: g[0]!.nodes, cpu: med(g.map((r) => r.usBeyondVerificationCpu)), wall: med(g.map((r) => r.usBeyondVerification)), rate: med(g.map((r) => r.tokensPerSecond)),
    n: g.filter((r) => r.cpuSeconds !== null || r.wallSeconds !== null).length,
  }));
}

const m = machine();
const f = (x: number | null, d = 0) => (x === null ? '-' : x.toFixed(d));
const md = [
  '# Clearing service benchmark',
  '',
  `Machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, Node ${m.node}; load average ${m.loadAverage1m} at the end (a shared machine: other work ran at the same time). ${m.date}.`,
  `Command: \`node dist/bench/clearing.bench.js ${argv.join(' ')}\` (${READERS} readers x ${BATCHES} batches x ${SALES} tokens = ${TOKENS} tokens in ${batches.length} batches).`,
  '',
  'Every token is verified again by clearing (spec/clearing.md C1). Raw: node:crypto Ed25519 verify of the same',
  "tokens' wallet signatures, one thread. In-process rows: interleaved with the ingest, before each batch as many",
  'raw verifications as it has tokens, timed apart, so both see the same moments of the machine; HTTP rows (another',
  'process): best of 3 rounds before and after each pass, the mean of the two. Beyond verification = microseconds',
  'per token minus microseconds per raw verification.',
  `Each mode makes ${PASS_COUNT} passes: the population to a fresh process, then ${PASS_COUNT - 1} more populations of the same issuer`,
  '(other readers and wallets, as many tokens each) to the same process; the first pass also pays for warming the',
  'process up (compiling the code, first-time caches), the others are what a running service pays per token.',
  'Wall columns count every moment, including those the other work on the machine took; the CPU columns use the CPU',
  'time (user + system) of the process that ingests (this one in-process; the server, from /proc, over HTTP) against',
  'raw verifications per CPU-second, which a busy shared machine disturbs much less. Goal (issue 16): 20 us or less',
  'beyond verification (about 28 us measured on a fast CPU before).',
  '',
  `Wallets: 60 a pass (about ${Math.round(TOKENS / 60)} tokens each), readers: ${READERS} a pass, all new to the process. Clearing checks each wallet and`,
  `reader key once for prime order (src/weakkeys.ts, here by ${primeOrderBackend()}: ${primeOrderUs.toFixed(0)} us a key, measured at the start of this run), then`,
  `remembers it: (60 + ${READERS}) keys x ${primeOrderUs.toFixed(0)} us / ${TOKENS} tokens = ${((60 + READERS) * primeOrderUs / TOKENS).toFixed(1)} us a token of each pass's cost beyond verification.`,
  '',
  `The rows "${MANY_WALLETS.toLocaleString('en-US')} wallets a pass" ingest populations of as many tokens spread over ${MANY_WALLETS.toLocaleString('en-US')} wallets (about ${Math.round(TOKENS / MANY_WALLETS)} tokens`,
  "each), all new to the process, as a day of a transit system's riders seen for the first time: each token then",
  "also carries most of a new wallet certificate's cost (its issuer signature verified once, one more Ed25519",
  'verification; its key checked for prime order and imported), which the 60-wallet populations spread over about',
  '167 tokens. A running clearing remembers verified certificates, prime-order checks and imported keys for the last',
  '65,536 wallets each (spec/clearing.md §12).',
  '',
  `The rows "the same ${MANY_WALLETS.toLocaleString('en-US')} wallets every pass" are nights of those riders coming back: one population of`,
  `${BATCHES * PASS_COUNT} batches a reader, pass k being each reader's k-th ${BATCHES} batches, so from pass 2 on every wallet and reader was`,
  'seen the night before and its certificate, prime-order check, imported key and wallet id are remembered. What',
  'they cost beyond the 60-wallet rows is the spread itself: each token of a batch lands in another wallet, so in',
  'another leaf of the wallet-counter index, and SQLite writes more pages a batch.',
  'The rows "..., a new process each" ingest the same nights, each to a clearing opened afresh on the same database',
  'with nothing in memory (its own verifier and memos, the prime-order memo cleared), as after a restart or for',
  'riders past the 65,536 a process remembers: the certificates verified on earlier nights come from the',
  "database's memo of verified certificates (spec/clearing.md §4), the readers' certificates and every key import",
  'are paid again.',
  '',
  `Summary: the median over passes 2-${PASS_COUNT} (a running service) of each mode.`,
  '',
  '| mode | engine | nodes | us beyond verification (CPU), median | (wall), median | tokens/s (wall), median | passes |',
  '|---|---|---|---|---|---|---|',
  ...summary().map((r) => `| ${r.mode} | ${r.engine} | ${r.nodes ?? '-'} | ${f(r.cpu, 1)} | ${f(r.wall, 1)} | ${f(r.rate)} | ${r.n} |`),
  '',
  'Every pass:',
  '',
  '| mode | engine | nodes | tokens/s (wall) | raw verify/s (wall) | us/token (wall) | us beyond verification (wall) | ingest CPU s | raw verify per CPU-s | us/token (CPU) | us beyond verification (CPU) | note |',
  '|---|---|---|---|---|---|---|---|---|---|---|---|',
  ...rows.map((r) => `| ${r.mode} | ${r.engine} | ${r.nodes ?? '-'} | ${f(r.tokensPerSecond)} | ${f(r.rawPerSecond)} | ${f(r.usPerToken, 1)} | ${f(r.usBeyondVerification, 1)} | ${f(r.cpuSeconds, 2)} | ${f(r.rawPerCpuSecond)} | ${f(r.usPerTokenCpu, 1)} | ${f(r.usBeyondVerificationCpu, 1)} | ${r.note} |`),
  '',
].join('\n');
writeResults('clearing', md, { machine: m, readers: READERS, batchesPerReader: BATCHES, tokensPerBatch: SALES, sockets: SOCKETS, rows });
log(md);
