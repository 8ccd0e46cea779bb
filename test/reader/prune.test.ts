/**
 * Reader pruning (spec/reader.md §9.3): the order of its checks, re-exports of pruned batches, what `reader sync`
 * records of clearing's answers, the state of a long-running reader held to its retention on SQLite, and the
 * CLI. The differential model (prune-model.test.ts) shows that pruning changes no verdict.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Clearing } from '../../src/clearing/index.js';
import { cliVendingMachine } from './cli-machine.js';
import { nodeEd25519 } from '../../src/node/crypto.js';
import { loadIssuer } from '../../src/node/files.js';
import { createBlocklist, MemoryReaderStore, pruneRetainMinimum, Reader, READER_PROFILES, type ReaderStore } from '../../src/reader/index.js';
import { SqliteReaderStore } from '../../src/reader/sqlite.js';
import { syncReader } from '../../src/reader/sync.js';
import { completedSale, startClearingService } from './clearing-service.js';
import { codeOf, HKD, NOW, makeIssuer, makeReader, makeWallet, signToken } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'offpay-prune-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const issuer = makeIssuer('prune');
const vendId = makeReader(issuer, 'prune', 4501, 'vending');
const gateId = makeReader(issuer, 'prune', 5501, 'transit', 300);
const wallet = makeWallet(issuer, 'prune', 'w');
const list = createBlocklist(issuer.keys[0]!, { issuerId: issuer.issuerId, version: 1, issuedAt: NOW, walletIds: [] }).bytes;
const DAY = 86_400;


function vending(store: ReaderStore = new MemoryReaderStore(), clock = () => NOW): Reader {
  const r = new Reader({ ...vendId, issuerKeys: issuer.keySet(), store, verifier: nodeEd25519(), clock });
  r.loadBlocklist(list, NOW);
  return r;
}

/** One sale at `r`: a request, the wallet's token, accepted and completed. */
const sale = (r: Reader, counter: number, now: number) => completedSale(r, wallet, counter, now);

describe('Reader.prune: its checks, in order', () => {
  it('a store without prune, a retention below the minimum, delivered batches outside 0..exported: reader.bad_config', async () => {
    const mem = new MemoryReaderStore();
    const bare: ReaderStore = { kind: 'bare', transact: (fn) => mem.transact(fn), journal: (a, b) => mem.journal(a, b), close: () => mem.close() };
    expect(codeOf(() => vending(bare).prune({ now: NOW, retainSeconds: 1 }))).toBe('reader.bad_config'); // the store first
    const r = vending();
    const min = pruneRetainMinimum(r.profile);
    expect(min).toBe(60 + 900 + DAY); // vending: the void window is the longest
    expect(pruneRetainMinimum(READER_PROFILES.transit)).toBe(60 + 14_400 + DAY);
    expect(codeOf(() => r.prune({ now: NOW, retainSeconds: min - 1 }))).toBe('reader.bad_config');
    expect(codeOf(() => r.prune({ now: NOW, retainSeconds: min + 0.5 }))).toBe('reader.bad_config');
    expect(codeOf(() => r.prune({ now: NOW, retainSeconds: min, deliveredBatches: 1 }))).toBe('reader.bad_config'); // none exported
    expect(codeOf(() => r.prune({ now: NOW, retainSeconds: min, deliveredBatches: -1 }))).toBe('reader.bad_config');
    expect(codeOf(() => r.recordDelivered(1))).toBe('reader.bad_config');
    // The default retention: 7 days, or the profile's minimum when that is longer.
    expect(r.prune({ now: NOW })).toMatchObject({ retainSeconds: 7 * DAY, cutoff: NOW - 7 * DAY, deliveredBatches: 0, journalBefore: 0, journal: 0 });
    const long = new Reader({ ...vendId, issuerKeys: issuer.keySet(), store: new MemoryReaderStore(), verifier: nodeEd25519(), profile: { voidWindowSeconds: 900 }, clock: () => NOW });
    expect(long.prune({ now: NOW }).retainSeconds).toBe(7 * DAY);
  });

  it('deletes journal rows only below the last row of the batches clearing holds; a re-export of those is reader.batch_pruned', async () => {
    const r = vending();
    for (let i = 1; i <= 3; i++) await sale(r, i, NOW + i);
    r.export(NOW + 10); // batch 1: entries 1..3
    for (let i = 4; i <= 5; i++) await sale(r, i, NOW + i * 10);
    r.export(NOW + 60); // batch 2: entries 4..5
    await sale(r, 6, NOW + 70); // not exported
    const b2 = r.exportBatch(2).bytes;
    // Nothing delivered yet: no journal row goes, however old (the token records do).
    expect(r.prune({ now: NOW + 10 * DAY })).toMatchObject({ journal: 0, tokens: 6 });
    r.recordDelivered(1);
    const p1 = r.prune({ now: NOW + 10 * DAY });
    expect(p1).toMatchObject({ deliveredBatches: 1, journalBefore: 3, journal: 2, tokens: 0 });
    expect(r.entries().map((e) => e.seq)).toEqual([3, 4, 5, 6]);
    expect(codeOf(() => r.exportBatch(1))).toBe('reader.batch_pruned');
    expect(r.exportBatch(2).bytes).toEqual(b2); // its link (entry 3) is kept
    expect(r.verifyJournal()).toMatchObject({ ok: true, count: 3 });
    // A next batch links to what clearing holds.
    const b3 = r.export(NOW + 80).batch;
    expect(b3).toMatchObject({ batchSeq: 3, firstSeq: 6 });
    r.recordDelivered(3);
    expect(r.prune({ now: NOW + 10 * DAY }).journal).toBe(3); // 3..5 go; 6 is the link and the head
    expect(r.entries().map((e) => e.seq)).toEqual([6]);
    expect(codeOf(() => r.exportBatch(2))).toBe('reader.batch_pruned');
    expect(codeOf(() => r.exportBatch(3))).toBe('reader.batch_pruned'); // its link (entry 5) is gone
    expect(r.verifyJournal()).toMatchObject({ ok: true, count: 0 });
    r.loadBlocklist(createBlocklist(issuer.keys[0]!, { issuerId: issuer.issuerId, version: 2, issuedAt: NOW + 10 * DAY, walletIds: [] }).bytes, NOW + 10 * DAY);
    await sale(r, 7, NOW + 10 * DAY);
    expect(r.export(NOW + 10 * DAY).batch).toMatchObject({ batchSeq: 4, firstSeq: 7 });
    // An explicit count overrides the recorded one.
    expect(r.prune({ now: NOW + 10 * DAY, deliveredBatches: 4 })).toMatchObject({ deliveredBatches: 4, journalBefore: 7, journal: 1 });
  });

  it('keeps the sale that paid the open request, whatever its age: complete still closes the request', async () => {
    const r = vending();
    const challenge = Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 9);
    r.openRequest({ amount: 300, currency: HKD, now: NOW, challenge });
    const v = await r.accept(signToken(wallet, { payee: vendId.cert.readerId, amount: 300, counter: 1, time: NOW, challenge }), { now: NOW });
    expect(v.accepted).toBe(true);
    expect(r.prune({ now: NOW + 10 * DAY }).tokens).toBe(0);
    expect(r.complete(v.tokenHash)).toBe(true);
    expect(r.openRequestInfo()).toBeUndefined();
    expect(r.prune({ now: NOW + 10 * DAY }).tokens).toBe(1); // completed, its request closed: it goes
  });
});

describe('a payment-code token forgotten, shown again at a new code request with its challenge and amount', () => {
  it('is refused replayed by the window, with a conflict entry the unpruned reader does not write (spec/reader.md §9.3)', async () => {
    // A code-paid token signs time 0 and is judged fresh by the open request's time (rule P), so no age check
    // stops it: a later code request with the same 21-bit challenge and amount (2^-21 a request) lets it through
    // to the window, which refuses it. Nothing is charged; clearing never pairs a conflict with its own token.
    const kept = vending();
    const pruned = vending();
    const challenge = Uint8Array.of(0, 0, 0, 0, 0, 0x01, 0x23, 0x45);
    const token = signToken(wallet, { payee: vendId.cert.readerId, amount: 400, counter: 1, time: 0, challenge });
    for (const r of [kept, pruned]) {
      r.openRequest({ amount: 400, currency: HKD, now: NOW, challenge, code: true });
      const v = await r.accept(token, { now: NOW });
      expect(v.accepted).toBe(true);
      r.complete(v.tokenHash);
    }
    const later = NOW + 8 * DAY;
    expect(pruned.prune({ now: later }).tokens).toBe(1);
    for (const r of [kept, pruned]) {
      r.loadBlocklist(createBlocklist(issuer.keys[0]!, { issuerId: issuer.issuerId, version: 2, issuedAt: later, walletIds: [] }).bytes, later);
      r.openRequest({ amount: 400, currency: HKD, now: later, challenge, code: true });
    }
    expect(await kept.accept(token, { now: later })).toMatchObject({ accepted: false, reason: 'replayed' });
    expect(await pruned.accept(token, { now: later })).toMatchObject({ accepted: false, reason: 'replayed' });
    expect(kept.entries().map((e) => e.kind)).toEqual(['accept']);
    expect(pruned.entries().map((e) => e.kind)).toEqual(['accept', 'conflict']);
    // Clearing: one sale settled, nothing blocked, no reader fault.
    const clearing = new Clearing({ issuerKeys: issuer.keySet(), clock: () => later + 60 });
    try {
      expect((await clearing.ingest(pruned.export(later).bytes)).outcome).toBe('ingested');
      const report = await clearing.report();
      expect(report.doubleSpends).toEqual([]);
      expect(report.readerFaults).toEqual([]);
      expect(report.settlement.map((l) => [l.count, Number(l.gross)])).toEqual([[1, 400]]);
    } finally {
      await clearing.close();
    }
  });
});

describe('reader sync records what clearing holds', () => {
  it('after its uploads; prune then deletes what was delivered, and a clearing that lost batches meets reader.batch_pruned', async () => {
    let now = NOW;
    const start = () => startClearingService(issuer, () => now);
    const r = vending(new MemoryReaderStore(), () => now);
    for (let i = 1; i <= 4; i++) await sale(r, i, NOW + i);
    now = NOW + 100;
    let c = await start();
    const s1 = await syncReader(r, { url: c.url, issuerKeys: issuer.keySet(), now, attempts: 1 });
    expect(s1.sent.map((x) => x.outcome)).toEqual(['ingested']);
    expect(r.deliveredBatches()).toBe(1);
    now = NOW + 10 * DAY;
    expect(r.prune({ now }).journal).toBe(3); // entries 1..3 go, 4 links to the next batch
    r.loadBlocklist(createBlocklist(issuer.keys[0]!, { issuerId: issuer.issuerId, version: 50, issuedAt: now, walletIds: [] }).bytes, now);
    await sale(r, 5, now);
    // The same clearing: a sync uploads batch 2 from the kept link, and clearing takes it.
    const s2 = await syncReader(r, { url: c.url, issuerKeys: issuer.keySet(), now, attempts: 1 });
    expect(s2.sent).toEqual([expect.objectContaining({ batchSeq: 2, outcome: 'ingested' })]);
    expect(r.deliveredBatches()).toBe(2);
    await c.close();
    // A clearing that holds nothing of this journal (restored from an old backup): the pruned batch cannot go again.
    c = await start();
    await expect(syncReader(r, { url: c.url, issuerKeys: issuer.keySet(), now, attempts: 1 })).rejects.toMatchObject({ code: 'reader.batch_pruned' });
    await c.close();
  });
});

describe('a long-running gate, pruned after each night', () => {
  it('holds a week of records and one window per wallet, not everything it ever took (SQLite)', async () => {
    const store = SqliteReaderStore.create(join(dir, 'gate.db'), { synchronous: 'OFF' });
    let now = NOW;
    const g = new Reader({ ...gateId, issuerKeys: issuer.keySet(), store, verifier: nodeEd25519(), clock: () => now, limits: { [HKD]: { staleMaxAmount: 1_000_000 } } });
    const riders = Array.from({ length: 8 }, (_, i) => makeWallet(issuer, 'prune', `rider-${i}`));
    const counters = riders.map(() => 0);
    const DAYS = 28;
    const TRIPS = 10; // a day, each a tap-in here and a tap-out here
    const peak = { tokens: 0, journal: 0, totals: 0, tapouts: 0 };
    const db = (store as unknown as { db: { prepare(s: string): { get(): unknown } } }).db;
    const count = (sql: string) => (db.prepare(sql).get() as { n: number }).n;
    for (let day = 0; day < DAYS; day++) {
      now = NOW + day * DAY + 8 * 3600;
      g.loadBlocklist(createBlocklist(issuer.keys[0]!, { issuerId: issuer.issuerId, version: day + 2, issuedAt: now, walletIds: [] }).bytes, now);
      for (let k = 0; k < TRIPS; k++) {
        const w = (day + k) % riders.length;
        const t = signToken(riders[w]!, { payee: 300, amount: 500, counter: ++counters[w]!, time: now });
        expect((await g.accept(t, { tapIn: { maxFare: 500, currency: HKD }, now })).accepted).toBe(true);
        now += 600;
        expect((await g.tapOut(t, { fare: 300, currency: HKD, now })).accepted).toBe(true);
        now += 60;
      }
      // The night: the batch goes to clearing (which says it holds it), then the prune.
      g.export(now);
      g.recordDelivered(g.exportedBatches());
      g.prune({ now });
      peak.tokens = Math.max(peak.tokens, count('SELECT count(*) AS n FROM tokens'));
      peak.journal = Math.max(peak.journal, count('SELECT count(*) AS n FROM journal'));
      peak.totals = Math.max(peak.totals, count("SELECT count(*) AS n FROM totals WHERE key LIKE 'd:%'"));
      peak.tapouts = Math.max(peak.tapouts, count("SELECT count(*) AS n FROM meta WHERE key LIKE 'tapout:%'"));
    }
    // A week and a day of trips at most (the retention is 7 days), against 28 days taken; the journal keeps its head.
    expect(peak.tokens).toBeLessThanOrEqual(8 * TRIPS);
    expect(peak.tapouts).toBeLessThanOrEqual(8 * TRIPS);
    expect(peak.totals).toBeLessThanOrEqual(8 * riders.length);
    expect(peak.journal).toBe(1);
    expect(count('SELECT count(*) AS n FROM windows')).toBe(riders.length);
    expect(g.head().seq).toBe(DAYS * TRIPS * 2);
    expect(g.verifyJournal().ok).toBe(true);
    store.close();
  });
});

describe('offpay reader prune', () => {
  it('prunes by the recorded or given delivered batches, and refuses a bad retention with a clear message', async () => {
    const { run, p, at, out: outOf, err: errOf } = await cliVendingMachine(dir, 'prune-cli', 4601);
    for (let i = 1; i <= 3; i++) {
      expect(await run('request', '--reader', p('vm'), '--db', p('vm.db'), '--amount', '2.00', '--currency', 'HKD', '--out', p(`req${i}.cbor`), at(i * 10))).toBe(0);
      expect(await run('pay', '--wallet', p('wallet'), '--request', p(`req${i}.cbor`), '--out', p(`t${i}.cbor`), at(i * 10 + 1))).toBe(0);
      expect(await run('reader', 'accept', '--reader', p('vm'), '--db', p('vm.db'), p(`t${i}.cbor`), at(i * 10 + 2))).toBe(0);
      expect(await run('reader', 'complete', '--reader', p('vm'), '--db', p('vm.db'), p(`t${i}.cbor`), at(i * 10 + 3))).toBe(0);
    }
    expect(await run('reader', 'export', '--reader', p('vm'), '--db', p('vm.db'), '--out', p('b1.cbor'), at(100))).toBe(0);
    // Nothing recorded as delivered: token records go, journal rows stay, and the output says why.
    expect(await run('reader', 'prune', '--reader', p('vm'), '--db', p('vm.db'), at(8 * DAY))).toBe(0);
    expect(outOf()).toContain('clearing holds 0 of 1 batches exported (none: no journal rows deleted; run offpay reader sync, or give --delivered)');
    expect(outOf()).toContain('deleted 0 journal rows, 3 token records');
    // Given: batch 1 is held.
    expect(await run('reader', 'prune', '--reader', p('vm'), '--db', p('vm.db'), '--delivered', '1', at(8 * DAY), '--json')).toBe(0);
    expect(JSON.parse(outOf())).toMatchObject({ ok: true, deliveredBatches: 1, exportedBatches: 1, journal: 2, journalBefore: 3 });
    expect(await run('reader', 'status', '--reader', p('vm'), '--db', p('vm.db'), at(8 * DAY))).toBe(0);
    expect(outOf()).toContain('entries 3..3 held; those before were pruned once clearing held them');
    expect(outOf()).toContain('chain: verifies from entry 3');
    expect(await run('reader', 'export', '--reader', p('vm'), '--db', p('vm.db'), '--batch', '1', '--out', p('again.cbor'), at(8 * DAY))).toBe(2);
    expect(errOf()).toMatch(/batch 1 \(entries 1\.\.3\) cannot be made again.*\[reader\.batch_pruned\]/s);
    expect(await run('reader', 'prune', '--reader', p('vm'), '--db', p('vm.db'), '--retain-seconds', '3600', at(8 * DAY))).toBe(2);
    expect(errOf()).toMatch(/retainSeconds must be an integer of at least 87360/);
    expect(await run('reader', 'prune', '--reader', p('vm'), '--db', p('vm.db'), '--delivered', '2', at(8 * DAY))).toBe(2);
    expect(errOf()).toMatch(/deliveredBatches must be an integer in 0\.\.1/);
    expect(await run('reader', 'prune', '--reader', p('vm'), '--db', p('vm.db'), '--delivered', 'all', at(8 * DAY))).toBe(2);

    // reader sync --prune against a clearing service that lacks batch 1 (the reader pruned it): exit 2, the reason
    // named; once the operator restores batch 1 there, the sync delivers batch 2 and prunes its rows.
    const now = NOW + 8 * DAY;
    const svc = await startClearingService(loadIssuer(p('issuer')), () => now, { path: p('clearing.db') });
    const { url, clearing } = svc;
    try {
      expect(await run('request', '--reader', p('vm'), '--db', p('vm.db'), '--amount', '2.00', '--currency', 'HKD', '--out', p('req4.cbor'), at(8 * DAY))).toBe(0);
      expect(await run('pay', '--wallet', p('wallet'), '--request', p('req4.cbor'), '--out', p('t4.cbor'), at(8 * DAY + 1))).toBe(0);
      // --prune over plain http off this machine is refused before anything is sent.
      expect(await run('reader', 'sync', '--reader', p('vm'), '--db', p('vm.db'), '--url', 'http://192.0.2.1:8080', '--prune', at(8 * DAY + 10))).toBe(2);
      expect(errOf()).toMatch(/--prune needs an https:\/\/ URL \(or a loopback one\)/);
      const sync = () => run('reader', 'sync', '--reader', p('vm'), '--db', p('vm.db'), '--url', url, '--attempts', '1', '--prune', at(8 * DAY + 10));
      expect(await sync()).toBe(2);
      expect(errOf()).toMatch(/batch 1 .*cannot be made again.*\[reader\.batch_pruned\]/s);
      // The failed sync still loaded the clearing's fresh blocklist: the machine sells meanwhile.
      expect(outOf()).toMatch(/batch 2: cannot be sent|batch 1: cannot be sent/);
      expect(await run('reader', 'accept', '--reader', p('vm'), '--db', p('vm.db'), p('t4.cbor'), at(8 * DAY + 2))).toBe(0);
      expect((await clearing.ingest(readFileSync(p('b1.cbor')))).outcome).toBe('ingested');
      const synced = await sync();
      expect(synced, errOf()).toBe(0);
      expect(outOf()).toMatch(/clearing held 1 batches, now 2/);
      expect(outOf()).toMatch(/pruned: 1 journal rows of the 2 batches clearing holds/);
    } finally {
      await svc.close();
    }
  });
});
