import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { decode, readWav } from '../../codecs/fsk/index.js';
import { OffpayError } from '../../base/errors.js';

const dir = join(__dirname, '..', '..', 'fixtures', 'fsk');
interface Entry {
  file: string; kind: string; expect: string; payloadHex?: string; payloadSha256?: string; payloadFile?: string; sampleRate?: number;
  frameStart?: number; samples?: number;
}

describe('fixtures/fsk vectors', () => {
  it('covers a frame at sample 0 for every profile (turbo included) and the tiny payloads 0, 1, 14 and 15 bytes', () => {
    const files = existsSync(join(dir, 'manifest.json')) ? (JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as { files: (Entry & { profile?: string; payloadBytes?: number })[] }).files : [];
    for (const profile of ['fast', 'robust', 'ultrasonic', 'turbo']) {
      for (const bytes of [0, 1, 14, 15, 200]) {
        expect(files.some((f) => f.profile === profile && f.payloadBytes === bytes && f.frameStart === 0 && f.expect === 'payload')).toBe(true);
      }
    }
  });
  it('the manifest exists (regenerate with npm run fixtures)', () => {
    expect(existsSync(join(dir, 'manifest.json'))).toBe(true);
  });
  const manifest = existsSync(join(dir, 'manifest.json')) ? (JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as { files: Entry[] }) : { files: [] };
  for (const e of manifest.files) {
    it(`${e.file}: ${e.expect}`, () => {
      const bytes = new Uint8Array(readFileSync(join(dir, e.file)));
      if (e.kind === 'invalid') {
        try {
          readWav(bytes);
          throw new Error('expected an error');
        } catch (err) {
          expect(err).toBeInstanceOf(OffpayError);
          expect((err as OffpayError).code).toBe(e.expect);
        }
        return;
      }
      const wav = readWav(bytes);
      expect(wav.sampleRate).toBe(e.sampleRate);
      if (e.samples !== undefined) expect(wav.samples.length).toBe(e.samples);
      const r = decode(wav.samples, wav.sampleRate);
      if (e.expect === 'no_frame') {
        expect(r.frames).toEqual([]);
        return;
      }
      const payload = new Uint8Array(readFileSync(join(dir, e.payloadFile!)));
      expect(Buffer.from(payload).toString('hex')).toBe(e.payloadHex);
      expect(createHash('sha256').update(payload).digest('hex')).toBe(e.payloadSha256);
      expect(r.messages.map((m) => Buffer.from(m).toString('hex'))).toEqual([e.payloadHex]);
      // The receiver's start estimate is within one sample of the true frame start.
      if (e.frameStart !== undefined) expect(Math.abs(r.frames[0]!.diagnostics.startSample - e.frameStart)).toBeLessThanOrEqual(1);
    });
  }
});
