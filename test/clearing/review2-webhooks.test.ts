/**
 * Review 2 of the webhook side of M9: intents name the tokens voids name, afterTokens adds the request's settling
 * token for tokens that do not settle (src/server/webhooks.ts). SQLite clearing and outbox.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createRefund, tokenHash, toHex } from '../../src/index.js';
import { Clearing } from '../../src/clearing/index.js';
import type { JournalEntry } from '../../src/reader/index.js';
import { paymentState } from '../../src/server/payments.js';
import { eventId, WebhookService } from '../../src/server/webhooks.js';
import { SqliteWebhookOutbox } from '../../src/server/outbox.js';
import { HKD, NOW, handBatch, makeIssuer, makeReader, makeWallet, signToken, tailBatch } from '../reader/helpers.js';

const issuer = makeIssuer('zz2-wh');
const R = makeReader(issuer, 'zz2-wh', 41, 'vending', 90);
const W = [0, 1, 2, 3].map((i) => makeWallet(issuer, 'zz2-wh', `w${i}`));
const CLOCK = () => NOW + 3600;
const REQ = { challenge: new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]), time: NOW - 30 };
const jid = (b: number) => new Uint8Array(8).fill(b);
type Req = { challenge: Uint8Array; time: number };
const tok = (w: number, counter: number, amount = 100, req: Req = REQ) => signToken(W[w]!, { payee: 41, amount, counter, time: req.time, challenge: req.challenge });
const sale = (t: Uint8Array, dt: number, value = 100, req: Req = REQ): Omit<JournalEntry, 'seq'> => ({ kind: 'accept', time: NOW + dt, data: t, value, request: req });
const voidHash = (h: Uint8Array, dt: number, value = 100): Omit<JournalEntry, 'seq'> => ({ kind: 'void', time: NOW + dt, data: h, value });
const voidOf = (t: Uint8Array, dt: number, value = 100) => voidHash(tokenHash(t), dt, value);
const H = (t: Uint8Array) => toHex(tokenHash(t));
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
function setup(tag: string) {
  const dir = mkdtempSync(join(tmpdir(), `zz2-wh-${tag}-`));
  dirs.push(dir);
  const outbox = new SqliteWebhookOutbox(join(dir, 'w.db'));
  const hooks = new WebhookService({ url: 'http://127.0.0.1:59999/hooks', secret: '5f'.repeat(32), outbox, pollMs: 60_000, clock: CLOCK });
  const c = new Clearing({ issuerKeys: issuer.keySet(), clock: CLOCK });
  return { dir, outbox, hooks, c, done: async () => { await hooks.stop(); await c.close(); await outbox.close(); } };
}
const has = async (o: SqliteWebhookOutbox, t: Uint8Array) => (await o.get(eventId('charge.complete', H(t)))) !== undefined;

describe('review2 webhooks: voids and the request\'s next token', () => {
  it('a void of a token clearing never saw and a void of a bogus 32-byte hash (a void-only batch, then duplicated): no throw, no event, nothing left in the outbox', async () => {
    const s = setup('bogus');
    try {
      const never = tok(3, 99);
      const bogus = new Uint8Array(32).fill(0xee);
      const b = handBatch(R, jid(0x10), [voidOf(never, 1), voidHash(bogus, 2)]);
      const r = await s.hooks.ingestBatch(s.c, b);
      expect(r.outcome).toBe('ingested');
      expect((await s.outbox.counts()).pending).toBe(0);
      expect(await s.outbox.intentCount()).toBe(0);
      const r2 = await s.hooks.ingestBatch(s.c, b);
      expect(r2.outcome, JSON.stringify(r2)).not.toBe('rejected');
      expect((await s.outbox.counts()).pending).toBe(0);
      // a short void (not 32 bytes) is a bad batch, refused whole: no intent left behind
      const r3 = await s.hooks.ingestBatch(s.c, handBatch(R, jid(0x11), [voidHash(new Uint8Array(5), 1)]));
      expect(r3.outcome, JSON.stringify(r3)).toBe('rejected');
      expect(await s.outbox.intentCount()).toBe(0);
    } finally {
      await s.done();
    }
  });

  it('crash between the commit of a void-only batch and the outbox write: the sweep queues the request\'s next token', async () => {
    const s = setup('sweep');
    try {
      const t1 = tok(0, 1);
      const t2 = tok(1, 1);
      const es = [sale(t1, 1), sale(t2, 2), voidOf(t1, 3)];
      await s.hooks.ingestBatch(s.c, handBatch(R, jid(0x20), es.slice(0, 2)));
      expect(await has(s.outbox, t2)).toBe(false);
      // The node writes the intent, commits, and dies before afterTokens.
      const r = await s.c.ingest(tailBatch(R, jid(0x20), es, 2, 2), {
        beforeCommit: async (b) => s.outbox.intend({ id: toHex(b.digest), readerId: b.readerId, journalId: b.journalId, batchSeq: b.batchSeq, hashes: Buffer.concat(b.tokenHashes) }, Date.now() - 1),
      });
      expect(r.outcome).toBe('ingested');
      expect(await s.outbox.intentCount()).toBe(1);
      const again = new WebhookService({ url: 'http://127.0.0.1:59999/hooks', secret: '5f'.repeat(32), outbox: s.outbox, pollMs: 60_000, clock: CLOCK });
      expect(await again.sweepIntents(s.c)).toBe(1);
      expect(await s.outbox.intentCount()).toBe(0);
      expect(await has(s.outbox, t2), 'the sweep did not queue t2').toBe(true);
      await again.stop();
    } finally {
      await s.done();
    }
  });

  it('a refunded settling token voided later: the request\'s other token now settles, and its charge.complete is queued', async () => {
    const s = setup('refund');
    try {
      const t1 = tok(0, 2);
      const t2 = tok(1, 2);
      const es = [sale(t1, 1), sale(t2, 2), voidOf(t1, 3)];
      await s.hooks.ingestBatch(s.c, handBatch(R, jid(0x30), es.slice(0, 2)));
      expect(await has(s.outbox, t1)).toBe(true);
      const refund = createRefund({ readerCert: R.cert, secretKey: R.secretKey }, { tokenHash: tokenHash(t1), amount: 100, currency: HKD, time: NOW + 600 }).bytes;
      expect(await s.c.refund(refund, NOW + 700)).toMatchObject({ outcome: 'accepted' });
      await s.hooks.ingestBatch(s.c, tailBatch(R, jid(0x30), es, 2, 2));
      const st2 = paymentState(H(t2), (await s.c.paymentFacts(tokenHash(t2)))!);
      expect(st2.state).toBe('successful');
      const settled = new Set((await s.c.settle(true)).tokens.map((x) => x.tokenHash));
      expect(settled.has(H(t2))).toBe(true);
      expect(await has(s.outbox, t2), 't2 settles now (the merchant is paid) but no charge.complete was queued: the voided t1 carries a refund and is not looked at').toBe(true);
    } finally {
      await s.done();
    }
  });

});
