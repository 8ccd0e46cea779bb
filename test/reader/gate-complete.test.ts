/**
 * A gate that completes its tap-ins (spec/reader.md §7.1): a copy of the tap-in shown within the resume window
 * opens nothing, and the trip still taps out. Left pending, the copy resumes (the jammed-barrier rule of §2 step 0).
 */
import { describe, expect, it } from 'vitest';
import { HKD, NOW, makeIssuer, makeWallet, openTestReader, signToken } from './helpers.js';

const issuer = makeIssuer('gate-complete');
const OP = 300;
const tapIn = { tapIn: { maxFare: 3500, currency: HKD } };

describe('a gate that completes its tap-ins', () => {
  it('complete: true at the tap-in, or complete() at the passage: a copy 10 s later is replayed; the trip taps out at another gate', async () => {
    const w = makeWallet(issuer, 'gate-complete', 'rider');
    for (const how of ['context', 'call'] as const) {
      const [entry, exit] = [openTestReader(issuer, 'gate-complete', how === 'context' ? 901 : 903), openTestReader(issuer, 'gate-complete', how === 'context' ? 902 : 904)];
      const trip = signToken(w, { payee: OP, amount: 3500, counter: how === 'context' ? 1 : 2, time: NOW });
      const v = await entry.accept(trip, { ...tapIn, now: NOW, ...(how === 'context' ? { complete: true } : {}) });
      expect(v).toMatchObject({ accepted: true, status: 'accepted' });
      if (how === 'call') expect(entry.complete(v.tokenHash)).toBe(true);
      expect(await entry.accept(trip, { ...tapIn, now: NOW + 10 })).toMatchObject({ accepted: false, reason: 'replayed' });
      expect(await exit.tapOut(trip, { fare: 400, currency: HKD, now: NOW + 900 })).toMatchObject({ accepted: true, status: 'tapped_out' });
    }
  });

  it('left pending, the same bytes 10 s later resume: the copy opens the gate once more', async () => {
    const w = makeWallet(issuer, 'gate-complete', 'pending');
    const entry = openTestReader(issuer, 'gate-complete', 905);
    const trip = signToken(w, { payee: OP, amount: 3500, counter: 1, time: NOW });
    expect((await entry.accept(trip, { ...tapIn, now: NOW })).accepted).toBe(true);
    expect(await entry.accept(trip, { ...tapIn, now: NOW + 10 })).toMatchObject({ accepted: true, status: 'resumed' });
  });
});
