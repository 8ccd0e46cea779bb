/**
 * The SQLite webhook outbox refuses at open a file that is not its own (spec/clearing-api.md §9.2 step 0), from three
 * attack reviews (2026-12-07), each case failing on the commit it names:
 *  - not an SQLite file (a636bfc: a raw SQLITE_NOTADB crashed `clearing serve` with a stack, and the handle leaked);
 *  - the intents table of 507d1a3 (ac68d51: it opened, then every batch failed with "no column named reader_id");
 *  - an intents table of the right names without its key (a636bfc: every intent write failed, untyped: 500);
 *  - an events table of the right names without its key (b269e11: one event id was queued twice, so delivered
 *    twice);
 *  - another program's SQLite file with an events table of its own (b269e11: a raw SqliteError).
 * Each is `clearing.store_unusable` (exit 2 from `clearing serve`), and the file is closed.
 */
import { mkdtempSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openSqliteDatabase } from '../../src/node/sqlite.js';
import { SqliteWebhookOutbox } from '../../src/server/outbox.js';

const dir = mkdtempSync(join(tmpdir(), 'offpay-outbox-layout-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** File descriptors of this process open on `p`. */
const openFds = (p: string) =>
  readdirSync('/proc/self/fd').filter((f) => {
    try {
      return readlinkSync(`/proc/self/fd/${f}`) === p;
    } catch {
      return false;
    }
  }).length;

/** The code the outbox's open fails with on `file` ('opened' when it opens). */
function openCode(file: string): string {
  try {
    new SqliteWebhookOutbox(file).close();
    return 'opened';
  } catch (e) {
    return String((e as { code?: unknown }).code);
  }
}

const foreign: [string, string][] = [
  ['the intents table of 507d1a3', 'CREATE TABLE intents(id TEXT PRIMARY KEY, hashes BLOB NOT NULL, created INTEGER NOT NULL) STRICT'],
  ['intents of the right names without its key', 'CREATE TABLE intents(id TEXT, reader_id INTEGER, journal_id BLOB, batch_seq INTEGER, hashes BLOB, created INTEGER)'],
  ['events of the right names without its key', 'CREATE TABLE events(id TEXT, type TEXT NOT NULL, body BLOB NOT NULL, created INTEGER NOT NULL, state TEXT NOT NULL, attempts INTEGER NOT NULL, next_at INTEGER NOT NULL, last_error TEXT) STRICT'],
  ["another program's events table", 'CREATE TABLE events(id INTEGER PRIMARY KEY, name TEXT, at TEXT)'],
];

describe('SQLite webhook outbox: a file not its own is refused at open', () => {
  it.each(foreign)('%s: clearing.store_unusable, the file closed', (name, ddl) => {
    const f = join(dir, `${name.replace(/\W+/g, '-')}.db.webhooks`);
    const d = openSqliteDatabase('clearing', f);
    d.exec(ddl);
    d.close();
    expect(openCode(f)).toBe('clearing.store_unusable');
    expect(openFds(f)).toBe(0);
  });

  it('a file that is not SQLite: clearing.store_unusable, the file closed', () => {
    const f = join(dir, 'garbage.db.webhooks');
    writeFileSync(f, 'not a database '.repeat(400));
    expect(openCode(f)).toBe('clearing.store_unusable');
    expect(openFds(f)).toBe(0);
  });

  it('its own file opens again, and a new one is made', () => {
    const f = join(dir, 'own.db.webhooks');
    expect(openCode(f)).toBe('opened');
    expect(openCode(f)).toBe('opened');
  });
});
