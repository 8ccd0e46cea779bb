/**
 * A review of 2b51e6b (2026-12-07; fixed by the next commit), wallet page: a sticker glimpsed alone, then no decodes for 5 s (frames of nothing are never
 * pushed to CodeWindow, whose `#alone` survives the expiry), is posted on the first frame of its return: the 500 ms
 * settle of spec/playground.md §2.1 (counted from the moment it became the only one) is skipped.
 */
import { describe, expect, it } from 'vitest';
import { encodeCode } from '../../codecs/qr/engine.js';
import { createRequest } from '../../src/index.js';
import { NOW, makeIssuer, makeReader } from '../reader/helpers.js';
import { loadScannerWorker } from './worker-harness.js';

const issuer = makeIssuer('zz-r4-settle');
const attacker = makeReader(issuer, 'zz-r4-settle', 6666, 'vending', 91);

describe('wallet page live camera: a request that comes back after leaving the window', () => {
  it('is not posted before it has been alone for REQUEST_SETTLE_MS since its return', async () => {
    const { messages, send, clock } = await loadScannerWorker('request', { fakeClock: true });
    const sticker = createRequest(attacker, { amount: 1250, currency: 344, time: NOW - 5 }).bytes;
    const s = (await encodeCode(sticker, { kind: 'request' })).matrix;
    // Panning: the sticker is decoded alone in two frames, 100 ms apart (not settled: nothing posted).
    await send([{ m: s, x: 520, y: 200, ppm: 4 }]);
    clock.now += 100;
    await send([{ m: s, x: 520, y: 200, ppm: 4 }]);
    expect(messages.filter((m) => m.type === 'code')).toHaveLength(0);
    // 5 s of frames that decode nothing.
    for (let i = 0; i < 10; i++) {
      clock.now += 500;
      await send([]);
    }
    // The sticker comes back into view: one frame. It has been alone for 0 ms.
    clock.now += 66;
    await send([{ m: s, x: 520, y: 200, ppm: 4 }]);
    expect(messages.filter((m) => m.type === 'code')).toHaveLength(0);
  }, 60_000);
});
