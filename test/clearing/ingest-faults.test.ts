/**
 * Clearing.ingestAll and group commit when the database fails (spec/clearing.md §11.2, group commit), found by an
 * attack review of the failing-database changes:
 *  - with a VerifyPool, a look-up of a batch in flight that fails before the loop reaches it (or after the loop
 *    stopped) is handled: the ingest fails with the typed error, and the process does not die of an unhandled
 *    rejection;
 *  - SQLite may cancel the whole open transaction on an I/O error or a full disk, also in a statement whose error
 *    the ingest passes over (the certificate memo's): the next unit must not begin a new transaction and commit
 *    after it, which answered earlier batches `ingested` that were not held;
 *  - a group member whose COMMIT is lost that way is told clearing.store_unavailable (503), not store_unusable.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { OffpayError } from '../../base/errors.js';
import { Clearing } from '../../src/clearing/index.js';
import type { SqliteClearingStore } from '../../src/clearing/store-sqlite.js';
import type { IngestSession } from '../../src/clearing/store.js';
import { buildFastPopulation } from '../../bench/clearing-load.js';
import { transpileForChild } from '../reader/transpile.js';

const dir = mkdtempSync(join(tmpdir(), 'offpay-ingest-faults-'));
const built = transpileForChild([]);
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
  rmSync(built, { recursive: true, force: true });
});

const pop = () =>
  buildFastPopulation({
    seed: 71, t0: 1_800_000_000, readers: 2, batchesPerReader: 3, salesPerBatch: 10,
    honestWallets: 6, cloneGroups: 0, cloneCopies: 2, overAllowanceWallets: 0, cloneShare: 0, overAllowanceShare: 0, overlapShare: 0,
  });

describe('ingestAll with a VerifyPool: a later batch whose prepare fails while an earlier one is verified', () => {
  it('rejects with the typed error and leaves no unhandled promise rejection (else the process dies)', async () => {
    const p = pop();
    const batches = p.readers.flatMap((r) => r.batches);
    const { Clearing: C, VerifyPool } = (await import(join(built, 'src/clearing/index.js'))) as typeof import('../../src/clearing/index.js');
    const c = await C.open({ path: join(dir, 'pool.db'), issuerKeys: p.issuer.keySet() });
    const pool = new VerifyPool(p.issuer.keySet(), 1);
    const unhandled: unknown[] = [];
    const onUnhandled = (e: unknown) => unhandled.push(e);
    // vitest installs its own listener; ours records what it would report.
    process.on('unhandledRejection', onUnhandled);
    // The database goes away (a lost PostgreSQL connection; here injected): every look-up from the 2nd on fails.
    const store = c.store;
    const session = store.session.bind(store);
    let calls = 0;
    store.session = ((fn: (s: IngestSession) => Promise<unknown>, o?: { group?: boolean }) =>
      session(
        (s) =>
          fn(
            new Proxy(s, {
              get(t, k, r) {
                const v = Reflect.get(t, k, r) as unknown;
                if (k !== 'isDuplicate') return v;
                return (...a: unknown[]) => {
                  if (++calls >= 2) return Promise.reject(new OffpayError('clearing.store_unavailable', 'injected: connection lost'));
                  return (v as (...x: unknown[]) => unknown).apply(t, a);
                };
              },
            }),
          ),
        o,
      )) as typeof store.session;
    try {
      const r = await c.ingestAll(batches, pool).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(r).toMatchObject({ code: 'clearing.store_unavailable' });
      await new Promise((res) => setTimeout(res, 200));
      expect(unhandled, 'promise rejections nobody handled (Node 20 exits on them by default)').toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
      await pool.close();
      await c.close();
    }
  });
});

describe('ingestAll on SQLite: SQLite rolls the open transaction back under a failure that is swallowed', () => {
  it('the ingest fails with clearing.store_unavailable and holds nothing; the batches sent again are ingested', async () => {
    const p = pop();
    const batches = p.readers.flatMap((r) => r.batches).slice(0, 2);
    const c = await Clearing.open({ path: join(dir, 'rollback.db'), issuerKeys: p.issuer.keySet() });
    try {
      const st = c.store as SqliteClearingStore;
      const q = (st as unknown as { q: Record<string, { run: (...a: unknown[]) => unknown }> }).q;
      const real = q.putCert!;
      let fired = false;
      // SQLite's documented behaviour for SQLITE_IOERR / SQLITE_FULL / SQLITE_NOMEM: "it might be necessary for
      // SQLite to rollback and cancel the entire transaction" (sqlite.org/lang_transaction.html). The store's own
      // commit() knows it ("If SQLite rolled the transaction back on its own"). Here: the certificate memo's
      // INSERT (after batch 1's unit) meets it once.
      q.putCert = {
        run: (...a: unknown[]) => {
          if (!fired) {
            fired = true;
            st.db.exec('ROLLBACK');
            throw Object.assign(new Error('disk I/O error'), { code: 'SQLITE_IOERR_WRITE' });
          }
          return real.run(...a);
        },
      };
      const out = await c.ingestAll(batches).then(
        (r) => r,
        (e: unknown) => e as Error,
      );
      expect(fired).toBe(true);
      // The whole ingest fails (nothing it wrote is held), as a failure to try again.
      expect(out).toMatchObject({ code: 'clearing.store_unavailable' });
      // Nothing was held: sent again, both batches are ingested (before the fix, the first came back ingested
      // from ingestAll and was not held).
      const again = [];
      for (const b of batches) again.push((await c.ingest(b)).outcome);
      expect(again).toEqual(['ingested', 'ingested']);
      for (const b of batches) expect((await c.ingest(b)).outcome).toBe('duplicate');
    } finally {
      await c.close();
    }
  });

  it('a group member whose COMMIT is lost to such a rollback is told clearing.store_unavailable (503), not store_unusable (500)', async () => {
    const p = pop();
    const batches = p.readers.flatMap((r) => r.batches);
    const c = await Clearing.open({ path: join(dir, 'group.db'), issuerKeys: p.issuer.keySet() });
    try {
      const st = c.store as SqliteClearingStore;
      // two ingests at once: one group transaction; the second's unit statement meets an IOERR that rolls back all
      const q = (st as unknown as { q: Record<string, { run: (...a: unknown[]) => unknown }> }).q;
      const real = q.putBytes!;
      let n = 0;
      q.putBytes = {
        run: (...a: unknown[]) => {
          if (++n === 2) {
            st.db.exec('ROLLBACK');
            throw Object.assign(new Error('disk I/O error'), { code: 'SQLITE_IOERR_WRITE' });
          }
          return real.run(...a);
        },
      };
      const rs = await Promise.allSettled([c.ingest(batches[0]!), c.ingest(batches[1]!)]);
      expect(n).toBeGreaterThanOrEqual(2);
      const codes = rs.map((r) => (r.status === 'rejected' ? (r.reason as OffpayError).code : r.value.outcome));
      expect(codes).toEqual(['clearing.store_unavailable', 'clearing.store_unavailable']);
    } finally {
      await c.close();
    }
  });
});
