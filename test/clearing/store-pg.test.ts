/**
 * The shared clearing store suite (store-suite.ts) on PostgreSQL: a throwaway cluster (pg-cluster.ts), a new
 * database for each clearing, and the two-node race on one database. Without PostgreSQL installed the suite
 * is skipped with the reason, except under CI=true, where it fails.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Clearing } from '../../src/clearing/index.js';
import type { PgClearingStore } from '../../src/clearing/store-pg.js';
import { startPgCluster, type PgCluster } from './pg-cluster.js';
import { makeIssuer } from '../reader/helpers.js';
import { storeSuite } from './store-suite.js';

const started = await startPgCluster();
if (typeof started === 'string') {
  describe('clearing store: PostgreSQL', () => {
    it.skip(`skipped: ${started}`, () => {});
  });
  process.stderr.write(`store-pg.test.ts: skipped, ${started}\n`);
} else {
  const cluster: PgCluster = started;
  beforeAll(() => {});
  afterAll(() => cluster.stop());
  storeSuite({
    name: 'PostgreSQL',
    fresh: async (o) => Clearing.open({ ...o, url: await cluster.createDatabase() }),
    shared: async () => {
      const url = await cluster.createDatabase();
      return (o) => Clearing.open({ ...o, url });
    },
    retries: (c) => (c.store as PgClearingStore).retries,
    runs: { model: 30, adversary: 15 },
  });

  describe('refunds table of a pre-release 0.2.0 (no seq)', () => {
    it('is given seq at open; a refund stored afterwards comes after the old ones', async () => {
      const url = await cluster.createDatabase();
      const issuer = makeIssuer('store-pg-upgrade');
      await (await Clearing.open({ url, issuerKeys: issuer.keySet() })).close();
      const { default: pg } = await import('pg');
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      try {
        await c.query(`DROP TABLE refunds; CREATE TABLE refunds(token_hash bytea PRIMARY KEY, bytes bytea NOT NULL, operator_id bigint NOT NULL, reader_id bigint NOT NULL,
          wallet_id bytea NOT NULL, amount bigint NOT NULL, currency bigint NOT NULL, charge bigint NOT NULL, time bigint NOT NULL, accepted_at bigint NOT NULL)`);
        for (const h of [3, 1, 2]) await c.query('INSERT INTO refunds VALUES ($1, $2, 90, 11, $3, 5, 344, 10, 1, 10)', [Buffer.alloc(32, h), Buffer.from([h]), Buffer.alloc(16)]);
      } finally {
        await c.end();
      }
      const again = await Clearing.open({ url });
      try {
        const put = { tokenHash: new Uint8Array(32).fill(9), bytes: new Uint8Array([9]), operatorId: 90, readerId: 11, walletId: new Uint8Array(16), amount: 5, currency: 344, charge: 10, time: 1, acceptedAt: 5 };
        expect(await again.store.putRefund(put)).toBe(true);
        const p = await again.refundPage(0, 10);
        const order = p.refunds.map((r) => r.tokenHash.slice(0, 2));
        expect(order.slice(0, 3).sort()).toEqual(['01', '02', '03']); // table order: any
        expect(order[3]).toBe('09');
        expect(p.nextAfter).toBeUndefined();
        expect((await again.refundPage(p.lastSeq!, 10)).refunds).toEqual([]);
      } finally {
        await again.close();
      }
    });
  });
}
