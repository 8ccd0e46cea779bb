/**
 * offpay playground: the camera path shared by the reader and wallet pages (spec/playground.md §2.1).
 *
 *   getUserMedia({video}) -> <video> preview (small) -> each new frame (requestVideoFrameCallback; a timer where
 *   there is none) grabbed, at most MAX_GRAB_FPS times a second,
 *   only while the scanner Worker is idle (a frame that finds it busy is dropped, counted, never queued)
 *   -> new VideoFrame(video) (WebCodecs; createImageBitmap(video) where there is none), transferred
 *   -> Worker scanner-worker.js (Y plane or canvas readback, QR scanner block) -> onCode(kind, bytes).
 *
 * The main thread only wraps the current video frame (a reference, or a compositor copy for an ImageBitmap); it
 * never reads the pixels or decodes. The page shows the scanner's frames per second, its milliseconds per frame and the frames
 * dropped; for tests `document.body.dataset.camera` is 'scanning' once the worker runs and
 * `dataset.scanFps` the last frames/s.
 */
import type { PayloadKind } from '../codecs/qr/index.js';

/** Upper bound on frames grabbed per second (a 720p frame takes ~10-40 ms in the worker on one core). */
export const MAX_GRAB_FPS = 15;

export interface CameraOptions {
  /** Where the camera section goes: into `parent`, before `before` (or at its end). */
  parent: HTMLElement;
  before?: Element | null;
  /** The offpay code kind acted on: 'token' (reader page) or 'request' (wallet page). */
  expect: PayloadKind;
  /** A code of the expected kind came into view (once per presentation; see scanner-worker.ts, hold rule). */
  onCode(kind: PayloadKind, payload: Uint8Array): void;
  /** Heading of the section. */
  title: string;
}

export interface Camera {
  /** Stops the camera and the worker. */
  stop(): void;
}

function el<K extends keyof HTMLElementTagNameMap>(tag: K, props: Partial<HTMLElementTagNameMap[K]> & { className?: string } = {}): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  Object.assign(e, props);
  return e;
}

/** The camera section (preview and scanner line), created once per page. */
export function cameraSection(parent: HTMLElement, title: string, before: Element | null = null): { section: HTMLElement; video: HTMLVideoElement; text: HTMLElement } {
  let section = document.getElementById('cameraBox');
  if (!section) {
    section = el('section', { id: 'cameraBox', className: 'camera' });
    const video = el('video', { id: 'camera', className: 'preview', muted: true, playsInline: true, autoplay: true, hidden: true });
    video.setAttribute('aria-label', 'camera preview');
    section.append(el('h2', { textContent: title }), video, el('p', { id: 'cameraText', className: 'mono small', textContent: 'camera off' }));
    parent.insertBefore(section, before);
  }
  return { section, video: section.querySelector('video')!, text: section.querySelector('#cameraText')! };
}

/** Starts the camera and the scanner worker. Throws when the browser gives no camera (the caller shows why). */
export async function startCamera(o: CameraOptions): Promise<Camera> {
  const { video, text } = cameraSection(o.parent, o.title, o.before ?? null);
  const stream = await navigator.mediaDevices.getUserMedia({ audio: false, video: { facingMode: 'environment', width: { ideal: 1280 }, height: { ideal: 720 } } });
  const track = stream.getVideoTracks()[0]!;
  video.srcObject = stream;
  video.hidden = false;
  await video.play();
  const s = track.getSettings();
  const worker = new Worker('/web/scanner-worker.js');
  let busy = true; // until the worker is ready
  let dropped = 0;
  let stopped = false;
  let line = `${track.label || 'camera'} ${s.width ?? '?'}x${s.height ?? '?'} @ ${s.frameRate ? Math.round(s.frameRate) : '?'} fps: loading the scanner…`;
  text.textContent = line;
  worker.onmessage = (m: MessageEvent) => {
    const d = m.data as { type: string; [k: string]: unknown };
    if (d.type === 'ready') {
      busy = false;
      document.body.dataset.camera = 'scanning';
      text.textContent = `${track.label || 'camera'} ${s.width ?? '?'}x${s.height ?? '?'}: scanning in a Worker…`;
    } else if (d.type === 'scanned') busy = false;
    else if (d.type === 'code') o.onCode(d.kind as PayloadKind, d.payload as Uint8Array);
    else if (d.type === 'foreign') text.textContent = `read a code, not acted on: ${String(d.message)}`;
    else if (d.type === 'stats') {
      line = `scanner (Worker): ${Number(d.fps).toFixed(1)} frames/s, ${Number(d.meanMs).toFixed(1)} ms a ${String(d.width)}x${String(d.height)} frame (${Number(d.meanReadMs).toFixed(1)} ms of it getting the pixels, ${String(d.path)}), ${dropped} dropped while busy, ${String(d.frames)} scanned`;
      text.textContent = line;
      document.body.dataset.scanFps = Number(d.fps).toFixed(1);
    } else if (d.type === 'error') {
      text.textContent = `scanner: ${String(d.message)}`;
      document.body.dataset.cameraError = String(d.message);
    }
  };
  worker.postMessage({ type: 'init', wasmUrl: '/web/zxing_full.wasm', expect: o.expect });
  let useVideoFrame = typeof VideoFrame !== 'undefined';
  const grab = async () => {
    if (busy) {
      dropped++;
      return;
    }
    if (video.readyState < 2 || video.videoWidth === 0) return;
    busy = true;
    try {
      let frame: VideoFrame | ImageBitmap;
      if (useVideoFrame) {
        try {
          frame = new VideoFrame(video);
        } catch {
          useVideoFrame = false; // a browser with WebCodecs that cannot wrap this video: ImageBitmaps from now on
          frame = await createImageBitmap(video);
        }
      } else frame = await createImageBitmap(video);
      if (stopped) return frame.close();
      worker.postMessage({ type: 'frame', frame }, [frame]);
    } catch {
      busy = false; // the video had no frame to give (resizing): try the next tick
    }
  };
  // New frames only where the browser says when one is presented (requestVideoFrameCallback: a 10 fps camera is
  // scanned at most 10 times a second, never the same frame twice), else a timer; both bounded to MAX_GRAB_FPS.
  const minGapMs = 1000 / MAX_GRAB_FPS - 2; // a little slack: a 15 fps camera's frames come 66.7 ms apart, +- jitter
  let lastGrab = -Infinity;
  let timer: ReturnType<typeof setInterval> | undefined;
  if ('requestVideoFrameCallback' in video) {
    const onFrame = (now: number) => {
      if (stopped) return;
      if (now - lastGrab >= minGapMs) {
        lastGrab = now;
        void grab();
      }
      video.requestVideoFrameCallback(onFrame);
    };
    video.requestVideoFrameCallback(onFrame);
  } else {
    timer = setInterval(() => void grab(), 1000 / MAX_GRAB_FPS);
  }
  return {
    stop() {
      stopped = true;
      if (timer !== undefined) clearInterval(timer);
      worker.terminate();
      for (const t of stream.getTracks()) t.stop();
      video.srcObject = null;
      video.hidden = true;
      delete document.body.dataset.camera;
      text.textContent = 'camera off';
    },
  };
}
