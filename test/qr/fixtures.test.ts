/** The committed fixtures/qr files agree with the reader, the payment code and Base45 decoders. */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { OffpayError } from '../../base/errors.js';
import { decodeCode } from '../../codecs/qr/engine.js';
import { loadQrEngineNode } from '../../codecs/qr/node.js';
import { base45Decode, base45Encode } from '../../codecs/qr/base45.js';
import { decodePaymentCode, encodePaymentCode } from '../../src/paycode.js';
import { fromHex, toHex, decodeToken, decodeRequest } from '../../src/index.js';

const dir = resolve(fileURLToPath(import.meta.url), '../../../fixtures/qr');
const json = (name: string): any => JSON.parse(readFileSync(join(dir, name), 'utf8')); // eslint-disable-line @typescript-eslint/no-explicit-any

beforeAll(() => loadQrEngineNode());

describe('fixtures/qr/manifest.json', () => {
  const manifest = json('manifest.json');
  it('has valid and invalid cases', () => {
    expect(manifest.cases.filter((c: { result: string }) => c.result === 'valid').length).toBeGreaterThanOrEqual(8);
    expect(manifest.cases.filter((c: { result: string }) => c.result === 'invalid').length).toBeGreaterThanOrEqual(10);
  });
  for (const c of manifest.cases) {
    it(`${c.file}: ${c.result}${c.error ? ` ${c.error}` : ''}`, async () => {
      const bytes = new Uint8Array(readFileSync(join(dir, c.file)));
      if (c.result === 'valid') {
        const d = await decodeCode(bytes, c.decode ?? {});
        expect(toHex(d.payload)).toBe(c.payloadHex);
        expect({ kind: d.kind, mode: d.mode, symbology: d.symbology }).toEqual({ kind: c.kind, mode: c.mode, symbology: c.symbology });
        // The payloads are real protocol messages.
        if (c.kind === 'token') expect(decodeToken(d.payload).payee).toBe(4201);
        else expect(decodeRequest(d.payload).amount).toBe(1250);
      } else {
        await expect(decodeCode(bytes, c.decode ?? {})).rejects.toMatchObject({ name: 'OffpayError', code: c.error });
      }
    });
  }
});

describe('fixtures/qr/paycode.json and base45.json', () => {
  it('payment code vectors', () => {
    const v = json('paycode.json');
    for (const c of v.valid) {
      const d = decodePaymentCode(c.display);
      expect({ payee: d.payee, amount: d.amount, challengeHex: toHex(d.challenge) }).toEqual({ payee: c.payee, amount: c.amount, challengeHex: c.challengeHex });
      expect(encodePaymentCode({ payee: c.payee, amount: c.amount, challenge: fromHex(c.challengeHex) })).toBe(c.code);
    }
    for (const t of v.typed) expect(decodePaymentCode(t.input), t.comment).toEqual(decodePaymentCode(t.code));
    expect(v.typed.length).toBeGreaterThanOrEqual(5);
    for (const c of v.invalid) {
      expect(() => decodePaymentCode(c.code)).toThrow(OffpayError);
      try {
        decodePaymentCode(c.code);
      } catch (e) {
        expect((e as OffpayError).code).toBe(c.error);
      }
    }
  });

  it('Base45 vectors', () => {
    const v = json('base45.json');
    for (const c of v.valid) {
      expect(base45Encode(fromHex(c.hex))).toBe(c.text);
      expect(toHex(base45Decode(c.text))).toBe(c.hex);
    }
    for (const c of v.invalid) expect(() => base45Decode(c.text)).toThrow(/Base45/);
  });
});
