import { describe, expect, it } from 'vitest';
import { codeOf } from './helpers.js';
import fc from 'fast-check';
import { OffpayError } from '../../base/errors.js';
import { BASE45_ALPHABET, base45Decode, base45Encode, base45Length } from '../../codecs/qr/base45.js';
import { hasOffpayPrefix, unwrap, wrap, wrapText } from '../../codecs/qr/payload.js';

const enc = new TextEncoder();
const code = codeOf;

describe('Base45 (RFC 9285)', () => {
  // RFC 9285 §4.3 and §4.4 examples.
  const vectors: [string, string][] = [
    ['AB', 'BB8'],
    ['Hello!!', '%69 VD92EX0'],
    ['base-45', 'UJCLQE7W581'],
    ['ietf!', 'QED8WEX0'],
  ];
  for (const [plain, b45] of vectors) {
    it(`encodes ${JSON.stringify(plain)} as ${JSON.stringify(b45)} and back`, () => {
      expect(base45Encode(enc.encode(plain))).toBe(b45);
      expect(new TextDecoder().decode(base45Decode(b45))).toBe(plain);
    });
  }

  it('handles empty input and the extremes of pairs and triples', () => {
    expect(base45Encode(new Uint8Array())).toBe('');
    expect(base45Decode('')).toEqual(new Uint8Array());
    expect(base45Encode(Uint8Array.of(0xff, 0xff))).toBe('FGW'); // 65535 = 15 + 45*36 + 2025*32
    expect(base45Decode('FGW')).toEqual(Uint8Array.of(0xff, 0xff));
    expect(base45Encode(Uint8Array.of(0xff))).toBe('U5'); // 255 = 30 + 45*5
  });

  it('rejects what RFC 9285 §6 says a decoder must reject', () => {
    expect(code(() => base45Decode('GGW'))).toBe('qr.bad_base45'); // 65536
    expect(code(() => base45Decode('::'))).toBe('qr.bad_base45'); // 44 + 45*44 > 255
    expect(code(() => base45Decode('A'))).toBe('qr.bad_base45'); // length 1 mod 3
    expect(code(() => base45Decode('ABCD'))).toBe('qr.bad_base45');
    expect(code(() => base45Decode('bb8'))).toBe('qr.bad_base45'); // lower case is not in the alphabet
    expect(code(() => base45Decode('BB#'))).toBe('qr.bad_base45');
    expect(code(() => base45Decode('BB\u00e9'))).toBe('qr.bad_base45');
  });

  it('round-trips any bytes and stays in the alphabet (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), (bytes) => {
        const text = base45Encode(bytes);
        expect(text.length).toBe(base45Length(bytes.length));
        for (const ch of text) expect(BASE45_ALPHABET.includes(ch)).toBe(true);
        expect(base45Decode(text)).toEqual(bytes);
      }),
      { seed: 45, numRuns: 500 },
    );
  });

  it('decodes random strings only to bytes or OffpayError qr.bad_base45 (property)', () => {
    const alphabetish = fc.string({ unit: fc.constantFrom(...(BASE45_ALPHABET + 'a#\u00e9\u{1F600}').split('')) });
    fc.assert(
      fc.property(fc.oneof(fc.string(), alphabetish), (s) => {
        try {
          const bytes = base45Decode(s);
          expect(base45Encode(bytes)).toBe(s); // decoding is injective: a valid text is canonical
        } catch (e) {
          expect(e).toBeInstanceOf(OffpayError);
          expect((e as OffpayError).code).toBe('qr.bad_base45');
        }
      }),
      { seed: 4545, numRuns: 2000 },
    );
  });
});

describe('offpay prefix', () => {
  const payload = Uint8Array.from({ length: 200 }, (_, i) => (i * 37 + 11) & 0xff);

  it('writes OP1T:/OP1R: + Base45, all in the QR alphanumeric set', () => {
    const t = wrapText('token', payload);
    expect(t.startsWith('OP1T:')).toBe(true);
    expect(wrapText('request', payload).startsWith('OP1R:')).toBe(true);
    for (const ch of t) expect(BASE45_ALPHABET.includes(ch)).toBe(true);
    expect(t.length).toBe(5 + 300);
  });

  it('round-trips both kinds in both modes', () => {
    for (const kind of ['token', 'request'] as const) {
      for (const mode of ['base45', 'binary'] as const) {
        const env = unwrap(wrap(kind, payload, mode), kind);
        expect(env).toEqual({ kind, version: 1, mode, payload });
      }
    }
    const bin = wrap('token', payload, 'binary');
    expect(new TextDecoder().decode(bin.subarray(0, 5))).toBe('OP1T=');
    expect(bin.length).toBe(205);
    expect(unwrap(wrapText('request', payload)).payload).toEqual(payload);
  });

  it('gives typed errors for foreign, damaged and unexpected content', () => {
    expect(code(() => unwrap('https://example.com/'))).toBe('qr.foreign_code');
    expect(code(() => unwrap('HC1:NCFOXN%TS3DH'))).toBe('qr.foreign_code');
    expect(code(() => unwrap(''))).toBe('qr.foreign_code');
    expect(code(() => unwrap('OP1X:BB8'))).toBe('qr.bad_prefix');
    expect(code(() => unwrap('OP1T/BB8'))).toBe('qr.bad_prefix');
    expect(code(() => unwrap('OP1'))).toBe('qr.bad_prefix');
    expect(code(() => unwrap('OP2T:BB8'))).toBe('qr.unsupported_version');
    expect(code(() => unwrap('OP1T:BB'))).toBe('qr.bad_base45');
    expect(code(() => unwrap('OP1T:bb8'))).toBe('qr.bad_base45');
    expect(code(() => unwrap('OP1T:'))).toBe('qr.empty_payload');
    expect(code(() => unwrap('OP1T='))).toBe('qr.empty_payload');
    expect(code(() => unwrap('OP1R:BB8', 'token'))).toBe('qr.wrong_kind');
    expect(code(() => wrap('token', new Uint8Array()))).toBe('qr.empty_payload');
    expect(code(() => wrap('token', new Uint8Array(5000)))).toBe('qr.too_large');
    expect(hasOffpayPrefix(enc.encode('OP1T:'))).toBe(true);
    expect(hasOffpayPrefix(enc.encode('OPEN SESAME'))).toBe(false);
  });

  it('never throws anything but OffpayError on random content (property)', () => {
    const near = fc
      .tuple(fc.constantFrom('OP1T:', 'OP1R:', 'OP1T=', 'OP1R=', 'OP1', 'OP9T:', 'OP1Q:', ''), fc.string())
      .map(([a, b]) => a + b);
    fc.assert(
      fc.property(fc.oneof(near, fc.string(), fc.uint8Array({ maxLength: 64 })), (c) => {
        try {
          const env = unwrap(c);
          expect(env.payload.length).toBeGreaterThan(0);
        } catch (e) {
          expect(e).toBeInstanceOf(OffpayError);
          expect((e as OffpayError).code).toMatch(/^qr\./);
        }
      }),
      { seed: 1, numRuns: 2000 },
    );
  });
});
