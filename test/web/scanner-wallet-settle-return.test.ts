/**
 * A review of 2b51e6b (2026-12-07; fixed by the next commit), wallet page: a sticker glimpsed alone, then no decodes for 5 s (frames of nothing are never
 * pushed to CodeWindow, whose `#alone` survives the expiry), is posted on the first frame of its return: the 500 ms
 * settle of spec/playground.md §2.1 (counted from the moment it became the only one) is skipped.
 */
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { encodeCode, renderContent } from '../../codecs/qr/engine.js';
import { zxingWasmPath } from '../../codecs/qr/node.js';
import { frameWith } from '../qr/helpers.js';

type Msg = { type: string; [k: string]: unknown };
const messages: Msg[] = [];
let waiter: ((m: Msg) => void) | undefined;
const scope: { postMessage(m: Msg): void; onmessage: ((m: { data: unknown }) => void) | null } = {
  postMessage(m) {
    messages.push(m);
    waiter?.(m);
  },
  onmessage: null,
};
class FakeVideoFrame {
  readonly format = 'I420';
  constructor(readonly data: Uint8Array, readonly codedWidth: number, readonly codedHeight: number) {}
  get visibleRect() {
    return { width: this.codedWidth, height: this.codedHeight };
  }
  allocationSize() {
    return this.data.length;
  }
  async copyTo(buf: Uint8Array) {
    buf.set(this.data);
    return [{ offset: 0, stride: this.codedWidth }];
  }
  close() {}
}
vi.stubGlobal('self', scope);
vi.stubGlobal('location', { href: 'http://playground.test/' });
vi.stubGlobal('VideoFrame', FakeVideoFrame);
const wasm = readFileSync(zxingWasmPath());
const realFetch = globalThis.fetch;
vi.stubGlobal('fetch', async () => new Response(wasm));
let clock = 1_000_000;
vi.spyOn(performance, 'now').mockImplementation(() => clock);
afterAll(() => {
  vi.stubGlobal('fetch', realFetch);
  vi.unstubAllGlobals();
  vi.restoreAllMocks();
});
function next(type: string): Promise<Msg> {
  return new Promise((res) => {
    waiter = (m) => {
      if (m.type === type) {
        waiter = undefined;
        res(m);
      }
    };
  });
}

import { createRequest } from '../../src/index.js';
import { NOW, makeIssuer, makeReader } from '../reader/helpers.js';

const issuer = makeIssuer('zz-r4-settle');
const attacker = makeReader(issuer, 'zz-r4-settle', 6666, 'vending', 91);

describe('wallet page live camera: a request that comes back after leaving the window', () => {
  it('is not posted before it has been alone for REQUEST_SETTLE_MS since its return', async () => {
    await import('../../web/scanner-worker.js');
    const ready = next('ready');
    scope.onmessage!({ data: { type: 'init', wasmUrl: 'zxing.wasm', expect: 'request' } });
    await ready;
    const sticker = createRequest(attacker, { amount: 1250, currency: 344, time: NOW - 5 }).bytes;
    const s = (await encodeCode(sticker, { kind: 'request' })).matrix;
    const send = async (codes: { m: typeof s; x: number; y: number; ppm: number }[]) => {
      const fr = frameWith(1000, 520, codes);
      const done = next('scanned');
      scope.onmessage!({ data: { type: 'frame', frame: new FakeVideoFrame(fr.data as Uint8Array, fr.width, fr.height) } });
      await done;
    };
    void renderContent;
    // Panning: the sticker is decoded alone in two frames, 100 ms apart (not settled: nothing posted).
    await send([{ m: s, x: 520, y: 200, ppm: 4 }]);
    clock += 100;
    await send([{ m: s, x: 520, y: 200, ppm: 4 }]);
    expect(messages.filter((m) => m.type === 'code')).toHaveLength(0);
    // 5 s of frames that decode nothing.
    for (let i = 0; i < 10; i++) {
      clock += 500;
      await send([]);
    }
    // The sticker comes back into view: one frame. It has been alone for 0 ms.
    clock += 66;
    await send([{ m: s, x: 520, y: 200, ppm: 4 }]);
    expect(messages.filter((m) => m.type === 'code')).toHaveLength(0);
  }, 60_000);
});
