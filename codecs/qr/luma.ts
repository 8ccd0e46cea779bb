/**
 * Camera frames to 8-bit luma, and the 2:1 downscale of the scanner's cheap pass. Pure functions over
 * typed arrays (browser-safe, no allocation when an output buffer of the right size is given).
 */
import { OffpayError } from '../../base/errors.js';
import { checkDimensions, type ImageLimits } from './image.js';

/** A raw camera frame: RGBA (4 bytes a pixel) or grayscale (1 byte a pixel), row-major, no padding. */
export interface Frame {
  /** Width, pixels. */
  width: number;
  /** Height, pixels. */
  height: number;
  /** The pixels: width x height x 4 bytes (rgba) or x 1 (gray). */
  data: Uint8Array | Uint8ClampedArray;
  /** The pixel layout. */
  format: 'rgba' | 'gray';
}

/**
 * Validates a frame: an object with integer dimensions within the limits (`qr.image_too_large`), data a
 * Uint8Array or Uint8ClampedArray whose length is exactly width·height·(4 or 1), format 'rgba' or 'gray'
 * (`qr.bad_image` otherwise).
 */
export function checkFrame(f: Frame, limits: ImageLimits = {}): void {
  if (!f || typeof f !== 'object') throw new OffpayError('qr.bad_image', 'frame must be an object {width, height, data, format}');
  checkDimensions(f.width, f.height, limits);
  if (!(f.data instanceof Uint8Array || f.data instanceof Uint8ClampedArray)) {
    throw new OffpayError('qr.bad_image', 'frame data must be a Uint8Array or Uint8ClampedArray');
  }
  const n = f.width * f.height;
  if (f.format === 'rgba') {
    if (f.data.length !== n * 4) throw new OffpayError('qr.bad_image', `RGBA frame needs ${n * 4} bytes, has ${f.data.length}`);
  } else if (f.format === 'gray') {
    if (f.data.length !== n) throw new OffpayError('qr.bad_image', `grayscale frame needs ${n} bytes, has ${f.data.length}`);
  } else {
    throw new OffpayError('qr.bad_image', `frame format must be 'rgba' or 'gray', got ${String((f as Frame).format)}`);
  }
}

/**
 * Luma of an RGBA frame into `out` (width·height bytes):
 *   Y = (306·R + 601·G + 117·B + 512) >> 10
 * the BT.601 weights 0.299 / 0.587 / 0.114 in 10-bit fixed point, rounded (the weights sum to 1024, so
 * white stays 255). zxing-wasm's own RGBA path uses the same formula, so a frame reads the same whichever
 * way it enters. Alpha is ignored. A gray frame is its own luma (returned as is, not copied).
 */
export function frameLuma(f: Frame, out?: Uint8Array): Uint8Array {
  if (f.format === 'gray') return f.data instanceof Uint8Array ? f.data : new Uint8Array(f.data.buffer, f.data.byteOffset, f.data.length);
  const n = f.width * f.height;
  const y = out && out.length >= n ? out : new Uint8Array(n);
  const d = f.data;
  for (let i = 0, j = 0; i < n; i++, j += 4) y[i] = (306 * d[j]! + 601 * d[j + 1]! + 117 * d[j + 2]! + 512) >> 10;
  return y;
}

/**
 * 2:1 box downscale: output pixel (x, y) is the rounded mean of source pixels (2x..2x+1, 2y..2y+1),
 * `(a + b + c + d + 2) >> 2`; the output is floor(w/2) x floor(h/2) (an odd last row or column is
 * dropped). Averaging four pixels also halves the sensor noise's standard deviation.
 */
export function downscale2(
  src: Uint8Array,
  w: number,
  h: number,
  out: Uint8Array,
): {
  /** Output width, pixels: floor(w / 2). */
  width: number;
  /** Output height, pixels: floor(h / 2). */
  height: number;
} {
  const ow = w >> 1;
  const oh = h >> 1;
  for (let y = 0; y < oh; y++) {
    let s = 2 * y * w;
    let t = s + w;
    let o = y * ow;
    for (let x = 0; x < ow; x++, s += 2, t += 2, o++) out[o] = (src[s]! + src[s + 1]! + src[t]! + src[t + 1]! + 2) >> 2;
  }
  return { width: ow, height: oh };
}
