/**
 * Stateful reader reason codes (32-63), in the same shape as the stateless REASONS of src/reasons.ts.
 * 0 means accepted, 1-31 are the stateless checks (spec/protocol.md), 32-63 are the reader's
 * (spec/reader.md §Reason codes). Numbers are stable: receipts and C ports carry them.
 */
import { REASONS, reasonEntry } from '../reasons.js';

export const READER_REASONS = {
  replayed: reasonEntry(32, 'the counter was already accepted from this wallet (same or different token bytes)'),
  stale: reasonEntry(33, 'the counter is below the anti-replay window of this wallet'),
  below_minimum: reasonEntry(34, 'the amount is below the reader minimum per payment for this currency'),
  above_maximum: reasonEntry(35, 'the amount is above the reader maximum per payment for this currency'),
  daily_limit: reasonEntry(36, "the wallet's total today at this reader would exceed the daily limit"),
  allowance_exhausted: reasonEntry(37, "the wallet's total at this reader under this certificate would exceed its offline allowance"),
  blocklisted: reasonEntry(38, 'the wallet is on the blocklist'),
  blocklist_stale: reasonEntry(39, 'the blocklist is older than its maximum age (or none was loaded) and the profile refuses'),
  stale_limit: reasonEntry(40, 'the blocklist is stale and the amount is above the reduced limit'),
  already_voided: reasonEntry(41, 'the token was accepted and then voided'),
  currency_not_accepted: reasonEntry(42, 'this reader does not accept the currency'),
  unknown_token: reasonEntry(43, 'no token with this hash was accepted by this reader'),
  void_window_passed: reasonEntry(44, 'the void window for this token has passed'),
  already_completed: reasonEntry(45, 'the sale was completed; it can no longer be voided'),
  fare_exceeds_authorisation: reasonEntry(46, 'the fare is more than the maximum fare the token authorised'),
  already_tapped_out: reasonEntry(47, 'a tap-out was already recorded for this token at this reader'),
  not_a_trip: reasonEntry(48, 'the token was not taken as a tap-in (no maximum-fare authorisation)'),
  request_already_paid: reasonEntry(49, 'the payment request was already paid by another token'),
  already_accepted: reasonEntry(50, 'the token was already accepted here and may no longer resume (resume window passed, or its request closed)'),
  request_not_open: reasonEntry(51, 'the token answers a request that is not the open request of this reader (closed, superseded or never issued)'),
  no_tap_in: reasonEntry(52, 'this gate holds no tap-in for the token and the profile refuses tap-outs without one'),
  exit_required: reasonEntry(53, 'the gate takes only an exit signed afresh by the wallet (profile requireExit); the tap-in token alone was shown'),
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
