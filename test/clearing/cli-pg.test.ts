/**
 * The clearing CLI on PostgreSQL (`--db postgres://...`): `clearing ingest`, `report`, `blocklist`, and two
 * `clearing serve` processes on one database answering as one clearing house (a batch posted to one node is
 * held by the other). A throwaway cluster (pg-cluster.ts); skipped without PostgreSQL, failing under CI=true.
 * `clearing serve` runs from dist/ (npm run build first).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { dayOf, publicKeyOf, seededSecretKey } from '../../src/index.js';
import { loadIssuer } from '../../src/node/files.js';
import { chainHash, createBatch, encodeEntry, genesisHash } from '../../src/reader/index.js';
import { HKD, signToken } from '../reader/helpers.js';
import { startPgCluster } from './pg-cluster.js';

const started = await startPgCluster();
const d = mkdtempSync(join(tmpdir(), 'offpay-clearing-cli-pg-'));
afterAll(() => {
  if (typeof started !== 'string') started.stop();
  rmSync(d, { recursive: true, force: true });
});
const p = (...x: string[]) => join(d, ...x);
const CLI = join(import.meta.dirname, '../../dist/src/cli/main.js');
const T0 = Math.floor(Date.now() / 1000);
const J = new Uint8Array(8).fill(5);

async function run(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(argv, { out: (s) => (out += s), err: (s) => (err += s) });
  return { code, out, err };
}

function serve(db: string, ...more: string[]) {
  const child = spawn(process.execPath, [CLI, 'clearing', 'serve', '--issuer', p('issuer'), '--db', db, '--port', '0', '--operator-token-file', p('operator-token'), ...more], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const url = new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (b: Buffer) => {
      out += b.toString();
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    child.stderr.on('data', (b: Buffer) => (out += b.toString()));
    child.on('exit', (c) => reject(new Error(`clearing serve exited ${c}: ${out}`)));
  });
  return { child, url, output: () => out };
}

describe.skipIf(typeof started === 'string')('offpay clearing on PostgreSQL (CLI)', () => {
  it('ingest, report, blocklist and two serve nodes take a postgres:// --db', async () => {
    if (typeof started === 'string') return;
    const db = await started.createDatabase();
    expect((await run('issuer', 'init', '--dir', p('issuer'), '--seed', 'clearing-cli-pg', `--now=${T0 - 86400}`)).code).toBe(0);
    const issuer = loadIssuer(p('issuer'));
    const readerOf = (id: number) => {
      const secretKey = seededSecretKey('clearing-cli-pg', `reader-${id}`);
      return { secretKey, cert: issuer.issueReaderCert({ readerId: id, readerPublicKey: publicKeyOf(secretKey), operatorId: 90, profile: 'vending', notBefore: T0 - 86400, notAfter: T0 + 86400 * 30 }, T0) };
    };
    const sk = seededSecretKey('clearing-cli-pg', 'wallet');
    const wallet = { secretKey: sk, cert: issuer.issueWalletCert({ walletPublicKey: publicKeyOf(sk), expiryDay: dayOf(T0) + 30, maxPerPayment: 5000, offlineAllowance: 50_000, currency: HKD }, T0) };
    const batch = (id: number, amount: number, counter: number, file: string) => {
      const m = readerOf(id);
      const e = { seq: 1, kind: 'accept' as const, time: T0, data: signToken(wallet, { payee: id, amount, counter, time: T0 }), value: amount };
      const g = genesisHash(id, J);
      writeFileSync(p(file), createBatch(m, { readerCert: m.cert, journalId: J, batchSeq: 1, firstSeq: 1, prevHead: g, head: chainHash(g, encodeEntry(e)), entries: [e], createdAt: T0 + 60 }).bytes);
      return p(file);
    };
    // A clone: counter 1 spent at two vending machines with other bytes.
    const [a, b, c] = [batch(4201, 1000, 1, 'a.batch'), batch(4202, 1200, 1, 'b.batch'), batch(4203, 700, 2, 'c.batch')];
    const ingest = await run('clearing', 'ingest', '--issuer', p('issuer'), '--db', db, a, b);
    expect(ingest.code, ingest.err).toBe(0);
    expect(ingest.out).toContain('1 double spends');
    const report = await run('clearing', 'report', '--db', db, '--json');
    expect(report.code).toBe(0);
    const r = JSON.parse(report.out) as { settlement: { count: number; gross: string }[]; doubleSpends: unknown[] };
    expect(r.settlement.map((l) => [l.count, l.gross])).toEqual([[2, '2200']]);
    expect(r.doubleSpends).toHaveLength(1);
    const list = await run('clearing', 'blocklist', '--issuer', p('issuer'), '--db', db, '--out', p('list.cbor'), `--now=${T0 + 120}`);
    expect(list.code).toBe(0);
    expect(list.out).toContain('blocklist version 1: 1 wallets');
    // serve needs the operator credential file named: every node of the clearing house shares it.
    const noToken = await run('clearing', 'serve', '--issuer', p('issuer'), '--db', db, '--port', '0');
    expect(noToken.code).toBe(2);
    expect(noToken.err).toContain('--operator-token-file');
    // Two nodes on one database: a batch posted to node 1 is held at node 2; a duplicate at node 2.
    // (node 1 creates the credential file, then node 2 reads it)
    const n1 = serve(db);
    let n2: ReturnType<typeof serve> | undefined;
    try {
      const u1 = await n1.url;
      // Node 2 with a pool of one connection (--pool-size): each batch is a transaction on a connection of its own.
      n2 = serve(db, '--pool-size', '1');
      const u2 = await n2.url;
      expect(n1.output()).toMatch(/clearing database postgres:\/\/\S+, 4 connections\n/);
      expect(n2.output()).toMatch(/clearing database postgres:\/\/\S+, 1 connection\n/);
      expect(await (await fetch(`${u2}/v1/health`)).json()).toEqual({ status: 'ok', engine: 'postgres' });
      const post = (u: string, f: string) => fetch(`${u}/v1/batches`, { method: 'POST', headers: { 'content-type': 'application/cbor' }, body: readFileSync(f) }).then((x) => x.json() as Promise<{ outcome: string }>);
      expect((await post(u1, c)).outcome).toBe('ingested');
      expect((await post(u2, c)).outcome).toBe('duplicate');
      const held = (await (await fetch(`${u2}/v1/readers/4203`)).json()) as { journals: { batchSeq: number }[] };
      expect(held.journals).toEqual([expect.objectContaining({ batchSeq: 1 })]);
      const token = readFileSync(p('operator-token'), 'utf8').trim();
      const rep = (await (await fetch(`${u2}/v1/report`, { headers: { authorization: `Bearer ${token}` } })).json()) as { settlement: { count: number }[] };
      expect(rep.settlement.map((l) => l.count)).toEqual([3]);
      // Node 2's counters: the duplicate it answered; PostgreSQL's pool size and retries.
      const stats = (await (await fetch(`${u2}/v1/stats`, { headers: { authorization: `Bearer ${token}` } })).json()) as Record<string, unknown>;
      expect(stats).toMatchObject({ engine: 'postgres', poolSize: 1, batches: { ingested: 0, duplicate: 1, rejected: 0 } });
      expect(stats.retries).toEqual(expect.any(Number));
    } finally {
      n1.child.kill('SIGTERM');
      n2?.child.kill('SIGTERM');
    }
  });
});
