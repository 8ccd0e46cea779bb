/**
 * The decode budget (spec/fsk.md §7.2 step 4) must not cost honest payments: sound with nothing hostile in it that
 * decoded before the budget existed (9e2a962) decodes with it. From a review of e3de494: a long frame's spacing also
 * fits the rows next to the right one within eps_max, and those were tried first for every segment, up to 6
 * candidates of 3.4 s a frame at 2 %, so long messages in a row spent the budget; the candidates of a frame that
 * follows the family's last decoded one within 0.5 s (the next segment of the same phone) are now tried nearest its
 * clock offset first.
 */
import { describe, expect, it } from 'vitest';
import type { ChannelOptions, FskProfileName } from '../../codecs/fsk/index.js';
import { inSequence, messagesOf, payload, receiveAll } from './sequence.js';

/** Messages sent one after another, `gapSeconds` apart: what the receiver decoded and how many fsk.busy it reported. */
function inARow(parts: { profile: FskProfileName; bytes: Uint8Array; channel: ChannelOptions }[], gapSeconds: number) {
  const ev = receiveAll(inSequence(parts.map((m, i) => ({ ...m, gapBefore: i ? gapSeconds : 0 }))));
  return { messages: messagesOf(ev), busy: ev.filter((e) => e.type === 'failure' && e.code === 'fsk.busy').length };
}

describe('decode budget and honest sound', () => {
  it('two 4096-byte robust messages back to back with the clock +2 % off both decode', () => {
    const r = inARow([1, 2].map((k) => ({ profile: 'robust' as const, bytes: payload(k), channel: { seed: 200 + k - 1, clockOffset: 0.02 } })), 0.5);
    expect({ messages: r.messages.map((m) => m.payload.length), busy: r.busy }).toEqual({ messages: [4096, 4096], busy: 0 });
  }, 120_000);

  it('three 3856-byte robust messages (482-byte frames, so longer rows fit too) with the clock -1.9 % off all decode', () => {
    const r = inARow([1, 2, 3].map((k) => ({ profile: 'robust' as const, bytes: payload(k, 3856), channel: { seed: 600 + k - 1, clockOffset: -0.019 } })), 0.5);
    expect({ messages: r.messages.map((m) => m.payload.length), busy: r.busy }).toEqual({ messages: [3856, 3856, 3856], busy: 0 });
  }, 120_000);

  it('a clean robust message 1 s after a reverberant turbo one (which decodes in no version) decodes', () => {
    const r = inARow(
      [
        { profile: 'turbo', bytes: payload(1), channel: { seed: 1400, clockOffset: 0.01, snrDb: 10, rt60: 0.6, drrDb: 0 } },
        { profile: 'robust', bytes: payload(2), channel: { seed: 1401, clockOffset: 0.01 } },
      ],
      1,
    );
    expect({ robust: r.messages.filter((m) => m.payload[0] === payload(2)[0] && m.payload[1] === payload(2)[1]).length, busy: r.busy }).toEqual({ robust: 1, busy: 0 });
  }, 120_000);
});
