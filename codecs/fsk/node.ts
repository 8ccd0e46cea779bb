/** Node-only file adapters for the fsk codec (the pure core never imports node:). */
import { readFile, writeFile } from 'node:fs/promises';
import { readWav, writeWav, type WavData, type WavFormat } from './wav.js';

export async function readWavFile(path: string): Promise<WavData> {
  return readWav(new Uint8Array(await readFile(path)));
}

export async function writeWavFile(path: string, samples: ArrayLike<number>, sampleRate: number, format: WavFormat = 'pcm16'): Promise<void> {
  await writeFile(path, writeWav(samples, sampleRate, format));
}
