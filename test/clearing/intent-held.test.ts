/**
 * Webhook intents (spec/clearing-api.md §9.2 step 1): what an attack review (2026-12-07) of their first version
 * (507d1a3) checked and found to hold, kept as tests: a closed outbox or server under a sweep, the same bytes twice
 * at once in one process, an older PostgreSQL outbox gaining webhook_intents, empty arrays in the settling write.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { toHex } from '../../base/hex.js';
import { Clearing } from '../../src/clearing/index.js';
import { tokenHash } from '../../src/index.js';
import { createClearingServer } from '../../src/server/api.js';
import { openPgWebhookOutbox } from '../../src/server/outbox-pg.js';
import { SqliteWebhookOutbox } from '../../src/server/outbox.js';
import { eventId, WebhookService } from '../../src/server/webhooks.js';
import { NOW, makeIssuer, makeWallet } from '../reader/helpers.js';
import { sell, vendingReader } from './vending.js';
import { startPgCluster, type PgCluster } from './pg-cluster.js';

const SEED = 'zz-held';
const issuer = makeIssuer(SEED);
const CLOCK = () => NOW + 7200;
const svc = (outbox: SqliteWebhookOutbox | Awaited<ReturnType<typeof openPgWebhookOutbox>>) =>
  new WebhookService({ url: 'http://127.0.0.1:59998/hooks', secret: '4e'.repeat(32), outbox, pollMs: 60_000, clock: CLOCK });

describe('SQLite', () => {
  it('the start sweep after the outbox and server closed: logged, no unhandled rejection', async () => {
    const c = new Clearing({ issuerKeys: issuer.keySet(), clock: CLOCK });
    const o = new SqliteWebhookOutbox(':memory:');
    const hooks = svc(o);
    const logs: string[] = [];
    const server = createClearingServer({ clearing: c, issuer, operatorToken: 'ab'.repeat(32), clock: CLOCK, blocklistCheckSeconds: 0, webhooks: hooks, log: (l) => logs.push(l) });
    await hooks.stop();
    await o.close();
    await new Promise<void>((r) => server.close(() => r()));
    await new Promise((r) => setTimeout(r, 50));
    expect(logs.some((l) => l.startsWith('webhook intents:'))).toBe(true);
    await c.close();
  });

  it('the same bytes twice at once in one process: one intent, settled, events once, the sweep skips it meanwhile', async () => {
    const c = new Clearing({ issuerKeys: issuer.keySet(), clock: CLOCK });
    const o = new SqliteWebhookOutbox(':memory:');
    const hooks = svc(o);
    const r = vendingReader(issuer, SEED, 3);
    const t = await sell(r, makeWallet(issuer, SEED, 'a'), 1, 100);
    const b = r.export(CLOCK()).bytes;
    const [x, y, s] = await Promise.all([hooks.ingestBatch(c, b), hooks.ingestBatch(c, b), hooks.sweepIntents(c)]);
    expect([x.outcome, y.outcome].sort()).toEqual(['duplicate', 'ingested']);
    // The sweep passes over the intent while a request holds it; when it looks after both ended, it settles the
    // intent again (its events are held already: nothing twice).
    expect(s).toBeLessThanOrEqual(1);
    expect(await o.intents(0, Date.now() + 1e9, 10)).toEqual([]);
    expect((await o.get(eventId('charge.complete', toHex(tokenHash(t)))))?.state).toBe('pending');
    await hooks.stop();
    await o.close();
    await c.close();
  });
});

const started = await startPgCluster();
if (typeof started !== 'string') {
  const cluster: PgCluster = started;
  afterAll(() => cluster.stop());
  describe('PostgreSQL', () => {
    it('an older outbox (webhook_events only) gets webhook_intents; a webhook_intents of another layout is refused', async () => {
      const url = await cluster.createDatabase();
      const o1 = await openPgWebhookOutbox({ url, node: 'x' });
      const q = (s: string) => (o1 as unknown as { rows(q: string): Promise<unknown[]> }).rows(s);
      await q('DROP TABLE webhook_intents');
      await o1.close();
      const o2 = await openPgWebhookOutbox({ url, node: 'y' });
      expect(await o2.intents(0, 0, 10)).toEqual([]);
      await (o2 as unknown as { rows(q: string): Promise<unknown[]> }).rows('ALTER TABLE webhook_intents ADD COLUMN extra int');
      await o2.close();
      await expect(openPgWebhookOutbox({ url, node: 'z' })).rejects.toMatchObject({ code: 'clearing.store_unusable' });
    }, 60_000);
    it('add with no events and one intent to settle; with events and no intents', async () => {
      const url = await cluster.createDatabase();
      const o = await openPgWebhookOutbox({ url, node: 'x' });
      await o.intend({ id: 'ab'.repeat(32), readerId: 1, journalId: new Uint8Array(8), batchSeq: 1, hashes: new Uint8Array(32) }, 0);
      expect(await o.add([], Date.now(), ['ab'.repeat(32)])).toBe(0);
      expect(await o.intents(0, 0, 10)).toEqual([]);
      expect(await o.add([{ id: 'evt_1', type: 'charge.complete', body: new Uint8Array([1]), created: 1 }], Date.now(), [])).toBe(1);
      await o.close();
    }, 60_000);
  });
}
