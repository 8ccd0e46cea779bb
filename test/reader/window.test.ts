import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createBlocklist, MemoryReaderStore, Reader, advanceWindow, checkWindow, validateWindowSize, type WindowState } from '../../src/reader/index.js';
import { nodeEd25519 } from '../../src/node/crypto.js';
import { HKD, NOW, makeIssuer, makeReader, makeWallet, signToken } from './helpers.js';

/** The obvious model: every counter ever accepted, and the highest. */
function model(w: number) {
  const seen = new Set<number>();
  let high = 0;
  return (c: number): 'new' | 'replayed' | 'stale' => {
    if (seen.size && c <= high && high - c >= w) return 'stale';
    if (seen.has(c)) return 'replayed';
    seen.add(c);
    high = Math.max(high, c);
    return 'new';
  };
}

const counters = (max: number) => fc.array(fc.integer({ min: 1, max }), { minLength: 1, maxLength: 300 });

describe('anti-replay window', () => {
  it('agrees with the model on random counter sequences (several window sizes)', () => {
    fc.assert(
      fc.property(fc.constantFrom(8, 16, 64, 128, 1024), counters(2000), (w, seq) => {
        const m = model(w);
        let s: WindowState | undefined;
        for (const c of seq) {
          const got = checkWindow(s, c, w);
          expect(got).toBe(m(c));
          if (got === 'new') s = advanceWindow(s, c, w);
        }
      }),
      { numRuns: 400, seed: 42 },
    );
  });

  it('agrees with the model on mostly increasing sequences with local reordering and jumps', () => {
    const walk = fc.array(fc.tuple(fc.integer({ min: -20, max: 40 }), fc.boolean()), { minLength: 1, maxLength: 400 });
    fc.assert(
      fc.property(fc.constantFrom(8, 32, 128), walk, (w, steps) => {
        const m = model(w);
        let s: WindowState | undefined;
        let c = 50;
        for (const [d, repeat] of steps) {
          c = Math.max(1, c + (repeat ? 0 : d));
          const got = checkWindow(s, c, w);
          expect(got).toBe(m(c));
          if (got === 'new') s = advanceWindow(s, c, w);
        }
      }),
      { numRuns: 300, seed: 7 },
    );
  });

  it('rejects bad window sizes', () => {
    for (const w of [0, 7, 12, 4104, 1.5]) expect(() => validateWindowSize(w)).toThrow(expect.objectContaining({ code: 'reader.bad_config' }));
  });

  it('the reader agrees with the model end to end (tokens, both outcomes, resume of exact repeats)', async () => {
    const issuer = makeIssuer('win');
    const gate = makeReader(issuer, 'win', 5101, 'transit', 300);
    const w = makeWallet(issuer, 'win', 'a');
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(fc.integer({ min: 1, max: 120 }), fc.integer({ min: 0, max: 2 })), { minLength: 1, maxLength: 80 }), async (seq) => {
        const r = new Reader({ ...gate, issuerKeys: issuer.keySet(), store: new MemoryReaderStore(), verifier: nodeEd25519(), clock: () => NOW, window: 32 });
        r.loadBlocklist(createBlocklist(issuer.keys[0]!, { issuerId: 7, version: 1, issuedAt: NOW, walletIds: [] }).bytes);
        const m = model(32);
        const accepted = new Map<number, number>(); // counter -> variant accepted
        for (const [c, variant] of seq) {
          const tok = signToken(w, { payee: 300, amount: 100, counter: c, time: NOW - variant });
          const v = await r.accept(tok, { fare: { amount: 100, currency: HKD } });
          if (accepted.get(c) === variant) {
            // The exact token again: the sale is still pending, so it resumes without a charge.
            expect(v).toMatchObject({ accepted: true, status: 'resumed', charged: false });
            continue;
          }
          const want = m(c);
          if (want === 'new') {
            expect(v).toMatchObject({ accepted: true, status: 'accepted' });
            accepted.set(c, variant);
          } else {
            expect(v).toMatchObject({ accepted: false, reason: want });
          }
        }
        const charged = r.entries().filter((e) => e.kind === 'accept').length;
        expect(charged).toBe(accepted.size);
        expect(r.verifyJournal().ok).toBe(true);
      }),
      { numRuns: 60, seed: 99 },
    );
  });
});
