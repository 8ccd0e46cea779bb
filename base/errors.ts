/**
 * Typed errors for untrusted input.
 *
 * Every failure caused by bytes, audio, images, APDUs or files from outside is an `OffpayError` with a
 * stable `code`. Codes are `area.reason` in lower snake case (`cbor.non_canonical`, `fsk.no_preamble`).
 * Each area's spec lists its codes: spec/protocol.md (core), spec/fsk.md, spec/qr.md, spec/nfc.md,
 * spec/reader.md. A code, once published, never changes meaning.
 */
export class OffpayError extends Error {
  /** The stable `area.reason` code. */
  readonly code: string;
  /** Structured details (offsets, sizes), when the thrower gives any. */
  readonly detail: Record<string, unknown> | undefined;

  constructor(code: string, message: string, detail?: Record<string, unknown>) {
    super(message);
    this.name = 'OffpayError';
    this.code = code;
    this.detail = detail;
  }

  /** The JSON form the CLI prints: `{ error: code, message, detail? }`. */
  toJSON(): Record<string, unknown> {
    return { error: this.code, message: this.message, ...(this.detail ? { detail: this.detail } : {}) };
  }
}

/** True when `e` is an {@link OffpayError} (a type guard). */
export function isOffpayError(e: unknown): e is OffpayError {
  return e instanceof OffpayError;
}

/** Wrap any thrown value as an OffpayError with `code` unless it already is one. */
export function asOffpayError(e: unknown, code: string): OffpayError {
  if (e instanceof OffpayError) return e;
  const msg = e instanceof Error ? e.message : String(e);
  return new OffpayError(code, msg);
}
