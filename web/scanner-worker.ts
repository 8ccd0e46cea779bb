/**
 * offpay playground: the camera scanner, in a dedicated Worker (never on the page's main thread).
 *
 * The page sends { type: 'init', wasmUrl, expect } once, then { type: 'frame', frame } (a VideoFrame or, where
 * the browser has no WebCodecs, an ImageBitmap; transferred) for each frame it grabbed; it sends the next frame
 * only after this worker answered the last one ('scanned'), so frames that arrive while the worker is busy are
 * dropped on the page, never queued. Pixels in:
 *   - a VideoFrame in a planar YUV format (I420, I420A, NV12: what cameras deliver): its Y plane is copied out
 *     (`copyTo`, the plane's stride removed) and used as the luma as it is, no colour conversion;
 *   - any other VideoFrame, or an ImageBitmap: drawn into one reused OffscreenCanvas and read back as RGBA
 *     (the scanner converts it to luma).
 * The luma or RGBA frame goes through the QR scanner block (codecs/qr/scanner.ts: a cheap downscaled pass on
 * every frame, the thorough pass only with evidence of a code, spec/qr.md §14). The worker posts to the page:
 *   { type: 'ready' }                                   the zxing wasm is loaded (checksum checked)
 *   { type: 'scanned', status, pass, ms }               one frame done (the page may send the next)
 *   { type: 'code', kind, payload }                     an offpay code of the expected kind came into view
 *   { type: 'foreign', message }                        a code was read but it is not one to act on
 *   { type: 'stats', fps, meanMs, meanReadMs, frames, path } about once a second: frames scanned per second,
 *                                                       ms a frame (of which ms getting the pixels), which path
 *   { type: 'error', message }                          the engine could not load, or a frame could not be read
 *
 * Hold rule (hold.ts): a code is posted when it comes into view, not on every frame it stays in view. The same
 * bytes are posted again only after no frame decoded them for HOLD_MS (the code left the view and came back: a
 * second presentation of the same token is judged again, so a replay shows its refusal). On the wallet page
 * (requests), two different requests within HOLD_MS make the view ambiguous (posted once as 'foreign'
 * qr.ambiguous, nothing acted on), and a request is posted only once it has been the only one for
 * REQUEST_SETTLE_MS (CodeWindow); the page then shows its payee and amount for the person to confirm.
 */
import { CodeWindow, HoldFilter } from './hold.js';
import { createQrScanner, hasOffpayPrefixOf, loadQrEngine, pickOffpay, type PayloadKind, type QrScanner } from '../codecs/qr/index.js';

/** Milliseconds without seeing a code before the same bytes count as a new presentation. */
export const HOLD_MS = 1500;

type In = { type: 'init'; wasmUrl: string; expect: PayloadKind } | { type: 'frame'; frame: VideoFrame | ImageBitmap };
type Pixels = { data: Uint8Array | Uint8ClampedArray; width: number; height: number; format: 'rgba' | 'gray'; path: 'luma plane' | 'canvas' };

/** Planar YUV formats whose plane 0 is the luma, width x height bytes. */
const YUV_PLANAR = new Set(['I420', 'I420A', 'I422', 'I444', 'NV12']);

/** The worker global scope (tsconfig has the DOM lib, not WebWorker): only what is used here. */
const scope = self as unknown as { postMessage(m: unknown, transfer?: Transferable[]): void; onmessage: ((m: MessageEvent<In>) => void) | null };

let scanner: QrScanner | undefined;
let expect: PayloadKind = 'token';
let canvas: OffscreenCanvas | undefined;
let ctx: OffscreenCanvasRenderingContext2D | null = null;
const hold = new HoldFilter(HOLD_MS);
/**
 * Milliseconds a request must be the only one in view before the wallet page is given it. Tokens (the reader page)
 * are given at once: a token is the customer's own, and two tokens in one frame are ambiguous by pickOffpay.
 */
export const REQUEST_SETTLE_MS = 500;
const requests = new CodeWindow(HOLD_MS, REQUEST_SETTLE_MS);
/** The presentation posted last (when its request became the only one, and the request): each is posted once. */
let posted: string | undefined;
let ambiguousShown = false;

/** Post what pickOffpay makes of a frame's symbols: the code, or why there is none to act on. */
function post(symbols: Parameters<typeof pickOffpay>[0]): void {
  try {
    const code = pickOffpay(symbols, expect);
    scope.postMessage({ type: 'code', kind: code.kind, payload: code.payload });
  } catch (e) {
    scope.postMessage({ type: 'foreign', message: `${(e as { code?: string }).code ?? 'error'}: ${(e as Error).message}` });
  }
}
let windowStart = 0;
let windowFrames = 0;
let windowMs = 0;
let windowReadMs = 0;
let frames = 0;
let copyBuf = new Uint8Array(0);
let lumaBuf = new Uint8Array(0);

function keyOf(b: Uint8Array): string {
  let s = '';
  for (const x of b) s += String.fromCharCode(x);
  return s;
}

/** The frame's pixels: the Y plane of a planar YUV VideoFrame, else RGBA through the canvas. Closes the frame. */
async function pixels(f: VideoFrame | ImageBitmap): Promise<Pixels> {
  try {
    if (typeof VideoFrame !== 'undefined' && f instanceof VideoFrame && f.format && YUV_PLANAR.has(f.format)) {
      const width = f.visibleRect?.width ?? f.codedWidth;
      const height = f.visibleRect?.height ?? f.codedHeight;
      const size = f.allocationSize();
      if (copyBuf.length < size) copyBuf = new Uint8Array(size);
      const layout = await f.copyTo(copyBuf);
      const { offset, stride } = layout[0]!;
      if (stride === width) return { data: copyBuf.subarray(offset, offset + width * height), width, height, format: 'gray', path: 'luma plane' };
      if (lumaBuf.length !== width * height) lumaBuf = new Uint8Array(width * height);
      for (let y = 0; y < height; y++) lumaBuf.set(copyBuf.subarray(offset + y * stride, offset + y * stride + width), y * width);
      return { data: lumaBuf, width, height, format: 'gray', path: 'luma plane' };
    }
    const width = f instanceof ImageBitmap ? f.width : f.displayWidth;
    const height = f instanceof ImageBitmap ? f.height : f.displayHeight;
    if (!canvas || canvas.width !== width || canvas.height !== height) {
      canvas = new OffscreenCanvas(width, height);
      ctx = canvas.getContext('2d', { willReadFrequently: true });
    }
    if (!ctx) throw new Error('no 2d context on OffscreenCanvas');
    ctx.drawImage(f, 0, 0);
    return { data: ctx.getImageData(0, 0, width, height).data, width, height, format: 'rgba', path: 'canvas' };
  } finally {
    f.close();
  }
}

async function scan(f: VideoFrame | ImageBitmap): Promise<void> {
  const t0 = performance.now();
  const px = await pixels(f);
  const { width, height } = px;
  const readMs = performance.now() - t0;
  const r = scanner!.push(px);
  const now = performance.now();
  if (r.status === 'decoded') {
    if (expect === 'request') {
      // The wallet page: requests are kept over the window (CodeWindow) and one is posted when it settles, once a
      // presentation (again only after it left the view for HOLD_MS, or another request came and went).
      const keys = r.symbols.filter((s) => s.valid && hasOffpayPrefixOf(s.bytes, 'request')).map((s) => keyOf(s.bytes));
      const view = requests.push(keys, now);
      if (view.state === 'ambiguous') {
        if (!ambiguousShown) scope.postMessage({ type: 'foreign', message: `qr.ambiguous: ${view.codes} different payment requests in view: show one code at a time` });
        ambiguousShown = true;
      } else {
        ambiguousShown = false;
        if (view.state === 'settled' && posted !== `${view.since}:${view.key}`) {
          posted = `${view.since}:${view.key}`;
          post(r.symbols);
        } else if (keys.length === 0 && hold.fresh(keyOf(r.symbols.find((s) => s.valid)!.bytes), now)) {
          post(r.symbols); // a foreign code or a token: pickOffpay says why it is not acted on
        }
      }
    } else {
      // The reader page: tokens, the per-frame rule (pickOffpay: two different tokens in one frame are ambiguous).
      // The hold rule is kept per token in view (every one refreshed each frame), so a foreign code that comes and
      // goes beside a token held in view neither posts it again nor hides the next one; with no token in view, per
      // the first code read (a foreign code or a request is said once, not every frame).
      const tokens = r.symbols.filter((s) => s.valid && hasOffpayPrefixOf(s.bytes, 'token'));
      const keys = tokens.length ? tokens.map((s) => keyOf(s.bytes)) : [keyOf(r.symbols.find((s) => s.valid)!.bytes)];
      if (keys.map((k) => hold.fresh(k, now)).some(Boolean)) post(r.symbols);
    }
  }
  const ms = performance.now() - t0;
  frames++;
  windowFrames++;
  windowMs += ms;
  windowReadMs += readMs;
  if (windowStart === 0) windowStart = t0;
  if (now - windowStart >= 1000) {
    scope.postMessage({ type: 'stats', fps: (1000 * windowFrames) / (now - windowStart), meanMs: windowMs / windowFrames, meanReadMs: windowReadMs / windowFrames, frames, width, height, path: px.path });
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
      d.frame.close();
      scope.postMessage({ type: 'scanned', status: 'none', pass: 'cheap', ms: 0 });
      return;
    }
    scan(d.frame).catch((e: unknown) => {
      scope.postMessage({ type: 'error', message: `${(e as { code?: string }).code ?? 'error'}: ${(e as Error).message}` });
      scope.postMessage({ type: 'scanned', status: 'none', pass: 'cheap', ms: 0 });
    });
  }
};
