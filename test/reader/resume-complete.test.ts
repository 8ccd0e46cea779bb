/**
 * The reader attack review (2026-12-07): `complete: true` was ignored on a RESUMED token (fixed: the resume completes it).
 *
 * spec/reader.md §7.1: "a gate SHOULD complete the tap-in as the passenger passes (complete() when the barrier reports
 * the passage, or `complete: true` in the accept context when it opens at once): a completed tap-in shown again is
 * `replayed` ... Then one tap-in opens the gate once". `reader listen --complete` and `reader accept --complete` promise
 * the same ("mark each sale complete at once (nothing left to dispense)", §17.1). But §2 step 0 answers a known token
 * "with no state change", and Reader.accept (src/reader/reader.ts, accept -> priorVerdict) returns `resumed` before it
 * looks at ctx.complete. So a pending tap-in (the first read left it pending: the barrier jammed, or the first read came
 * from a process without --complete) that RESUMES under `complete: true` opens the gate and stays pending: a copy of its
 * sound or QR code shown within the resume window opens the gate again, and again, each time "complete: true" was asked.
 */
import { describe, expect, it } from 'vitest';
import { HKD, NOW, makeIssuer, makeWallet, openTestReader, signToken } from './helpers.js';

const issuer = makeIssuer('zz-attack-resume');
const OP = 300;

describe('complete: true on a resumed tap-in', () => {
  it('completes the trip, so a copy shown 5 s later is replayed and opens nothing', async () => {
    const gate = openTestReader(issuer, 'zz-attack-resume', 7301, { operatorId: OP });
    const rider = makeWallet(issuer, 'zz-attack-resume', 'rider');
    const trip = signToken(rider, { payee: OP, amount: 1500, counter: 1, time: NOW });
    const tapIn = { maxFare: 1500, currency: HKD };
    // First read: accepted, left pending (the barrier jammed before the rider passed).
    expect((await gate.accept(trip, { tapIn, now: NOW })).status).toBe('accepted');
    // The rider taps again; the gate now opens at once and says so: complete: true.
    const again = await gate.accept(trip, { tapIn, complete: true, now: NOW + 5 });
    expect(again.status).toBe('resumed');
    // Someone who photographed / recorded the token shows it 5 s later at the same gate.
    const copy = await gate.accept(trip, { tapIn, complete: true, now: NOW + 10 });
    expect(copy.accepted ? copy.status : copy.reason, 'the copy opened the gate again: the tap-in was not completed').toBe('replayed');
  });
});
