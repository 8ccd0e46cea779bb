/**
 * Two refund defects a review found, each test failing before its fix:
 *  - spec/clearing.md §13 step 7 and M8: a trip is paid at the tap-out that sets its fare, not at its tap-in, so a
 *    refund dated during the trip (more than 60 s before that tap-out) is `refund.before_payment`, and the key of
 *    a till whose certificate ended during the trip cannot refund it; with several tap-outs, the one that sets
 *    the fare is the earliest counting one whose fare, capped at the maximum, is the charge (settle()'s `paidAt`);
 *    the report's over-allowance evidence keeps the fields of §7;
 *  - spec/clearing-api.md §9.1 and W1: a refund stored while the webhook outbox refused its event (503) gets its
 *    `charge.refunded` when the till sends a refund of the token again signed anew (other bytes: 409
 *    `refund.already_refunded`), as `offpay reader refund` run again does.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Clearing, settle, type SettleRow } from '../../src/clearing/index.js';
import { main } from '../../src/cli/main.js';
import { createRefund, publicKeyOf, seededSecretKey, tokenHash, toHex } from '../../src/index.js';
import type { ReaderCert } from '../../src/messages.js';
import { saveReader } from '../../src/node/files.js';
import { JournalKind } from '../../src/reader/journal.js';
import { createClearingServer } from '../../src/server/api.js';
import { SqliteWebhookOutbox } from '../../src/server/outbox.js';
import { eventId, WebhookService } from '../../src/server/webhooks.js';
import { HKD, NOW, makeIssuer, makeReader, makeWallet, openTestReader, signToken } from '../reader/helpers.js';
import { sell, vendingReader } from './vending.js';
import { refusingOutbox } from './refusing-outbox.js';

const SEED = 'refund-review';
const issuer = makeIssuer(SEED);
const OP = 'ab'.repeat(32);
const CLOCK = () => NOW + 7200;
const dir = mkdtempSync(join(tmpdir(), 'offpay-refund-review-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

type Signer = { secretKey: Uint8Array; cert: ReaderCert };
const refundBy = (by: Signer, token: Uint8Array, amount: number, time: number) =>
  createRefund({ readerCert: by.cert, secretKey: by.secretKey }, { tokenHash: tokenHash(token), amount, currency: HKD, time }).bytes;
const verdict = (r: { outcome: string; reason: string | null }) => (r.outcome === 'rejected' ? r.reason : r.outcome);

/**
 * A trip of transit operator 300 tapped in at gate 21 at reader time NOW (maximum 3000), then tapped out at each
 * of `outs` (gate, fare, reader time), and every gate's batch ingested into `c`.
 */
async function trip(c: Clearing, wallet: string, outs: { gate: number; fare: number; at: number }[]): Promise<Uint8Array> {
  const w = makeWallet(issuer, SEED, wallet);
  const gateIn = openTestReader(issuer, SEED, 21);
  const t = signToken(w, { payee: 300, amount: 3000, counter: 1, time: NOW });
  expect((await gateIn.accept(t, { tapIn: { maxFare: 3000, currency: HKD } })).accepted).toBe(true);
  expect((await c.ingest(gateIn.export(NOW + 60).bytes)).outcome).toBe('ingested');
  for (const o of outs) {
    const gate = openTestReader(issuer, SEED, o.gate);
    expect((await gate.tapOut(t, { fare: o.fare, currency: HKD, now: o.at })).accepted).toBe(true);
    expect((await c.ingest(gate.export(o.at + 60).bytes)).outcome).toBe('ingested');
  }
  return t;
}

describe('a trip is paid at the tap-out that sets its fare (spec/clearing.md §13 step 7, M8)', () => {
  it('DEFECT 1: a trip refund dated before the tap-out that sets its fare is refund.before_payment', async () => {
    const c = new Clearing({ issuerKeys: issuer.keySet(), clock: CLOCK });
    try {
      const t = await trip(c, 'trip', [{ gate: 22, fare: 800, at: NOW + 3600 }]);
      const gate = makeReader(issuer, SEED, 21, 'transit', 300);
      // Dated 100 s after the tap-in, 3,500 s before the tap-out; then 61 s before it: both refused.
      expect(verdict(await c.refund(refundBy(gate, t, 800, NOW + 100), CLOCK()))).toBe('refund.before_payment');
      const early = await c.refund(refundBy(gate, t, 800, NOW + 3600 - 61), CLOCK());
      expect(early).toMatchObject({ outcome: 'rejected', reason: 'refund.before_payment' });
      expect(early.message).toContain(`reader time ${NOW + 3600}, the tap-out that set the fare`);
      // 60 s before the tap-out is clock skew: accepted.
      expect(verdict(await c.refund(refundBy(gate, t, 800, NOW + 3600 - 60), CLOCK()))).toBe('accepted');
      // The payment's evidence stays the tap-in it settles from (spec/clearing-api.md §2.6); paidAt is the tap-out.
      expect((await c.paymentFacts(tokenHash(t)))!.settled).toMatchObject({ as: 'trip', operatorId: 300, charge: 800n, entry: { kind: 'tap_in', time: NOW }, paidAt: NOW + 3600 });
    } finally {
      await c.close();
    }
  });

  it('DEFECT 1b: a retired till whose certificate ended during a trip cannot refund that trip', async () => {
    const c = new Clearing({ issuerKeys: issuer.keySet(), clock: CLOCK });
    try {
      const t = await trip(c, 'retired', [{ gate: 22, fare: 800, at: NOW + 3600 }]);
      const key = seededSecretKey(SEED, 'retired-till');
      const cert = issuer.issueReaderCert({ readerId: 29, readerPublicKey: publicKeyOf(key), operatorId: 300, profile: 'vending', notBefore: NOW - 86400, notAfter: NOW + 200 }, NOW - 86400);
      // Dated after its window it is refused statelessly; dated inside it (NOW + 150), before the fare was set.
      expect(verdict(await c.refund(refundBy({ secretKey: key, cert }, t, 800, NOW + 3600), CLOCK()))).toBe('refund.cert_not_valid');
      expect(verdict(await c.refund(refundBy({ secretKey: key, cert }, t, 800, NOW + 150), CLOCK()))).toBe('refund.before_payment');
      // A till of operator 300 still certified refunds it once the fare is set.
      expect(verdict(await c.refund(refundBy(makeReader(issuer, SEED, 22, 'transit', 300), t, 800, NOW + 3700), CLOCK()))).toBe('accepted');
    } finally {
      await c.close();
    }
  });

  it('several tap-outs: the trip is paid at the first that set its fare; a later, higher fare moves it later', async () => {
    const c = new Clearing({ issuerKeys: issuer.keySet(), clock: CLOCK });
    try {
      const gate = makeReader(issuer, SEED, 22, 'transit', 300);
      // 800 at NOW + 1000, then 500 at NOW + 4000: the fare was set (800) at the first tap-out.
      const lower = await trip(c, 'lower', [{ gate: 22, fare: 800, at: NOW + 1000 }, { gate: 23, fare: 500, at: NOW + 4000 }]);
      expect((await c.paymentFacts(tokenHash(lower)))!.settled).toMatchObject({ as: 'trip', charge: 800n, paidAt: NOW + 1000 });
      expect(verdict(await c.refund(refundBy(gate, lower, 800, NOW + 1000), CLOCK()))).toBe('accepted');
      // 500 at NOW + 1000, then 800 at NOW + 4000: the charge, 800, was set by the second.
      const higher = await trip(c, 'higher', [{ gate: 22, fare: 500, at: NOW + 1000 }, { gate: 23, fare: 800, at: NOW + 4000 }]);
      expect(verdict(await c.refund(refundBy(gate, higher, 500, NOW + 1000), CLOCK()))).toBe('refund.before_payment');
      expect((await c.paymentFacts(tokenHash(higher)))!.settled).toMatchObject({ as: 'trip', charge: 800n, paidAt: NOW + 4000 });
      expect(verdict(await c.refund(refundBy(gate, higher, 500, NOW + 4000), CLOCK()))).toBe('accepted');
      // A sale is paid at its accept entry (reader time NOW).
      const r = vendingReader(issuer, SEED, 501);
      const s = await sell(r, makeWallet(issuer, SEED, 'sale'), 1, 1250);
      expect((await c.ingest(r.export(NOW + 60).bytes)).outcome).toBe('ingested');
      expect((await c.paymentFacts(tokenHash(s)))!.settled).toMatchObject({ as: 'sale', entry: { kind: 'accept', time: NOW }, paidAt: NOW });
    } finally {
      await c.close();
    }
  });

  it('settle(): paidAt is the earliest counting tap-out whose capped fare is the charge; the over-allowance evidence has the fields of §7', () => {
    const walletId = new Uint8Array(16).fill(7);
    const th = new Uint8Array(32).fill(1);
    const row = (kind: number, time: number, value: number, readerId: number, operatorId = 300): SettleRow => ({
      readerId, journalId: readerId.toString(16).padStart(32, '0'), seq: 1, kind, time, value, amount: 3000, tokenHash: th, operatorId, walletKey: 7, walletId, counter: 1,
      currency: HKD, certKey: 1, allowance: 100, voided: false,
    });
    const paidAt = (rows: SettleRow[], zero = false) => {
      const s = settle(rows, { feeBps: 150, keepTokens: true, ...(zero ? { zeroFareOperators: new Set([300]) } : {}) });
      return { charge: s.tokens[0]!.charge, paidAt: s.tokens[0]!.paidAt, evidence: s.overAllowance[0]?.tokens[0] };
    };
    const tapIn = row(JournalKind.tap_in, 100, 1000, 21);
    // Two tap-outs above the maximum (charge 1000): the first of them set it.
    expect(paidAt([tapIn, row(JournalKind.tap_out, 500, 1200, 22), row(JournalKind.tap_out, 900, 1500, 23)])).toMatchObject({ charge: 1000n, paidAt: 500 });
    // A zero fare does not count; another operator's tap-out does not count.
    expect(paidAt([tapIn, row(JournalKind.tap_out, 300, 0, 22), row(JournalKind.tap_out, 400, 900, 24, 301), row(JournalKind.tap_out, 700, 600, 23)])).toMatchObject({ charge: 600n, paidAt: 700 });
    // ... unless the operator allows zero fares: then a fare of 0 sets the charge where it is the highest.
    expect(paidAt([tapIn, row(JournalKind.tap_out, 300, 0, 22)], true)).toMatchObject({ charge: 0n, paidAt: 300 });
    // An open trip, a tap-out without tap-in: the entry the token settles from.
    expect(paidAt([tapIn])).toMatchObject({ charge: 1000n, paidAt: 100 });
    expect(paidAt([row(JournalKind.tap_out, 250, 800, 22)])).toMatchObject({ charge: 3000n, paidAt: 250 });
    // The report's evidence (spec/clearing.md §7): {tokenHash, as, operatorId, currency, charge, entry}, no paidAt.
    expect(Object.keys(paidAt([tapIn, row(JournalKind.tap_out, 500, 800, 22)]).evidence!).sort()).toEqual(['as', 'charge', 'currency', 'entry', 'operatorId', 'tokenHash']);
  });
});

describe('charge.refunded is never lost (spec/clearing-api.md §9.1, W1)', () => {
  async function serve(clearing: Clearing, webhooks: WebhookService) {
    const server = createClearingServer({ clearing, issuer, operatorToken: OP, clock: CLOCK, blocklistCheckSeconds: 0, webhooks });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const post = async (path: string, b: Uint8Array) => {
      const r = await fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/cbor' }, body: b as Uint8Array<ArrayBuffer> });
      return { status: r.status, body: (await r.json()) as Record<string, unknown> };
    };
    const close = () => new Promise<void>((r) => { server.close(() => r()); server.closeAllConnections(); });
    return { url, post, close };
  }


  const eventOf = async (outbox: SqliteWebhookOutbox, t: Uint8Array) => {
    const e = await outbox.get(eventId('charge.refunded', toHex(tokenHash(t))));
    return e && (JSON.parse(new TextDecoder().decode(e.body)) as { data: Record<string, unknown> });
  };

  it('DEFECT 2: a refund stored while the outbox refused its event gets charge.refunded of the HELD refund on a 409 resend', async () => {
    const c = new Clearing({ issuerKeys: issuer.keySet(), clock: CLOCK });
    const { outbox, hooks, full } = refusingOutbox(dir, 'resend.webhooks', CLOCK);
    const s = await serve(c, hooks);
    try {
      const r = vendingReader(issuer, SEED, 501);
      const t = await sell(r, makeWallet(issuer, SEED, 'resend'), 1, 1250);
      expect((await s.post('/v1/batches', r.export(NOW + 60).bytes)).status).toBe(200);
      const till = makeReader(issuer, SEED, 501);
      full.on = true;
      expect((await s.post('/v1/refunds', refundBy(till, t, 500, NOW + 600))).status).toBe(503);
      expect((await c.refunds()).map((x) => x.amount)).toEqual(['500']); // stored: the wallet is credited
      expect(await eventOf(outbox, t)).toBeUndefined();
      full.on = false;
      // Signed anew (another time, another amount): 409, and the event is the held refund's.
      const again = await s.post('/v1/refunds', refundBy(till, t, 400, NOW + 660));
      expect(again).toMatchObject({ status: 409, body: { reason: 'refund.already_refunded' } });
      expect((await eventOf(outbox, t))?.data).toMatchObject({ tokenHash: toHex(tokenHash(t)), amount: '500', time: NOW + 600, readerId: 501, partial: true });
      // Once queued, another 409 queues nothing new.
      const before = await outbox.counts();
      expect((await s.post('/v1/refunds', refundBy(till, t, 300, NOW + 700))).status).toBe(409);
      expect(await outbox.counts()).toEqual(before);
      // A 409 is answered only once the event is queued: with the outbox refusing, it is 503 (the till retries).
      const u = await sell(r, makeWallet(issuer, SEED, 'resend'), 2, 900);
      expect((await s.post('/v1/batches', r.export(NOW + 60).bytes)).status).toBe(200);
      full.on = true;
      expect((await s.post('/v1/refunds', refundBy(till, u, 900, NOW + 600))).status).toBe(503);
      expect((await s.post('/v1/refunds', refundBy(till, u, 800, NOW + 660))).status).toBe(503);
      full.on = false;
      expect((await s.post('/v1/refunds', refundBy(till, u, 800, NOW + 720))).status).toBe(409);
      expect((await eventOf(outbox, u))?.data).toMatchObject({ amount: '900', partial: false });
    } finally {
      await s.close();
      await hooks.stop();
      await outbox.close();
      await c.close();
    }
  });

  it('DEFECT 2, the till: `offpay reader refund` run again after it gave up gets the held refund its charge.refunded', async () => {
    const c = new Clearing({ issuerKeys: issuer.keySet(), clock: CLOCK });
    const { outbox, hooks, full } = refusingOutbox(dir, 'till.webhooks', CLOCK);
    const s = await serve(c, hooks);
    try {
      const r = vendingReader(issuer, SEED, 501);
      const t = await sell(r, makeWallet(issuer, SEED, 'till'), 1, 1250);
      expect((await s.post('/v1/batches', r.export(NOW + 60).bytes)).status).toBe(200);
      const m = makeReader(issuer, SEED, 501);
      mkdirSync(join(dir, 'till'), { recursive: true });
      saveReader(join(dir, 'till'), m.secretKey, m.cert);
      const till = (time: number) => main(['reader', 'refund', '--reader', join(dir, 'till'), '--token', toHex(tokenHash(t)), '--amount', '5.00', '--currency', 'HKD', '--time', String(time), '--url', s.url, '--attempts', '2'], { out: () => {}, err: () => {} });
      full.on = true;
      expect(await till(NOW + 600)).toBe(2); // 503 twice: the run gives up
      expect((await c.refunds()).map((x) => x.amount)).toEqual(['500']); // but the refund is stored
      full.on = false;
      expect(await till(NOW + 660)).toBe(1); // run again, signed anew: 409 refund.already_refunded
      expect((await eventOf(outbox, t))?.data).toMatchObject({ amount: '500', time: NOW + 600 });
    } finally {
      await s.close();
      await hooks.stop();
      await outbox.close();
      await c.close();
    }
  });
});
