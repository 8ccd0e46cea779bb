import { readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli, gateWithOneSale, NOW, ok } from './cli-files-helpers.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';


/**
 * Attacker-with-files review of databases named on the command line.
 *  - Reader commands open --db and set `PRAGMA journal_mode = WAL` (src/reader/sqlite.ts constructor) BEFORE checking
 *    that it is a reader database: another program's SQLite file is rewritten (switched to WAL for good) and an
 *    empty file becomes a 4 KiB SQLite database, though both are then refused (reader.store_missing). The clearing
 *    commands leave such files untouched.
 */
const d = mkdtempSync(join(tmpdir(), 'offpay-files-dbs-'));
const p = (...x: string[]) => join(d, ...x);
afterAll(() => rmSync(d, { recursive: true, force: true }));

const T1 = '--now=2026-12-01T12:00:01Z';
const T2 = '--now=2026-12-01T12:00:02Z';

beforeAll(() => {
  gateWithOneSale(p, 'zzdbs', T1, T2);
  ok(['reader', 'export', '--reader', p('gate'), '--db', p('gate.db'), '--out', p('gate.batch')]);
  ok(['clearing', 'ingest', '--issuer', p('issuer'), '--db', p('clearing.db'), p('gate.batch')]);
});

/** A small SQLite database of another program (one table), made with the sqlite driver the project uses. */
async function foreignDb(path: string): Promise<void> {
  const { default: Database } = await import('better-sqlite3');
  const db = new Database(path);
  db.exec('CREATE TABLE foo(x); INSERT INTO foo VALUES (1);');
  db.close();
}

describe('databases that are not the reader database', () => {
  it('reader status on another program\'s SQLite file refuses it without changing a byte of it', async () => {
    await foreignDb(p('other.db'));
    const before = readFileSync(p('other.db'));
    const r = cli(['reader', 'status', '--reader', p('gate'), '--db', p('other.db'), NOW]);
    expect(r.status).toBe(2);
    expect(r.err).toContain('[reader.store_missing]');
    expect(readFileSync(p('other.db')).equals(before), 'the foreign database was rewritten (journal_mode WAL)').toBe(true);
  });

  it('reader accept on an empty file refuses it and leaves it empty', () => {
    writeFileSync(p('empty.db'), '');
    const r = cli(['reader', 'accept', '--reader', p('gate'), '--db', p('empty.db'), '--amount', '2.00', p('t.cbor'), T2]);
    expect(r.status).toBe(2);
    expect(readFileSync(p('empty.db')).length, 'the empty file became a SQLite database').toBe(0);
  });
});
