import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { decode, readWav } from '../../codecs/fsk/index.js';
import { OffpayError } from '../../src/errors.js';

const dir = join(__dirname, '..', '..', 'fixtures', 'fsk');
interface Entry { file: string; kind: string; expect: string; payloadHex?: string; payloadSha256?: string; payloadFile?: string; sampleRate?: number }

describe('fixtures/fsk vectors', () => {
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
      const r = decode(wav.samples, wav.sampleRate);
      if (e.expect === 'no_frame') {
        expect(r.frames).toEqual([]);
        return;
      }
      const payload = new Uint8Array(readFileSync(join(dir, e.payloadFile!)));
      expect(Buffer.from(payload).toString('hex')).toBe(e.payloadHex);
      expect(createHash('sha256').update(payload).digest('hex')).toBe(e.payloadSha256);
      expect(r.messages.map((m) => Buffer.from(m).toString('hex'))).toEqual([e.payloadHex]);
    });
  }
});
