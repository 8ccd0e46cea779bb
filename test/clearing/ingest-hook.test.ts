/**
 * From an attack review (2026-12-07) of ac68d51: the beforeCommit hook inside clearing's store session.
 *  - held (both engines): a hook that throws in the middle of a SQLite group commit (sessions before and after it
 *    in the same open transaction) refuses its batch alone; the others commit; the refused batch ingests later;
 *    the store notes no write fault; the same on PostgreSQL.
 *  (A hook that calls the same Clearing waits for itself on SQLite, whose session the hook runs in: IngestHooks
 *  says a hook MUST NOT, since this review.)
 */
import { afterAll, describe, expect, it } from 'vitest';
import { Clearing } from '../../src/clearing/index.js';
import { sha256 } from '../../src/crypto.js';
import { NOW, makeIssuer, makeWallet } from '../reader/helpers.js';
import { sell, vendingReader } from './vending.js';
import { startPgCluster, type PgCluster } from './pg-cluster.js';

const SEED = 'zz-r3-hook';
const issuer = makeIssuer(SEED);
const CLOCK = () => NOW + 7200;

async function batches(base: number, n: number) {
  const out: { bytes: Uint8Array; t: Uint8Array }[] = [];
  for (let i = 0; i < n; i++) {
    const r = vendingReader(issuer, SEED, base + i);
    const t = await sell(r, makeWallet(issuer, SEED, `w${base + i}`), 1, 100);
    out.push({ bytes: r.export(CLOCK()).bytes, t });
  }
  return out;
}

async function throwingInGroup(c: Clearing, base: number) {
  const bs = await batches(base, 3);
  const boom = new Error('outbox refused');
  const rs = await Promise.allSettled(bs.map((b, i) => c.ingest(b.bytes, { beforeCommit: async () => { if (i === 1) throw boom; } })));
  expect(rs.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
  expect((rs[1] as PromiseRejectedResult).reason).toBe(boom);
  for (const i of [0, 2]) expect(((await c.paymentFacts(sha256(bs[i]!.t))) !== undefined)).toBe(true);
  expect(await c.paymentFacts(sha256(bs[1]!.t))).toBeUndefined();
  expect((await c.ingest(bs[1]!.bytes)).outcome).toBe('ingested');
  expect(c.store.writeFault).toBeUndefined();
}

describe('beforeCommit hook, SQLite', () => {
  it('held: a hook that throws inside a group commit refuses its batch alone', async () => {
    const c = new Clearing({ issuerKeys: issuer.keySet(), clock: CLOCK });
    await throwingInGroup(c, 10);
    await c.close();
  });
});

const started = await startPgCluster();
if (typeof started !== 'string') {
  const cluster: PgCluster = started;
  afterAll(() => cluster.stop());
  describe('beforeCommit hook, PostgreSQL', () => {
    it('held: a hook that throws refuses its batch alone; a hook that reads clearing works', async () => {
      const url = await cluster.createDatabase();
      const c = await Clearing.open({ issuerKeys: issuer.keySet(), clock: CLOCK, url });
      await throwingInGroup(c, 30);
      const [b] = await batches(40, 1);
      expect((await c.ingest(b!.bytes, { beforeCommit: async (x) => void (await c.holdsBatch(x.readerId, x.journalId, x.batchSeq, x.digest)) })).outcome).toBe('ingested');
      await c.close();
    }, 60_000);
  });
}
