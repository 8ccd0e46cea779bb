/**
 * codecs/qr/inflate-size.ts counts what a zlib stream inflates to without inflating it (spec/qr.md §8 step 4):
 * checked against node:zlib on streams of every block type (stored, fixed, dynamic Huffman), and at the cap.
 */
import { constants, deflateSync } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { zlibInflatedSize } from '../../codecs/qr/inflate-size.js';
import { inspectImage, pngImageDataBytes, pngImageRows, pngMaxImageStreamBytes } from '../../codecs/qr/image.js';
import { pngGrayWithIdat } from '../../codecs/qr/sim/png.js';
import { codeOf } from './helpers.js';

/** Data with runs and repeats (so that DEFLATE uses lengths and distances), or noise. */
const data = fc.oneof(
  fc.uint8Array({ maxLength: 5000 }),
  fc.array(fc.tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 1, max: 700 })), { maxLength: 40 }).map((runs) => Uint8Array.from(runs.flatMap(([v, n]) => Array<number>(n).fill(v)))),
  fc.tuple(fc.uint8Array({ minLength: 1, maxLength: 64 }), fc.integer({ min: 1, max: 400 })).map(([p, n]) => Uint8Array.from({ length: p.length * n }, (_, i) => p[i % p.length]!)),
);

describe('zlibInflatedSize', () => {
  it('agrees with node:zlib on the length, at every level and strategy; one byte less of cap is over', () => {
    fc.assert(
      fc.property(data, fc.integer({ min: 0, max: 9 }), fc.constantFrom(constants.Z_DEFAULT_STRATEGY, constants.Z_FIXED, constants.Z_HUFFMAN_ONLY, constants.Z_RLE, constants.Z_FILTERED), (d, level, strategy) => {
        const z = deflateSync(d, { level, strategy });
        expect(zlibInflatedSize(z, d.length)).toEqual({ kind: 'ok', bytes: d.length });
        expect(zlibInflatedSize(z, 1e9)).toEqual({ kind: 'ok', bytes: d.length });
        if (d.length > 0) expect(zlibInflatedSize(z, d.length - 1)).toEqual({ kind: 'over', cap: d.length - 1 });
      }),
      { numRuns: 300, seed: 7 },
    );
  });

  it('a bomb stops at the cap: 64 MiB of zeros in 65 KB is over a cap of 64 bytes after reading little', () => {
    const z = deflateSync(new Uint8Array(64 * 2 ** 20), { level: 9 });
    expect(z.length).toBeLessThan(70_000);
    expect(zlibInflatedSize(z, 64)).toEqual({ kind: 'over', cap: 64 });
    expect(zlibInflatedSize(z, 2 ** 30)).toEqual({ kind: 'ok', bytes: 64 * 2 ** 20 });
  });

  it('truncated, corrupted and non-zlib streams are bad, never a throw', () => {
    const z = deflateSync(Uint8Array.from({ length: 3000 }, (_, i) => (i * 7) % 251));
    expect(zlibInflatedSize(z.subarray(0, z.length - 10), 1e9)).toEqual({ kind: 'bad', why: 'the stream ends early' });
    expect(zlibInflatedSize(Uint8Array.of(0x78), 1e9).kind).toBe('bad');
    expect(zlibInflatedSize(Uint8Array.of(0x78, 0x9c ^ 1, 0, 0), 1e9)).toEqual({ kind: 'bad', why: 'zlib header check fails' });
    expect(zlibInflatedSize(Uint8Array.of(0x78, 0xbb, 0, 0, 0, 0), 1e9)).toEqual({ kind: 'bad', why: 'a preset dictionary' });
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.integer({ min: 0, max: 2000 }), (junk, at) => {
        const bytes = Uint8Array.from(z);
        bytes.set(junk.subarray(0, Math.max(0, bytes.length - (at % bytes.length))), at % bytes.length);
        const r = zlibInflatedSize(bytes, 1e6);
        expect(['ok', 'over', 'bad']).toContain(r.kind);
      }),
      { numRuns: 500, seed: 3 },
    );
  });
});

describe('pngImageDataBytes', () => {
  it('rows of one filter byte and the packed pixels; Adam7 is seven sub-images', () => {
    expect(pngImageDataBytes(8, 8, 8, false)).toBe(8 * 9);
    expect(pngImageDataBytes(10, 3, 1, false)).toBe(3 * 3); // 10 one-bit pixels fill 2 bytes
    expect(pngImageDataBytes(5, 2, 32, false)).toBe(2 * 21);
    // 1x1 interlaced: only pass 1 has a pixel.
    expect(pngImageDataBytes(1, 1, 8, true)).toBe(2);
    // 8x8 interlaced, 8-bit grey: passes of 1x1, 1x1, 2x1, 2x2, 4x2, 4x4, 8x4 pixels.
    expect(pngImageDataBytes(8, 8, 8, true)).toBe(2 + 2 + 3 + 2 * 3 + 2 * 5 + 4 * 5 + 4 * 9);
  });
});

describe('spec-only port of spec/qr.md §8 (2026-12-07): the cases where the spec left a porter guessing', () => {
  const png = (h: string) => Uint8Array.from(Buffer.from(h, 'hex'));
  it('bits that match no code of the set are qr.bad_image at once, as zlib judges (they read as truncated)', () => {
    // A literal/length set of one code (end of block, length 1), then a 1 bit and the end of the stream.
    expect(codeOf(() => inspectImage(png('89504e470d0a1a0a0000000d4948445200000063000000010800000000ef6c4f180000002c49444154789c05c0010400000000100000000000000000000000000000000000000000000000000000000000000080021bf17d380000000049454e44ae426082')))).toBe('qr.bad_image');
  });
  it('the rules the spec now states: zero dimensions, a chunk length over 2^31 - 1, SOF checks in order, the EOI window', () => {
    expect(codeOf(() => inspectImage(png('89504e470d0a1a0a0000000d4948445200000000000000010800000000d5bcf06b0000000949444154789c630000000100015eff7df90000000049454e44ae426082')))).toBe('qr.bad_image');
    expect(codeOf(() => inspectImage(png('89504e470d0a1a0a0000000d49484452000000010000000108000000003a7e9b558000000049444154')))).toBe('qr.bad_image');
    expect(codeOf(() => inspectImage(png('ffd8ffc0000b080000000101011100ffda0008010100003f00ffd9')))).toBe('qr.bad_image'); // height 0
    expect(codeOf(() => inspectImage(png('ffd8ffc3000b080001232801011100ffda0008010100003f00ffd9')))).toBe('qr.unsupported_image'); // SOF3 before the caps
    expect(codeOf(() => inspectImage(png('ffd8ffc000070800010001ffda0008010100003f00ffd9')))).toBe('qr.bad_image'); // SOF length 7
    const jpeg = 'ffd8ffc0000b080001000101011100ffda0008010100003f00ffd9';
    expect(codeOf(() => inspectImage(png(jpeg + '00'.repeat(63))))).toBeUndefined(); // 63 bytes after the EOI
    expect(codeOf(() => inspectImage(png(jpeg + '00'.repeat(64))))).toBe('qr.image_truncated');
    expect(codeOf(() => inspectImage(png('ffd8ffd9')))).toBe('qr.image_truncated'); // fewer than 4 bytes at a marker
    expect(codeOf(() => inspectImage(png('ffd8ff000002ffc0000b080001000101011100ffda0008010100003f00ffd9')))).toBeUndefined(); // FF 00 is a segment
  });
});

describe('the stream bound allows encoders that flush every row (a second spec-only port)', () => {
  it('a 1 x 8192 and a 16 x 512 grey PNG written as one stored block per row are accepted; 17 bytes a row more are not', () => {
    const perRow = (w: number, h: number, extra = 0): Uint8Array => {
      const z: number[] = [0x78, 0x01];
      for (let y = 0; y < h; y++) {
        const n = w + 1;
        z.push(y === h - 1 ? 1 : 0, n & 0xff, n >> 8, ~n & 0xff, (~n >> 8) & 0xff, ...new Array<number>(n).fill(0));
        for (let k = 0; k < extra; k++) z.push(0, 0, 0, 0xff, 0xff); // an empty stored block (a full flush)
      }
      const b = (h * (w + 1)) % 65521; // Adler-32 of n zeros: a = 1, b = n
      z.push(b >> 8, b & 0xff, 0, 1);
      return pngGrayWithIdat(Uint8Array.from(z), w, h);
    };
    expect(inspectImage(perRow(1, 8192))).toEqual({ format: 'png', width: 1, height: 8192 });
    expect(inspectImage(perRow(16, 512))).toEqual({ format: 'png', width: 16, height: 512 });
    expect(pngImageRows(8, 8, true)).toBe(1 + 1 + 1 + 2 + 2 + 4 + 4);
    expect(pngMaxImageStreamBytes(8192 * 2, 8192)).toBe(8192 * 2 + 2048 + 16 * 8192 + 1024);
    // Three empty blocks more a row (15 bytes) still fit; far more do not.
    expect(inspectImage(perRow(1, 2048, 1))).toEqual({ format: 'png', width: 1, height: 2048 });
    expect(codeOf(() => inspectImage(perRow(1, 2048, 4)))).toBe('qr.bad_image');
  });
});
