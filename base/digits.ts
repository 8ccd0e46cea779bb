/**
 * Numeric codes a person can type: an unsigned integer of a fixed bit width written as decimal digits,
 * followed by one Damm check digit.
 *
 * Damm (H. M. Damm, "Totally anti-symmetric quasigroups for all orders n ≠ 2, 6", Discrete Mathematics
 * 307 (2007)) uses a 10x10 quasigroup table T with T[i][i] = 0 that is weakly totally anti-symmetric:
 * for every state c and digits a ≠ b, T[T[c][a]][b] ≠ T[T[c][b]][a]. Processing digits d1..dn from
 * state 0 gives state s; the check digit is the digit x with T[s][x] = 0 (x = s, as the diagonal is 0).
 * Every row and column of T is a permutation, so every single-digit substitution changes the final
 * state, and the anti-symmetry makes every adjacent transposition change it too
 * (test/qr/paycode.test.ts proves both exhaustively).
 *
 * Errors: `paycode.format` (not digits), `paycode.length`, `paycode.check_digit`, `paycode.range`.
 */
import { OffpayError } from './errors.js';

/** The order-10 table from Damm (2007), as published with the algorithm. */
export const DAMM_TABLE: readonly (readonly number[])[] = [
  [0, 3, 1, 7, 5, 9, 8, 6, 4, 2],
  [7, 0, 9, 2, 1, 5, 4, 8, 6, 3],
  [4, 2, 0, 6, 8, 7, 1, 3, 5, 9],
  [1, 7, 5, 0, 9, 8, 3, 4, 2, 6],
  [6, 1, 2, 3, 0, 4, 5, 9, 7, 8],
  [3, 6, 7, 4, 2, 0, 9, 5, 8, 1],
  [5, 8, 6, 9, 7, 2, 0, 1, 3, 4],
  [8, 9, 4, 5, 3, 6, 2, 0, 1, 7],
  [9, 4, 3, 8, 6, 1, 7, 2, 0, 5],
  [2, 5, 8, 1, 4, 3, 6, 7, 9, 0],
];

const FLAT = Uint8Array.from(DAMM_TABLE.flat());

/** The Damm interim state after `digits` (a string of 0-9), from state `start`. */
export function dammState(digits: string, start = 0): number {
  let s = start;
  for (let i = 0; i < digits.length; i++) {
    const d = digits.charCodeAt(i) - 48;
    if (d < 0 || d > 9) throw new OffpayError('paycode.format', `not a digit: ${JSON.stringify(digits[i])}`, { position: i });
    s = FLAT[s * 10 + d]!;
  }
  return s;
}

/** The check digit to append to `digits`. */
export function dammCheckDigit(digits: string): number {
  return dammState(digits);
}

/** Whether `digits` (check digit included) passes the Damm check. */
export function dammValid(digits: string): boolean {
  return digits.length > 0 && dammState(digits) === 0;
}

/** Decimal digits needed for every value of `bits` bits: ceil(bits * log10 2), at least 1. */
export function digitsForBits(bits: number): number {
  if (!Number.isInteger(bits) || bits < 1 || bits > 256) throw new RangeError(`bits must be 1..256, got ${bits}`);
  return ((1n << BigInt(bits)) - 1n).toString().length;
}

/** Writes `value` (< 2^bits) as digitsForBits(bits) zero-padded digits plus one Damm check digit. */
export function packDigits(value: bigint, bits: number): string {
  if (typeof value !== 'bigint' || value < 0n || value >= 1n << BigInt(bits)) {
    throw new OffpayError('paycode.range', `value does not fit in ${bits} bits`);
  }
  const body = value.toString().padStart(digitsForBits(bits), '0');
  return body + String(dammCheckDigit(body));
}

/**
 * Removes the separators a person may type or a display may show: spaces, hyphens, dots
 * (and no other characters).
 */
export function normalizeDigits(input: string): string {
  if (typeof input !== 'string') throw new OffpayError('paycode.format', 'a code must be a string');
  if (input.length > 64) throw new OffpayError('paycode.length', `code of ${input.length} characters is too long`);
  const s = input.replace(/[\s.-]/g, '');
  if (!/^[0-9]*$/.test(s)) throw new OffpayError('paycode.format', 'a code has digits only (spaces and hyphens allowed between)');
  return s;
}

/** Inverse of packDigits: checks the length and the check digit, then the range. */
export function unpackDigits(input: string, bits: number): bigint {
  const s = normalizeDigits(input);
  const n = digitsForBits(bits) + 1;
  if (s.length !== n) throw new OffpayError('paycode.length', `a code has ${n} digits, got ${s.length}`, { expected: n, got: s.length });
  if (!dammValid(s)) throw new OffpayError('paycode.check_digit', 'the check digit does not match (a digit is wrong or two are swapped)');
  const value = BigInt(s.slice(0, -1));
  if (value >= 1n << BigInt(bits)) throw new OffpayError('paycode.range', `value exceeds ${bits} bits`);
  return value;
}

/** Groups digits for display, 4 by 4 by default: "1234 5678 9012 3456 7890". */
export function groupDigits(code: string, group = 4, sep = ' '): string {
  const parts: string[] = [];
  for (let i = 0; i < code.length; i += group) parts.push(code.slice(i, i + group));
  return parts.join(sep);
}
