import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCommand, type Io } from '../../src/cli/framework.js';
import { commands } from '../../src/cli/commands/qr.js';
import { via as qrVia } from '../../src/cli/via/qr.js';
import { via as codeVia } from '../../src/cli/via/code.js';
import { Issuer, createRequest, publicKeyOf, seededSecretKey } from '../../src/index.js';
import { decodePaymentCode, paymentCodeChallenge } from '../../src/paycode.js';
import { errorCode, payload200 } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'offpay-qr-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function cli(name: string, argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const cmd = commands.find((c) => c.name === name)!;
  let out = '';
  let err = '';
  const io: Io = { out: (s) => (out += s), err: (s) => (err += s) };
  const code = await runCommand(cmd, argv, io);
  return { code, out, err };
}

describe('offpay qr encode/decode', () => {
  it('round-trips a payload through PNG, in every symbology, with --json', async () => {
    const inFile = join(dir, 'p.bin');
    writeFileSync(inFile, payload200);
    for (const sym of ['qr', 'aztec', 'pdf417', 'datamatrix']) {
      const png = join(dir, `c-${sym}.png`);
      const e = await cli('qr encode', ['--in', inFile, '--out', png, '--symbology', sym, '--kind', 'request', '--json']);
      expect(e.code).toBe(0);
      expect(JSON.parse(e.out)).toMatchObject({ ok: true, kind: 'request', symbology: sym, format: 'png' });
      const back = join(dir, `back-${sym}.bin`);
      const d = await cli('qr decode', ['--in', png, '--out', back, '--json']);
      expect(d.code).toBe(0);
      expect(JSON.parse(d.out)).toMatchObject({ ok: true, kind: 'request', symbology: sym, bytes: 200 });
      expect(new Uint8Array(readFileSync(back))).toEqual(payload200);
    }
  });

  it('reports QR version 10-M for 200 bytes, writes SVG and terminal text', async () => {
    const inFile = join(dir, 'p.bin');
    const e = await cli('qr encode', ['--in', inFile, '--out', join(dir, 'c.png'), '--json']);
    expect(JSON.parse(e.out)).toMatchObject({ qrVersion: 10, ecc: 'M', mode: 'base45' });
    await cli('qr encode', ['--in', inFile, '--out', join(dir, 'c.svg')]);
    expect(readFileSync(join(dir, 'c.svg'), 'utf8')).toContain('<svg');
    await cli('qr encode', ['--in', inFile, '--out', join(dir, 'c.txt'), '--mode', 'binary']);
    expect(readFileSync(join(dir, 'c.txt'), 'utf8')).toMatch(/^[\u2588\u2580\u2584 \n]+$/);
  });

  it('exits 2 with a typed message on bad input', async () => {
    const notImage = join(dir, 'n.txt');
    writeFileSync(notImage, 'hello');
    const d = await cli('qr decode', ['--in', notImage, '--out', join(dir, 'x.bin')]);
    expect(d.code).toBe(2);
    expect(d.err).toContain('[qr.not_an_image]');
    const j = await cli('qr decode', ['--in', notImage, '--out', join(dir, 'x.bin'), '--json']);
    expect(JSON.parse(j.out)).toMatchObject({ ok: false, error: 'qr.not_an_image' });
    expect((await cli('qr encode', ['--in', join(dir, 'p.bin'), '--out', join(dir, 'y.png'), '--ecc', 'Z'])).code).toBe(2);
    expect((await cli('qr encode', ['--in', join(dir, 'p.bin')])).code).toBe(2);
    const big = join(dir, 'big.bin');
    writeFileSync(big, new Uint8Array(2500));
    const t = await cli('qr encode', ['--in', big, '--out', join(dir, 'big.png'), '--ecc', 'H']);
    expect(t.code).toBe(2);
    expect(t.err).toContain('[qr.too_large]');
  });
});

describe('Via modules', () => {
  it('qr: bytes <-> PNG with the expected kind', async () => {
    const file = join(dir, 'token.png');
    const note = await qrVia.write('token', payload200, file);
    expect(note).toContain('QR version 10-M');
    expect(await qrVia.read('token', file)).toEqual(payload200);
    expect(await errorCode(() => qrVia.read('request', file))).toBe('qr.wrong_kind');
  });

  it('code: a payment request <-> its 20-digit payment code', async () => {
    const NOW = 1_795_000_000;
    const issuer = Issuer.fromSecret(7, 1, seededSecretKey('qr-cli', 'issuer'), NOW - 86400, NOW + 86400 * 365);
    const rsk = seededSecretKey('qr-cli', 'reader');
    const cert = issuer.issueReaderCert(
      { readerId: 4201, readerPublicKey: publicKeyOf(rsk), operatorId: 90, profile: 'vending', notBefore: NOW - 86400, notAfter: NOW + 86400 },
      NOW,
    );
    const challenge = paymentCodeChallenge(() => Uint8Array.of(1, 2, 3));
    const { bytes } = createRequest({ secretKey: rsk, cert }, { amount: 1250, currency: 344, time: NOW, challenge });
    const file = join(dir, 'req.code');
    const note = await codeVia.write('request', bytes, file);
    expect(note).toMatch(/^payment code \d{4}( \d{4}){4}$/);
    const digits = new TextDecoder().decode(await codeVia.read('request', file));
    expect(digits).toMatch(/^\d{20}$/);
    expect(decodePaymentCode(digits)).toEqual({ payee: 4201, amount: 1250, challenge });
    expect(await errorCode(() => codeVia.read('token', file))).toBe('paycode.kind');
    // A request with a full 8-byte random challenge cannot be a payment code.
    const { bytes: full } = createRequest({ secretKey: rsk, cert }, { amount: 1250, currency: 344, time: NOW, challenge: new Uint8Array(8).fill(0xaa) });
    expect(await errorCode(() => codeVia.write('request', full, join(dir, 'full.code')))).toBe('paycode.range');
    writeFileSync(file, '1234 5678 9012 3456 7890\n');
    expect(await errorCode(() => codeVia.read('request', file))).toMatch(/^paycode\./);
  });
});
