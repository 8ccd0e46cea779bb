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
import { concatBytes } from '../../base/bytes.js';
import { zlibInflatedSize } from './inflate-size.js';

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
 * Most scans a JPEG may have (spec/qr.md §8 step 3): a baseline JPEG has one per component (at most 4), the
 * progressive scripts of libjpeg and mozjpeg 6 to 12 or so; each costs the decoder a pass over the image.
 */
export const MAX_JPEG_SCANS = 32;

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

/** Channels per pixel of each PNG colour type, and the bit depths it allows (PNG spec §11.2.2). */
const PNG_COLOUR: Readonly<Record<number, { channels: number; depths: readonly number[] }>> = {
  0: { channels: 1, depths: [1, 2, 4, 8, 16] }, // greyscale
  2: { channels: 3, depths: [8, 16] }, // truecolour
  3: { channels: 1, depths: [1, 2, 4, 8] }, // indexed
  4: { channels: 2, depths: [8, 16] }, // greyscale with alpha
  6: { channels: 4, depths: [8, 16] }, // truecolour with alpha
};

/** The seven Adam7 passes of an interlaced PNG: first column, column step, first row, row step. */
const ADAM7_PASSES: readonly (readonly [number, number, number, number])[] = [[0, 8, 0, 8], [4, 8, 0, 8], [0, 4, 4, 8], [2, 4, 0, 4], [0, 2, 2, 4], [1, 2, 0, 2], [0, 1, 1, 2]];

/**
 * The exact number of bytes a PNG's image data inflates to, from its header: each row is one filter-type byte
 * and ceil(width * bitsPerPixel / 8) bytes; an interlaced image (Adam7) is seven such sub-images, pass p covering
 * columns c0 + k*dc and rows r0 + k*dr, a pass with no columns or no rows having no rows at all.
 */
export function pngImageDataBytes(width: number, height: number, bitsPerPixel: number, interlaced: boolean): number {
  const rows = (w: number, h: number) => (w === 0 || h === 0 ? 0 : h * (1 + Math.ceil((w * bitsPerPixel) / 8)));
  if (!interlaced) return rows(width, height);
  let n = 0;
  for (const [c0, dc, r0, dr] of ADAM7_PASSES) n += rows(Math.ceil((width - c0) / dc), Math.ceil((height - r0) / dr));
  return n;
}

/**
 * The most zlib stream bytes a PNG's image data of `expected` bytes in `rows` filtered rows may take (spec/qr.md §8):
 * E + ceil(E / 8) + 16 R + 1024. Stored blocks add 5 bytes a block, fixed Huffman codes take at most 9 bits a byte,
 * and an encoder that flushes after every row (a sync or full flush: an empty stored block) adds up to about 16
 * bytes a row.
 */
export function pngMaxImageStreamBytes(expected: number, rows = 0): number {
  return expected + Math.ceil(expected / 8) + 16 * rows + 1024;
}

/** The number of filtered rows of a PNG's image data: the height, or the rows of the seven Adam7 passes that have columns. */
export function pngImageRows(width: number, height: number, interlaced: boolean): number {
  if (!interlaced) return height;
  let n = 0;
  for (const [c0, dc, r0, dr] of ADAM7_PASSES) if (Math.ceil((width - c0) / dc) > 0) n += Math.max(0, Math.ceil((height - r0) / dr));
  return n;
}

function inspectPng(b: Uint8Array, limits: ImageLimits): ImageInfo {
  let o = 8;
  let width = -1;
  let height = -1;
  let sawIdat = false;
  let first = true;
  let expected = 0;
  let rows = 0;
  const idat: Uint8Array[] = [];
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
      const depth = b[o + 16]!;
      const colour = PNG_COLOUR[b[o + 17]!];
      if (!colour || !colour.depths.includes(depth)) throw new OffpayError('qr.bad_image', `PNG colour type ${b[o + 17]} with bit depth ${depth} is not a PNG format`);
      if (b[o + 18] !== 0 || b[o + 19] !== 0 || b[o + 20]! > 1) throw new OffpayError('qr.bad_image', 'PNG compression, filter or interlace method is not 0 (or 1 for interlace)');
      expected = pngImageDataBytes(width, height, depth * colour.channels, b[o + 20] === 1);
      rows = pngImageRows(width, height, b[o + 20] === 1);
      first = false;
    }
    if (type === 'IDAT') {
      sawIdat = true;
      idat.push(b.subarray(o + 8, o + 8 + len));
    }
    o += 12 + len;
    if (type === 'IEND') break;
  }
  if (!sawIdat) throw new OffpayError('qr.bad_image', 'PNG has no image data (IDAT)');
  // What the image data inflates to is fixed by the header; a decoder handed more keeps growing its output (a
  // 290 KB file of 8x8 pixels inflating to 256 MiB grew zxing-wasm's memory by 590 MB, for good). Counted, not
  // inflated, and stopped at the header's size (spec/qr.md §8 step 4).
  const data = idat.length === 1 ? idat[0]! : concatBytes(idat);
  // ... and the work of counting is bounded by the header too: no encoder needs more than this many bytes of
  // zlib stream for E bytes (stored blocks add 5 bytes a block, fixed Huffman codes at most 9 bits a byte).
  const maxStream = pngMaxImageStreamBytes(expected, rows);
  if (data.length > maxStream) {
    throw new OffpayError('qr.bad_image', `PNG image data is ${data.length} bytes of zlib stream, more than ${maxStream} for the ${expected} bytes its ${width}x${height} header allows`, { expected, maxStream });
  }
  const n = zlibInflatedSize(data, expected);
  if (n.kind === 'over') {
    throw new OffpayError('qr.bad_image', `PNG image data inflates to more than the ${expected} bytes its ${width}x${height} header allows`, { expected });
  }
  if (n.kind === 'bad') {
    if (n.why === 'the stream ends early') throw new OffpayError('qr.image_truncated', 'PNG image data ends early');
    throw new OffpayError('qr.bad_image', `PNG image data is not a valid zlib stream: ${n.why}`);
  }
  if (n.bytes !== expected) throw new OffpayError('qr.bad_image', `PNG image data inflates to ${n.bytes} bytes; its ${width}x${height} header needs ${expected}`, { expected, bytes: n.bytes });
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
  // Every further scan costs the decoder a pass over the whole image (63 ms a scan at 6000 x 4000 measured:
  // 10,000 ten-byte scans in 100 KB were 10 minutes of CPU). Count them, skipping the entropy-coded data
  // (0xFF is followed there by 0x00, a stuffed byte, or a restart marker D0-D7; FF FF is fill).
  let scans = 1;
  for (let i = o; i < b.length - 1; ) {
    const ff = b.indexOf(0xff, i);
    if (ff < 0 || ff + 1 >= b.length) break;
    const m = b[ff + 1]!;
    if (m === 0x00 || m === 0xff || (m >= 0xd0 && m <= 0xd7)) {
      i = ff + 1;
      continue;
    }
    if (m === 0xd9) break; // EOI
    if (m === 0xda && ++scans > MAX_JPEG_SCANS) {
      throw new OffpayError('qr.unsupported_image', `JPEG has more than ${MAX_JPEG_SCANS} scans`, { maxScans: MAX_JPEG_SCANS });
    }
    if (ff + 4 > b.length) break;
    i = ff + 2 + ((b[ff + 2]! << 8) | b[ff + 3]!); // a marker segment (tables, restart interval, a scan header)
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
