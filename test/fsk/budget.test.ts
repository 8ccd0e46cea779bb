/**
 * The receiver's decode budget (spec/fsk.md §7.2 step 4, codecs/fsk/detector.ts DECODE_BURST / DECODE_PER_SECOND):
 * sound made of more chirps than frames can explain must not cost the listener a core. From a review: up- and
 * down-chirps alternating every 50 ms made every down-chirp pair with every pending up-chirp, each candidate
 * refined and demodulated, about 790 candidates a second of audio (19 CPU seconds a second) with every profile
 * listening, growing with the train's length. Candidates are counted through the receiver's trace tap (one
 * 'decode' record a candidate), not timed.
 */
import { describe, expect, it } from 'vitest';
import { encode, FskReceiver, type FskProfileName, type ReceiverEvent } from '../../codecs/fsk/index.js';
import { DECODE_BURST, DECODE_PER_SECOND } from '../../codecs/fsk/detector.js';
import { addChirp } from '../../codecs/fsk/modulate.js';
import { getProfile } from '../../codecs/fsk/profiles.js';
import { setReceiverTrace } from '../../codecs/fsk/trace.js';

const RATE = 48000;

/** Up- and down-chirps of `profile`'s family alternating every 50 ms from `from` to `to` seconds. */
function chirpTrain(x: Float32Array, profile: FskProfileName, from: number, to: number): void {
  const p = getProfile(profile)!;
  for (let t = from, k = 0; t < to; t += 0.05, k++) addChirp(x, RATE, p, t, k % 2 === 0, 0.3);
}

/** The receiver's events and its candidates tried (trace 'decode' records), x pushed in `chunk`-sample pieces. */
function listen(x: Float32Array, chunk: number, profiles?: FskProfileName[]): { decodes: number; events: ReceiverEvent[] } {
  let decodes = 0;
  setReceiverTrace((r) => {
    if (r.t === 'decode') decodes++;
  });
  try {
    const rx = new FskReceiver({ sampleRate: RATE, ...(profiles ? { profiles } : {}) });
    const events: ReceiverEvent[] = [];
    for (let i = 0; i < x.length; i += chunk) events.push(...rx.push(x.subarray(i, i + chunk)));
    events.push(...rx.flush());
    return { decodes, events };
  } finally {
    setReceiverTrace(null);
  }
}

describe('decode budget', () => {
  it('a 10 s chirp train with every profile listening: at most 32 + 8 a second candidates, reported as fsk.busy', () => {
    const x = new Float32Array(10 * RATE);
    chirpTrain(x, 'fast', 0.05, 9.95);
    const r = listen(x, 4800);
    expect(r.events.filter((e) => e.type === 'frame')).toEqual([]);
    expect(r.decodes).toBeLessThanOrEqual(DECODE_BURST + DECODE_PER_SECOND * 10);
    expect(r.decodes).toBeGreaterThan(DECODE_BURST); // the train did reach the budget: this test measures it
    const codes = r.events.filter((e) => e.type === 'failure').map((e) => (e.type === 'failure' ? e.code : ''));
    expect(codes).toContain('fsk.busy');
  });

  it('the ultrasonic chirp family the same', () => {
    const x = new Float32Array(6 * RATE);
    chirpTrain(x, 'ultrasonic', 0.05, 5.95);
    const r = listen(x, 4800, ['ultrasonic']);
    expect(r.decodes).toBeLessThanOrEqual(DECODE_BURST + DECODE_PER_SECOND * 6);
    expect(r.decodes).toBeGreaterThan(DECODE_BURST);
  });

  it('a frame before the train and a frame 4 s after it both decode; the result does not depend on the chunk size', () => {
    const payload = Uint8Array.from({ length: 60 }, (_, i) => i * 7);
    const frame = encode(payload, { profile: 'fast', sampleRate: RATE });
    const len = frame.length / RATE;
    const x = new Float32Array(Math.ceil((0.5 + len + 0.5 + 4 + 4 + len + 1) * RATE));
    x.set(frame, Math.round(0.5 * RATE));
    const trainFrom = 0.5 + len + 0.5;
    chirpTrain(x, 'fast', trainFrom, trainFrom + 4);
    x.set(frame, Math.round((trainFrom + 8) * RATE));
    const summary = (ev: ReceiverEvent[]) => ev.filter((e) => e.type !== 'preamble').map((e) => (e.type === 'message' ? `message ${e.payload.length}` : e.type === 'failure' ? e.code : e.type));
    const whole = listen(x, x.length);
    const pieces = listen(x, 333);
    expect(whole.events.filter((e) => e.type === 'message').map((e) => (e.type === 'message' ? [...e.payload] : []))).toEqual([[...payload], [...payload]]);
    expect(summary(whole.events)).toContain('fsk.busy');
    // The same events (their order around expiries follows the hops a chunk completes, as without the budget).
    expect(summary(pieces.events).sort()).toEqual(summary(whole.events).sort());
    expect(pieces.decodes).toBe(whole.decodes);
  });
});
