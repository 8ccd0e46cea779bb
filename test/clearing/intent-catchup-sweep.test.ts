/**
 * From an attack review (2026-12-07) of b269e11 (a): the blocklist catch-up at the head of sweepRound. Held: a catch-up that throws (the outbox
 * refusing, clearing unreachable) fails that sweep only; the next sweep (every 60 s) runs it again and then pages
 * the intents; a catch-up racing a batch's afterTokens queues wallet.blocklisted once (the id is the wallet's,
 * INSERT OR IGNORE), and a failed catch-up leaves it to be queued later (never lost).
 */
import { describe, expect, it } from 'vitest';
import { toHex } from '../../base/hex.js';
import { Clearing } from '../../src/clearing/index.js';
import { SqliteWebhookOutbox, type WebhookOutbox } from '../../src/server/outbox.js';
import { eventId, WebhookService } from '../../src/server/webhooks.js';
import { OffpayError } from '../../base/errors.js';
import { NOW, makeIssuer, makeWallet } from '../reader/helpers.js';
import { sell, vendingReader } from './vending.js';

const SEED = 'zz-r5-catchup';
const issuer = makeIssuer(SEED);
const CLOCK = () => NOW + 7200;

async function setup(tag: string) {
  const c = new Clearing({ issuerKeys: issuer.keySet(), clock: CLOCK });
  const o = new SqliteWebhookOutbox(':memory:');
  const w = makeWallet(issuer, SEED, tag, { maxPerPayment: 100, offlineAllowance: 150 });
  const r1 = vendingReader(issuer, SEED, 21);
  const r2 = vendingReader(issuer, SEED, 22);
  const r3 = vendingReader(issuer, SEED, 23);
  await sell(r1, w, 1, 100);
  await sell(r2, w, 2, 100);
  await sell(r3, makeWallet(issuer, SEED, tag + 'x'), 1, 50);
  // b1 committed with its intent written and the node dead before the events (the intent left for a sweep).
  await c.ingest(r1.export(CLOCK()).bytes, {
    beforeCommit: async (b) => o.intend({ id: toHex(b.digest), readerId: b.readerId, journalId: b.journalId, batchSeq: b.batchSeq, hashes: Buffer.concat(b.tokenHashes) }, Date.now() - 1),
  });
  await c.ingest(r2.export(CLOCK()).bytes);
  await c.blockOverAllowance(CLOCK());
  const wallet = (await c.blockedWalletIds()).map(toHex);
  expect(wallet).toHaveLength(1);
  return { c, o, evt: eventId('wallet.blocklisted', wallet[0]!), b3: r3.export(CLOCK()).bytes };
}

const svc = (outbox: WebhookOutbox) => new WebhookService({ url: 'http://127.0.0.1:59998/hooks', secret: '4e'.repeat(32), outbox, pollMs: 60_000, clock: CLOCK });

describe('catch-up at the sweep', () => {
  it('an outbox refusing the catch-up: that sweep fails, the next one catches up and sweeps the intent', async () => {
    const { c, o, evt } = await setup('a');
    let refuse = 1;
    const flaky = new Proxy(o, {
      get(t, p) {
        if (p === 'add') return async (...a: Parameters<WebhookOutbox['add']>) => {
          if (refuse-- > 0) throw new OffpayError('clearing.store_unavailable', 'refused', { write: true });
          return t.add(...a);
        };
        const v = Reflect.get(t, p);
        return typeof v === 'function' ? v.bind(t) : v;
      },
    });
    const s = svc(flaky as WebhookOutbox);
    await expect(s.sweepIntents(c)).rejects.toThrow('refused');
    expect(await o.intentCount()).toBe(1);
    expect(await o.get(evt)).toBeUndefined();
    expect(await s.sweepIntents(c)).toBe(1);
    expect(await o.intentCount()).toBe(0);
    expect(await o.get(evt)).toBeDefined();
    expect((await o.counts()).pending).toBe(2); // one charge.complete (b1) + one wallet.blocklisted
    await s.stop();
    await o.close();
    await c.close();
  });

  it('clearing unreachable at the catch-up: the next sweep recovers', async () => {
    const { c, o, evt } = await setup('b');
    const real = c.blockedWalletIds.bind(c);
    let fail = 1;
    (c as { blockedWalletIds: typeof real }).blockedWalletIds = async () => {
      if (fail-- > 0) throw new OffpayError('clearing.store_unavailable', 'gone');
      return real();
    };
    const s = svc(o);
    await expect(s.sweepIntents(c)).rejects.toThrow('gone');
    expect(await s.sweepIntents(c)).toBe(1);
    expect(await o.get(evt)).toBeDefined();
    await s.stop();
    await o.close();
    await c.close();
  });

  it('a catch-up racing a batch: wallet.blocklisted queued once', async () => {
    const { c, o, evt, b3 } = await setup('c');
    const s = svc(o);
    const [n, r] = await Promise.all([s.sweepIntents(c), s.ingestBatch(c, b3)]);
    expect(n).toBeGreaterThanOrEqual(1); // 2 when the sweep read b3's intent before its ingest settled it (counted, nothing queued)
    expect(r.outcome).toBe('ingested');
    expect(await o.get(evt)).toBeDefined();
    expect((await o.counts()).pending).toBe(3); // b1's and b3's charge.complete, one wallet.blocklisted
    await s.stop();
    await o.close();
    await c.close();
  });
});
