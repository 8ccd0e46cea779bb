/**
 * The shared clearing store suite (store-suite.ts) on SQLite: each clearing on a new temporary file (not
 * ':memory:', so WAL, synchronous = FULL and the file's locking are the ones users get).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Clearing } from '../../src/clearing/index.js';
import { loadSqliteDriver, type SqliteDatabase } from '../../src/node/sqlite.js';
import type { SqliteClearingStore } from '../../src/clearing/store-sqlite.js';
import { NOW, handBatch, makeIssuer, makeReader, makeWallet, signToken } from '../reader/helpers.js';
import { buildFastPopulation } from '../../bench/clearing-load.js';
import { bulkPairRows, expectBulkUpgrade, expectOneFindingPerKey, oneWayUpgrade, PAIR_ROWS, storeSuite } from './store-suite.js';

const dir = mkdtempSync(join(tmpdir(), 'offpay-store-sqlite-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

storeSuite({
  name: 'SQLite',
  fresh: (o) => Clearing.open({ ...o, path: join(dir, `c${++n}.db`) }),
  wipeFirsts: async (c) => void (c.store as SqliteClearingStore).db.exec('DELETE FROM counter_firsts'),
  firstsRows: async (c) => (c.store as SqliteClearingStore).db.prepare('SELECT class, count(*) AS n FROM counter_firsts GROUP BY class ORDER BY class').all() as { class: number; n: number }[],
});

/**
 * A database as an older offpay left it: created by this one (with a new issuer of `label`), then `change`d
 * through a raw connection (tables dropped, old rows put back). Returns its path.
 */
async function oldDatabase(name: string, label: string, change: (raw: SqliteDatabase) => void): Promise<string> {
  const path = join(dir, name);
  await (await Clearing.open({ path, issuerKeys: makeIssuer(label).keySet() })).close();
  const raw = new (loadSqliteDriver('clearing'))(path);
  try {
    change(raw);
  } finally {
    raw.close();
  }
  return path;
}

describe('refunds table of a pre-release 0.2.0 (no seq)', () => {
  it('is given seq at open, numbered by (acceptance time, token hash); later refunds come after', async () => {
    const path = await oldDatabase('old-refunds.db', 'store-sqlite-upgrade', (raw) => {
      raw.exec(`DROP TABLE refunds; DROP INDEX IF EXISTS refunds_seq;
        CREATE TABLE refunds(token_hash BLOB PRIMARY KEY, bytes BLOB NOT NULL, operator_id INTEGER NOT NULL, reader_id INTEGER NOT NULL,
        wallet_id BLOB NOT NULL, amount INTEGER NOT NULL, currency INTEGER NOT NULL, charge INTEGER NOT NULL, time INTEGER NOT NULL, accepted_at INTEGER NOT NULL) WITHOUT ROWID`);
      const ins = raw.prepare('INSERT INTO refunds VALUES (?, ?, 90, 11, ?, 5, 344, 10, 1, ?)');
      // Token hashes 3, 1, 2 accepted at 20, 10, 10: the order is (10, hash 1), (10, hash 2), (20, hash 3).
      for (const [h, at] of [[3, 20], [1, 10], [2, 10]] as const) ins.run(new Uint8Array(32).fill(h), new Uint8Array([h]), new Uint8Array(16), at);
    });
    const c = await Clearing.open({ path });
    try {
      const put = { tokenHash: new Uint8Array(32).fill(9), bytes: new Uint8Array([9]), operatorId: 90, readerId: 11, walletId: new Uint8Array(16), amount: 5, currency: 344, charge: 10, time: 1, acceptedAt: 5 };
      expect(await c.store.putRefund(put)).toBe(true);
      const p = await c.refundPage(0, 10);
      expect(p.refunds.map((r) => r.tokenHash.slice(0, 2))).toEqual(['01', '02', '03', '09']);
      expect(p.lastSeq).toBe(4);
    } finally {
      await c.close();
    }
  });
});

describe('findings of a database from before one finding per key (a row per pair)', () => {
  it('keep, of each key, the row detected first; the unique keys hold from then on', async () => {
    const path = await oldDatabase('old-pairs.db', 'store-sqlite-pairs', (raw) => {
      raw.exec('DROP INDEX double_spends_key; DROP INDEX reader_faults_key');
      const fill = (n: number, len: number) => new Uint8Array(len).fill(n);
      const ds = raw.prepare('INSERT INTO double_spends VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)');
      for (const [k, w, n, ah, ac, as, bh, bc, bs, at] of PAIR_ROWS.doubleSpends) ds.run(k, fill(w, 16), n, fill(ah, 32), ac, as, fill(bh, 32), bc, bs, at);
      const rf = raw.prepare('INSERT INTO reader_faults VALUES (?, ?, ?, ?, ?, ?, ?, ?)');
      for (const [k, r, h, ac, as, bc, bs, at] of PAIR_ROWS.readerFaults) rf.run(k, r, fill(h, 32), ac, as, bc, bs, at);
    });
    const c = await Clearing.open({ path });
    try {
      await expectOneFindingPerKey(c);
    } finally {
      await c.close();
    }
  });
});

describe('findings of a database from before one finding per key, many rows', () => {
  it('11,000 old rows (6,000 keys of two, one key of 5,000) become 6,001 in one pass', async () => {
    const path = await oldDatabase('old-pairs-bulk.db', 'store-sqlite-bulk', (raw) => {
      raw.exec('DROP INDEX double_spends_key; DROP INDEX reader_faults_key');
      const rows = bulkPairRows();
      const ds = raw.prepare('INSERT INTO double_spends VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)');
      const rf = raw.prepare('INSERT INTO reader_faults VALUES (?, ?, ?, ?, ?, ?, ?, ?)');
      raw.transaction(() => {
        for (const r of rows.doubleSpends) ds.run(...r);
        for (const r of rows.readerFaults) rf.run(...r);
      })();
    });
    const c = await Clearing.open({ path });
    try {
      await expectBulkUpgrade(c);
    } finally {
      await c.close();
    }
  });
});

describe('schemas 4 (before counter_firsts), 5 (before the request columns) and 6 (before the one-way rule) are upgraded to 7 when opened; an unknown version is refused', () => {
  it('sets user_version 7 and creates counter_firsts; a version 8 file is clearing.store_unusable', async () => {
    const path = await oldDatabase('schema4.db', 'store-sqlite-schema', (raw) => {
      raw.exec('DROP TABLE counter_firsts; DROP INDEX double_spends_key; DROP INDEX reader_faults_key');
      raw.exec('DROP INDEX entries_request; ALTER TABLE entries DROP COLUMN req_time; ALTER TABLE entries DROP COLUMN req_challenge');
      raw.pragma('user_version = 4');
    });
    await (await Clearing.open({ path })).close();
    const raw = new (loadSqliteDriver('clearing'))(path);
    expect(raw.pragma('user_version', { simple: true })).toBe(7);
    expect(raw.prepare("SELECT name FROM sqlite_master WHERE name IN ('counter_firsts', 'counter_firsts_order', 'double_spends_key', 'reader_faults_key', 'entries_request') ORDER BY name").all()).toHaveLength(5);
    raw.pragma('user_version = 8');
    raw.close();
    await expect(Clearing.open({ path })).rejects.toMatchObject({ code: 'clearing.store_unusable' });
  });

  it('schema 5: the request columns and their index are added, the entries held keep NULL (not compared), and a request paid twice after the upgrade is found', async () => {
    const issuer = makeIssuer('store-sqlite-req');
    const m = makeReader(issuer, 'store-sqlite-req', 41, 'vending', 90);
    const w = makeWallet(issuer, 'store-sqlite-req', 'w');
    const req = { challenge: new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]), time: NOW - 10 };
    const t = (counter: number) => signToken(w, { payee: 41, amount: 100, counter, time: req.time, challenge: req.challenge });
    const batch = (id: number, counters: number[]) =>
      handBatch(m, new Uint8Array(8).fill(id), counters.map((k, i) => ({ kind: 'accept' as const, time: NOW + i, data: t(k), value: 100, request: req })));
    const path = join(dir, 'schema5.db');
    {
      const c = await Clearing.open({ path, issuerKeys: issuer.keySet() });
      expect((await c.ingest(batch(1, [1, 2]))).outcome).toBe('ingested');
      await c.close();
    }
    const old = new (loadSqliteDriver('clearing'))(path);
    old.exec('DROP INDEX entries_request; ALTER TABLE entries DROP COLUMN req_time; ALTER TABLE entries DROP COLUMN req_challenge');
    old.pragma('user_version = 5');
    old.close();
    const c = await Clearing.open({ path });
    try {
      // The two sales held from before: not compared (their columns are NULL), both settle.
      expect((await c.report()).settlement.map((l) => l.count)).toEqual([2]);
      expect((await c.ingest(batch(2, [3, 4]))).outcome).toBe('ingested');
      const rep = await c.report();
      expect(rep.requestsPaidTwice).toHaveLength(1);
      expect(rep.settlement.map((l) => l.count)).toEqual([3]);
    } finally {
      await c.close();
    }
    const raw = new (loadSqliteDriver('clearing'))(path);
    expect(raw.pragma('user_version', { simple: true })).toBe(7);
    raw.close();
  });

  it('schema 6: counter_firsts held tap-ins as sales and tap-outs as one marker row; they are deleted and recorded again, so the one-way rule holds for the entries held', async () => {
    const u = oneWayUpgrade('store-sqlite-oneway', "x''");
    const path = join(dir, 'schema6.db');
    {
      const cl = await Clearing.open({ path, issuerKeys: u.issuer.keySet() });
      for (const bytes of u.before) expect(await cl.ingest(bytes)).toMatchObject({ outcome: 'ingested', doubleSpends: 0 });
      await cl.close();
    }
    const old = new (loadSqliteDriver('clearing'))(path);
    old.exec(u.oldRows);
    old.pragma('user_version = 6');
    old.close();
    const cl = await Clearing.open({ path });
    try {
      expect(await cl.ingest(u.after)).toMatchObject({ outcome: 'ingested', doubleSpends: 1 });
      expect((await cl.doubleSpends()).map((d) => `${d.kind}|${d.first.readerId}|${d.second.readerId}`)).toEqual(['same_token_twice|61|62']);
    } finally {
      await cl.close();
    }
    const raw = new (loadSqliteDriver('clearing'))(path);
    expect(raw.pragma('user_version', { simple: true })).toBe(7);
    expect(raw.prepare('SELECT class, count(*) AS n FROM counter_firsts GROUP BY class ORDER BY class').all()).toEqual([{ class: 2, n: 2 }, { class: 3, n: 2 }]);
    // Keyed with the class third (a token's rows of one class are one range: spec/clearing.md §11.1).
    expect((raw.prepare("SELECT name FROM pragma_index_info((SELECT name FROM pragma_index_list('counter_firsts') WHERE origin = 'pk'))").all() as { name: string }[]).map((r) => r.name)).toEqual(['wallet_id', 'counter', 'class', 'token_hash', 'reader_id']);
    raw.close();
  });

  it('a clearing left open while another process upgrades the file says so (settingsCurrent: clearing.schema_changed)', async () => {
    const path = await oldDatabase('schema-under.db', 'store-sqlite-under', () => {});
    const c = await Clearing.open({ path });
    try {
      expect(await c.settingsCurrent()).toBe(true);
      const raw = new (loadSqliteDriver('clearing'))(path);
      raw.pragma('user_version = 8');
      raw.close();
      await expect(c.settingsCurrent()).rejects.toMatchObject({ code: 'clearing.schema_changed' });
    } finally {
      await c.close();
    }
  });
});

describe('a full disk (SQLite max_page_count)', () => {
  it('the ingest that meets SQLITE_FULL is clearing.store_unavailable (503 over HTTP), not held; with room again the same batch is ingested and clearing equals one that never filled up', async () => {
    const pop = buildFastPopulation({
      seed: 65, t0: 1_800_000_000, readers: 3, batchesPerReader: 6, salesPerBatch: 20,
      honestWallets: 8, cloneGroups: 1, cloneCopies: 2, overAllowanceWallets: 0, cloneShare: 0.1, overAllowanceShare: 0, overlapShare: 0,
    });
    const batches = pop.readers.flatMap((r) => r.batches);
    const c = await Clearing.open({ path: join(dir, 'full.db'), issuerKeys: pop.issuer.keySet() });
    const want = await Clearing.open({ path: join(dir, 'room.db'), issuerKeys: pop.issuer.keySet() });
    try {
      const db = (c.store as SqliteClearingStore).db;
      db.pragma('wal_checkpoint(TRUNCATE)');
      db.pragma(`max_page_count = ${Number(db.pragma('page_count', { simple: true })) + 12}`);
      let failed: Uint8Array | undefined;
      let held = 0;
      for (const b of batches) {
        expect((await want.ingest(b)).outcome).toBe('ingested');
        if (failed) continue;
        const r = await c.ingest(b).then((x) => x, (e: unknown) => e as Error);
        if (r instanceof Error) {
          expect(r).toMatchObject({ code: 'clearing.store_unavailable', detail: { sqlite: 'SQLITE_FULL' } });
          failed = b;
        } else {
          expect(r.outcome).toBe('ingested');
          held++;
        }
      }
      expect(failed, 'the database never filled').toBeDefined();
      expect(held).toBeGreaterThan(0);
      expect(await c.store.problems()).toEqual([]);
      db.pragma('max_page_count = 1073741823');
      for (const b of batches.slice(held)) expect((await c.ingest(b)).outcome).toBe('ingested');
      const [a, b] = [await c.report(), await want.report()];
      for (const f of ['settlement', 'totals', 'overAllowance', 'exposure', 'invalidTokens'] as const) expect(a[f]).toEqual(b[f]);
      expect((await c.doubleSpends()).length).toBe((await want.doubleSpends()).length);
    } finally {
      await c.close();
      await want.close();
    }
  });
});
