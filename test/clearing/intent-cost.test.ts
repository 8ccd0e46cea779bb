/**
 * What webhook intents and their sweep cost the server (spec/clearing-api.md §9.2 step 1), counted, not timed
 * (timings are the benches'): from two attack reviews (2026-12-07) of the first versions, each case failed on the
 * version it names.
 *  - a sweep over intents whose batches clearing does not hold reads one holdsBatch each and never their token
 *    hashes (507d1a3 looked every token up, a 65,536-hash intent stalled the server about 2 s a round; ac68d51
 *    read every intent's hashes, 256 MiB for 256 intents of 1 MiB);
 *  - the events of a held batch of 800 sales of one wallet settle that wallet once per 256 tokens, not once per
 *    token (ac68d51: 800 settlements of 800 rows, a 2.4 s stall);
 *  - a held batch sent again (anyone may, the bytes verify) whose events were queued derives nothing: one intent
 *    lookup (ac68d51: every token again, about 10 s of server work for 1,000 tokens of one wallet); one whose
 *    intent is still held (its node died before the outbox write) queues the events and settles the intent.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { toHex } from '../../base/hex.js';
import { Clearing } from '../../src/clearing/index.js';
import { sha256 } from '../../src/crypto.js';
import { SqliteWebhookOutbox } from '../../src/server/outbox.js';
import { eventId, WebhookService } from '../../src/server/webhooks.js';
import { batchToCommit, intentOf } from './dying.js';
import { NOW, handBatch, makeIssuer, makeReader, makeWallet, signToken } from '../reader/helpers.js';

const SEED = 'intent-cost';
const issuer = makeIssuer(SEED);
const CLOCK = () => NOW + 3600;
const service = (outbox: SqliteWebhookOutbox) => new WebhookService({ url: 'http://127.0.0.1:59998/hooks', secret: '4e'.repeat(32), outbox, pollMs: 60_000, clock: CLOCK });

/** Count calls of `obj[name]` (still made). */
function counted<T extends object>(obj: T, name: keyof T & string): { n: number } {
  const c = { n: 0 };
  const f = (obj[name] as (...a: unknown[]) => unknown).bind(obj);
  Object.assign(obj, { [name]: (...a: unknown[]) => (c.n++, f(...a)) });
  return c;
}

/** A reader-signed batch of `n` sales of one wallet. */
function oneWalletBatch(n: number, readerId: number) {
  const m = makeReader(issuer, SEED, readerId, 'vending', 90);
  const w = makeWallet(issuer, SEED, `w${readerId}`);
  const entries = Array.from({ length: n }, (_, i) => ({ kind: 'accept' as const, time: NOW + 10 + i, value: 1, data: signToken(w, { payee: readerId, amount: 1, counter: i + 1, time: NOW + 10 + i }) }));
  return { entries, bytes: handBatch(m, randomBytes(8), entries, NOW + 10 + n) };
}

describe('intents: what a sweep and a resend cost', () => {
  it('intents of batches not held: one holdsBatch each, no hashes read, no token looked up', async () => {
    const c = new Clearing({ issuerKeys: issuer.keySet(), clock: CLOCK });
    const o = new SqliteWebhookOutbox(':memory:');
    const hooks = service(o);
    for (let i = 0; i < 300; i++) await o.intend({ id: i.toString(16).padStart(64, '0'), readerId: 1, journalId: new Uint8Array(8), batchSeq: i + 1, hashes: new Uint8Array(32 * 2_048).fill(i) }, Date.now() - 1_000);
    const held = counted(c, 'holdsBatch');
    const hashes = counted(o, 'intentHashes');
    const looked = counted(c, 'paymentFactsMany');
    const single = counted(c, 'paymentFacts');
    expect(await hooks.sweepIntents(c)).toBe(0);
    expect([held.n, hashes.n, looked.n, single.n]).toEqual([300, 0, 0, 0]);
    await hooks.stop();
    await o.close();
    await c.close();
  });

  it('a held batch of 800 sales of one wallet: its events settle the wallet once per 256 tokens', async () => {
    const c = new Clearing({ issuerKeys: issuer.keySet(), clock: CLOCK });
    const o = new SqliteWebhookOutbox(':memory:');
    const hooks = service(o);
    const { entries, bytes } = oneWalletBatch(800, 801);
    // The dead node: intent written, batch committed, no outbox write.
    await o.intend(intentOf(batchToCommit(c, bytes)), Date.now());
    expect((await c.ingest(bytes)).outcome).toBe('ingested');
    const settles = counted(c.store, 'settleRows');
    expect(await hooks.sweepIntents(c)).toBe(1);
    expect(settles.n).toBeLessThanOrEqual(Math.ceil(800 / 256));
    for (const e of entries) expect(await o.get(eventId('charge.complete', toHex(sha256(e.data))))).toBeDefined();
    await hooks.stop();
    await o.close();
    await c.close();
  });

  it('a held batch sent again: nothing derived when its events were queued; queued and settled when its intent is left', async () => {
    const c = new Clearing({ issuerKeys: issuer.keySet(), clock: CLOCK });
    const o = new SqliteWebhookOutbox(':memory:');
    const hooks = service(o);
    const { entries, bytes } = oneWalletBatch(300, 802);
    expect((await hooks.ingestBatch(c, bytes)).outcome).toBe('ingested');
    const looked = counted(c, 'paymentFactsMany');
    const single = counted(c, 'paymentFacts');
    for (let i = 0; i < 3; i++) expect((await hooks.ingestBatch(c, bytes)).outcome).toBe('duplicate');
    expect([looked.n, single.n]).toEqual([0, 0]);

    // Another batch whose node died after its commit: its intent is held; the reader's resend queues the events.
    const second = oneWalletBatch(5, 803);
    await o.intend(intentOf(batchToCommit(c, second.bytes)), Date.now());
    expect((await c.ingest(second.bytes)).outcome).toBe('ingested');
    expect((await hooks.ingestBatch(c, second.bytes)).outcome).toBe('duplicate');
    for (const e of second.entries) expect(await o.get(eventId('charge.complete', toHex(sha256(e.data))))).toBeDefined();
    expect(await o.intentCount()).toBe(0);
    expect(entries.length).toBe(300);
    await hooks.stop();
    await o.close();
    await c.close();
  });
});
