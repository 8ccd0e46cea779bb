/**
 * From an attack review (2026-12-07) of a636bfc, what held: Clearing.paymentFactsMany answers exactly as paymentFacts one token at a time
 * (wallet cache shared across tokens of several wallets, voided sales, a double spend's blocked wallet, unknown
 * tokens), and the sweep settles every intent whose batch is held when intents are settled or renewed mid-sweep.
 */
import { describe, expect, it } from 'vitest';
import { toHex } from '../../base/hex.js';
import { Clearing } from '../../src/clearing/index.js';
import { tokenHash } from '../../src/index.js';
import { SqliteWebhookOutbox, type WebhookOutbox } from '../../src/server/outbox.js';
import { eventId, WebhookService } from '../../src/server/webhooks.js';
import { HKD, NOW, makeIssuer, makeWallet, signToken } from '../reader/helpers.js';
import { sell, vendingReader } from './vending.js';

const SEED = 'zz-r4-many';
const issuer = makeIssuer(SEED);
const CLOCK = () => NOW + 7200;
const J = (x: unknown) => JSON.stringify(x, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));

describe('held', () => {
  it('paymentFactsMany = paymentFacts one by one', async () => {
    const c = new Clearing({ issuerKeys: issuer.keySet(), clock: CLOCK });
    const hashes: Uint8Array[] = [];
    for (let rd = 0; rd < 3; rd++) {
      const r = vendingReader(issuer, SEED, 20 + rd);
      for (let wi = 0; wi < 4; wi++) {
        const w = makeWallet(issuer, SEED, `w${wi}`);
        for (let k = 0; k < 2; k++) {
          const counter = rd === 2 && wi === 0 ? 1 : 1 + rd * 10 + k; // reader 22 reuses wallet w0's counter 1: a double spend
          const { request } = r.openRequest({ amount: 50 + k, currency: HKD, now: NOW });
          const t = signToken(w, { payee: r.readerId, amount: 50 + k, counter, challenge: request.challenge });
          const a = await r.accept(t, { complete: k === 0 });
          if (!a.accepted) continue;
          hashes.push(tokenHash(t));
          if (k === 1 && wi % 2 === 0) expect(r.void(tokenHash(t), NOW + 1).ok).toBe(true);
          if (k === 1 && wi % 2 === 1) r.complete(tokenHash(t));
        }
      }
      expect((await c.ingest(r.export(CLOCK()).bytes)).outcome).toBe('ingested');
    }
    hashes.push(new Uint8Array(32).fill(7)); // unknown
    expect((await c.blockedWalletIds()).length).toBeGreaterThan(0);
    const many = await c.paymentFactsMany(hashes);
    const one = [];
    for (const h of hashes) one.push(await c.paymentFacts(h));
    expect(J(many)).toBe(J(one));
    await c.close();
  });

  it('the sweep settles every held intent though intents are settled and renewed while it pages', async () => {
    const c = new Clearing({ issuerKeys: issuer.keySet(), clock: CLOCK });
    const inner = new SqliteWebhookOutbox(':memory:');
    const evts: string[] = [];
    const ids: string[] = [];
    let t = 1_000_000;
    for (let i = 0; i < 300; i++) {
      const r = vendingReader(issuer, SEED, 100 + i);
      const tok = await sell(r, makeWallet(issuer, SEED, `s${i}`), 1, 10);
      const bytes = r.export(CLOCK()).bytes;
      const b = (await c.ingest(bytes, { beforeCommit: async (x) => { ids.push(toHex(x.digest)); await inner.intend({ id: toHex(x.digest), readerId: x.readerId, journalId: x.journalId, batchSeq: x.batchSeq, hashes: x.tokenHashes[0]! }, t++); } })).outcome;
      expect(b).toBe('ingested');
      evts.push(eventId('charge.complete', toHex(tokenHash(tok))));
    }
    let reads = 0;
    const o = new Proxy(inner, {
      get(target, p, recv) {
        if (p === 'intents') {
          return async (...a: Parameters<WebhookOutbox['intents']>) => {
            const page = await target.intents(...a);
            // Mid-sweep: another request settles one intent further on, and renews another (moved to the end).
            if (reads++ === 0) {
              await target.add([], t, [ids[260]!]);
              await target.intend({ id: ids[270]!, readerId: 0, journalId: new Uint8Array(8), batchSeq: 1, hashes: new Uint8Array(32) }, t + 10);
            }
            return page;
          };
        }
        const v = Reflect.get(target, p, recv) as unknown;
        return typeof v === 'function' ? (v as (...x: unknown[]) => unknown).bind(target) : v;
      },
    }) as WebhookOutbox;
    const hooks = new WebhookService({ url: 'http://127.0.0.1:59998/hooks', secret: '4e'.repeat(32), outbox: o, pollMs: 60_000, clock: CLOCK, nowMs: () => t + 100 });
    await hooks.sweepIntents(c);
    expect(await inner.intentCount()).toBe(0);
    const missing = [];
    for (const [i, e] of evts.entries()) if (i !== 260 && !(await inner.get(e))) missing.push(i);
    expect(missing).toEqual([]);
    await hooks.stop();
    await inner.close();
    await c.close();
  });
});
