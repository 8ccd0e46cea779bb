/**
 * Typed errors for untrusted input.
 *
 * Every failure caused by bytes, audio, images, APDUs or files from outside is an `OffpayError` with a
 * stable `code`. Codes are `area.reason` in lower snake case (`cbor.non_canonical`, `fsk.no_preamble`).
 * Each area's spec lists its codes in an error-code table: spec/protocol.md §13 (core and CLI), spec/fsk.md
 * §11, spec/qr.md §11, spec/nfc.md §7, spec/reader.md §13 and §17.5, spec/clearing.md §8,
 * spec/clearing-api.md §4 and §8, spec/playground.md. A code, once published, never changes meaning.
 *
 * The type {@link ErrorCode} is generated from those tables (base/error-codes.ts, `npm run error-codes`), and
 * the constructor takes only an ErrorCode: throwing a code the spec does not list is a type error.
 */
// Type-only: the list itself (ERROR_CODES, isErrorCode) stays out of the module graph of code that only throws.
import type { ErrorCode } from './error-codes.js';

export type { ErrorCode } from './error-codes.js';

/** The areas of the error codes: the part before the dot (`fsk`, `qr`, `reader`, ...). */
export type ErrorArea = ErrorCode extends `${infer A}.${string}` ? A : never;

/** The error codes of one area or several: `ErrorCodeOf<'fsk'>` is `'fsk.bad_rate' | 'fsk.bad_profile' | ...`. */
export type ErrorCodeOf<A extends ErrorArea> = Extract<ErrorCode, `${A}.${string}`>;

/** The reasons of one area, without the area: `ErrorReasonOf<'apdu'>` is `'too_short' | 'length_mismatch' | ...`. */
export type ErrorReasonOf<A extends ErrorArea, C = ErrorCodeOf<A>> = C extends `${A}.${infer R}` ? R : never;

export class OffpayError extends Error {
  /** The stable `area.reason` code, one the spec's error tables list. */
  readonly code: ErrorCode;
  /** Structured details (offsets, sizes), when the thrower gives any. */
  readonly detail: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, detail?: Record<string, unknown>) {
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
export function asOffpayError(e: unknown, code: ErrorCode): OffpayError {
  if (e instanceof OffpayError) return e;
  const msg = e instanceof Error ? e.message : String(e);
  return new OffpayError(code, msg);
}
