import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../src/cli/main.js';
import { via } from '../../src/cli/via/fsk.js';
import { makeRng } from '../../codecs/fsk/index.js';

function io() {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (s: string) => out.push(s), err: (s: string) => err.push(s) }, out, err };
}

describe('offpay fsk CLI', () => {
  const dir = mkdtempSync(join(tmpdir(), 'offpay-fsk-'));
  const payload = makeRng(77).bytes(200);
  writeFileSync(join(dir, 'p.bin'), payload);

  it('encode -> sim -> decode round trip with JSON diagnostics', async () => {
    const a = io();
    expect(await main(['fsk', 'encode', '--in', join(dir, 'p.bin'), '--out', join(dir, 'tx.wav'), '--profile', 'fast'], a.io)).toBe(0);
    const b = io();
    expect(await main(['fsk', 'sim', '--in', join(dir, 'tx.wav'), '--out', join(dir, 'rx.wav'), '--snr', '5', '--offset=-1', '--rate', '44100', '--seed', '3'], b.io)).toBe(0);
    const c = io();
    expect(await main(['fsk', 'decode', '--in', join(dir, 'rx.wav'), '--out', join(dir, 'out.bin'), '--json'], c.io)).toBe(0);
    expect(Buffer.from(readFileSync(join(dir, 'out.bin'))).equals(Buffer.from(payload))).toBe(true);
    const j = JSON.parse(c.out.join('')) as { ok: boolean; frames: { clockOffsetPpm: number; snrDb: number }[] };
    expect(j.ok).toBe(true);
    expect(Math.abs(j.frames[0]!.clockOffsetPpm + 10000)).toBeLessThan(500);
  });

  it('bad input exits 2 with a typed error', async () => {
    writeFileSync(join(dir, 'bad.wav'), new Uint8Array([1, 2, 3]));
    const a = io();
    expect(await main(['fsk', 'decode', '--in', join(dir, 'bad.wav'), '--json'], a.io)).toBe(2);
    expect(JSON.parse(a.out.join('')).error).toBe('fsk.wav_truncated');
    const b = io();
    expect(await main(['fsk', 'encode', '--in', join(dir, 'p.bin'), '--out', join(dir, 'x.wav'), '--profile', 'loud'], b.io)).toBe(2);
    const c = io();
    expect(await main(['fsk', 'sim', '--in', join(dir, 'tx.wav'), '--out', join(dir, 'y.wav'), '--snr', 'abc'], c.io)).toBe(2);
    const d = io();
    expect(await main(['fsk', 'encode', '--help'], d.io)).toBe(0);
  });

  it('Via writes token bytes as a WAV and reads them back', async () => {
    const msg = await via.write('token', payload, join(dir, 'token.wav'));
    expect(String(msg)).toContain('fast');
    expect(Buffer.from(await via.read('token', join(dir, 'token.wav'))).equals(Buffer.from(payload))).toBe(true);
    await expect(via.read('token', join(dir, 'bad.wav'))).rejects.toMatchObject({ code: 'fsk.wav_truncated' });
  });
});
