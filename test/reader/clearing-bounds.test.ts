/**
 * The clearing bounds (spec/reader.md §14; spec/clearing.md §4 step 9): clearing judges every entry by the
 * standard row of the reader's profile, so a reader may narrow the four time fields clearing judges by and never
 * widen them. Found by a transit attack review: a gate with a wider oneWayMaxAgeSeconds or maxFutureSeconds opened
 * for tokens clearing stored invalid (a free ride), and a wider maxTripSeconds charged an honest long trip the
 * maximum fare.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { Clearing } from '../../src/clearing/index.js';
import { loadPolicy } from '../../src/cli/reader-open.js';
import { clearingBounds, READER_PROFILES, type ReaderOptions } from '../../src/reader/index.js';
import { HKD, NOW, makeIssuer, makeWallet, openTestReader, signToken } from './helpers.js';

const issuer = makeIssuer('clearing-bounds');
const OP = 300;
const dir = mkdtempSync(join(tmpdir(), 'offpay-bounds-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const reader = (id: number, profile: 'vending' | 'transit', options: Partial<ReaderOptions> = {}) => openTestReader(issuer, 'clearing-bounds', id, { profile, options });

describe('the clearing bounds of a reader profile', () => {
  it('are the larger of the two age limits, and maxFutureSeconds and maxTripSeconds of the standard row', () => {
    expect(clearingBounds('vending')).toEqual({ maxAgeSeconds: 300, oneWayMaxAgeSeconds: 300, maxFutureSeconds: 60, maxTripSeconds: 0 });
    expect(clearingBounds('transit')).toEqual({ maxAgeSeconds: 300, oneWayMaxAgeSeconds: 300, maxFutureSeconds: 60, maxTripSeconds: 14_400 });
    for (const p of ['vending', 'transit'] as const) {
      const row = READER_PROFILES[p];
      expect(clearingBounds(p).maxAgeSeconds).toBe(Math.max(row.maxAgeSeconds, row.oneWayMaxAgeSeconds));
    }
  });

  it('a wider override is refused (ReaderOptions: reader.bad_config; the policy file: reader.bad_policy), naming the field and the bound; at the bound or narrower it is taken', () => {
    let id = 100;
    for (const p of ['vending', 'transit'] as const) {
      for (const [field, bound] of Object.entries(clearingBounds(p))) {
        expect(() => reader(id++, p, { profile: { [field]: bound + 1 } }), `${p} ${field}`).toThrow(
          expect.objectContaining({ code: 'reader.bad_config', message: expect.stringContaining(`ReaderOptions.profile.${field} = ${bound + 1} seconds is above ${bound}`) }),
        );
        expect(reader(id++, p, { profile: { [field]: bound } }).profile[field as 'maxAgeSeconds']).toBe(bound);
        const file = join(dir, `${p}-${field}.json`);
        writeFileSync(file, JSON.stringify({ profile: { [field]: bound + 1 } }));
        expect(() => loadPolicy(file, p)).toThrow(expect.objectContaining({ code: 'reader.bad_policy', message: expect.stringContaining(`profile.${field} = ${bound + 1} seconds`) }));
        writeFileSync(file, JSON.stringify({ profile: { [field]: Math.max(0, bound - 1) } }));
        expect(loadPolicy(file, p).profile).toEqual({ [field]: Math.max(0, bound - 1) });
      }
    }
  });

  it('whatever a gate within the bounds takes, clearing settles as the gate did: a fixed fare at its fare, a trip at its tap-out fare (model-based)', async () => {
    const b = clearingBounds('transit');
    let id = 1000;
    const taken = { fixed: 0, trips: 0 };
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          maxAgeSeconds: fc.integer({ min: 1, max: b.maxAgeSeconds }),
          oneWayMaxAgeSeconds: fc.integer({ min: 1, max: b.oneWayMaxAgeSeconds }),
          maxFutureSeconds: fc.integer({ min: 0, max: b.maxFutureSeconds }),
          maxTripSeconds: fc.integer({ min: 0, max: b.maxTripSeconds }),
        }),
        fc.integer({ min: -400, max: 100 }),
        fc.integer({ min: 0, max: 16_000 }),
        async (profile, age, trip) => {
          const gate = reader(id++, 'transit', { profile });
          const entry = reader(id++, 'transit');
          const w = makeWallet(issuer, 'clearing-bounds', `w${id}`);
          const fixed = signToken(w, { payee: OP, amount: 450, counter: 1, time: NOW + age });
          const fixedOk = (await gate.accept(fixed, { fare: { amount: 450, currency: HKD }, now: NOW })).accepted;
          const tok = signToken(w, { payee: OP, amount: 3500, counter: 2, time: NOW });
          expect((await entry.accept(tok, { tapIn: { maxFare: 3500, currency: HKD }, now: NOW })).accepted).toBe(true);
          const out = await gate.tapOut(tok, { fare: 400, currency: HKD, now: NOW + trip });
          const c = new Clearing({ issuerKeys: issuer.keySet(), clock: () => NOW + 86_400 });
          for (const r of [entry, gate]) for (const x of r.export(NOW + 20_000).batches) expect(await c.ingest(x.bytes)).toMatchObject({ outcome: 'ingested', invalidTokens: 0 });
          const gross = (await c.settlement()).reduce((n, l) => n + l.gross, 0n);
          // The trip is charged its tap-out fare when the gate recorded one, else the maximum (an open trip).
          expect(gross).toBe((fixedOk ? 450n : 0n) + (out.accepted ? 400n : 3500n));
          if (fixedOk) taken.fixed++;
          if (out.accepted) taken.trips++;
        },
      ),
      { numRuns: 30, seed: 1206 },
    );
    expect(taken.fixed).toBeGreaterThan(3);
    expect(taken.trips).toBeGreaterThan(3);
  });
});
