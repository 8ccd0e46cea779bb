import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PcmDecoder, parsePcmFormat, type PcmFormat } from '../../codecs/fsk/pcm.js';

/** Decode `bytes` cut at the given points; returns every sample handed out. */
function decodeSplit(format: PcmFormat, channels: number, bytes: Uint8Array, cuts: number[], maxSamples = 64): { samples: number[]; pending: number; blocks: number[] } {
  const d = new PcmDecoder({ format, channels, maxSamples });
  const samples: number[] = [];
  const blocks: number[] = [];
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  let prev = 0;
  for (const p of [...points, bytes.length]) {
    d.push(bytes.subarray(prev, p), (b) => {
      blocks.push(b.length);
      samples.push(...b);
    });
    prev = p;
  }
  return { samples, pending: d.pending, blocks };
}

/** The reference: whole frames only, channels averaged, read with DataView in one pass. */
function reference(format: PcmFormat, channels: number, bytes: Uint8Array): number[] {
  const bps = format === 's16le' ? 2 : 4;
  const fb = bps * channels;
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: number[] = [];
  for (let f = 0; f + fb <= bytes.length; f += fb) {
    let s = 0;
    for (let c = 0; c < channels; c++) s += format === 's16le' ? v.getInt16(f + bps * c, true) / 32768 : v.getFloat32(f + bps * c, true);
    out.push(Math.fround(s / channels));
  }
  return out;
}

describe('raw PCM decoder (codecs/fsk/pcm.ts)', () => {
  it('any chunking gives the samples of the whole stream; an incomplete frame is carried, never lost or invented', () => {
    fc.assert(
      fc.property(
        fc.constantFrom<PcmFormat>('s16le', 'f32le'),
        fc.integer({ min: 1, max: 4 }),
        fc.uint8Array({ maxLength: 600 }),
        fc.array(fc.nat(), { maxLength: 40 }),
        (format, channels, bytes, cuts) => {
          const got = decodeSplit(format, channels, bytes, cuts);
          const want = reference(format, channels, bytes);
          // NaN from random f32 bit patterns compares equal to itself under Object.is (toEqual).
          expect(got.samples).toEqual(want);
          expect(got.pending).toBe(bytes.length % ((format === 's16le' ? 2 : 4) * channels));
          expect(Math.max(0, ...got.blocks)).toBeLessThanOrEqual(64);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('s16le full scale maps to [-1, 1); f32le is taken as is', () => {
    const s = decodeSplit('s16le', 1, new Uint8Array([0x00, 0x80, 0xff, 0x7f, 0x00, 0x00]), []).samples;
    expect(s).toEqual([-1, 32767 / 32768, 0]);
    const f = new Float32Array([0.25, -2, Infinity]);
    expect(decodeSplit('f32le', 1, new Uint8Array(f.buffer), [5]).samples).toEqual([0.25, -2, Infinity]);
  });

  it('bad format, channels or block size are typed errors', () => {
    expect(() => parsePcmFormat('s24le')).toThrow(expect.objectContaining({ code: 'pcm.bad_format' }));
    expect(() => new PcmDecoder({ format: 's16le', channels: 0 })).toThrow(expect.objectContaining({ code: 'pcm.bad_channels' }));
    expect(() => new PcmDecoder({ format: 's16le', channels: 17 })).toThrow(expect.objectContaining({ code: 'pcm.bad_channels' }));
    expect(() => new PcmDecoder({ format: 'f32le', maxSamples: 0 })).toThrow(expect.objectContaining({ code: 'pcm.bad_block' }));
  });
});
