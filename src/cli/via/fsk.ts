/**
 * Token-level 'fsk' transport for the CLI: a token or payment request's bytes as a WAV (fast profile,
 * 48 kHz, 16-bit PCM by default), and back.
 */
import { OffpayError } from '../../errors.js';
import type { Via } from '../via.js';
import { decodeMessage, encode, PROFILE_NAMES, type ProfileName } from '../../../codecs/fsk/index.js';
import { readWavFile, writeWavFile } from '../../../codecs/fsk/node.js';

export const via: Via = {
  name: 'fsk',
  async write(_kind, bytes, outPath, options = {}) {
    const profile = (options.profile ?? 'fast') as ProfileName;
    if (!PROFILE_NAMES.includes(profile)) throw new OffpayError('fsk.bad_profile', `unknown profile '${profile}'`);
    const rate = Number(options.rate ?? 48000);
    const samples = encode(bytes, { profile, sampleRate: rate });
    await writeWavFile(outPath, samples, rate, options.format === 'float32' ? 'float32' : 'pcm16');
    return `${outPath}: ${bytes.length} bytes as ${(samples.length / rate).toFixed(3)} s of '${profile}' FSK audio at ${rate} Hz`;
  },
  async read(_kind, inPath) {
    const wav = await readWavFile(inPath);
    return decodeMessage(wav.samples, wav.sampleRate).payload;
  },
};
