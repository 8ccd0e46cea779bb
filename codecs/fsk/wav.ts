/**
 * WAV (RIFF/WAVE) read and write as pure bytes <-> samples functions (spec/fsk.md §10).
 * Reads PCM 8/16/24/32-bit integer and IEEE float 32/64-bit, plain or WAVE_FORMAT_EXTENSIBLE, any channel
 * count up to 8 (mixed down to mono by averaging). Writes mono 16-bit PCM or 32-bit float.
 * Every malformed file raises an OffpayError: fsk.wav_bad_header, fsk.wav_unsupported, fsk.wav_truncated.
 */
import { OffpayError, type ErrorCodeOf } from '../../base/errors.js';

/** Sample format {@link writeWav} writes: 16-bit PCM or 32-bit IEEE float, mono. */
export type WavFormat = 'pcm16' | 'float32';

/** A decoded WAV file ({@link readWav}): its rate, channels and sample format, and the mono samples. */
export interface WavData {
  /** Sample rate, Hz. */
  sampleRate: number;
  /** Channels in the file (mixed down to mono in `samples`). */
  channels: number;
  /** Bits per sample in the file. */
  bitsPerSample: number;
  /** 1 = integer PCM, 3 = IEEE float. */
  formatCode: number;
  /** Mono samples in [-1, 1] (channels averaged). */
  samples: Float32Array;
}

const MAX_WAV_RATE = 768000;

function bad(code: ErrorCodeOf<'fsk'>, msg: string, detail?: Record<string, unknown>): OffpayError {
  return new OffpayError(code, msg, detail);
}

function fourcc(b: Uint8Array, o: number): string {
  return String.fromCharCode(b[o]!, b[o + 1]!, b[o + 2]!, b[o + 3]!);
}

/**
 * Decode a WAV file (spec/fsk.md §10): PCM 8/16/24/32-bit or float 32/64-bit, plain or extensible, up to 8
 * channels averaged to mono, rates up to 768 kHz. Bounded: never reads past the bytes given.
 * @throws OffpayError `fsk.wav_bad_header`, `fsk.wav_unsupported` or `fsk.wav_truncated`.
 */
export function readWav(bytes: Uint8Array): WavData {
  if (!(bytes instanceof Uint8Array)) throw bad('fsk.wav_bad_header', 'WAV input must be bytes');
  if (bytes.length < 12) throw bad('fsk.wav_truncated', `file of ${bytes.length} bytes is too short for a WAV header`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (fourcc(bytes, 0) !== 'RIFF' || fourcc(bytes, 8) !== 'WAVE') throw bad('fsk.wav_bad_header', 'not a RIFF/WAVE file');
  const riffSize = dv.getUint32(4, true);
  if (riffSize + 8 > bytes.length) throw bad('fsk.wav_truncated', `RIFF size ${riffSize + 8} exceeds the file size ${bytes.length}`);
  if (riffSize < 4) throw bad('fsk.wav_bad_header', 'RIFF size too small');
  const end = riffSize + 8;
  let off = 12;
  let fmt: { code: number; channels: number; rate: number; byteRate: number; align: number; bits: number } | null = null;
  let data: { off: number; size: number } | null = null;
  while (off + 8 <= end) {
    const id = fourcc(bytes, off);
    const size = dv.getUint32(off + 4, true);
    const body = off + 8;
    if (body + size > end) {
      if (id === 'data') throw bad('fsk.wav_truncated', `data chunk of ${size} bytes runs past the end of the file`, { declared: size, available: end - body });
      throw bad('fsk.wav_truncated', `chunk '${id}' runs past the end of the file`);
    }
    if (id === 'fmt ') {
      if (fmt) throw bad('fsk.wav_bad_header', 'duplicate fmt chunk');
      if (size < 16) throw bad('fsk.wav_bad_header', `fmt chunk of ${size} bytes is too short`);
      let code = dv.getUint16(body, true);
      const channels = dv.getUint16(body + 2, true);
      const rate = dv.getUint32(body + 4, true);
      const byteRate = dv.getUint32(body + 8, true);
      const align = dv.getUint16(body + 12, true);
      const bits = dv.getUint16(body + 14, true);
      if (code === 0xfffe) {
        if (size < 40) throw bad('fsk.wav_bad_header', 'WAVE_FORMAT_EXTENSIBLE fmt chunk is too short');
        code = dv.getUint16(body + 24, true); // first two bytes of the SubFormat GUID
      }
      fmt = { code, channels, rate, byteRate, align, bits };
    } else if (id === 'data') {
      if (!fmt) throw bad('fsk.wav_bad_header', 'data chunk before fmt chunk');
      data = { off: body, size };
      break;
    }
    off = body + size + (size & 1);
  }
  if (!fmt) throw bad('fsk.wav_bad_header', 'no fmt chunk');
  if (!data) throw bad('fsk.wav_truncated', 'no data chunk');
  const { code, channels, rate, byteRate, align, bits } = fmt;
  if (code !== 1 && code !== 3) throw bad('fsk.wav_unsupported', `WAV format code ${code} is not PCM (1) or IEEE float (3)`);
  if (code === 1 && ![8, 16, 24, 32].includes(bits)) throw bad('fsk.wav_unsupported', `${bits}-bit integer PCM is not supported`);
  if (code === 3 && bits !== 32 && bits !== 64) throw bad('fsk.wav_unsupported', `${bits}-bit float is not supported`);
  if (channels < 1 || channels > 8) throw bad('fsk.wav_unsupported', `${channels} channels is not supported (1..8)`);
  if (rate < 1 || rate > MAX_WAV_RATE) throw bad('fsk.wav_bad_header', `sample rate ${rate} is out of range`);
  if (align !== (channels * bits) / 8) throw bad('fsk.wav_bad_header', `block align ${align} does not match ${channels} x ${bits} bits`);
  if (byteRate !== rate * align) throw bad('fsk.wav_bad_header', `byte rate ${byteRate} does not match ${rate} x ${align}`);
  if (data.size % align !== 0) throw bad('fsk.wav_truncated', `data size ${data.size} is not a whole number of ${align}-byte frames`);
  const frames = data.size / align;
  const out = new Float32Array(frames);
  const bps = bits / 8;
  for (let f = 0; f < frames; f++) {
    let acc = 0;
    for (let c = 0; c < channels; c++) {
      const o = data.off + f * align + c * bps;
      let v: number;
      if (code === 3) v = bits === 32 ? dv.getFloat32(o, true) : dv.getFloat64(o, true);
      else if (bits === 8) v = (bytes[o]! - 128) / 128;
      else if (bits === 16) v = dv.getInt16(o, true) / 32768;
      else if (bits === 24) v = ((bytes[o]! | (bytes[o + 1]! << 8) | (bytes[o + 2]! << 16)) << 8 >> 8) / 8388608;
      else v = dv.getInt32(o, true) / 2147483648;
      acc += v;
    }
    out[f] = acc / channels;
  }
  return { sampleRate: rate, channels, bitsPerSample: bits, formatCode: code, samples: out };
}

/** Mono WAV bytes. pcm16 stores round(clamp(x, -1, 1) * 32767); float32 stores x as is. */
export function writeWav(samples: ArrayLike<number>, sampleRate: number, format: WavFormat = 'pcm16'): Uint8Array {
  if (!Number.isInteger(sampleRate) || sampleRate < 1 || sampleRate > MAX_WAV_RATE) {
    throw new OffpayError('fsk.bad_rate', `sample rate ${sampleRate} cannot be written to a WAV file`);
  }
  const bits = format === 'pcm16' ? 16 : 32;
  const code = format === 'pcm16' ? 1 : 3;
  const align = bits / 8;
  const dataSize = samples.length * align;
  const buf = new Uint8Array(44 + dataSize);
  const dv = new DataView(buf.buffer);
  const ascii = (o: number, s: string) => {
    for (let i = 0; i < 4; i++) buf[o + i] = s.charCodeAt(i);
  };
  ascii(0, 'RIFF');
  dv.setUint32(4, 36 + dataSize, true);
  ascii(8, 'WAVE');
  ascii(12, 'fmt ');
  dv.setUint32(16, 16, true);
  dv.setUint16(20, code, true);
  dv.setUint16(22, 1, true);
  dv.setUint32(24, sampleRate, true);
  dv.setUint32(28, sampleRate * align, true);
  dv.setUint16(32, align, true);
  dv.setUint16(34, bits, true);
  ascii(36, 'data');
  dv.setUint32(40, dataSize, true);
  for (let i = 0; i < samples.length; i++) {
    const x = Number(samples[i]);
    if (format === 'pcm16') {
      const v = Number.isFinite(x) ? Math.max(-1, Math.min(1, x)) : 0;
      dv.setInt16(44 + 2 * i, Math.round(v * 32767), true);
    } else dv.setFloat32(44 + 4 * i, x, true);
  }
  return buf;
}
