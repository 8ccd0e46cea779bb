/**
 * `reader listen --min-level` in the listen session (src/cli/listen/session.ts, spec/reader.md §17.2) with a
 * stand-in reader that counts what it is asked to judge: a message at exactly the threshold is judged, one
 * quieter is not (nothing reaches the reader), and without a threshold every message is judged as before.
 * (From a review of 8d440e3.)
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { encode, makeRng } from '../../codecs/fsk/index.js';
import { ListenSession } from '../../src/cli/listen/session.js';
import type { ListenEvent } from '../../src/cli/listen/events.js';
import type { Reader } from '../../src/reader/reader.js';

const RATE = 48000;

/** `x` as s16le PCM through a ListenSession whose reader finds no token in anything (a flood has none). */
async function listenToNoTokens(x: Float32Array): Promise<{ events: ListenEvent[]; session: ListenSession }> {
  const pcm = new Int16Array(x.length);
  for (let i = 0; i < x.length; i++) pcm[i] = Math.max(-32768, Math.min(32767, Math.round(x[i]! * 32768)));
  const events: ListenEvent[] = [];
  const reader = { accept: async () => { throw new Error('nothing here is a token'); } } as unknown as Reader;
  const session = new ListenSession({
    reader, rate: RATE, format: 's16le', channels: 1, judge: { mode: 'fare', amount: 200, currency: 344 }, complete: false,
    clock: (t) => 1000 + t, statsEvery: 0, write: (e) => events.push(e),
  });
  const bytes = new Uint8Array(pcm.buffer);
  for (let o = 0; o < bytes.length; o += 9600) await session.push(bytes.subarray(o, o + 9600));
  await session.flush();
  return { events, session };
}

describe('reader listen --min-level, in the session', () => {
  const token = Uint8Array.from({ length: 150 }, (_, i) => (i * 29 + 3) & 255);
  const clip = encode(token, { profile: 'fast', sampleRate: RATE });
  const pcm = (() => {
    const rng = makeRng(9);
    const n = clip.length + RATE;
    const out = new Int16Array(n);
    for (let i = 0; i < n; i++) {
      const x = (rng.next() * 2 - 1) * 0.003 + 0.3 * (i >= RATE / 2 && i - RATE / 2 < clip.length ? clip[i - RATE / 2]! : 0);
      out[i] = Math.max(-32768, Math.min(32767, Math.round(x * 32768)));
    }
    return new Uint8Array(out.buffer);
  })();

  async function session(minLevelDbfs: number | undefined) {
    const accepted: Uint8Array[] = [];
    const events: ListenEvent[] = [];
    const reader = {
      accept: async (bytes: Uint8Array) => {
        accepted.push(bytes);
        return { accepted: false, status: 'refused', reason: 'bad_signature', code: 1, message: 'stub', tokenHash: new Uint8Array(32) };
      },
    } as unknown as Reader;
    const s = new ListenSession({
      reader, rate: RATE, format: 's16le', channels: 1, judge: { mode: 'fare', amount: 200, currency: 344 }, complete: false,
      clock: (t) => 1000 + t, statsEvery: 0, write: (e) => events.push(e), ...(minLevelDbfs !== undefined ? { minLevelDbfs } : {}),
    });
    for (let o = 0; o < pcm.length; o += 7777) await s.push(pcm.subarray(o, o + 7777));
    await s.flush();
    return { accepted, events, counts: s.counts };
  }

  it('judged at exactly the threshold; 0.1 dB above it ignored, nothing judged, tokenHash = SHA-256 of the bytes; no threshold judges as before', async () => {
    const free = await session(undefined);
    const frame = free.events.find((e) => e.event === 'frame');
    if (frame?.event !== 'frame') throw new Error('not decoded');
    const level = frame.levelDbfs;
    expect(free.accepted).toHaveLength(1);

    const at = await session(level);
    expect(at.accepted).toHaveLength(1);
    expect(at.events.some((e) => e.event === 'ignored')).toBe(false);

    const above = await session(Math.round((level + 0.1) * 10) / 10);
    expect(above.accepted).toHaveLength(0);
    expect(above.counts).toMatchObject({ messages: 1, ignored: 1, refused: 0, accepted: 0 });
    expect(above.events.filter((e) => e.event === 'ignored')).toEqual([
      { event: 'ignored', at: expect.any(Number), fsk: 'fast', reason: 'too_quiet', levelDbfs: level, minLevelDbfs: Math.round((level + 0.1) * 10) / 10, tokenHash: createHash('sha256').update(token).digest('hex') },
    ]);
    expect(above.events.some((e) => e.event === 'verdict')).toBe(false);
  });
});

describe('reader listen under a chirp flood: what it prints stays bounded', () => {
  it('10 s of chirp trains in both families: at most one failure line a code and family a second of audio, the rest counted', async () => {
    const { addChirp } = await import('../../codecs/fsk/modulate.js');
    const { getProfile } = await import('../../codecs/fsk/profiles.js');
    const seconds = 10;
    const x = new Float32Array(seconds * RATE);
    for (const name of ['fast', 'ultrasonic'] as const) {
      for (let t = 0.05, i = 0; t < seconds - 0.1; t += 0.045, i++) addChirp(x, RATE, getProfile(name)!, t, i % 2 === 0, 0.3);
    }
    const { events, session: s } = await listenToNoTokens(x);
    const lines = events.filter((e): e is Extract<ListenEvent, { event: 'failure' }> => e.event === 'failure');
    // Lines are limited per code and chirp family: the key of each line.
    const keyOf = (e: { code: string; family?: string }) => `${e.code} ${e.family ?? ''}`;
    const codes = new Set(lines.map(keyOf));
    expect(codes.has('fsk.busy 1500-10200-0.04')).toBe(true);
    expect(codes.has('fsk.busy 17000-19700-0.04')).toBe(true);
    // fsk.busy says how many postambles went untried since the receiver's last report of that family.
    for (const e of lines.filter((l) => l.code === 'fsk.busy')) expect(e.postambles).toBeGreaterThanOrEqual(1);
    // Without the limit each of the receiver's failures was a line: more than 3 a second here (fsk.busy already
    // comes once a second a family from the receiver; fsk.no_postamble and the decoding failures do not).
    expect(s.counts.failures).toBeGreaterThan(3 * seconds);
    expect(lines.length).toBeLessThanOrEqual(codes.size * (seconds + 1));
    expect(lines.length).toBeLessThan(s.counts.failures); // some were counted, not printed
    for (const c of codes) {
      const ats = lines.filter((e) => keyOf(e) === c).map((e) => e.at);
      for (let i = 1; i < ats.length; i++) expect(ats[i]! - ats[i - 1]!).toBeGreaterThanOrEqual(0.999);
    }
    const printedOrCounted = lines.reduce((n, e) => n + 1 + (e.suppressed ?? 0), 0);
    expect(printedOrCounted).toBeLessThanOrEqual(s.counts.failures);
    expect(printedOrCounted).toBeGreaterThan(s.counts.failures - codes.size * 60); // only the last second's are pending
  }, 60_000);
  it('a flood in the ultrasonic band does not hide a failing phone in the audible band (lines are limited per family)', async () => {
    const { addChirp } = await import('../../codecs/fsk/modulate.js');
    const { getProfile } = await import('../../codecs/fsk/profiles.js');
    const seconds = 40;
    const x = new Float32Array(seconds * RATE);
    // Ultrasonic up-chirps alone every 45 ms: a preamble each, none followed by a postamble (fsk.no_postamble, reported
    // when the longest frame's spacing has passed, one every 45 ms from then on).
    for (let t = 0.05; t < seconds - 0.5; t += 0.045) addChirp(x, RATE, getProfile('ultrasonic')!, t, true, 0.3);
    // One audible preamble with no frame after it: a phone whose sound was cut off (fsk.no_postamble, audible).
    addChirp(x, RATE, getProfile('fast')!, 2.3, true, 0.3);
    const { events } = await listenToNoTokens(x);
    const lines = events.filter((e): e is Extract<ListenEvent, { event: 'failure' }> => e.event === 'failure' && e.code === 'fsk.no_postamble');
    const ultra = lines.filter((e) => e.family === '17000-19700-0.04');
    const audible = lines.filter((e) => e.family === '1500-10200-0.04');
    expect(ultra.length).toBeGreaterThan(2);
    expect(ultra.reduce((n, e) => n + (e.suppressed ?? 0), 0)).toBeGreaterThan(10); // the flood is counted, not printed
    // With one limit a code, this line fell within a second of an ultrasonic one and was only counted.
    expect(audible).toHaveLength(1);
    expect(audible[0]!.at).toBeLessThan(seconds); // reported while the flood went on, not at the end of the input
    // ... and within a second of an ultrasonic line of the same code: one limit a code would have swallowed it.
    expect(ultra.some((e) => Math.abs(e.at - audible[0]!.at) < 1)).toBe(true);
  }, 60_000);
});
