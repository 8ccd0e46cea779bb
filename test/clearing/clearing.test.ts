import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeToken, toHex, walletIdOf } from '../../src/index.js';
import { tokenHash } from '../../src/messages.js';
import { verifyToken } from '../../src/verify.js';
import { checkTokenJob, checkTokenJobs } from '../../src/clearing/pool.js';
import { nodeEd25519 } from '../../src/node/crypto.js';
import { Clearing, feeFor, roundHalfEvenDiv } from '../../src/clearing/index.js';
import { createBlocklist, MemoryReaderStore, Reader, decodeBatch, type JournalEntry } from '../../src/reader/index.js';
import { encodeCbor } from '../../src/cbor.js';
import { HKD, NOW, makeIssuer, makeReader, makeWallet, signToken, type TestWallet } from '../reader/helpers.js';

const issuer = makeIssuer('clearing');
const list1 = createBlocklist(issuer.keys[0]!, { issuerId: 7, version: 1, issuedAt: NOW, walletIds: [] }).bytes;

function vending(id: number, operatorId = 90) {
  const m = makeReader(issuer, 'cl', id, 'vending', operatorId);
  const r = new Reader({ ...m, issuerKeys: issuer.keySet(), store: new MemoryReaderStore(), verifier: nodeEd25519(), clock: () => NOW });
  r.loadBlocklist(list1);
  /** Open a request on the reader (the one a token must answer) and return it. */
  const request = (amount: number, c = 1, now = NOW) => r.openRequest({ amount, currency: HKD, now, challenge: new Uint8Array(8).fill(c) }).request;
  return { m, r, request };
}
function gate(id: number, operatorId = 300) {
  const m = makeReader(issuer, 'cl', id, 'transit', operatorId);
  const r = new Reader({ ...m, issuerKeys: issuer.keySet(), store: new MemoryReaderStore(), verifier: nodeEd25519(), clock: () => NOW });
  r.loadBlocklist(list1);
  return { m, r };
}
const newClearing = () => new Clearing({ issuerKeys: issuer.keySet(), clock: () => NOW + 3600 });

/** accept() arguments for a vending sale: opens a request of its own on the reader (one payment per request). */
function sale(v: ReturnType<typeof vending>, w: TestWallet, counter: number, amount: number): [Uint8Array, { complete: boolean }] {
  const challenge = Uint8Array.from([...walletIdOf(w.cert.walletPublicKey).subarray(0, 4), counter >> 8, counter & 0xff, amount >> 8, amount & 0xff]);
  v.r.openRequest({ amount, currency: HKD, now: NOW, challenge });
  return [signToken(w, { payee: v.m.cert.readerId, amount, counter, challenge }), { complete: false }];
}

describe('fees', () => {
  it('rounds half to even on the line total', () => {
    expect(feeFor(10_000n, 150)).toEqual({ fee: 150n, net: 9850n });
    expect(feeFor(100n, 150)).toEqual({ fee: 2n, net: 98n }); // 1.5 -> 2
    expect(feeFor(300n, 150)).toEqual({ fee: 4n, net: 296n }); // 4.5 -> 4
    expect(feeFor(33n, 150)).toEqual({ fee: 0n, net: 33n }); // 0.495 -> 0
    expect(feeFor(0n, 150)).toEqual({ fee: 0n, net: 0n });
    expect(feeFor(BigInt(Number.MAX_SAFE_INTEGER), 10_000)).toEqual({ fee: BigInt(Number.MAX_SAFE_INTEGER), net: 0n });
    // Past 2^53 (a line of many large tokens): exact. 2^64 x 1.5% = 276701161105643274.24 -> ...274.
    expect(feeFor(2n ** 64n, 150)).toEqual({ fee: 276701161105643274n, net: 2n ** 64n - 276701161105643274n });
    expect(() => feeFor(1n, 10_001)).toThrow(expect.objectContaining({ code: 'clearing.bad_fee' }));
  });
  it('matches exact rational rounding (property)', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 10n ** 18n }), fc.bigInt({ min: 1n, max: 10n ** 6n }), (n, d) => {
        const q = roundHalfEvenDiv(n, d);
        // |n/d - q| <= 1/2, and on an exact half q is even.
        const diff2 = 2n * n - 2n * q * d; // 2d(n/d - q)
        expect(diff2 <= d && diff2 >= -d).toBe(true);
        if (diff2 === d || diff2 === -d) expect(q % 2n).toBe(0n);
      }),
      { numRuns: 500, seed: 11 },
    );
  });
});

describe('Clearing', () => {
  it('settles per merchant and currency, net of voids, trips at the tap-out fare', async () => {
    const a = vending(101, 90);
    const b = vending(102, 91);
    const g = gate(201, 300);
    const x = gate(202, 300);
    const w = makeWallet(issuer, 'cl', 'w1');
    const v = makeWallet(issuer, 'cl', 'w2');
    expect((await a.r.accept(...sale(a, w, 1, 1250))).accepted).toBe(true);
    expect((await a.r.accept(...sale(a, v, 1, 750))).accepted).toBe(true);
    const voidMe = sale(a, v, 2, 300);
    expect((await a.r.accept(...voidMe)).accepted).toBe(true);
    a.r.void((await a.r.accept(...voidMe)).tokenHash, NOW + 10);
    expect((await b.r.accept(...sale(b, w, 2, 990))).accepted).toBe(true);
    const trip = signToken(w, { payee: 300, amount: 2000, counter: 3 });
    expect((await g.r.accept(trip, { tapIn: { maxFare: 2000, currency: HKD } })).accepted).toBe(true);
    expect((await x.r.tapOut(trip, { fare: 650, currency: HKD, now: NOW + 900 })).accepted).toBe(true);
    const trip2 = signToken(v, { payee: 300, amount: 2000, counter: 3 });
    expect((await g.r.accept(trip2, { tapIn: { maxFare: 2000, currency: HKD } })).accepted).toBe(true); // never taps out
    expect((await g.r.accept(signToken(v, { payee: 300, amount: 450, counter: 4 }), { fare: { amount: 450, currency: HKD } })).accepted).toBe(true);

    const c = newClearing();
    for (const r of [x.r, g.r, b.r, a.r]) expect(await c.ingest(r.export(NOW + 1000).bytes)).toMatchObject({ outcome: 'ingested', invalidTokens: 0, doubleSpends: 0 });
    const rep = await c.report();
    expect(rep.settlement).toEqual([
      { operatorId: 90, currency: HKD, count: 2, gross: 2000n, feeBps: 150, fee: 30n, refunds: 0, refunded: 0n, net: 1970n },
      { operatorId: 91, currency: HKD, count: 1, gross: 990n, feeBps: 150, fee: 15n, refunds: 0, refunded: 0n, net: 975n }, // 14.85 -> 15
      { operatorId: 300, currency: HKD, count: 3, gross: 650n + 2000n + 450n, feeBps: 150, fee: 46n, refunds: 0, refunded: 0n, net: 3054n }, // 46.5 -> 46
    ]);
    expect(rep.voided).toBe(1);
    expect(rep.tripsAtMaximumFare).toBe(1);
    expect(rep.doubleSpends).toEqual([]);
    expect(rep.readers.map((r) => [r.readerId, r.entries, r.gaps])).toEqual([
      [101, 4, []],
      [102, 1, []],
      [201, 3, []],
      [202, 1, []],
    ]);
  });

  it('is idempotent: the same batch twice, overlapping re-exports, any order; reports and closes gaps', async () => {
    const a = vending(111);
    const w = makeWallet(issuer, 'cl', 'w3');
    const batches: Uint8Array[] = [];
    for (let k = 0; k < 4; k++) {
      for (let j = 1; j <= 3; j++) await a.r.accept(...sale(a, w, k * 3 + j, 100));
      batches.push(a.r.export(NOW + k).bytes);
    }
    const c = newClearing();
    expect(await c.ingest(batches[3]!)).toMatchObject({ outcome: 'ingested', entries: 3 });
    expect((await c.readers())[0]!.gaps).toEqual([[1, 9]]);
    expect(await c.ingest(batches[1]!)).toMatchObject({ outcome: 'ingested', entries: 3 });
    expect((await c.readers())[0]!.gaps).toEqual([
      [1, 3],
      [7, 9],
    ]);
    expect(await c.ingest(batches[1]!)).toMatchObject({ outcome: 'duplicate', entries: 0 });
    expect(await c.ingest(batches[0]!)).toMatchObject({ outcome: 'ingested' });
    expect(await c.ingest(batches[2]!)).toMatchObject({ outcome: 'ingested' });
    expect((await c.readers())[0]).toMatchObject({ entries: 12, lastSeq: 12, gaps: [] });
    // A re-created batch is the same bytes: duplicate. The settlement counts each sale once.
    expect(await c.ingest(a.r.exportBatch(2).bytes)).toMatchObject({ outcome: 'duplicate' });
    expect(await c.settlement()).toEqual([expect.objectContaining({ count: 12, gross: 1200n })]);
  });

  it('catches a cloned wallet across readers, keeps both signed tokens, and blocklists it', async () => {
    const a = vending(121);
    const b = vending(122);
    const w = makeWallet(issuer, 'cl', 'cloned');
    // Both copies of the wallet spend counter 1: one at each reader. Each reader alone sees nothing wrong.
    const t1 = signToken(w, { payee: 121, amount: 500, counter: 1, challenge: new Uint8Array(8).fill(1) });
    const t2 = signToken(w, { payee: 122, amount: 800, counter: 1, challenge: new Uint8Array(8).fill(1) });
    expect((await a.r.accept(t1, { request: a.request(500) })).accepted).toBe(true);
    expect((await b.r.accept(t2, { request: b.request(800) })).accepted).toBe(true);
    const c = newClearing();
    expect(await c.ingest(a.r.export().bytes)).toMatchObject({ doubleSpends: 0 });
    expect(await c.ingest(b.r.export().bytes)).toMatchObject({ doubleSpends: 1 });
    const ds = await c.doubleSpends();
    expect(ds).toHaveLength(1);
    expect(ds[0]).toMatchObject({ kind: 'counter_reuse', walletId: toHex(walletIdOf(w.cert.walletPublicKey)), counter: 1 });
    expect([ds[0]!.first.token, ds[0]!.second.token].sort()).toEqual([toHex(t1), toHex(t2)].sort());
    // The blocklist goes to the readers; the clone is refused from then on.
    const list = await c.issueBlocklist(issuer, NOW + 3600);
    expect(list).toMatchObject({ version: 1, entries: 1 });
    const fresh = vending(123);
    const r3 = new Reader({ ...fresh.m, issuerKeys: issuer.keySet(), store: new MemoryReaderStore(), verifier: nodeEd25519(), clock: () => NOW + 3600 });
    r3.loadBlocklist(list.bytes);
    const t3 = signToken(w, { payee: 123, amount: 100, counter: 2, challenge: new Uint8Array(8).fill(1), time: NOW + 3600 });
    r3.openRequest({ amount: 100, currency: HKD, now: NOW + 3600, challenge: new Uint8Array(8).fill(1) });
    expect(await r3.accept(t3)).toMatchObject({ accepted: false, reason: 'blocklisted' });
    expect((await c.issueBlocklist(issuer, NOW + 7200)).version).toBe(2);
  });

  it('finds one token taken at two readers of the same operator, and reader-reported conflicts', async () => {
    const g1 = gate(211, 300);
    const g2 = gate(212, 300);
    const w = makeWallet(issuer, 'cl', 'qr');
    const qr = signToken(w, { payee: 300, amount: 450, counter: 1 }); // operator-bound one-way QR, shown twice
    const fare = { amount: 450, currency: HKD };
    expect((await g1.r.accept(qr, { fare })).accepted).toBe(true);
    expect((await g2.r.accept(qr, { fare })).accepted).toBe(true);
    const a = vending(131);
    const z = makeWallet(issuer, 'cl', 'z');
    await a.r.accept(signToken(z, { payee: 131, amount: 100, counter: 9, challenge: new Uint8Array(8).fill(1) }), { request: a.request(100) });
    // The clone answers the next request (challenge 2) with the same counter: other bytes, recorded as a conflict
    // whose entry carries that request's context, so clearing can verify the evidence too.
    expect(await a.r.accept(signToken(z, { payee: 131, amount: 100, counter: 9, challenge: new Uint8Array(8).fill(2) }), { request: a.request(100, 2) })).toMatchObject({ reason: 'replayed' });
    expect(a.r.entries().map((e) => [e.kind, e.request?.challenge[0]])).toEqual([['accept', 1], ['conflict', 2]]);
    const c = newClearing();
    await c.ingest(g2.r.export().bytes);
    await c.ingest(g1.r.export().bytes);
    await c.ingest(a.r.export().bytes);
    const kinds = (await c.doubleSpends()).map((d) => [d.kind, d.first.readerId, d.second.readerId]);
    expect(kinds).toHaveLength(2);
    expect(kinds).toEqual(expect.arrayContaining([
      ['same_token_twice', 212, 211],
      ['counter_reuse', 131, 131],
    ]));
    expect((await c.blockedWalletIds()).map(toHex).sort()).toEqual([toHex(walletIdOf(w.cert.walletPublicKey)), toHex(walletIdOf(z.cert.walletPublicKey))].sort());
    // Conflict evidence is not a sale.
    expect((await c.settlement()).find((l) => l.operatorId === 90)).toMatchObject({ count: 1, gross: 100n });
  });

  it('a batch whose head does not lead into the next batch already held is a fork, whichever arrives first', async () => {
    const a = vending(142);
    const w = makeWallet(issuer, 'cl', 'g');
    for (let i = 1; i <= 3; i++) await a.r.accept(...sale(a, w, i, 100));
    const first = a.r.export(NOW).bytes;
    for (let i = 4; i <= 6; i++) await a.r.accept(...sale(a, w, i, 100));
    const second = a.r.export(NOW).bytes;
    // A rewritten history for entries 1..3 under the same reader certificate.
    // Same reader, same journal id: a rewritten history of the same chain (a new journal id would be a new chain).
    const twin = new Reader({ ...a.m, journalId: a.r.journalId, issuerKeys: issuer.keySet(), store: new MemoryReaderStore(), verifier: nodeEd25519(), clock: () => NOW });
    twin.loadBlocklist(list1);
    for (let i = 1; i <= 3; i++) await twin.accept(...sale({ ...a, r: twin }, w, 20 + i, 700));
    const forged = twin.export(NOW).bytes;
    const c = newClearing();
    expect(await c.ingest(second)).toMatchObject({ outcome: 'ingested', entries: 3 });
    expect((await c.readers())[0]!.gaps).toEqual([[1, 3]]);
    expect(await c.ingest(forged)).toMatchObject({ outcome: 'rejected', error: { code: 'clearing.fork' } });
    expect(await c.ingest(first)).toMatchObject({ outcome: 'ingested', entries: 3 });
    expect((await c.readers())[0]!.gaps).toEqual([]);
    expect(await c.ingest(forged)).toMatchObject({ outcome: 'rejected', error: { code: 'clearing.fork' } });
    expect(await c.settlement()).toEqual([expect.objectContaining({ count: 6, gross: 600n })]);
  });

  it('rejects forged batches: bad signature, unknown issuer, broken chain, rewritten history, garbage', async () => {
    const a = vending(141);
    const w = makeWallet(issuer, 'cl', 'f');
    for (let i = 1; i <= 3; i++) await a.r.accept(...sale(a, w, i, 100));
    const good = a.r.export(NOW).bytes;
    const c = newClearing();
    const sigFlip = good.slice();
    sigFlip[sigFlip.length - 1]! ^= 1;
    expect(await c.ingest(sigFlip)).toMatchObject({ outcome: 'rejected', error: { code: 'clearing.bad_batch_signature' } });
    expect(await c.ingest(new Uint8Array([1, 2, 3]))).toMatchObject({ outcome: 'rejected', error: { code: 'clearing.bad_batch' } });
    // A reader key holder that re-signs a batch with an altered entry but the old head: bad chain.
    const d = decodeBatch(good);
    const { createBatch } = await import('../../src/reader/batch.js');
    const m = a.m;
    const altered = { ...d, entries: d.entries.map((e, i) => (i === 1 ? { ...e, value: 1 } : e)) };
    expect(await c.ingest(createBatch(m, altered).bytes)).toMatchObject({ outcome: 'rejected', error: { code: 'clearing.bad_chain' } });
    expect(await c.ingest(good)).toMatchObject({ outcome: 'ingested', entries: 3 });
    // Its certificate is now remembered as verified; one whose issuer signature differs in its last byte only (so
    // the memo's key, the signature's first bytes, is the same) is still checked, and refused.
    const forgedSig = d.readerCert.issuerSignature.slice();
    forgedSig[63]! ^= 1;
    const forged = createBatch(m, { ...d, batchSeq: 2, readerCert: { ...d.readerCert, issuerSignature: forgedSig } }).bytes;
    expect(await c.ingest(forged)).toMatchObject({ outcome: 'rejected', error: { code: 'clearing.bad_reader_cert' } });
    // A second journal under the same reader certificate (a rewritten history) overlapping the first: fork.
    const twin = new Reader({ ...m, journalId: a.r.journalId, issuerKeys: issuer.keySet(), store: new MemoryReaderStore(), verifier: nodeEd25519(), clock: () => NOW });
    twin.loadBlocklist(list1);
    for (let i = 1; i <= 4; i++) await twin.accept(...sale({ ...a, r: twin }, w, 10 + i, 999));
    expect(await c.ingest(twin.export(NOW).bytes)).toMatchObject({ outcome: 'rejected', error: { code: 'clearing.fork' } });
    const other = makeIssuer('someone-else');
    const alien = makeReader(other, 'cl', 141, 'vending');
    const ar = new Reader({ ...alien, issuerKeys: other.keySet(), store: new MemoryReaderStore(), clock: () => NOW });
    // Verified reader certificates are remembered for the whole process (with the default verifier): one that a
    // clearing trusting the other issuer verified is still checked against this clearing's key of the same index.
    const elsewhere = new Clearing({ issuerKeys: other.keySet(), clock: () => NOW + 3600 });
    expect(other.keySet().keys[0]!.keyIndex).toBe(issuer.keySet().keys[0]!.keyIndex);
    expect((await elsewhere.ingest(ar.export(NOW).bytes)).error).toBeUndefined();
    await elsewhere.close();
    expect(await c.ingest(ar.export(NOW).bytes)).toMatchObject({ outcome: 'rejected', error: { code: 'clearing.bad_reader_cert' } });
    // Problems are recorded against a reader only once its signature verified: anyone can copy a certificate.
    expect((await c.report()).problems.map((p) => p.kind)).toEqual(expect.arrayContaining(['bad_chain', 'fork']));
    expect((await c.report()).problems.map((p) => p.kind)).not.toContain('bad_batch_signature');
    expect(await c.settlement()).toEqual([expect.objectContaining({ count: 3, gross: 300n })]);
    // Garbage never throws.
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 400 }), async (bytes) => {
        expect((await c.ingest(bytes)).outcome).toBe('rejected');
      }),
      { numRuns: 200, seed: 3 },
    );
    expect(await c.ingest(encodeCbor([8, 1, 0]))).toMatchObject({ outcome: 'rejected' });
  });

  it('re-verifies every token: an entry whose token does not verify is reported, not settled', async () => {
    const a = vending(151);
    const w = makeWallet(issuer, 'cl', 'g');
    await a.r.accept(signToken(w, { payee: 151, amount: 100, counter: 1, challenge: new Uint8Array(8).fill(1) }), { request: a.request(100) });
    const d = decodeBatch(a.r.export(NOW).bytes);
    const { createBatch } = await import('../../src/reader/batch.js');
    const { chainHash, encodeEntry, genesisHash } = await import('../../src/reader/journal.js');
    // A dishonest reader invents a sale with a token for another payee: the chain and signature are fine.
    const bogus = signToken(w, { payee: 999, amount: 5000, counter: 2 });
    const entries = [...d.entries, { seq: 2, kind: 'accept' as const, time: NOW, data: bogus, value: 5000 }];
    let h = genesisHash(151, d.journalId);
    for (const e of entries) h = chainHash(h, encodeEntry(e));
    const c = newClearing();
    expect(await c.ingest(createBatch(a.m, { ...d, entries, head: h }).bytes)).toMatchObject({ outcome: 'ingested', entries: 2, invalidTokens: 1 });
    expect((await c.report()).invalidTokens).toEqual([{ readerId: 151, journalId: toHex(d.journalId), seq: 2, reason: 'wrong_payee' }]);
    expect(await c.settlement()).toEqual([expect.objectContaining({ count: 1, gross: 100n })]);
  });
});

describe('request-bound tokens (spec/protocol.md §4.3, spec/clearing.md §4 step 9)', () => {
  it('clearing re-verifies them from the entry request context and the batch reader id; an altered context fails the chain, and a re-signed one the token signature', async () => {
    const a = vending(161);
    const w = makeWallet(issuer, 'cl', 'rb');
    for (let i = 1; i <= 3; i++) await a.r.accept(...sale(a, w, i, 100 * i));
    const good = a.r.export(NOW).bytes;
    const d = decodeBatch(good);
    // Every accept entry of a request-bound token carries the request it was judged against.
    expect(d.entries.map((e) => decodeToken(e.data).requestBound)).toEqual([true, true, true]);
    expect(d.entries.every((e) => e.request !== undefined && e.request.time === NOW)).toBe(true);
    const { createBatch } = await import('../../src/reader/batch.js');
    const { chainHash, encodeEntry, genesisHash } = await import('../../src/reader/journal.js');
    const rechain = (entries: JournalEntry[]) => {
      let h = genesisHash(161, d.journalId);
      for (const e of entries) h = chainHash(h, encodeEntry(e));
      return createBatch(a.m, { ...d, entries, head: h }).bytes;
    };
    const alter = (i: number, f: (e: JournalEntry) => JournalEntry) => d.entries.map((e, j) => (j === i ? f(e) : e));
    const otherChallenge = (e: JournalEntry): JournalEntry => ({ ...e, request: { challenge: new Uint8Array(8).fill(0xee), time: e.request!.time } });
    const otherTime = (e: JournalEntry): JournalEntry => ({ ...e, request: { challenge: e.request!.challenge, time: e.request!.time - 1 } });
    const noContext = (e: JournalEntry): JournalEntry => ({ seq: e.seq, kind: e.kind, time: e.time, data: e.data, value: e.value });
    // 1. The context altered after the reader signed (old head kept, batch re-signed): the chain catches it first.
    for (const f of [otherChallenge, otherTime, noContext]) {
      const c = newClearing();
      expect(await c.ingest(createBatch(a.m, { ...d, entries: alter(1, f) }).bytes)).toMatchObject({ outcome: 'rejected', error: { code: 'clearing.bad_chain' } });
    }
    // 2. A reader that signs an altered context (chain recomputed): the token's rebuilt body is not what the wallet
    //    signed, so the entry is invalid and never settled.
    const cases: [string, (e: JournalEntry) => JournalEntry, string][] = [
      ['another challenge', otherChallenge, 'bad_token_signature'],
      ['another request time', otherTime, 'bad_token_signature'],
      ['no request context', noContext, 'challenge_mismatch'],
    ];
    for (const [, f, reason] of cases) {
      const c = newClearing();
      expect(await c.ingest(rechain(alter(1, f)))).toMatchObject({ outcome: 'ingested', entries: 3, invalidTokens: 1 });
      expect((await c.report()).invalidTokens).toEqual([{ readerId: 161, journalId: toHex(d.journalId), seq: 2, reason }]);
      expect(await c.settlement()).toEqual([expect.objectContaining({ count: 2, gross: 400n })]);
    }
    // 3. The same entries under another reader id (another reader's certificate and key): the payee differs.
    const b = vending(162);
    const moved = d.entries.map((e) => ({ ...e }));
    let h = genesisHash(162, d.journalId);
    for (const e of moved) h = chainHash(h, encodeEntry(e));
    const c3 = newClearing();
    expect(await c3.ingest(createBatch(b.m, { ...d, readerCert: b.m.cert, entries: moved, prevHead: genesisHash(162, d.journalId), head: h }).bytes)).toMatchObject({ outcome: 'ingested', invalidTokens: 3 });
    expect(new Set((await c3.report()).invalidTokens.map((t) => t.reason))).toEqual(new Set(['bad_token_signature']));
    // 4. The honest batch: all three verify and settle, on this thread and through the worker pool.
    const c4 = newClearing();
    expect(await c4.ingest(good)).toMatchObject({ outcome: 'ingested', entries: 3, invalidTokens: 0 });
    expect(await c4.settlement()).toEqual([expect.objectContaining({ count: 3, gross: 600n })]);
  });
});

describe('batch bytes', () => {
  it('signing input and entries taken from the raw bytes equal the re-encoded ones', async () => {
    const { batchEntryBytes, batchSigningInput, batchSigningInputFromBytes } = await import('../../src/reader/batch.js');
    const { encodeEntry } = await import('../../src/reader/journal.js');
    const a = vending(161);
    const w = makeWallet(issuer, 'cl', 'h');
    for (let i = 1; i <= 30; i++) expect((await a.r.accept(...sale(a, w, i, 100 * i))).accepted).toBe(true);
    a.r.void(tokenHash(sale(a, w, 30, 3000)[0]), NOW + 1);
    // Batches of 31 entries (an array header of two bytes), then of none.
    for (const bytes of [a.r.export(NOW).bytes, a.r.export(NOW).bytes]) {
      expect(toHex(batchSigningInputFromBytes(bytes))).toBe(toHex(batchSigningInput(decodeBatch(bytes))));
      // The entries the chain hashes, sliced from the batch, are their canonical encodings.
      expect(batchEntryBytes(bytes).map(toHex)).toEqual(decodeBatch(bytes).entries.map((e) => toHex(encodeEntry(e))));
    }
  });
});

describe('clearing token check (node:crypto SHA-256 in the hot path)', () => {
  it('gives the same verdict, token hash and wallet id as the default (noble) verification, for good and bad tokens', () => {
    const w = makeWallet(issuer, 'cl-sha', 'w');
    const ctx = { issuerKeys: issuer.keySet(), now: NOW, payees: [501], maxAgeSeconds: 300, maxFutureSeconds: 60 };
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1_000_000 }), fc.integer({ min: 1, max: 2 ** 31 }), fc.integer({ min: -1, max: 199 }), (amount, counter, flip) => {
        const good = signToken(w, { payee: 501, amount, counter, time: NOW });
        const bytes = good.slice();
        if (flip >= 0 && flip < bytes.length) bytes[flip] = bytes[flip]! ^ 1;
        const want = verifyToken(bytes, ctx, nodeEd25519());
        // Clearing decodes with views into the token bytes instead of copies: the same verdict, field for field.
        expect(verifyToken(bytes, { ...ctx, views: true }, nodeEd25519())).toEqual(want);
        const got = checkTokenJob({ data: bytes, now: NOW, payees: [501], maxAge: 300, maxFuture: 60 }, issuer.keySet(), nodeEd25519());
        expect(got.ok).toBe(want.accepted);
        if (want.accepted && got.ok) {
          expect(toHex(got.tokenHash)).toBe(toHex(tokenHash(bytes)));
          expect(toHex(got.walletId)).toBe(toHex(walletIdOf(w.cert.walletPublicKey)));
          expect(verifyToken(bytes, { ...ctx, sha256: (d) => tokenHash(d) }, nodeEd25519())).toEqual(want);
        } else if (!want.accepted && !got.ok) {
          expect(got.reason).toBe(want.reason);
        }
      }),
      { seed: 4, numRuns: 60 },
    );
  });

  it('checkTokenJobs (signatures verified back to back) gives what checkTokenJob gives one by one, in order', () => {
    const w = makeWallet(issuer, 'cl-sha', 'w2');
    const other = makeIssuer('cl-other');
    const alien = makeWallet(other, 'cl-sha', 'alien');
    fc.assert(
      fc.property(
        fc.array(fc.record({ counter: fc.integer({ min: 1, max: 1000 }), flip: fc.integer({ min: -40, max: 199 }), alien: fc.boolean(), payee: fc.constantFrom(501, 502) }), { maxLength: 12 }),
        (specs) => {
          const jobs = specs.map((sp) => {
            const bytes = signToken(sp.alien ? alien : w, { payee: sp.payee, amount: 100, counter: sp.counter, time: NOW }).slice();
            if (sp.flip >= 0 && sp.flip < bytes.length) bytes[sp.flip] = bytes[sp.flip]! ^ 1;
            return { data: bytes, now: NOW, payees: [501], maxAge: 300, maxFuture: 60 };
          });
          const one = jobs.map((j) => checkTokenJob(j, issuer.keySet(), nodeEd25519()));
          expect(checkTokenJobs(jobs, issuer.keySet(), nodeEd25519())).toEqual(one);
        },
      ),
      { seed: 5, numRuns: 40 },
    );
  });
});
