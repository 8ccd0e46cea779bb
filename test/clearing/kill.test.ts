/**
 * Faults: `offpay clearing serve` is killed with SIGKILL at random points while readers upload (each kill
 * lands while at least one POST /v1/batches is on its way: reading the body, ingesting, committing or
 * answering), 20 times, and restarted on the same database and port. The readers are real `Reader`s running
 * the library's `syncReader` (src/reader/sync.ts: GET what is held, export what is new, POST the rest in
 * order, retries with backoff); a sync that gives up (`sync.unreachable`) is simply run again, as a reader's
 * next sync would. Checked:
 *  - nothing acknowledged is lost: after every restart, every batch answered `ingested`/`duplicate` before the
 *    kill is held (GET /v1/readers/{id} batchSeq at least the highest acknowledged, batches go in order);
 *  - nothing settles twice and nothing is missing: the final report equals a single in-process ingest of
 *    every batch the readers exported, and every token the readers accepted settles exactly once.
 * With several nodes on one PostgreSQL database (load-helpers.ts: OFFPAY_TEST_CLEARING_DB and
 * OFFPAY_TEST_CLEARING_NODES), a kill takes down one node and its readers resync through the next one.
 */
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { saveIssuer } from '../../src/node/files.js';
import { mulberry32 } from '../../base/prng.js';
import { syncReader } from '../../src/reader/sync.js';
import { buildPopulation, ServeNode } from '../../bench/clearing-load.js';
import { BoundedHttp, clearingDb, inLanes, normalizeReport, referenceClearing, scratchDir } from './load-helpers.js';

const dir = scratchDir('offpay-kill-');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const KILLS = Number(process.env.OFFPAY_KILLS ?? 20);
const SEED = 20_261_206;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const nowSec = () => Math.floor(Date.now() / 1000);

describe('clearing serve killed during ingest', () => {
  it(`kill -9 ${KILLS} times while readers sync: nothing acknowledged is lost, nothing settles twice`, async () => {
    const t0 = nowSec();
    const prepStart = Date.now();
    const pop = await buildPopulation({
      seed: SEED, t0, readers: 50, batchesPerReader: 14, salesPerBatch: 1, lastBatchUnexported: true,
      honestWallets: 80, cloneGroups: 6, cloneCopies: 3, overAllowanceWallets: 6,
      cloneShare: 0.15, overAllowanceShare: 0.1, overlapShare: 0, readersPerOperator: 10,
    });
    const issuerDir = join(dir, 'issuer');
    saveIssuer(issuerDir, pop.issuer);
    const { db, nodes: nodeCount } = clearingDb(dir, 'kill');
    const tokenFile = join(dir, 'operator-token');
    const nodes = Array.from({ length: nodeCount }, () => new ServeNode({ issuerDir, db, operatorTokenFile: tokenFile, extraArgs: ['--blocklist-check-seconds', '0'] }));
    for (const n of nodes) await n.start();
    const prepSeconds = (Date.now() - prepStart) / 1000;
    const rand = mulberry32(SEED);
    const http = new BoundedHttp(8);

    // What the readers were told, and what was on its way when a node died.
    const acked = new Map<number, number>(); // reader id -> highest batch seq answered ingested/duplicate
    let answered = 0;
    let posts = 0;
    let inflight = 0;
    let resyncs = 0;
    let cutPosts = 0;
    let checkedReaders = 0; // (kill, reader with an acknowledged batch) pairs checked after restarts
    let answeredAtLastKill = 0; // how much upload was left for the last cycles (margin for a faster machine)
    let refusedPosts = 0; // connection refused: the node was down, nothing reached it
    const restartMs: number[] = [];
    const lost: string[] = [];
    let wakeKiller: (() => void) | undefined;
    // While a restarted node is being checked, the readers' requests wait (so that no resend can hide a lost
    // batch); while it is down they fail (connection refused) and the readers retry as they would.
    let gate: Promise<void> = Promise.resolve();
    const watching = (readerId: number): typeof fetch => async (input, init) => {
      await gate;
      const isPost = init?.method === 'POST';
      if (isPost) {
        posts++;
        inflight++;
        wakeKiller?.();
      }
      try {
        const r = await fetch(input, init);
        if (isPost && r.status === 200) {
          const a = (await r.clone().json()) as { outcome: string; readerId: number; batchSeq: number };
          if (a.readerId !== readerId) lost.push(`reader ${readerId}'s batch answered for reader ${a.readerId}`);
          if (a.outcome === 'ingested' || a.outcome === 'duplicate') {
            answered++;
            acked.set(readerId, Math.max(acked.get(readerId) ?? 0, a.batchSeq));
          }
        }
        return r;
      } catch (e) {
        if (isPost && (e as { cause?: { code?: string } }).cause?.code === 'ECONNREFUSED') refusedPosts++;
        throw e;
      } finally {
        if (isPost) inflight--;
      }
    };

    const retryCauses: Record<string, number> = {};
    const noteRetry = (line: string) => {
      const m = /^ {2}(\S+): (.*); retrying/.exec(line);
      if (m) {
        const cause = `${m[1]!.replace(/\d+/g, 'N')}: ${m[2]!.replace(/\d+/g, 'N')}`;
        retryCauses[cause] = (retryCauses[cause] ?? 0) + 1;
      }
    };
    const expectedBatches = pop.readers.length * 14; // batchesPerReader: every sale of a batch, one batch each
    let syncing = true;
    const killer = (async () => {
      let kills = 0;
      while (kills < KILLS && syncing) {
        // Spread the kills over the upload whatever the machine's speed: kill k waits for about k/(KILLS+1) of
        // the batches to be acknowledged (a cold restarted node is slow, so a timer alone killed every node before
        // its first answer on a loaded machine, leaving nothing acknowledged to check).
        const target = Math.floor(((kills + 1 + (rand() - 0.5) * 0.8) / (KILLS + 1)) * 0.85 * expectedBatches);
        while (answered < target && syncing) await sleep(5);
        // Wait for an upload on its way, then kill at a random moment of it (or of the next ones).
        while (inflight === 0 && syncing) await new Promise<void>((r) => ((wakeKiller = r), setTimeout(r, 50)));
        if (!syncing) break;
        await sleep(rand() * 15);
        const victim = nodes[Math.floor(rand() * nodes.length)]!;
        const before = new Map(acked);
        checkedReaders += before.size;
        cutPosts += inflight;
        await victim.kill9();
        kills++;
        // With several nodes, until the first failover has been seen, keep the victim down until a sync that was
        // using it has given up and moved to another node (or 3 s): restarts quicker than the readers' retry
        // budget (about 0.35 s) would otherwise hide the failover this campaign is here to exercise, and whether
        // it showed would be timing. Only until the first: holding every kill down ends the upload before the
        // twentieth kill.
        if (nodes.length > 1 && resyncs === 0) {
          const until = Date.now() + 3_000;
          while (resyncs === 0 && syncing && Date.now() < until) await sleep(10);
        }
        answeredAtLastKill = answered;
        const t = Date.now();
        let open!: () => void;
        gate = new Promise<void>((r) => (open = r));
        try {
          await victim.start();
          restartMs.push(Date.now() - t);
          // Every batch acknowledged before the kill is held, before any reader could send it again.
          await inLanes([...before], 8, 60_000, async ([readerId, seq]) => {
            const a = JSON.parse((await http.send(`${victim.url}/v1/readers/${readerId}`, 'GET')).body.toString()) as { journals: { batchSeq: number }[] };
            if ((a.journals[0]?.batchSeq ?? 0) < seq) lost.push(`kill ${kills}: reader ${readerId} acknowledged ${seq}, held ${a.journals[0]?.batchSeq ?? 0}`);
          });
        } finally {
          open();
        }
      }
      return kills;
    })();

    const started = Date.now();
    try {
      await inLanes(pop.readers, 30, 240_000, async (r, lane) => {
        for (let attempt = 0; ; attempt++) {
          const node = nodes[(lane + attempt) % nodes.length]!;
          try {
            await syncReader(r.reader, { url: node.url, issuerKeys: pop.issuer.keySet(), now: nowSec(), fetch: watching(r.readerId), log: noteRetry, attempts: 4, baseDelayMs: 50, maxDelayMs: 400, deadlineMs: 20_000, requestTimeoutMs: 20_000 });
            return;
          } catch (e) {
            if ((e as { code?: string }).code !== 'sync.unreachable') throw e;
            resyncs++;
            await sleep(50 + rand() * 200);
          }
        }
      });
    } finally {
      syncing = false;
      wakeKiller?.();
    }
    const kills = await killer;
    const seconds = (Date.now() - started) / 1000;

    try {
      // Every reader in sync: the server holds every batch it exported, and what was acknowledged.
      const exported = pop.readers.map((r) => r.reader.exportedBatches());
      const distinct = exported.reduce((a, b) => a + b, 0);
      for (const [i, r] of pop.readers.entries()) {
        const a = JSON.parse((await http.send(`${nodes[0]!.url}/v1/readers/${r.readerId}`, 'GET')).body.toString()) as { journals: { batchSeq: number }[] };
        expect([r.readerId, a.journals[0]?.batchSeq]).toEqual([r.readerId, exported[i]]);
      }
      console.log(
        `kill: ${kills} kills (${nodeCount} node(s)), ${pop.readers.length} readers, ${distinct} batches, ${pop.counts.accepted} tokens; ` +
          `${posts} posts (${refusedPosts} refused while down), ${answered} acknowledged, ${posts - distinct} resent (${posts - refusedPosts - distinct} of them after reaching a node), ` +
          `${cutPosts} in flight at a kill, ${answered - answeredAtLastKill} acknowledged after the last kill, ${checkedReaders} (kill, reader) pairs checked, ${resyncs} syncs run again; restart ${Math.round(restartMs.reduce((a, b) => a + b, 0) / Math.max(1, restartMs.length))} ms mean; ` +
          `population ${prepSeconds.toFixed(1)} s, campaign ${seconds.toFixed(1)} s`,
      );
      console.log(`kill: retries by cause ${JSON.stringify(retryCauses)}`);
      expect(lost).toEqual([]);
      expect(kills).toBe(KILLS);
      expect(checkedReaders).toBeGreaterThan(KILLS * 10); // the kills came while acknowledged batches were there to lose
      expect(cutPosts).toBeGreaterThanOrEqual(KILLS);
      // With several nodes, a kill must send some readers to another node (a sync that gave up on the victim is
      // run again against the next node); the killer holds a victim down until one has. With one node whether
      // any sync gives up during a restart (about 0.5 s against 0.35 s of retries) is timing, not a property: a
      // run where every sync outlasted the restarts passed every money check above and below, and is not a failure.
      if (nodes.length > 1) expect(resyncs).toBeGreaterThan(0);

      const reference = await referenceClearing(pop.issuer.keySet(), pop.readers.flatMap((r) => Array.from({ length: r.reader.exportedBatches() }, (_, k) => r.reader.exportBatch(k + 1).bytes)));
      const want = await reference.report();
      expect(want.invalidTokens).toEqual([]);
      expect(want.totals[0]!.count).toBe(pop.counts.accepted); // every accepted token settles, once
      expect(want.doubleSpends.length).toBeGreaterThan(0);
      await http.send(`${nodes[0]!.url}/v1/blocklist`, 'GET'); // runs the over-allowance check, as the reference did
      const rep = await http.send(`${nodes[0]!.url}/v1/report`, 'GET', undefined, { authorization: `Bearer ${readFileSync(tokenFile, 'utf8').trim()}` });
      expect(rep.status).toBe(200);
      expect(normalizeReport(JSON.parse(rep.body.toString()))).toEqual(normalizeReport(want));
      await reference.close();
    } finally {
      http.close();
      for (const n of nodes) await n.stop();
    }
  }, 400_000);
});
