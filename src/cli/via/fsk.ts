/**
 * Token-level 'fsk' transport for the CLI: a token or payment request's bytes as a WAV (fast profile,
 * 48 kHz, 16-bit PCM by default), and back.
 */
import { OffpayError } from '../../../base/errors.js';
import type { Via } from '../via.js';
import { decodeMessage, encode, FSK_PROFILE_NAMES, type FskProfileName } from '../../../codecs/fsk/index.js';
import { readWav, writeWav } from '../../../codecs/fsk/wav.js';
import { readBytes } from '../../node/files.js';
import { writeOut } from '../common.js';

/**
 * Largest WAV file read (about 45 min of 48 kHz 16-bit mono; a recording is decoded in memory as 32-bit
 * floats, so twice this much): larger files are refused with file.too_large before they are read.
 */
export const MAX_WAV_FILE_BYTES = 256 * 1024 * 1024;

/** Read and parse a WAV file, bounded by MAX_WAV_FILE_BYTES. */
export function readWavBounded(path: string): ReturnType<typeof readWav> {
  return readWav(readBytes(path, 'WAV recording', MAX_WAV_FILE_BYTES));
}

function render(bytes: Uint8Array, options: Record<string, string>): { data: Uint8Array; note: string } {
  const profile = (options.profile ?? 'fast') as FskProfileName;
  if (!FSK_PROFILE_NAMES.includes(profile)) throw new OffpayError('fsk.bad_profile', `unknown profile '${profile}'`);
  const rate = Number(options.rate ?? 48000);
  const samples = encode(bytes, { profile, sampleRate: rate });
  const data = writeWav(samples, rate, options.format === 'float32' ? 'float32' : 'pcm16');
  return { data, note: `${bytes.length} bytes as ${(samples.length / rate).toFixed(3)} s of '${profile}' FSK audio at ${rate} Hz` };
}

export const via: Via = {
  name: 'fsk',
  textOnStdout: false,
  async render(_kind, bytes, options = {}) {
    return { ...render(bytes, options), text: false };
  },
  async write(_kind, bytes, outPath, options = {}) {
    const r = render(bytes, options);
    writeOut(outPath, r.data);
    return `${outPath}: ${r.note}`;
  },
  async read(_kind, inPath) {
    const wav = readWavBounded(inPath);
    return decodeMessage(wav.samples, { sampleRate: wav.sampleRate }).payload;
  },
};
