/**
 * Issue 11, clearing half: one test per finding, through the Reader + Wallet library APIs where an honest
 * reader can produce the input, and with reader-signed batches built by hand where only a faulty or dishonest
 * reader could (spec/clearing.md M1-M6).
 */
import { describe, expect, it } from 'vitest';
import { encodeCbor } from '../../src/cbor.js';
import { toHex, walletIdOf } from '../../src/index.js';
import { readerCertToCbor, tokenHash } from '../../src/messages.js';
import { nodeEd25519 } from '../../src/node/crypto.js';
import { Clearing, settle, type SettleRow } from '../../src/clearing/index.js';
import { createBatch, createBlocklist, genesisHash, MemoryReaderStore, Reader, type ReaderOptions } from '../../src/reader/index.js';
import { toJson } from '../../src/cli/framework.js';
import { HKD, NOW, handBatch, makeIssuer, makeReader, makeWallet, signToken, type TestWallet } from '../reader/helpers.js';
import { publicKeyOf, seededSecretKey } from '../../src/index.js';

const issuer = makeIssuer('money');
const list1 = createBlocklist(issuer.keys[0]!, { issuerId: 7, version: 1, issuedAt: NOW, walletIds: [] }).bytes;
const newClearing = (o: { zeroFareOperators?: number[]; maxBatchBytes?: number } = {}) => new Clearing({ issuerKeys: issuer.keySet(), clock: () => NOW + 3600, ...o });

function reader(id: number, profile: 'vending' | 'transit', operatorId: number, extra: Partial<ReaderOptions> = {}) {
  const m = makeReader(issuer, 'money', id, profile, operatorId);
  const r = new Reader({ ...m, issuerKeys: issuer.keySet(), store: new MemoryReaderStore(), verifier: nodeEd25519(), clock: () => NOW, ...extra });
  r.loadBlocklist(list1);
  return { m, r };
}
/** One vending sale: open a request, pay it with the wallet's counter, accept. */
/** Sales made so far: each request gets its own challenge, as a reader's random one would be (spec/clearing.md M9). */
let requests = 0;
async function sell(v: ReturnType<typeof reader>, w: TestWallet, counter: number, amount: number): Promise<Uint8Array> {
  const n = ++requests;
  const challenge = Uint8Array.from([counter >> 8, counter & 0xff, v.m.cert.readerId & 0xff, n >> 16, (n >> 8) & 0xff, n & 0xff, 0, 1]);
  v.r.openRequest({ amount, currency: HKD, now: NOW, challenge });
  const t = signToken(w, { payee: v.m.cert.readerId, amount, counter, challenge });
  expect((await v.r.accept(t, { complete: true })).accepted).toBe(true);
  return t;
}
const J1 = new Uint8Array(8).fill(1);
const J2 = new Uint8Array(8).fill(2);

describe('M1 settle each token once (finding 4)', () => {
  it('a token listed three times in one reader-signed batch settles once, as a reader fault; the customer is not blocked', async () => {
    const m = makeReader(issuer, 'money', 401, 'vending', 90);
    const w = makeWallet(issuer, 'money', 'thrice');
    const t = signToken(w, { payee: 401, amount: 1000, counter: 1, challenge: new Uint8Array(8).fill(4) });
    const e = { kind: 'accept' as const, time: NOW, data: t, value: 1000, request: { challenge: new Uint8Array(8).fill(4), time: NOW } };
    const c = newClearing();
    expect(await c.ingest(handBatch(m, J1, [e, e, e]))).toMatchObject({ outcome: 'ingested', entries: 3, doubleSpends: 0, readerFaults: 1 });
    const rep = await c.report();
    expect(rep.settlement).toEqual([expect.objectContaining({ operatorId: 90, count: 1, gross: 1000n })]);
    expect(rep.doubleSpends).toEqual([]);
    // One finding per (reader, token), shown by the first pair found: entry 2 with entry 1 (spec/clearing.md §4 step 10).
    expect(rep.readerFaults.map((f) => [f.kind, f.readerId, f.first.seq, f.second.seq])).toEqual([['token_listed_twice', 401, 1, 2]]);
    // Listing it again, in another journal of the reader, adds no finding.
    expect(await c.ingest(handBatch(m, J2, [e, e]))).toMatchObject({ outcome: 'ingested', entries: 2, readerFaults: 0 });
    expect(await c.readerFaults()).toHaveLength(1);
    expect(await c.blockedWalletIds()).toEqual([]);
    expect((await c.issueBlocklist(issuer, NOW + 7200)).entries).toBe(0);
  });

  it('the same token in two journals of one reader (a reader restarted on a new journal) is a reader fault, settled once', async () => {
    const m = makeReader(issuer, 'money', 402, 'vending', 90);
    const w = makeWallet(issuer, 'money', 'twojournals');
    const t = signToken(w, { payee: 402, amount: 700, counter: 1, challenge: new Uint8Array(8).fill(4) });
    const e = { kind: 'accept' as const, time: NOW, data: t, value: 700, request: { challenge: new Uint8Array(8).fill(4), time: NOW } };
    const c = newClearing();
    expect(await c.ingest(handBatch(m, J1, [e]))).toMatchObject({ outcome: 'ingested' });
    expect(await c.ingest(handBatch(m, J2, [e]))).toMatchObject({ outcome: 'ingested', readerFaults: 1, doubleSpends: 0 });
    expect((await c.readers()).map((r) => [r.readerId, r.journalId])).toEqual([
      [402, toHex(J1)],
      [402, toHex(J2)],
    ]);
    expect(await c.settlement()).toEqual([expect.objectContaining({ count: 1, gross: 700n })]);
    expect(await c.blockedWalletIds()).toEqual([]);
  });

  it('one operator-bound token at two gates is the customer\'s same_token_twice: settled once (the earliest acceptance), wallet blocked', async () => {
    const g1 = reader(411, 'transit', 300);
    const g2 = reader(412, 'transit', 300);
    const w = makeWallet(issuer, 'money', 'twogates');
    const qr = signToken(w, { payee: 300, amount: 450, counter: 1 });
    expect((await g2.r.accept(qr, { fare: { amount: 450, currency: HKD }, now: NOW })).accepted).toBe(true);
    expect((await g1.r.accept(qr, { fare: { amount: 450, currency: HKD }, now: NOW + 5 })).accepted).toBe(true);
    const b1 = g1.r.export(NOW + 60).bytes;
    const b2 = g2.r.export(NOW + 60).bytes;
    for (const order of [[b1, b2], [b2, b1]]) {
      const c = newClearing();
      for (const b of order) await c.ingest(b);
      const s = await c.settle(true);
      expect(s.lines).toEqual([expect.objectContaining({ operatorId: 300, count: 1, gross: 450n })]);
      expect(s.tokens.map((t) => [t.entry.readerId, t.entry.seq])).toEqual([[412, 1]]); // the earlier one
      expect((await c.doubleSpends()).map((d) => d.kind)).toEqual(['same_token_twice']);
      expect((await c.blockedWalletIds()).map(toHex)).toEqual([toHex(walletIdOf(w.cert.walletPublicKey))]);
      expect(await c.readerFaults()).toEqual([]);
    }
  });
});

describe('M2 the allowance is global (finding 5)', () => {
  it('a modified wallet spending its whole allowance at 4 readers is flagged, reported with every token, blocklisted; merchants are paid', async () => {
    const w = makeWallet(issuer, 'money', 'modified', { offlineAllowance: 50_000, maxPerPayment: 50_000 });
    const honest = makeWallet(issuer, 'money', 'honest', { offlineAllowance: 50_000, maxPerPayment: 50_000 });
    const readers = [421, 422, 423, 424].map((id) => reader(id, 'vending', 90 + (id % 2)));
    // The running total reset before each reader: each alone sees 500.00, within the allowance.
    const sold: Uint8Array[] = [];
    for (let i = 0; i < 4; i++) sold.push(await sell(readers[i]!, w, i + 1, 50_000));
    await sell(readers[0]!, honest, 1, 30_000);
    await sell(readers[1]!, honest, 2, 20_000); // exactly the allowance: not over
    const c = newClearing();
    for (const r of readers) expect((await c.ingest(r.r.export(NOW + 60).bytes)).outcome).toBe('ingested');
    const rep = await c.report();
    expect(rep.totals).toEqual([{ currency: HKD, count: 6, gross: 250_000n, fee: 3750n, refunds: 0, refunded: 0n, net: 246_250n }]);
    expect(rep.overAllowance).toHaveLength(1);
    const o = rep.overAllowance[0]!;
    expect(o).toMatchObject({ walletId: toHex(walletIdOf(w.cert.walletPublicKey)), currency: HKD, allowance: 50_000n, settled: 200_000n, exposure: 150_000n });
    expect(o.tokens.map((t) => [t.entry.readerId, t.charge])).toEqual([
      [421, 50_000n],
      [422, 50_000n],
      [423, 50_000n],
      [424, 50_000n],
    ]);
    expect(rep.exposure).toEqual([{ currency: HKD, amount: 150_000n }]);
    // Evidence: the wallet-signed tokens themselves, as the readers uploaded them.
    expect(o.tokens.map((t) => t.token)).toEqual(sold.map(toHex));
    // Not yet on the list: it joins at the next issue, with the double spenders.
    expect(await c.blockedWalletIds()).toEqual([]);
    const list = await c.issueBlocklist(issuer, NOW + 7200);
    expect(list.entries).toBe(1);
    expect((await c.blockedWalletIds()).map(toHex)).toEqual([toHex(walletIdOf(w.cert.walletPublicKey))]);
  });

  it('counts each certificate on its own: a renewed certificate starts a new allowance', async () => {
    const w = makeWallet(issuer, 'money', 'renewed', { offlineAllowance: 1000, maxPerPayment: 1000 });
    const renewed = { ...w, cert: issuer.issueWalletCert({ ...w.cert, expiryDay: w.cert.expiryDay + 1 }, NOW) };
    const a = reader(431, 'vending', 90);
    const b = reader(432, 'vending', 90);
    await sell(a, w, 1, 1000);
    await sell(b, renewed, 2, 1000);
    const c = newClearing();
    await c.ingest(a.r.export(NOW + 60).bytes);
    await c.ingest(b.r.export(NOW + 60).bytes);
    expect((await c.report()).overAllowance).toEqual([]);
  });
});

describe('M3 every trip is charged (finding 3)', () => {
  const w = makeWallet(issuer, 'money', 'rider');
  it('tap in at A, tap out at C for 4.00, ride on, tap out at B for 35.00: settles 35.00 whatever the arrival order', async () => {
    const a = reader(441, 'transit', 300);
    const cGate = reader(442, 'transit', 300);
    const b = reader(443, 'transit', 300);
    const trip = signToken(w, { payee: 300, amount: 3500, counter: 1 });
    expect((await a.r.accept(trip, { tapIn: { maxFare: 3500, currency: HKD } })).accepted).toBe(true);
    expect((await cGate.r.tapOut(trip, { fare: 400, currency: HKD, now: NOW + 600 })).accepted).toBe(true);
    expect((await b.r.tapOut(trip, { fare: 3500, currency: HKD, now: NOW + 2400 })).accepted).toBe(true);
    const batches = [a, cGate, b].map((g) => g.r.export(NOW + 3000).bytes);
    for (const order of [[0, 1, 2], [2, 1, 0], [1, 0, 2]]) {
      const c = newClearing();
      for (const i of order) await c.ingest(batches[i]!);
      const rep = await c.report();
      expect(rep.settlement).toEqual([expect.objectContaining({ operatorId: 300, count: 1, gross: 3500n })]);
      expect(rep.multipleTapOuts).toHaveLength(1);
      expect(rep.multipleTapOuts[0]!.tapOuts.map((t) => [t.readerId, t.value])).toEqual([
        [442, 400],
        [443, 3500],
      ]);
    }
  });

  it('a tap-out without a tap-in is charged the maximum fare to the exit operator; when the tap-in arrives it is an ordinary trip', async () => {
    const entry = reader(451, 'transit', 300);
    const exit = reader(452, 'transit', 300);
    const trip = signToken(w, { payee: 300, amount: 2000, counter: 2 });
    expect((await entry.r.accept(trip, { tapIn: { maxFare: 2000, currency: HKD } })).accepted).toBe(true);
    expect((await exit.r.tapOut(trip, { fare: 650, currency: HKD, now: NOW + 900 })).accepted).toBe(true);
    const c = newClearing();
    await c.ingest(exit.r.export(NOW + 1000).bytes);
    let rep = await c.report();
    expect(rep.settlement).toEqual([expect.objectContaining({ operatorId: 300, count: 1, gross: 2000n })]);
    expect(rep.tapOutsWithoutTapIn.map((t) => [t.entry.readerId, t.charge])).toEqual([[452, 2000n]]);
    await c.ingest(entry.r.export(NOW + 1000).bytes);
    rep = await c.report();
    expect(rep.settlement).toEqual([expect.objectContaining({ count: 1, gross: 650n })]);
    expect(rep.tapOutsWithoutTapIn).toEqual([]);
    expect(rep.openTrips).toEqual([]);
  });

  it('a tap-in with no tap-out settles at its maximum and is listed as an open trip', async () => {
    const g = reader(461, 'transit', 300);
    const trip = signToken(w, { payee: 300, amount: 2500, counter: 3 });
    expect((await g.r.accept(trip, { tapIn: { maxFare: 2500, currency: HKD } })).accepted).toBe(true);
    const c = newClearing();
    await c.ingest(g.r.export(NOW + 60).bytes);
    const rep = await c.report();
    expect(rep.settlement).toEqual([expect.objectContaining({ gross: 2500n })]);
    expect(rep.openTrips.map((t) => [t.entry.readerId, t.charge])).toEqual([[461, 2500n]]);
    expect(rep.tripsAtMaximumFare).toBe(1);
  });

  it('a zero fare is never a charge unless the operator allows zero fares; it is reported', async () => {
    const entry = reader(471, 'transit', 300);
    const exit = reader(472, 'transit', 300, { profile: { allowZeroFare: true } });
    const trip = signToken(w, { payee: 300, amount: 1800, counter: 4 });
    expect((await entry.r.accept(trip, { tapIn: { maxFare: 1800, currency: HKD } })).accepted).toBe(true);
    expect((await exit.r.tapOut(trip, { fare: 0, currency: HKD, now: NOW + 300 })).accepted).toBe(true);
    const batches = [entry, exit].map((g) => g.r.export(NOW + 400).bytes);
    const strict = newClearing();
    for (const b of batches) await strict.ingest(b);
    let rep = await strict.report();
    expect(rep.settlement).toEqual([expect.objectContaining({ gross: 1800n })]);
    expect(rep.zeroFareTapOuts.map((e) => [e.readerId, e.value])).toEqual([[472, 0]]);
    const free = newClearing({ zeroFareOperators: [300] });
    for (const b of batches) await free.ingest(b);
    rep = await free.report();
    expect(rep.settlement).toEqual([expect.objectContaining({ count: 1, gross: 0n })]);
    expect(rep.zeroFareTapOuts).toEqual([]);
  });

  it('a tap-out by a reader of another operator is not that trip\'s fare', async () => {
    const a = makeReader(issuer, 'money', 481, 'transit', 300);
    const other = makeReader(issuer, 'money', 482, 'transit', 301);
    const trip = signToken(w, { payee: 300, amount: 3000, counter: 5 });
    const c = newClearing();
    await c.ingest(handBatch(a, J1, [{ kind: 'tap_in', time: NOW, data: trip, value: 3000 }]));
    // Payee 300 is not reader 482 nor its operator 301: its tap-out does not even verify there.
    expect(await c.ingest(handBatch(other, J1, [{ kind: 'tap_out', time: NOW + 60, data: trip, value: 100 }]))).toMatchObject({ invalidTokens: 1 });
    expect(await c.settlement()).toEqual([expect.objectContaining({ operatorId: 300, gross: 3000n })]);
  });
});

describe('M4 certificates bind (findings 7 and 8)', () => {
  const shortCert = (id: number, operatorId: number, notBefore: number, notAfter: number) => {
    const secretKey = seededSecretKey('money', `reader-${id}`);
    const cert = issuer.issueReaderCert({ readerId: id, readerPublicKey: publicKeyOf(secretKey), operatorId, profile: 'vending', notBefore, notAfter }, NOW - 86400);
    return { secretKey, cert };
  };
  const w = makeWallet(issuer, 'money', 'certs');
  const sale = (payee: number, counter: number, time: number) => ({
    kind: 'accept' as const, time, data: signToken(w, { payee, amount: 100 * counter, counter, time, challenge: new Uint8Array(8).fill(counter) }), value: 100 * counter,
    request: { challenge: new Uint8Array(8).fill(counter), time },
  });

  it('a batch created after its certificate expired is rejected; entries dated outside it are stored invalid and never settled', async () => {
    const m = shortCert(501, 90, NOW - 3600, NOW + 3600);
    const c = newClearing();
    expect(await c.ingest(handBatch(m, J1, [sale(501, 1, NOW)], NOW + 30 * 86400))).toMatchObject({ outcome: 'rejected', error: { code: 'clearing.reader_cert_not_valid' } });
    // Created inside the validity, but one entry dated 30 days after expiry (a reader whose clock or certificate check failed).
    const r = await c.ingest(handBatch(m, J1, [sale(501, 1, NOW), sale(501, 2, NOW + 30 * 86400)], NOW + 60));
    expect(r).toMatchObject({ outcome: 'ingested', entries: 2, invalidTokens: 1 });
    expect((await c.report()).invalidTokens).toEqual([{ readerId: 501, journalId: toHex(J1), seq: 2, reason: 'reader_cert_not_valid' }]);
    expect(await c.settlement()).toEqual([expect.objectContaining({ count: 1, gross: 100n })]);
  });

  it('a re-certified reader (operator 90 -> 91): old sales settle to 90, new ones to 91', async () => {
    const old = makeReader(issuer, 'money', 511, 'vending', 90);
    const store = new MemoryReaderStore();
    const r1 = new Reader({ ...old, issuerKeys: issuer.keySet(), store, verifier: nodeEd25519(), clock: () => NOW });
    r1.loadBlocklist(list1);
    await sell({ m: old, r: r1 }, w, 10, 1000);
    const b1 = r1.export(NOW + 10).bytes;
    const recert = { secretKey: old.secretKey, cert: issuer.issueReaderCert({ ...old.cert, operatorId: 91 }, NOW) };
    const r2 = new Reader({ ...recert, issuerKeys: issuer.keySet(), store, verifier: nodeEd25519(), clock: () => NOW });
    await sell({ m: recert, r: r2 }, w, 11, 2000);
    const b2 = r2.export(NOW + 20).bytes;
    for (const order of [[b1, b2], [b2, b1]]) {
      const c = newClearing();
      for (const b of order) expect((await c.ingest(b)).outcome).toBe('ingested');
      expect((await c.settlement()).map((l) => [l.operatorId, l.gross])).toEqual([
        [90, 1000n],
        [91, 2000n],
      ]);
    }
  });

  it('the outcome does not depend on which batch delivered an entry first, when only one certificate covered it', async () => {
    const early = shortCert(521, 90, NOW - 3600, NOW + 100);
    const late = { secretKey: early.secretKey, cert: issuer.issueReaderCert({ ...early.cert, operatorId: 91, notBefore: NOW + 101, notAfter: NOW + 86400 }, NOW) };
    const e = sale(521, 20, NOW);
    const viaLate = handBatch(late, J1, [e], NOW + 200, 2); // the same entry re-exported under the new certificate
    const viaEarly = handBatch(early, J1, [e], NOW + 50, 1);
    for (const order of [[viaLate, viaEarly], [viaEarly, viaLate]]) {
      const c = newClearing();
      for (const b of order) expect((await c.ingest(b)).outcome).toBe('ingested');
      expect((await c.settlement()).map((l) => [l.operatorId, l.gross])).toEqual([[90, 2000n]]);
      expect((await c.report()).invalidTokens).toEqual([]);
    }
  });
});

describe('M5 bounded input (finding 12)', () => {
  const m = makeReader(issuer, 'money', 531, 'vending', 90);
  /** A batch frame around `entries` bytes with `count` in the array head, and a bogus signature. */
  function frame(count: number, entries: Uint8Array): Uint8Array {
    const head = encodeCbor([8, 2, readerCertToCbor(m.cert), J1, 1, 1, new Uint8Array(32), new Uint8Array(32)]).subarray(1);
    const n = count < 24 ? Uint8Array.of(0x80 + count) : count < 0x10000 ? Uint8Array.of(0x99, count >> 8, count & 0xff) : Uint8Array.of(0x9a, count >>> 24, (count >> 16) & 0xff, (count >> 8) & 0xff, count & 0xff);
    const tail = encodeCbor([NOW, new Uint8Array(64)]).subarray(1);
    const out = new Uint8Array(1 + head.length + n.length + entries.length + tail.length);
    out[0] = 0x8b;
    out.set(head, 1);
    out.set(n, 1 + head.length);
    out.set(entries, 1 + head.length + n.length);
    out.set(tail, 1 + head.length + n.length + entries.length);
    return out;
  }

  it('refuses a 40 MB batch by its size, before reading anything in it', async () => {
    const big = new Uint8Array(40 * 1024 * 1024); // zeros: not even CBOR
    const c = newClearing();
    expect(await c.ingest(big)).toMatchObject({ outcome: 'rejected', error: { code: 'clearing.too_large' } });
    expect((await c.report()).problems).toEqual([]);
  });

  it('refuses a batch of a million tiny bogus entries by its entry count', async () => {
    const one = encodeCbor([1, 0, 0, new Uint8Array(0), 0]); // 6 bytes
    const entries = new Uint8Array(one.length * 1_000_000);
    for (let i = 0; i < 1_000_000; i++) entries.set(one, i * one.length);
    const bytes = frame(1_000_000, entries);
    expect(bytes.length).toBeLessThan(8 * 1024 * 1024);
    expect(await newClearing().ingest(bytes)).toMatchObject({ outcome: 'rejected', error: { code: 'clearing.too_many_entries' } });
  });

  it('verifies the reader signature over the raw bytes before decoding any entry', async () => {
    // Entries whose heads walk but which are no journal entries at all: a bad signature is found first.
    const junk = encodeCbor([[1, 2, [3, [4]]], 'x']);
    expect(await newClearing().ingest(frame(2, junk.subarray(1)))).toMatchObject({ error: { code: 'clearing.bad_batch_signature' } });
    expect(await newClearing().ingest(frame(1, encodeCbor(['not an entry'])))).toMatchObject({ error: { code: 'clearing.bad_batch_signature' } });
    // Signed by the reader, the same junk is a typed bad_batch after the signature check.
    const signed = createBatch(m, { readerCert: m.cert, journalId: J1, batchSeq: 1, firstSeq: 1, prevHead: genesisHash(531, J1), head: genesisHash(531, J1), entries: [], createdAt: NOW }).bytes;
    expect(await newClearing().ingest(signed)).toMatchObject({ outcome: 'ingested', entries: 0 });
  });

  it('a reader that lists one token 10,000 times, or a wallet counter under 1,500 tokens, makes one finding each, not a row per pair (review 2026-12-06)', async () => {
    // Before: a finding per pair of entries, N(N - 1)/2 rows: about 50 million for this batch, which ran
    // clearing out of memory (spec/clearing.md §4 step 10).
    const r1 = makeReader(issuer, 'money', 541, 'transit', 300);
    const r2 = makeReader(issuer, 'money', 542, 'transit', 300);
    const w = makeWallet(issuer, 'money', 'lister');
    const t = signToken(w, { payee: 300, amount: 100, counter: 1 });
    const c = newClearing();
    const e = { kind: 'accept' as const, time: NOW, data: t, value: 100 };
    expect(await c.ingest(handBatch(r1, J1, Array.from({ length: 10_000 }, () => e)))).toMatchObject({ outcome: 'ingested', entries: 10_000, doubleSpends: 0, readerFaults: 1 });
    expect(await c.ingest(handBatch(r1, J2, Array.from({ length: 5_000 }, () => e)))).toMatchObject({ outcome: 'ingested', entries: 5_000, readerFaults: 0 });
    // A copied wallet key signs 1,500 tokens of one counter; its reader lists each (counter_reuse, once), another
    // gate lists them again (same_token_twice, once; the counter reuse is held already).
    const sales = Array.from({ length: 1_500 }, (_, i) => ({ kind: 'accept' as const, time: NOW, data: signToken(w, { payee: 300, amount: 100 + i, counter: 2 }), value: 100 + i }));
    expect(await c.ingest(handBatch(r1, new Uint8Array(8).fill(3), sales))).toMatchObject({ outcome: 'ingested', invalidTokens: 0, doubleSpends: 1, readerFaults: 0 });
    expect(await c.ingest(handBatch(r2, J1, sales))).toMatchObject({ outcome: 'ingested', invalidTokens: 0, doubleSpends: 1, readerFaults: 0 });
    const rep = await c.report();
    expect(rep.readerFaults.map((f) => [f.readerId, f.first.seq, f.second.seq])).toEqual([[541, 1, 2]]);
    expect(rep.doubleSpends.map((d) => [d.kind, d.counter, d.first.readerId, d.first.seq, d.second.readerId, d.second.seq])).toEqual([
      ['counter_reuse', 2, 541, 1, 541, 2],
      ['same_token_twice', 2, 541, 1, 542, 1],
    ]);
    expect(rep.settlement).toEqual([expect.objectContaining({ count: 1501 })]);
    expect(await c.blocklistEntries()).toEqual([expect.objectContaining({ reason: 'counter_reuse' })]);
  });

  it('options are validated: maxBatchBytes out of range is a typed error', () => {
    expect(() => newClearing({ maxBatchBytes: 10 })).toThrow(expect.objectContaining({ code: 'clearing.bad_option' }));
    expect(newClearing({ maxBatchBytes: 64 * 1024 * 1024 }).maxBatchBytes).toBe(64 * 1024 * 1024);
  });
});

describe('M6 amounts never overflow (finding 13)', () => {
  it('settles lines past 2^53 exactly and prints them as decimal strings', () => {
    const big = 2 ** 52 + 1;
    const rows: SettleRow[] = [1, 2, 3].map((counter) => ({
      readerId: 601, journalId: toHex(J1), seq: counter, kind: 0, time: NOW, value: big, amount: big, tokenHash: new Uint8Array(32).fill(counter),
      operatorId: 90, walletKey: 1, walletId: new Uint8Array(16).fill(1), counter, currency: HKD, certKey: 1, allowance: Number.MAX_SAFE_INTEGER, voided: false,
    }));
    const s = settle(rows, { feeBps: 150 });
    const gross = 3n * BigInt(big);
    expect(s.lines).toEqual([{ operatorId: 90, currency: HKD, count: 3, gross, feeBps: 150, fee: (gross * 150n + 5000n) / 10000n, net: gross - (gross * 150n + 5000n) / 10000n }]);
    expect(gross > BigInt(Number.MAX_SAFE_INTEGER)).toBe(true);
    expect(s.overAllowance[0]).toMatchObject({ settled: gross, exposure: gross - BigInt(Number.MAX_SAFE_INTEGER) });
    expect(JSON.parse(toJson(s.lines))[0]).toMatchObject({ gross: gross.toString(), fee: expect.any(String), net: expect.any(String) });
  });

  it('through ingest: three sales of the largest amount (2^32 - 1) at three readers add up exactly, past 2^32', async () => {
    // v2 bounds amounts and limits by 2^32 - 1 (spec/protocol.md §9.3); sums over many tokens are bigint.
    const big = 2 ** 32 - 1;
    const w = makeWallet(issuer, 'money', 'whale', { maxPerPayment: big, offlineAllowance: big });
    const c = newClearing();
    for (let i = 0; i < 3; i++) {
      const m = makeReader(issuer, 'money', 611 + i, 'vending', 90);
      const t = signToken(w, { payee: 611 + i, amount: big, counter: i + 1, challenge: new Uint8Array(8).fill(i + 1) });
      expect((await c.ingest(handBatch(m, J1, [{ kind: 'accept', time: NOW, data: t, value: big, request: { challenge: new Uint8Array(8).fill(i + 1), time: NOW } }]))).invalidTokens).toBe(0);
    }
    const rep = await c.report();
    expect(rep.settlement[0]!.gross).toBe(3n * BigInt(big));
    expect(JSON.parse(toJson(rep)).settlement[0].gross).toBe((3n * BigInt(big)).toString());
  });
});

describe('a conflict entry blocks only with a second token (attack review, 2026-12-06)', () => {
  it('a merchant cannot block a customer who paid it once: a conflict of the same bytes, or alone, blocks nothing; with other bytes of that counter it is counter_reuse, in either order', async () => {
    const m = makeReader(issuer, 'money', 7101, 'vending', 90);
    const w = makeWallet(issuer, 'money', 'conflict-victim');
    const t1 = signToken(w, { payee: 7101, amount: 100, counter: 1 });
    const t2 = signToken(w, { payee: 7101, amount: 200, counter: 1 }); // the same counter, other bytes: a clone
    const wid = toHex(walletIdOf(w.cert.walletPublicKey));
    const blocked = async (batches: Uint8Array[]) => {
      const c = newClearing();
      for (const b of batches) expect((await c.ingest(b)).outcome).toBe('ingested');
      const rep = await c.report();
      return { blocked: (await c.blocklistEntries()).map((e) => `${e.walletId}:${e.reason}`), pairs: rep.doubleSpends.map((d) => d.kind) };
    };
    // The same bytes listed as a conflict after their sale, or a conflict alone: no evidence of any reuse.
    expect(await blocked([handBatch(m, J1, [{ kind: 'accept', time: NOW, data: t1, value: 100 }, { kind: 'conflict', time: NOW + 1, data: t1, value: 32 }])])).toEqual({ blocked: [], pairs: [] });
    expect(await blocked([handBatch(m, J2, [{ kind: 'conflict', time: NOW + 1, data: t1, value: 32 }])])).toEqual({ blocked: [], pairs: [] });
    // A real reuse: the sale, then the conflict of other bytes; and the conflict's batch first (another journal).
    expect(await blocked([handBatch(m, J1, [{ kind: 'accept', time: NOW, data: t1, value: 100 }, { kind: 'conflict', time: NOW + 1, data: t2, value: 32 }])])).toEqual({ blocked: [`${wid}:counter_reuse`], pairs: ['counter_reuse'] });
    expect(await blocked([handBatch(m, J2, [{ kind: 'conflict', time: NOW + 1, data: t2, value: 32 }]), handBatch(m, J1, [{ kind: 'accept', time: NOW, data: t1, value: 100 }])])).toEqual({ blocked: [`${wid}:counter_reuse`], pairs: ['counter_reuse'] });
  });
});

describe('void and evidence', () => {
  it('a void by the same journal removes the sale; a void by another reader does not', async () => {
    const m = makeReader(issuer, 'money', 701, 'vending', 90);
    const o = makeReader(issuer, 'money', 702, 'vending', 90);
    const w = makeWallet(issuer, 'money', 'voids');
    const t = signToken(w, { payee: 701, amount: 300, counter: 1, challenge: new Uint8Array(8).fill(7) });
    const c = newClearing();
    await c.ingest(handBatch(o, J1, [{ kind: 'void', time: NOW, data: tokenHash(t), value: 300 }]));
    await c.ingest(handBatch(m, J1, [{ kind: 'accept', time: NOW, data: t, value: 300, request: { challenge: new Uint8Array(8).fill(7), time: NOW } }]));
    expect(await c.settlement()).toEqual([expect.objectContaining({ gross: 300n })]);
    await c.ingest(handBatch(m, J2, [{ kind: 'void', time: NOW, data: tokenHash(t), value: 300 }]));
    expect(await c.settlement()).toEqual([expect.objectContaining({ gross: 300n })]); // another journal of the reader: not its sale
    const c2 = newClearing();
    await c2.ingest(handBatch(m, J1, [{ kind: 'accept', time: NOW, data: t, value: 300, request: { challenge: new Uint8Array(8).fill(7), time: NOW } }, { kind: 'void', time: NOW + 5, data: tokenHash(t), value: 300 }]));
    expect(await c2.settlement()).toEqual([]);
  });
});
