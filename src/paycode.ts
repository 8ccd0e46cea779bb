/**
 * Payment codes: a payment request as 20 digits a person can type when scanning fails (as Octopus lets
 * users key in a payment code). Layout (spec/qr.md §6), most significant bit first, 63 bits:
 *
 *   version 2 bits (= 1) | payee 20 bits | amount 20 bits | challenge 21 bits
 *
 * written as 19 zero-padded decimal digits (2^63 - 1 has 19 digits) plus one Damm check digit.
 * The full 8-byte challenge a code stands for is the 21 challenge bits big-endian, zero-padded on the
 * left to 8 bytes; a reader that shows a payment code issues its request with exactly that challenge
 * (`paymentCodeChallenge()` makes one). A code carries no currency, time or signature: it is not a signed
 * request, and the wallet must learn the reader's certificate and currency some other way. A token paying a
 * code signs the fixed time PAYMENT_CODE_SIGNED_TIME, and the reader, which opened the request as a code, rebuilds
 * the body with it (spec/protocol.md §4.3, rule P; `Wallet.payCode`, `Reader.openRequest({ code: true })`).
 */
import { OffpayError } from '../base/errors.js';
export { PAYMENT_CODE_SIGNED_TIME } from './messages.js';
import { packDigits, unpackDigits, groupDigits } from '../base/digits.js';

/** The version a payment code carries in its top 2 bits (spec/qr.md §6.1). */
export const PAYMENT_CODE_VERSION = 1;
/** Width of each field of a payment code, bits, most significant first (spec/qr.md §6.1). */
export const PAYMENT_CODE_BITS = { version: 2, payee: 20, amount: 20, challenge: 21 } as const;
/** Bits a payment code carries: 2 + 20 + 20 + 21. */
export const PAYMENT_CODE_TOTAL_BITS = 63;
/** 19 data digits + 1 check digit. */
export const PAYMENT_CODE_DIGITS = 20;
/** Largest payee id (reader id) a payment code can carry: 2^20 - 1. */
export const PAYMENT_CODE_MAX_PAYEE = 2 ** PAYMENT_CODE_BITS.payee - 1;
/** Largest amount a payment code can carry, minor units: 2^20 - 1. */
export const PAYMENT_CODE_MAX_AMOUNT = 2 ** PAYMENT_CODE_BITS.amount - 1;
/** Largest challenge value a payment code can carry: 2^21 - 1. */
export const PAYMENT_CODE_MAX_CHALLENGE = 2 ** PAYMENT_CODE_BITS.challenge - 1;

/**
 * What a payment code carries (spec/qr.md §6): payee, amount and challenge; no currency, time or signature.
 * {@link decodePaymentCode} returns one and `Wallet.payCode` pays one.
 */
export interface PaymentCode {
  /** Payee id (a reader id), 0..2^20-1. */
  payee: number;
  /** Amount in minor units, 0..2^20-1 (10 485.75 in a currency with 2 decimals). */
  amount: number;
  /** The 8-byte challenge: 21 significant bits, big-endian, the top 43 bits zero. */
  challenge: Uint8Array;
}

function checkField(name: string, v: unknown, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) {
    throw new OffpayError('paycode.range', `${name} must be an integer 0..${max}, got ${String(v)}`, { field: name });
  }
  return v;
}

/** The 21-bit value of an 8-byte payment-code challenge, or `paycode.range` if it has more bits. */
export function challengeValue(challenge: Uint8Array): number {
  if (!(challenge instanceof Uint8Array) || challenge.length !== 8) {
    throw new OffpayError('paycode.range', 'challenge must be 8 bytes');
  }
  let v = 0n;
  for (const b of challenge) v = (v << 8n) | BigInt(b);
  if (v > BigInt(PAYMENT_CODE_MAX_CHALLENGE)) {
    throw new OffpayError('paycode.range', `challenge has more than ${PAYMENT_CODE_BITS.challenge} significant bits; make it with paymentCodeChallenge()`);
  }
  return Number(v);
}

/** The 8-byte challenge for a 21-bit value (big-endian, zero-padded). */
export function challengeBytes(value: number): Uint8Array {
  checkField('challenge', value, PAYMENT_CODE_MAX_CHALLENGE);
  const c = new Uint8Array(8);
  c[5] = (value >>> 16) & 0xff;
  c[6] = (value >>> 8) & 0xff;
  c[7] = value & 0xff;
  return c;
}

/** A fresh payment-code challenge from the platform CSPRNG (or `random`), as 8 bytes. */
export function paymentCodeChallenge(random: (n: number) => Uint8Array = (n) => globalThis.crypto.getRandomValues(new Uint8Array(n))): Uint8Array {
  const r = random(3);
  return challengeBytes((((r[0]! << 16) | (r[1]! << 8) | r[2]!) >>> 0) & PAYMENT_CODE_MAX_CHALLENGE);
}

/**
 * The 20 digits of a payment code (no spaces; {@link formatPaymentCode} groups them for display). Errors:
 * `paycode.range` when payee or amount is outside 0..2^20-1 or the challenge has more than 21 significant bits.
 */
export function encodePaymentCode(p: PaymentCode): string {
  const payee = checkField('payee', p.payee, PAYMENT_CODE_MAX_PAYEE);
  const amount = checkField('amount', p.amount, PAYMENT_CODE_MAX_AMOUNT);
  const challenge = challengeValue(p.challenge);
  const value =
    (BigInt(PAYMENT_CODE_VERSION) << 61n) | (BigInt(payee) << 41n) | (BigInt(amount) << 21n) | BigInt(challenge);
  return packDigits(value, PAYMENT_CODE_TOTAL_BITS);
}

/**
 * Parses a typed code (spaces, hyphens and dots between digits are ignored). Errors: `paycode.format`,
 * `paycode.length`, `paycode.check_digit`, `paycode.range`, `paycode.version`.
 */
export function decodePaymentCode(code: string): PaymentCode {
  const v = unpackDigits(code, PAYMENT_CODE_TOTAL_BITS);
  const version = Number(v >> 61n);
  if (version !== PAYMENT_CODE_VERSION) {
    throw new OffpayError('paycode.version', `payment code version ${version} is not supported`, { version });
  }
  return {
    payee: Number((v >> 41n) & 0xfffffn),
    amount: Number((v >> 21n) & 0xfffffn),
    challenge: challengeBytes(Number(v & 0x1fffffn)),
  };
}

/** For display: "1234 5678 9012 3456 7890". */
export function formatPaymentCode(code: string): string {
  return groupDigits(code, 4, ' ');
}
