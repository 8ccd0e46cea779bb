/**
 * The camera hold rule (web/hold.ts, spec/playground.md §2.1) against its model: a decode is a new presentation
 * iff no earlier decode of the same bytes lies within holdMs before it. fast-check drives random decode streams
 * (few distinct codes, so repeats and interleavings are common; gaps around the hold boundary).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CodeWindow, HoldFilter } from '../../web/hold.js';

const HOLD = 1500;

describe('camera hold rule', () => {
  it('acts on a decode iff the same code was not decoded in the hold time before it (model check)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ gap: fc.oneof(fc.integer({ min: 0, max: 200 }), fc.constantFrom(HOLD - 1, HOLD, HOLD + 1), fc.integer({ min: 0, max: 5000 })), key: fc.constantFrom('A', 'B', 'C') }), { maxLength: 200 }),
        (steps) => {
          const f = new HoldFilter(HOLD);
          const seen: { key: string; t: number }[] = [];
          let t = 0;
          for (const s of steps) {
            t += s.gap;
            const expected = !seen.some((e) => e.key === s.key && t - e.t <= HOLD);
            expect(f.fresh(s.key, t)).toBe(expected);
            seen.push({ key: s.key, t });
            expect(f.size).toBeLessThanOrEqual(3);
          }
        },
      ),
    );
  });

  it('a code held in view is acted on once; taken away for longer than the hold and shown again, once more', () => {
    const f = new HoldFilter(HOLD);
    const acted = [0, 100, 200, 300, 1790, 3291, 3300].filter((t) => f.fresh('token', t));
    // 1790 - 300 = 1490 <= hold: still the same presentation; 3291 - 1790 = 1501 > hold: shown again.
    expect(acted).toEqual([0, 3291]);
  });

  it('two codes in view together are each acted on once, not on every alternation', () => {
    const f = new HoldFilter(HOLD);
    const acted = Array.from({ length: 20 }, (_, i) => [i % 2 ? 'B' : 'A', i * 66] as const).filter(([k, t]) => f.fresh(k, t));
    expect(acted.map(([k]) => k)).toEqual(['A', 'B']);
  });

  it('refuses a hold that is not a finite number >= 0', () => {
    for (const bad of [-1, Number.NaN, Number.POSITIVE_INFINITY]) expect(() => new HoldFilter(bad)).toThrow(RangeError);
  });
});

describe('the live ambiguity window (CodeWindow: spec/qr.md §8 rule 1 over frames, spec/playground.md §2.1)', () => {
  it('against its model: ambiguous while two different codes were decoded within the hold time; a code settles after being the only one for settleMs', () => {
    const SETTLE = 500;
    fc.assert(
      fc.property(
        fc.array(fc.record({ gap: fc.oneof(fc.integer({ min: 0, max: 200 }), fc.constantFrom(HOLD - 1, HOLD, HOLD + 1, SETTLE), fc.integer({ min: 0, max: 4000 })), keys: fc.subarray(['A', 'B', 'C']) }), { maxLength: 150 }),
        (frames) => {
          const w = new CodeWindow(HOLD, SETTLE);
          const last = new Map<string, number>(); // the model: each code's last decode
          let alone: { key: string; since: number } | undefined; // the model: the code kept alone, since when
          let t = 0;
          for (const f of frames) {
            t += f.gap;
            for (const [k, at] of [...last]) {
              if (t - at <= HOLD) continue;
              last.delete(k);
              if (alone?.key === k) alone = undefined; // it left the view: back later, it settles anew
            }
            for (const k of f.keys) last.set(k, t);
            const got = w.push(f.keys, t);
            if (last.size !== 1) {
              alone = undefined;
              expect(got).toEqual(last.size === 0 ? { state: 'none' } : { state: 'ambiguous', codes: last.size });
              continue;
            }
            const k = [...last.keys()][0]!;
            if (alone?.key !== k) alone = { key: k, since: t };
            expect(got).toEqual(f.keys.includes(k) && t - alone.since >= SETTLE ? { state: 'settled', key: k, since: alone.since } : { state: 'settling', key: k });
          }
        },
      ),
    );
  });

  it('settles counting from when the code became the only one, not from its first sighting', () => {
    const w = new CodeWindow(HOLD, 500);
    w.push(['machine', 'sticker'], 0);
    expect(w.push(['machine'], HOLD)).toEqual({ state: 'ambiguous', codes: 2 }); // the sticker still held
    expect(w.push(['machine'], HOLD + 1)).toEqual({ state: 'settling', key: 'machine' }); // alone from here
    expect(w.push(['machine'], HOLD + 500)).toEqual({ state: 'settling', key: 'machine' });
    expect(w.push(['machine'], HOLD + 501)).toEqual({ state: 'settled', key: 'machine', since: HOLD + 1 });
  });

  it('a code that left the view (no frame decoded it for the hold time) settles anew when it comes back', () => {
    const w = new CodeWindow(HOLD, 500);
    w.push(['sticker'], 0);
    w.push(['sticker'], 100); // alone, not settled; then frames decode nothing (the phone moves)
    expect(w.push(['sticker'], 5_000)).toEqual({ state: 'settling', key: 'sticker' });
    expect(w.push(['sticker'], 5_500)).toEqual({ state: 'settled', key: 'sticker', since: 5_000 });
  });
});
