/** Test helpers for the FSK receiver: several phones' messages in one recording, and what a receiver hears in it. */
import { encode, FskReceiver, simulate, type ChannelOptions, type FskProfileName, type ReceiverEvent } from '../../codecs/fsk/index.js';

export const RATE = 48000;

/** Deterministic message bytes, distinct for each k. */
export const payload = (k: number, bytes = 4096): Uint8Array => Uint8Array.from({ length: bytes }, (_, i) => (i * 31 + k * 17 + 7) & 255);

/** One phone's message: its profile, bytes and channel, starting `gapBefore` s after the previous audio ends (negative: overlapped). */
export interface Part {
  profile: FskProfileName;
  bytes: Uint8Array;
  channel: ChannelOptions;
  gapBefore: number;
}

/** The messages' simulated audio placed one after another (overlapping parts are summed). */
export function inSequence(parts: readonly Part[]): Float32Array {
  const audio = parts.map((m) => simulate(encode(m.bytes, { profile: m.profile, sampleRate: RATE }), RATE, m.channel).samples);
  const starts: number[] = [];
  let end = 0;
  parts.forEach((m, i) => {
    starts.push(end + Math.round(m.gapBefore * RATE));
    end = starts[i]! + audio[i]!.length;
  });
  const x = new Float32Array(end);
  audio.forEach((a, i) => {
    for (let j = 0; j < a.length; j++) x[starts[i]! + j]! += a[j]!;
  });
  return x;
}

/** Everything one receiver (every profile) reports for `x`, pushed in 4096-sample blocks, then flushed. */
export function receiveAll(x: Float32Array): ReceiverEvent[] {
  const rx = new FskReceiver({ sampleRate: RATE });
  const ev: ReceiverEvent[] = [];
  for (let i = 0; i < x.length; i += 4096) ev.push(...rx.push(x.subarray(i, Math.min(x.length, i + 4096))));
  ev.push(...rx.flush());
  return ev;
}

/** The message events among `ev`. */
export const messagesOf = (ev: readonly ReceiverEvent[]) => ev.filter((e): e is Extract<ReceiverEvent, { type: 'message' }> => e.type === 'message');
