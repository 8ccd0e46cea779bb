/**
 * Events of a committed batch that the webhook outbox refused (spec/clearing-api.md §9.2 step 1, W1): the node keeps
 * them and queues them again once the outbox takes writes, without the reader sending the batch again. An attack
 * review (2026-12-07) found them lost: the batch was answered 503, the reader's sync gave up, and its next sync found
 * the batch held and did not send it, so no `charge.complete` was ever queued.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Clearing } from '../../src/clearing/index.js';
import { tokenHash, toHex } from '../../src/index.js';
import { syncReader } from '../../src/reader/sync.js';
import { createClearingServer } from '../../src/server/api.js';
import { DEFER_RETRY_MS, eventId } from '../../src/server/webhooks.js';
import { refusingOutbox, shutDown } from './refusing-outbox.js';
import { NOW, makeIssuer, makeWallet } from '../reader/helpers.js';
import { sell, vendingReader } from './vending.js';

const SEED = 'webhook-deferred';
const issuer = makeIssuer(SEED);
const CLOCK = () => NOW + 7200;
const dir = mkdtempSync(join(tmpdir(), 'offpay-webhook-deferred-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));


async function until(ok: () => Promise<boolean>, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await ok()) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return ok();
}

describe('events of a committed batch the outbox refused', () => {
  it('are queued once the outbox takes writes again, though the reader never sends the batch again', async () => {
    const c = new Clearing({ issuerKeys: issuer.keySet(), clock: CLOCK });
    const fake = (async () => new Response(null, { status: 204 })) as unknown as typeof fetch;
    const { outbox, hooks, full } = refusingOutbox(dir, 'deferred.webhooks', CLOCK, fake);
    full.on = true;
    const server = createClearingServer({ clearing: c, issuer, operatorToken: 'ab'.repeat(32), clock: CLOCK, blocklistCheckSeconds: 0, webhooks: hooks });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const r = vendingReader(issuer, SEED, 501);
      const t = await sell(r, makeWallet(issuer, SEED, 'a'), 1, 1250);
      const sync = () => syncReader(r, { url, issuerKeys: issuer.keySet(), now: CLOCK(), attempts: 3, baseDelayMs: 10, maxDelayMs: 20 });
      // Every try of the batch is answered 503 (the outbox refuses its events); clearing holds it; the sync gives up.
      await expect(sync()).rejects.toMatchObject({ code: 'sync.unreachable' });
      expect((await c.paymentFacts(tokenHash(t)))?.settled?.as).toBe('sale');
      expect(hooks.deferredCount).toBe(1);
      const id = eventId('charge.complete', toHex(tokenHash(t)));
      expect(await outbox.get(id)).toBeUndefined();
      // The disk is freed. The next sync finds the batch held and sends nothing; the event is queued all the same.
      full.on = false;
      expect(await sync()).toMatchObject({ heldBefore: 1, sent: [] });
      expect(await until(async () => (await outbox.get(id)) !== undefined, 10 * DEFER_RETRY_MS)).toBe(true);
      expect(hooks.deferredCount).toBe(0);
      // Once: the reader's resend of a batch (a duplicate) queues nothing new.
      expect((await outbox.counts()).pending + (await outbox.counts()).delivered).toBe(1);
    } finally {
      await shutDown({ server, hooks, outbox, clearing: c });
    }
  });

  it('are queued before the next batch\'s, oldest first, and a stop makes a last try', async () => {
    const c = new Clearing({ issuerKeys: issuer.keySet(), clock: CLOCK });
    const { outbox, hooks, full } = refusingOutbox(dir, 'order.webhooks', CLOCK);
    full.on = true;
    try {
      const a = vendingReader(issuer, SEED, 601);
      const ta = await sell(a, makeWallet(issuer, SEED, 'b'), 1, 700);
      const batchA = a.export(CLOCK()).bytes;
      expect((await c.ingest(batchA)).outcome).toBe('ingested');
      await expect(hooks.afterBatch(c, batchA)).rejects.toMatchObject({ code: 'clearing.store_unavailable' });
      expect(hooks.deferredCount).toBe(1);
      full.on = false;
      const b = vendingReader(issuer, SEED, 602);
      const tb = await sell(b, makeWallet(issuer, SEED, 'c'), 1, 800);
      const batchB = b.export(CLOCK()).bytes;
      expect((await c.ingest(batchB)).outcome).toBe('ingested');
      await hooks.afterBatch(c, batchB);
      expect(hooks.deferredCount).toBe(0);
      const idA = eventId('charge.complete', toHex(tokenHash(ta)));
      const idB = eventId('charge.complete', toHex(tokenHash(tb)));
      expect((await outbox.get(idA))?.state).toBe('pending');
      expect((await outbox.get(idB))?.state).toBe('pending');
      // Deferred again, then the service stops with the outbox writable: the stop queues them.
      full.on = true;
      const d = vendingReader(issuer, SEED, 603);
      const td = await sell(d, makeWallet(issuer, SEED, 'd'), 1, 900);
      const batchD = d.export(CLOCK()).bytes;
      expect((await c.ingest(batchD)).outcome).toBe('ingested');
      await expect(hooks.afterBatch(c, batchD)).rejects.toMatchObject({ code: 'clearing.store_unavailable' });
      full.on = false;
      await hooks.stop();
      expect(hooks.deferredCount).toBe(0);
      expect((await outbox.get(eventId('charge.complete', toHex(tokenHash(td)))))?.state).toBe('pending');
    } finally {
      await hooks.stop();
      await outbox.close();
      await c.close();
    }
  });
});
