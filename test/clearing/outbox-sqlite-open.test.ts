/**
 * From an attack review (2026-12-07) of b269e11 (c): the SQLite outbox constructor's try/catch. Held: a fresh file opens and reopens; a file of
 * the previous commit's layout (same INTENTS_SQL) opens; ':memory:' opens; a file another connection holds in
 * WAL with a write transaction open still opens; a file locked EXCLUSIVE by another connection (rollback
 * journal) is refused as clearing.store_unavailable (SQLITE_BUSY after the busy timeout) with the handle closed.
 * Also probed: a path that is a directory.
 */
import { mkdirSync, mkdtempSync, readdirSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openSqliteDatabase } from '../../src/node/sqlite.js';
import { SqliteWebhookOutbox } from '../../src/server/outbox.js';

const dir = mkdtempSync(join(tmpdir(), 'zz-r5-open-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const openFds = (p: string) =>
  readdirSync('/proc/self/fd').filter((f) => {
    try {
      return readlinkSync(`/proc/self/fd/${f}`).startsWith(p);
    } catch {
      return false;
    }
  }).length;
const code = (f: () => void) => {
  try {
    f();
    return 'opened';
  } catch (e) {
    return String((e as { code?: string }).code);
  }
};

describe('SQLite outbox open', () => {
  it('fresh file, reopen, previous layout, :memory:', async () => {
    const f = join(dir, 'fresh.db.webhooks');
    await new SqliteWebhookOutbox(f).close();
    await new SqliteWebhookOutbox(f).close();
    const g = join(dir, 'prev.db.webhooks');
    const d = openSqliteDatabase('clearing', g);
    d.exec(`CREATE TABLE IF NOT EXISTS intents(id TEXT PRIMARY KEY, reader_id INTEGER NOT NULL, journal_id BLOB NOT NULL, batch_seq INTEGER NOT NULL,
      hashes BLOB NOT NULL, created INTEGER NOT NULL) STRICT`);
    d.close();
    await new SqliteWebhookOutbox(g).close();
    await new SqliteWebhookOutbox(':memory:').close();
    expect(openFds(f) + openFds(g)).toBe(0);
  });

  it('another connection with a write transaction open (WAL): opens', async () => {
    const f = join(dir, 'held.db.webhooks');
    await new SqliteWebhookOutbox(f).close();
    const other = openSqliteDatabase('clearing', f);
    other.exec('BEGIN IMMEDIATE');
    other.exec("INSERT INTO intents VALUES ('x', 1, x'00', 1, x'00', 1)");
    try {
      const o = new SqliteWebhookOutbox(f);
      await o.close();
    } finally {
      other.exec('ROLLBACK');
      other.close();
    }
  });

  it('a fresh file locked EXCLUSIVE by another connection: store_unavailable, handle closed', () => {
    const f = join(dir, 'locked.db.webhooks');
    const other = openSqliteDatabase('clearing', f);
    other.exec('CREATE TABLE t(x)');
    other.exec('BEGIN EXCLUSIVE');
    other.exec('INSERT INTO t VALUES (1)');
    try {
      expect(code(() => new SqliteWebhookOutbox(f).close())).toBe('clearing.store_unavailable');
    } finally {
      other.exec('ROLLBACK');
      other.close();
    }
    // (SQLite keeps a closed connection's descriptor while another connection of the process holds a POSIX lock
    // on the file: counted only once that one is closed.)
    expect(openFds(f)).toBe(0);
  }, 20_000);

  it('a path that is a directory is refused with a typed error (clearing serve exits 2), not a raw SqliteError', () => {
    const p = join(dir, 'adir');
    mkdirSync(p);
    expect(code(() => new SqliteWebhookOutbox(p).close())).toMatch(/^clearing\.store_un(usable|available)$/);
  });
});
