/**
 * A minimal YUV4MPEG2 (Y4M) writer for Chromium's fake camera (`--use-file-for-fake-video-capture=FILE.y4m`),
 * and a frame painter that draws a QR module matrix centred on a grey background, as a phone screen held up to
 * a camera would show it (white quiet zone, black modules). Chromium plays the frames in order and loops.
 *
 * Format (as written here): the header `YUV4MPEG2 W<w> H<h> F<num>:<den> Ip A1:1 C420jpeg\n`, then per frame
 * `FRAME\n` followed by the Y plane (w*h bytes) and the U and V planes ((w/2)*(h/2) bytes each, 4:2:0). Grey
 * frames have U = V = 128 (no colour).
 */
import type { ModuleMatrix } from '../../codecs/qr/index.js';

/** Luma frames (w*h bytes each) as a Y4M file (4:2:0, colourless chroma). `w` and `h` must be even. */
export function writeY4m(frames: Uint8Array[], w: number, h: number, fps: number): Uint8Array {
  if (w % 2 || h % 2) throw new Error('Y4M 4:2:0 needs even width and height');
  const head = Buffer.from(`YUV4MPEG2 W${w} H${h} F${fps}:1 Ip A1:1 C420jpeg\n`, 'ascii');
  const tag = Buffer.from('FRAME\n', 'ascii');
  const chroma = Buffer.alloc((w / 2) * (h / 2) * 2, 128);
  const parts: Uint8Array[] = [head];
  for (const f of frames) {
    if (f.length !== w * h) throw new Error(`frame of ${f.length} bytes, expected ${w * h}`);
    parts.push(tag, f, chroma);
  }
  return Buffer.concat(parts);
}

/** A grey (luma `grey`) frame. */
export function greyFrame(w: number, h: number, grey = 128): Uint8Array {
  return new Uint8Array(w * h).fill(grey);
}

/**
 * `m` drawn centred on a grey frame: a white card with a 4-module quiet zone, modules `px` pixels square
 * (default: the largest that fits 80 % of the shorter side), black 16 and white 235 (video range).
 */
export function qrFrame(m: ModuleMatrix, w: number, h: number, px?: number): Uint8Array {
  const side = m.width + 8;
  const k = px ?? Math.max(1, Math.floor((0.8 * Math.min(w, h)) / side));
  const f = greyFrame(w, h);
  const x0 = Math.floor((w - side * k) / 2);
  const y0 = Math.floor((h - side * k) / 2);
  if (x0 < 0 || y0 < 0) throw new Error(`a ${m.width}-module code at ${k} px a module does not fit ${w}x${h}`);
  for (let y = 0; y < side * k; y++) {
    const my = Math.floor(y / k) - 4;
    for (let x = 0; x < side * k; x++) {
      const mx = Math.floor(x / k) - 4;
      const dark = my >= 0 && my < m.height && mx >= 0 && mx < m.width && m.modules[my * m.width + mx] === 1;
      f[(y0 + y) * w + x0 + x] = dark ? 16 : 235;
    }
  }
  return f;
}
