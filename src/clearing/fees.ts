/**
 * Settlement arithmetic: gross, fee in basis points, net — integers in minor units, never floats.
 *
 * The fee is computed once per (merchant, currency) settlement line on the gross total, not per token:
 *   fee = round_half_even(gross * feeBps / 10000),   net = gross - fee
 * Round half to even ("banker's rounding") so that exact halves do not bias fees up over many lines.
 * Amounts are bigint end to end (spec/clearing.md §6): a line's gross is a sum of many tokens and passes 2^53
 * long before it passes anything a bigint cannot hold, so there is no overflow and no `bad_amount` case.
 */
import { OffpayError } from '../../base/errors.js';

export const BPS_DENOMINATOR = 10_000;

export function roundHalfEvenDiv(numerator: bigint, denominator: bigint): bigint {
  if (denominator <= 0n || numerator < 0n) throw new Error('roundHalfEvenDiv takes a non-negative numerator and a positive denominator');
  const q = numerator / denominator;
  const r = numerator % denominator;
  const twice = 2n * r;
  if (twice > denominator) return q + 1n;
  if (twice < denominator) return q;
  return q % 2n === 0n ? q : q + 1n;
}

export function validateFeeBps(feeBps: number): number {
  if (!Number.isInteger(feeBps) || feeBps < 0 || feeBps > BPS_DENOMINATOR) throw new OffpayError('clearing.bad_fee', `fee ${feeBps} bps must be an integer in 0..10000`);
  return feeBps;
}

export function feeFor(
  gross: bigint,
  feeBps: number,
): {
  /** round_half_even(gross * feeBps / 10000), minor units. */
  fee: bigint;
  /** gross - fee, minor units. */
  net: bigint;
} {
  validateFeeBps(feeBps);
  if (gross < 0n) throw new Error('feeFor takes a non-negative gross');
  const fee = roundHalfEvenDiv(gross * BigInt(feeBps), BigInt(BPS_DENOMINATOR));
  return { fee, net: gross - fee };
}
