/**
 * The shared clearing store suite (store-suite.ts) on PostgreSQL: a throwaway cluster (pg-cluster.ts), a new
 * database for each clearing, and the two-node race on one database. Without PostgreSQL installed the suite
 * is skipped with the reason, except under CI=true, where it fails.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AddressInfo } from 'node:net';
import { Clearing } from '../../src/clearing/index.js';
import { createClearingServer } from '../../src/server/api.js';
import { readBatchFrame } from '../../src/clearing/batch-bytes.js';
import { openPgClearingStore, PAYMENTS_INDEX_LOCK, redactPgUrl, type PgClearingStore } from '../../src/clearing/store-pg.js';
import { readBatchView, type BatchPlace, type ClearingStore, type IngestTx } from '../../src/clearing/store.js';
import { buildFastPopulation } from '../../bench/clearing-load.js';
import { startPgCluster, withClient, type PgCluster } from './pg-cluster.js';
import { NOW, handBatch, makeIssuer, makeReader, makeWallet, signToken } from '../reader/helpers.js';
import { createRequire } from 'node:module';
import { bulkPairRows, expectBulkUpgrade, expectOneFindingPerKey, oneWayUpgrade, PAIR_ROWS, storeSuite } from './store-suite.js';
import { certMemoSuite } from './cert-memo-suite.js';

const started = await startPgCluster();
if (typeof started === 'string') {
  describe('clearing store: PostgreSQL', () => {
    it.skip(`skipped: ${started}`, () => {});
  });
  process.stderr.write(`store-pg.test.ts: skipped, ${started}\n`);
} else {
  const cluster: PgCluster = started;
  beforeAll(() => {});
  afterAll(() => cluster.stop());
  /** The database of each clearing the suite opened (wipeFirsts, firstsRows). */
  const urls = new WeakMap<Clearing, string>();
  /** One statement on a clearing's database; its rows. */
  const sql = (c: Clearing, text: string): Promise<unknown[]> => withClient(urls.get(c)!, async (client) => (await client.query(text)).rows);
  storeSuite({
    name: 'PostgreSQL',
    fresh: async (o) => {
      const url = await cluster.createDatabase();
      const c = await Clearing.open({ ...o, url });
      urls.set(c, url);
      return c;
    },
    wipeFirsts: async (c) => void (await sql(c, 'DELETE FROM counter_firsts')),
    firstsRows: async (c) => (await sql(c, 'SELECT class, count(*)::int AS n FROM counter_firsts GROUP BY class ORDER BY class')) as { class: number; n: number }[],
    shared: async () => {
      const url = await cluster.createDatabase();
      return (o) => Clearing.open({ ...o, url });
    },
    retries: (c) => (c.store as PgClearingStore).retries,
    runs: { model: 30, adversary: 15 },
  });

  describe('the batch view in one statement', () => {
    it('equals the single reads it stands for, for held, partly held, new and unknown places', async () => {
      // Three readers, four batches each; reader 0 delivers batches 1 and 3 (a gap), reader 1 all, reader 2 none.
      const pop = buildFastPopulation({
        seed: 61, t0: 1_800_000_000, readers: 3, batchesPerReader: 4, salesPerBatch: 5,
        honestWallets: 6, cloneGroups: 1, cloneCopies: 2, overAllowanceWallets: 1, cloneShare: 0.1, overAllowanceShare: 0.1, overlapShare: 0,
      });
      const c = await Clearing.open({ url: await cluster.createDatabase(), issuerKeys: pop.issuer.keySet() });
      try {
        const [r0, r1, r2] = pop.readers;
        for (const b of [r0!.batches[0]!, r0!.batches[2]!, ...r1!.batches]) expect((await c.ingest(b)).outcome).toBe('ingested');
        const places: BatchPlace[] = [];
        for (const r of [r0!, r1!, r2!]) {
          for (const b of r.batches) {
            const f = readBatchFrame(b, { maxBytes: 1 << 30, maxEntries: 1 << 24 });
            const place = { readerId: f.readerCert.readerId, journalId: f.journalId, batchSeq: f.batchSeq, firstSeq: f.firstSeq, lastSeq: f.firstSeq + f.count - 1 };
            // The batch's own range, one straddling it and the next, and one past everything held.
            places.push(place, { ...place, lastSeq: place.lastSeq + 3 }, { ...place, firstSeq: place.lastSeq + 50, lastSeq: place.lastSeq + 60 });
          }
        }
        // A journal the clearing never saw, of a reader it knows.
        places.push({ ...places[0]!, journalId: new Uint8Array(16).fill(7) });
        let seen = { chain: 0, digest: 0, before: 0, after: 0, reader: 0, held: 0 };
        await c.store.session((s) =>
          s.atomic(async (tx) => {
            expect(tx.batchView).toBeTypeOf('function');
            const { batchView: _one, ...single } = tx;
            for (const place of places) {
              const one = await tx.batchView!(place);
              expect(one).toEqual(await readBatchView(single as IngestTx, place));
              seen = {
                chain: seen.chain + (one.chain !== undefined ? 1 : 0), digest: seen.digest + (one.digest ? 1 : 0), before: seen.before + (one.before ? 1 : 0),
                after: seen.after + (one.after ? 1 : 0), reader: seen.reader + (one.reader ? 1 : 0), held: seen.held + one.held.size,
              };
            }
          }),
        );
        // Every part of the view was found somewhere (so the comparison compared something).
        for (const [part, n] of Object.entries(seen)) expect(n, part).toBeGreaterThan(0);
      } finally {
        await c.close();
      }
    });
  });

  describe('the batch in one statement each way (batchView, putBatchWrites)', () => {
    it('holds what the single reads and writes hold: results, entries, batch bytes, batch records, report', async () => {
      const pop = buildFastPopulation({
        seed: 62, t0: 1_800_000_000, readers: 4, batchesPerReader: 3, salesPerBatch: 8,
        honestWallets: 5, cloneGroups: 2, cloneCopies: 2, overAllowanceWallets: 1, cloneShare: 0.2, overAllowanceShare: 0.1, overlapShare: 0.3,
      });
      // Every batch, then again in reverse (duplicates, and overlaps arriving after what they overlap).
      const all = pop.readers.flatMap((r) => r.batches);
      const order = [...all, ...[...all].reverse()];
      const urlA = await cluster.createDatabase();
      const urlB = await cluster.createDatabase();
      // One clock for both: a double spend's detectedAt is the clearing's clock, and the report orders by it.
      const clock = () => 1_800_000_000 + 60;
      const a = await Clearing.open({ url: urlA, issuerKeys: pop.issuer.keySet(), clock });
      // The same engine without the two one-statement forms: clearing falls back to the single statements.
      const inner = await openPgClearingStore({ url: urlB });
      const single = new Proxy(inner, {
        get(t, k) {
          if (k === 'session') {
            return (fn: Parameters<ClearingStore['session']>[0]) =>
              t.session((s) => fn({ ...s, atomic: (f) => s.atomic((tx) => {
                const { batchView: _v, putBatchWrites: _w, ...rest } = tx;
                return f(rest as IngestTx);
              }) }));
          }
          const v = Reflect.get(t, k, t) as unknown;
          return typeof v === 'function' ? (v as (...x: unknown[]) => unknown).bind(t) : v;
        },
      }) as ClearingStore;
      const b = await Clearing.open({ store: single, issuerKeys: pop.issuer.keySet(), clock });
      try {
        const ra = [];
        const rb = [];
        for (const bytes of order) {
          ra.push(await a.ingest(bytes));
          rb.push(await b.ingest(bytes));
        }
        expect(ra).toEqual(rb);
        expect(ra.filter((r) => r.outcome === 'ingested').length).toBeGreaterThan(0);
        expect(ra.filter((r) => r.outcome === 'duplicate').length).toBeGreaterThan(0);
        expect(ra.some((r) => r.alreadyHeld > 0)).toBe(true); // overlaps were met
        const { default: pg } = await import('pg');
        const dump = async (url: string) => {
          const c = new pg.Client({ connectionString: url });
          await c.connect();
          try {
            const q = async (sql: string) => (await c.query(sql)).rows;
            return {
              entries: await q('SELECT * FROM entries ORDER BY chain, seq'),
              bytes: await q('SELECT id, chain, batch_seq, bytes FROM batch_bytes ORDER BY id'),
              batches: await q('SELECT * FROM batches ORDER BY chain, batch_seq'),
            };
          } finally {
            await c.end();
          }
        };
        const [da, db] = [await dump(urlA), await dump(urlB)];
        expect(da.entries.length).toBeGreaterThan(0);
        expect(da.entries.some((e) => e.source !== null)).toBe(true);
        expect(da).toEqual(db);
        expect(await a.report()).toEqual(await b.report());
      } finally {
        await Promise.all([a.close(), b.close()]);
      }
    });
  });

  certMemoSuite('PostgreSQL', async () => {
    const url = await cluster.createDatabase();
    return (o) => Clearing.open({ ...o, url });
  });

  describe('the verified-certificate memo table', () => {
    it('answers which digests are held, in order, across nodes; a repeated digest is held once', async () => {
      const url = await cluster.createDatabase();
      const issuer = makeIssuer('store-pg-certs');
      const a = await Clearing.open({ url, issuerKeys: issuer.keySet() });
      const b = await Clearing.open({ url });
      try {
        const d = [1, 2, 3, 4].map((i) => new Uint8Array(32).fill(i));
        const known = (c: Clearing, ds: Uint8Array[]) => c.store.session((s) => s.knownCerts!(ds));
        expect(await known(a, d)).toEqual([false, false, false, false]);
        await a.store.session((s) => s.rememberCerts!([d[2]!, d[0]!, d[2]!]));
        expect(await known(b, d)).toEqual([true, false, true, false]);
        await b.store.session((s) => s.rememberCerts!([d[0]!, d[3]!]));
        expect(await known(a, [d[3]!, d[1]!, d[0]!])).toEqual([true, false, true]);
        expect(await known(a, [])).toEqual([]);
        await expect(a.store.session((s) => s.knownCerts!([new Uint8Array(31)]))).rejects.toThrow(/32 bytes/);
      } finally {
        await Promise.all([a.close(), b.close()]);
      }
    });
  });

  describe('findings of a database from before one finding per key (a row per pair)', () => {
    it('keep, of each key, the row detected first; the unique keys hold from then on', async () => {
      const url = await cluster.createDatabase();
      await (await Clearing.open({ url, issuerKeys: makeIssuer('store-pg-pairs').keySet() })).close();
      await withClient(url, async (c) => {
        await c.query('DROP INDEX double_spends_key; DROP INDEX reader_faults_key');
        for (const [k, w, n, ah, ac, as, bh, bc, bs, at] of PAIR_ROWS.doubleSpends) {
          await c.query('INSERT INTO double_spends VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)', [k, Buffer.alloc(16, w), n, Buffer.alloc(32, ah), ac, as, Buffer.alloc(32, bh), bc, bs, at]);
        }
        for (const [k, r, h, ac, as, bc, bs, at] of PAIR_ROWS.readerFaults) {
          await c.query('INSERT INTO reader_faults VALUES ($1, $2, $3, $4, $5, $6, $7, $8)', [k, r, Buffer.alloc(32, h), ac, as, bc, bs, at]);
        }
      });
      const again = await Clearing.open({ url });
      try {
        await expectOneFindingPerKey(again);
      } finally {
        await again.close();
      }
    });
  });

  describe('findings of a database from before one finding per key, many rows', () => {
    it('11,000 old rows (6,000 keys of two, one key of 5,000) become 6,001 in one pass', async () => {
      const url = await cluster.createDatabase();
      await (await Clearing.open({ url, issuerKeys: makeIssuer('store-pg-bulk').keySet() })).close();
      await withClient(url, async (c) => {
        await c.query('DROP INDEX double_spends_key; DROP INDEX reader_faults_key');
        const rows = bulkPairRows();
        const buf = (v: unknown) => (v instanceof Uint8Array ? Buffer.from(v) : v);
        // One statement per table: unnest of each column.
        const cols = (rs: unknown[][], i: number) => rs.map((r) => buf(r[i]));
        await c.query(
          `INSERT INTO double_spends SELECT * FROM unnest($1::text[], $2::bytea[], $3::bigint[], $4::bytea[], $5::bigint[], $6::bigint[], $7::bytea[], $8::bigint[], $9::bigint[], $10::bigint[])`,
          Array.from({ length: 10 }, (_, i) => cols(rows.doubleSpends, i)),
        );
        await c.query(
          `INSERT INTO reader_faults SELECT * FROM unnest($1::text[], $2::bigint[], $3::bytea[], $4::bigint[], $5::bigint[], $6::bigint[], $7::bigint[], $8::bigint[])`,
          Array.from({ length: 8 }, (_, i) => cols(rows.readerFaults, i)),
        );
      });
      const again = await Clearing.open({ url });
      try {
        await expectBulkUpgrade(again);
      } finally {
        await again.close();
      }
    });
  });

  describe('schemas 1 (before counter_firsts) and 2 (before the request columns) are upgraded to 4 when opened; an unknown version is refused', () => {
    it('sets schema_version 4 and creates counter_firsts and the request columns; a version 5 database is clearing.store_unusable', async () => {
      const url = await cluster.createDatabase();
      await (await Clearing.open({ url, issuerKeys: makeIssuer('store-pg-schema').keySet() })).close();
      const q = (text: string) => withClient(url, async (c) => (await c.query(text)).rows);
      await q("DROP TABLE counter_firsts; DROP INDEX double_spends_key; DROP INDEX reader_faults_key; UPDATE meta SET num = 1 WHERE key = 'schema_version'");
      await q('DROP INDEX entries_request; ALTER TABLE entries DROP COLUMN req_time, DROP COLUMN req_challenge');
      await (await Clearing.open({ url })).close();
      expect(await q("SELECT num FROM meta WHERE key = 'schema_version'")).toEqual([{ num: '4' }]);
      expect(await q("SELECT to_regclass('counter_firsts') IS NOT NULL AS t, to_regclass('counter_firsts_order') IS NOT NULL AS i, to_regclass('double_spends_key') IS NOT NULL AS d, to_regclass('entries_request') IS NOT NULL AS r")).toEqual([{ t: true, i: true, d: true, r: true }]);
      expect(await q("SELECT column_name FROM information_schema.columns WHERE table_name = 'entries' AND column_name LIKE 'req_%' ORDER BY 1")).toEqual([{ column_name: 'req_challenge' }, { column_name: 'req_time' }]);
      await q("UPDATE meta SET num = 5 WHERE key = 'schema_version'");
      await expect(Clearing.open({ url })).rejects.toMatchObject({ code: 'clearing.store_unusable' });
    });
  });

  describe('schema 3 (counter_firsts before the one-way rule)', () => {
    it('held tap-ins as sales and tap-outs as one marker row: the rows are deleted and recorded again, so the one-way rule holds for the entries held', async () => {
      const u = oneWayUpgrade('store-pg-oneway', "''::bytea");
      const url = await cluster.createDatabase();
      {
        const cl = await Clearing.open({ url, issuerKeys: u.issuer.keySet() });
        for (const bytes of u.before) expect(await cl.ingest(bytes)).toMatchObject({ outcome: 'ingested', doubleSpends: 0 });
        await cl.close();
      }
      const q = (text: string) => withClient(url, async (x) => (await x.query(text)).rows);
      await q(`${u.oldRows}; UPDATE meta SET num = 3 WHERE key = 'schema_version'`);
      const cl = await Clearing.open({ url });
      try {
        expect(await cl.ingest(u.after)).toMatchObject({ outcome: 'ingested', doubleSpends: 1 });
        expect((await cl.doubleSpends()).map((d) => `${d.kind}|${d.first.readerId}|${d.second.readerId}`)).toEqual(['same_token_twice|61|62']);
      } finally {
        await cl.close();
      }
      expect(await q("SELECT num FROM meta WHERE key = 'schema_version'")).toEqual([{ num: '4' }]);
      expect(await q('SELECT class, count(*)::int AS n FROM counter_firsts GROUP BY class ORDER BY class')).toEqual([{ class: 2, n: 2 }, { class: 3, n: 2 }]);
      expect(await q("SELECT indexdef FROM pg_indexes WHERE tablename = 'counter_firsts' AND indexname = 'counter_firsts_pkey'")).toEqual([
        { indexdef: expect.stringContaining('(wallet_id, counter, class, token_hash, reader_id)') },
      ]);
    });
  });

  describe('M5 with the one-way rule (found by the attack review of 2026-12-07)', () => {
    it('a token tapped in at 200 gates: a batch of it reads at most two rows of a class of counter_firsts (the reads of tokenTrips had no LIMIT)', async () => {
      const label = 'store-pg-oneway-m5';
      const iss = makeIssuer(label);
      const t = signToken(makeWallet(iss, label, 'w'), { payee: 300, amount: 500, counter: 7 });
      const at = (id: number, kind: 'tap_in' | 'tap_out') => handBatch(makeReader(iss, label, id, 'transit', 300), new Uint8Array(8).fill(1), [{ kind, time: NOW + (kind === 'tap_out' ? 600 : 0), data: t, value: kind === 'tap_out' ? 300 : 500 }]);
      const c = await Clearing.open({ url: await cluster.createDatabase(), issuerKeys: iss.keySet(), clock: () => NOW + 3600 });
      const pg = createRequire(import.meta.url)('pg') as { Client: { prototype: { query: (...a: unknown[]) => Promise<{ rows: unknown[] }> } } };
      const orig = pg.Client.prototype.query;
      try {
        for (let i = 0; i < 200; i++) expect((await c.ingest(at(5000 + i, 'tap_in'))).outcome).toBe('ingested');
        // The rows each read of counter_firsts returns, for a tap-out and a tap-in of the token at new gates.
        const rows: number[] = [];
        pg.Client.prototype.query = function (this: unknown, ...a: unknown[]) {
          const r = orig.apply(this, a);
          if (typeof a[0] === 'string' && /^\s*\(?SELECT/.test(a[0]) && a[0].includes('FROM counter_firsts')) void r.then((x) => rows.push(x.rows.length), () => {});
          return r;
        };
        expect(await c.ingest(at(4999, 'tap_out'))).toMatchObject({ outcome: 'ingested', doubleSpends: 0 });
        expect(await c.ingest(at(4998, 'tap_in'))).toMatchObject({ outcome: 'ingested', doubleSpends: 0 });
        expect(rows.length).toBeGreaterThan(0);
        expect(Math.max(...rows)).toBeLessThanOrEqual(4);
      } finally {
        pg.Client.prototype.query = orig;
        await c.close();
      }
    }, 120_000);
  });

  describe('an upgrade that deadlocks with a node still ingesting', () => {
    it('is cancelled by PostgreSQL (40P01) and runs again: the new node opens, the old node\'s transaction commits', async () => {
      // A schema-1 database, as in the test above. The "old node" is a transaction that holds double_spends (an ingest
      // recording a finding) and then wants entries; the upgrade holds entries (the writer fence's ALTER TABLE) and
      // then wants double_spends (the unique index of one finding per key): a deadlock, which PostgreSQL breaks by
      // cancelling the upgrade (it waited first, so its deadlock check runs first, 1 s into its wait).
      const url = await cluster.createDatabase();
      await (await Clearing.open({ url, issuerKeys: makeIssuer('store-pg-deadlock').keySet() })).close();
      await withClient(url, async (c) => void (await c.query("DROP TABLE counter_firsts; DROP INDEX double_spends_key; DROP INDEX reader_faults_key; UPDATE meta SET num = 1 WHERE key = 'schema_version'")));
      const { default: pg } = await import('pg');
      const old = new pg.Client({ connectionString: url });
      await old.connect();
      try {
        await old.query('BEGIN');
        await old.query('LOCK TABLE double_spends IN ROW EXCLUSIVE MODE');
        const opening = Clearing.open({ url }).then((c) => c, (e: unknown) => e);
        // Until the upgrade waits for double_spends (it then holds entries).
        const waiting = async () =>
          withClient(url, async (c) => (await c.query("SELECT count(*)::int AS n FROM pg_locks l JOIN pg_class r ON r.oid = l.relation WHERE r.relname = 'double_spends' AND NOT l.granted")).rows[0].n as number);
        for (let i = 0; i < 200 && (await waiting()) === 0; i++) await new Promise((r) => setTimeout(r, 25));
        expect(await waiting()).toBe(1);
        await old.query('LOCK TABLE entries IN ROW EXCLUSIVE MODE'); // granted once PostgreSQL cancels the upgrade
        await old.query('COMMIT');
        const opened = await opening;
        expect(opened).toBeInstanceOf(Clearing);
        await (opened as Clearing).close();
        expect(await withClient(url, async (c) => (await c.query("SELECT num FROM meta WHERE key = 'schema_version'")).rows)).toEqual([{ num: '4' }]);
      } finally {
        await old.end();
      }
    }, 30_000);
  });

  describe('refunds table of a pre-release 0.2.0 (no seq)', () => {
    it('is given seq at open; a refund stored afterwards comes after the old ones', async () => {
      const url = await cluster.createDatabase();
      const issuer = makeIssuer('store-pg-upgrade');
      await (await Clearing.open({ url, issuerKeys: issuer.keySet() })).close();
      await withClient(url, async (c) => {
        await c.query(`DROP TABLE refunds; CREATE TABLE refunds(token_hash bytea PRIMARY KEY, bytes bytea NOT NULL, operator_id bigint NOT NULL, reader_id bigint NOT NULL,
          wallet_id bytea NOT NULL, amount bigint NOT NULL, currency bigint NOT NULL, charge bigint NOT NULL, time bigint NOT NULL, accepted_at bigint NOT NULL)`);
        for (const h of [3, 1, 2]) await c.query('INSERT INTO refunds VALUES ($1, $2, 90, 11, $3, 5, 344, 10, 1, 10)', [Buffer.alloc(32, h), Buffer.from([h]), Buffer.alloc(16)]);
      });
      const again = await Clearing.open({ url });
      try {
        const put = { tokenHash: new Uint8Array(32).fill(9), bytes: new Uint8Array([9]), operatorId: 90, readerId: 11, walletId: new Uint8Array(16), amount: 5, currency: 344, charge: 10, time: 1, acceptedAt: 5 };
        expect(await again.store.putRefund(put)).toBe(true);
        const p = await again.refundPage(0, 10);
        const order = p.refunds.map((r) => r.tokenHash.slice(0, 2));
        expect(order.slice(0, 3).sort()).toEqual(['01', '02', '03']); // table order: any
        expect(order[3]).toBe('09');
        expect(p.nextAfter).toBeUndefined();
        expect((await again.refundPage(p.lastSeq!, 10)).refunds).toEqual([]);
      } finally {
        await again.close();
      }
    });
  });

  describe('blocklist versions across nodes', () => {
    it('a higher version lists every wallet a lower one lists, while three nodes issue and others block at once', async () => {
      const url = await cluster.createDatabase();
      const keys = makeIssuer('pg-blocklists');
      const nodes = await Promise.all([0, 1, 2].map(() => Clearing.open({ url, issuerKeys: keys.keySet() })));
      try {
        const lists: { version: number; ids: string[] }[] = [];
        let w = 0;
        const blockSome = async (c: Clearing) => {
          for (let i = 0; i < 3; i++) await c.block(Uint8Array.from({ length: 16 }, (_, k) => (k < 4 ? (++w >> (8 * k)) & 0xff : 0x5a)));
        };
        for (let round = 0; round < 15; round++) {
          await Promise.all([
            ...nodes.map(async (c) => {
              const b = await c.issueBlocklist(keys);
              const { decodeBlocklist } = await import('../../src/reader/blocklist.js');
              const d = decodeBlocklist(b.bytes);
              lists.push({ version: d.version, ids: Array.from({ length: d.entries.length / 16 }, (_, i) => Buffer.from(d.entries.subarray(i * 16, i * 16 + 16)).toString('hex')) });
            }),
            blockSome(nodes[round % 3]!),
          ]);
        }
        lists.sort((a, b) => a.version - b.version);
        expect(lists.map((l) => l.version)).toEqual(Array.from({ length: 45 }, (_, i) => i + 1)); // each version once
        for (let i = 1; i < lists.length; i++) {
          const later = new Set(lists[i]!.ids);
          expect(lists[i - 1]!.ids.filter((id) => !later.has(id)), `version ${lists[i]!.version} drops wallets of version ${lists[i - 1]!.version}`).toEqual([]);
        }
      } finally {
        for (const c of nodes) await c.close();
      }
    });
  });

  describe('blocklist versions: an issuer that stalls', () => {
    it('takes its version and its list in one step: a node slow to read the blocklist cannot make an older version list more than a newer one', async () => {
      const url = await cluster.createDatabase();
      const keys = makeIssuer('pg-blocklist-stall');
      const [b, c] = await Promise.all([0, 1].map(() => Clearing.open({ url, issuerKeys: keys.keySet() })));
      const real = await openPgClearingStore({ url });
      let stalled: (() => void) | undefined;
      // Node A's store: reading the whole blocklist waits until released (a long GC pause, a slow round trip).
      const slow = new Proxy(real, {
        get(target, p, recv) {
          if (p === 'blocklist') return async () => (await new Promise<void>((r) => (stalled = r)), target.blocklist());
          const v = Reflect.get(target, p, recv) as unknown;
          return typeof v === 'function' ? (v as (...x: unknown[]) => unknown).bind(target) : v;
        },
      });
      const a = await Clearing.open({ issuerKeys: keys.keySet(), store: slow });
      const { decodeBlocklist } = await import('../../src/reader/blocklist.js');
      try {
        await a.settle(); // (the over-allowance pass reads entries, not the blocklist)
        const fromA = a.issueBlocklist(keys);
        await new Promise((r) => setTimeout(r, 200));
        const fromB = await b!.issueBlocklist(keys);
        await c!.block(new Uint8Array(16).fill(0x77), 'double_spend'); // blocked after B's version
        stalled?.();
        const va = decodeBlocklist((await fromA).bytes);
        const vb = decodeBlocklist(fromB.bytes);
        const [lo, hi] = va.version < vb.version ? [va, vb] : [vb, va];
        expect(hi.entries.length, `version ${hi.version} lists ${hi.entries.length / 16} wallets, version ${lo.version} ${lo.entries.length / 16}`).toBeGreaterThanOrEqual(lo.entries.length);
      } finally {
        stalled?.();
        await a.close();
        await b!.close();
        await c!.close();
      }
    });
  });

  describe('house settings (key set, fee)', () => {
    it('a node with another key set or fee than the house is refused naming it; --replace-settings replaces them; nodes starting at once record one', async () => {
      const url = await cluster.createDatabase();
      const issuer = makeIssuer('pg-house');
      const k1 = issuer.keySet();
      const k2 = { ...k1, keys: [...k1.keys, { ...k1.keys[0]!, keyIndex: 9, notBefore: k1.keys[0]!.notBefore + 1 }] };
      const a = await Clearing.open({ url, issuerKeys: k1, feeBps: 150 });
      try {
        await expect(Clearing.open({ url, issuerKeys: k1, feeBps: 200 })).rejects.toMatchObject({ code: 'clearing.settings_mismatch', message: expect.stringContaining('200 bps here, 150 bps held') });
        await expect(Clearing.open({ url, issuerKeys: k2 })).rejects.toMatchObject({ code: 'clearing.settings_mismatch', message: expect.stringContaining('keys 1 ') });
        const same = await Clearing.open({ url, issuerKeys: k1 }); // the same settings (the fee not given: the house's)
        expect(same.feeBps).toBe(150);
        await same.close();
        const replaced = await Clearing.open({ url, issuerKeys: k2, feeBps: 200, replaceSettings: true });
        expect([replaced.feeBps, replaced.issuerKeys.keys.length]).toEqual([200, 2]);
        await replaced.close();
        await expect(Clearing.open({ url, issuerKeys: k1 })).rejects.toMatchObject({ code: 'clearing.settings_mismatch' });
      } finally {
        await a.close();
      }
      // Nodes of different key sets starting at once on an empty database: exactly one records, the others are refused.
      const empty = await cluster.createDatabase();
      const sets = [k1, k2, { ...k1, keys: [{ ...k1.keys[0]!, notAfter: k1.keys[0]!.notAfter - 1 }] }];
      const opened = await Promise.allSettled(sets.map((s) => Clearing.open({ url: empty, issuerKeys: s })));
      expect(opened.filter((r) => r.status === 'fulfilled').length).toBe(1);
      for (const r of opened) if (r.status === 'rejected') expect(r.reason).toMatchObject({ code: 'clearing.settings_mismatch' });
      for (const r of opened) if (r.status === 'fulfilled') await r.value.close();
    });
  });

  describe('the payment index', () => {
    it('is built concurrently; an invalid one left by a failed build is dropped and built again; nodes at once build it once', async () => {
      const url = await cluster.createDatabase();
      const issuer = makeIssuer('pg-index');
      const c = await Clearing.open({ url, issuerKeys: issuer.keySet() });
      const { sell, vendingReader } = await import('./vending.js');
      const { makeWallet } = await import('../reader/helpers.js');
      const r = vendingReader(issuer, 'pg-index', 31);
      const w = makeWallet(issuer, 'pg-index', 'a');
      const tok = await sell(r, w, 1, 500);
      await sell(r, w, 2, 600);
      const { tokenHash } = await import('../../src/messages.js');
      try {
        expect((await c.ingest(r.export(NOW + 60).bytes)).outcome).toBe('ingested');
        const { default: pg } = await import('pg');
        const q = new pg.Client({ connectionString: url });
        await q.connect();
        try {
          // A failed concurrent build (here: UNIQUE over a constant, and the batch holds two sales) leaves an invalid index of that name.
          await expect(q.query('CREATE UNIQUE INDEX CONCURRENTLY entries_token ON entries((1))')).rejects.toThrow(/could not create unique index/);
          expect((await q.query("SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass('entries_token')")).rows).toEqual([{ indisvalid: false }]);
          await Promise.all([0, 1, 2].map(() => (c.store as PgClearingStore).indexPayments()));
          expect((await q.query("SELECT indisvalid, indisunique FROM pg_index WHERE indexrelid = to_regclass('entries_token')")).rows).toEqual([{ indisvalid: true, indisunique: false }]);
        } finally {
          await q.end();
        }
        expect((await c.paymentFacts(tokenHash(tok)))?.entries.length).toBeGreaterThan(0);
      } finally {
        await c.close();
      }
    });
  });

  describe('house settings: a node left running', () => {
    it('refuses batches, refunds and the key set 503 clearing.settings_mismatch once another node replaced the settings; reads go on', async () => {
      const url = await cluster.createDatabase();
      const issuer = makeIssuer('pg-house-running');
      const c = await Clearing.open({ url, issuerKeys: issuer.keySet(), feeBps: 150 });
      const { createClearingServer } = await import('../../src/server/api.js');
      const server = createClearingServer({ clearing: c, issuer, operatorToken: 'ab'.repeat(32), settingsCheckMs: 50 });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
      const post = () => fetch(`${base}/v1/batches`, { method: 'POST', headers: { 'content-type': 'application/cbor' }, body: new Uint8Array([0x80]) });
      try {
        expect((await post()).status).toBe(422); // judged (a bad batch), not refused
        const other = await Clearing.open({ url, issuerKeys: issuer.keySet(), feeBps: 200, replaceSettings: true });
        await other.close();
        let r = await post();
        for (let i = 0; i < 100 && r.status !== 503; i++) {
          await new Promise((done) => setTimeout(done, 20));
          r = await post();
        }
        expect([r.status, r.headers.get('retry-after'), ((await r.json()) as { error: { code: string } }).error.code]).toEqual([503, '1', 'clearing.settings_mismatch']);
        const refund = await fetch(`${base}/v1/refunds`, { method: 'POST', headers: { 'content-type': 'application/cbor' }, body: new Uint8Array([0x80]) });
        expect(refund.status).toBe(503);
        // Nor a key set: the node would sign its old one afresh (spec/clearing-api.md §2.3).
        const ks = await fetch(`${base}/v1/keyset`);
        expect([ks.status, ((await ks.json()) as { error: { code: string } }).error.code]).toEqual([503, 'clearing.settings_mismatch']);
        expect((await fetch(`${base}/v1/readers/1`)).status).toBe(200);
      } finally {
        await new Promise<void>((r) => {
          server.close(() => r());
          server.closeAllConnections();
        });
        await c.close();
      }
    });
  });

  describe('the writer fence: a node left running while a newer offpay upgrades the database', () => {
    /** Honest readers and wallets only: `batchesPerReader` batches of `salesPerBatch` sales from each of `readers`. */
    const honestPopulation = (seed: number, readers: number, batchesPerReader: number, salesPerBatch: number, honestWallets: number) =>
      buildFastPopulation({
        seed, t0: 1_800_000_000, readers, batchesPerReader, salesPerBatch, honestWallets,
        cloneGroups: 0, cloneCopies: 1, overAllowanceWallets: 0, cloneShare: 0, overAllowanceShare: 0, overlapShare: 0,
      });

    it("has its next ingest refused by the database (clearing.schema_changed, nothing held, no problem recorded), over HTTP 503 and its health says so; a writer from before the fence is refused too", async () => {
      const pop = honestPopulation(63, 2, 2, 4, 4);
      const url = await cluster.createDatabase();
      const q = (text: string) => withClient(url, async (c) => (await c.query(text)).rows);
      const c = await Clearing.open({ url, issuerKeys: pop.issuer.keySet() });
      const { createClearingServer } = await import('../../src/server/api.js');
      const server = createClearingServer({ clearing: c, issuer: pop.issuer, operatorToken: 'ab'.repeat(32), settingsCheckMs: 3_600_000, healthReuseMs: 0, clock: () => 1_800_003_600 });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
      const post = (b: Uint8Array) => fetch(`${base}/v1/batches`, { method: 'POST', headers: { 'content-type': 'application/cbor' }, body: b as Uint8Array<ArrayBuffer> });
      const [r0, r1] = pop.readers;
      try {
        expect((await c.ingest(r0!.batches[0]!)).outcome).toBe('ingested');
        expect(await q('SELECT DISTINCT writer FROM entries')).toEqual([{ writer: 4 }]);
        // What the next schema version's upgrade does to the fence (store-pg.ts WRITER_FENCE at version 4).
        await q("UPDATE meta SET num = 5 WHERE key = 'schema_version'; ALTER TABLE entries DROP CONSTRAINT entries_writer, ADD CONSTRAINT entries_writer CHECK (writer >= 5) NOT VALID");
        const held = await q('SELECT count(*)::int AS n FROM entries');
        await expect(c.ingest(r0!.batches[1]!)).rejects.toMatchObject({ code: 'clearing.schema_changed' });
        const r = await post(r1!.batches[0]!);
        expect([r.status, r.headers.get('retry-after'), ((await r.json()) as { error: { code: string } }).error.code]).toEqual([503, '1', 'clearing.schema_changed']);
        expect(await q('SELECT count(*)::int AS n FROM entries')).toEqual(held);
        expect(await c.store.problems()).toEqual([]);
        await expect(c.settingsCurrent()).rejects.toMatchObject({ code: 'clearing.schema_changed' });
        const h = await fetch(`${base}/v1/health`);
        expect([h.status, ((await h.json()) as { error: { code: string } }).error.code]).toEqual([503, 'clearing.schema_changed']);
        // A writer from before the column (an entry row that names no writer) is refused whatever the check says.
        await expect(q("INSERT INTO entries(chain, seq, kind, time, value, hash, valid, operator_id) VALUES (99, 1, 1, 0, 0, '\\x00', true, 1)")).rejects.toMatchObject({ code: '23502', column: 'writer' });
      } finally {
        await new Promise<void>((r) => {
          server.close(() => r());
          server.closeAllConnections();
        });
        await c.close();
      }
    });

    it('a database from before the fence gets it when opened: the rows held count as this version\'s, older writers are refused from then on', async () => {
      const pop = honestPopulation(64, 1, 2, 3, 3);
      const url = await cluster.createDatabase();
      const q = (text: string) => withClient(url, async (c) => (await c.query(text)).rows);
      const first = await Clearing.open({ url, issuerKeys: pop.issuer.keySet() });
      expect((await first.ingest(pop.readers[0]!.batches[0]!)).outcome).toBe('ingested');
      await first.close();
      await q('ALTER TABLE entries DROP COLUMN writer');
      const again = await Clearing.open({ url });
      try {
        expect(await q('SELECT DISTINCT writer FROM entries')).toEqual([{ writer: 4 }]);
        expect(await q("SELECT column_default FROM information_schema.columns WHERE table_name = 'entries' AND column_name = 'writer'")).toEqual([{ column_default: null }]);
        expect(await q("SELECT pg_get_constraintdef(oid) AS d FROM pg_constraint WHERE conname = 'entries_writer'")).toEqual([{ d: 'CHECK ((writer >= 4)) NOT VALID' }]);
        expect((await again.ingest(pop.readers[0]!.batches[1]!)).outcome).toBe('ingested');
        await expect(q("INSERT INTO entries(chain, seq, kind, time, value, hash, valid, operator_id) VALUES (99, 1, 1, 0, 0, '\\x00', true, 1)")).rejects.toMatchObject({ code: '23502' });
        await expect(q("INSERT INTO entries(chain, seq, kind, time, value, hash, valid, operator_id, writer) VALUES (99, 1, 1, 0, 0, '\\x00', true, 1, 1)")).rejects.toMatchObject({ code: '23514', constraint: 'entries_writer' });
      } finally {
        await again.close();
      }
    });
  });

  describe('connection settings', () => {
    it('commits are durable and unnamed transactions READ COMMITTED whatever the database defaults to; the URL is shown without any password', async () => {
      const url = await cluster.createDatabase();
      const name = new URL(url).pathname.slice(1);
      const { default: pg } = await import('pg');
      const admin = new pg.Client({ connectionString: cluster.url });
      await admin.connect();
      await admin.query(`ALTER DATABASE ${name} SET synchronous_commit = off`);
      await admin.query(`ALTER DATABASE ${name} SET default_transaction_isolation = 'serializable'`);
      await admin.end();
      const store = await openPgClearingStore({ url, poolSize: 1 });
      try {
        const pool = (store as unknown as { pool: { query: (t: string) => Promise<{ rows: Record<string, string>[] }> } }).pool;
        expect((await pool.query('SHOW synchronous_commit')).rows[0]!.synchronous_commit).toBe('on');
        expect((await pool.query('SHOW default_transaction_isolation')).rows[0]!.default_transaction_isolation).toBe('read committed');
      } finally {
        await store.close();
      }
      expect(redactPgUrl('postgres://u:s3cret@h:5432/db?password=s3cret&sslpassword=k3y&host=/tmp')).not.toMatch(/s3cret|k3y/);
    });
  });

  describe('the database goes away (a restart, a failover, a terminated connection)', () => {
    it('a connection terminated inside an ingest transaction: the ingest fails clearing.store_unavailable, the process lives, the next ingest works', async () => {
      const url = await cluster.createDatabase();
      const name = new URL(url).pathname.slice(1);
      const store = await openPgClearingStore({ url, poolSize: 2 });
      const { default: pg } = await import('pg');
      const admin = new pg.Client({ connectionString: cluster.url });
      await admin.connect();
      const uncaught: unknown[] = [];
      const onUncaught = (e: unknown) => uncaught.push(e);
      process.on('uncaughtException', onUncaught);
      try {
        const kill = () => admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid() AND state LIKE 'idle in transaction%'`, [name]);
        // Between two statements of the unit (the JS work of a commit): the connection dies while checked out.
        const between = store.session((x) => x.atomic(async (tx) => {
          await tx.chainOf(1, new Uint8Array(8));
          expect((await kill()).rowCount).toBe(1);
          await new Promise((r) => setTimeout(r, 300));
          return tx.chainOf(1, new Uint8Array(8));
        }));
        await expect(between).rejects.toMatchObject({ code: 'clearing.store_unavailable' });
        await new Promise((r) => setTimeout(r, 100));
        expect(uncaught).toEqual([]);
        // The pool replaces the connection: the store serves again.
        expect(await store.session((x) => x.atomic((tx) => tx.addChain(7, new Uint8Array(8).fill(7))))).toBeGreaterThan(0);
        // Idle connections of the pool terminated too: the next statement reconnects.
        await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [name]);
        await new Promise((r) => setTimeout(r, 100));
        expect(await store.session((x) => x.atomic((tx) => tx.chainOf(7, new Uint8Array(8).fill(7))))).toBeGreaterThan(0);
        expect(uncaught).toEqual([]);
      } finally {
        process.off('uncaughtException', onUncaught);
        await store.close();
        await admin.end();
      }
    });

    it('while another node builds the payment index, a node with a pool of one connection still answers (it gives the connection back between polls of the lock)', async () => {
      const url = await cluster.createDatabase();
      const clearing = await Clearing.open({ url, issuerKeys: makeIssuer('pg-index-wait').keySet(), poolSize: 1 });
      try {
        await withClient(url, async (other) => {
          await other.query('SELECT pg_advisory_lock($1)', [PAYMENTS_INDEX_LOCK]); // "another node is building it"
          const building = clearing.indexPayments();
          await new Promise((r) => setTimeout(r, 200));
          // A liveness check, not a timing one: the read must answer at all while the lock is held elsewhere.
          const read = await Promise.race([clearing.heldBatches(101), new Promise((r) => setTimeout(() => r('no answer in 10 s'), 10_000))]);
          expect(read).toEqual([]);
          await other.query('SELECT pg_advisory_unlock($1)', [PAYMENTS_INDEX_LOCK]);
          await building;
          expect((await other.query("SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass('entries_token')")).rows).toEqual([{ indisvalid: true }]);
        });
      } finally {
        await clearing.close();
      }
    });

    it('GET /v1/health of a PostgreSQL node: 503 clearing.store_unavailable while the database refuses connections, 200 again after', async () => {
      const url = await cluster.createDatabase();
      const name = new URL(url).pathname.slice(1);
      const issuer = makeIssuer('pg-health');
      const clearing = await Clearing.open({ url, issuerKeys: issuer.keySet(), poolSize: 2 });
      const server = createClearingServer({ clearing, issuer, operatorToken: 'cd'.repeat(32), blocklistCheckSeconds: 0, healthReuseMs: 0 });
      await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
      const at = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/health`;
      const health = async () => {
        const r = await fetch(at);
        const body = (await r.json()) as { status?: string; error?: { code: string } };
        return [r.status, body.status ?? body.error?.code];
      };
      try {
        expect(await (await fetch(at)).json()).toEqual({ status: 'ok', engine: 'postgres' });
        await withClient(cluster.url, async (admin) => {
          await admin.query(`ALTER DATABASE ${name} WITH ALLOW_CONNECTIONS false`);
          await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [name]);
        });
        await new Promise((r) => setTimeout(r, 100));
        const down = await fetch(at);
        expect([down.status, down.headers.get('retry-after'), ((await down.json()) as { error: { code: string } }).error.code]).toEqual([503, '1', 'clearing.store_unavailable']);
        // The statements outside a batch's unit say so too (a manual block; a refused batch's problem record).
        await expect(clearing.block(new Uint8Array(16).fill(3))).rejects.toMatchObject({ code: 'clearing.store_unavailable' });
        await expect(clearing.store.session((s) => s.problem(1, 'bad_chain', 'x', 0))).rejects.toMatchObject({ code: 'clearing.store_unavailable' });
        await withClient(cluster.url, (admin) => admin.query(`ALTER DATABASE ${name} WITH ALLOW_CONNECTIONS true`));
        expect(await health()).toEqual([200, 'ok']);
      } finally {
        await new Promise<void>((res) => {
          server.close(() => res());
          server.closeAllConnections();
        });
        await clearing.close();
      }
    });
  });
}
