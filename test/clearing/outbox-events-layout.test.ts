/**
 * From an attack review (2026-12-07) of b269e11 (c): the SQLite outbox checks only the intents table's layout at open. The events table is
 * created with CREATE TABLE IF NOT EXISTS and never compared, so an `events` table of the right names without its
 * PRIMARY KEY (the very case b269e11 refuses for intents, and PostgreSQL refuses for webhook_events) is accepted:
 * every `INSERT OR IGNORE` then inserts again, and an event re-derived (a resend, a sweep racing the writer, the
 * catch-up) is queued and delivered twice. And another program's SQLite file with an `events` table of its own
 * (a common name) is refused with a raw SqliteError ("no such column"), not clearing.store_unusable (exit 2).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openSqliteDatabase } from '../../src/node/sqlite.js';
import { SqliteWebhookOutbox } from '../../src/server/outbox.js';

const dir = mkdtempSync(join(tmpdir(), 'zz-r5-ev-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const ev = (id: string) => ({ id, type: 'charge.complete', created: 1, body: new TextEncoder().encode('{}') });

describe('SQLite outbox: the events table at open', () => {
  it('an events table of the right names without its key: refused at open, or at least no event queued twice', async () => {
    const f = join(dir, 'nokey.db.webhooks');
    const d = openSqliteDatabase('clearing', f);
    d.exec('CREATE TABLE events(id TEXT, type TEXT NOT NULL, body BLOB NOT NULL, created INTEGER NOT NULL, state TEXT NOT NULL, attempts INTEGER NOT NULL, next_at INTEGER NOT NULL, last_error TEXT) STRICT');
    d.close();
    let o: SqliteWebhookOutbox;
    try {
      o = new SqliteWebhookOutbox(f);
    } catch (e) {
      expect((e as { code?: string }).code).toBe('clearing.store_unusable');
      return;
    }
    try {
      await o.add([ev('evt_' + 'a'.repeat(32))], 1000);
      await o.add([ev('evt_' + 'a'.repeat(32))], 1000); // the same fact derived again (W1: "nothing twice")
      expect((await o.counts()).pending, 'one event id queued twice: delivered twice').toBe(1);
    } finally {
      await o.close();
    }
  });

  it("another program's SQLite file with an events table of its own: clearing.store_unusable, not a raw SqliteError", () => {
    const f = join(dir, 'other.db');
    const d = openSqliteDatabase('clearing', f);
    d.exec('CREATE TABLE events(id INTEGER PRIMARY KEY, name TEXT, at TEXT)');
    d.close();
    let err: unknown;
    try {
      new SqliteWebhookOutbox(f).close();
    } catch (e) {
      err = e;
    }
    expect(err, 'opened').toBeDefined();
    expect((err as { code?: string }).code, String((err as Error).message)).toBe('clearing.store_unusable');
  });
});
