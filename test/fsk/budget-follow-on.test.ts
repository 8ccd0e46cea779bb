/**
 * The follow-on candidate order of spec/fsk.md §7.2 step 4 must not cost a different phone right after another its
 * message. From a review of c164729, where every candidate between the last frame's clock offset and 0 went first:
 * two reverberant turbo messages that fail (leaving the audible family's budget nearly empty, as in
 * test/fsk/budget-honest.test.ts), then phone A's short robust message at -1.5 %, then, 0.2 s after A's frame ends,
 * phone B's 4096-byte robust message at 0 %. B's first segment followed A's frame, so rows 131 (-1.52 %) and 132
 * (-0.76 %) went before the right 133 (0 %); the budget ran out, fsk.busy, and B's whole message was lost (e3de494,
 * which had no follow-on order, decoded it). Now only candidates within 0.003 of A's offset go first.
 */
import { expect, it } from 'vitest';
import { inSequence, messagesOf, payload, receiveAll, type Part } from './sequence.js';

/** Each part's audio starts `gapBefore` seconds after the previous one's audio ends (negative: overlapped, summed). */
function run(parts: Part[]) {
  return messagesOf(receiveAll(inSequence(parts))).map((m) => `${m.payload.length}:${m.payload[0]}`);
}

it('a clean message from a second phone right after a short one at -1.5 % still decodes on a nearly spent budget (as on e3de494)', () => {
  const reverb = { clockOffset: 0.01, snrDb: 10, rt60: 0.6, drrDb: 0 };
  const messages = run([
    { profile: 'turbo', bytes: payload(1), channel: { seed: 1400, ...reverb }, gapBefore: 0 },
    { profile: 'turbo', bytes: payload(4), channel: { seed: 1402, ...reverb }, gapBefore: -0.3 },
    { profile: 'robust', bytes: payload(3, 100), channel: { seed: 7, clockOffset: -0.015 }, gapBefore: 0.2 },
    { profile: 'robust', bytes: payload(2), channel: { seed: 1401, clockOffset: 0 }, gapBefore: -0.4 },
  ]);
  expect(messages).toEqual([`100:${payload(3, 100)[0]}`, `4096:${payload(2)[0]}`]);
}, 120_000);
