/**
 * The playground's camera scanner Worker (web/scanner-worker.ts) run in Node: `self`, `location`, `VideoFrame` and
 * `fetch` (the zxing wasm from node_modules) are stubbed, frames are I420 VideoFrame stand-ins whose Y plane is the
 * image, and `performance.now` is a clock the test moves (or the real one). One worker a test file: vitest runs each
 * file in its own module graph.
 */
import { readFileSync } from 'node:fs';
import { afterAll, vi } from 'vitest';
import type { ModuleMatrix } from '../../codecs/qr/engine.js';
import { zxingWasmPath } from '../../codecs/qr/node.js';
import { frameWith } from '../qr/helpers.js';

export type Msg = { type: string; [k: string]: unknown };

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

/**
 * Load the worker with the kind it reads (`expect`, as the page's init message says) and wait for 'ready'. Returns
 * what it posted (`messages`), `send` (one 1000 x 520 frame with these codes, resolved once 'scanned'), and `clock`
 * (with `fakeClock`, performance.now's value: set `clock.now`).
 */
export async function loadScannerWorker(expect: 'token' | 'request', o: { fakeClock?: boolean } = {}) {
  const messages: Msg[] = [];
  let waiter: ((m: Msg) => void) | undefined;
  const scope: { postMessage(m: Msg): void; onmessage: ((m: { data: unknown }) => void) | null } = {
    postMessage(m) {
      messages.push(m);
      waiter?.(m);
    },
    onmessage: null,
  };
  const next = (type: string) =>
    new Promise<Msg>((res) => {
      waiter = (m) => {
        if (m.type === type) {
          waiter = undefined;
          res(m);
        }
      };
    });
  vi.stubGlobal('self', scope);
  vi.stubGlobal('location', { href: 'http://playground.test/' });
  vi.stubGlobal('VideoFrame', FakeVideoFrame);
  const wasm = readFileSync(zxingWasmPath());
  const realFetch = globalThis.fetch;
  vi.stubGlobal('fetch', async () => new Response(wasm));
  const clock = { now: 1_000_000 };
  if (o.fakeClock) vi.spyOn(performance, 'now').mockImplementation(() => clock.now);
  afterAll(() => {
    vi.stubGlobal('fetch', realFetch);
    vi.unstubAllGlobals();
    vi.restoreAllMocks();
  });
  await import('../../web/scanner-worker.js');
  const ready = next('ready');
  scope.onmessage!({ data: { type: 'init', wasmUrl: 'zxing.wasm', expect } });
  await ready;
  const send = async (codes: { m: ModuleMatrix; x: number; y: number; ppm: number }[]) => {
    const f = frameWith(1000, 520, codes);
    const done = next('scanned');
    scope.onmessage!({ data: { type: 'frame', frame: new FakeVideoFrame(f.data as Uint8Array, f.width, f.height) } });
    await done;
  };
  return { messages, send, clock };
}
