/**
 * Group commit of concurrent ingests on the SQLite store (src/clearing/store-sqlite.ts, spec/clearing.md §11.3):
 * batches ingested at once share COMMITs, yet each ingest answers only after the COMMIT that holds it (another
 * connection to the file sees it by then), reads wait for the open transaction, and a COMMIT that fails fails
 * every ingest of its group, leaving none of them held (so none is acknowledged and lost).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Clearing, type IngestResult } from '../../src/clearing/index.js';
import { SqliteClearingStore } from '../../src/clearing/store-sqlite.js';
import { loadSqliteDriver } from '../../src/node/sqlite.js';
import { buildFastPopulation } from '../../bench/clearing-load.js';

const dir = mkdtempSync(join(tmpdir(), 'offpay-store-sqlite-group-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

const T0 = Math.floor(Date.now() / 1000);
const pop = buildFastPopulation({
  seed: 77, t0: T0, readers: 12, batchesPerReader: 2, salesPerBatch: 5,
  honestWallets: 10, cloneGroups: 2, cloneCopies: 2, overAllowanceWallets: 2, cloneShare: 0.2, overAllowanceShare: 0.1, overlapShare: 0,
});
const batches = pop.readers.flatMap((r) => r.batches);

/** A clearing on a new file, its db.exec wrapped: COMMITs are counted, and `failCommit` makes the next one throw. */
function open() {
  const path = join(dir, `g${++n}.db`);
  const c = new Clearing({ path, issuerKeys: pop.issuer.keySet(), clock: () => T0 + 60 });
  const db = (c.store as SqliteClearingStore).db;
  const exec = db.exec.bind(db);
  const spy = { commits: 0, failCommit: false };
  db.exec = (sql: string) => {
    if (sql === 'COMMIT') {
      if (spy.failCommit) {
        spy.failCommit = false;
        throw new Error('disk I/O error (simulated)');
      }
      spy.commits++;
    }
    return exec(sql);
  };
  return { c, path, spy };
}

/** Batches held, read through a second connection to the file: only what is committed. */
function committedBatches(path: string): number {
  const Database = loadSqliteDriver('clearing');
  const other = new Database(path, { readonly: true });
  try {
    return Number((other.prepare('SELECT count(*) AS n FROM batches').get() as { n: number }).n);
  } finally {
    other.close();
  }
}

describe('SQLite store: group commit of concurrent ingests', () => {
  it('shares COMMITs between ingests at once; each answers after the COMMIT that holds it; the result is one-by-one ingest', async () => {
    const { c, path, spy } = open();
    const seen: number[] = [];
    const results = await Promise.all(
      batches.map((b) =>
        c.ingest(b).then((r) => {
          // At the moment an ingest answers, its batch is committed: another connection sees it.
          seen.push(committedBatches(path));
          return r;
        }),
      ),
    );
    expect(results.every((r) => r.outcome === 'ingested')).toBe(true);
    // The answers come in order, and the k-th answer sees at least k committed batches.
    seen.forEach((held, k) => expect(held).toBeGreaterThanOrEqual(k + 1));
    expect(spy.commits).toBeLessThan(batches.length / 4); // 24 batches, at most 16 a COMMIT: 2 COMMITs here
    const single = open();
    const one: IngestResult[] = [];
    for (const b of batches) one.push(await single.c.ingest(b));
    expect(single.spy.commits).toBe(batches.length);
    expect(results).toEqual(one);
    expect(await c.report()).toEqual(await single.c.report());
    await Promise.all([c.close(), single.c.close()]);
  });

  it('an ingest that arrives later in the same turn of the event loop (an HTTP request read meanwhile) joins the open transaction', async () => {
    const { c, path, spy } = open();
    // The first ingest runs to its end at once (nothing in it waits for I/O); the second is started by a callback
    // of the same turn, as the server's handler of a request read in that turn would be.
    const second = new Promise<IngestResult>((resolve) => setImmediate(() => resolve(c.ingest(batches[1]!))));
    const first = c.ingest(batches[0]!);
    const rs = await Promise.all([first, second]);
    expect(rs.map((r) => r.outcome)).toEqual(['ingested', 'ingested']);
    expect(spy.commits).toBe(1);
    expect(committedBatches(path)).toBe(2);
    // One ingest alone still commits on its own, at once.
    expect((await c.ingest(batches[2]!)).outcome).toBe('ingested');
    expect(spy.commits).toBe(2);
    expect(committedBatches(path)).toBe(3);
    await c.close();
  });

  it('a read issued while a group is open waits for its COMMIT', async () => {
    const { c, path } = open();
    const pending = batches.slice(0, 6).map((b) => c.ingest(b));
    const report = await c.report(); // queued behind the ingests: sees all six, committed
    expect(report.readers.reduce((k, r) => k + r.batches, 0)).toBe(6);
    expect(committedBatches(path)).toBe(6);
    await Promise.all(pending);
    await c.close();
  });

  it('a COMMIT that fails fails every ingest of its group, and none of them is held', async () => {
    const { c, path, spy } = open();
    await c.ingest(batches[0]!);
    spy.failCommit = true;
    const group = await Promise.allSettled(batches.slice(1, 9).map((b) => c.ingest(b)));
    // The first COMMIT after the failure holds a later group: the failed group is the sessions before it.
    const failed = group.filter((r) => r.status === 'rejected');
    expect(failed.length).toBeGreaterThan(1);
    for (const r of failed) expect(String((r as PromiseRejectedResult).reason)).toMatch(/simulated/);
    const ok = group.filter((r) => r.status === 'fulfilled').length;
    expect(committedBatches(path)).toBe(1 + ok);
    // Sent again (a reader resends what was not acknowledged), every batch is ingested, none twice.
    const again = await Promise.all(batches.slice(1, 9).map((b) => c.ingest(b)));
    expect(again.filter((r) => r.outcome === 'ingested')).toHaveLength(failed.length);
    expect(committedBatches(path)).toBe(9);
    await c.close();
  });
});
