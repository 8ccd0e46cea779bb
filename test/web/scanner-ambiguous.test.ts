/**
 * The read of the session's diff (2026-12-07) on qr.ambiguous: the rule was applied per frame, but the live camera
 * scanner of the playground wallet (web/scanner-worker.ts) acted on the FIRST frame in which a request was alone or
 * "fresh" (fixed: CodeWindow keeps the rule over HOLD_MS, and a request is posted once alone for REQUEST_SETTLE_MS). The hold filter is
 * keyed on the first valid symbol only, so a frame with both codes (ambiguous, posted as 'foreign') records the
 * machine's code, and the next frame that happened to decode only the sticker (focus, motion blur, the phone moved
 * a few centimetres, or simply the order in which the two codes come into view while the camera pans) posted the
 * sticker as THE request: web/wallet.ts onRequest takes it and stops the camera.
 *
 * Runs the real worker module in Node with a VideoFrame stand-in (I420: its Y plane is the frame) and the real
 * zxing engine (the wasm fetched from node_modules).
 */
import { describe, expect, it } from 'vitest';
import { encodeCode } from '../../codecs/qr/engine.js';
import { createRequest, toHex } from '../../src/index.js';
import { NOW, makeIssuer, makeReader } from '../reader/helpers.js';
import { loadScannerWorker } from './worker-harness.js';

const issuer = makeIssuer('zz-live-qr');
const machine = makeReader(issuer, 'zz-live-qr', 4201);
const attacker = makeReader(issuer, 'zz-live-qr', 6666, 'vending', 91);

describe('qr.ambiguous on the live camera path (web/scanner-worker.ts, spec/qr.md §8 rule 1)', () => {
  it('after a frame with two different requests, a frame that decodes only one of them does not post it as the request', async () => {
    const { messages, send } = await loadScannerWorker('request');
    const genuine = createRequest(machine, { amount: 1250, currency: 344, time: NOW - 5 }).bytes;
    const sticker = createRequest(attacker, { amount: 1250, currency: 344, time: NOW - 5 }).bytes;
    const g = (await encodeCode(genuine, { kind: 'request' })).matrix;
    const s = (await encodeCode(sticker, { kind: 'request' })).matrix;
    // Frame 1: both codes in view (the screen's code decodes first here).
    await send([
      { m: g, x: 20, y: 20, ppm: 4 },
      { m: s, x: 520, y: 200, ppm: 4 },
    ]);
    // Frame 2, a fraction of a second later: the screen's code is blurred by a reflection, only the sticker decodes.
    await send([{ m: s, x: 520, y: 200, ppm: 4 }]);
    const posted = messages.filter((m) => m.type === 'code' || m.type === 'foreign').map((m) => (m.type === 'code' ? (toHex(m.payload as Uint8Array) === toHex(sticker) ? 'code: the sticker (reader 6666)' : 'code: the machine') : `foreign: ${String(m.message).split(':')[0]}`));
    expect(posted[0]).toBe('foreign: qr.ambiguous'); // the per-frame rule works
    // The sticker must not become the request the wallet pays (web/wallet.ts onCode -> onRequest) right after.
    expect(posted).not.toContain('code: the sticker (reader 6666)');
    // The sticker is taken away: once the hold time has passed with the machine's code alone, and it has been alone
    // for the settle time, it is posted, once.
    await new Promise((r) => setTimeout(r, 1_600));
    for (let i = 0; i < 8; i++) {
      await send([{ m: g, x: 20, y: 20, ppm: 4 }]);
      await new Promise((r) => setTimeout(r, 100));
    }
    const after = messages.filter((m) => m.type === 'code').map((m) => (toHex(m.payload as Uint8Array) === toHex(genuine) ? 'the machine' : 'the sticker'));
    expect(after).toEqual(['the machine']);
  }, 60_000);
});
