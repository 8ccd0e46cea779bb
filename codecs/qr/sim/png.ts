/**
 * A minimal grayscale PNG writer (8-bit, filter 0, zlib "stored" blocks, no compression) for synthetic
 * frames and fixtures. No compression keeps it tiny, dependency-free and byte-for-byte stable forever
 * (a deflate implementation's output may change between versions; stored blocks cannot).
 */
import { concatBytes } from '../../../base/bytes.js';
import { crc32 } from '../../../base/crc32.js';

function adler32(data: Uint8Array): number {
  let a = 1;
  let b = 0;
  for (let i = 0; i < data.length; i++) {
    a = (a + data[i]!) % 65521;
    b = (b + a) % 65521;
  }
  return ((b << 16) | a) >>> 0;
}

/** A PNG chunk: length, type, body, then the CRC-32 of type and body. */
export function pngChunk(type: string, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + body.length);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, body.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(body, 8);
  dv.setUint32(8 + body.length, crc32(out, 4, 8 + body.length));
  return out;
}

/**
 * An 8-bit grayscale PNG of width x height whose image data is `raw` (filtered scanlines, or any bytes: a
 * hostile-image fixture may give more or fewer than the header implies), as a zlib stream of stored blocks.
 */
export function pngGrayFromImageData(raw: Uint8Array, width: number, height: number): Uint8Array {
  const nBlocks = Math.max(1, Math.ceil(raw.length / 65535));
  const z = new Uint8Array(2 + raw.length + nBlocks * 5 + 4);
  z[0] = 0x78;
  z[1] = 0x01;
  let o = 2;
  for (let i = 0; i < nBlocks; i++) {
    const start = i * 65535;
    const len = Math.min(65535, raw.length - start);
    z[o++] = i === nBlocks - 1 ? 1 : 0;
    z[o++] = len & 0xff;
    z[o++] = len >> 8;
    z[o++] = ~len & 0xff;
    z[o++] = (~len >> 8) & 0xff;
    z.set(raw.subarray(start, start + len), o);
    o += len;
  }
  new DataView(z.buffer).setUint32(o, adler32(raw));
  return pngGrayWithIdat(z, width, height);
}

/** An 8-bit grayscale PNG of width x height whose one IDAT chunk holds `zlib` as it is (any zlib stream). */
export function pngGrayWithIdat(zlib: Uint8Array, width: number, height: number): Uint8Array {
  const ihdr = new Uint8Array(13);
  const dv = new DataView(ihdr.buffer);
  dv.setUint32(0, width);
  dv.setUint32(4, height);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 0; // grayscale
  const parts = [Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a), pngChunk('IHDR', ihdr), pngChunk('IDAT', zlib), pngChunk('IEND', new Uint8Array())];
  return concatBytes(parts);
}

export function encodePngGray(gray: Uint8Array, width: number, height: number): Uint8Array {
  if (gray.length !== width * height) throw new RangeError('gray buffer size does not match the dimensions');
  // Raw scanlines, each prefixed by filter type 0.
  const raw = new Uint8Array(height * (width + 1));
  for (let y = 0; y < height; y++) raw.set(gray.subarray(y * width, (y + 1) * width), y * (width + 1) + 1);
  return pngGrayFromImageData(raw, width, height);
}
