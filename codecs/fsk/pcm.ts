/**
 * Raw PCM byte stream -> Float32 samples for the streaming receiver (spec/reader.md §17.2): what
 * `arecord -t raw` or any capture pipe produces, read in chunks of any size.
 *
 * Formats: `s16le` (signed 16-bit little-endian, sample / 32768) and `f32le` (IEEE 754 binary32 little-endian,
 * taken as is: non-finite or huge values are the receiver's to sanitise, spec/fsk.md §7 step 1). Channels
 * are interleaved; a frame (one sample per channel) becomes one mono sample, the mean of its channels.
 *
 * Chunk boundaries are arbitrary: the bytes of an incomplete frame at the end of a chunk are carried over
 * (at most frameBytes - 1 of them) and completed by the next chunk. Output goes into one scratch buffer of
 * `maxSamples` reused for every call, so memory does not depend on the chunk sizes a pipe delivers.
 *
 * Browser-safe (no node: imports).
 */
import { OffpayError } from '../../base/errors.js';

export const PCM_FORMATS = ['s16le', 'f32le'] as const;
export type PcmFormat = (typeof PCM_FORMATS)[number];
/** Largest number of interleaved channels accepted. */
export const MAX_PCM_CHANNELS = 16;
/** Default scratch size in samples (one output block). */
export const DEFAULT_PCM_BLOCK = 8192;

export interface PcmOptions {
  format: PcmFormat;
  /** Interleaved channels, 1..MAX_PCM_CHANNELS (default 1). */
  channels?: number;
  /** Largest block handed to the callback, in samples (default 8192). */
  maxSamples?: number;
}

/** Validate a format name (`pcm.bad_format` names the accepted ones). */
export function parsePcmFormat(s: string): PcmFormat {
  if ((PCM_FORMATS as readonly string[]).includes(s)) return s as PcmFormat;
  throw new OffpayError('pcm.bad_format', `PCM format '${s}' is not one of ${PCM_FORMATS.join(', ')}`);
}

export function bytesPerSample(format: PcmFormat): number {
  return format === 's16le' ? 2 : 4;
}

export class PcmDecoder {
  readonly format: PcmFormat;
  readonly channels: number;
  /** Bytes of one frame (all channels of one sampling instant). */
  readonly frameBytes: number;
  private readonly out: Float32Array;
  /** An incomplete frame carried over from the previous chunk (its first `carryLen` bytes). */
  private readonly carry: Uint8Array;
  private carryLen = 0;
  private readonly view = new DataView(new ArrayBuffer(0));
  /** Frames decoded so far. */
  frames = 0;

  constructor(o: PcmOptions) {
    this.format = parsePcmFormat(o.format);
    const ch = o.channels ?? 1;
    if (!Number.isInteger(ch) || ch < 1 || ch > MAX_PCM_CHANNELS) throw new OffpayError('pcm.bad_channels', `channels must be an integer from 1 to ${MAX_PCM_CHANNELS}, not ${ch}`);
    this.channels = ch;
    const max = o.maxSamples ?? DEFAULT_PCM_BLOCK;
    if (!Number.isInteger(max) || max < 1 || max > 1 << 20) throw new OffpayError('pcm.bad_block', `maxSamples must be an integer from 1 to ${1 << 20}`);
    this.frameBytes = bytesPerSample(this.format) * ch;
    this.out = new Float32Array(max);
    this.carry = new Uint8Array(this.frameBytes);
  }

  /** Bytes of an incomplete frame held until the next chunk (0 .. frameBytes - 1). */
  get pending(): number {
    return this.carryLen;
  }

  /**
   * Decode `bytes` and hand the samples to `sink` in blocks of at most maxSamples. The block is a view of the
   * decoder's scratch buffer, valid only during the call.
   */
  push(bytes: Uint8Array, sink: (samples: Float32Array) => void): void {
    let off = 0;
    let n = 0;
    const out = this.out;
    const fb = this.frameBytes;
    // Complete a frame carried over from the previous chunk.
    if (this.carryLen > 0) {
      const need = fb - this.carryLen;
      const take = Math.min(need, bytes.length);
      this.carry.set(bytes.subarray(0, take), this.carryLen);
      this.carryLen += take;
      off = take;
      if (this.carryLen < fb) return;
      out[n++] = this.frame(new DataView(this.carry.buffer, this.carry.byteOffset, fb), 0);
      this.carryLen = 0;
      this.frames++;
    }
    const whole = Math.floor((bytes.length - off) / fb);
    const view = whole > 0 ? new DataView(bytes.buffer, bytes.byteOffset + off, whole * fb) : this.view;
    for (let f = 0; f < whole; f++) {
      if (n === out.length) {
        sink(out);
        n = 0;
      }
      out[n++] = this.frame(view, f * fb);
    }
    this.frames += whole;
    off += whole * fb;
    if (n > 0) sink(out.subarray(0, n));
    // Keep the tail (an incomplete frame) for the next chunk.
    const rest = bytes.length - off;
    if (rest > 0) {
      this.carry.set(bytes.subarray(off), 0);
      this.carryLen = rest;
    }
  }

  /** The mono sample of the frame at byte offset `at`: the mean of its channels. */
  private frame(v: DataView, at: number): number {
    const ch = this.channels;
    if (this.format === 's16le') {
      if (ch === 1) return v.getInt16(at, true) / 32768;
      let s = 0;
      for (let c = 0; c < ch; c++) s += v.getInt16(at + 2 * c, true);
      return s / (32768 * ch);
    }
    if (ch === 1) return v.getFloat32(at, true);
    let s = 0;
    for (let c = 0; c < ch; c++) s += v.getFloat32(at + 4 * c, true);
    return s / ch;
  }
}
