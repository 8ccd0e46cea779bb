/**
 * From an attack review (2026-12-07) of ac68d51 (the intents' and payment lookups' first fixes); the test failed on it. spec/clearing-api.md §2.6 now says the answer "is one consistent reading ... so `entry`
 * is always among `entries`". Clearing.paymentFacts re-reads at most PAYMENT_READS (5) times and then returns
 * the LAST reading even when it is known to be torn (its two tokenEntries reads differed). A clone of one token
 * uploaded again and again (spec/clearing.md M1: a merchant's readers, or batches racing on other PostgreSQL
 * nodes) that lands a commit inside each of the five readings gets `successful` with `operatorId` of one
 * merchant and `evidence.entry` null / not among `entries`: exactly the defect payment-race.test.ts fixed.
 * Forced deterministically as payment-race does: the store's tokenEntries is wrapped so that a competing batch
 * (earlier time, another merchant's certificate) commits right after each first read of a reading.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { toHex } from '../../base/hex.js';
import { Clearing } from '../../src/clearing/index.js';
import { tokenHash } from '../../src/messages.js';
import { paymentState } from '../../src/server/payments.js';
import { NOW, handBatch, makeIssuer, makeReader, makeWallet, signToken } from '../reader/helpers.js';

const SEED = 'zz-r3-five';
const issuer = makeIssuer(SEED);

describe('paymentFacts after five torn readings', () => {
  it('never answers from a torn reading: after five it refuses, retryably; then it answers consistently', async () => {
    const w = makeWallet(issuer, SEED, 'w');
    const t = signToken(w, { payee: 801, amount: 1250, counter: 1, time: NOW });
    const clearing = new Clearing({ issuerKeys: issuer.keySet(), clock: () => NOW + 3600 });
    const first = makeReader(issuer, SEED, 801, 'vending', 90);
    expect((await clearing.ingest(handBatch(first, randomBytes(8), [{ kind: 'accept', time: NOW + 200, value: 1250, data: t }]))).outcome).toBe('ingested');
    // Ten later clones, each dated earlier and carried under another merchant's certificate of reader 801.
    const late = Array.from({ length: 10 }, (_, i) => handBatch(makeReader(issuer, SEED, 801, 'vending', 91 + i), randomBytes(8), [{ kind: 'accept', time: NOW + 150 - 10 * i, value: 1250, data: t }]));
    const store = clearing.store as unknown as { tokenEntries: (h: Uint8Array) => Promise<unknown[]> };
    const orig = store.tokenEntries.bind(store);
    let calls = 0;
    let busy = false;
    store.tokenEntries = async (h: Uint8Array) => {
      const rows = await orig(h);
      // The first read of each reading (calls 1, 3, 5, ...): another commit lands right after it.
      if (!busy && calls++ % 2 === 0 && late.length) {
        busy = true;
        expect((await clearing.ingest(late.shift()!)).outcome).toBe('ingested');
        busy = false;
      }
      return rows;
    };
    const h = tokenHash(t);
    // Five torn readings: no answer from the last of them, a retryable refusal (503 over HTTP).
    await expect(clearing.paymentFacts(h)).rejects.toMatchObject({ code: 'clearing.store_unavailable' });
    // Once the commits stop, the lookup answers from one consistent reading.
    late.length = 0;
    const facts = (await clearing.paymentFacts(h))!;
    const st = paymentState(toHex(h), facts);
    expect(st.state).toBe('successful');
    expect(st.evidence.entry, `operatorId ${st.operatorId} with evidence of operators ${st.evidence.entries.map((e) => e.operatorId).join(',')}`).not.toBeNull();
    expect(st.evidence.entries.some((e) => e.operatorId === st.operatorId)).toBe(true);
    await clearing.close();
  });
});
