/**
 * A second attack review (2026-12-07) of that day's three fix commits (a2bd1a8 refunds, 6bf53eb reader sync and the
 * key set, 33b3ee9 clearing serve HTTP hardening). Each test asserts the correct behaviour and failed on the code
 * reviewed; the comment names the defect. All five are fixed in the commit that adds this file.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { OffpayError } from '../../base/errors.js';
import { Clearing } from '../../src/clearing/index.js';
import { createRefund, publicKeyOf, seededSecretKey, tokenHash, toHex } from '../../src/index.js';
import type { ReaderCert } from '../../src/messages.js';
import { clearingBase, endpoint } from '../../src/reader/transport.js';
import { createClearingServer, MAX_INFLIGHT_REQUESTS, MAX_PIPELINED } from '../../src/server/api.js';
import { eventId, WebhookService } from '../../src/server/webhooks.js';
import { HKD, NOW, makeIssuer, makeReader, makeWallet, openTestReader, signToken } from '../reader/helpers.js';
import { refusingOutbox } from './refusing-outbox.js';
import { raw } from './raw-http.js';

const SEED = 'fix-review';
const issuer = makeIssuer(SEED);
const OP = 'e7'.repeat(32);
const CLOCK = () => NOW + 7200;
const dir = mkdtempSync(join(tmpdir(), 'offpay-fix-review-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type Signer = { secretKey: Uint8Array; cert: ReaderCert };
const refundBy = (by: Signer, token: Uint8Array, amount: number, time: number) =>
  createRefund({ readerCert: by.cert, secretKey: by.secretKey }, { tokenHash: tokenHash(token), amount, currency: HKD, time }).bytes;
const verdict = (r: { outcome: string; reason: string | null }) => (r.outcome === 'rejected' ? r.reason : r.outcome);

async function serve(clearing: Clearing, webhooks?: WebhookService): Promise<{ server: Server; port: number; url: string; close: () => Promise<void> }> {
  const server = createClearingServer({ clearing, issuer, operatorToken: OP, clock: CLOCK, blocklistCheckSeconds: 0, ...(webhooks ? { webhooks } : {}) });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const close = () => new Promise<void>((r) => { server.close(() => r()); server.closeAllConnections(); });
  return { server, port, url: `http://127.0.0.1:${port}`, close };
}

describe('refunds (a2bd1a8)', () => {
  // DEFECT R1 (money, small; spec mismatch): src/clearing/settle.ts settleToken sets a trip's `paidAt` to the
  // fare-setting tap-out ALONE. A tap-out whose reader clock is behind the tap-in's (a tap-out may be dated from
  // token.time - 60 on, a tap-in up to the token's age limit after it) makes paidAt earlier than
  // the tap-in, and a refund dated minutes BEFORE the trip began passes step 7 — including one by a till whose
  // certificate ended before the tap-in. spec/clearing.md M8 (unchanged by the fix) still says "dated no earlier than
  // the payment (at most 60 s before the reader time of the entry the token settles from" — for a trip the tap-in
  // (§5 step 1). Before the fix (paidAt = tap-in) both refunds below were refused. Fix: paidAt = max(tap-in time,
  // fare-setting tap-out time), and say so in §13 step 7 and M8.
  it('DEFECT R1: a trip refund dated more than 60 s before its tap-in is refund.before_payment (M8), even when a tap-out clock is behind', async () => {
    const c = new Clearing({ issuerKeys: issuer.keySet(), clock: CLOCK });
    try {
      const w = makeWallet(issuer, SEED, 'r1');
      const t = signToken(w, { payee: 300, amount: 3000, counter: 1, time: NOW });
      const gateIn = openTestReader(issuer, SEED, 21);
      expect((await gateIn.accept(t, { tapIn: { maxFare: 3000, currency: HKD }, now: NOW + 110 })).accepted).toBe(true);
      expect((await c.ingest(gateIn.export(NOW + 400).bytes)).outcome).toBe('ingested');
      const gateOut = openTestReader(issuer, SEED, 22);
      expect((await gateOut.tapOut(t, { fare: 800, currency: HKD, now: NOW - 55 })).accepted).toBe(true); // its clock is minutes behind
      expect((await c.ingest(gateOut.export(NOW + 400).bytes)).outcome).toBe('ingested');
      const s = (await c.paymentFacts(tokenHash(t)))!.settled!;
      expect(s).toMatchObject({ as: 'trip', charge: 800n, entry: { kind: 'tap_in', time: NOW + 110 } });
      // A till of operator 300 whose certificate ENDED at NOW + 10, before the rider tapped in (NOW + 110).
      const key = seededSecretKey(SEED, 'retired-till');
      const cert = issuer.issueReaderCert({ readerId: 29, readerPublicKey: publicKeyOf(key), operatorId: 300, profile: 'vending', notBefore: NOW - 86400, notAfter: NOW + 10 }, NOW - 86400);
      // Dated NOW - 100: 210 s before the tap-in. M8 forbids it; the code accepts it (paidAt = NOW - 55).
      expect(verdict(await c.refund(refundBy({ secretKey: key, cert }, t, 800, NOW - 100), CLOCK()))).toBe('refund.before_payment');
    } finally {
      await c.close();
    }
  });


  // DEFECT R2 (data loss: a webhook event): src/server/api.ts refundAndAnswer queues the HELD refund's
  // charge.refunded only when the new refund's verdict is refund.already_refunded (step 9). A re-signed refund that
  // stops at steps 3-8 because the token's settlement moved after the held refund was stored (here: a tap-out
  // without tap-in refunded at its charge 3000, 503 from the outbox, then the tap-in arrives and the charge falls to
  // 800, so the till's re-signed 3000 is refund.too_much, 422) queues nothing, and the stored refund — which the
  // issuer credits — never gets its event. spec/clearing-api.md §9 W1: "that refund is answered 409 ... and that
  // answer too comes only after the held refund's charge.refunded is queued ..., so the event of a stored refund is
  // never lost." Fix: whenever a refund decodes and a refund of its token is held (any verdict after step 1, or
  // decode the token hash even for step-1 refusals), queue the held refund's event before answering.
  it('DEFECT R2: a re-signed refund refused 422 because the settlement moved still queues the held refund\'s charge.refunded', async () => {
    const c = new Clearing({ issuerKeys: issuer.keySet(), clock: CLOCK });
    const { outbox, hooks, full } = refusingOutbox(dir, 'r2.webhooks', CLOCK);
    const s = await serve(c, hooks);
    const post = async (b: Uint8Array) => (await fetch(`${s.url}/v1/refunds`, { method: 'POST', headers: { 'content-type': 'application/cbor' }, body: b as Uint8Array<ArrayBuffer> })).status;
    try {
      const w = makeWallet(issuer, SEED, 'r2');
      const t = signToken(w, { payee: 300, amount: 3000, counter: 1, time: NOW });
      const gateOut = openTestReader(issuer, SEED, 22);
      expect((await gateOut.tapOut(t, { fare: 800, currency: HKD, now: NOW + 100 })).accepted).toBe(true);
      expect((await c.ingest(gateOut.export(NOW + 200).bytes)).outcome).toBe('ingested');
      expect((await c.paymentFacts(tokenHash(t)))!.settled).toMatchObject({ as: 'tap_out_without_tap_in', charge: 3000n });
      const till = makeReader(issuer, SEED, 29, 'vending', 300);
      full.on = true;
      expect(await post(refundBy(till, t, 3000, NOW + 600))).toBe(503); // stored, its event refused
      expect((await c.refunds()).map((x) => x.amount)).toEqual(['3000']);
      full.on = false;
      // The tap-in arrives late: the trip now costs 800.
      const gateIn = openTestReader(issuer, SEED, 21);
      expect((await gateIn.accept(t, { tapIn: { maxFare: 3000, currency: HKD } })).accepted).toBe(true);
      expect((await c.ingest(gateIn.export(NOW + 60).bytes)).outcome).toBe('ingested');
      // The till signs the refund anew (offpay reader refund run again): 422 refund.too_much.
      expect(await post(refundBy(till, t, 3000, NOW + 700))).toBe(422);
      const e = await outbox.get(eventId('charge.refunded', toHex(tokenHash(t))));
      expect(e, 'the stored refund of 3000 has no charge.refunded event').toBeDefined();
    } finally {
      await s.close();
      await hooks.stop();
      await outbox.close();
      await c.close();
    }
  });
});

describe('reader sync URL (6bf53eb)', () => {
  // DEFECT S1 (security, low; spec mismatch): src/reader/transport.ts clearingBase keeps a path that begins with
  // "//" (also typed as "/\\" or "/.//", which WHATWG URL normalises to "//"), and endpoint() resolves
  // `base.pathname + path` against the base: "//evil.example/v1/..." is a scheme-relative reference, so every
  // request (batches, refunds) goes to ANOTHER HOST. spec/clearing-api.md §8 "The URL": "its path is a prefix:
  // every request goes to the path ... a clearing behind a reverse proxy at a path, never another service of the
  // same host" (nor, a fortiori, another host). Fix: build the URL without re-parsing the path as a reference
  // (copy base, set `pathname`), or refuse a path with an empty segment (sync.bad_url).
  it('DEFECT S1: a --url whose path starts with // never sends requests to another host', () => {
    for (const url of ['https://clearing.example//evil.example/', 'https://clearing.example/\\evil.example/', 'https://clearing.example/.//evil.example']) {
      let host: string | undefined;
      try {
        host = endpoint(clearingBase(url), '/v1/batches').host;
      } catch (e) {
        expect((e as OffpayError).code).toBe('sync.bad_url'); // refusing it is fine too
        continue;
      }
      expect(host, url).toBe('clearing.example');
    }
  });
});

describe('clearing serve bounds (33b3ee9)', () => {
  /** Connect, write `data`, resolve when the server closes the connection or after `ms` (closed: false). */
  const session = (port: number, data: string, ms: number) => raw(port, data, ms);

  // DEFECT H1 (availability, high: anyone can stop the clearing for good): src/server/api.ts `listener` counts a
  // request in `inflight` and gives it back on the ServerResponse's 'close'. Node emits no 'close' for a PIPELINED
  // response still queued behind an earlier one (http server state.outgoing) when the socket is destroyed — by the
  // client, or by the server itself at the 17th request (the MAX_PIPELINED rule). Each such connection leaks up to
  // 15 requests for ever (measured: 14 or 15); about 300 connections of 17 pipelined GETs push `inflight` past MAX_INFLIGHT_REQUESTS and
  // every later request, from every reader, is 503 api.busy until the process restarts. spec/clearing-api.md §3:
  // "requests in flight (received, not yet answered)"; these were never answered and their socket is gone.
  // Fix: count per socket and give back on the socket's 'close' (subtract what that socket still holds), or keep
  // the set of live responses per socket and release them all when it closes.
  it('DEFECT H1: pipelined requests on connections that were closed do not keep the server 503 api.busy for ever', async () => {
    const c = new Clearing({ issuerKeys: issuer.keySet(), clock: CLOCK });
    const s = await serve(c);
    try {
      const burst = 'GET /v1/keyset HTTP/1.1\r\nHost: x\r\n\r\n'.repeat(MAX_PIPELINED + 1);
      const connections = Math.ceil(MAX_INFLIGHT_REQUESTS / (MAX_PIPELINED - 4)) + 20; // 14 or 15 leak a connection
      for (let i = 0; i < connections; i += 50) {
        await Promise.all(Array.from({ length: Math.min(50, connections - i) }, () => session(s.port, burst, 5000)));
      }
      await sleep(200);
      // Every one of those connections is closed. A fresh, single request:
      const r = await fetch(`${s.url}/v1/keyset`);
      await r.arrayBuffer();
      expect(r.status, 'a lone GET after the attack').toBe(200);
    } finally {
      await s.close();
      await c.close();
    }
  }, 60_000);

  // DEFECT H2 (availability: descriptors and memory): 33b3ee9 added `server.setTimeout(WRITE_STALL_MS, cb)` whose
  // callback destroys a socket only when bytes wait to be sent. A 'timeout' listener on the server tells node's
  // socketOnTimeout not to destroy the socket itself — and the keep-alive timeout (keepAliveTimeout 5,000 ms) is
  // delivered through that same socket 'timeout'. So an idle keep-alive connection is never closed: any anonymous
  // client can make one request per connection and keep thousands open until the process runs out of descriptors
  // (the `sockets` Set grows with them). Before 33b3ee9 node closed it after keepAliveTimeout. (Checked with the
  // default 5 s too; here node's keepAliveTimeout is shortened to 300 ms to keep the test fast.) Fix: in the
  // callback, also destroy a socket with no request in progress (no `_httpMessage` and nothing being parsed), or
  // use res.setTimeout / a per-response timer for the write stall instead of the server-wide 'timeout'.
  it('DEFECT H2: an idle keep-alive connection is closed after the keep-alive timeout', async () => {
    const c = new Clearing({ issuerKeys: issuer.keySet(), clock: CLOCK });
    const s = await serve(c);
    try {
      s.server.keepAliveTimeout = 300;
      const r = await session(s.port, 'GET /v1/keyset HTTP/1.1\r\nHost: x\r\n\r\n', 4000);
      expect(r.text.startsWith('HTTP/1.1 200')).toBe(true);
      expect(r.closed, 'the idle keep-alive connection is still open 4 s later').toBe(true);
    } finally {
      await s.close();
      await c.close();
    }
  }, 15_000);
});
