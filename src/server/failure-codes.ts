/**
 * Every offpay reason mapped to one of the card gateway's four failure codes (spec/clearing-api.md §6), as
 * data. A merchant system that speaks the gateway's terms (charge states pending / successful / failed and a
 * failure code) reads a failed offpay payment through this table; the offpay reason travels beside it, so
 * nothing is lost.
 *
 * The four codes and what they mean here:
 *  - payment_rejected:  the payment was refused by rule (replay, blocklist, payee, a voided or reused token);
 *                       trying again with the same token will not help;
 *  - failed_processing: the bytes or the reader were at fault (malformed, stale, a reader outside its
 *                       certificate); the customer may pay again with a new token;
 *  - invalid_account:   the wallet's credentials are not good (certificate, issuer key, signature, weak key,
 *                       currency the account does not hold);
 *  - insufficient_fund: a money limit (per payment, offline allowance, daily limit, reader maximum).
 * test/clearing/serve.test.ts checks that every reason of src/reasons.ts (1-31), src/reader/reasons.ts (32-63)
 * and every clearing entry reason has exactly one mapping.
 */
import { REASONS } from '../reasons.js';
import { READER_REASONS } from '../reader/reasons.js';

export type GatewayFailureCode = 'payment_rejected' | 'failed_processing' | 'invalid_account' | 'insufficient_fund';

/**
 * Reasons clearing itself gives a payment (spec/clearing.md §4 step 9 and spec/clearing-api.md §6): an entry
 * stored invalid for `reader_cert_not_valid`, a sale `voided` by its reader, a token held only as a `conflict`
 * record (a reader saw its wallet reuse a counter and refused it), a sale of a request that another token of the
 * same request settles (`request_paid_twice`, spec/clearing.md M9).
 */
export const CLEARING_PAYMENT_REASONS = ['reader_cert_not_valid', 'voided', 'conflict', 'request_paid_twice'] as const;

export const FAILURE_CODES: Readonly<Record<keyof typeof REASONS | keyof typeof READER_REASONS | (typeof CLEARING_PAYMENT_REASONS)[number], GatewayFailureCode>> = {
  // stateless, 1-31
  malformed: 'failed_processing',
  non_canonical: 'failed_processing',
  wrong_type: 'failed_processing',
  unsupported_version: 'failed_processing',
  bad_structure: 'failed_processing',
  unknown_issuer_key: 'invalid_account',
  issuer_key_not_valid: 'invalid_account',
  bad_certificate_signature: 'invalid_account',
  certificate_expired: 'invalid_account',
  bad_token_signature: 'invalid_account',
  wrong_payee: 'payment_rejected',
  challenge_missing: 'failed_processing',
  challenge_mismatch: 'failed_processing',
  time_too_old: 'failed_processing',
  time_in_future: 'failed_processing',
  currency_mismatch: 'invalid_account',
  amount_mismatch: 'payment_rejected',
  amount_invalid: 'payment_rejected',
  over_payment_limit: 'insufficient_fund',
  over_offline_allowance: 'insufficient_fund',
  bad_request_signature: 'failed_processing',
  bad_receipt_signature: 'failed_processing',
  weak_public_key: 'invalid_account',
  bad_exit_signature: 'payment_rejected',
  exit_too_old: 'failed_processing',
  exit_in_future: 'failed_processing',
  // reader, 32-63
  replayed: 'payment_rejected',
  stale: 'payment_rejected',
  below_minimum: 'payment_rejected',
  above_maximum: 'insufficient_fund',
  daily_limit: 'insufficient_fund',
  allowance_exhausted: 'insufficient_fund',
  blocklisted: 'invalid_account',
  blocklist_stale: 'failed_processing',
  stale_limit: 'insufficient_fund',
  already_voided: 'payment_rejected',
  currency_not_accepted: 'invalid_account',
  unknown_token: 'failed_processing',
  void_window_passed: 'payment_rejected',
  already_completed: 'payment_rejected',
  fare_exceeds_authorisation: 'insufficient_fund',
  already_tapped_out: 'payment_rejected',
  not_a_trip: 'payment_rejected',
  request_already_paid: 'payment_rejected',
  already_accepted: 'payment_rejected',
  request_not_open: 'failed_processing',
  no_tap_in: 'payment_rejected',
  exit_required: 'payment_rejected',
  // clearing
  reader_cert_not_valid: 'failed_processing',
  voided: 'payment_rejected',
  conflict: 'payment_rejected',
  request_paid_twice: 'payment_rejected',
};

/** The gateway failure code of an offpay reason; an unknown reason (a newer reader) is failed_processing. */
export function failureCodeOf(reason: string): GatewayFailureCode {
  return Object.hasOwn(FAILURE_CODES, reason) ? (FAILURE_CODES as Record<string, GatewayFailureCode>)[reason]! : 'failed_processing';
}
