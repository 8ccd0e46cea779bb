/**
 * The reviews of reader pruning (2026-12-07, spec/reader.md §9.3): each test below failed on the code before its fix.
 *  - `reader sync` recorded what clearing holds only after its uploads: a clearing restored from a backup threw
 *    reader.batch_pruned first, the higher count stayed, and the next prune deleted rows of a batch that clearing
 *    never received (lost sales); the same throw skipped the key set and blocklist (a vending reader then refused
 *    every sale a day later). Now `held` is recorded at once, and a batch that cannot be sent stops the uploads as
 *    a refusal does.
 *  - `prune` took any `now`: milliseconds for seconds forgot every record, and the daily limit and a recorded
 *    tap-out no longer held. Now a time outside the reader certificate is reader.cert_not_valid.
 *  - A damaged tap-out record gave the CBOR decoder's codes; now reader.corrupt_store.
 *  - (Outside pruning) a pending sale resumed at any open request with its challenge: a new request that repeated
 *    it (a 21-bit code challenge, or one the integrator chose) vended again unpaid. Now only at the request it paid.
 *  - Later reviews: a restored reader's batch under a number the clearing held for other entries (sync now compares
 *    lastSeq and the chain hash `head`), and a damaged batch record that would have turned a prune onto rows never
 *    exported.
 */
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { OffpayError } from '../../base/errors.js';
import { encodeCbor } from '../../src/cbor.js';
import { nodeEd25519 } from '../../src/node/crypto.js';
import { createBlocklist, MemoryReaderStore, Reader } from '../../src/reader/index.js';
import { SqliteReaderStore } from '../../src/reader/sqlite.js';
import { syncReader } from '../../src/reader/sync.js';
import { completedSale, startClearingService } from './clearing-service.js';
import { codeOf, HKD, NOW, makeIssuer, makeReader, makeWallet, signToken } from './helpers.js';

const issuer = makeIssuer('prune-review');
const vendId = makeReader(issuer, 'prune-review', 4801, 'vending');
const gateId = makeReader(issuer, 'prune-review', 5901, 'transit', 300);
const wallet = makeWallet(issuer, 'prune-review', 'w');
const DAY = 86_400;
const blocklistAt = (v: number, at: number) => createBlocklist(issuer.keys[0]!, { issuerId: issuer.issuerId, version: v, issuedAt: at, walletIds: [] }).bytes;

const sale = (r: Reader, counter: number, now: number) => completedSale(r, wallet, counter, now);

describe('reader sync against a clearing restored from a backup', () => {
  it('records the lower answer, so that a later prune cannot delete rows of batches the clearing no longer holds', async () => {
    let now = NOW;
    const start = () => startClearingService(issuer, () => now);
    const r = new Reader({ ...vendId, issuerKeys: issuer.keySet(), store: new MemoryReaderStore(), verifier: nodeEd25519(), clock: () => now });
    r.loadBlocklist(createBlocklist(issuer.keys[0]!, { issuerId: issuer.issuerId, version: 1, issuedAt: NOW, walletIds: [] }).bytes, NOW);
    for (let i = 1; i <= 4; i++) await sale(r, i, NOW + i);
    now = NOW + 100;
    const c1 = await start();
    await syncReader(r, { url: c1.url, issuerKeys: issuer.keySet(), now, attempts: 1 }); // batch 1: entries 1..4
    expect(r.deliveredBatches()).toBe(1);
    const batch1 = r.exportBatch(1).bytes; // clearing's copy, which the operator can restore later

    now = NOW + 10 * DAY;
    r.loadBlocklist(createBlocklist(issuer.keys[0]!, { issuerId: issuer.issuerId, version: 50, issuedAt: now, walletIds: [] }).bytes, now);
    expect(r.prune({ now }).journal).toBe(3); // entries 1..3 go, 4 is the link
    await sale(r, 5, now);
    await sale(r, 6, now + 1);
    await syncReader(r, { url: c1.url, issuerKeys: issuer.keySet(), now: now + 2, attempts: 1 }); // batch 2: entries 5..6
    expect(r.deliveredBatches()).toBe(2);
    await c1.close();

    // The clearing is restored from a backup that holds nothing of this journal. The sync cannot resend batch 1.
    const c2 = await start();
    await expect(syncReader(r, { url: c2.url, issuerKeys: issuer.keySet(), now: now + 3, attempts: 1 })).rejects.toMatchObject({ code: 'reader.batch_pruned' });
    // §9.3: "the latest answer counts, lower or higher": the clearing now holds 0 batches.
    const recorded = r.deliveredBatches();

    // The operator restores clearing's copy of batch 1 (the only batch the reader cannot send) ...
    expect((await c2.clearing.ingest(batch1)).outcome).toBe('ingested');
    // ... meanwhile the nightly prune ran with what sync recorded.
    r.prune({ now: now + 4 });
    // Batch 2 (entries 5..6, linked by entry 4) was never held by this clearing: the reader must still be able to send it.
    let sent: unknown;
    try {
      sent = (await syncReader(r, { url: c2.url, issuerKeys: issuer.keySet(), now: now + 5, attempts: 1 })).sent.map((s) => s.batchSeq);
    } catch (e) {
      sent = (e as { code?: string }).code;
    }
    await c2.close();
    expect({ recorded, sent }).toEqual({ recorded: 0, sent: [2] });
  });

  it('still fetches the key set and the blocklist when a batch is reader.batch_pruned (as after a 4xx refusal)', async () => {
    let now = NOW;
    const start = () => startClearingService(issuer, () => now);
    const r = new Reader({ ...vendId, issuerKeys: issuer.keySet(), store: new MemoryReaderStore(), verifier: nodeEd25519(), clock: () => now });
    r.loadBlocklist(createBlocklist(issuer.keys[0]!, { issuerId: issuer.issuerId, version: 1, issuedAt: NOW, walletIds: [] }).bytes, NOW);
    for (let i = 1; i <= 3; i++) await sale(r, 100 + i, NOW + i);
    now = NOW + 100;
    const c1 = await start();
    await syncReader(r, { url: c1.url, issuerKeys: issuer.keySet(), now, attempts: 1 });
    await c1.close();
    now = NOW + 8 * DAY;
    r.prune({ now });
    // The restored clearing has since blocked a wallet caught double spending, and serves a newer list.
    const c2 = await start();
    const thief = new Uint8Array(16).fill(7);
    await c2.clearing.block(thief, 'counter_reuse');
    await c2.clearing.issueBlocklist(issuer, now - 10);
    await c2.clearing.issueBlocklist(issuer, now - 5);
    const err = await syncReader(r, { url: c2.url, issuerKeys: issuer.keySet(), now, attempts: 1 }).then(() => 'ok', (e) => (e as { code?: string }).code);
    const bl = r.blocklistStatus(now);
    await c2.close();
    expect(err).toBe('reader.batch_pruned');
    // A vending reader (whenBlocklistStale: refuse) whose sync always fails here refuses every sale a day later, and
    // a gate runs on the reduced limit taking wallets clearing blocked: the newer list should still be loaded.
    expect(bl.loaded && bl.version).toBeGreaterThan(1);
  });
});

const list = createBlocklist(issuer.keys[0]!, { issuerId: issuer.issuerId, version: 1, issuedAt: NOW, walletIds: [] }).bytes;

function reader(id: typeof vendId, o: Partial<ConstructorParameters<typeof Reader>[0]> = {}): Reader {
  const r = new Reader({ ...id, issuerKeys: issuer.keySet(), store: new MemoryReaderStore(), verifier: nodeEd25519(), clock: () => NOW, ...o });
  r.loadBlocklist(list, NOW);
  return r;
}


describe('Reader.prune at a time outside the reader certificate', () => {
  it('is reader.cert_not_valid, as for openRequest and export', async () => {
    const r = reader(vendId);
    expect(codeOf(() => r.openRequest({ amount: 1, currency: HKD, now: NOW * 1000 }))).toBe('reader.cert_not_valid');
    expect(codeOf(() => r.export(NOW * 1000))).toBe('reader.cert_not_valid');
    expect(codeOf(() => r.prune({ now: NOW * 1000 }))).toBe('reader.cert_not_valid');
    expect(codeOf(() => r.prune({ now: NOW + 0.5 }))).toBe('reader.bad_config');
  });

  it('a now in milliseconds forgets nothing: the daily limit and a recorded tap-out still hold', async () => {
    const limits = { [HKD]: { dailyTotal: 500, staleMaxAmount: 1_000_000 } };
    const kept = reader(vendId, { limits });
    const pruned = reader(vendId, { limits });
    const pay = async (r: Reader, counter: number, now: number) => {
      const challenge = new Uint8Array(8);
      new DataView(challenge.buffer).setUint32(4, counter);
      r.openRequest({ amount: 250, currency: HKD, now, challenge });
      const v = await r.accept(signToken(wallet, { payee: vendId.cert.readerId, amount: 250, counter, time: now, challenge }), { now });
      if (v.accepted) r.complete(v.tokenHash);
      return v.accepted ? 'accepted' : v.reason;
    };
    for (const r of [kept, pruned]) {
      expect(await pay(r, 1, NOW)).toBe('accepted');
      expect(await pay(r, 2, NOW + 10)).toBe('accepted');
    }
    // The nightly job passes milliseconds.
    const p = codeOf(() => pruned.prune({ now: NOW * 1000 + 20_000 }));
    const third = { kept: await pay(kept, 3, NOW + 30), pruned: await pay(pruned, 3, NOW + 30) };

    const gk = reader(gateId, { limits });
    const gp = reader(gateId, { limits });
    const trip = signToken(wallet, { payee: 300, amount: 900, counter: 50, time: NOW });
    for (const g of [gk, gp]) expect((await g.tapOut(trip, { fare: 400, currency: HKD, now: NOW + 60 })).status).toBe('tapped_out');
    codeOf(() => gp.prune({ now: NOW * 1000 }));
    const again = { kept: (await gk.tapOut(trip, { fare: 400, currency: HKD, now: NOW + 120 })).status, pruned: (await gp.tapOut(trip, { fare: 400, currency: HKD, now: NOW + 120 })).status };
    expect({ prune: p, third, again }).toEqual({ prune: 'reader.cert_not_valid', third: { kept: 'daily_limit', pruned: 'daily_limit' }, again: { kept: 'rejected', pruned: 'rejected' } });
  });
});

describe('a damaged tap-out record', () => {
  it('is reader.corrupt_store, whatever the damage', () => {
    const codes: string[] = [];
    for (const bad of [Uint8Array.of(0xff), Uint8Array.of(0x82, 0x01, 0x61, 0x41), Uint8Array.of(0x83, 1, 2, 3)]) {
      const store = new MemoryReaderStore();
      const r = new Reader({ ...gateId, issuerKeys: issuer.keySet(), store, verifier: nodeEd25519(), clock: () => NOW });
      store.transact((tx) => tx.putMeta('tapout:' + '00'.repeat(32), bad));
      try {
        r.prune({ now: NOW });
        codes.push('ok');
      } catch (e) {
        codes.push(e instanceof OffpayError ? e.code : `untyped ${String(e)}`);
      }
    }
    expect(codes).toEqual(['reader.corrupt_store', 'reader.corrupt_store', 'reader.corrupt_store']);
  });
});

describe('a pending sale resumes only at the request it paid', () => {
  it('not at a new request that repeats its challenge, whatever kind', async () => {
    for (const code of [false, true]) {
      const r = reader(vendId);
      const challenge = Uint8Array.of(0, 0, 0, 0, 0, 0x0a, 0xbc, 0xde);
      r.openRequest({ amount: 300, currency: HKD, now: NOW, challenge, ...(code ? { code: true } : {}) });
      const t = signToken(wallet, { payee: vendId.cert.readerId, amount: 300, counter: code ? 2 : 1, time: code ? 0 : NOW, challenge });
      expect((await r.accept(t, { now: NOW })).status).toBe('accepted');
      // Read again while its request is open: it resumes (the machine failed before dispensing).
      expect((await r.accept(t, { now: NOW + 5 })).status).toBe('resumed');
      // The machine gave up on that sale and opened the next one, which draws the same challenge.
      r.openRequest({ amount: 300, currency: HKD, now: NOW + 10, challenge, ...(code ? { code: true } : {}) });
      expect(await r.accept(t, { now: NOW + 12 })).toMatchObject({ accepted: false, reason: 'already_accepted' });
    }
  });
});

/**
 * A reader on a SQLite file syncs batch 1 (entries 1..2), a backup of its file is taken, it sells entries 3..5 and
 * syncs them as batch 2; then its disk dies and the backup comes back and sells `restoredSales` times (7.00 each)
 * before exporting its own batch 2. `then` runs with the restored reader and the clearing service still up.
 */
async function restoredReader(restoredSales: number, then: (r: Reader, svc: { url: string }, now: number) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'offpay-prune-review-'));
  let now = NOW;
  const svc = await startClearingService(issuer, () => now);
  const open = (mode: 'create' | 'open') => {
    const store = mode === 'create' ? SqliteReaderStore.create(join(dir, 'r.db')) : SqliteReaderStore.open(join(dir, 'r.db'));
    return { r: new Reader({ ...vendId, issuerKeys: issuer.keySet(), store, verifier: nodeEd25519(), clock: () => now }), store };
  };
  let { r, store } = open('create');
  try {
    r.loadBlocklist(blocklistAt(1, NOW), NOW);
    for (let i = 1; i <= 2; i++) await sale(r, i, NOW + i);
    await syncReader(r, { url: svc.url, issuerKeys: issuer.keySet(), now: NOW + 10, attempts: 1 });
    store.close();
    copyFileSync(join(dir, 'r.db'), join(dir, 'backup.db'));
    ({ r, store } = open('open'));
    for (let i = 3; i <= 5; i++) await sale(r, i, NOW + 10 + i);
    now = NOW + 100;
    expect((await syncReader(r, { url: svc.url, issuerKeys: issuer.keySet(), now, attempts: 1 })).sent.map((x) => x.batchSeq)).toEqual([2]);
    store.close();
    copyFileSync(join(dir, 'backup.db'), join(dir, 'r.db'));
    ({ r, store } = open('open'));
    for (let i = 0; i < restoredSales; i++) await completedSale(r, wallet, 6 + i, now + 1 + i, 700);
    expect(r.export(now + 10).batch).toMatchObject({ batchSeq: 2, firstSeq: 3 });
    await then(r, svc, now + 11);
  } finally {
    store.close();
    await svc.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('reader sync against a clearing that holds another batch under the number of the reader\'s own', () => {
  it('is refused (sync.bad_answer) when its lastSeq is not where the reader\'s batch ends: nothing recorded as delivered', async () => {
    // The restored reader sells once: its batch 2 is entry 3 alone, the clearing's ends at entry 5.
    await restoredReader(1, async (r, svc, now) => {
      await expect(syncReader(r, { url: svc.url, issuerKeys: issuer.keySet(), now, attempts: 1 })).rejects.toMatchObject({ code: 'sync.bad_answer', message: expect.stringMatching(/batch 2 .* ends at entry 5, this reader's at entry 3/) });
      expect(r.deliveredBatches()).toBe(1); // what the backup recorded; a prune keeps the rows of its batch 2
    });
  });

  it('is refused when it ends at the same entry with another chain hash: a prune keeps the rows the clearing never received', async () => {
    // The restored reader sells as many entries as the lost original did: lastSeq agrees; the head does not.
    await restoredReader(3, async (r, svc, now) => {
      expect(r.exportedBatchRange(2).lastSeq).toBe(5);
      const res = await syncReader(r, { url: svc.url, issuerKeys: issuer.keySet(), now, attempts: 1 }).then(
        (x) => `in sync, ${x.sent.length} sent`,
        (e) => (e as { code?: string }).code,
      );
      const recorded = r.deliveredBatches();
      // The next nightly prune, with the count sync recorded.
      const later = now + 10 * DAY;
      r.loadBlocklist(blocklistAt(2, later), later);
      r.prune({ now: later });
      // The clearing never received the three 7.00 sales: batch 2 is not counted as delivered, and can still go.
      expect({ res, recorded, resend: codeOf(() => r.exportBatch(2)) }).toEqual({ res: 'sync.bad_answer', recorded: 1, resend: 'ok' });
    });
  });
});

describe('Reader.prune with a damaged batch record', () => {
  it('is reader.corrupt_store when the delivered batch\'s record ends past the entries exported (else it deletes rows never exported)', async () => {
    let now = NOW;
    const store = new MemoryReaderStore();
    const r = new Reader({ ...vendId, issuerKeys: issuer.keySet(), store, verifier: nodeEd25519(), clock: () => now });
    r.loadBlocklist(blocklistAt(1, NOW), NOW);
    for (let i = 1; i <= 4; i++) await completedSale(r, wallet, i, NOW + i);
    r.export(NOW + 10); // batch 1: entries 1..4
    r.recordDelivered(1);
    for (let i = 5; i <= 8; i++) await completedSale(r, wallet, i, NOW + 10 + i); // entries 5..8, never exported
    expect(r.exportedThrough()).toBe(4);
    // A damaged record (a flipped byte, a hand edit): batch 1 now "ends" at entry 8.
    store.transact((tx) => tx.putMeta('batch:1', encodeCbor([1, 8, NOW + 10])));
    now = NOW + 10 * DAY;
    r.loadBlocklist(blocklistAt(2, now), now);
    let journal = -1;
    const code = codeOf(() => {
      journal = r.prune({ now }).journal;
    });
    const left = r.entries(1).map((e) => e.seq);
    expect({ code, journal, left }).toMatchObject({ code: 'reader.corrupt_store' });
    expect(left).toEqual(expect.arrayContaining([5, 6, 7, 8])); // entries never exported are all still there
  });
});
