/**
 * Load: 1,000 simulated readers sync concurrently against `offpay clearing serve` (a child process, the built
 * CLI) on loopback, through at most 100 sockets, within a bounded time. Each reader asks what the server holds
 * (GET /v1/readers/{id}, sync step 1) and posts its batches shuffled, some twice, some readers an overlapping
 * batch too; clones of one wallet spend the same counters at different readers (double spends) and small-
 * allowance wallets pass their allowance summed over readers. Afterwards the operator's GET /v1/report equals
 * a single in-process Clearing ingest of the same batches (settlement, double spends, reader faults,
 * allowance overruns, gaps, invalid tokens) and GET /v1/blocklist lists the same wallets.
 *
 * The server's --db is a parameter (load-helpers.ts: OFFPAY_TEST_CLEARING_DB, OFFPAY_TEST_CLEARING_NODES): with
 * several nodes on one PostgreSQL database, reader i talks to node i mod n, so clones reach different nodes.
 */
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { toHex } from '../../base/hex.js';
import { saveIssuer } from '../../src/node/files.js';
import { mulberry32 } from '../../base/prng.js';
import { decodeBlocklist } from '../../src/reader/blocklist.js';
import { buildFastPopulation, ServeNode } from '../../bench/clearing-load.js';
import { BoundedHttp, clearingDb, inLanes, normalizeReport, referenceClearing, scratchDir } from './load-helpers.js';

const dir = scratchDir('offpay-load-');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const READERS = 1_000;
const SOCKETS = 100;
const SEED = 20_261_205;

describe('clearing serve under load', () => {
  it('1,000 readers syncing at once (duplicates, out of order, overlaps, clones): the report equals a single-process ingest', async () => {
    const t0 = Math.floor(Date.now() / 1000);
    const pop = buildFastPopulation({
      seed: SEED, t0, readers: READERS, batchesPerReader: 2, salesPerBatch: 2,
      honestWallets: 300, cloneGroups: 25, cloneCopies: 3, overAllowanceWallets: 25,
      cloneShare: 0.08, overAllowanceShare: 0.08, overlapShare: 0.2,
    });
    const issuerDir = join(dir, 'issuer');
    saveIssuer(issuerDir, pop.issuer);
    const { db, nodes: nodeCount } = clearingDb(dir, 'load');
    const nodes = Array.from({ length: nodeCount }, () => new ServeNode({ issuerDir, db, operatorTokenFile: join(dir, 'operator-token'), extraArgs: ['--blocklist-check-seconds', '0'] }));
    let http = new BoundedHttp(SOCKETS);
    try {
      for (const n of nodes) await n.start(); // one after the other: the first creates the schema and the credential
      const rand = mulberry32(SEED ^ 0x5eed);
      // Per reader: its batches shuffled, about a third of them twice.
      const plans = pop.readers.map((r, i) => {
        const sends = [...r.batches, ...r.batches.filter(() => rand() < 0.3)];
        for (let k = sends.length - 1; k > 0; k--) {
          const j = Math.floor(rand() * (k + 1));
          [sends[k], sends[j]] = [sends[j]!, sends[k]!];
        }
        return { readerId: r.readerId, held: r.batches.length, url: nodes[i % nodes.length]!.url, sends };
      });
      // Readers come online in random order.
      for (let k = plans.length - 1; k > 0; k--) {
        const j = Math.floor(rand() * (k + 1));
        [plans[k], plans[j]] = [plans[j]!, plans[k]!];
      }
      const outcomes: Record<string, number> = {};
      const started = Date.now();
      await inLanes(plans, SOCKETS, 120_000, async (p) => {
        const who = await http.send(`${p.url}/v1/readers/${p.readerId}`, 'GET');
        expect(who.status).toBe(200);
        for (const b of p.sends) {
          const a = await http.send(`${p.url}/v1/batches`, 'POST', b, {}, { idempotent: true });
          const answer = JSON.parse(a.body.toString()) as { outcome: string; reason: string | null };
          expect([a.status, answer.reason]).toEqual([200, null]);
          outcomes[answer.outcome] = (outcomes[answer.outcome] ?? 0) + 1;
        }
      });
      const seconds = (Date.now() - started) / 1000;
      const cpu = nodes.map((n) => n.cpuSeconds() ?? NaN).reduce((a, b) => a + b, 0);
      const posts = plans.reduce((n, p) => n + p.sends.length, 0);
      console.log(`load: ${READERS} readers, ${pop.counts.batches} batches (${posts} posts, ${JSON.stringify(outcomes)}), ${pop.tokens.length} tokens, ${nodeCount} node(s): ${seconds.toFixed(1)} s, ${http.postRetries} posts resent after a reset, ${(posts / seconds).toFixed(0)} posts/s; server CPU ${cpu.toFixed(1)} s`);
      // Every batch answered: one ingested per distinct batch, the rest duplicates (a POST resent after a
      // connection reset may find its first try committed: then its answer is a duplicate).
      expect(outcomes.ingested! + outcomes.duplicate!).toBe(posts);
      expect(outcomes.ingested).toBeLessThanOrEqual(pop.counts.batches);
      expect(outcomes.ingested).toBeGreaterThanOrEqual(pop.counts.batches - http.postRetries);

      // Every reader holds all its batches (what a reader's next sync would learn). Fresh sockets: the idle ones
      // of the upload may be closing (the server's keep-alive timeout).
      http.close();
      http = new BoundedHttp(SOCKETS);
      const notHeld: number[] = [];
      await inLanes(plans, SOCKETS, 30_000, async (p) => {
        const a = JSON.parse((await http.send(`${p.url}/v1/readers/${p.readerId}`, 'GET')).body.toString()) as { journals: { batchSeq: number }[] };
        if (a.journals.length !== 1 || a.journals[0]!.batchSeq !== p.held) notHeld.push(p.readerId);
      });
      expect(notHeld).toEqual([]);

      const reference = await referenceClearing(pop.issuer.keySet(), pop.readers.flatMap((r) => r.batches));
      const want = await reference.report();
      // The population must exercise what it claims to: every token settles once, double spends, overruns.
      expect(want.invalidTokens).toEqual([]);
      expect(want.problems).toEqual([]);
      expect(want.totals[0]!.count).toBe(pop.tokens.length);
      expect(want.doubleSpends.length).toBeGreaterThan(20);
      expect(want.overAllowance.length).toBeGreaterThan(10);
      expect(new Set(want.settlement.map((l) => l.operatorId)).size).toBe(10);

      // The blocklist the readers would load: the same wallets (this GET also runs the over-allowance check).
      const bl = await http.send(`${nodes[0]!.url}/v1/blocklist`, 'GET');
      expect(bl.status).toBe(200);
      const referenceBlocked = await reference.blockedWalletIds();
      expect(toHex(decodeBlocklist(new Uint8Array(bl.body)).entries)).toBe(referenceBlocked.map(toHex).join(''));
      const blocked = new Set(referenceBlocked.map(toHex));
      expect(pop.suspectWallets.filter((w) => blocked.has(w)).length).toBeGreaterThan(30);

      const token = readFileSync(join(dir, 'operator-token'), 'utf8').trim();
      const rep = await http.send(`${nodes[nodes.length - 1]!.url}/v1/report`, 'GET', undefined, { authorization: `Bearer ${token}` });
      expect(rep.status).toBe(200);
      expect(normalizeReport(JSON.parse(rep.body.toString()))).toEqual(normalizeReport(want));
      await reference.close();
    } finally {
      http.close();
      for (const n of nodes) await n.stop();
    }
  }, 180_000);
});
