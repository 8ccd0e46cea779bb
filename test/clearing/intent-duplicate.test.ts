/**
 * From an attack review (2026-12-07) of ac68d51 (the intents' and payment lookups' first fixes); the test failed on it. spec §9.2 step 2: "`ingested` or `duplicate`: the events are derived ... and written in
 * one transaction with the intent's deletion". A duplicate found before the hook (the batch held: a node that
 * committed it died before its outbox write, and the reader, without an answer, sent it again) derives the events
 * from the bytes but settles no intent (ingestBatch passes `intent?.id`, undefined), though the intent of that very
 * batch (id = SHA-256 of the same bytes) is in the outbox and clearing holds the batch. It is left for the sweep
 * (a minute on SQLite, a minute plus the grace on PostgreSQL), and GET /v1/webhooks counts it meanwhile.
 * Suggested fix: on `duplicate`, settle toHex(sha256(bytes)) in the same write (safe: the batch is held).
 */
import { describe, expect, it } from 'vitest';
import { toHex } from '../../base/hex.js';
import { Clearing } from '../../src/clearing/index.js';
import { tokenHash } from '../../src/index.js';
import { SqliteWebhookOutbox } from '../../src/server/outbox.js';
import { eventId, WebhookService } from '../../src/server/webhooks.js';
import { NOW, makeIssuer, makeWallet } from '../reader/helpers.js';
import { sell, vendingReader } from './vending.js';
import { dying } from './dying.js';

const SEED = 'zz-r3-dup';
const issuer = makeIssuer(SEED);
const CLOCK = () => NOW + 7200;

describe('a duplicate resend of a batch whose node died after its commit', () => {
  it('settles the intent of that batch along with its events (spec §9.2 step 2)', async () => {
    const c = new Clearing({ issuerKeys: issuer.keySet(), clock: CLOCK });
    const o = new SqliteWebhookOutbox(':memory:');
    const r = vendingReader(issuer, SEED, 5);
    const t = await sell(r, makeWallet(issuer, SEED, 'a'), 1, 100);
    const bytes = r.export(CLOCK()).bytes;
    const evt = eventId('charge.complete', toHex(tokenHash(t)));
    // The node that dies at its outbox write (after the commit).
    const dead = new WebhookService({ url: 'http://127.0.0.1:59998/hooks', secret: '4e'.repeat(32), outbox: dying(o, (ids) => ids.includes(evt)), pollMs: 60_000, clock: CLOCK });
    void dead.ingestBatch(c, bytes);
    for (let i = 0; i < 200 && !(await c.paymentFacts(tokenHash(t))); i++) await new Promise((res) => setTimeout(res, 5));
    expect(await o.intents(0, Date.now() + 1e9, 10)).toHaveLength(1);
    // The resend, on the restarted node, before any sweep.
    const hooks = new WebhookService({ url: 'http://127.0.0.1:59998/hooks', secret: '4e'.repeat(32), outbox: o, pollMs: 60_000, clock: CLOCK });
    expect((await hooks.ingestBatch(c, bytes)).outcome).toBe('duplicate');
    expect(await o.get(evt)).toBeDefined();
    expect((await o.intents(0, Date.now() + 1e9, 10)).map((i) => i.id), 'intents left').toEqual([]);
    await hooks.stop();
    await o.close();
    await c.close();
  });
});
