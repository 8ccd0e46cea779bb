/**
 * A clearing database that can still be read but refuses writes for good (a file or file system gone read-only,
 * a PostgreSQL standby after a failover, a full disk): every batch is 503 `clearing.store_unavailable` and
 * nothing is held, and `GET /v1/health` says 503 too, so that a load balancer and an operator's monitoring see it
 * (before, the health check only read, and a node that could settle nothing answered 200 for as long as it ran).
 * Once the database takes writes again, the health check's write probe finds it and the batches go through.
 * spec/clearing-api.md §2.10; ClearingStore.writeFault / writeProbe (src/clearing/store.ts).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { OffpayError } from '../../base/errors.js';
import { Clearing } from '../../src/clearing/index.js';
import type { SqliteClearingStore } from '../../src/clearing/store-sqlite.js';
import { startPgCluster, withClient, type PgCluster } from './pg-cluster.js';
import { CLOCK, health, post, REFUSES, stop, writeFaultKit } from './write-fault-helpers.js';

const { issuer, batches, serve } = writeFaultKit('write-fault');

describe('a clearing database that refuses writes', () => {
  it('SQLite gone read-only (query_only: SQLITE_READONLY from the engine): 503 for batches and for health, and both recover', async () => {
    const [b1, b2, b3] = await batches();
    const clearing = new Clearing({ issuerKeys: issuer.keySet(), clock: CLOCK });
    const db = (clearing.store as SqliteClearingStore).db;
    const { server, url } = await serve(clearing);
    try {
      expect(await post(url, b1!)).toEqual([200, 'ingested']);
      expect(await health(url)).toEqual([200, 'ok']);
      db.pragma('query_only = 1');
      expect(await health(url)).toEqual([200, 'ok']); // a read still works, and no write has failed yet
      expect(await post(url, b2!)).toEqual([503, 'clearing.store_unavailable']);
      expect(clearing.store.writeFault).toBe('SQLITE_READONLY');
      expect(await health(url)).toEqual([503, REFUSES]);
      expect(await health(url)).toEqual([503, REFUSES]); // the probe keeps finding it
      await expect(clearing.store.writeProbe()).rejects.toMatchObject({ code: 'clearing.store_unavailable', detail: { write: true } });
      expect((await clearing.heldBatches(4711)).map((j) => j.batchSeq)).toEqual([1]); // nothing of batch 2
      db.pragma('query_only = 0');
      expect(await health(url)).toEqual([200, 'ok']); // the probe went through
      expect(clearing.store.writeFault).toBeUndefined();
      expect(await post(url, b2!)).toEqual([200, 'ingested']);
      expect(await post(url, b3!)).toEqual([200, 'ingested']);
      // A write of another kind (refunds, the blocklist, settings) is typed and noted the same way.
      db.pragma('query_only = 1');
      await expect(clearing.block(new Uint8Array(16).fill(9))).rejects.toMatchObject({ code: 'clearing.store_unavailable' });
      expect(clearing.store.writeFault).toBe('SQLITE_READONLY');
      expect(await health(url)).toEqual([503, REFUSES]);
      db.pragma('query_only = 0');
      await clearing.block(new Uint8Array(16).fill(9));
      expect(clearing.store.writeFault).toBeUndefined();
      expect(await health(url)).toEqual([200, 'ok']);
    } finally {
      await stop(server);
      await clearing.close();
    }
  });

  it('a lock held past the busy timeout passes by itself: no write fault', async () => {
    const clearing = new Clearing({ issuerKeys: issuer.keySet(), clock: CLOCK });
    const store = clearing.store as SqliteClearingStore;
    const exec = store.db.exec.bind(store.db);
    store.db.exec = ((sql: string) => {
      if (sql === 'BEGIN IMMEDIATE') throw Object.assign(new Error('database is locked'), { code: 'SQLITE_BUSY' });
      return exec(sql);
    }) as typeof store.db.exec;
    try {
      await expect(store.writeProbe()).rejects.toBeInstanceOf(OffpayError);
      expect(store.writeFault).toBeUndefined();
    } finally {
      store.db.exec = exec as typeof store.db.exec;
      await clearing.close();
    }
  });
});

const started = await startPgCluster(); // under CI without PostgreSQL it throws: the test fails, not skips
if (typeof started === 'string') {
  describe('a PostgreSQL clearing database that refuses writes', () => {
    it.skip(`skipped: ${started}`, () => {});
  });
} else {
  const cluster: PgCluster = started;
  afterAll(() => cluster.stop());
  /** One statement on the cluster's postgres database (ALTER DATABASE cannot run in the database it changes when that is read-only). */
  const admin = (text: string): Promise<void> => withClient(cluster.url, async (c) => void (await c.query(text)));
  describe('a PostgreSQL clearing database that refuses writes', () => {
    it('a database turned read-only (as a standby is): 25006 is 503 for batches and for health, and both recover', async () => {
      const [b1, b2] = await batches();
      const url = await cluster.createDatabase();
      const name = new URL(url).pathname.slice(1);
      const clearing = await Clearing.open({ issuerKeys: issuer.keySet(), clock: CLOCK, url });
      const { server, url: api } = await serve(clearing);
      /** Every connection of the node's pool ends; the next ones start with the database's settings. */
      const reconnect = () => admin(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '${name}' AND pid <> pg_backend_pid()`);
      /** Health until it says `want` (the first read after a reconnect may meet a terminated connection). */
      const healthUntil = async (want: number): Promise<[number, string]> => {
        let h = await health(api);
        for (let i = 0; i < 20 && h[0] !== want; i++) {
          await new Promise((r) => setTimeout(r, 100));
          h = await health(api);
        }
        return h;
      };
      try {
        expect(await post(api, b1!)).toEqual([200, 'ingested']);
        await admin(`ALTER DATABASE "${name}" SET default_transaction_read_only = on`);
        await reconnect();
        let answer = await post(api, b2!);
        for (let i = 0; i < 5 && clearing.store.writeFault === undefined; i++) answer = await post(api, b2!); // past terminated connections
        expect(answer).toEqual([503, 'clearing.store_unavailable']);
        expect(clearing.store.writeFault).toBe('25006');
        expect(await healthUntil(503)).toEqual([503, REFUSES]);
        expect((await clearing.heldBatches(4711)).map((j) => j.batchSeq)).toEqual([1]);
        await admin(`ALTER DATABASE "${name}" SET default_transaction_read_only = off`);
        await reconnect();
        expect(await healthUntil(200)).toEqual([200, 'ok']);
        expect(clearing.store.writeFault).toBeUndefined();
        expect(await post(api, b2!)).toEqual([200, 'ingested']);
      } finally {
        await stop(server);
        await clearing.close();
      }
    }, 60_000);
  });
}
