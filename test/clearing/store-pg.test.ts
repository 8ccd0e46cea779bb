/**
 * The shared clearing store suite (store-suite.ts) on PostgreSQL: a throwaway cluster (pg-cluster.ts), a new
 * database for each clearing, and the two-node race on one database. Without PostgreSQL installed the suite
 * is skipped with the reason, except under CI=true, where it fails.
 */
import { afterAll, beforeAll, describe, it } from 'vitest';
import { Clearing } from '../../src/clearing/index.js';
import type { PgClearingStore } from '../../src/clearing/store-pg.js';
import { startPgCluster, type PgCluster } from './pg-cluster.js';
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
}
