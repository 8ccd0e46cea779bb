/**
 * From an attack review (2026-12-07) of a636bfc: the SQLite outbox's checks at open (spec/clearing-api.md §9.2 step 0, §2.10).
 * 1. An outbox file that is not SQLite (CLEARING.db.webhooks damaged, or a stray file at that path): the
 *    constructor throws a raw SqliteError (SQLITE_NOTADB), not `clearing.store_unusable`, so `clearing serve`
 *    crashes with a stack (framework.ts rethrows non-OffpayErrors) instead of exit 2 with the code, as it does for
 *    a clearing file of something else; and the database handle opened before the failing pragma is never closed
 *    (a file descriptor leaked per attempt). a636bfc closes the handle only on the layout refusal.
 *    Fix: wrap the constructor body in try { ... } catch { db.close(); throw outboxFailure(e) } (NOTADB is typed
 *    `damaged` -> store_unusable already).
 * 2. The layout check compares column NAMES only. An `intents` table with those names but not the layout (no
 *    PRIMARY KEY on id, e.g. created by hand or by a tool) passes, and then every batch's intent write fails
 *    (`ON CONFLICT(id)` matches no unique constraint: SQLITE_ERROR, untyped) inside the ingest: every batch is
 *    refused with a raw error (500) while the node looks healthy: the very failure §9.2 step 0 was meant to stop.
 *    Fix: compare the table's SQL (sqlite_master.sql, normalised) or PRAGMA table_info's type/notnull/pk too.
 */
import { mkdtempSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Clearing } from '../../src/clearing/index.js';
import { openSqliteDatabase } from '../../src/node/sqlite.js';
import { SqliteWebhookOutbox } from '../../src/server/outbox.js';
import { WebhookService } from '../../src/server/webhooks.js';
import { NOW, makeIssuer, makeWallet } from '../reader/helpers.js';
import { sell, vendingReader } from './vending.js';

const SEED = 'zz-r4-open';
const issuer = makeIssuer(SEED);
const CLOCK = () => NOW + 7200;
const dir = mkdtempSync(join(tmpdir(), 'zz-r4-open-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const openFds = (p: string) =>
  readdirSync('/proc/self/fd').filter((f) => {
    try {
      return readlinkSync(`/proc/self/fd/${f}`) === p;
    } catch {
      return false;
    }
  }).length;

describe('SQLite outbox open', () => {
  it('a file that is not SQLite: refused as clearing.store_unusable, and the handle closed', () => {
    const f = join(dir, 'garbage.db.webhooks');
    writeFileSync(f, 'not a database '.repeat(400));
    let err: unknown;
    try {
      new SqliteWebhookOutbox(f).close();
    } catch (e) {
      err = e;
    }
    expect(openFds(f), 'file descriptors left open on the refused outbox file').toBe(0);
    expect((err as { code?: string }).code).toBe('clearing.store_unusable');
  });

  it('an intents table with the right column names but no primary key: refused at open, not by every batch', async () => {
    const f = join(dir, 'nopk.db.webhooks');
    const d = openSqliteDatabase('clearing', f);
    d.exec('CREATE TABLE intents(id TEXT, reader_id INTEGER, journal_id BLOB, batch_seq INTEGER, hashes BLOB, created INTEGER)');
    d.close();
    let o: SqliteWebhookOutbox;
    try {
      o = new SqliteWebhookOutbox(f);
    } catch (e) {
      expect((e as { code?: string }).code).toBe('clearing.store_unusable');
      return;
    }
    const c = new Clearing({ issuerKeys: issuer.keySet(), clock: CLOCK });
    const hooks = new WebhookService({ url: 'http://127.0.0.1:59998/hooks', secret: '4e'.repeat(32), outbox: o, pollMs: 60_000, clock: CLOCK });
    const r = vendingReader(issuer, SEED, 7);
    await sell(r, makeWallet(issuer, SEED, 'a'), 1, 100);
    try {
      const res = await hooks.ingestBatch(c, r.export(CLOCK()).bytes).catch((e: Error) => ({ outcome: `threw ${(e as { code?: string }).code ?? ''} ${e.message}` }));
      expect(res.outcome).toBe('ingested');
    } finally {
      await hooks.stop();
      await o.close();
      await c.close();
    }
  });
});
