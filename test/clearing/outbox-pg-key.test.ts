/**
 * From an attack review (2026-12-07) of b269e11 (d): the PostgreSQL outbox's primary-key check at open.
 * Defect: a primary key on id that is DEFERRABLE passes the check, but PostgreSQL refuses a deferrable constraint
 * as an ON CONFLICT arbiter ("ON CONFLICT does not support deferrable unique constraints"), so every intent and
 * every event write fails with an untyped error (500 per batch): the case the check was added to stop.
 * Fix: add `AND NOT c.condeferrable` to the pg_constraint query (or accept any non-deferrable unique index on (id)).
 * Held (asserted too): a search_path whose first schema needs quotes, a wrong-layout table of the same name in
 * another schema of the path, and upper-case schema names.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { openPgWebhookOutbox } from '../../src/server/outbox-pg.js';
import { startPgCluster, withClient, type PgCluster } from './pg-cluster.js';

const started = await startPgCluster();
const ev = (id: string) => ({ id, type: 'charge.complete', created: 1, body: new TextEncoder().encode('{}') });
const intent = { id: 'ab'.repeat(32), readerId: 1, journalId: new Uint8Array(16), batchSeq: 1, hashes: new Uint8Array(32) };

if (typeof started === 'string') {
  describe('pg', () => it.skip(started, () => {}));
} else {
  const cluster: PgCluster = started;
  afterAll(() => cluster.stop());

  describe('PostgreSQL outbox key check', () => {
    it('a deferrable primary key on id: refused at open (every ON CONFLICT (id) write fails otherwise)', async () => {
      const url = await cluster.createDatabase();
      await withClient(url, (c) => c.query(`CREATE TABLE webhook_intents(id text PRIMARY KEY DEFERRABLE, reader_id bigint NOT NULL, journal_id bytea NOT NULL, batch_seq bigint NOT NULL, hashes bytea NOT NULL, created bigint NOT NULL)`));
      let o;
      try {
        o = await openPgWebhookOutbox({ url, node: 'A' });
      } catch (e) {
        expect((e as { code?: string }).code).toBe('clearing.store_unusable');
        return;
      }
      try {
        const r = await o.intend(intent, 0).then(() => 'ok', (e: Error & { code?: string }) => `${e.code}: ${e.message}`);
        expect(r, 'an intent write on the accepted table').toBe('ok');
      } finally {
        await o.close();
      }
    });

    it('held: search_path "Odd Schema", public with a keyless same-named table in public; upper case; quotes', async () => {
      const url = await cluster.createDatabase();
      const db = new URL(url).pathname.slice(1);
      await withClient(url, async (c) => {
        await c.query('CREATE SCHEMA "Odd ""Schema"".x"');
        await c.query(`CREATE TABLE public.webhook_intents(id text, reader_id bigint NOT NULL, journal_id bytea NOT NULL, batch_seq bigint NOT NULL, hashes bytea NOT NULL, created bigint NOT NULL)`);
        await c.query(`ALTER DATABASE "${db}" SET search_path = "Odd ""Schema"".x", public`);
      });
      const o = await openPgWebhookOutbox({ url, node: 'A' });
      try {
        await o.intend(intent, 0);
        expect(await o.add([ev('evt_' + 'c'.repeat(32))], 1, [intent.id])).toBe(1);
        expect(await o.add([ev('evt_' + 'c'.repeat(32))], 1)).toBe(0);
      } finally {
        await o.close();
      }
      const where = await withClient(url, async (c) => (await c.query("SELECT table_schema FROM information_schema.tables WHERE table_name = 'webhook_intents' ORDER BY 1")).rows.map((r) => r.table_schema));
      expect(where).toEqual(['Odd "Schema".x', 'public']);
      // Now the first schema holds a keyless table: refused.
      const url2 = await cluster.createDatabase();
      const db2 = new URL(url2).pathname.slice(1);
      await withClient(url2, async (c) => {
        await c.query('CREATE SCHEMA "UP"');
        await c.query('CREATE TABLE public.webhook_intents(id text PRIMARY KEY, reader_id bigint NOT NULL, journal_id bytea NOT NULL, batch_seq bigint NOT NULL, hashes bytea NOT NULL, created bigint NOT NULL)');
        await c.query('CREATE TABLE "UP".webhook_intents(id text, reader_id bigint NOT NULL, journal_id bytea NOT NULL, batch_seq bigint NOT NULL, hashes bytea NOT NULL, created bigint NOT NULL)');
        await c.query(`ALTER DATABASE "${db2}" SET search_path = "UP", public`);
      });
      const err = await openPgWebhookOutbox({ url: url2, node: 'A' }).then(async (o2) => { await o2.close(); return 'opened'; }, (e: { code?: string }) => e.code);
      expect(err).toBe('clearing.store_unusable');
    });
  });
}
