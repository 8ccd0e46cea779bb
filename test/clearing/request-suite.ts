/**
 * One request, one settlement (spec/clearing.md M9, §5 step 0) over every clearing store engine (run by
 * store-suite.ts). The attacker is the reader: it takes several tokens for one of its payment requests (from one
 * wallet that signed the request twice, or from several), and an honest reader never does (spec/reader.md §2
 * step 4). Checked against a model of the rule, with the batches in random order:
 *  - per request, of the tokens whose sale is not voided, exactly the one with the earliest entry (time, journal
 *    id, seq) settles; the report's lines, `requestsPaidTwice` and each token's payment state say so;
 *  - a token left unsettled cannot be refunded (refund.not_settled), and payment codes are never compared.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createRefund, tokenHash, toHex } from '../../src/index.js';
import type { Clearing } from '../../src/clearing/index.js';
import { PAYMENT_CODE_SIGNED_TIME } from '../../src/messages.js';
import type { JournalEntry } from '../../src/reader/index.js';
import { paymentState } from '../../src/server/payments.js';
import { HKD, NOW, handBatch, makeIssuer, makeReader, makeWallet, signToken } from '../reader/helpers.js';
import type { Engine } from './store-suite.js';

const issuer = makeIssuer('request-suite');
const READERS = [makeReader(issuer, 'request-suite', 31, 'vending', 90), makeReader(issuer, 'request-suite', 32, 'vending', 91)];
const WALLETS = [0, 1, 2].map((i) => makeWallet(issuer, 'request-suite', `r${i}`));
const CLOCK = () => NOW + 3600;
/** Three requests a reader: challenge and time. */
const requestOf = (reader: number, i: number) => ({ challenge: new Uint8Array([0x5a, reader, i, 0, 0, 0, 0, 1]), time: NOW - 60 + 10 * i });

interface SaleSpec {
  reader: number;
  request: number;
  wallet: number;
  journal: number;
  dt: number;
  voided: boolean;
}

/** The token of sale `i`: a request-bound token of its wallet for its request (counter i + 1, amount 100 + i). */
const tokenOf = (s: SaleSpec, i: number) =>
  signToken(WALLETS[s.wallet]!, { payee: READERS[s.reader]!.cert.readerId, amount: 100 + i, counter: i + 1, time: requestOf(s.reader, s.request).time, challenge: requestOf(s.reader, s.request).challenge });

/**
 * The batches of the sales: one journal per (reader, journal), its entries in sale order (a void right after its
 * sale), cut in two batches.
 */
function batchesOf(sales: SaleSpec[], tokens: Uint8Array[]): { batches: Uint8Array[]; places: { journalId: string; seq: number }[] } {
  const journals = new Map<string, { reader: number; id: Uint8Array; entries: Omit<JournalEntry, 'seq'>[] }>();
  const places: { journalId: string; seq: number }[] = [];
  sales.forEach((s, i) => {
    const k = `${s.reader}|${s.journal}`;
    const j = journals.get(k) ?? { reader: s.reader, id: new Uint8Array(8).fill(0x40 + 2 * s.reader + s.journal), entries: [] };
    journals.set(k, j);
    j.entries.push({ kind: 'accept', time: NOW + s.dt, data: tokens[i]!, value: 100 + i, request: requestOf(s.reader, s.request) });
    places.push({ journalId: toHex(j.id), seq: j.entries.length });
    if (s.voided) j.entries.push({ kind: 'void', time: NOW + s.dt + 1, data: tokenHash(tokens[i]!), value: 100 + i });
  });
  const batches: Uint8Array[] = [];
  for (const j of journals.values()) {
    const m = READERS[j.reader]!;
    // The whole journal as batch 1, then its first half again as batch 1 of other bytes (another createdAt): an
    // overlap whose entries are already held (spec/clearing.md §4 step 5, step 8).
    batches.push(handBatch(m, j.id, j.entries));
    batches.push(handBatch(m, j.id, j.entries.slice(0, Math.max(1, j.entries.length >> 1)), NOW + 61));
  }
  return { batches, places };
}

/** The model of M9: per request, the earliest unvoided sale's token settles; the other unvoided ones do not. */
function model(sales: SaleSpec[], places: { journalId: string; seq: number }[]) {
  const winners = new Set<number>();
  const losers = new Set<number>();
  const contested = new Set<string>();
  const byRequest = new Map<string, number[]>();
  sales.forEach((s, i) => {
    if (s.voided) return;
    const k = `${s.reader}|${s.request}`;
    byRequest.set(k, [...(byRequest.get(k) ?? []), i]);
  });
  for (const [k, is] of byRequest) {
    const sorted = [...is].sort((a, b) => sales[a]!.dt - sales[b]!.dt || (places[a]!.journalId < places[b]!.journalId ? -1 : places[a]!.journalId > places[b]!.journalId ? 1 : 0) || places[a]!.seq - places[b]!.seq);
    winners.add(sorted[0]!);
    for (const i of sorted.slice(1)) losers.add(i);
    if (sorted.length > 1) contested.add(k);
  }
  return { winners, losers, contested };
}

export function requestSuite(e: Engine): void {
  describe('one request, one settlement (M9)', () => {
    it('model: a reader that takes several tokens for its requests, batches in any order: the earliest token of each request settles, the others are failed (request_paid_twice)', async () => {
      const sale = fc.record({
        reader: fc.integer({ min: 0, max: 1 }),
        request: fc.integer({ min: 0, max: 2 }),
        wallet: fc.integer({ min: 0, max: 2 }),
        journal: fc.integer({ min: 0, max: 1 }),
        dt: fc.integer({ min: 0, max: 5 }),
        voided: fc.boolean(),
      });
      await fc.assert(
        fc.asyncProperty(fc.array(sale, { minLength: 1, maxLength: 10 }), fc.infiniteStream(fc.nat()), async (sales, order) => {
          const tokens = sales.map(tokenOf);
          const { batches, places } = batchesOf(sales, tokens);
          // Batches in a random order (each journal's overlap too).
          const keyed = batches.map((b) => ({ b, k: order.next().value as number }));
          keyed.sort((x, y) => x.k - y.k);
          const m = model(sales, places);
          const c: Clearing = await e.fresh({ issuerKeys: issuer.keySet(), clock: CLOCK });
          try {
            for (const { b } of keyed) expect((await c.ingest(b)).outcome).not.toBe('rejected');
            const rep = await c.report();
            expect(rep.invalidTokens).toEqual([]);
            // Lines: the winners, per operator (reader 31 is merchant 90, reader 32 merchant 91).
            const want = new Map<number, { count: number; gross: bigint }>();
            for (const i of m.winners) {
              const op = sales[i]!.reader === 0 ? 90 : 91;
              const l = want.get(op) ?? { count: 0, gross: 0n };
              l.count++;
              l.gross += BigInt(100 + i);
              want.set(op, l);
            }
            expect(rep.settlement.map((l) => ({ op: l.operatorId, count: l.count, gross: l.gross }))).toEqual(
              [...want.entries()].sort((a, b) => a[0] - b[0]).map(([op, l]) => ({ op, ...l })),
            );
            // The findings: one a contested request, its unsettled tokens exactly the model's losers.
            expect(rep.requestsPaidTwice).toHaveLength(m.contested.size);
            const unsettled = rep.requestsPaidTwice.flatMap((f) => f.unsettled.map((u) => u.tokenHash)).sort();
            expect(unsettled).toEqual([...m.losers].map((i) => toHex(tokenHash(tokens[i]!))).sort());
            for (const f of rep.requestsPaidTwice) expect(m.winners.has(tokens.findIndex((t) => toHex(tokenHash(t)) === f.settled.tokenHash))).toBe(true);
            // Each token's payment state (spec/clearing-api.md §2.6), from its own reads.
            for (const [i, t] of tokens.entries()) {
              const h = toHex(tokenHash(t));
              const st = paymentState(h, (await c.paymentFacts(tokenHash(t)))!);
              if (m.winners.has(i)) expect(st.state, `sale ${i}`).toBe('successful');
              else if (m.losers.has(i)) expect(st, `sale ${i}`).toMatchObject({ state: 'failed', failure: { code: 'payment_rejected', reason: 'request_paid_twice' }, evidence: { entry: { seq: places[i]!.seq } } });
              else expect(st.failure?.reason, `sale ${i}`).toBe('voided');
            }
          } finally {
            await c.close();
          }
        }),
        { numRuns: Math.max(10, Math.floor((e.runs?.model ?? 60) / 2)) },
      );
    }, 240_000);

    it('a request flooded with 300 tokens (M5): one lookup reads two rows of it, the lookups of all 300 read its first sale once', async () => {
      const m = READERS[1]!;
      const req = requestOf(1, 2);
      const tokens = Array.from({ length: 300 }, (_, i) => signToken(WALLETS[0]!, { payee: m.cert.readerId, amount: 1, counter: 1000 + i, time: req.time, challenge: req.challenge }));
      const batch = handBatch(m, new Uint8Array(8).fill(0x66), tokens.map((data, i) => ({ kind: 'accept' as const, time: NOW + Math.floor(i / 10), data, value: 1, request: req })));
      const c = await e.fresh({ issuerKeys: issuer.keySet(), clock: CLOCK });
      try {
        expect(await c.ingest(batch)).toMatchObject({ outcome: 'ingested', invalidTokens: 0 });
        const store = c.store as { firstRequestSale: (...a: unknown[]) => Promise<unknown> };
        const real = store.firstRequestSale.bind(c.store);
        const calls: boolean[] = [];
        store.firstRequestSale = (...a: unknown[]) => {
          calls.push(a[3] !== undefined); // (reader, time, challenge, token?)
          return real(...a);
        };
        const last = await c.paymentFacts(tokenHash(tokens[299]!));
        expect(last!.requestPaidTwice).toMatchObject({ settled: { tokenHash: toHex(tokenHash(tokens[0]!)), seq: 1 }, unsettled: [{ tokenHash: toHex(tokenHash(tokens[299]!)), seq: 300 }] });
        expect(calls).toEqual([false, true]); // the request's first sale, then this token's first sale
        calls.length = 0;
        const all = await c.paymentFactsMany(tokens.map((t) => tokenHash(t)));
        expect(all.filter((f) => f!.settled).map((f) => f!.settled!.tokenHash)).toEqual([toHex(tokenHash(tokens[0]!))]);
        expect(calls.filter((x) => !x)).toHaveLength(1); // the request's first sale, once for the 300
        expect(calls.filter((x) => x)).toHaveLength(299);
        expect((await c.report()).requestsPaidTwice[0]!.unsettled).toHaveLength(299);
      } finally {
        await c.close();
      }
    }, 120_000);

    it('a token left unsettled by M9 cannot be refunded (refund.not_settled); the settled one can; payment codes are never compared', async () => {
      const sales: SaleSpec[] = [
        { reader: 0, request: 0, wallet: 0, journal: 0, dt: 1, voided: false },
        { reader: 0, request: 0, wallet: 0, journal: 0, dt: 2, voided: false }, // the same wallet again: counter 2
      ];
      const tokens = sales.map(tokenOf);
      const m = READERS[0]!;
      const code = (w: number, counter: number) => signToken(WALLETS[w]!, { payee: m.cert.readerId, amount: 700, counter, time: PAYMENT_CODE_SIGNED_TIME, challenge: new Uint8Array([0, 0, 0, 0, 0, 0x0c, 0x0d, 0x0e]) });
      const codes = [code(1, 50), code(2, 51)];
      const batch = handBatch(m, new Uint8Array(8).fill(0x77), [
        ...tokens.map((t, i): Omit<JournalEntry, 'seq'> => ({ kind: 'accept', time: NOW + sales[i]!.dt, data: t, value: 100 + i, request: requestOf(0, 0) })),
        ...codes.map((t, i): Omit<JournalEntry, 'seq'> => ({ kind: 'accept', time: NOW + 100 * (i + 1), data: t, value: 700, request: { challenge: new Uint8Array([0, 0, 0, 0, 0, 0x0c, 0x0d, 0x0e]), time: PAYMENT_CODE_SIGNED_TIME } })),
      ]);
      const c = await e.fresh({ issuerKeys: issuer.keySet(), clock: CLOCK });
      try {
        expect(await c.ingest(batch)).toMatchObject({ outcome: 'ingested', invalidTokens: 0, doubleSpends: 0, readerFaults: 0 });
        const refund = (t: Uint8Array, amount: number) => createRefund({ readerCert: m.cert, secretKey: m.secretKey }, { tokenHash: tokenHash(t), amount, currency: HKD, time: NOW + 600 }).bytes;
        expect(await c.refund(refund(tokens[1]!, 101), NOW + 700)).toMatchObject({ outcome: 'rejected', reason: 'refund.not_settled' });
        expect(await c.refund(refund(tokens[0]!, 100), NOW + 700)).toMatchObject({ outcome: 'accepted' });
        const rep = await c.report();
        expect(rep.settlement.map((l) => [l.operatorId, l.count, l.gross])).toEqual([[90, 3, 100n + 700n + 700n]]);
        expect(rep.requestsPaidTwice).toEqual([
          {
            readerId: 31, requestTime: requestOf(0, 0).time, challenge: toHex(requestOf(0, 0).challenge),
            settled: { tokenHash: toHex(tokenHash(tokens[0]!)), journalId: '7777777777777777', seq: 1, time: NOW + 1 },
            unsettled: [{ tokenHash: toHex(tokenHash(tokens[1]!)), journalId: '7777777777777777', seq: 2, time: NOW + 2 }],
          },
        ]);
      } finally {
        await c.close();
      }
    });
  });
}
