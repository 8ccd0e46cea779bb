/**
 * A third attack review (2026-12-07) of e219ba9 (deferred webhook events), 295f61a (fixes of the fixes) and 4c1857f
 * (sync after a refused batch). Each test asserts the correct behaviour and failed on the code reviewed; the comment
 * names the defect. All three are fixed in the commit that adds this file (D2's test now lets stop() wait for the
 * retry it interrupts, as the fix does).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { OffpayError } from '../../base/errors.js';
import { Clearing } from '../../src/clearing/index.js';
import { createRefund, publicKeyOf, seededSecretKey, tokenHash, toHex } from '../../src/index.js';
import { createClearingServer } from '../../src/server/api.js';
import { SqliteWebhookOutbox } from '../../src/server/outbox.js';
import { DEFER_RETRY_MS, eventId, WebhookService } from '../../src/server/webhooks.js';
import { HKD, NOW, makeIssuer, makeWallet, openTestReader, signToken } from '../reader/helpers.js';
import { sell, vendingReader } from './vending.js';
import { shutDown } from './refusing-outbox.js';

const SEED = 'last-review';
const issuer = makeIssuer(SEED);
const CLOCK = () => NOW + 7200;
const dir = mkdtempSync(join(tmpdir(), 'offpay-last-review-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A SQLite outbox whose add() is steered by the test: 'ok' writes, 'fail' refuses (SQLITE_FULL), 'gate' holds the
 * FIRST call until release() (then it writes, or refuses with release(false)) and refuses the others.
 */
function steeredOutbox(file: string) {
  const outbox = new SqliteWebhookOutbox(join(dir, file));
  const add = outbox.add.bind(outbox);
  const s = { mode: 'ok' as 'ok' | 'fail' | 'gate', calls: 0, entered: undefined as undefined | Promise<void>, release: (_ok = true) => {} };
  let enteredResolve = () => {};
  let gateTaken = false;
  const arm = () => {
    s.mode = 'gate';
    gateTaken = false;
    s.entered = new Promise<void>((r) => (enteredResolve = r));
  };
  const refuse = () => new OffpayError('clearing.store_unavailable', 'the webhook outbox refused the events (SQLITE_FULL)', { sqlite: 'SQLITE_FULL', write: true });
  Object.assign(outbox, {
    add: async (...a: Parameters<typeof outbox.add>) => {
      s.calls++;
      if (s.mode === 'ok') return add(...a);
      if (s.mode === 'gate' && !gateTaken) {
        gateTaken = true;
        const ok = await new Promise<boolean>((r) => {
          s.release = (ok = true) => r(ok);
          enteredResolve();
        });
        if (ok) return add(...a);
      }
      throw refuse();
    },
  });
  const hooks = new WebhookService({ url: 'http://127.0.0.1:59999/hooks', secret: '5f'.repeat(32), outbox, pollMs: 10, clock: CLOCK });
  return { outbox, hooks, s, arm };
}

describe('deferred webhook events (e219ba9)', () => {
  // DEFECT D1 (a lost charge.complete, W1): src/server/webhooks.ts retryDeferred deletes a chunk's hashes from
  // `deferred` after ITS outbox write, although a batch that failed meanwhile may have deferred the same hash
  // again (defer() adds a hash already present as a no-op) with a state the running retry never read. Retries are
  // not serialized (the 1 s timer, every afterBatch and stop() each run their own), so: a tap-in is deferred (an open
  // trip: no event); a retry reads it (still open) and waits on the outbox; the tap-out's batch commits, its events
  // are refused and its hash "deferred" (already there); the first retry's write then succeeds and deletes the hash.
  // The trip's charge.complete is never queued once the reader's sync gives up (the exact W1 case e219ba9 claims
  // to close; spec/clearing-api.md §9.2 step 1 "queues their events again ... until the outbox takes them").
  // Fix: single-flight the retry and key each hash with a generation (Map<hash, n>), deleting only if unchanged.
  it('D1: a hash deferred again while a retry of it is in flight is not dropped by that retry', async () => {
    const c = new Clearing({ issuerKeys: issuer.keySet(), clock: CLOCK });
    const { outbox, hooks, s, arm } = steeredOutbox('d1.webhooks');
    try {
      // A sale, a tap-in and a completed trip, all deferred (the sale's and trip's events give a retry a write to wait on).
      const v = vendingReader(issuer, SEED, 701);
      await sell(v, makeWallet(issuer, SEED, 'd1-sale'), 1, 500);
      const batchV = v.export(CLOCK()).bytes;
      const w = makeWallet(issuer, SEED, 'd1-trip');
      const t = signToken(w, { payee: 300, amount: 3000, counter: 1, time: NOW });
      const gateIn = openTestReader(issuer, SEED, 31);
      expect((await gateIn.accept(t, { tapIn: { maxFare: 3000, currency: HKD }, now: NOW + 10 })).accepted).toBe(true);
      // A completed trip in the same batch (a batch of open trips alone queues nothing and is never deferred).
      const u = signToken(makeWallet(issuer, SEED, 'd1-other'), { payee: 300, amount: 3000, counter: 1, time: NOW });
      expect((await gateIn.accept(u, { tapIn: { maxFare: 3000, currency: HKD }, now: NOW + 11 })).accepted).toBe(true);
      expect((await gateIn.tapOut(u, { fare: 700, currency: HKD, now: NOW + 12 })).accepted).toBe(true);
      const batchIn = gateIn.export(NOW + 400).bytes;
      s.mode = 'fail';
      expect((await c.ingest(batchV)).outcome).toBe('ingested');
      await expect(hooks.afterBatch(c, batchV)).rejects.toMatchObject({ code: 'clearing.store_unavailable' });
      expect((await c.ingest(batchIn)).outcome).toBe('ingested');
      await expect(hooks.afterBatch(c, batchIn)).rejects.toMatchObject({ code: 'clearing.store_unavailable' });
      expect(hooks.deferredCount).toBe(3);
      // A retry (the timer's) reads both (the trip still open: no event for it) and waits on the outbox.
      arm();
      const retry = hooks.retryDeferred();
      await s.entered;
      // The tap-out arrives and completes the trip; its batch's events are refused.
      const gateOut = openTestReader(issuer, SEED, 32);
      expect((await gateOut.tapOut(t, { fare: 800, currency: HKD, now: NOW + 60 })).accepted).toBe(true);
      const batchOut = gateOut.export(NOW + 400).bytes;
      expect((await c.ingest(batchOut)).outcome).toBe('ingested');
      await expect(hooks.afterBatch(c, batchOut)).rejects.toMatchObject({ code: 'clearing.store_unavailable' });
      // The first retry's write now goes through.
      s.mode = 'ok';
      s.release(true);
      await retry;
      // The outbox takes writes: whatever still waits is queued. The trip's charge.complete must be among it.
      await hooks.retryDeferred();
      const id = eventId('charge.complete', toHex(tokenHash(t)));
      expect((await c.paymentFacts(tokenHash(t)))?.settled?.as).toBe('trip');
      expect(await outbox.get(id)).toBeDefined();
    } finally {
      await hooks.stop();
      await outbox.close();
      await c.close();
    }
  });

  // DEFECT D2 (a timer that keeps running after stop()): scheduleDeferred's timer callback re-arms itself in
  // `.finally(() => this.scheduleDeferred())`. stop() clears only a timer that is ARMED; when the timer has fired
  // and its retry is still waiting on the outbox, stop() runs its own last try, logs, returns, and then the running
  // retry fails and arms a new timer: the stopped service tries the outbox (and the clearing, which the caller is
  // now closing) every second for as long as the events stay deferred. spec/clearing-api.md §9.2 step 1: "and
  // once more when it stops". Fix: a `stopped` flag checked in scheduleDeferred (and in the timer callback), and
  // stop() awaiting the in-flight retry.
  it('D2: after stop() resolves, no deferred retry runs again', async () => {
    const c = new Clearing({ issuerKeys: issuer.keySet(), clock: CLOCK });
    const { outbox, hooks, s, arm } = steeredOutbox('d2.webhooks');
    try {
      const v = vendingReader(issuer, SEED, 702);
      await sell(v, makeWallet(issuer, SEED, 'd2'), 1, 600);
      const batch = v.export(CLOCK()).bytes;
      expect((await c.ingest(batch)).outcome).toBe('ingested');
      s.mode = 'fail';
      await expect(hooks.afterBatch(c, batch)).rejects.toMatchObject({ code: 'clearing.store_unavailable' });
      // The timer fires and its retry waits on the outbox.
      arm();
      await s.entered;
      const stopped = hooks.stop(); // waits for the retry in flight, then makes its own last try (refused)
      s.release(false); // the timer's retry is refused
      await stopped;
      await sleep(10);
      const after = s.calls;
      await sleep(DEFER_RETRY_MS + 300);
      expect(s.calls - after).toBe(0);
    } finally {
      // A timer armed after stop() would keep calling; clear the set so it ends.
      s.mode = 'ok';
      await hooks.retryDeferred().catch(() => undefined);
      await outbox.close();
      await c.close();
    }
  }, 10_000);
});

describe('refund events (295f61a)', () => {
  // DEFECT R3 (an event re-derived by unauthenticated bytes; spec mismatch, low): src/server/api.ts refundAndAnswer
  // now decodes the token hash of ANY refused refund with decodeRefund (no signature, no certificate check) and
  // queues the held refund's charge.refunded. Forged bytes naming a refunded token (anyone can POST /v1/refunds)
  // re-queue a charge.refunded whose row was pruned after the retention (a second delivery to a receiver whose own
  // idempotency window may be shorter), and cost a durable outbox write per request. spec/clearing-api.md §9.2
  // step 7: "Only the same batch (or refund) sent again re-derives a charge event"; §9.1 table: charge.refunded
  // "after a refund is stored, or found held: duplicate, or refund.already_refunded". (§9.2 step 1 now says "any
  // answer to a refund whose token has a refund held", which a C port reads either way.) Fix: look the held
  // refund up only for a refund that passed verification (r.tokenHash set: steps 1-2), and say so in §9.2 step 1.
  it('R3: a refund whose signature does not verify does not re-queue the held refund\'s (pruned) event', async () => {
    const c = new Clearing({ issuerKeys: issuer.keySet(), clock: CLOCK });
    const outbox = new SqliteWebhookOutbox(join(dir, 'r3.webhooks'));
    const hooks = new WebhookService({ url: 'http://127.0.0.1:59999/hooks', secret: '5f'.repeat(32), outbox, pollMs: 10, clock: CLOCK });
    const server = createClearingServer({ clearing: c, issuer, operatorToken: 'ab'.repeat(32), clock: CLOCK, blocklistCheckSeconds: 0, webhooks: hooks });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const v = vendingReader(issuer, SEED, 703);
      const t = await sell(v, makeWallet(issuer, SEED, 'r3'), 1, 900);
      expect((await c.ingest(v.export(CLOCK()).bytes)).outcome).toBe('ingested');
      const key = seededSecretKey(SEED, 'till-r3');
      const cert = issuer.issueReaderCert({ readerId: 704, readerPublicKey: publicKeyOf(key), operatorId: 90, profile: 'vending', notBefore: NOW - 86400, notAfter: NOW + 86400 * 30 }, NOW - 86400);
      const good = createRefund({ readerCert: cert, secretKey: key }, { tokenHash: tokenHash(t), amount: 900, currency: HKD, time: NOW + 100 }).bytes;
      const post = (b: Uint8Array) => fetch(`${url}/v1/refunds`, { method: 'POST', headers: { 'content-type': 'application/cbor' }, body: b as Uint8Array<ArrayBuffer> });
      expect((await post(good)).status).toBe(200);
      const id = eventId('charge.refunded', toHex(tokenHash(t)));
      expect(await outbox.get(id)).toBeDefined();
      // Delivered, and pruned after the retention.
      await outbox.hold(id);
      await outbox.delivered(id, 1);
      expect(await outbox.prune(CLOCK() + 10 * 365 * 86400, 100)).toBeGreaterThan(0);
      expect(await outbox.get(id)).toBeUndefined();
      // Forged: the same refund with its signature's last byte flipped.
      const forged = Uint8Array.from(good);
      forged[forged.length - 1]! ^= 1;
      const r = await post(forged);
      expect(r.status).toBe(422);
      expect(await outbox.get(id)).toBeUndefined();
    } finally {
      await shutDown({ server, hooks, outbox, clearing: c });
    }
  });
});
