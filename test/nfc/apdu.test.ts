import { describe, expect, it } from 'vitest';
import { codeOf } from './helpers.js';
import fc from 'fast-check';
import {
  SW,
  chainCommand,
  encodeCommand,
  encodeResponse,
  getResponseCommand,
  parseCommand,
  parseResponse,
  selectCommand,
  swHex,
  type CommandApdu,
} from '../../codecs/nfc/apdu.js';

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s/g, ''), 'hex'));
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const cmd = (data: Uint8Array, ne: number, cla = 0x80): CommandApdu => ({ cla, ins: 0x10, p1: 1, p2: 2, data, ne });


describe('command APDU cases', () => {
  const d3 = Uint8Array.of(0xaa, 0xbb, 0xcc);
  const big = Uint8Array.from({ length: 300 }, (_, i) => i & 0xff);
  const vectors: Array<[string, CommandApdu, string, number, boolean]> = [
    ['1', cmd(new Uint8Array(0), 0), '80100102', 1, false],
    ['2s', cmd(new Uint8Array(0), 16), '8010010210', 2, false],
    ['2s Le=256', cmd(new Uint8Array(0), 256), '8010010200', 2, false],
    ['3s', cmd(d3, 0), '8010010203aabbcc', 3, false],
    ['4s', cmd(d3, 256), '8010010203aabbcc00', 4, false],
    ['2e', cmd(new Uint8Array(0), 300), '8010010200012c', 2, true],
    ['2e Le=65536', cmd(new Uint8Array(0), 65536), '80100102000000', 2, true],
    ['3e', cmd(big, 0), '8010010200012c' + toHex(big), 3, true],
    ['4e', cmd(big, 65536), '8010010200012c' + toHex(big) + '0000', 4, true],
  ];
  for (const [name, c, bytes, kase, ext] of vectors) {
    it(`case ${name}`, () => {
      const enc = encodeCommand(c);
      expect(toHex(enc)).toBe(bytes);
      const p = parseCommand(enc);
      expect(p).toMatchObject({ cla: c.cla, ins: c.ins, p1: c.p1, p2: c.p2, ne: c.ne, case: kase, extended: ext });
      expect(p.data).toEqual(c.data);
    });
  }

  it('forces the extended form on request', () => {
    expect(toHex(encodeCommand(cmd(d3, 256), { extended: true }))).toBe('801001020000' + '03aabbcc0100');
    expect(parseCommand(hex('801001020000' + '03aabbcc0100'))).toMatchObject({ ne: 256, extended: true, case: 4 });
  });

  it('handles the largest extended command (65 535 data bytes, Le 65 536)', () => {
    const data = Uint8Array.from({ length: 65535 }, (_, i) => i & 0xff);
    const enc = encodeCommand(cmd(data, 65536));
    expect(enc.length).toBe(4 + 3 + 65535 + 2);
    expect(toHex(enc.subarray(0, 7))).toBe('8010010200ffff');
    const p = parseCommand(enc);
    expect([p.case, p.extended, p.ne, p.data.length]).toEqual([4, true, 65536, 65535]);
  });

  it('encodes SELECT and GET RESPONSE as in the research trace', () => {
    expect(toHex(encodeCommand(selectCommand(hex('F0504159544F4B01'))))).toBe('00a4040008f0504159544f4b0100');
    expect(toHex(encodeCommand(getResponseCommand(0x2c)))).toBe('00c000002c');
  });

  const bad: Array<[string, string, string]> = [
    ['3 bytes', '00a404', 'apdu.too_short'],
    ['short Lc too big', '8010010205aabb', 'apdu.length_mismatch'],
    ['short Lc with 2 extra', '8010010201aabbcc', 'apdu.length_mismatch'],
    ['6-byte extended', '801001020000', 'apdu.length_mismatch'],
    ['extended Lc 0000 with data', '80100102000000aa', 'apdu.length_mismatch'],
    ['extended Lc mismatch', '80100102000003aabb', 'apdu.length_mismatch'],
  ];
  for (const [name, bytes, code] of bad) it(`rejects ${name}`, () => expect(codeOf(() => parseCommand(hex(bytes)))).toBe(code));

  it('refuses impossible commands', () => {
    expect(codeOf(() => encodeCommand(cmd(new Uint8Array(65536), 0)))).toBe('apdu.data_too_long');
    expect(codeOf(() => encodeCommand(cmd(d3, 65537)))).toBe('apdu.invalid_field');
    expect(codeOf(() => encodeCommand({ ...cmd(d3, 0), cla: 256 }))).toBe('apdu.invalid_field');
    expect(codeOf(() => selectCommand(new Uint8Array(4)))).toBe('apdu.invalid_field');
  });
});

describe('responses and status words', () => {
  it('round-trips data and SW', () => {
    const r = encodeResponse(Uint8Array.of(1, 2), 0x612c);
    expect(toHex(r)).toBe('0102612c');
    expect(parseResponse(r)).toEqual({ data: Uint8Array.of(1, 2), sw: 0x612c });
    expect(swHex(SW.FILE_NOT_FOUND)).toBe('6A82');
  });
  it('rejects a response under 2 bytes', () => {
    expect(codeOf(() => parseResponse(new Uint8Array(0)))).toBe('apdu.response_too_short');
    expect(codeOf(() => parseResponse(Uint8Array.of(0x90)))).toBe('apdu.response_too_short');
  });
});

describe('command chaining', () => {
  it('splits 600 bytes into 255+255+90 with CLA|0x10 on all but the last', () => {
    const data = Uint8Array.from({ length: 600 }, (_, i) => i & 0xff);
    const parts = chainCommand(cmd(data, 256));
    expect(parts.map((p) => [p.cla, p.data.length, p.ne])).toEqual([
      [0x90, 255, 0],
      [0x90, 255, 0],
      [0x80, 90, 256],
    ]);
    expect(Buffer.concat(parts.map((p) => p.data))).toEqual(Buffer.from(data));
    expect(parts.every((p) => encodeCommand(p).length <= 261)).toBe(true);
  });
  it('leaves short commands alone and rejects a pre-chained CLA', () => {
    const c = cmd(new Uint8Array(255), 256);
    expect(chainCommand(c)).toEqual([c]);
    expect(codeOf(() => chainCommand({ ...c, cla: 0x90 }))).toBe('apdu.invalid_field');
  });
});

describe('APDU properties (seeded)', () => {
  const apduArb = fc.record({
    cla: fc.integer({ min: 0, max: 255 }),
    ins: fc.integer({ min: 0, max: 255 }),
    p1: fc.integer({ min: 0, max: 255 }),
    p2: fc.integer({ min: 0, max: 255 }),
    data: fc.uint8Array({ maxLength: 700 }),
    ne: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 256 }), fc.integer({ min: 1, max: 65536 })),
  });
  it('encode then parse is the identity, short and extended', () => {
    fc.assert(
      fc.property(apduArb, fc.boolean(), (c, ext) => {
        const enc = encodeCommand(c, { extended: ext });
        const p = parseCommand(enc);
        expect({ cla: p.cla, ins: p.ins, p1: p.p1, p2: p.p2, ne: p.ne }).toEqual({ cla: c.cla, ins: c.ins, p1: c.p1, p2: c.p2, ne: c.ne });
        expect(p.data).toEqual(c.data);
        expect(toHex(encodeCommand(p, { extended: p.extended }))).toBe(toHex(enc));
      }),
      { seed: 7816, numRuns: 500 },
    );
  });
  it('random bytes parse or raise apdu.*', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (b) => {
        const c = codeOf(() => parseCommand(b));
        expect(c === 'ok' || c.startsWith('apdu.')).toBe(true);
      }),
      { seed: 7817, numRuns: 3000 },
    );
  });
});
