/**
 * The write fault on SQLite beyond test/clearing/write-fault.test.ts (spec/clearing-api.md §2.10), from a review of
 * its first version: a full database (which a rolled-back write cannot see: the fault is held for
 * WRITE_FAULT_HOLD_MS), the payment index, the webhook outbox's own file, the probe inside group commit, and a
 * probe meeting another process's write lock (no fault, and not "refuses writes").
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Clearing } from '../../src/clearing/index.js';
import type { SqliteClearingStore } from '../../src/clearing/store-sqlite.js';
import { WRITE_FAULT_HOLD_MS } from '../../src/clearing/store.js';
import { SqliteWebhookOutbox } from '../../src/server/outbox.js';
import { WebhookService } from '../../src/server/webhooks.js';
import { CLOCK, health, post, REFUSES, stop, writeFaultKit } from './write-fault-helpers.js';

const { issuer, batches, serve } = writeFaultKit('wf-sqlite');
const dir = mkdtempSync(join(tmpdir(), 'offpay-wf-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('SQLite: health and a database that refuses writes', () => {
  it('a full database (SQLITE_FULL via max_page_count): every batch is 503, and the health check must not say 200', async () => {
    const list = await batches(40, 6);
    const clearing = new Clearing({ path: join(dir, 'full.db'), issuerKeys: issuer.keySet(), clock: CLOCK });
    const db = (clearing.store as SqliteClearingStore).db;
    const { server, url } = await serve(clearing);
    try {
      expect(await post(url, list[0]!)).toEqual([200, 'ingested']);
      // The disk is full: no page can be added (what a full file system does to a growing file).
      const pages = Number(db.pragma('page_count', { simple: true }));
      db.pragma(`max_page_count = ${pages}`);
      const answers: [number, string][] = [];
      const healths: [number, string][] = [];
      const faults: (string | undefined)[] = [];
      for (const b of list.slice(1, 12)) {
        answers.push(await post(url, b));
        faults.push(clearing.store.writeFault);
        healths.push(await health(url));
      }
      expect(faults.slice(-3)).toEqual(['SQLITE_FULL', 'SQLITE_FULL', 'SQLITE_FULL']); // each refused batch set the fault
      const refused = answers.filter(([s]) => s === 503).length;
      // Precondition: the database is full for the batches (each 503 store_unavailable, fault SQLITE_FULL).
      expect(refused).toBeGreaterThan(5);
      expect(answers.slice(-3)).toEqual([[503, 'clearing.store_unavailable'], [503, 'clearing.store_unavailable'], [503, 'clearing.store_unavailable']]);
      // The claim (CHANGELOG: "a full or failing disk ... GET /v1/health said 200 ... now 503"): after a refused
      // batch the health check says the database refuses writes.
      expect(healths.slice(-3)).toEqual([[503, REFUSES], [503, REFUSES], [503, REFUSES]]);
      // The rolled-back write of the probe cannot see a full disk: the fault holds until WRITE_FAULT_HOLD_MS after
      // the last refusal, then the probe passes and lets batches come again; the next refused one sets it again.
      await expect(clearing.store.writeProbe({ nowMs: Date.now() + WRITE_FAULT_HOLD_MS - 1_000 })).rejects.toMatchObject({ code: 'clearing.store_unavailable', detail: { write: true, code: 'SQLITE_FULL' } });
      db.pragma('max_page_count = 1073741823'); // space again
      expect(await health(url)).toEqual([503, REFUSES]); // still held
      await clearing.store.writeProbe({ nowMs: Date.now() + WRITE_FAULT_HOLD_MS + 1_000 }); // the hold over: the probe passes
      expect(clearing.store.writeFault).toBeUndefined();
      expect(await health(url)).toEqual([200, 'ok']);
      expect((await post(url, list[1]!))[0]).toBe(200);
      expect(clearing.store.writeFault).toBeUndefined();
    } finally {
      await stop(server);
      await clearing.close();
    }
  });

  it('the payment index (GET /v1/payments) on a database that refuses writes: 503 store_unavailable, as every other write', async () => {
    const clearing = new Clearing({ path: join(dir, 'index.db'), issuerKeys: issuer.keySet(), clock: CLOCK });
    const db = (clearing.store as SqliteClearingStore).db;
    // Read-only before the node builds its payment index (its build at the server's start is best effort).
    db.pragma('query_only = 1');
    const { server, url } = await serve(clearing);
    try {
      const r = await fetch(`${url}/v1/payments/${'ab'.repeat(32)}`);
      const b = (await r.json()) as { error?: { code: string } };
      expect([r.status, b.error?.code]).toEqual([503, 'clearing.store_unavailable']);
    } finally {
      await stop(server);
      db.pragma('query_only = 0');
      await clearing.close();
    }
  });

  it('the webhook outbox refusing writes (its SQLite file read-only): a batch is 503, and health must not say 200', async () => {
    const [b1] = await batches(1, 2, 4712);
    const clearing = new Clearing({ path: join(dir, 'hooks.db'), issuerKeys: issuer.keySet(), clock: CLOCK });
    const outbox = new SqliteWebhookOutbox(join(dir, 'hooks.db.webhooks'));
    const hooks = new WebhookService({ url: 'http://127.0.0.1:65000/hook', secret: 'cd'.repeat(32), outbox, pollMs: 60_000, baseDelayMs: 60_000 });
    const { server, url } = await serve(clearing, hooks);
    try {
      (outbox as unknown as { db: { pragma(s: string): unknown } }).db.pragma('query_only = 1');
      const first = await post(url, b1!);
      const again = await post(url, b1!); // the reader resends: a duplicate derives the same events
      const h = await health(url);
      expect({ first, again, health: h[0] }).toEqual({ first: [503, 'clearing.store_unavailable'], again: [503, 'clearing.store_unavailable'], health: 503 });
    } finally {
      await stop(server);
      await hooks.stop();
      await outbox.close();
      await clearing.close();
    }
  });
});

describe('SQLite: the probe and the store', () => {
  it('the probe waits for group commit: concurrent ingests and probes, every batch held, nothing of the probe stored', async () => {
    const list = await batches(24, 2, 4713);
    const clearing = new Clearing({ path: join(dir, 'group.db'), issuerKeys: issuer.keySet(), clock: CLOCK });
    const store = clearing.store as SqliteClearingStore;
    const { server, url } = await serve(clearing);
    try {
      let done = false;
      const posts = Promise.all(list.map((b) => post(url, b))).finally(() => (done = true));
      // Probes throughout, while the group transaction is handed from session to session: a probe that ran
      // inside it would fail its BEGIN IMMEDIATE (a transaction within a transaction) or roll the group back.
      let probed = 0;
      while (!done) {
        await store.writeProbe();
        probed++;
        await new Promise((r) => setImmediate(r));
      }
      const answers = await posts;
      expect(probed).toBeGreaterThan(3);
      expect(answers.every(([s, o]) => s === 200 && o === 'ingested')).toBe(true);
      expect((await clearing.heldBatches(4713)).map((j) => j.batchSeq)).toEqual([24]); // every batch up to the last held
      expect(store.db.prepare("SELECT count(*) AS n FROM meta WHERE key = 'write_probe'").get()).toEqual({ n: 0 });
      expect(store.db.inTransaction).toBe(false);
    } finally {
      await stop(server);
      await clearing.close();
    }
  });

  it('a probe meeting another process\'s write lock past the busy timeout sets no fault and does not say "refuses writes"', async () => {
    const clearing = new Clearing({ path: join(dir, 'busy.db'), issuerKeys: issuer.keySet(), clock: CLOCK });
    const store = clearing.store as SqliteClearingStore;
    try {
      // A second connection holds the write lock: the probe waits busy_timeout (5 s) and is refused, no fault.
      const { default: Database } = await import('better-sqlite3');
      const other = new Database(join(dir, 'busy.db'));
      other.exec('BEGIN IMMEDIATE');
      const t = Date.now();
      const e = (await store.writeProbe().then(() => undefined, (x: unknown) => x)) as { code?: string; detail?: Record<string, unknown> };
      expect([e.code, e.detail?.sqlite, e.detail?.write]).toEqual(['clearing.store_unavailable', 'SQLITE_BUSY', undefined]);
      const waited = Date.now() - t;
      other.exec('ROLLBACK');
      other.close();
      expect(store.writeFault).toBeUndefined();
      expect(waited).toBeGreaterThan(4000); // it waited the busy timeout, as an ingest does
    } finally {
      await clearing.close();
    }
  }, 20_000);
});
