/**
 * The kill campaign of kill.test.ts on two `offpay clearing serve` nodes sharing one PostgreSQL database (a
 * throwaway cluster, test/clearing/pg-cluster.ts): each kill -9 takes down one node, its readers resync through
 * the other, and at the end nothing acknowledged is lost and nothing settles twice (issue 16; money invariant
 * M7). Under CI=true a missing PostgreSQL fails the test; elsewhere it skips with the reason.
 */
import { afterAll, describe, it } from 'vitest';
import { startPgCluster } from './pg-cluster.js';

const started = await startPgCluster();
if (typeof started === 'string') {
  describe('clearing serve killed during ingest, two nodes on PostgreSQL', () => {
    it.skip(`skipped: ${started}`, () => {});
  });
  process.stderr.write(`kill-pg.test.ts: skipped, ${started}\n`);
} else {
  afterAll(() => started.stop());
  // kill.test.ts reads these when its campaign starts (test/clearing/load-helpers.ts clearingDb).
  process.env.OFFPAY_TEST_CLEARING_DB = await started.createDatabase();
  process.env.OFFPAY_TEST_CLEARING_NODES = '2';
  await import('./kill.test.js');
}
