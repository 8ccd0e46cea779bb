/**
 * spec/fsk.md §5-6.1 as integer formulas: the number of samples of a frame at any rate, where each segment
 * of a message starts, and the row counts that have no layout.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  encode, frameMicros, frameSamples, layoutForRows, MAX_FRAME_PAYLOAD, FSK_PROFILES, rowsForPayload, segmentGapSamples, segmentPayload,
  SEGMENT_GAP_US,
} from '../../codecs/fsk/index.js';
import { OffpayError } from '../../base/errors.js';

describe('exact sample counts (spec/fsk.md §6.1)', () => {
  it('every time in the profile table is a whole number of microseconds', () => {
    for (const p of FSK_PROFILES) {
      for (const t of [p.chirpDuration, p.gap, p.guard, p.window, p.ramp]) expect(Number.isInteger(Math.round(t * 1e6)) && Math.abs(t * 1e6 - Math.round(t * 1e6)) < 1e-6).toBe(true);
    }
  });
  it('worked values: 200 bytes at 48 kHz and 44.1 kHz, the shortest frames', () => {
    const [fast, robust, ultrasonic] = FSK_PROFILES;
    expect(frameMicros(fast!, 12)).toBe(700_000);
    expect(frameSamples(fast!, 12, 48000)).toBe(33600);
    expect(frameSamples(fast!, 12, 44100)).toBe(30870);
    expect(frameSamples(robust!, 51, 44100)).toBe(60638); // 60637.5 rounds up
    expect(frameSamples(ultrasonic!, 8, 48000)).toBe(24000);
    expect(frameSamples(fast!, 3, 22050)).toBe(5513); // 0.25 s * 22050 = 5512.5
    expect(segmentGapSamples(48000)).toBe(2400);
    expect(segmentGapSamples(22050)).toBe(1103); // 1102.5 rounds up
    expect(segmentGapSamples(8001)).toBe(401); // 400.05 rounds up
  });
  it('property: encode() output is sum of N_frame(R_i) plus N_gap between segments, and segment i starts at its offset', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 1600 }), fc.constantFrom('fast', 'robust', 'ultrasonic', 'turbo' as const), fc.constantFrom(40000, 44100, 48000, 96000, 88201),
        (bytes, profile, rate) => {
          const p = FSK_PROFILES.find((q) => q.name === profile)!;
          const payload = new Uint8Array(bytes).fill(0xa5);
          const x = encode(payload, { profile, sampleRate: rate });
          const parts = segmentPayload(payload);
          const lengths = parts.map((part) => frameSamples(p, rowsForPayload(p, part.length), rate));
          const gap = segmentGapSamples(rate);
          expect(x.length).toBe(lengths.reduce((a, n) => a + n, 0) + gap * (parts.length - 1));
          let start = 0;
          for (const n of lengths) {
            // Sample `start` is x(0) = 0 (the chirp ramp starts at 0); the next one is not; the frame's last
            // sample lies before T_frame and the N_gap samples after it are silence.
            expect(x[start]).toBe(0);
            expect(x[start + 1]).not.toBe(0);
            for (let i = start + n; i < Math.min(x.length, start + n + gap); i++) expect(x[i]).toBe(0);
            start += n + gap;
          }
        },
      ),
      { numRuns: 15, seed: 21 },
    );
  });
  it('the segment gap is 0.050 s', () => {
    expect(SEGMENT_GAP_US).toBe(50_000);
  });
  it('a sample rate that is not a whole number of Hz is fsk.bad_rate', () => {
    try {
      encode(new Uint8Array(1), { sampleRate: 44100.5 });
      throw new Error('expected fsk.bad_rate');
    } catch (e) {
      expect((e as OffpayError).code).toBe('fsk.bad_rate');
    }
  });
});

describe('row counts without a layout (spec/fsk.md §5)', () => {
  it('R * G <= P has no layout (no codeword could carry a data byte), R = 0 and non-integers neither', () => {
    for (const p of FSK_PROFILES) {
      for (let rows = 0; rows * p.groups <= p.parity; rows++) expect(layoutForRows(p, rows)).toBeNull();
      const first = Math.floor(p.parity / p.groups) + 1;
      const lay = layoutForRows(p, first)!;
      expect(lay.blockLengths).toEqual([first * p.groups]);
      expect(lay.capacity).toBe(first * p.groups - p.parity);
      expect(layoutForRows(p, 2.5)).toBeNull();
      expect(layoutForRows(p, -1)).toBeNull();
    }
  });
  it('every R from the first valid one up has codewords longer than P, and R(L) is the smallest R that fits L + 7', () => {
    for (const p of FSK_PROFILES) {
      for (let rows = Math.floor(p.parity / p.groups) + 1; rows <= rowsForPayload(p, MAX_FRAME_PAYLOAD); rows++) {
        const lay = layoutForRows(p, rows)!;
        expect(Math.min(...lay.blockLengths)).toBeGreaterThan(p.parity);
        expect(lay.blockLengths.reduce((a, n) => a + n, 0)).toBe(lay.codewordBytes);
      }
      for (let L = 0; L <= MAX_FRAME_PAYLOAD; L++) {
        const R = rowsForPayload(p, L);
        expect(layoutForRows(p, R)!.capacity).toBeGreaterThanOrEqual(L + 7);
        const below = layoutForRows(p, R - 1);
        expect(below === null || below.capacity < L + 7).toBe(true);
      }
    }
  });
  it('the row ranges of spec/fsk.md §5', () => {
    expect(FSK_PROFILES.map((p) => [p.name, rowsForPayload(p, 0), rowsForPayload(p, MAX_FRAME_PAYLOAD)])).toEqual([
      ['fast', 3, 31], ['robust', 11, 133], ['ultrasonic', 8, 95], ['turbo', 3, 31],
    ]);
  });
});
