/** Node-only file adapters for the fsk codec (the pure core never imports node:). */
import { readFile, writeFile } from 'node:fs/promises';
import { readWav, writeWav, type WavData, type WavFormat } from './wav.js';

/**
 * Read and decode a WAV file from disk (Node; see {@link readWav}).
 * @throws OffpayError `fsk.wav_*` for a malformed file; the `node:fs` error if it cannot be read.
 */
export async function readWavFile(path: string): Promise<WavData> {
  return readWav(new Uint8Array(await readFile(path)));
}

/** Write samples (in [-1, 1]) at `sampleRate` Hz to a mono WAV file (Node; see `writeWav`). */
export async function writeWavFile(path: string, samples: ArrayLike<number>, sampleRate: number, format: WavFormat = 'pcm16'): Promise<void> {
  await writeFile(path, writeWav(samples, sampleRate, format));
}
