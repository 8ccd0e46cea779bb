/**
 * Payment states (spec/clearing-api.md §2.6) agree with settlement, whatever happened: a fast-check
 * adversary of sales, voids, trips and tap-outs (tokens reused, fares random) at real Readers; after the
 * batches are ingested, the successful and pending payments of every token ever signed add up, per operator
 * and currency, to exactly the settlement lines (count and gross), every failed payment carries a gateway
 * failure code of the table, and a token that reached no journal is unknown (404).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Clearing } from '../../src/clearing/index.js';
import { toHex } from '../../base/hex.js';
import { tokenHash } from '../../src/messages.js';
import { nodeEd25519 } from '../../src/node/crypto.js';
import { createBlocklist, MemoryReaderStore, Reader } from '../../src/reader/index.js';
import { FAILURE_CODES } from '../../src/server/failure-codes.js';
import { paymentState } from '../../src/server/payments.js';
import { HKD, NOW, makeIssuer, makeReader, makeWallet, signToken } from '../reader/helpers.js';

const issuer = makeIssuer('payments');
const list = createBlocklist(issuer.keys[0]!, { issuerId: 7, version: 1, issuedAt: NOW, walletIds: [] }).bytes;
const wallets = ['a', 'b'].map((l) => makeWallet(issuer, 'payments', l));

type Action =
  | { k: 'sale'; at: 0 | 1; w: 0 | 1; amount: number; complete: boolean }
  | { k: 'void' }
  | { k: 'tapIn'; at: 2 | 3; w: 0 | 1; max: number }
  | { k: 'tapOut'; at: 2 | 3; fare: number; which: number };

const action: fc.Arbitrary<Action> = fc.oneof(
  fc.record({ k: fc.constant('sale' as const), at: fc.constantFrom(0 as const, 1 as const), w: fc.constantFrom(0 as const, 1 as const), amount: fc.integer({ min: 1, max: 5000 }), complete: fc.boolean() }),
  fc.record({ k: fc.constant('void' as const) }),
  fc.record({ k: fc.constant('tapIn' as const), at: fc.constantFrom(2 as const, 3 as const), w: fc.constantFrom(0 as const, 1 as const), max: fc.integer({ min: 100, max: 3000 }) }),
  fc.record({ k: fc.constant('tapOut' as const), at: fc.constantFrom(2 as const, 3 as const), fare: fc.integer({ min: 1, max: 3500 }), which: fc.nat() }),
);

describe('payment states agree with settlement (property)', () => {
  it('successful + pending payments add up to the settlement lines; failures carry a mapped code', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(action, { minLength: 1, maxLength: 14 }), async (actions) => {
        const specs = [
          makeReader(issuer, 'payments', 11, 'vending', 90),
          makeReader(issuer, 'payments', 12, 'vending', 91),
          makeReader(issuer, 'payments', 21, 'transit', 300),
          makeReader(issuer, 'payments', 22, 'transit', 300),
        ];
        const readers = specs.map((m) => {
          const r = new Reader({ ...m, issuerKeys: issuer.keySet(), store: new MemoryReaderStore(), verifier: nodeEd25519(), clock: () => NOW });
          r.loadBlocklist(list);
          return r;
        });
        const counters = [1, 1];
        const signed: Uint8Array[] = [];
        const sales: { r: Reader; t: Uint8Array }[] = [];
        const trips: Uint8Array[] = [];
        let t = 0;
        for (const a of actions) {
          t += 5;
          if (a.k === 'sale') {
            const r = readers[a.at]!;
            const { request } = r.openRequest({ amount: a.amount, currency: HKD, now: NOW + t });
            const tok = signToken(wallets[a.w]!, { payee: specs[a.at]!.cert.readerId, amount: a.amount, counter: counters[a.w]!++, time: NOW + t, challenge: request.challenge });
            signed.push(tok);
            if ((await r.accept(tok, { complete: a.complete, now: NOW + t })).accepted) sales.push({ r, t: tok });
          } else if (a.k === 'void') {
            const s = sales.pop();
            if (s) s.r.void(tokenHash(s.t), NOW + t);
          } else if (a.k === 'tapIn') {
            const tok = signToken(wallets[a.w]!, { payee: 300, amount: a.max, counter: counters[a.w]!++, time: NOW + t });
            signed.push(tok);
            if ((await readers[a.at]!.accept(tok, { tapIn: { maxFare: a.max, currency: HKD } })).accepted) trips.push(tok);
          } else if (trips.length) {
            await readers[a.at]!.tapOut(trips[a.which % trips.length]!, { fare: a.fare, currency: HKD, now: NOW + t });
          }
        }
        signed.push(signToken(wallets[0]!, { payee: 11, amount: 77, counter: 999, time: NOW })); // never taken
        const clearing = new Clearing({ issuerKeys: issuer.keySet(), clock: () => NOW + 3600 });
        for (const r of readers) expect((await clearing.ingest(r.export(NOW + 600).bytes)).outcome).toBe('ingested');
        const lines = new Map<string, { count: number; gross: bigint }>();
        for (const tok of signed) {
          const h = tokenHash(tok);
          const facts = await clearing.paymentFacts(h);
          if (!facts) continue;
          const s = paymentState(toHex(h), facts);
          if (s.state === 'failed') {
            expect(Object.keys(FAILURE_CODES)).toContain(s.failure!.reason);
            expect(s.failure!.code).toBe((FAILURE_CODES as Record<string, string>)[s.failure!.reason]);
            continue;
          }
          expect(s.state === 'pending').toBe(s.settledAs === 'open_trip');
          const key = `${s.operatorId}/${s.currency}`;
          const l = lines.get(key) ?? { count: 0, gross: 0n };
          l.count++;
          l.gross += BigInt(s.amount!);
          lines.set(key, l);
        }
        const expected = new Map((await clearing.settlement()).map((l) => [`${l.operatorId}/${l.currency}`, { count: l.count, gross: l.gross }]));
        expect(lines).toEqual(expected);
        expect(await clearing.paymentFacts(tokenHash(signed[signed.length - 1]!))).toBeUndefined();
        await clearing.close();
      }),
      { numRuns: 40, seed: 1612 },
    );
  }, 120_000);
});
