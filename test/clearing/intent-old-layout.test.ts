/**
 * From an attack review (2026-12-07) of ac68d51 (the intents' and payment lookups' first fixes); the test failed on it. The SQLite outbox creates `intents` with CREATE TABLE IF NOT EXISTS and never checks the
 * layout of one that exists (the PostgreSQL outbox refuses a webhook_intents of another layout at open:
 * intent-held.test.ts). An outbox file written by 507d1a3 (intents(id, hashes, created)) opens without a word;
 * then every batch's intent write fails (no column reader_id), inside clearing's ingest session, so EVERY batch
 * is refused (a raw SqliteError: 500 api.internal) while the node starts and looks healthy.
 * Expected: refused (or migrated) when the outbox opens, as on PostgreSQL.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Clearing } from '../../src/clearing/index.js';
import { openSqliteDatabase } from '../../src/node/sqlite.js';
import { SqliteWebhookOutbox } from '../../src/server/outbox.js';
import { WebhookService } from '../../src/server/webhooks.js';
import { NOW, makeIssuer, makeWallet } from '../reader/helpers.js';
import { sell, vendingReader } from './vending.js';

const SEED = 'zz-r3-old';
const issuer = makeIssuer(SEED);
const CLOCK = () => NOW + 7200;
const dir = mkdtempSync(join(tmpdir(), 'zz-r3-old-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('SQLite outbox with the intents table of 507d1a3', () => {
  it('is refused at open or taken, never left to fail every batch', async () => {
    const file = join(dir, 'c.db.webhooks');
    const old = openSqliteDatabase('clearing', file);
    old.exec('CREATE TABLE intents(id TEXT PRIMARY KEY, hashes BLOB NOT NULL, created INTEGER NOT NULL) STRICT');
    old.close();
    let o: SqliteWebhookOutbox;
    try {
      o = new SqliteWebhookOutbox(file);
    } catch (e) {
      expect((e as { code?: string }).code).toMatch(/^clearing\./); // refused at open: fine
      return;
    }
    const c = new Clearing({ issuerKeys: issuer.keySet(), clock: CLOCK });
    const hooks = new WebhookService({ url: 'http://127.0.0.1:59998/hooks', secret: '4e'.repeat(32), outbox: o, pollMs: 60_000, clock: CLOCK });
    const r = vendingReader(issuer, SEED, 7);
    await sell(r, makeWallet(issuer, SEED, 'a'), 1, 100);
    try {
      const res = await hooks.ingestBatch(c, r.export(CLOCK()).bytes).catch((e: Error) => ({ outcome: `threw ${e.message}` }));
      expect(res.outcome).toBe('ingested');
    } finally {
      await hooks.stop();
      await o.close();
      await c.close();
    }
  });
});
