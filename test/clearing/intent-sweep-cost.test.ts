/**
 * From an attack review (2026-12-07) of the first version of webhook intents (507d1a3); the test failed on it.
 * Defect: a sweep round runs its paymentFacts look-ups back to back without yielding to the event loop (SQLite:
 * synchronous under the awaits, microtasks only), and an intent not held is looked at again every 60 s for a
 * day. One intent of a legitimate 65,536-entry batch that died before its commit (its reader offline) freezes
 * the server — every request, the health check — for seconds every minute; a forged 600k-hash intent left by a
 * crash (see intent-garbage-dos.test.ts) for ~20 s every minute.
 */
import { describe, expect, it } from 'vitest';
import { Clearing } from '../../src/clearing/index.js';
import { SqliteWebhookOutbox } from '../../src/server/outbox.js';
import { WebhookService } from '../../src/server/webhooks.js';
import { NOW, makeIssuer } from '../reader/helpers.js';
import { randomBytes } from 'node:crypto';

const issuer = makeIssuer('zz-cost');
const CLOCK = () => NOW + 7200;

describe('sweep cost', () => {
  it('one 65,536-hash intent never held does not freeze the event loop for more than 500 ms', async () => {
    const c = new Clearing({ issuerKeys: issuer.keySet(), clock: CLOCK });
    const o = new SqliteWebhookOutbox(':memory:');
    const hooks = new WebhookService({ url: 'http://127.0.0.1:59998/hooks', secret: '4e'.repeat(32), outbox: o, pollMs: 60_000, clock: CLOCK });
    await o.intend({ id: 'cd'.repeat(32), readerId: 1, journalId: new Uint8Array(8), batchSeq: 1, hashes: randomBytes(65_536 * 32) }, Date.now());
    let maxLag = 0;
    let last = performance.now();
    const tick = setInterval(() => { const n = performance.now(); maxLag = Math.max(maxLag, n - last); last = n; }, 5);
    const t0 = performance.now();
    expect(await hooks.sweepIntents(c)).toBe(0);
    clearInterval(tick);
    maxLag = Math.max(maxLag, performance.now() - last);
    console.log(`sweep of one 65,536-hash intent: ${(performance.now() - t0).toFixed(0)} ms (SQLite clearing, in memory), event loop blocked up to ${maxLag.toFixed(0)} ms`);
    expect(maxLag, 'longest event-loop stall, ms').toBeLessThan(500);
    await hooks.stop();
    await o.close();
    await c.close();
  }, 120_000);
});
