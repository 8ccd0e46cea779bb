import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeCbor, encodeCbor, type CborValue } from '../../src/cbor.js';
import { OffpayError } from '../../src/errors.js';

const hex = (s: string) => Uint8Array.from(Buffer.from(s, 'hex'));
const toHex = (b: Uint8Array) => Buffer.from(b).toString('hex');

const cborValue: fc.Arbitrary<CborValue> = fc.letrec<{ v: CborValue }>((tie) => ({
  v: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.integer({ min: -(2 ** 40), max: 2 ** 40 }),
    fc.maxSafeNat(),
    fc.bigInt({ min: 2n ** 53n, max: 2n ** 64n - 1n }),
    fc.uint8Array({ maxLength: 80 }),
    fc.string({ maxLength: 20 }),
    fc.constant(null),
    fc.boolean(),
    fc.array(tie('v'), { maxLength: 6 }),
  ),
})).v;

describe('deterministic CBOR', () => {
  it('encodes integers in the shortest form (RFC 8949 Appendix A examples)', () => {
    const cases: [CborValue, string][] = [
      [0, '00'], [23, '17'], [24, '1818'], [255, '18ff'], [256, '190100'], [65535, '19ffff'], [65536, '1a00010000'],
      [4294967295, '1affffffff'], [4294967296, '1b0000000100000000'], [-1, '20'], [-24, '37'], [-25, '3818'],
      [18446744073709551615n, '1bffffffffffffffff'], [new Uint8Array([1, 2, 3, 4]), '4401020304'], ['a', '6161'], [[1, [2, 3]], '8201820203'],
      [null, 'f6'], [true, 'f5'],
    ];
    for (const [v, h] of cases) expect(toHex(encodeCbor(v))).toBe(h);
  });

  it('round-trips every value of its data model', () => {
    fc.assert(
      fc.property(cborValue, (v) => {
        const b = encodeCbor(v);
        expect(toHex(encodeCbor(decodeCbor(b)))).toBe(toHex(b));
      }),
      { numRuns: 500 },
    );
  });

  it.each([
    ['non-shortest integer', '1a0000000a', 'cbor.non_canonical'],
    ['non-shortest array length', '98020102', 'cbor.non_canonical'],
    ['indefinite-length array', '9f0102ff', 'cbor.non_canonical'],
    ['non-shortest byte string length', '58020102', 'cbor.non_canonical'],
    ['indefinite-length byte string', '5f420102ff', 'cbor.non_canonical'],
    ['float standing for an integer', 'f93c00', 'cbor.non_canonical'],
    ['float64 standing for an integer', 'fb3ff0000000000000', 'cbor.non_canonical'],
    ['trailing byte', '0100', 'cbor.malformed'],
    ['truncated', '8201', 'cbor.malformed'],
    ['lone break', 'ff', 'cbor.malformed'],
    ['map', 'a10102', 'cbor.unsupported'],
    ['empty', '', 'cbor.empty'],
    ['a real fraction', 'f93e00', 'cbor.non_canonical'],
  ])('rejects %s', (_name, h, code) => {
    expect(() => decodeCbor(hex(h))).toThrow(expect.objectContaining({ code }));
  });

  it('refuses input above the size limit and deep nesting before parsing', () => {
    expect(() => decodeCbor(new Uint8Array(70_000))).toThrow(expect.objectContaining({ code: 'cbor.too_large' }));
    expect(() => decodeCbor(new Uint8Array(1000).fill(0x81))).toThrow(expect.objectContaining({ code: 'cbor.too_deep' }));
  });

  it('random bytes give a value or an OffpayError, never another exception', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (b) => {
        try {
          decodeCbor(b);
        } catch (e) {
          expect(e).toBeInstanceOf(OffpayError);
        }
      }),
      { numRuns: 3000 },
    );
  });
});
