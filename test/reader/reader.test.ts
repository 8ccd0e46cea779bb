import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { createRequest, decodeToken, tokenHash, verifyReceipt, walletIdOf, toHex, type Issuer } from '../../src/index.js';
import { nodeEd25519 } from '../../src/node/crypto.js';
import {
  createBlocklist,
  cutBacklog,
  encodeEntry,
  decodeBatch,
  batchChainHashes,
  MemoryReaderStore,
  Reader,
  type ReaderOptions,
  type ReaderStore,
  genesisHash,
} from '../../src/reader/index.js';
import { SqliteReaderStore } from '../../src/reader/sqlite.js';
import { Clearing } from '../../src/clearing/index.js';
import { HKD, NOW, makeIssuer, makeReader, makeWallet, signToken, type TestWallet } from './helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'offpay-reader-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
let dbn = 0;

const stores: [string, () => ReaderStore][] = [
  ['memory', () => new MemoryReaderStore()],
  ['sqlite', () => SqliteReaderStore.create(join(tmp, `r${dbn++}.db`))],
];

function freshList(issuer: Issuer, version: number, ids: Uint8Array[] = [], issuedAt = NOW): Uint8Array {
  return createBlocklist(issuer.keys[0]!, { issuerId: issuer.issuerId, version, issuedAt, walletIds: ids }).bytes;
}

/** Tokens for vending reader `vend`, and the requests they answer. */
function vendingHelpers(vend: ReturnType<typeof makeReader>, alice: TestWallet) {
  /**
   * A token answering a request. The challenge defaults to one of this wallet and counter alone (a new request
   * for each sale, as a machine issues them; the same arguments give the same bytes).
   */
  /** What each token signed but does not carry (v2 request-bound tokens): its request's challenge and time. */
  const signed = new Map<string, { challenge: Uint8Array; time: number }>();
  const pay = (w = alice, counter = 1, amount = 1250, challenge?: number, time = NOW) => {
    const c = challenge === undefined ? Uint8Array.from([...walletIdOf(w.cert.walletPublicKey).subarray(0, 4), 0, 0, counter >> 8, counter & 0xff]) : new Uint8Array(8).fill(challenge);
    const tok = signToken(w, { payee: vend.cert.readerId, amount, counter, time, challenge: c });
    signed.set(toHex(tok), { challenge: c, time });
    return tok;
  };
  const ctxOf = (tok: Uint8Array) => signed.get(toHex(tok))!;
  /** The request a token answers (its amount, challenge and time). */
  const reqFor = (tok: Uint8Array) => {
    const t = decodeToken(tok);
    const c = ctxOf(tok);
    return createRequest(vend, { amount: t.amount, currency: HKD, time: c.time, challenge: c.challenge }).request;
  };
  /** Open the request a token answers at reader `r` (as the machine would have shown it), then present the token at `time`. */
  const sell = async (r: Reader, tok: Uint8Array, time = NOW) => {
    const t = decodeToken(tok);
    const c = ctxOf(tok);
    r.openRequest({ amount: t.amount, currency: HKD, now: c.time, challenge: c.challenge });
    return r.accept(tok, { now: time });
  };
  return { pay, reqFor, sell, ctxOf };
}

describe.each(stores)('Reader with the %s store', (_name, newStore) => {
  const issuer = makeIssuer();
  const vend = makeReader(issuer, 'rt', 4201, 'vending');
  const gate = makeReader(issuer, 'rt', 5001, 'transit', 90);
  const alice = makeWallet(issuer, 'rt', 'alice');
  const bob = makeWallet(issuer, 'rt', 'bob');

  function vendingReader(extra: Partial<ReaderOptions> = {}): Reader {
    const r = new Reader({ ...vend, issuerKeys: issuer.keySet(), store: newStore(), verifier: nodeEd25519(), clock: () => NOW, ...extra });
    r.loadBlocklist(freshList(issuer, 1));
    return r;
  }
  const { pay, sell } = vendingHelpers(vend, alice);

  it('accepts a token answering its open request, commits a journal entry, and signs a receipt', async () => {
    const r = vendingReader();
    const { bytes } = r.openRequest({ amount: 1250, currency: HKD, now: NOW });
    const tok = await alice.wallet.pay(bytes, { issuerKeys: issuer.keySet() });
    const v = await r.accept(tok);
    expect(v).toMatchObject({ accepted: true, status: 'accepted', charged: true, amount: 1250, currency: HKD, seq: 1, request: { amount: 1250, currency: HKD } });
    expect(r.entries()).toHaveLength(1);
    expect(r.entries()[0]).toMatchObject({ kind: 'accept', value: 1250, time: NOW });
    expect(r.verifyJournal().ok).toBe(true);
    const receipt = verifyReceipt(r.receipt(v), vend.cert.readerPublicKey, tok);
    expect(receipt).toMatchObject({ outcome: 'accepted', reason: 0, readerId: 4201 });
    expect(r.openRequestInfo()?.paidBy).toEqual(tokenHash(tok));
  });

  it('resumes a pending sale only within the resume window and while its request is open; never after', async () => {
    const r = vendingReader();
    const tok = pay();
    const a = await sell(r, tok);
    expect(a.accepted && a.status).toBe('accepted');
    // The machine failed before dispensing; the same token comes again 60 s later (resume window 60 s).
    const b = await r.accept(tok, { now: NOW + 60 });
    expect(b).toMatchObject({ accepted: true, status: 'resumed', charged: false, seq: a.accepted ? a.seq : -1 });
    // 61 s later: a replayed recording, not a torn sale.
    expect(await r.accept(tok, { now: NOW + 61 })).toMatchObject({ accepted: false, reason: 'already_accepted', code: 50 });
    expect(await r.accept(tok, { now: NOW + 6 * 86400 })).toMatchObject({ accepted: false, reason: 'already_accepted' });
    // A clock set back does not reopen the window.
    expect(await r.accept(tok, { now: NOW - 1 })).toMatchObject({ accepted: false, reason: 'already_accepted' });
    expect(r.entries()).toHaveLength(1);
    // Inside the window, but the machine shows a new request: the old sale may not resume against it.
    const tok2 = pay(alice, 2);
    expect((await sell(r, tok2)).accepted).toBe(true);
    r.openRequest({ amount: 1800, currency: HKD, now: NOW + 5 });
    expect(await r.accept(tok2, { now: NOW + 6 })).toMatchObject({ accepted: false, reason: 'already_accepted' });
    // Completed: replayed.
    expect(r.complete(tokenHash(tok))).toBe(true);
    expect(await r.accept(tok, { now: NOW + 1 })).toMatchObject({ accepted: false, reason: 'replayed', code: 32 });
    expect(r.entries()).toHaveLength(2);
  });

  it('pays the price shown: one open request; closed, superseded or other requests are refused', async () => {
    const r = vendingReader();
    const cheap = pay(alice, 1, 50, 7); // a token for an earlier HKD 0.50 request the customer kept
    expect(await r.accept(cheap)).toMatchObject({ accepted: false, reason: 'request_not_open', code: 51 }); // nothing open
    r.openRequest({ amount: 50, currency: HKD, now: NOW, challenge: new Uint8Array(8).fill(7) });
    r.openRequest({ amount: 1800, currency: HKD, now: NOW + 1, challenge: new Uint8Array(8).fill(8) }); // supersedes it
    // The kept token is request-bound: verified over the open request (challenge 8, time NOW + 1) it does not
    // verify; it carries no challenge, so the reader cannot tell it from a forgery (spec/reader.md §2 step 2).
    expect(await r.accept(cheap)).toMatchObject({ accepted: false, reason: 'bad_token_signature', code: 10 });
    // The same for a token answering the right price and time but another challenge, or another time.
    expect(await r.accept(pay(alice, 1, 1800, 9, NOW + 1))).toMatchObject({ accepted: false, reason: 'bad_token_signature' });
    expect(await r.accept(pay(alice, 1, 1800, 8, NOW))).toMatchObject({ accepted: false, reason: 'bad_token_signature' });
    // A request passed by the caller must be the open one.
    const stale = createRequest(vend, { amount: 50, currency: HKD, time: NOW, challenge: new Uint8Array(8).fill(7) }).request;
    expect(await r.accept(cheap, { request: stale })).toMatchObject({ accepted: false, reason: 'request_not_open' });
    const right = pay(alice, 2, 1800, 8, NOW + 1);
    expect(await r.accept(right, { request: r.openRequestInfo()!.request })).toMatchObject({ accepted: true, status: 'accepted', amount: 1800 });
    // closeRequest: nothing is payable until the next request.
    r.closeRequest();
    expect(r.openRequestInfo()).toBeUndefined();
    expect(await r.accept(pay(alice, 3, 1800, 8, NOW + 1))).toMatchObject({ accepted: false, reason: 'request_not_open' });
    expect(r.entries()).toHaveLength(1);
  });

  it('takes one payment per request: a second token for a paid request is refused and changes nothing', async () => {
    const r = vendingReader();
    r.openRequest({ amount: 1250, currency: HKD, now: NOW, challenge: new Uint8Array(8).fill(42) });
    const first = pay(alice, 1, 1250, 42);
    const second = pay(bob, 1, 1250, 42); // another wallet answers the same request shown on the screen
    expect(await r.accept(first)).toMatchObject({ accepted: true, status: 'accepted' });
    expect(await r.accept(second)).toMatchObject({ accepted: false, reason: 'request_already_paid', code: 49 });
    expect(await r.accept(pay(alice, 2, 1250, 42))).toMatchObject({ accepted: false, reason: 'request_already_paid' });
    expect(r.entries()).toHaveLength(1);
    // The same token again within the resume window is the same payment: resumed, not refused.
    expect(await r.accept(first)).toMatchObject({ accepted: true, status: 'resumed' });
    // A void gives the money back and closes the request: the second token cannot take its place.
    expect(r.void(tokenHash(first), NOW + 10)).toMatchObject({ ok: true });
    expect(await r.accept(second)).toMatchObject({ accepted: false, reason: 'request_not_open' });
    // A new request is payable, by the wallet that was refused too.
    expect(await sell(r, pay(bob, 1, 1250, 43))).toMatchObject({ accepted: true, status: 'accepted' });
    // No ring of remembered requests to overflow: after 100 more sales the first request is still refused.
    for (let c = 2; c <= 101; c++) {
      const t = pay(alice, c);
      expect((await sell(r, t)).accepted).toBe(true);
      r.complete(tokenHash(t));
    }
    expect(await r.accept(pay(alice, 200, 1250, 43))).toMatchObject({ accepted: false, reason: 'request_not_open' });
  });

  it('voids a pending sale inside the window and refuses the token afterwards', async () => {
    const r = vendingReader({ limits: { [HKD]: { dailyTotal: 2000 } } });
    const tok = pay(alice, 1, 1500);
    expect((await sell(r, tok)).accepted).toBe(true);
    const v = r.void(tokenHash(tok), NOW + 899);
    expect(v).toMatchObject({ ok: true, amount: 1500, seq: 2 });
    expect(r.entries()[1]).toMatchObject({ kind: 'void', value: 1500 });
    expect(await sell(r, tok)).toMatchObject({ accepted: false, reason: 'already_voided', code: 41 });
    expect(r.void(tokenHash(tok), NOW + 900)).toMatchObject({ ok: false, reason: 'already_voided' });
    // The voided amount no longer counts towards the daily total.
    expect((await sell(r, pay(alice, 2, 1500, 3))).accepted).toBe(true);
  });

  it('refuses to void after the window, a completed sale, or an unknown token', async () => {
    const r = vendingReader();
    const t1 = pay(alice, 1);
    const t2 = pay(alice, 2);
    await sell(r, t1);
    await sell(r, t2);
    expect(r.void(tokenHash(t1), NOW + 901)).toMatchObject({ ok: false, reason: 'void_window_passed', code: 44 });
    r.complete(tokenHash(t2));
    expect(r.void(tokenHash(t2), NOW + 1)).toMatchObject({ ok: false, reason: 'already_completed', code: 45 });
    expect(r.void(new Uint8Array(32), NOW)).toMatchObject({ ok: false, reason: 'unknown_token', code: 43 });
  });

  it('refuses a second token with an accepted counter and keeps it as evidence once', async () => {
    const r = vendingReader();
    expect((await sell(r, pay(alice, 5, 1250))).accepted).toBe(true);
    const clone = pay(alice, 5, 1250, 1, NOW + 1); // same counter, different bytes (a cloned wallet)
    const v = await sell(r, clone);
    expect(v).toMatchObject({ accepted: false, reason: 'replayed', code: 32, seq: 2 });
    expect(r.entries()[1]).toMatchObject({ kind: 'conflict', value: 32 });
    expect(await sell(r, clone)).toMatchObject({ accepted: false, reason: 'replayed' });
    expect(r.entries()).toHaveLength(2);
  });

  it('accepts out of order inside the window and refuses below it', async () => {
    const r = vendingReader({ window: 16 });
    for (const c of [10, 3, 7, 30]) expect((await sell(r, pay(alice, c))).accepted).toBe(true);
    // high = 30, W = 16: 15..30 are inside the window.
    expect(await sell(r, pay(alice, 20))).toMatchObject({ accepted: true });
    expect(await sell(r, pay(alice, 14))).toMatchObject({ accepted: false, reason: 'stale' });
    expect(await sell(r, pay(alice, 3, 1250, 1, NOW + 3))).toMatchObject({ accepted: false, reason: 'stale' });
    // The same bytes: judged by the pending sale's record, not by the window. `sell` opened a new request (with the
    // same challenge): the pending sale resumes only while the request it paid is open, so it does not vend again.
    expect(await sell(r, pay(alice, 3))).toMatchObject({ accepted: false, reason: 'already_accepted' });
    expect(await sell(r, pay(alice, 20, 1250, 1, NOW + 2))).toMatchObject({ accepted: false, reason: 'replayed' });
  });

  it('applies the window edge exactly: high - c = W - 1 is inside, W is stale', async () => {
    const r = vendingReader({ window: 16 });
    await sell(r, pay(alice, 30));
    expect(await sell(r, pay(alice, 15))).toMatchObject({ accepted: true });
    expect(await sell(r, pay(alice, 14))).toMatchObject({ accepted: false, reason: 'stale', code: 33 });
    expect(await sell(r, pay(alice, 15, 1250, 1, NOW + 1))).toMatchObject({ accepted: false, reason: 'replayed' });
  });

  it('applies per-payment minimum and maximum, daily total, allowance and currency limits', async () => {
    const r = vendingReader({ limits: { [HKD]: { minAmount: 100, maxAmount: 5000, dailyTotal: 6000 } } });
    expect(await sell(r, pay(alice, 1, 99))).toMatchObject({ accepted: false, reason: 'below_minimum', code: 34 });
    expect(await sell(r, pay(alice, 2, 5001))).toMatchObject({ accepted: false, reason: 'above_maximum', code: 35 });
    expect((await sell(r, pay(alice, 3, 5000))).accepted).toBe(true);
    expect(await sell(r, pay(alice, 4, 1001))).toMatchObject({ accepted: false, reason: 'daily_limit', code: 36 });
    expect((await sell(r, pay(alice, 5, 1000))).accepted).toBe(true);
    // Another wallet has its own daily total.
    expect((await sell(r, pay(bob, 1, 5000))).accepted).toBe(true);
    // The next reader day starts afresh (the blocklist is exactly at its maximum age: still fresh).
    expect(await sell(r, pay(alice, 6, 5000, 1, NOW + 86400), NOW + 86400)).toMatchObject({ accepted: true });
    const strict = vendingReader({ limits: { 978: {} }, acceptUnlistedCurrencies: false });
    expect(await sell(strict, pay(alice, 1))).toMatchObject({ accepted: false, reason: 'currency_not_accepted', code: 42 });
    const small = makeWallet(issuer, 'rt', 'small', { offlineAllowance: 3000, maxPerPayment: 2000 });
    const r2 = vendingReader();
    expect((await sell(r2, pay(small, 1, 2000))).accepted).toBe(true);
    expect(await sell(r2, pay(small, 2, 1001))).toMatchObject({ accepted: false, reason: 'allowance_exhausted', code: 37 });
    expect((await sell(r2, pay(small, 3, 1000))).accepted).toBe(true);
  });

  it('uses the blocklist: none loaded, fresh, listed, stale; refuses old versions and bad signatures', async () => {
    const r = new Reader({ ...vend, issuerKeys: issuer.keySet(), store: newStore(), verifier: nodeEd25519(), clock: () => NOW });
    expect(await sell(r, pay(alice, 1))).toMatchObject({ accepted: false, reason: 'blocklist_stale', code: 39 });
    r.loadBlocklist(freshList(issuer, 3, [walletIdOf(bob.cert.walletPublicKey)]));
    expect((await sell(r, pay(alice, 1))).accepted).toBe(true);
    expect(await sell(r, pay(bob, 1))).toMatchObject({ accepted: false, reason: 'blocklisted', code: 38 });
    expect(() => r.loadBlocklist(freshList(issuer, 3))).toThrow(expect.objectContaining({ code: 'blocklist.old_version' }));
    const bad = freshList(issuer, 4);
    bad[bad.length - 1]! ^= 1;
    expect(() => r.loadBlocklist(bad)).toThrow(expect.objectContaining({ code: 'blocklist.bad_signature' }));
    const later = NOW + 86401;
    expect(await sell(r, pay(alice, 2, 1250, 1, later), later)).toMatchObject({ accepted: false, reason: 'blocklist_stale' });
    expect(r.blocklistStatus(later)).toMatchObject({ loaded: true, version: 3, count: 1, stale: true });
  });

  it('transit: drops to the reduced limit when the blocklist is stale', async () => {
    const g = new Reader({ ...gate, issuerKeys: issuer.keySet(), store: newStore(), verifier: nodeEd25519(), clock: () => NOW, limits: { [HKD]: { staleMaxAmount: 500 } } });
    const fare = { amount: 400, currency: HKD };
    expect(await g.accept(signToken(alice, { payee: 90, amount: 400, counter: 1 }), { fare })).toMatchObject({ accepted: true });
    expect(await g.accept(signToken(alice, { payee: 90, amount: 600, counter: 2 }), { fare: { amount: 600, currency: HKD } })).toMatchObject({
      accepted: false,
      reason: 'stale_limit',
      code: 40,
    });
  });

  it('transit: operator-bound one-way tokens, short validity, tap-in and tap-out', async () => {
    const g = new Reader({ ...gate, issuerKeys: issuer.keySet(), store: newStore(), verifier: nodeEd25519(), clock: () => NOW });
    g.loadBlocklist(freshList(issuer, 1));
    const exit = new Reader({ ...makeReader(issuer, 'rt', 5002, 'transit', 90), issuerKeys: issuer.keySet(), store: newStore(), verifier: nodeEd25519(), clock: () => NOW });
    exit.loadBlocklist(freshList(issuer, 1));
    const fare = { amount: 450, currency: HKD };
    expect(await g.accept(signToken(alice, { payee: 90, amount: 450, counter: 1 }), { fare })).toMatchObject({ accepted: true });
    expect(await g.accept(signToken(alice, { payee: 5001, amount: 450, counter: 2 }), { fare })).toMatchObject({ accepted: true });
    expect(await g.accept(signToken(alice, { payee: 91, amount: 450, counter: 3 }), { fare })).toMatchObject({ accepted: false, reason: 'wrong_payee' });
    expect(await g.accept(signToken(alice, { payee: 90, amount: 450, counter: 4, time: NOW - 121 }), { fare })).toMatchObject({ accepted: false, reason: 'time_too_old' });
    expect(await g.accept(signToken(alice, { payee: 90, amount: 440, counter: 5 }), { fare })).toMatchObject({ accepted: false, reason: 'amount_mismatch' });
    // Tap-in with a maximum fare of 2000, tap-out at another gate of the operator with the actual fare.
    const trip = signToken(alice, { payee: 90, amount: 2000, counter: 6 });
    expect(await g.accept(trip, { tapIn: { maxFare: 2000, currency: HKD } })).toMatchObject({ accepted: true, amount: 2000 });
    expect(g.entries().at(-1)).toMatchObject({ kind: 'tap_in', value: 2000 });
    expect(await exit.tapOut(trip, { fare: 2100, currency: HKD, now: NOW + 1800 })).toMatchObject({ accepted: false, reason: 'fare_exceeds_authorisation', code: 46 });
    expect(await exit.tapOut(trip, { fare: 730, currency: HKD, now: NOW + 1800 })).toMatchObject({ accepted: true, status: 'tapped_out', amount: 730 });
    expect(await exit.tapOut(trip, { fare: 730, currency: HKD, now: NOW + 1801 })).toMatchObject({ accepted: false, reason: 'already_tapped_out', code: 47 });
    expect(exit.entries()).toHaveLength(1);
    expect(exit.entries()[0]).toMatchObject({ kind: 'tap_out', value: 730 });
    expect(toHex(exit.entries()[0]!.data)).toBe(toHex(trip));
    expect(await g.tapOut(signToken(alice, { payee: 90, amount: 450, counter: 1 }), { fare: 100, currency: HKD })).toMatchObject({ accepted: false, reason: 'not_a_trip' });
    expect(await exit.tapOut(trip, { fare: 10, currency: HKD, now: NOW + 4 * 3600 + 1 })).toMatchObject({ accepted: false, reason: 'time_too_old' });
  });

  it('export cuts a long backlog into numbered batches within the byte and entry limits, which chain and clear like any', async () => {
    const r = vendingReader();
    for (let c = 1; c <= 7; c++) await sell(r, pay(alice, c));
    const entryBytes = r.entries().map((e) => encodeEntry(e).length);
    // At most 3 entries a batch: 3 + 3 + 1.
    const byCount = r.export(NOW + 10, { maxBatchEntries: 3 });
    expect(byCount.batches.map((b) => [b.batch.batchSeq, b.batch.firstSeq, b.batch.entries.length])).toEqual([[1, 1, 3], [2, 4, 3], [3, 7, 1]]);
    expect(byCount.bytes).toEqual(byCount.batches[0]!.bytes);
    // Each is a normal batch: prevHead of each is the head of the one before, re-created byte for byte.
    const ds = byCount.batches.map((b) => decodeBatch(b.bytes));
    expect(toHex(ds[1]!.prevHead)).toBe(toHex(ds[0]!.head));
    expect(toHex(ds[2]!.prevHead)).toBe(toHex(ds[1]!.head));
    for (const b of byCount.batches) expect(toHex(r.exportBatch(b.batch.batchSeq).bytes)).toBe(toHex(b.bytes));
    expect(r.exportedBatches()).toBe(3);
    const clearing = new Clearing({ issuerKeys: issuer.keySet(), clock: () => NOW + 60 });
    for (const b of byCount.batches) expect(await clearing.ingest(b.bytes)).toMatchObject({ outcome: 'ingested', invalidTokens: 0 });
    expect(await clearing.settlement()).toEqual([expect.objectContaining({ count: 7, gross: 7n * 1250n })]);
    // By bytes: a limit that holds the overhead and two entries, never more.
    for (let c = 8; c <= 12; c++) await sell(r, pay(alice, c));
    const overhead = byCount.batches[2]!.bytes.length - entryBytes[6]!;
    const limit = Math.max(1024, overhead + 2 * Math.max(...entryBytes) + 1);
    const byBytes = r.export(NOW + 20, { maxBatchBytes: limit });
    expect(byBytes.batches.every((b) => b.bytes.length <= limit)).toBe(true);
    expect(byBytes.batches.reduce((n, b) => n + b.batch.entries.length, 0)).toBe(5);
    expect(byBytes.batches.map((b) => b.batch.batchSeq)).toEqual(byBytes.batches.map((_, i) => 4 + i));
    // Nothing new: one empty batch, as before.
    expect(r.export(NOW + 30).batches.map((b) => b.batch.entries.length)).toEqual([0]);
    expect(() => r.export(NOW + 30, { maxBatchEntries: 65_537 })).toThrow(expect.objectContaining({ code: 'reader.bad_config' }));
  });

  it('cutBacklog: greedy runs within both limits, at least one entry each, none for an empty backlog (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 500 }), { maxLength: 200 }), fc.integer({ min: 0, max: 300 }), fc.integer({ min: 800, max: 5000 }), fc.integer({ min: 1, max: 40 }), (sizes, overhead, maxBytes, maxEntries) => {
        const runs = cutBacklog(sizes, overhead, maxBytes, maxEntries);
        expect(runs.reduce((a, b) => a + b, 0)).toBe(sizes.length);
        let at = 0;
        for (const n of runs) {
          expect(n).toBeGreaterThanOrEqual(1);
          expect(n).toBeLessThanOrEqual(maxEntries);
          const bytes = overhead + sizes.slice(at, at + n).reduce((a, b) => a + b, 0);
          if (n > 1) expect(bytes).toBeLessThanOrEqual(maxBytes);
          // Greedy: the next entry would not have fitted.
          if (at + n < sizes.length) expect(n === maxEntries || bytes + sizes[at + n]! > maxBytes).toBe(true);
          at += n;
        }
      }),
      { numRuns: 300, seed: 12 },
    );
  });

  it('exports signed batches that chain, only new entries each time, and re-creates them byte for byte', async () => {
    const r = vendingReader();
    for (let c = 1; c <= 3; c++) await sell(r, pay(alice, c));
    const b1 = r.export(NOW + 10);
    const d1 = decodeBatch(b1.bytes);
    expect(d1).toMatchObject({ batchSeq: 1, firstSeq: 1 });
    expect(d1.entries).toHaveLength(3);
    expect(toHex(d1.prevHead)).toBe(toHex(genesisHash(4201, r.journalId)));
    expect(toHex(d1.journalId)).toBe(toHex(r.journalId));
    expect(batchChainHashes(d1).headMatches).toBe(true);
    await sell(r, pay(alice, 4));
    const d2 = decodeBatch(r.export(NOW + 20).bytes);
    expect(d2).toMatchObject({ batchSeq: 2, firstSeq: 4 });
    expect(toHex(d2.prevHead)).toBe(toHex(d1.head));
    expect(d2.entries).toHaveLength(1);
    const d3 = decodeBatch(r.export(NOW + 30).bytes);
    expect(d3).toMatchObject({ batchSeq: 3, firstSeq: 5, entries: [] });
    expect(toHex(d3.head)).toBe(toHex(d2.head));
    expect(toHex(r.exportBatch(1).bytes)).toBe(toHex(b1.bytes));
    expect(() => r.exportBatch(9)).toThrow(expect.objectContaining({ code: 'reader.unknown_batch' }));
  });

  it('never throws on arbitrary bytes: rejects them with a stateless reason', async () => {
    const r = vendingReader();
    r.openRequest({ amount: 1250, currency: HKD, now: NOW, challenge: new Uint8Array(8).fill(1) });
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 300 }), async (b) => {
        const v = await r.accept(b);
        expect(v.accepted).toBe(false);
        expect(v.code).toBeGreaterThan(0);
      }),
      { numRuns: 200, seed: 4 },
    );
    // Mutations of a valid token.
    const good = pay(alice, 77);
    await fc.assert(
      fc.asyncProperty(fc.nat(good.length - 1), fc.integer({ min: 1, max: 255 }), async (i, x) => {
        const m = good.slice();
        m[i]! ^= x;
        const v = await r.accept(m);
        expect(v.accepted).toBe(false);
      }),
      { numRuns: 200, seed: 5 },
    );
    expect(r.entries()).toHaveLength(0);
  });

  it('refuses a context that does not fit the profile', async () => {
    const r = vendingReader();
    expect(await r.accept(pay(alice, 1))).toMatchObject({ accepted: false, reason: 'request_not_open' });
    await expect(r.accept(pay(alice, 1), { fare: { amount: 1, currency: HKD } })).rejects.toMatchObject({ code: 'reader.bad_context' });
  });
});

describe('SQLite reader store', () => {
  const issuer = makeIssuer();
  const vend = makeReader(issuer, 'rt', 4201, 'vending');
  const alice = makeWallet(issuer, 'rt', 'alice');
  const bob = makeWallet(issuer, 'rt', 'bob');
  const { pay, reqFor, sell } = vendingHelpers(vend, alice);

  it('keeps the window, totals, tokens, blocklist and journal across reopening', async () => {
    const path = join(tmp, 'persist.db');
    let created = false;
    const store = () => (created ? SqliteReaderStore.open(path) : ((created = true), SqliteReaderStore.create(path)));
    const open = () => new Reader({ ...vend, issuerKeys: issuer.keySet(), store: store(), verifier: nodeEd25519(), clock: () => NOW, limits: { [HKD]: { dailyTotal: 3000 } } });
    const tok = (c: number) => pay(alice, c);
    let r = open();
    r.loadBlocklist(createBlocklist(issuer.keys[0]!, { issuerId: 7, version: 1, issuedAt: NOW, walletIds: [] }).bytes);
    expect((await sell(r, tok(1))).accepted).toBe(true);
    expect((await sell(r, tok(2))).accepted).toBe(true);
    r.store.close();
    r = open();
    expect(r.blocklistStatus(NOW)).toMatchObject({ loaded: true, version: 1 });
    // The open request, paid by tok(2), is remembered across reopening.
    const paid = reqFor(tok(2));
    expect(r.openRequestInfo()).toMatchObject({ request: { amount: paid.amount, challenge: paid.challenge }, paidBy: tokenHash(tok(2)) });
    const second = signToken(bob, { payee: 4201, amount: paid.amount, counter: 1, challenge: paid.challenge });
    expect(await r.accept(second)).toMatchObject({ accepted: false, reason: 'request_already_paid', code: 49 });
    expect(await r.accept(tok(2))).toMatchObject({ accepted: true, status: 'resumed' });
    expect(await sell(r, tok(3))).toMatchObject({ accepted: false, reason: 'daily_limit' });
    expect(r.verifyJournal()).toMatchObject({ ok: true, count: 2 });
    r.store.close();
    const other = makeReader(issuer, 'rt', 4202, 'vending');
    expect(() => new Reader({ ...other, issuerKeys: issuer.keySet(), store: SqliteReaderStore.open(path) })).toThrow(expect.objectContaining({ code: 'reader.wrong_store' }));
  });

  it('after a restart, a pending sale is found through the open request; voided because it was not dispensed, clearing does not charge it, and left alone it is charged (spec/reader.md §6, after a restart)', async () => {
    for (const dispensed of [false, true]) {
      const path = join(tmp, `restart-${dispensed}.db`);
      const open = (create: boolean) =>
        new Reader({ ...vend, issuerKeys: issuer.keySet(), store: create ? SqliteReaderStore.create(path) : SqliteReaderStore.open(path), verifier: nodeEd25519(), clock: () => NOW });
      let r = open(true);
      r.loadBlocklist(createBlocklist(issuer.keys[0]!, { issuerId: 7, version: 1, issuedAt: NOW, walletIds: [] }).bytes);
      const tok = pay(alice, 40 + Number(dispensed));
      expect(await sell(r, tok)).toMatchObject({ accepted: true, status: 'accepted' });
      // The machine dies before it dispenses (or before it reports that it did).
      r.store.close();
      r = open(false);
      const found = r.openRequestInfo();
      expect(found?.paidBy).toEqual(tokenHash(tok));
      if (dispensed) expect(r.complete(found!.paidBy!)).toBe(true);
      else expect(r.void(found!.paidBy!, NOW + 30)).toMatchObject({ ok: true });
      // The customer shows the token again: a repeat either way, never a second sale.
      expect(await r.accept(tok, { now: NOW + 31 })).toMatchObject({ accepted: false, reason: dispensed ? 'replayed' : 'already_voided' });
      const clearing = new Clearing({ issuerKeys: issuer.keySet(), clock: () => NOW + 60 });
      for (const b of r.export(NOW + 40).batches) expect(await clearing.ingest(b.bytes)).toMatchObject({ outcome: 'ingested' });
      const lines = await clearing.settlement();
      if (dispensed) expect(lines).toEqual([expect.objectContaining({ count: 1, gross: 1250n })]);
      else expect(lines.reduce((n, l) => n + l.gross, 0n)).toBe(0n);
      r.store.close();
    }
  });

  it('detects a tampered journal row', async () => {
    const path = join(tmp, 'tamper.db');
    const store = SqliteReaderStore.create(path);
    const r = new Reader({ ...vend, issuerKeys: issuer.keySet(), store, verifier: nodeEd25519(), clock: () => NOW });
    r.loadBlocklist(createBlocklist(issuer.keys[0]!, { issuerId: 7, version: 1, issuedAt: NOW, walletIds: [] }).bytes);
    for (let c = 1; c <= 3; c++) await sell(r, pay(alice, c));
    const row = store.journal(2, 2)[0]!;
    const forged = row.bytes.slice();
    forged[forged.length - 1]! ^= 1; // change the amount
    store.db.prepare('UPDATE journal SET entry = ? WHERE seq = 2').run(forged);
    expect(r.verifyJournal()).toMatchObject({ ok: false, error: { seq: 2, problem: 'hash_mismatch' } });
    store.close();
  });
});
