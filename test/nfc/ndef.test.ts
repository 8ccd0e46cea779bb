import { describe, expect, it } from 'vitest';
import { codeOf } from './helpers.js';
import fc from 'fast-check';
import {
  TNF,
  OFFPAY_NDEF_TYPE,
  decodeNdefMessage,
  decodeTokenNdef,
  encodeNdefMessage,
  encodeTokenNdef,
  ndefRecord,
  parseNdefRecords,
  type NdefRecord,
} from '../../codecs/nfc/ndef.js';

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/[\s|]/g, ''), 'hex'));
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const text = (b: Uint8Array): string => Buffer.from(b).toString('utf8');


describe('NDEF hand vectors (nfcpy/ndeflib docs)', () => {
  it('decodes two well-known records, the second with an ID', () => {
    const recs = decodeNdefMessage(hex('9103034142436162635903030144454630646566'));
    expect(recs).toHaveLength(2);
    expect(recs.map((r) => [r.tnf, text(r.type), text(r.id), text(r.payload)])).toEqual([
      [TNF.WELL_KNOWN, 'ABC', '', 'abc'],
      [TNF.WELL_KNOWN, 'DEF', '0', 'def'],
    ]);
  });

  it('encodes records with IDs "1" and "2" exactly as ndeflib does', () => {
    const msg = encodeNdefMessage([
      ndefRecord(TNF.WELL_KNOWN, 'ABC', Buffer.from('abc'), '1'),
      ndefRecord(TNF.WELL_KNOWN, 'DEF', Buffer.from('def'), '2'),
    ]);
    expect(toHex(msg)).toBe('99030301414243316162635903030144454632646566');
  });

  it('encodes UriRecord("http://www.example.com")', () => {
    const payload = Uint8Array.from([0x01, ...Buffer.from('example.com')]);
    expect(toHex(encodeNdefMessage([ndefRecord(TNF.WELL_KNOWN, 'U', payload)]))).toBe('d1010c55016578616d706c652e636f6d');
  });

  it('encodes an empty message as one empty record', () => {
    expect(toHex(encodeNdefMessage([]))).toBe('d00000');
    expect(decodeNdefMessage(hex('d00000'))).toEqual([{ tnf: 0, type: new Uint8Array(0), id: new Uint8Array(0), payload: new Uint8Array(0) }]);
  });

  it('uses SR up to 255 payload bytes and a 4-byte length from 256', () => {
    const m255 = encodeNdefMessage([ndefRecord(TNF.MEDIA, 'application/cbor', new Uint8Array(255))]);
    expect(toHex(m255.subarray(0, 3))).toBe('d210ff');
    const m300 = encodeNdefMessage([ndefRecord(TNF.MEDIA, 'application/cbor', new Uint8Array(300))]);
    expect(toHex(m300.subarray(0, 6))).toBe('c2100000012c');
    expect(decodeNdefMessage(m300)[0]!.payload).toHaveLength(300);
  });

  it('accepts a long-form record with a small payload (legal, just not minimal)', () => {
    const recs = decodeNdefMessage(hex('c10100000001 55 00'));
    expect(recs[0]!.payload).toEqual(Uint8Array.of(0));
  });
});

describe('NDEF chunking', () => {
  it('reassembles a three-chunk record', () => {
    // first chunk: MB|CF|SR, TNF 2 'text/plain' ID 'x'; then TNF 6 chunks
    const msg = hex(
      'ba 0a 02 01' + Buffer.from('text/plain').toString('hex') + '78' + '6162' +
        '36 00 02 6364' +
        '56 00 01 65',
    );
    const phys = parseNdefRecords(msg);
    expect(phys.map((p) => [p.tnf, p.cf, p.mb, p.me])).toEqual([
      [2, true, true, false],
      [6, true, false, false],
      [6, false, false, true],
    ]);
    const recs = decodeNdefMessage(msg);
    expect(recs).toHaveLength(1);
    expect(text(recs[0]!.type)).toBe('text/plain');
    expect(text(recs[0]!.id)).toBe('x');
    expect(text(recs[0]!.payload)).toBe('abcde');
  });

  it('chunks on request and decodes back to the same logical records', () => {
    const recs = [ndefRecord(TNF.EXTERNAL, OFFPAY_NDEF_TYPE, Uint8Array.from({ length: 300 }, (_, i) => i & 0xff), 'id'), ndefRecord(TNF.UNKNOWN, '', Uint8Array.of(1, 2, 3))];
    const msg = encodeNdefMessage(recs, { chunkSize: 100 });
    expect(parseNdefRecords(msg)).toHaveLength(4);
    expect(decodeNdefMessage(msg)).toEqual(recs);
  });
});

describe('NDEF validation', () => {
  const cases: Array<[string, string, string]> = [
    ['empty input', '', 'ndef.empty'],
    ['header only', 'd1', 'ndef.truncated'],
    ['payload truncated', 'd1010c55016578616d706c65', 'ndef.truncated'],
    ['long length truncated', 'c10100', 'ndef.truncated'],
    ['TNF 7', 'd70000', 'ndef.reserved_tnf'],
    ['first record without MB', '510100 55', 'ndef.no_mb'],
    ['MB in the middle', '910100 55 d10100 55', 'ndef.mb_in_middle'],
    ['no ME', '910100 55', 'ndef.no_me'],
    ['bytes after ME', 'd10100 55 00', 'ndef.trailing_bytes'],
    ['ME with CF', 'f10100 55', 'ndef.chunk_unterminated'],
    ['TNF 0 with type', 'd00100 55', 'ndef.type_length'],
    ['TNF 0 with payload', 'd0000100', 'ndef.empty_record'],
    ['TNF 0 with id', 'd8000001 41', 'ndef.empty_record'],
    ['TNF 5 with type', 'd50100 55', 'ndef.type_length'],
    ['TNF 1 without type', 'd1000100', 'ndef.type_length'],
    ['TNF 4 without type', 'd4000100', 'ndef.type_length'],
    ['TNF 6 alone', 'd60000', 'ndef.unexpected_unchanged'],
    ['TNF 6 with type', 'b1010155 41 56010141 42', 'ndef.type_length'],
    ['continuation not TNF 6', 'b1010155 41 51010142 42', 'ndef.chunk_sequence'],
    ['continuation with ID', 'b1010155 41 5e00010143 42', 'ndef.chunk_sequence'],
  ];
  for (const [name, bytes, code] of cases) {
    it(`${name} -> ${code}`, () => expect(codeOf(() => decodeNdefMessage(hex(bytes)))).toBe(code));
  }

  it('caps reassembled payload size and record count', () => {
    const msg = encodeNdefMessage([ndefRecord(TNF.UNKNOWN, '', new Uint8Array(50))], { chunkSize: 10 });
    expect(codeOf(() => decodeNdefMessage(msg, { maxPayload: 49 }))).toBe('ndef.payload_too_long');
    expect(decodeNdefMessage(msg, { maxPayload: 50 })).toHaveLength(1);
    const many = encodeNdefMessage(Array.from({ length: 5 }, () => ndefRecord(TNF.UNKNOWN, '', new Uint8Array(0))));
    expect(codeOf(() => decodeNdefMessage(many, { maxRecords: 4 }))).toBe('ndef.too_many_records');
  });

  it('refuses to encode impossible records', () => {
    expect(codeOf(() => encodeNdefMessage([ndefRecord(7, 'a', new Uint8Array(0))]))).toBe('ndef.invalid_tnf');
    expect(codeOf(() => encodeNdefMessage([ndefRecord(TNF.UNCHANGED, '', new Uint8Array(1))]))).toBe('ndef.invalid_tnf');
    expect(codeOf(() => encodeNdefMessage([ndefRecord(TNF.EXTERNAL, '', new Uint8Array(1))]))).toBe('ndef.type_length');
    expect(codeOf(() => encodeNdefMessage([ndefRecord(TNF.EMPTY, '', new Uint8Array(1))]))).toBe('ndef.empty_record');
    expect(codeOf(() => encodeNdefMessage([ndefRecord(TNF.MEDIA, new Uint8Array(256), new Uint8Array(1))]))).toBe('ndef.type_too_long');
    expect(codeOf(() => encodeNdefMessage([ndefRecord(TNF.MEDIA, 'a/b', new Uint8Array(1))], { chunkSize: 0 }))).toBe('ndef.bad_option');
  });
});

describe('offpay token record', () => {
  it('is an external type, short record, no ID, MB=ME', () => {
    const token = Uint8Array.from({ length: 200 }, (_, i) => (i * 7) & 0xff);
    const msg = encodeTokenNdef(token);
    expect(toHex(msg.subarray(0, 3))).toBe('d410c8');
    expect(text(msg.subarray(3, 3 + 16))).toBe('offpay.dev:token');
    expect(msg).toHaveLength(3 + 16 + 200);
    expect(decodeTokenNdef(msg)).toEqual(token);
  });

  it('finds the record after others and matches the type case-insensitively', () => {
    const token = Uint8Array.of(1, 2, 3);
    const msg = encodeNdefMessage([
      ndefRecord(TNF.EXTERNAL, 'android.com:pkg', Buffer.from('dev.offpay')),
      ndefRecord(TNF.EXTERNAL, 'OffPay.Dev:Token', token),
    ]);
    expect(decodeTokenNdef(msg)).toEqual(token);
  });

  it('rejects messages without a token record or with an empty one', () => {
    expect(codeOf(() => decodeTokenNdef(hex('d00000')))).toBe('ndef.no_token_record');
    expect(codeOf(() => decodeTokenNdef(encodeNdefMessage([ndefRecord(TNF.MEDIA, 'offpay.dev:token', Uint8Array.of(1))])))).toBe(
      'ndef.no_token_record',
    );
    expect(codeOf(() => decodeTokenNdef(encodeNdefMessage([ndefRecord(TNF.EXTERNAL, OFFPAY_NDEF_TYPE, new Uint8Array(0))])))).toBe(
      'ndef.empty_token',
    );
    expect(codeOf(() => encodeTokenNdef(new Uint8Array(0)))).toBe('ndef.empty_token');
  });
});

const bytesArb = (max: number) => fc.uint8Array({ maxLength: max });
const recordArb: fc.Arbitrary<NdefRecord> = fc.oneof(
  fc.constant(ndefRecord(TNF.EMPTY, '', new Uint8Array(0))),
  fc.record({
    tnf: fc.integer({ min: 1, max: 4 }),
    type: fc.uint8Array({ minLength: 1, maxLength: 40 }),
    id: bytesArb(8),
    payload: bytesArb(600),
  }),
  fc.record({ tnf: fc.constant(TNF.UNKNOWN), type: fc.constant(new Uint8Array(0)), id: bytesArb(8), payload: bytesArb(300) }),
);

describe('NDEF properties (seeded)', () => {
  it('round-trips any valid record list, chunked or not', () => {
    fc.assert(
      fc.property(fc.array(recordArb, { minLength: 1, maxLength: 6 }), fc.option(fc.integer({ min: 1, max: 300 }), { nil: undefined }), (recs, chunkSize) => {
        const msg = encodeNdefMessage(recs, chunkSize === undefined ? {} : { chunkSize });
        expect(decodeNdefMessage(msg)).toEqual(recs);
      }),
      { seed: 0x0ff9a7, numRuns: 300 },
    );
  });

  it('random bytes either decode or raise an OffpayError ndef.*', () => {
    fc.assert(
      fc.property(bytesArb(64), (b) => {
        const c = codeOf(() => decodeNdefMessage(b));
        expect(c === 'ok' || c.startsWith('ndef.')).toBe(true);
      }),
      { seed: 61, numRuns: 3000 },
    );
  });

  it('mutated valid messages either decode to re-encodable records or raise ndef.*', () => {
    fc.assert(
      fc.property(fc.array(recordArb, { minLength: 1, maxLength: 3 }), fc.nat(), fc.integer({ min: 0, max: 255 }), fc.nat(), (recs, at, v, cut) => {
        const msg = encodeNdefMessage(recs, { chunkSize: 50 }).slice();
        msg[at % msg.length] = v;
        const truncated = msg.subarray(0, msg.length - (cut % 3));
        for (const m of [msg, truncated]) {
          let out: NdefRecord[] | undefined;
          const c = codeOf(() => (out = decodeNdefMessage(m)));
          expect(c === 'ok' || c.startsWith('ndef.')).toBe(true);
          if (out) expect(decodeNdefMessage(encodeNdefMessage(out))).toEqual(out);
        }
      }),
      { seed: 62, numRuns: 1000 },
    );
  });
});
