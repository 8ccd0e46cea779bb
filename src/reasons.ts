/**
 * Verdict reason codes: stable names and numbers (receipts and C ports carry the number).
 * 1-31: stateless token and request verification (src/verify.ts).
 * 32-63: stateful reader checks (src/reader). 0 means accepted.
 * spec/protocol.md §Reason codes is the normative list; test/core/reasons.test.ts keeps the two in step.
 */
/** One verdict reason: its stable number and what it means. */
export interface ReasonEntry<C extends number = number> {
  /** The stable number: receipts and C ports carry it (spec/protocol.md §7, spec/reader.md §12). */
  readonly code: C;
  /** When the reason applies, for people (not stable: do not parse it). */
  readonly text: string;
}

/** A {@link ReasonEntry} (its number kept as a literal type). */
export const reasonEntry = <C extends number>(code: C, text: string): ReasonEntry<C> => ({ code, text });

/** The stateless verdict reasons, 1-31, by name (spec/protocol.md §7 is the normative list). */
export const REASONS = {
  malformed: reasonEntry(1, 'not a well-formed offpay message (not CBOR, truncated, trailing bytes, or an item offpay does not use)'),
  non_canonical: reasonEntry(2, 'not in RFC 8949 deterministic encoding'),
  wrong_type: reasonEntry(3, 'not the expected message type'),
  unsupported_version: reasonEntry(4, 'protocol version not supported'),
  bad_structure: reasonEntry(5, 'a field is missing, of the wrong kind, length or range'),
  unknown_issuer_key: reasonEntry(6, 'the certificate names an issuer key index the reader does not have'),
  issuer_key_not_valid: reasonEntry(7, 'the issuer key is outside its validity window at the reader time'),
  bad_certificate_signature: reasonEntry(8, 'the issuer signature on the certificate does not verify'),
  certificate_expired: reasonEntry(9, 'the certificate is not valid at the reader time'),
  bad_token_signature: reasonEntry(10, 'the wallet signature on the token does not verify'),
  wrong_payee: reasonEntry(11, 'the token pays someone other than this reader or its operator'),
  challenge_missing: reasonEntry(12, 'the reader issued a request but the token carries no challenge'),
  challenge_mismatch: reasonEntry(13, "the token's challenge is not the request's challenge"),
  time_too_old: reasonEntry(14, 'the token (or the request it answers) is older than the time window'),
  time_in_future: reasonEntry(15, 'the token is dated further in the future than the allowed clock skew'),
  currency_mismatch: reasonEntry(16, "the certificate's currency is not the currency asked for"),
  amount_mismatch: reasonEntry(17, 'the amount is not the amount asked for'),
  amount_invalid: reasonEntry(18, 'the amount is zero'),
  over_payment_limit: reasonEntry(19, "the amount exceeds the certificate's maximum per payment"),
  over_offline_allowance: reasonEntry(20, "the amount exceeds the certificate's offline allowance"),
  bad_request_signature: reasonEntry(21, 'the reader signature on the payment request does not verify'),
  bad_receipt_signature: reasonEntry(22, 'the reader signature on the receipt does not verify'),
  weak_public_key: reasonEntry(23, 'the certificate holds a small-order (weak) Ed25519 public key'),
  bad_exit_signature: reasonEntry(24, "the wallet signature on the exit does not verify under the key of its tap-in token's certificate"),
  exit_too_old: reasonEntry(25, 'the exit is older than the exit window'),
  exit_in_future: reasonEntry(26, 'the exit is dated further in the future than the allowed clock skew'),
} as const;

/** The name of a stateless verdict reason (a key of {@link REASONS}, codes 1-31). */
export type StatelessReason = keyof typeof REASONS;

/** Look up a reason's number; unknown names (e.g. reader reasons registered elsewhere) get 0xff. */
export function reasonNumber(name: string, extra: Record<string, { code: number }> = {}): number {
  return (REASONS as Record<string, { code: number }>)[name]?.code ?? extra[name]?.code ?? 0xff;
}
