import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { commands } from '../../src/cli/commands/nfc.js';
import { OFFPAY_NDEF_TYPE } from '../../codecs/nfc/ndef.js';
import { runCli as run } from './helpers.js';

describe('offpay nfc ndef', () => {
  const dir = mkdtempSync(join(tmpdir(), 'offpay-nfc-cli-'));
  const token = Uint8Array.from({ length: 210 }, (_, i) => (i * 13) & 0xff);
  writeFileSync(join(dir, 'token.cbor'), token);

  it('encodes a token as one external-type record and decodes it back', async () => {
    const e = await run(commands, 'nfc ndef encode', ['--in', join(dir, 'token.cbor'), '--out', join(dir, 'msg.ndef'), '--json']);
    expect(e.code).toBe(0);
    expect(JSON.parse(e.out)).toMatchObject({ ok: true, bytes: 3 + 16 + 210, type: OFFPAY_NDEF_TYPE });
    const msg = readFileSync(join(dir, 'msg.ndef'));
    expect(msg.subarray(0, 3).toString('hex')).toBe('d410d2');
    const d = await run(commands, 'nfc ndef decode', ['--in', join(dir, 'msg.ndef'), '--out', join(dir, 'back.cbor')]);
    expect(d.code).toBe(0);
    expect(new Uint8Array(readFileSync(join(dir, 'back.cbor')))).toEqual(token);
  });

  it('writes chunked messages on request and reads them back', async () => {
    expect((await run(commands, 'nfc ndef encode', ['--in', join(dir, 'token.cbor'), '--out', join(dir, 'chunked.ndef'), '--chunk', '64'])).code).toBe(0);
    const d = await run(commands, 'nfc ndef decode', ['--in', join(dir, 'chunked.ndef'), '--json']);
    const j = JSON.parse(d.out);
    expect(j.records).toHaveLength(4);
    expect(j.token).toBe(Buffer.from(token).toString('hex'));
  });

  it('exits 2 with a typed code on malformed or foreign messages, and on bad usage', async () => {
    writeFileSync(join(dir, 'bad.ndef'), Buffer.from('d1010c55016578616d', 'hex'));
    const bad = await run(commands, 'nfc ndef decode', ['--in', join(dir, 'bad.ndef')]);
    expect(bad.code).toBe(2);
    expect(bad.err).toContain('[ndef.truncated]');
    writeFileSync(join(dir, 'uri.ndef'), Buffer.from('d1010c55016578616d706c652e636f6d', 'hex'));
    const foreign = await run(commands, 'nfc ndef decode', ['--in', join(dir, 'uri.ndef'), '--json']);
    expect(foreign.code).toBe(2);
    expect(JSON.parse(foreign.out)).toMatchObject({ ok: false, error: 'ndef.no_token_record' });
    expect((await run(commands, 'nfc ndef encode', ['--in', join(dir, 'token.cbor')])).code).toBe(2);
    expect((await run(commands, 'nfc ndef encode', ['--in', join(dir, 'token.cbor'), '--out', join(dir, 'x'), '--chunk', '0'])).code).toBe(2);
    expect((await run(commands, 'nfc ndef decode', ['--in', join(dir, 'missing.ndef')])).code).toBe(2);
    const help = await run(commands, 'nfc ndef encode', ['--help']);
    expect(help.code).toBe(0);
    expect(help.out).toContain('--out MSG');
  });
});
