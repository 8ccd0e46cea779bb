/**
 * offpay playground: the camera scanner, in a dedicated Worker (never on the page's main thread).
 *
 * The page sends { type: 'init', wasmUrl, expect } once, then { type: 'frame', bitmap } (an ImageBitmap,
 * transferred) for each frame it grabbed; it sends the next frame only after this worker answered the last
 * one ('scanned'), so frames that arrive while the worker is busy are dropped on the page, never queued.
 * Each frame is drawn into one reused OffscreenCanvas, read back as RGBA and pushed through the QR scanner
 * block (codecs/qr/scanner.ts: a cheap downscaled pass on every frame, the thorough pass only with evidence
 * of a code, spec/qr.md §14). The worker posts to the page:
 *   { type: 'ready' }                                   the zxing wasm is loaded (checksum checked)
 *   { type: 'scanned', status, pass, ms }               one frame done (the page may send the next)
 *   { type: 'code', kind, payload }                     an offpay code of the expected kind came into view
 *   { type: 'foreign', message }                        a code was read but it is not one to act on
 *   { type: 'stats', fps, meanMs, meanReadMs, frames }  about once a second: frames scanned per second, ms a frame
 *                                                       (of which ms reading the pixels back from the canvas)
 *   { type: 'error', message }                          the engine could not load, or a frame could not be read
 *
 * Hold rule: a code is posted when it comes into view, not on every frame it stays in view. The same bytes are
 * posted again only after no frame decoded them for HOLD_MS (the code left the view and came back: a second
 * presentation of the same token is judged again, so a replay shows its refusal).
 */
import { createQrScanner, loadQrEngine, pickOffpay, type PayloadKind, type QrScanner } from '../codecs/qr/index.js';

/** Milliseconds without seeing a code before the same bytes count as a new presentation. */
export const HOLD_MS = 1500;

type In = { type: 'init'; wasmUrl: string; expect: PayloadKind } | { type: 'frame'; bitmap: ImageBitmap };

/** The worker global scope (tsconfig has the DOM lib, not WebWorker): only what is used here. */
const scope = self as unknown as { postMessage(m: unknown, transfer?: Transferable[]): void; onmessage: ((m: MessageEvent<In>) => void) | null };

let scanner: QrScanner | undefined;
let expect: PayloadKind = 'token';
let canvas: OffscreenCanvas | undefined;
let ctx: OffscreenCanvasRenderingContext2D | null = null;
let held: { key: string; seenAt: number } | undefined;
let windowStart = 0;
let windowFrames = 0;
let windowMs = 0;
let windowReadMs = 0;
let frames = 0;

function keyOf(b: Uint8Array): string {
  let s = '';
  for (const x of b) s += String.fromCharCode(x);
  return s;
}

function scan(bitmap: ImageBitmap): void {
  const t0 = performance.now();
  const { width, height } = bitmap;
  if (!canvas || canvas.width !== width || canvas.height !== height) {
    canvas = new OffscreenCanvas(width, height);
    ctx = canvas.getContext('2d', { willReadFrequently: true });
  }
  if (!ctx) throw new Error('no 2d context on OffscreenCanvas');
  ctx.drawImage(bitmap, 0, 0);
  bitmap.close();
  const img = ctx.getImageData(0, 0, width, height);
  const readMs = performance.now() - t0;
  const r = scanner!.push({ data: img.data, width, height, format: 'rgba' });
  const now = performance.now();
  if (r.status === 'decoded') {
    const bytes = r.symbols.find((s) => s.valid)!.bytes;
    const key = keyOf(bytes);
    const fresh = !held || held.key !== key || now - held.seenAt > HOLD_MS;
    held = { key, seenAt: now };
    if (fresh) {
      try {
        const code = pickOffpay(r.symbols, expect);
        scope.postMessage({ type: 'code', kind: code.kind, payload: code.payload });
      } catch (e) {
        scope.postMessage({ type: 'foreign', message: `${(e as { code?: string }).code ?? 'error'}: ${(e as Error).message}` });
      }
    }
  }
  const ms = performance.now() - t0;
  frames++;
  windowFrames++;
  windowMs += ms;
  windowReadMs += readMs;
  if (windowStart === 0) windowStart = t0;
  if (now - windowStart >= 1000) {
    scope.postMessage({ type: 'stats', fps: (1000 * windowFrames) / (now - windowStart), meanMs: windowMs / windowFrames, meanReadMs: windowReadMs / windowFrames, frames, width, height });
    windowStart = now;
    windowFrames = 0;
    windowMs = 0;
    windowReadMs = 0;
  }
  scope.postMessage({ type: 'scanned', status: r.status, pass: r.pass, ms });
}

scope.onmessage = (m: MessageEvent<In>) => {
  const d = m.data;
  if (d?.type === 'init') {
    expect = d.expect;
    loadQrEngine({ url: new URL(d.wasmUrl, location.href) }).then(
      () => {
        scanner = createQrScanner();
        scope.postMessage({ type: 'ready' });
      },
      (e: unknown) => scope.postMessage({ type: 'error', message: `${(e as { code?: string }).code ?? 'error'}: ${(e as Error).message}` }),
    );
  } else if (d?.type === 'frame') {
    if (!scanner) {
      d.bitmap.close();
      scope.postMessage({ type: 'scanned', status: 'none', pass: 'cheap', ms: 0 });
      return;
    }
    try {
      scan(d.bitmap);
    } catch (e) {
      scope.postMessage({ type: 'error', message: `${(e as { code?: string }).code ?? 'error'}: ${(e as Error).message}` });
      scope.postMessage({ type: 'scanned', status: 'none', pass: 'cheap', ms: 0 });
    }
  }
};
