/**
 * Interop with Debian's zbar-tools (zbarimg) and qrencode: our PNGs decode with zbarimg to the same
 * content, and codes qrencode makes from our content decode with ours. CI installs both tools; there a
 * missing tool fails the test instead of skipping it.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeCode, encodeCode, type Ecc } from '../../codecs/qr/engine.js';
import { wrap } from '../../codecs/qr/payload.js';
import { loadQrEngineNode } from '../../codecs/qr/node.js';
import { payload200 } from './helpers.js';

function have(tool: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).status === 0;
}
const CI = process.env.CI === 'true';
const tools = { zbarimg: have('zbarimg'), qrencode: have('qrencode') };

describe('tools for interop', () => {
  it('zbarimg and qrencode are installed (required under CI=true)', () => {
    if (!CI && (!tools.zbarimg || !tools.qrencode)) {
      console.warn(`skipping qr interop: missing ${Object.entries(tools).filter(([, v]) => !v).map(([k]) => k).join(', ')} (apt-get install zbar-tools qrencode)`);
      return;
    }
    expect(tools).toEqual({ zbarimg: true, qrencode: true });
  });
});

const run = (tool: keyof typeof tools): typeof describe => (tools[tool] || CI ? describe : describe.skip) as typeof describe;

let dir = '';
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'offpay-qr-interop-'));
  await loadQrEngineNode();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const zbar = (file: string, binary: boolean): Buffer =>
  execFileSync('zbarimg', ['--raw', '-q', ...(binary ? ['-Sbinary'] : []), '-Sdisable', '-Sqrcode.enable', file], {
    stdio: ['ignore', 'pipe', 'ignore'],
  });

run('zbarimg')('zbarimg reads our codes', () => {
  for (const ecc of ['L', 'M', 'Q', 'H'] as Ecc[]) {
    for (const kind of ['token', 'request'] as const) {
      it(`base45 ${kind} at ECC ${ecc}: same text`, async () => {
        const code = await encodeCode(payload200, { kind, ecc });
        const file = join(dir, `b45-${kind}-${ecc}.png`);
        writeFileSync(file, code.png);
        // zbarimg prints text followed by a newline.
        expect(zbar(file, false).toString('latin1')).toBe(new TextDecoder().decode(code.content) + '\n');
      });
    }
  }
  it('binary mode (no ECI): same bytes with -Sbinary', async () => {
    const code = await encodeCode(payload200, { mode: 'binary' });
    const file = join(dir, 'bin.png');
    writeFileSync(file, code.png);
    expect(new Uint8Array(zbar(file, true))).toEqual(wrap('token', payload200, 'binary'));
  });
});

run('qrencode')('we read codes qrencode makes from our content', () => {
  for (const ecc of ['L', 'M', 'Q', 'H'] as Ecc[]) {
    it(`base45 text at ECC ${ecc}`, async () => {
      const content = new TextDecoder().decode(wrap('request', payload200));
      const file = join(dir, `qe-${ecc}.png`);
      execFileSync('qrencode', ['-l', ecc, '-s', '4', '-o', file, content]);
      const d = await decodeCode(new Uint8Array(readFileSync(file)));
      expect(d).toMatchObject({ kind: 'request', mode: 'base45', ecc });
      expect(d.payload).toEqual(payload200);
      if (ecc === 'M') expect(d.symbolVersion).toBe('10');
    });
  }
  it('binary content with qrencode -8', async () => {
    const raw = join(dir, 'raw.bin');
    const file = join(dir, 'qe-bin.png');
    writeFileSync(raw, wrap('token', payload200, 'binary'));
    execFileSync('qrencode', ['-8', '-l', 'M', '-s', '4', '-r', raw, '-o', file]);
    const d = await decodeCode(new Uint8Array(readFileSync(file)));
    expect(d).toMatchObject({ kind: 'token', mode: 'binary' });
    expect(d.payload).toEqual(payload200);
  });
});
