/**
 * How often a PostgreSQL clearing house runs a batch again after a conflict with a concurrent one (spec/clearing.md
 * §11.2, §12.1): each batch is one SERIALIZABLE transaction, which PostgreSQL aborts with SQLSTATE 40001 when it
 * cannot prove the concurrent transactions serialisable, and the store runs it again from the start.
 *
 * PostgreSQL tracks what a serialisable transaction read by index page (a B-tree scan locks the leaf pages it
 * reads), not by key. Two concurrent batches conflict when one writes a page the other read, whether or not
 * their keys meet: a probe of a wallet counter and the insert of another wallet's entry on the same leaf page
 * count as a read/write dependency. So the share of batches run again depends on how many pages the tables
 * have, not only on how often two batches really spend one counter. With n entries a batch and L leaf pages in
 * the wallet-counter index, two concurrent batches touch a common leaf with probability about
 * 1 - exp(-n^2 / L) (the birthday bound): near 1 for a house of a few thousand pages, small for one of millions.
 * Two batches that carry tokens of one wallet meet on its leaf however large the house is: here each of 5,000
 * riders pays about 16 times a night, so two batches of 100 tokens share a rider most of the time.
 *
 * Verification is stubbed out (a verifier that answers yes), because conflicts are a matter of the database:
 * what is measured is the share of batches run again and this process's CPU and wall time a token. The nodes are
 * Clearing instances in this process, each with its own connection pool (4 connections, the default: one node
 * has at most 4 batches in a transaction at once, whatever `--concurrency` asks), on one
 * fresh database per configuration. The population is the clearing bench's returning riders: 50 readers, 8
 * batches of 100 sales each, 5,000 wallets, no double spends; pass k ingests each reader's batches 2k-1 and 2k,
 * the first batch of every reader, then the second, from `--concurrency` ingests at once spread over the nodes.
 * `--fill N` first writes N synthetic entries of earlier readers (random wallet keys, 20 a chain, chains numbered
 * between the bench readers', and 20 batches a chain), so the indexes have the pages of a house that has run for
 * a while; they take part in nothing else.
 *
 *   node dist/bench/clearing-conflicts.js [--url postgres://...] [--nodes 1,2,3] [--concurrency 2,8] [--fill 0,1000000]
 *
 * The URL names a database the bench may create and drop databases from (default
 * postgres://postgres@127.0.0.1:55439/postgres). Results: bench/results/clearing-conflicts.{md,json}.
 */
import { Clearing } from '../src/clearing/index.js';
import type { PgClearingStore } from '../src/clearing/store-pg.js';
import { loadPgDriver, PG_SCHEMA_VERSION } from '../src/clearing/store-pg.js';
import { buildFastPopulation } from './clearing-load.js';
import { machine, writeResults } from './common.js';

const argv = process.argv.slice(2);
const arg = (name: string, dflt: string): string => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && argv[i + 1] ? argv[i + 1]! : dflt;
};
const list = (name: string, dflt: string): number[] => arg(name, dflt).split(',').map(Number);
const ADMIN_URL = arg('url', 'postgres://postgres@127.0.0.1:55439/postgres');
const NODES = list('nodes', '1,2,3');
const CONCURRENCY = list('concurrency', '2,8');
const FILLS = list('fill', '0,1000000');
const PASSES = 4;
const READERS = 50;
const log = (s: string) => process.stdout.write(`${s}\n`);

const pop = buildFastPopulation({
  seed: 77, issuerSeed: 16, readerIdBase: 90_000, t0: 1_800_000_000, readers: READERS, batchesPerReader: 2 * PASSES, salesPerBatch: 100,
  honestWallets: 5_000, cloneGroups: 5, cloneCopies: 2, overAllowanceWallets: 5, cloneShare: 0, overAllowanceShare: 0, overlapShare: 0,
});
const verifier = { name: 'stub (answers yes)', verify: () => true };
const pg = loadPgDriver();
const cpuNow = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

/** With the adjacent readers' chains apart: the bench's chains are numbered 1, 1001, 2001, ... and the fill's between. */
async function fill(url: string, n: number): Promise<void> {
  const c = new pg.Pool({ connectionString: url, max: 1 });
  try {
    const chains = Math.ceil(n / 20);
    const span = Math.ceil(chains / READERS) + 1;
    await c.query(`ALTER TABLE chains ALTER COLUMN chain SET INCREMENT BY ${span}`);
    const free = `FROM generate_series(2, ${span * READERS}) c WHERE c % ${span} <> 1`;
    await c.query(`INSERT INTO chains(chain, reader_id, journal_id) SELECT c, 5000000 + c, int8send(c) ${free}`);
    await c.query(`INSERT INTO batches(chain, batch_seq, first_seq, entries, head, digest, created_at) SELECT c, b, b * 100, 100, '\\x00', '\\x00', 0 ${free.replace('c WHERE', 'c, generate_series(1, 20) b WHERE')}`);
    await c.query(
      `INSERT INTO entries(chain, seq, kind, time, value, hash, valid, operator_id, wallet_key, counter, writer)
       SELECT c, s, 1, 0, 0, '\\x00', true, 1, (random() * 9e18)::bigint, (random() * 1000)::bigint, ${PG_SCHEMA_VERSION} ${free.replace('c WHERE', 'c, generate_series(1, 20) s WHERE')}`,
    );
    await c.query('ANALYZE');
  } finally {
    await c.end();
  }
}

interface Pass {
  batches: number;
  retries: number;
  cpuUsPerToken: number;
  wallUsPerToken: number;
}
interface Config {
  nodes: number;
  concurrency: number;
  fill: number;
  passes: Pass[];
}

async function run(nodes: number, concurrency: number, filled: number): Promise<Config> {
  const name = `offpay_conflicts_${process.pid}_${nodes}_${concurrency}_${filled}`;
  const admin = new pg.Pool({ connectionString: ADMIN_URL, max: 1 });
  await admin.query(`DROP DATABASE IF EXISTS ${name}`);
  await admin.query(`CREATE DATABASE ${name}`);
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  const house: Clearing[] = [];
  try {
    for (let i = 0; i < nodes; i++) house.push(await Clearing.open({ url: url.toString(), issuerKeys: pop.issuer.keySet(), verifier }));
    if (filled) await fill(url.toString(), filled);
    const passes: Pass[] = [];
    for (let k = 0; k < PASSES; k++) {
      const batches = [2 * k, 2 * k + 1].flatMap((j) => pop.readers.map((r) => r.batches[j]!));
      const stores = house.map((h) => h.store as PgClearingStore);
      const before = stores.map((s) => s.retries);
      const c0 = cpuNow();
      const w0 = process.hrtime.bigint();
      let next = 0;
      await Promise.all(
        Array.from({ length: concurrency }, async (_, slot) => {
          while (next < batches.length) {
            const r = await house[slot % nodes]!.ingest(batches[next++]!);
            if (r.outcome !== 'ingested') throw new Error(`${r.outcome} ${r.error?.code ?? ''}`);
          }
        }),
      );
      const tokens = batches.length * 100;
      passes.push({
        batches: batches.length,
        retries: stores.reduce((a, s, i) => a + s.retries - before[i]!, 0),
        cpuUsPerToken: ((cpuNow() - c0) / tokens) * 1e6,
        wallUsPerToken: (Number(process.hrtime.bigint() - w0) / 1e9 / tokens) * 1e6,
      });
    }
    return { nodes, concurrency, fill: filled, passes };
  } finally {
    for (const h of house) await h.close();
    await admin.query(`DROP DATABASE IF EXISTS ${name}`);
    await admin.end();
  }
}

const median = (xs: number[]) => {
  const v = [...xs].sort((a, b) => a - b);
  return v.length % 2 ? v[(v.length - 1) / 2]! : (v[v.length / 2 - 1]! + v[v.length / 2]!) / 2;
};
const results: Config[] = [];
for (const filled of FILLS) {
  for (const nodes of NODES) {
    for (const concurrency of CONCURRENCY) {
      const r = await run(nodes, concurrency, filled);
      results.push(r);
      log(`fill ${filled}, ${nodes} node(s), ${concurrency} at once: retries a batch ${r.passes.map((p) => (p.retries / p.batches).toFixed(2)).join(' ')}`);
    }
  }
}
const settings = await (async () => {
  const admin = new pg.Pool({ connectionString: ADMIN_URL, max: 1 });
  try {
    const show = async (name: string) => String((await admin.query(`SHOW ${name}`)).rows[0]![name]);
    return `PostgreSQL ${await show('server_version')}, max_pred_locks_per_transaction ${await show('max_pred_locks_per_transaction')}, max_pred_locks_per_relation ${await show('max_pred_locks_per_relation')}, max_pred_locks_per_page ${await show('max_pred_locks_per_page')}`;
  } finally {
    await admin.end();
  }
})();
const m = machine();
const md = [
  '# Clearing on PostgreSQL: batches run again after a conflict',
  '',
  `Machine: ${m.cpu}, ${m.cores} cores, Node ${m.node}, load average ${m.loadAverage1m} at the end (a shared machine); ${settings}, on the same machine. ${m.date}.`,
  `Command: \`node dist/bench/clearing-conflicts.js --nodes ${NODES.join(',')} --concurrency ${CONCURRENCY.join(',')} --fill ${FILLS.join(',')}\`.`,
  '',
  'Verification stubbed out; 100 batches of 100 tokens a pass, 5,000 returning wallets, no double spends (see the',
  'header of bench/clearing-conflicts.ts). Retries a batch: how many times a batch was run again after SQLSTATE',
  '40001 (or 40P01, 23505), over the batches of the pass. The medians are over passes 2-4 (pass 1 also creates',
  'the readers, chains and wallets). A node has at most 4 batches in a transaction at once (its pool of 4 connections),',
  'so "8 at once" at 1 node is 4. CPU: this process (every node), not the PostgreSQL server.',
  '',
  '| synthetic entries before | nodes | ingests at once | retries a batch, median | per pass | CPU us a token, median | wall us a token, median |',
  '|---|---|---|---|---|---|---|',
  ...results.map((r) => {
    const warm = r.passes.slice(1);
    return `| ${r.fill.toLocaleString('en')} | ${r.nodes} | ${r.concurrency} | ${median(warm.map((p) => p.retries / p.batches)).toFixed(2)} | ${r.passes.map((p) => (p.retries / p.batches).toFixed(2)).join(' / ')} | ${median(warm.map((p) => p.cpuUsPerToken)).toFixed(1)} | ${median(warm.map((p) => p.wallUsPerToken)).toFixed(1)} |`;
  }),
  '',
].join('\n');
writeResults('clearing-conflicts', md, { machine: m, postgresql: settings, results });
log(md);
