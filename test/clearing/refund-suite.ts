/**
 * Refunds over every clearing store engine (run by store-suite.ts, so SQLite and PostgreSQL pass the same
 * tests): spec/clearing.md §13 and money invariant M8.
 *  - the verdicts of a small scenario, one per code of §13, and the report's netting;
 *  - a settlement moved after a refund (a late tap-in lowering a tap-out-without-tap-in): the refund stays with
 *    its merchant at its amount and is flagged refund_unsettled;
 *  - a fast-check model: random sales, voids, trips and tap-outs at real Readers, then random refunds (valid,
 *    over the charge, by the wrong merchant, in the wrong currency, dated before the payment (61 s and more:
 *    refused; 60 s: clock skew; a trip is paid at the tap-out that sets its fare, so a refund dated at its tap-in,
 *    a ride of more than 60 s earlier, is refused too), repeated byte for byte, a second one, in random order)
 *    against a sequential model of §13, and the invariants: each token refunded at most once,
 *    by its own merchant, never above its charge; per line net = gross - fee - refunded; the wallets' credits
 *    add up to the refunds; no money appears or vanishes (sum of net + fee + refunded = gross);
 *  - the same invariants FAIL with the once-check removed (a store without the unique key): the test can fail;
 *  - on an engine of several processes: two nodes racing two refunds of one token, exactly one wins.
 */
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createRefund, decodeRefund, publicKeyOf, seededSecretKey, tokenHash, toHex, walletIdOf } from '../../src/index.js';
import { Clearing, type ClearingReport, type RefundResult } from '../../src/clearing/index.js';
import type { ClearingStore, RefundRow } from '../../src/clearing/store.js';
import { nodeEd25519 } from '../../src/node/crypto.js';
import { createBlocklist, MemoryReaderStore, Reader } from '../../src/reader/index.js';
import { paymentState } from '../../src/server/payments.js';
import { HKD, NOW, makeIssuer, makeReader, makeWallet, signToken } from '../reader/helpers.js';
import type { Engine } from './store-suite.js';

const USD = 840;
const issuer = makeIssuer('refund-suite');
const list = createBlocklist(issuer.keys[0]!, { issuerId: 7, version: 1, issuedAt: NOW, walletIds: [] }).bytes;
const wallets = ['a', 'b'].map((l) => makeWallet(issuer, 'refund-suite', l));
/** Readers: two vending machines of merchants 90 and 91, two gates of transit operator 300. */
const SPECS = [
  makeReader(issuer, 'refund-suite', 11, 'vending', 90),
  makeReader(issuer, 'refund-suite', 12, 'vending', 91),
  makeReader(issuer, 'refund-suite', 21, 'transit', 300),
  makeReader(issuer, 'refund-suite', 22, 'transit', 300),
];
const CLOCK = () => NOW + 3600;
const AT = NOW + 3000;

function readers(): Reader[] {
  return SPECS.map((m) => {
    const r = new Reader({ ...m, issuerKeys: issuer.keySet(), store: new MemoryReaderStore(), verifier: nodeEd25519(), clock: () => NOW });
    r.loadBlocklist(list);
    return r;
  });
}

async function sale(r: Reader, at: number, w: number, amount: number, counter: number, t: number, complete = true): Promise<Uint8Array> {
  const { request } = r.openRequest({ amount, currency: HKD, now: NOW + t });
  const tok = signToken(wallets[w]!, { payee: SPECS[at]!.cert.readerId, amount, counter, time: NOW + t, challenge: request.challenge });
  expect((await r.accept(tok, { complete, now: NOW + t })).accepted).toBe(true);
  return tok;
}

/** A refund of `token` signed by reader `by`'s key (its certificate's operator is the merchant). */
function refundOf(token: Uint8Array, by: number, amount: number, o: { currency?: number; time?: number } = {}): Uint8Array {
  const s = SPECS[by]!;
  return createRefund({ readerCert: s.cert, secretKey: s.secretKey }, { tokenHash: tokenHash(token), amount, currency: o.currency ?? HKD, time: o.time ?? AT }).bytes;
}

/** Invariants of M8 over a report: throws (expect) when one fails. `charges`: token hash hex -> [operator, charge]. */
export function checkRefundInvariants(rep: ClearingReport, charges: Map<string, { operatorId: number; currency: number; charge: bigint }>): void {
  const seen = new Set<string>();
  for (const r of rep.refunds) {
    expect(seen.has(r.tokenHash), `token ${r.tokenHash} refunded twice`).toBe(false);
    seen.add(r.tokenHash);
    const c = charges.get(r.tokenHash);
    expect(c, 'a refund of a token that does not settle').toBeDefined();
    expect(r.operatorId).toBe(c!.operatorId);
    expect(r.currency).toBe(c!.currency);
    expect(BigInt(r.amount) <= c!.charge, `refund ${r.amount} above charge ${c!.charge}`).toBe(true);
  }
  const perLine = new Map<string, bigint>();
  for (const r of rep.refunds) perLine.set(`${r.operatorId}|${r.currency}`, (perLine.get(`${r.operatorId}|${r.currency}`) ?? 0n) + BigInt(r.amount));
  for (const l of rep.settlement) {
    expect(l.net).toBe(l.gross - l.fee - l.refunded);
    expect(l.refunded).toBe(perLine.get(`${l.operatorId}|${l.currency}`) ?? 0n);
  }
  const credits = rep.refunds.reduce((s, r) => s + BigInt(r.amount), 0n);
  expect(rep.settlement.reduce((s, l) => s + l.refunded, 0n)).toBe(credits);
  expect(rep.totals.reduce((s, t) => s + t.refunded, 0n)).toBe(credits);
  for (const t of rep.totals) expect(t.net + t.fee + t.refunded).toBe(t.gross);
}

type Action =
  | { k: 'sale'; at: 0 | 1; w: 0 | 1; amount: number }
  | { k: 'void' }
  | { k: 'tapIn'; at: 2 | 3; w: 0 | 1; max: number }
  | { k: 'tapOut'; at: 2 | 3; fare: number; which: number; ride: number };
const action: fc.Arbitrary<Action> = fc.oneof(
  fc.record({ k: fc.constant('sale' as const), at: fc.constantFrom(0 as const, 1 as const), w: fc.constantFrom(0 as const, 1 as const), amount: fc.integer({ min: 1, max: 5000 }) }),
  fc.record({ k: fc.constant('void' as const) }),
  fc.record({ k: fc.constant('tapIn' as const), at: fc.constantFrom(2 as const, 3 as const), w: fc.constantFrom(0 as const, 1 as const), max: fc.integer({ min: 100, max: 3000 }) }),
  // `ride`: seconds the tap-out comes after the action's time (a trip lasts from seconds to minutes).
  fc.record({ k: fc.constant('tapOut' as const), at: fc.constantFrom(2 as const, 3 as const), fare: fc.integer({ min: 1, max: 3500 }), which: fc.nat(), ride: fc.integer({ min: 0, max: 300 }) }),
);
/** A refund attempt: which token, which merchant's key, how much (a fraction of the charge, or over it), currency, resend. */
interface Attempt {
  tok: number;
  /** A settled token, signed by a reader of the merchant it settles to (else any token, by reader `by`). */
  own: boolean;
  by: 0 | 1 | 2 | 3;
  frac: number;
  over: boolean;
  usd: boolean;
  resend: boolean;
  /**
   * When it is dated: after the payment (AT), 60 s before it (clock skew, allowed), 61 s and more before it, or at
   * the entry the token settles from (a sale's: the payment; a trip's tap-in: before the tap-out that pays it).
   */
  when: 'after' | 'skew' | 'early' | 'entry';
}
const attempt: fc.Arbitrary<Attempt> = fc.record({
  tok: fc.integer({ min: 0, max: 30 }),
  own: fc.constantFrom(true, true, true, false),
  by: fc.constantFrom(0 as const, 1 as const, 2 as const, 3 as const),
  frac: fc.double({ min: 0, max: 1, noNaN: true }),
  over: fc.constantFrom(false, false, false, true),
  usd: fc.constantFrom(false, false, false, true),
  resend: fc.boolean(),
  when: fc.constantFrom('after' as const, 'after' as const, 'after' as const, 'skew' as const, 'early' as const, 'entry' as const),
});

/** A store without the once-check: no unique key, never a held refund (the mutant the model must catch). */
function withoutOnceCheck(store: ClearingStore): ClearingStore {
  const rows: RefundRow[] = [];
  return new Proxy(store, {
    get(target, p, recv) {
      if (p === 'refundOf') return async () => undefined;
      if (p === 'putRefund') return async (r: RefundRow) => (rows.push(r), true);
      if (p === 'refunds') return async () => [...rows].sort((a, b) => toHex(a.walletId).localeCompare(toHex(b.walletId)) || toHex(a.tokenHash).localeCompare(toHex(b.tokenHash)));
      const v = Reflect.get(target, p, recv) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

/**
 * A walk over the paged refund list (Clearing.refundPage, `limit` a page) gives the report's refunds (as a set:
 * the pages are in the order stored, the report by wallet) and, page by page, the report's refund problems.
 */
async function expectPagesMatchReport(c: Clearing, rep: ClearingReport, limit: number): Promise<void> {
  const refunds: string[] = [];
  const problems: unknown[] = [];
  for (let after = 0; ;) {
    const p = await c.refundPage(after, limit);
    refunds.push(...p.refunds.map((r) => JSON.stringify(r)));
    problems.push(...p.problems);
    if (p.nextAfter === undefined) break;
    after = p.nextAfter;
  }
  expect(refunds.sort()).toEqual(rep.refunds.map((r) => JSON.stringify(r)).sort());
  const key = (x: unknown) => (x as { refund: { tokenHash: string } }).refund.tokenHash;
  expect([...problems].sort((a, b) => key(a).localeCompare(key(b)))).toEqual([...rep.refundProblems].sort((a, b) => key(a).localeCompare(key(b))));
}

/** Verdicts the model runs reached (the property must exercise every one). */
const reached = new Set<string>();
/** Also reached: a trip refund dated after its tap-in but more than 60 s before the tap-out that sets its fare. */
const TRIP_BEFORE_FARE = 'refund.before_payment of a trip, dated after its tap-in';

/** One model run: returns normally when every verdict matches the model and the invariants hold. */
async function modelRun(open: (o: Parameters<Engine['fresh']>[0]) => Promise<Clearing>, actions: Action[], attempts: Attempt[], compareModel: boolean): Promise<void> {
  const rs = readers();
  const counters = [1, 1];
  const signed: Uint8Array[] = [];
  const sales: { r: Reader; t: Uint8Array }[] = [];
  const trips: Uint8Array[] = [];
  let t = 0;
  for (const a of actions) {
    t += 5;
    if (a.k === 'sale') {
      const tok = await sale(rs[a.at]!, a.at, a.w, a.amount, counters[a.w]!++, t, a.amount % 2 === 0);
      signed.push(tok);
      sales.push({ r: rs[a.at]!, t: tok });
    } else if (a.k === 'void') {
      const s = sales.pop();
      if (s) s.r.void(tokenHash(s.t), NOW + t);
    } else if (a.k === 'tapIn') {
      const tok = signToken(wallets[a.w]!, { payee: 300, amount: a.max, counter: counters[a.w]!++, time: NOW + t });
      signed.push(tok);
      if ((await rs[a.at]!.accept(tok, { tapIn: { maxFare: a.max, currency: HKD } })).accepted) trips.push(tok);
    } else if (trips.length) {
      await rs[a.at]!.tapOut(trips[a.which % trips.length]!, { fare: a.fare, currency: HKD, now: NOW + t + a.ride });
    }
  }
  signed.push(signToken(wallets[0]!, { payee: 11, amount: 77, counter: 999, time: NOW })); // never taken
  const clearing = await open({ issuerKeys: issuer.keySet(), clock: CLOCK });
  try {
    for (const r of rs) expect((await clearing.ingest(r.export(NOW + 600).bytes)).outcome).toBe('ingested');
    // How each token settles before any refund (refunds do not change settlement).
    const charges = new Map<string, { operatorId: number; currency: number; charge: bigint }>();
    /**
     * The reader time each settling token was paid (§13 step 7): the entry it settles from, or for a trip the
     * tap-out that sets its fare (§5 step 3: the first counting tap-out of its operator, in entry order, whose
     * fare capped at the maximum is the charge). `settledAt`: the time of the entry it settles from.
     */
    const paidAt = new Map<string, number>();
    const settledAt = new Map<string, number>();
    const trip = new Set<string>();
    const state = new Map<string, 'unknown' | 'pending' | 'successful' | 'failed'>();
    for (const tok of signed) {
      const h = toHex(tokenHash(tok));
      const f = await clearing.paymentFacts(tokenHash(tok));
      if (!f) {
        state.set(h, 'unknown');
        continue;
      }
      const st = paymentState(h, f);
      state.set(h, st.state as 'pending' | 'successful' | 'failed');
      if (st.state === 'successful') {
        charges.set(h, { operatorId: st.operatorId!, currency: st.currency!, charge: BigInt(st.amount!) });
        const from = st.evidence.entry!;
        settledAt.set(h, from.time);
        if (st.settledAs === 'trip') {
          trip.add(h);
          const fare = st.evidence.entries.find((e) => e.valid && e.kind === 'tap_out' && e.operatorId === st.operatorId && e.value > 0 && Math.min(from.value, e.value) === Number(st.amount));
          paidAt.set(h, Math.max(from.time, fare!.time)); // never before the tap-in (§13 step 7)
        } else {
          paidAt.set(h, from.time);
        }
      }
    }
    // The model of spec/clearing.md §13, one refund at a time in the order sent.
    const held = new Map<string, Uint8Array>();
    const sent: Uint8Array[] = [];
    for (const a of attempts) {
      let bytes: Uint8Array;
      if (a.resend && sent.length) {
        bytes = sent[a.tok % sent.length]!;
      } else {
        // A merchant refunds its own settled payments; anyone else any token (unknown, pending, voided ones too).
        const settledToks = signed.filter((x) => charges.has(toHex(tokenHash(x))));
        const tok = a.own && settledToks.length ? settledToks[a.tok % settledToks.length]! : signed[a.tok % signed.length]!;
        const c = charges.get(toHex(tokenHash(tok)));
        const charge = Number(c?.charge ?? 1000n);
        const amount = a.over ? charge + 1 + Math.floor(a.frac * 100) : Math.max(1, Math.ceil(a.frac * charge));
        const by = a.own && c ? SPECS.findIndex((x) => x.cert.operatorId === c.operatorId) : a.by;
        const paid = paidAt.get(toHex(tokenHash(tok))) ?? NOW;
        const time = a.when === 'after' ? AT + sent.length : a.when === 'skew' ? paid - 60 : a.when === 'entry' ? settledAt.get(toHex(tokenHash(tok))) ?? NOW : paid - 61 - Math.floor(a.frac * 1000);
        bytes = refundOf(tok, by, amount, { currency: a.usd && a.frac < 0.2 ? USD : HKD, time });
      }
      sent.push(bytes);
      const got: RefundResult = await clearing.refund(bytes, AT + 100);
      if (!compareModel) continue;
      const h = got.tokenHash!;
      const prior = held.get(h);
      const c = charges.get(h);
      const want = ((): string => {
        if (prior && Buffer.compare(Buffer.from(prior), Buffer.from(bytes)) === 0) return 'duplicate';
        const st = state.get(h)!;
        if (st === 'unknown') return 'refund.unknown_payment';
        if (st !== 'successful') return 'refund.not_settled';
        const refund = decodeRefund(bytes);
        if (refund.readerCert.operatorId !== c!.operatorId) return 'refund.wrong_merchant';
        if (refund.currency !== c!.currency) return 'refund.wrong_currency';
        if (refund.time + 60 < paidAt.get(h)!) {
          if (trip.has(h) && refund.time + 60 >= settledAt.get(h)!) reached.add(TRIP_BEFORE_FARE);
          return 'refund.before_payment';
        }
        if (BigInt(refund.amount) > c!.charge) return 'refund.too_much';
        if (prior) return 'refund.already_refunded';
        held.set(h, bytes);
        return 'accepted';
      })();
      expect(got.outcome === 'rejected' ? got.reason : got.outcome).toBe(want);
      reached.add(want);
    }
    const rep = await clearing.report();
    checkRefundInvariants(rep, charges);
    if (compareModel) {
      await expectPagesMatchReport(clearing, rep, 1 + (sent.length % 3));
      expect(rep.refunds.map((r) => r.tokenHash).sort()).toEqual([...held.keys()].sort());
      expect(rep.refundProblems).toEqual([]);
      // A held refund makes the payment `refunded`, with the charge and the refund.
      for (const [h, bytes] of held) {
        const st = paymentState(h, (await clearing.paymentFacts(Buffer.from(h, 'hex')))!);
        expect(st.state).toBe('refunded');
        expect(st.amount).toBe(charges.get(h)!.charge.toString());
        expect(st.refund!.amount).toBe(String(decodeRefund(bytes).amount));
      }
      // Every wallet's credits are the refunds of its tokens.
      for (const r of rep.refunds) expect([...wallets.map((w) => toHex(walletIdOf(w.cert.walletPublicKey)))]).toContain(r.walletId);
    }
  } finally {
    await clearing.close();
  }
}

export function refundSuite(e: Engine): void {
  describe(`refunds: ${e.name}`, () => {
    it('each verdict of spec/clearing.md §13 on a small scenario; the report nets refunds per merchant', async () => {
      const rs = readers();
      const s1 = await sale(rs[0]!, 0, 0, 1000, 1, 5);
      const s2 = await sale(rs[1]!, 1, 1, 500, 1, 10);
      const s3 = await sale(rs[0]!, 0, 1, 700, 2, 15, false);
      expect(rs[0]!.void(tokenHash(s3), NOW + 20)).toMatchObject({ ok: true });
      const trip = signToken(wallets[0]!, { payee: 300, amount: 3000, counter: 2, time: NOW + 25 });
      expect((await rs[2]!.accept(trip, { tapIn: { maxFare: 3000, currency: HKD } })).accepted).toBe(true);
      const never = signToken(wallets[0]!, { payee: 11, amount: 77, counter: 999, time: NOW });
      const c = await e.fresh({ issuerKeys: issuer.keySet(), clock: CLOCK });
      try {
        for (const r of rs) expect((await c.ingest(r.export(NOW + 600).bytes)).outcome).toBe('ingested');
        const partial = refundOf(s1, 0, 400);
        const verdict = async (b: Uint8Array) => {
          const r = await c.refund(b, AT + 10);
          return r.outcome === 'rejected' ? r.reason : r.outcome;
        };
        expect(await verdict(partial)).toBe('accepted');
        expect(await verdict(partial)).toBe('duplicate');
        expect(await verdict(refundOf(s1, 0, 300, { time: AT + 1 }))).toBe('refund.already_refunded');
        expect(await verdict(refundOf(s2, 1, 501))).toBe('refund.too_much');
        expect(await verdict(refundOf(s2, 0, 500))).toBe('refund.wrong_merchant');
        expect(await verdict(refundOf(s2, 1, 500, { currency: USD }))).toBe('refund.wrong_currency');
        expect(await verdict(refundOf(trip, 2, 100))).toBe('refund.not_settled'); // an open trip: pending
        expect(await verdict(refundOf(s3, 0, 100))).toBe('refund.not_settled'); // voided
        expect(await verdict(refundOf(never, 0, 10))).toBe('refund.unknown_payment');
        // Dated before the payment (s2: reader time NOW + 10): 61 s is refused, 60 s is clock skew.
        expect(await verdict(refundOf(s2, 1, 500, { time: NOW + 10 - 61 }))).toBe('refund.before_payment');
        // A till of merchant 91 retired before the sale (its certificate ended at NOW - 60): its key, dated inside
        // that window, cannot refund what merchant 91 sold afterwards.
        const retiredKey = seededSecretKey('refund-suite', 'retired-till');
        const retired = issuer.issueReaderCert({ readerId: 13, readerPublicKey: publicKeyOf(retiredKey), operatorId: 91, profile: 'vending', notBefore: NOW - 86400 * 30, notAfter: NOW - 60 }, NOW - 86400 * 30);
        const byRetired = (time: number) => createRefund({ readerCert: retired, secretKey: retiredKey }, { tokenHash: tokenHash(s2), amount: 500, currency: HKD, time }).bytes;
        expect(await verdict(byRetired(NOW - 61 - 60))).toBe('refund.before_payment');
        expect(await verdict(byRetired(AT))).toBe('refund.cert_not_valid'); // dated now: outside its window
        expect(await verdict(refundOf(s2, 1, 500))).toBe('accepted'); // in full
        const full = await c.refund(refundOf(s2, 1, 500), AT + 10);
        expect(full).toMatchObject({ outcome: 'duplicate', refund: { amount: '500', partial: false, operatorId: 91, readerId: 12 } });
        const rep = await c.report();
        expect(rep.settlement).toEqual([
          { operatorId: 90, currency: HKD, count: 1, gross: 1000n, feeBps: 150, fee: 15n, refunds: 1, refunded: 400n, net: 585n },
          { operatorId: 91, currency: HKD, count: 1, gross: 500n, feeBps: 150, fee: 8n, refunds: 1, refunded: 500n, net: -8n }, // 7.5 -> 8; the fee is not given back
          { operatorId: 300, currency: HKD, count: 1, gross: 3000n, feeBps: 150, fee: 45n, refunds: 0, refunded: 0n, net: 2955n },
        ]);
        expect(rep.totals).toEqual([{ currency: HKD, count: 3, gross: 4500n, fee: 68n, refunds: 2, refunded: 900n, net: 3532n }]);
        const w0 = toHex(walletIdOf(wallets[0]!.cert.walletPublicKey));
        const w1 = toHex(walletIdOf(wallets[1]!.cert.walletPublicKey));
        expect(rep.refunds.map((r) => [r.walletId, r.tokenHash, r.amount, r.operatorId, r.readerId, r.time, r.acceptedAt])).toEqual(
          [
            [w0, toHex(tokenHash(s1)), '400', 90, 11, AT, AT + 10],
            [w1, toHex(tokenHash(s2)), '500', 91, 12, AT, AT + 10],
          ].sort((a, b) => String(a[0]).localeCompare(String(b[0]))),
        );
        const st = paymentState(toHex(tokenHash(s1)), (await c.paymentFacts(tokenHash(s1)))!);
        expect(st).toMatchObject({ state: 'refunded', amount: '1000', currency: HKD, operatorId: 90, refund: { amount: '400', currency: HKD, time: AT, partial: true } });
        expect((await c.refundReport()).refunds).toEqual(rep.refunds);
      } finally {
        await c.close();
      }
    });

    it('a payment index build that failed once (a database locked past its busy timeout) is built again by the next refund', async () => {
      const rs = readers();
      const s1 = await sale(rs[0]!, 0, 0, 1000, 1, 5);
      const c = await e.fresh({ issuerKeys: issuer.keySet(), clock: CLOCK });
      let failures = 1;
      const store = new Proxy(c.store, {
        get(target, p, recv) {
          if (p === 'indexPayments') {
            return async () => {
              if (failures-- > 0) throw new Error('SQLITE_BUSY: database is locked');
              return target.indexPayments();
            };
          }
          const v = Reflect.get(target, p, recv) as unknown;
          return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
        },
      });
      const c2 = await Clearing.open({ issuerKeys: issuer.keySet(), clock: CLOCK, store });
      try {
        expect((await c2.ingest(rs[0]!.export(NOW + 600).bytes)).outcome).toBe('ingested');
        await expect(c2.refund(refundOf(s1, 0, 100), AT)).rejects.toThrow(/database is locked/);
        expect(await c2.refund(refundOf(s1, 0, 100), AT)).toMatchObject({ outcome: 'accepted' });
      } finally {
        await c2.close();
      }
    });

    it('a sale voided after its refund: still refunded, the refund decides, evidence.entry null (spec/clearing-api.md §2.6)', async () => {
      const rs = readers();
      const s1 = await sale(rs[0]!, 0, 0, 700, 1, 10, false);
      const c = await e.fresh({ issuerKeys: issuer.keySet(), clock: CLOCK });
      try {
        expect((await c.ingest(rs[0]!.export(NOW + 20).bytes)).outcome).toBe('ingested');
        expect((await c.refund(refundOf(s1, 0, 700, { time: NOW + 30 }), AT)).outcome).toBe('accepted');
        expect(rs[0]!.void(tokenHash(s1), NOW + 40)).toMatchObject({ ok: true });
        expect((await c.ingest(rs[0]!.export(NOW + 50).bytes)).outcome).toBe('ingested');
        const st = paymentState(toHex(tokenHash(s1)), (await c.paymentFacts(tokenHash(s1)))!);
        expect(st).toMatchObject({ state: 'refunded', amount: '700', refund: { amount: '700' } });
        expect(st.evidence.entry).toBeNull();
        expect(JSON.parse(JSON.stringify(st)).evidence).toHaveProperty('entry', null);
      } finally {
        await c.close();
      }
    });

    it('a page and its totals are one view: a refund stored between their reads is in neither, and a finished walk lists what its totals count', async () => {
      const rs = readers();
      const toks = [];
      for (let i = 0; i < 4; i++) toks.push(await sale(rs[0]!, 0, 0, 100 + i, 1 + i, 5 + i));
      const c = await e.fresh({ issuerKeys: issuer.keySet(), clock: CLOCK });
      let late: Uint8Array | undefined;
      const store = new Proxy(c.store, {
        get(target, p, recv) {
          // Whichever of the page's two reads comes first, a refund is stored right after it.
          if (p === 'refundTotals' || p === 'refundsAfter') {
            return async (...a: unknown[]) => {
              const t = await (target[p] as (...x: unknown[]) => Promise<unknown>).apply(target, a);
              if (late) {
                const b = late;
                late = undefined;
                expect((await c2.refund(b, AT)).outcome).toBe('accepted'); // stored between the two reads
              }
              return t;
            };
          }
          const v = Reflect.get(target, p, recv) as unknown;
          return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
        },
      });
      const c2 = await Clearing.open({ issuerKeys: issuer.keySet(), clock: CLOCK, store });
      try {
        expect((await c2.ingest(rs[0]!.export(NOW + 600).bytes)).outcome).toBe('ingested');
        for (const t of toks.slice(0, 3)) expect((await c2.refund(refundOf(t, 0, 10), AT)).outcome).toBe('accepted');
        late = refundOf(toks[3]!, 0, 10);
        const page = await c2.refundPage(0, 3);
        // The last page (next null) lists the refunds its totals count: three; the fourth comes after `last`.
        expect(page.nextAfter).toBeUndefined();
        expect(page.totals).toEqual([{ currency: HKD, count: 3, amount: 30n }]);
        expect(page.refunds.length).toBe(3);
        const more = await c2.refundPage(page.lastSeq!, 2);
        expect(more.refunds.map((r) => r.tokenHash)).toEqual([toHex(tokenHash(toks[3]!))]);
        expect(more.totals).toEqual([{ currency: HKD, count: 4, amount: 40n }]);
      } finally {
        await c2.close();
      }
    });

    it('a later batch lowers a refunded charge: the refund stays with its merchant at its amount, flagged refund_unsettled', async () => {
      const rs = readers();
      const trip = signToken(wallets[1]!, { payee: 300, amount: 3000, counter: 7, time: NOW + 5 });
      expect((await rs[2]!.accept(trip, { tapIn: { maxFare: 3000, currency: HKD } })).accepted).toBe(true);
      expect((await rs[3]!.tapOut(trip, { fare: 800, currency: HKD, now: NOW + 30 })).accepted).toBe(true);
      const c = await e.fresh({ issuerKeys: issuer.keySet(), clock: CLOCK });
      try {
        // The exit gate uploads first: a tap-out without tap-in is charged the token amount, 3000 (M3).
        expect((await c.ingest(rs[3]!.export(NOW + 600).bytes)).outcome).toBe('ingested');
        expect((await c.refund(refundOf(trip, 3, 2000), AT)).outcome).toBe('accepted');
        expect((await c.ingest(rs[2]!.export(NOW + 600).bytes)).outcome).toBe('ingested');
        const rep = await c.report();
        expect(rep.settlement).toEqual([{ operatorId: 300, currency: HKD, count: 1, gross: 800n, feeBps: 150, fee: 12n, refunds: 1, refunded: 2000n, net: 800n - 12n - 2000n }]);
        expect(rep.refundProblems).toEqual([expect.objectContaining({ kind: 'refund_unsettled', why: 'charge_below_refund', now: { operatorId: 300, charge: 800n, as: 'trip' } })]);
        expect(rep.refundProblems[0]!.refund).toMatchObject({ amount: '2000', charge: '3000' });
        await expectPagesMatchReport(c, rep, 1);
        // Resending the accepted refund stays a duplicate (it is judged before the settlement is).
        expect((await c.refund(refundOf(trip, 3, 2000), AT + 50)).outcome).toBe('duplicate');
      } finally {
        await c.close();
      }
    });

    it('model: random payments and refunds agree with spec/clearing.md §13 and keep M8', async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(action, { minLength: 1, maxLength: 10 }), fc.array(attempt, { minLength: 1, maxLength: 12 }), (actions, attempts) =>
          modelRun(e.fresh, actions, attempts, true),
        ),
        { numRuns: 60, seed: 1610 },
      );
      expect([...reached].sort()).toEqual(
        ['accepted', 'duplicate', 'refund.already_refunded', 'refund.before_payment', TRIP_BEFORE_FARE, 'refund.not_settled', 'refund.too_much', 'refund.unknown_payment', 'refund.wrong_currency', 'refund.wrong_merchant'].sort(),
      );
    }, 240_000);

    it('the invariants catch a clearing without the once-check (the test can fail)', async () => {
      if (e.name !== 'SQLite') return; // the mutant wraps any store; once is enough
      const r = await fc.check(
        fc.asyncProperty(fc.array(action, { minLength: 1, maxLength: 10 }), fc.array(attempt, { minLength: 1, maxLength: 12 }), (actions, attempts) =>
          modelRun(async (o) => {
            const real = await e.fresh(o);
            return Clearing.open({ ...o, store: withoutOnceCheck(real.store) });
          }, actions, attempts, false),
        ),
        { numRuns: 30, seed: 1610, endOnFailure: true },
      );
      expect(r.failed).toBe(true);
      expect(String(r.errorInstance)).toMatch(/refunded twice|above charge/);
    }, 240_000);

    it('paging: random page sizes walk every refund once, in the order stored, refunds stored between pages at the end', async () => {
      // Store-level rows (the store does not judge refunds): what is paged is the store's order, not the verdicts.
      let n = 0;
      const row = (): RefundRow => {
        n++;
        const id = (what: string, len: number) => new Uint8Array(createHash('sha256').update(what).digest()).subarray(0, len);
        return { tokenHash: id(`token ${n}`, 32), bytes: id(`refund ${n}`, 32), operatorId: 90 + (n % 3), readerId: 11, walletId: id(`wallet ${n % 5}`, 16), amount: 1 + (n % 700), currency: n % 4 ? HKD : USD, charge: 1000, time: AT, acceptedAt: AT + n };
      };
      const step = fc.oneof(fc.record({ add: fc.integer({ min: 0, max: 6 }) }), fc.record({ page: fc.integer({ min: 1, max: 7 }) }));
      await fc.assert(
        fc.asyncProperty(fc.integer({ min: 0, max: 12 }), fc.array(step, { maxLength: 25 }), async (initial, steps) => {
          const c = await e.fresh({ issuerKeys: issuer.keySet(), clock: CLOCK });
          try {
            const stored: string[] = [];
            const amounts = new Map<number, bigint>();
            const add = async (k: number) => {
              for (let i = 0; i < k; i++) {
                const r = row();
                expect(await c.store.putRefund(r)).toBe(true);
                stored.push(toHex(r.tokenHash));
                amounts.set(r.currency, (amounts.get(r.currency) ?? 0n) + BigInt(r.amount));
              }
            };
            await add(initial);
            const listed: string[] = [];
            let after = 0;
            let done = false;
            const page = async (limit: number) => {
              const p = await c.refundPage(after, limit);
              expect(p.refunds.length).toBeLessThanOrEqual(limit);
              if (p.nextAfter !== undefined) expect(p.refunds).toHaveLength(limit);
              expect(p.totals.map((t) => [t.currency, t.amount])).toEqual([...amounts].sort((a, b) => a[0] - b[0]));
              listed.push(...p.refunds.map((r) => r.tokenHash));
              // Nothing was stored since this page was read: it is the last page exactly when all were listed.
              expect(p.nextAfter === undefined).toBe(listed.length === stored.length);
              if (p.nextAfter === undefined) done = true;
              else after = p.nextAfter;
            };
            for (const s of steps) {
              if (done) break;
              if ('add' in s) await add(s.add);
              else await page(s.page);
            }
            while (!done) await page(1 + (listed.length % 5));
            // Every refund once, in the order stored (those added between pages came after the cursor).
            expect(listed).toEqual(stored);
          } finally {
            await c.close();
          }
        }),
        { numRuns: e.shared ? 12 : 40, seed: 1611 },
      );
      const c = await e.fresh({ issuerKeys: issuer.keySet(), clock: CLOCK });
      try {
        for (const [after, limit] of [[-1, 10], [0.5, 10], [0, 0], [0, 1001], [0, 1.5]] as const) await expect(c.refundPage(after, limit)).rejects.toMatchObject({ code: 'clearing.bad_option' });
      } finally {
        await c.close();
      }
    }, 240_000);

    // Only engines where several processes share one database register these tests (no skipped placeholder).
    if (e.shared !== undefined) it('paging while two nodes store refunds: every refund once, in the order stored', async () => {
      const open = await e.shared!();
      const nodes = [await open({ issuerKeys: issuer.keySet(), clock: CLOCK }), await open({ clock: CLOCK })];
      const pager = await open({ clock: CLOCK });
      const id = (what: string, len: number) => new Uint8Array(createHash('sha256').update(what).digest()).subarray(0, len);
      const row = (name: string): RefundRow => ({
        tokenHash: id(`token ${name}`, 32), bytes: id(`refund ${name}`, 32), operatorId: 90, readerId: 11, walletId: id(`wallet ${name}`, 16), amount: 5, currency: HKD, charge: 10, time: AT, acceptedAt: AT,
      });
      try {
        let writing = true;
        const written = Promise.all(nodes.map(async (c, w) => {
          for (let i = 0; i < 80; i++) expect(await c.store.putRefund(row(`${w}:${i}`))).toBe(true);
        })).finally(() => (writing = false));
        const listed: string[] = [];
        let after = 0;
        for (let k = 0; ; k++) {
          const finished = !writing;
          const p = await pager.refundPage(after, 1 + (k % 6));
          listed.push(...p.refunds.map((r) => r.tokenHash));
          if (p.lastSeq !== undefined) after = p.lastSeq;
          if (finished && p.nextAfter === undefined) break;
        }
        await written;
        expect(listed).toHaveLength(160);
        expect(listed).toEqual((await pager.refundPage(0, 1000)).refunds.map((r) => r.tokenHash));
      } finally {
        await Promise.all([...nodes, pager].map((c) => c.close()));
      }
    });


    if (e.shared !== undefined) it('two nodes race two refunds of one token: exactly one is accepted', async () => {
      const rs = readers();
      const toks: Uint8Array[] = [];
      const N = 12;
      for (let i = 0; i < 2 * N; i++) toks.push(await sale(rs[0]!, 0, i % 2, 1000 + i, 10 + i, 5 + i));
      const open = await e.shared!();
      const nodeA = await open({ issuerKeys: issuer.keySet(), clock: CLOCK });
      const nodeB = await open({ clock: CLOCK });
      // Count the inserts the unique key refused: evidence that both nodes passed the read before either wrote.
      let lost = 0;
      for (const n of [nodeA, nodeB]) {
        const put = n.store.putRefund.bind(n.store);
        Object.assign(n.store, { putRefund: async (r: RefundRow) => ((await put(r)) ? true : (lost++, false)) });
      }
      try {
        expect((await nodeA.ingest(rs[0]!.export(NOW + 600).bytes)).outcome).toBe('ingested');
        for (let i = 0; i < N; i++) {
          // Two different refunds of one token at two nodes at once: one accepted, the other already_refunded.
          const [a, b] = await Promise.all([nodeA.refund(refundOf(toks[i]!, 0, 100 + i), AT), nodeB.refund(refundOf(toks[i]!, 0, 200 + i), AT)]);
          expect([a.outcome, b.outcome].sort()).toEqual(['accepted', 'rejected']);
          expect([a.reason, b.reason].filter(Boolean)).toEqual(['refund.already_refunded']);
          // The same bytes at both nodes at once: one accepted, the other a duplicate.
          const z = refundOf(toks[N + i]!, 0, 1);
          const same = await Promise.all([nodeA.refund(z, AT), nodeB.refund(z, AT)]);
          expect(same.map((r) => r.outcome).sort()).toEqual(['accepted', 'duplicate']);
        }
        const rep = await nodeB.report();
        expect(rep.refunds).toHaveLength(2 * N);
        expect(new Set(rep.refunds.map((r) => r.tokenHash)).size).toBe(toks.length);
        expect((await nodeA.report()).refunds).toEqual(rep.refunds);
        expect(lost).toBeGreaterThan(0);
      } finally {
        await Promise.all([nodeA.close(), nodeB.close()]);
      }
    });
  });
}

