import { describe, expect, it } from 'vitest';
import { codeOf } from './helpers.js';
import fc from 'fast-check';
import { OffpayError } from '../../base/errors.js';
import { DAMM_TABLE, dammCheckDigit, dammValid, digitsForBits, packDigits, unpackDigits } from '../../base/digits.js';
import {
  challengeBytes,
  decodePaymentCode,
  encodePaymentCode,
  formatPaymentCode,
  PAYMENT_CODE_DIGITS,
  PAYMENT_CODE_MAX_AMOUNT,
  PAYMENT_CODE_MAX_CHALLENGE,
  PAYMENT_CODE_MAX_PAYEE,
  paymentCodeChallenge,
} from '../../src/paycode.js';

const code = codeOf;

describe('Damm check digit', () => {
  it('matches the published example 572 -> 4', () => {
    expect(dammCheckDigit('572')).toBe(4);
    expect(dammValid('5724')).toBe(true);
    expect(dammValid('5274')).toBe(false);
  });

  it('table is a quasigroup with zero diagonal, weakly totally anti-symmetric (covers any length)', () => {
    for (let i = 0; i < 10; i++) {
      expect(DAMM_TABLE[i]![i]).toBe(0);
      expect(new Set(DAMM_TABLE[i]).size).toBe(10); // rows are permutations
      expect(new Set(DAMM_TABLE.map((r) => r[i])).size).toBe(10); // columns are permutations
    }
    // For every interim state c and digits a != b: swapping a, b changes the state. Together with the
    // column permutations (later digits map distinct states to distinct states) this proves detection
    // of adjacent transpositions at every position of a code of any length.
    for (let c = 0; c < 10; c++) {
      for (let a = 0; a < 10; a++) {
        for (let b = 0; b < 10; b++) {
          if (a === b) continue;
          expect(DAMM_TABLE[DAMM_TABLE[c]![a]!]![b]).not.toBe(DAMM_TABLE[DAMM_TABLE[c]![b]!]![a]);
        }
      }
    }
  });

  it('exhaustively: every 5-digit body + check digit detects every single-digit error and adjacent transposition', () => {
    let singles = 0;
    let swaps = 0;
    for (let v = 0; v < 100_000; v++) {
      const body = String(v).padStart(5, '0');
      const full = body + String(dammCheckDigit(body));
      expect(dammValid(full)).toBe(true);
      const d = full.split('');
      for (let pos = 0; pos < d.length; pos++) {
        for (let x = 0; x < 10; x++) {
          if (String(x) === d[pos]) continue;
          const e = [...d];
          e[pos] = String(x);
          if (dammValid(e.join(''))) throw new Error(`undetected substitution ${full} -> ${e.join('')}`);
          singles++;
        }
        if (pos + 1 < d.length && d[pos] !== d[pos + 1]) {
          const e = [...d];
          [e[pos], e[pos + 1]] = [e[pos + 1]!, e[pos]!];
          if (dammValid(e.join(''))) throw new Error(`undetected transposition ${full} -> ${e.join('')}`);
          swaps++;
        }
      }
    }
    expect(singles).toBe(100_000 * 6 * 9);
    expect(swaps).toBeGreaterThan(400_000);
  });

  it('exhaustively over every position of a 20-digit code and every digit pair', () => {
    // For each of the 19 adjacent positions (the last one swaps a data digit with the check digit) and
    // every pair a != b there, build the valid code and check that the swap is caught; and every
    // substitution at each of the 20 positions of those codes.
    const base = encodePaymentCode({ payee: 123456, amount: 250, challenge: challengeBytes(987654) }).slice(0, 19);
    let swaps = 0;
    for (let pos = 0; pos < 19; pos++) {
      for (let a = 0; a < 10; a++) {
        for (let b = 0; b < 10; b++) {
          let full: string;
          if (pos < 18) {
            const body = base.slice(0, pos) + String(a) + String(b) + base.slice(pos + 2);
            full = body + String(dammCheckDigit(body));
          } else {
            const body = base.slice(0, 18) + String(a);
            full = body + String(dammCheckDigit(body));
          }
          expect(full.length).toBe(20);
          expect(dammValid(full)).toBe(true);
          if (full[pos] !== full[pos + 1]) {
            const swapped = full.slice(0, pos) + full[pos + 1]! + full[pos]! + full.slice(pos + 2);
            expect(dammValid(swapped)).toBe(false);
            swaps++;
          }
          for (let i = 0; i < 20; i++) {
            for (let x = 0; x < 10; x++) {
              if (String(x) !== full[i]) expect(dammValid(full.slice(0, i) + String(x) + full.slice(i + 1))).toBe(false);
            }
          }
        }
      }
    }
    expect(swaps).toBeGreaterThanOrEqual(18 * 90);
  });

  it('packs integers of a fixed width', () => {
    expect(digitsForBits(63)).toBe(19);
    expect(digitsForBits(10)).toBe(4);
    expect(packDigits(0n, 10)).toBe('00000');
    expect(unpackDigits(packDigits(1023n, 10), 10)).toBe(1023n);
    expect(code(() => packDigits(1024n, 10))).toBe('paycode.range');
    const over = '1024' + String(dammCheckDigit('1024'));
    expect(code(() => unpackDigits(over, 10))).toBe('paycode.range');
  });
});

describe('payment code', () => {
  const p = { payee: 4711, amount: 1250, challenge: challengeBytes(0x1abcde) };

  it('is 20 digits and round-trips, ignoring display separators', () => {
    const c = encodePaymentCode(p);
    expect(c).toMatch(/^[0-9]{20}$/);
    expect(c.length).toBe(PAYMENT_CODE_DIGITS);
    expect(decodePaymentCode(c)).toEqual(p);
    expect(decodePaymentCode(formatPaymentCode(c))).toEqual(p);
    expect(formatPaymentCode(c)).toMatch(/^\d{4} \d{4} \d{4} \d{4} \d{4}$/);
    expect(decodePaymentCode(c.replace(/(\d{5})/g, '$1-').slice(0, -1))).toEqual(p);
  });

  it('defines the 8-byte challenge as the 21 bits big-endian, zero-padded', () => {
    expect(Array.from(challengeBytes(0x1abcde))).toEqual([0, 0, 0, 0, 0, 0x1a, 0xbc, 0xde]);
    let i = 0;
    const ch = paymentCodeChallenge(() => Uint8Array.of(0xff, 0xff, 0xff - i++));
    expect(Array.from(ch)).toEqual([0, 0, 0, 0, 0, 0x1f, 0xff, 0xff]);
  });

  it('gives typed errors', () => {
    const c = encodePaymentCode(p);
    const wrongDigit = c.slice(0, 7) + String((Number(c[7]) + 1) % 10) + c.slice(8);
    expect(code(() => decodePaymentCode(wrongDigit))).toBe('paycode.check_digit');
    expect(code(() => decodePaymentCode(c.slice(1)))).toBe('paycode.length');
    expect(code(() => decodePaymentCode(c + '0'))).toBe('paycode.length');
    expect(code(() => decodePaymentCode('1234x678901234567890'))).toBe('paycode.format');
    expect(code(() => decodePaymentCode(''))).toBe('paycode.length');
    // 19 nines + check digit: a value above 2^63.
    const nines = '9'.repeat(19);
    expect(code(() => decodePaymentCode(nines + String(dammCheckDigit(nines))))).toBe('paycode.range');
    // Version bits 0.
    const v0 = '0'.repeat(19);
    expect(code(() => decodePaymentCode(v0 + String(dammCheckDigit(v0))))).toBe('paycode.version');
    expect(code(() => encodePaymentCode({ ...p, payee: PAYMENT_CODE_MAX_PAYEE + 1 }))).toBe('paycode.range');
    expect(code(() => encodePaymentCode({ ...p, amount: -1 }))).toBe('paycode.range');
    expect(code(() => encodePaymentCode({ ...p, amount: 1.5 }))).toBe('paycode.range');
    expect(code(() => encodePaymentCode({ ...p, challenge: new Uint8Array(8).fill(1) }))).toBe('paycode.range');
    expect(code(() => encodePaymentCode({ ...p, challenge: new Uint8Array(7) }))).toBe('paycode.range');
  });

  it('round-trips every field value (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: PAYMENT_CODE_MAX_PAYEE }),
        fc.integer({ min: 0, max: PAYMENT_CODE_MAX_AMOUNT }),
        fc.integer({ min: 0, max: PAYMENT_CODE_MAX_CHALLENGE }),
        (payee, amount, ch) => {
          const c = encodePaymentCode({ payee, amount, challenge: challengeBytes(ch) });
          expect(c.length).toBe(20);
          expect(decodePaymentCode(c)).toEqual({ payee, amount, challenge: challengeBytes(ch) });
        },
      ),
      { seed: 20, numRuns: 3000 },
    );
  });

  it('random strings never throw anything but OffpayError paycode.* (property)', () => {
    const digitish = fc.string({ unit: fc.constantFrom(...'0123456789 -.x'.split('')), maxLength: 30 });
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 80 }), digitish), (s) => {
        try {
          const d = decodePaymentCode(s);
          expect(d.challenge.length).toBe(8);
        } catch (e) {
          expect(e).toBeInstanceOf(OffpayError);
          expect((e as OffpayError).code).toMatch(/^paycode\./);
        }
      }),
      { seed: 21, numRuns: 3000 },
    );
  });
});
