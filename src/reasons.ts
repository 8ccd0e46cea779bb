/**
 * Verdict reason codes: stable names and numbers (receipts and C ports carry the number).
 * 1-31: stateless token and request verification (src/verify.ts).
 * 32-63: stateful reader checks (src/reader). 0 means accepted.
 * spec/protocol.md §Reason codes is the normative list; test/core/reasons.test.ts keeps the two in step.
 */
export const REASONS = {
  malformed: { code: 1, text: 'not a well-formed offpay message (not CBOR, truncated, trailing bytes, or an item offpay does not use)' },
  non_canonical: { code: 2, text: 'not in RFC 8949 deterministic encoding' },
  wrong_type: { code: 3, text: 'not the expected message type' },
  unsupported_version: { code: 4, text: 'protocol version not supported' },
  bad_structure: { code: 5, text: 'a field is missing, of the wrong kind, length or range' },
  unknown_issuer_key: { code: 6, text: 'the certificate names an issuer key index the reader does not have' },
  issuer_key_not_valid: { code: 7, text: 'the issuer key is outside its validity window at the reader time' },
  bad_certificate_signature: { code: 8, text: 'the issuer signature on the certificate does not verify' },
  certificate_expired: { code: 9, text: 'the certificate is not valid at the reader time' },
  bad_token_signature: { code: 10, text: 'the wallet signature on the token does not verify' },
  wrong_payee: { code: 11, text: 'the token pays someone other than this reader or its operator' },
  challenge_missing: { code: 12, text: 'the reader issued a request but the token carries no challenge' },
  challenge_mismatch: { code: 13, text: "the token's challenge is not the request's challenge" },
  time_too_old: { code: 14, text: 'the token (or the request it answers) is older than the time window' },
  time_in_future: { code: 15, text: 'the token is dated further in the future than the allowed clock skew' },
  currency_mismatch: { code: 16, text: "the certificate's currency is not the currency asked for" },
  amount_mismatch: { code: 17, text: 'the amount is not the amount asked for' },
  amount_invalid: { code: 18, text: 'the amount is zero' },
  over_payment_limit: { code: 19, text: "the amount exceeds the certificate's maximum per payment" },
  over_offline_allowance: { code: 20, text: "the amount exceeds the certificate's offline allowance" },
  bad_request_signature: { code: 21, text: 'the reader signature on the payment request does not verify' },
  bad_receipt_signature: { code: 22, text: 'the reader signature on the receipt does not verify' },
  weak_public_key: { code: 23, text: 'the certificate holds a small-order (weak) Ed25519 public key' },
} as const;

/** The name of a stateless verdict reason (a key of {@link REASONS}, codes 1-31). */
export type StatelessReason = keyof typeof REASONS;

/** Look up a reason's number; unknown names (e.g. reader reasons registered elsewhere) get 0xff. */
export function reasonNumber(name: string, extra: Record<string, { code: number }> = {}): number {
  return (REASONS as Record<string, { code: number }>)[name]?.code ?? extra[name]?.code ?? 0xff;
}
