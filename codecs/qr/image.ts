/**
 * Checks image bytes before they reach the decoder: format (PNG or baseline/progressive JPEG only),
 * structure (complete chunks / segments, PNG CRCs), and dimensions (capped before any pixel is
 * allocated). zxing-wasm's own loader (stb_image) reports every failure as one message, and would
 * try to allocate whatever a header claims; this module gives each failure its own typed error.
 *
 * Errors: `qr.image_empty`, `qr.not_an_image`, `qr.unsupported_image`, `qr.image_truncated`,
 * `qr.bad_image`, `qr.image_too_large`.
 */
import { OffpayError } from '../../base/errors.js';
import { crc32 } from '../../base/crc32.js';

/** An image format the reader accepts. */
export type ImageFormat = 'png' | 'jpeg';

/** An image's format and dimensions in pixels, read from its header by `inspectImage` before any decoding. */
export interface ImageInfo {
  /** The container format, from the file's signature. */
  format: ImageFormat;
  /** Width from the header, pixels. */
  width: number;
  /** Height from the header, pixels. */
  height: number;
}

/** Bounds checked on an image's dimensions before its pixels are decoded (untrusted input, spec/qr.md §5). */
export interface ImageLimits {
  /** Largest width or height accepted (default 8192). */
  maxSide?: number;
  /** Largest width * height accepted (default 24 000 000, a 6000x4000 photo). */
  maxPixels?: number;
}

/** Default largest image width or height, pixels. */
export const DEFAULT_MAX_SIDE = 8192;
/** Default largest image area, pixels (a 6000 x 4000 photo). */
export const DEFAULT_MAX_PIXELS = 24_000_000;

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/**
 * Check an image's dimensions against `limits` (defaults {@link DEFAULT_MAX_SIDE}, {@link DEFAULT_MAX_PIXELS}).
 * @throws OffpayError `qr.bad_image` (not positive integers) or `qr.image_too_large`.
 */
export function checkDimensions(width: number, height: number, limits: ImageLimits = {}): void {
  const maxSide = limits.maxSide ?? DEFAULT_MAX_SIDE;
  const maxPixels = limits.maxPixels ?? DEFAULT_MAX_PIXELS;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) {
    throw new OffpayError('qr.bad_image', `image dimensions ${width}x${height} are not positive integers`, { width, height });
  }
  if (width > maxSide || height > maxSide || width * height > maxPixels) {
    throw new OffpayError('qr.image_too_large', `image of ${width}x${height} exceeds the limit (${maxSide} px a side, ${maxPixels} px)`, {
      width,
      height,
      maxSide,
      maxPixels,
    });
  }
}

function u32(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}

function inspectPng(b: Uint8Array, limits: ImageLimits): ImageInfo {
  let o = 8;
  let width = -1;
  let height = -1;
  let sawIdat = false;
  let first = true;
  while (true) {
    if (o + 8 > b.length) throw new OffpayError('qr.image_truncated', `PNG ends inside a chunk header at byte ${o}`, { offset: o });
    const len = u32(b, o);
    const type = String.fromCharCode(b[o + 4]!, b[o + 5]!, b[o + 6]!, b[o + 7]!);
    if (len > 0x7fffffff) throw new OffpayError('qr.bad_image', `PNG chunk ${JSON.stringify(type)} has length ${len}`);
    if (o + 12 + len > b.length) {
      throw new OffpayError('qr.image_truncated', `PNG ends inside chunk ${JSON.stringify(type)} at byte ${o}`, { offset: o });
    }
    if (crc32(b, o + 4, o + 8 + len) !== u32(b, o + 8 + len)) {
      throw new OffpayError('qr.bad_image', `PNG chunk ${JSON.stringify(type)} at byte ${o} fails its CRC`, { offset: o });
    }
    if (first) {
      if (type !== 'IHDR' || len !== 13) throw new OffpayError('qr.bad_image', 'PNG does not start with an IHDR chunk');
      width = u32(b, o + 8);
      height = u32(b, o + 12);
      // Cap before anything is decoded: a header alone can claim 2^31 x 2^31 pixels.
      checkDimensions(width, height, limits);
      first = false;
    }
    if (type === 'IDAT') sawIdat = true;
    o += 12 + len;
    if (type === 'IEND') break;
  }
  if (!sawIdat) throw new OffpayError('qr.bad_image', 'PNG has no image data (IDAT)');
  return { format: 'png', width, height };
}

function inspectJpeg(b: Uint8Array, limits: ImageLimits): ImageInfo {
  let o = 2;
  let width = -1;
  let height = -1;
  // Marker segments up to the first SOS.
  while (true) {
    if (o + 4 > b.length) throw new OffpayError('qr.image_truncated', `JPEG ends in its headers at byte ${o}`, { offset: o });
    if (b[o] !== 0xff) throw new OffpayError('qr.bad_image', `JPEG marker expected at byte ${o}`, { offset: o });
    const m = b[o + 1]!;
    if (m === 0xff) {
      o += 1; // fill byte
      continue;
    }
    if (m === 0xd8 || m === 0xd9 || (m >= 0xd0 && m <= 0xd7) || m === 0x01) {
      throw new OffpayError('qr.bad_image', `unexpected JPEG marker FF${m.toString(16).toUpperCase()} in the headers`);
    }
    const len = (b[o + 2]! << 8) | b[o + 3]!;
    if (len < 2) throw new OffpayError('qr.bad_image', `JPEG segment at byte ${o} has length ${len}`);
    if (o + 2 + len > b.length) throw new OffpayError('qr.image_truncated', `JPEG ends inside a segment at byte ${o}`);
    const isSof = m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc;
    if (isSof) {
      if (m !== 0xc0 && m !== 0xc1 && m !== 0xc2) {
        throw new OffpayError('qr.unsupported_image', `JPEG process SOF${m - 0xc0} is not supported (baseline, extended or progressive only)`);
      }
      if (len < 8) throw new OffpayError('qr.bad_image', 'JPEG frame header is too short');
      height = (b[o + 5]! << 8) | b[o + 6]!;
      width = (b[o + 7]! << 8) | b[o + 8]!;
      checkDimensions(width, height, limits);
    }
    if (m === 0xda) {
      if (width < 0) throw new OffpayError('qr.bad_image', 'JPEG scan before any frame header');
      o += 2 + len;
      break;
    }
    o += 2 + len;
  }
  // Entropy-coded data (and any further scans/tables) must end with EOI.
  for (let i = b.length - 2; i >= o; i--) {
    if (b[i] === 0xff && b[i + 1] === 0xd9) return { format: 'jpeg', width, height };
    if (b.length - i > 64) break; // EOI must be at the end, allowing a little trailing padding
  }
  throw new OffpayError('qr.image_truncated', 'JPEG has no end-of-image marker (truncated)');
}

/** Sniffs and validates image bytes; throws a typed OffpayError if they cannot be a decodable image. */
export function inspectImage(bytes: Uint8Array, limits: ImageLimits = {}): ImageInfo {
  if (!(bytes instanceof Uint8Array)) throw new OffpayError('qr.not_an_image', 'image must be bytes (Uint8Array)');
  if (bytes.length === 0) throw new OffpayError('qr.image_empty', 'image file is empty');
  const isPng = PNG_SIGNATURE.every((v, i) => bytes[i] === v);
  if (isPng) return inspectPng(bytes, limits);
  if (bytes.length >= 8 && PNG_SIGNATURE.slice(1, 4).every((v, i) => bytes[i + 1] === v)) {
    throw new OffpayError('qr.bad_image', 'PNG signature is damaged');
  }
  if (bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return inspectJpeg(bytes, limits);
  if (bytes.length < 8 && (PNG_SIGNATURE.slice(0, bytes.length).every((v, i) => bytes[i] === v) || bytes[0] === 0xff)) {
    throw new OffpayError('qr.image_truncated', 'image ends inside its signature');
  }
  throw new OffpayError('qr.not_an_image', 'not a PNG or JPEG image');
}
