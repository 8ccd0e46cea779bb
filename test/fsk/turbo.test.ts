import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  airTime, decode, encode, FskReceiver, getProfile, makeRng, musicLike, pinkNoise, simulate, speechLike, whiteNoise,
} from '../../codecs/fsk/index.js';
import { buildFrame, frameSamples, rowsForPayload } from '../../codecs/fsk/frame.js';
import { OfdmDemodulator } from '../../codecs/fsk/turbo/demodulator.js';
import { carrierPhases } from '../../codecs/fsk/turbo/modulator.js';
import { pn9Bytes, scramble } from '../../codecs/fsk/turbo/scrambler.js';
import { DIBIT_OF_Q, Q_OF_DIBIT } from '../../codecs/fsk/turbo/mapping.js';

const turbo = getProfile('turbo')!;
const hex = (b: Uint8Array | undefined) => (b ? Buffer.from(b).toString('hex') : 'none');

/** Decode a capture in 128-sample chunks, as a microphone callback delivers it. */
function listen(samples: Float32Array, rate: number) {
  const rx = new FskReceiver({ sampleRate: rate });
  const events = [];
  for (let o = 0; o < samples.length; o += 128) events.push(...rx.push(samples.subarray(o, o + 128)));
  events.push(...rx.flush());
  return events;
}

describe('turbo profile (spec/fsk.md §14)', () => {
  it('moves 200 bytes in at most 0.28 s, preamble and postamble included (issue 15)', () => {
    expect(airTime(turbo, 200)).toBeCloseTo(0.2625, 9);
    expect(airTime(turbo, 200)).toBeLessThanOrEqual(0.28);
    // 12 rows of 22 bytes: one RS(255, 207) codeword and 9 padding slots.
    expect(rowsForPayload(turbo, 200)).toBe(12);
    expect(frameSamples(turbo, 12, 48000)).toBe(12600);
  });

  it('PN9 scrambler: known first bytes, an involution', () => {
    // Computed independently from the spec's text (a 9-bit LFSR in Python).
    expect(hex(pn9Bytes(8))).toBe('07be2e64129da3cf');
    fc.assert(fc.property(fc.uint8Array({ maxLength: 600 }), (b) => hex(scramble(scramble(b))) === hex(b)));
  });

  it('Gray mapping: neighbouring phase points differ in one bit, and the two tables are inverse', () => {
    for (let q = 0; q < 4; q++) {
      expect(Q_OF_DIBIT[DIBIT_OF_Q[q]!]).toBe(q);
      const x = DIBIT_OF_Q[q]! ^ DIBIT_OF_Q[(q + 1) % 4]!;
      expect(x === 1 || x === 2).toBe(true);
    }
  });

  it('the reference symbol carries the Newman phases pi k^2 / K and every data phase is a quarter-turn away from it', () => {
    const { slots, layout } = buildFrame(turbo, makeRng(3).bytes(200));
    const ph = carrierPhases(turbo, slots, layout.rows);
    const K = 88;
    for (let k = 0; k < K; k++) expect(ph[k]).toBeCloseTo((Math.PI * k * k) / K, 12);
    for (let s = 1; s <= layout.rows; s++) {
      for (let k = 0; k < K; k++) {
        const q = (ph[s * K + k]! - ph[k]!) / (Math.PI / 2);
        expect(Math.abs(q - Math.round(q))).toBeLessThan(1e-9);
      }
    }
  });

  it('clean round trip at 48 and 44.1 kHz, every length class of one frame', () => {
    for (const rate of [48000, 44100]) {
      for (const n of [0, 1, 14, 15, 200, 512]) {
        const payload = makeRng(n + rate).bytes(n);
        const r = decode(encode(payload, { profile: 'turbo', sampleRate: rate }), rate);
        expect(r.messages.map(hex)).toEqual([hex(payload)]);
        expect(r.frames[0]!.profile).toBe('turbo');
      }
    }
  });

  it('segments beyond one frame (1000 bytes in two frames)', () => {
    const payload = makeRng(9).bytes(1000);
    const r = decode(encode(payload, { profile: 'turbo' }), 48000);
    expect(r.frames.map((f) => f.segment)).toEqual([{ index: 0, count: 2 }, { index: 1, count: 2 }]);
    expect(r.messages.map(hex)).toEqual([hex(payload)]);
  });

  it('the demodulator alone recovers the slot bytes of a clean frame at sample 0', () => {
    const payload = makeRng(4).bytes(200);
    const x = encode(payload, { profile: 'turbo' });
    const { slots } = buildFrame(turbo, payload);
    const [soft] = new OfdmDemodulator(turbo, 48000).attempts({ sample: (n) => x[n] ?? 0 }, 12, 0, 0);
    expect(hex(soft!.bytes)).toBe(hex(slots));
  });

  it('impaired channels (property, moderate): noise +8 dB, clock offset within +-0.5 %, 44.1 or 48 kHz capture, 128-sample chunks', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 1e6 }), fc.double({ min: -0.005, max: 0.005, noNaN: true }), fc.constantFrom(44100, 48000), fc.integer({ min: 1, max: 220 }),
        (seed, eps, outRate, n) => {
          const payload = makeRng(seed).bytes(n);
          const y = simulate(encode(payload, { profile: 'turbo' }), 48000, { seed, snrDb: 8, clockOffset: eps, outRate, leadIn: [0.1, 0.3], tail: 0.2 });
          const msgs = listen(y.samples, y.rate).filter((e) => e.type === 'message');
          return msgs.length === 1 && hex((msgs[0] as { payload: Uint8Array }).payload) === hex(payload);
        },
      ),
      { numRuns: 8, seed: 15 },
    );
  });

  it('impaired channels (property, moderate): small room RT60 0.2-0.3 s, DRR +10 dB, +15 dB SNR, offset within +-0.4 %', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1e6 }), fc.double({ min: 0.2, max: 0.3, noNaN: true }), fc.double({ min: -0.004, max: 0.004, noNaN: true }), (seed, rt60, eps) => {
        const payload = makeRng(seed).bytes(200);
        const y = simulate(encode(payload, { profile: 'turbo' }), 48000, { seed, rt60, drrDb: 10, snrDb: 15, clockOffset: eps, leadIn: 0.2, tail: 0.3 });
        const msgs = listen(y.samples, y.rate).filter((e) => e.type === 'message');
        return msgs.length === 1 && hex((msgs[0] as { payload: Uint8Array }).payload) === hex(payload);
      }),
      { numRuns: 5, seed: 16 },
    );
  });

  it('clock offset of +-1 % at +10 dB: the drift the chirp pair leaves (up to ~450 ppm here) is acquired symbol by symbol', () => {
    // Seeds where the chirp pair's offset estimate is 300-460 ppm off (without acquireDrift 3 of the 6 fail).
    for (const [i, eps] of [[1, 0.01], [2, 0.01], [9, 0.01], [0, -0.01], [3, -0.01], [4, -0.01]] as const) {
      const payload = makeRng(1000 + i).bytes(200);
      const y = simulate(encode(payload, { profile: 'turbo' }), 48000, { seed: 77 + i, leadIn: [0.2, 0.5], snrDb: 10, clockOffset: eps });
      const ev = listen(y.samples, y.rate);
      const frame = ev.find((e) => e.type === 'frame');
      expect(frame && frame.type === 'frame' ? hex(frame.frame.payload) : 'none').toBe(hex(payload));
    }
  });

  it('a fast frame next to a turbo frame: each decodes as its own profile', () => {
    const a = makeRng(1).bytes(120);
    const b = makeRng(2).bytes(120);
    const fa = encode(a, { profile: 'fast' });
    const fb = encode(b, { profile: 'turbo' });
    const x = new Float32Array(fa.length + fb.length + 24000);
    x.set(fa, 4800);
    x.set(fb, fa.length + 14400);
    const r = decode(x, 48000);
    expect(r.frames.map((f) => f.profile)).toEqual(['fast', 'turbo']);
    expect(r.messages.map(hex)).toEqual([hex(a), hex(b)]);
  });

  it('noise, speech-like and music-like input give no frame with turbo enabled', () => {
    const rate = 48000;
    const inputs = [
      Float32Array.from(whiteNoise(4 * rate, 0.1, makeRng(31))),
      Float32Array.from(pinkNoise(4 * rate, 0.1, makeRng(32))),
      speechLike(4, rate, 33),
      musicLike(4, rate, 34),
    ];
    for (const x of inputs) expect(decode(x, rate).frames).toEqual([]);
  });
});
