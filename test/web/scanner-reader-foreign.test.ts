/**
 * A review of 2b51e6b (2026-12-07; fixed by the next commit): the reader page (expect 'token') went back to the per-frame rule, with the hold filter keyed
 * on the FIRST valid symbol of the frame, whatever it is. A foreign QR code in view (a menu URL, a poster) beside the
 * customer's token then (a) makes the token post again, judged replayed, when the foreign code is decoded first in a
 * later frame; (b) hides the token for as long as the foreign code stays in view and is listed first.
 * Expected: the token is posted once per presentation, whatever foreign code is beside it.
 */
import { describe, expect, it } from 'vitest';
import { encodeCode, renderContent } from '../../codecs/qr/engine.js';
import { toHex } from '../../src/index.js';
import { loadScannerWorker } from './worker-harness.js';

describe('reader page live camera: a foreign code beside a token (web/scanner-worker.ts, expect token)', () => {
  it('posts a token held in view once per presentation, with a foreign code beside it', async () => {
    const { messages, send: sendFrame, clock } = await loadScannerWorker('token', { fakeClock: true });
    const token1 = Uint8Array.from({ length: 120 }, (_, i) => (i * 31 + 7) & 0xff);
    const token2 = Uint8Array.from({ length: 120 }, (_, i) => (i * 57 + 3) & 0xff);
    const t1 = (await encodeCode(token1, { kind: 'token' })).matrix;
    const t2 = (await encodeCode(token2, { kind: 'token' })).matrix;
    const f = (await renderContent('https://example.com/menu?table=12')).matrix;
    const send = async (codes: Parameters<typeof sendFrame>[0]) => {
      await sendFrame(codes);
      clock.now += 66;
    };
    const codesOf = (tok: Uint8Array) => messages.filter((m) => m.type === 'code' && toHex(m.payload as Uint8Array) === toHex(tok)).length;

    // (a) The token alone, then the menu code comes into view beside it (listed first): the token is posted again
    // (the reader page judges it replayed).
    await send([{ m: t1, x: 520, y: 150, ppm: 4 }]);
    await send([{ m: f, x: 20, y: 20, ppm: 5 }, { m: t1, x: 520, y: 150, ppm: 4 }]);
    await send([{ m: f, x: 20, y: 20, ppm: 5 }, { m: t1, x: 520, y: 150, ppm: 4 }]);
    const a = codesOf(token1);

    clock.now += 5_000; // everything out of the hold
    // (b) The menu code is in view first, then the next customer's token comes into view beside it: never posted.
    await send([{ m: f, x: 20, y: 20, ppm: 5 }]);
    for (let i = 0; i < 10; i++) await send([{ m: f, x: 20, y: 20, ppm: 5 }, { m: t2, x: 520, y: 150, ppm: 4 }]);
    const b = codesOf(token2);
    expect({ token1Posted: a, token2Posted: b }).toEqual({ token1Posted: 1, token2Posted: 1 });
  }, 60_000);
});
