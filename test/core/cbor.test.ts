import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { cborItemEnd, decodeCbor, encodeCbor, uintLength, writeUint, type CborValue } from '../../src/cbor.js';
import { decodeCborReference, encodeCborX } from './cbor-reference.js';
import { OffpayError } from '../../base/errors.js';

const hex = (s: string) => Uint8Array.from(Buffer.from(s, 'hex'));
const toHex = (b: Uint8Array) => Buffer.from(b).toString('hex');

const cborValue: fc.Arbitrary<CborValue> = fc.letrec<{ v: CborValue }>((tie) => ({
  v: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.integer({ min: -(2 ** 40), max: 2 ** 40 }),
    fc.maxSafeNat(),
    fc.bigInt({ min: 2n ** 53n, max: 2n ** 64n - 1n }),
    fc.uint8Array({ maxLength: 80 }),
    fc.array(tie('v'), { maxLength: 6 }),
  ),
})).v;

describe('deterministic CBOR', () => {
  it('encodes integers in the shortest form (RFC 8949 Appendix A examples)', () => {
    const cases: [CborValue, string][] = [
      [0, '00'], [23, '17'], [24, '1818'], [255, '18ff'], [256, '190100'], [65535, '19ffff'], [65536, '1a00010000'],
      [4294967295, '1affffffff'], [4294967296, '1b0000000100000000'], [-1, '20'], [-24, '37'], [-25, '3818'],
      [18446744073709551615n, '1bffffffffffffffff'], [new Uint8Array([1, 2, 3, 4]), '4401020304'], [[1, [2, 3]], '8201820203'],
    ];
    for (const [v, h] of cases) expect(toHex(encodeCbor(v))).toBe(h);
  });

  it('writeUint and uintLength give encodeCbor\'s bytes for every unsigned integer up to 2^53 - 1, each head width and its edges', () => {
    const edges = [0, 23, 24, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1];
    const check = (n: number) => {
      const out = new Uint8Array(12).fill(0xaa);
      const end = writeUint(out, 2, n);
      expect(end - 2).toBe(uintLength(n));
      expect(toHex(out.subarray(2, end))).toBe(toHex(encodeCbor(n)));
      expect(out[1]).toBe(0xaa); // nothing written outside its place
      expect(out[end]).toBe(0xaa);
    };
    for (const n of edges) check(n);
    fc.assert(fc.property(fc.oneof(fc.nat(70_000), fc.nat(), fc.maxSafeNat()), check), { numRuns: 2000, seed: 53 });
  });

  it('writes the same bytes as cbor-x (the independent encoder) for every value, negative integers, text, booleans and null included', () => {
    const wider: fc.Arbitrary<CborValue> = fc.letrec<{ v: CborValue }>((tie) => ({
      v: fc.oneof(
        { depthSize: 'small', withCrossShrink: true },
        fc.integer({ min: -(2 ** 40), max: 2 ** 40 }),
        fc.maxSafeInteger(),
        fc.bigInt({ min: -(2n ** 64n) + 1n, max: 2n ** 64n - 1n }),
        fc.uint8Array({ maxLength: 300 }),
        fc.string({ unit: 'grapheme', maxLength: 40 }),
        fc.boolean(),
        fc.constant(null),
        fc.array(tie('v'), { maxLength: 30 }),
      ),
    })).v;
    fc.assert(
      fc.property(wider, (v) => {
        expect(toHex(encodeCbor(v))).toBe(toHex(encodeCborX(v)));
      }),
      { numRuns: 2000 },
    );
    for (const v of [0x1_0000_0000, -0x1_0000_0000, -0x1_0000_0001, 2 ** 53 - 1, -(2 ** 53) + 1, 2n ** 64n - 1n, -(2n ** 64n) + 1n]) {
      expect(toHex(encodeCbor(v))).toBe(toHex(encodeCborX(v)));
    }
    // -2^64 is a plain major-1 head (cbor-x writes a tag-3 bignum instead, which offpay's data model has not).
    expect(toHex(encodeCbor(-(2n ** 64n)))).toBe('3bffffffffffffffff');
    expect(() => encodeCbor(2n ** 64n)).toThrow(/64-bit range/);
    expect(() => encodeCbor(-(2n ** 64n) - 1n)).toThrow(/64-bit range/);
    expect(() => encodeCbor(1.5)).toThrow(/non-integer/);
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
    ['trailing byte', '0100', 'cbor.malformed'],
    ['truncated', '8201', 'cbor.malformed'],
    ['lone break', 'ff', 'cbor.malformed'],
    ['map', 'a10102', 'cbor.unsupported'],
    ['tag 1', 'c100', 'cbor.unsupported'],
    ['empty', '', 'cbor.empty'],
    ['reserved additional information 28', '1c', 'cbor.malformed'],
    ['integer with additional information 31', '1f', 'cbor.malformed'],
    ['reserved simple-value information 28', 'fc', 'cbor.malformed'],
    // §3.4 (a): text strings are not in the data model, whatever their bytes (so UTF-8 is never examined)
    ['a text string', '6161', 'cbor.unsupported'],
    ['a text string of invalid UTF-8', '62c328', 'cbor.unsupported'],
    ['an indefinite-length text string', '7f6161ff', 'cbor.unsupported'],
    ['false', 'f4', 'cbor.unsupported'],
    ['true', 'f5', 'cbor.unsupported'],
    ['null', 'f6', 'cbor.unsupported'],
    ['undefined', 'f7', 'cbor.unsupported'],
    ['simple value 32 (f8 20)', 'f820', 'cbor.unsupported'],
    // §3.4 (a): every float is non_canonical, decided by its initial byte alone
    ['float16 1.0 (integral)', 'f93c00', 'cbor.non_canonical'],
    ['float16 1.5 (not integral)', 'f93e00', 'cbor.non_canonical'],
    ['float16 NaN', 'f97e00', 'cbor.non_canonical'],
    ['float16 -0.0', 'f98000', 'cbor.non_canonical'],
    ['float16 +infinity', 'f97c00', 'cbor.non_canonical'],
    ['float32 1250.0 (integral)', 'fa449c4000', 'cbor.non_canonical'],
    ['float32 1.1 (not integral)', 'fa3f8ccccd', 'cbor.non_canonical'],
    ['float32 NaN', 'fa7fc00000', 'cbor.non_canonical'],
    ['float32 -0.0', 'fa80000000', 'cbor.non_canonical'],
    ['float64 1.0 (integral)', 'fb3ff0000000000000', 'cbor.non_canonical'],
    ['float64 1.1 (not integral)', 'fb3ff199999999999a', 'cbor.non_canonical'],
    ['float64 NaN', 'fb7ff8000000000000', 'cbor.non_canonical'],
    ['float64 -0.0', 'fb8000000000000000', 'cbor.non_canonical'],
    ['float16 cut short (its initial byte decides)', 'f93c', 'cbor.non_canonical'],
    // §3.4 precedence: the first irregular head in reading order decides
    ['non-shortest array head, then a map', '9801a10102', 'cbor.non_canonical'],
    ['non-shortest array head, then a tag', '9801c100', 'cbor.non_canonical'],
    ['non-shortest array head, then truncation', '980201', 'cbor.non_canonical'],
    ['non-shortest head cut short (19 00)', '1900', 'cbor.malformed'],
    ['a map, then a non-shortest integer', '82a0180a', 'cbor.unsupported'],
    ['non-shortest integer, then a text string', '82180a6161', 'cbor.non_canonical'],
    ['an array of more elements than bytes left, with a non-shortest element', '8a180a', 'cbor.malformed'],
    ['a byte string longer than the input', '4401', 'cbor.malformed'],
    ['a valid item, then a map (trailing)', '01a0', 'cbor.malformed'],
  ])('rejects %s', (_name, h, code) => {
    expect(() => decodeCbor(hex(h))).toThrow(expect.objectContaining({ code }));
  });

  it('counts nesting levels from the top-level array: 16 nested arrays decode, 17 are too deep', () => {
    const nested = (levels: number) => Uint8Array.from([...new Array<number>(levels - 1).fill(0x81), 0x80]);
    expect(() => decodeCbor(nested(16))).not.toThrow();
    expect(() => decodeCbor(nested(17))).toThrow(expect.objectContaining({ code: 'cbor.too_deep' }));
    // the depth check comes after the head's own checks: a non-shortest 17th array head is non_canonical
    expect(() => decodeCbor(Uint8Array.from([...new Array<number>(16).fill(0x81), 0x98, 0x00]))).toThrow(expect.objectContaining({ code: 'cbor.non_canonical' }));
  });

  it('refuses input above the size limit and deep nesting before parsing', () => {
    expect(() => decodeCbor(new Uint8Array(70_000))).toThrow(expect.objectContaining({ code: 'cbor.too_large' }));
    expect(() => decodeCbor(new Uint8Array(1000).fill(0x81))).toThrow(expect.objectContaining({ code: 'cbor.too_deep' }));
    expect(() => decodeCbor(Uint8Array.from([0x5a, 0x00, 0x01, 0x00, 0x00, ...new Uint8Array(65536)]))).toThrow(expect.objectContaining({ code: 'cbor.too_large' }));
    expect(decodeCbor(Uint8Array.from([0x59, 0xff, 0xfb, ...new Uint8Array(65531)]))).toHaveLength(65531);
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

/**
 * The outcome of a decoder on some bytes: its value re-encoded, or "error". Error codes are the single-pass
 * parser's to decide (spec/protocol.md §3.4); the reference method must accept and refuse the same inputs of the
 * data model. Values outside it (text, null, booleans), which only the reference accepts, count as errors.
 */
function outcome(decode: (b: Uint8Array) => CborValue, b: Uint8Array): string {
  try {
    const v = decode(b);
    return inModel(v) ? `ok ${toHex(encodeCbor(v))}` : 'error';
  } catch (e) {
    expect(e).toBeInstanceOf(OffpayError);
    return 'error';
  }
}

function inModel(v: CborValue): boolean {
  if (Array.isArray(v)) return v.every(inModel);
  return typeof v === 'number' || typeof v === 'bigint' || v instanceof Uint8Array;
}

/** Random CBOR heads of every width and argument, canonical or not, with random payload bytes. */
const cborish: fc.Arbitrary<Uint8Array> = fc
  .array(
    fc.tuple(fc.integer({ min: 0, max: 7 }), fc.constantFrom(0, 1, 5, 23, 24, 25, 26, 27, 28, 31), fc.uint8Array({ minLength: 8, maxLength: 8 }), fc.nat(3)),
    { minLength: 1, maxLength: 12 },
  )
  .map((heads) => {
    const out: number[] = [];
    for (const [major, ai, arg, extra] of heads) {
      out.push((major << 5) | ai);
      const w = ai >= 24 && ai <= 27 ? 1 << (ai - 24) : 0;
      // Small arguments mostly, so that lengths stay inside the input and parsing goes deep.
      for (let i = 0; i < w; i++) out.push(i === w - 1 ? arg[i]! & 0x3f : arg[i]! & (extra === 0 ? 0xff : 0));
    }
    return Uint8Array.from(out);
  });

describe('decodeCbor and the reference method (decode, re-encode, compare) accept the same inputs', () => {
  it('on the encoding of every value of the data model, and on it mutated, truncated or extended', () => {
    fc.assert(
      fc.property(cborValue, fc.nat(), fc.integer({ min: 0, max: 255 }), fc.constantFrom('same', 'flip', 'truncate', 'append', 'insert'), (v, at, byte, how) => {
        let b = encodeCbor(v);
        const i = at % b.length;
        if (how === 'flip') b[i] = byte;
        else if (how === 'truncate') b = b.slice(0, i);
        else if (how === 'append') b = Uint8Array.from([...b, byte]);
        else if (how === 'insert') b = Uint8Array.from([...b.slice(0, i), byte, ...b.slice(i)]);
        expect(outcome(decodeCbor, b)).toBe(outcome(decodeCborReference, b));
      }),
      { numRuns: 4000 },
    );
  });

  it('on random heads of every width (shortest or not, definite or not) and on random bytes', () => {
    fc.assert(
      fc.property(cborish, (b) => {
        expect(outcome(decodeCbor, b)).toBe(outcome(decodeCborReference, b));
      }),
      { numRuns: 4000 },
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (b) => {
        expect(outcome(decodeCbor, b)).toBe(outcome(decodeCborReference, b));
      }),
      { numRuns: 3000 },
    );
  });

  it('at the integer width boundaries, for both signs', () => {
    for (const n of [0, 23, 24, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 2, 2 ** 53 - 1, 2 ** 53, 2 ** 63]) {
      for (const v of [BigInt(n), -1n - BigInt(n)]) {
        const value = v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
        const b = encodeCbor(value);
        expect(decodeCbor(b)).toEqual(value);
        expect(outcome(decodeCbor, b)).toBe(outcome(decodeCborReference, b));
      }
    }
  });

  it('decodes the most negative integer, -2^64 (3b ff..ff)', () => {
    expect(decodeCbor(hex('3bffffffffffffffff'))).toBe(-(2n ** 64n));
  });

  it('cborItemEnd finds where each element of an encoded array ends', () => {
    fc.assert(
      fc.property(fc.array(cborValue, { maxLength: 8 }), (items) => {
        const b = encodeCbor(items);
        let pos = b.length - items.reduce<number>((s, x) => s + encodeCbor(x).length, 0);
        for (const x of items) {
          const end = cborItemEnd(b, pos);
          expect(toHex(b.subarray(pos, end))).toBe(toHex(encodeCbor(x)));
          pos = end;
        }
        expect(cborItemEnd(b, 0)).toBe(b.length);
      }),
      { numRuns: 1000 },
    );
  });
});
