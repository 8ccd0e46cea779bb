/**
 * Stateful reader reason codes (32-63), in the same shape as the stateless REASONS of src/reasons.ts.
 * 0 means accepted, 1-31 are the stateless checks (spec/protocol.md), 32-63 are the reader's
 * (spec/reader.md §Reason codes). Numbers are stable: receipts and C ports carry them.
 */
import { REASONS } from '../reasons.js';

export const READER_REASONS = {
  replayed: { code: 32, text: 'the counter was already accepted from this wallet (same or different token bytes)' },
  stale: { code: 33, text: 'the counter is below the anti-replay window of this wallet' },
  below_minimum: { code: 34, text: 'the amount is below the reader minimum per payment for this currency' },
  above_maximum: { code: 35, text: 'the amount is above the reader maximum per payment for this currency' },
  daily_limit: { code: 36, text: "the wallet's total today at this reader would exceed the daily limit" },
  allowance_exhausted: { code: 37, text: "the wallet's total at this reader under this certificate would exceed its offline allowance" },
  blocklisted: { code: 38, text: 'the wallet is on the blocklist' },
  blocklist_stale: { code: 39, text: 'the blocklist is older than its maximum age (or none was loaded) and the profile refuses' },
  stale_limit: { code: 40, text: 'the blocklist is stale and the amount is above the reduced limit' },
  already_voided: { code: 41, text: 'the token was accepted and then voided' },
  currency_not_accepted: { code: 42, text: 'this reader does not accept the currency' },
  unknown_token: { code: 43, text: 'no token with this hash was accepted by this reader' },
  void_window_passed: { code: 44, text: 'the void window for this token has passed' },
  already_completed: { code: 45, text: 'the sale was completed; it can no longer be voided' },
  fare_exceeds_authorisation: { code: 46, text: 'the fare is more than the maximum fare the token authorised' },
  already_tapped_out: { code: 47, text: 'a tap-out was already recorded for this token at this reader' },
  not_a_trip: { code: 48, text: 'the token was not taken as a tap-in (no maximum-fare authorisation)' },
  request_already_paid: { code: 49, text: 'the payment request was already paid by another token' },
  already_accepted: { code: 50, text: 'the token was already accepted here and may no longer resume (resume window passed, or its request closed)' },
  request_not_open: { code: 51, text: 'the token answers a request that is not the open request of this reader (closed, superseded or never issued)' },
  no_tap_in: { code: 52, text: 'this gate holds no tap-in for the token and the profile refuses tap-outs without one' },
} as const;

export type ReaderReason = keyof typeof READER_REASONS;
export type StatelessReasonName = keyof typeof REASONS;
export type AnyReason = ReaderReason | StatelessReasonName;

/** The number of any reason, stateless or stateful (0xff if unknown). */
export function anyReasonCode(name: string): number {
  return (READER_REASONS as Record<string, { code: number }>)[name]?.code ?? (REASONS as Record<string, { code: number }>)[name]?.code ?? 0xff;
}

/** The name of a reason number, stateless or stateful. */
export function reasonName(code: number): AnyReason | undefined {
  for (const [k, v] of Object.entries(READER_REASONS)) if (v.code === code) return k as ReaderReason;
  for (const [k, v] of Object.entries(REASONS)) if (v.code === code) return k as StatelessReasonName;
  return undefined;
}
