/**
 * The offpay content of a code: a short versioned prefix that says what the payload is, then the bytes.
 *
 *   content  = text-form / binary-form
 *   text-form   = "OP" version kind ":" base45     ; QR alphanumeric mode (default)
 *   binary-form = "OP" version kind "=" 1*OCTET    ; QR byte mode, no ECI header (eci=0)
 *   version  = "1"                                 ; "2".."9", "A".."Z" reserved for later versions
 *   kind     = "T" / "R"                           ; T = offline payment token, R = payment request
 *
 * Every prefix character is in the QR alphanumeric set, in the style of the EU DCC "HC1:" prefix
 * (spec/qr.md §2). The codec moves bytes only: it never looks inside a token or a request.
 */
import { OffpayError } from '../../base/errors.js';
import { base45Decode, base45Encode } from './base45.js';

/** What a code carries: an offline payment `token` (prefix letter T) or a payment `request` (R). spec/qr.md §2. */
export type PayloadKind = 'token' | 'request';
/** `base45`: prefix + Base45 in alphanumeric mode; `binary`: prefix + raw bytes in byte mode, no ECI. */
export type PayloadMode = 'base45' | 'binary';

/** The prefix version this codec writes and reads (the "1" of "OP1T:"). */
export const PREFIX_VERSION = 1;
/** The prefix letter of each {@link PayloadKind}. */
export const KIND_LETTER: Record<PayloadKind, string> = { token: 'T', request: 'R' };
/** The prefix separator of each {@link PayloadMode}: `:` for base45, `=` for binary. */
export const MODE_SEPARATOR: Record<PayloadMode, string> = { base45: ':', binary: '=' };
/** Length of the prefix in characters (= bytes, it is ASCII). */
export const PREFIX_LENGTH = 5;
/** Largest payload the codec accepts (QR version 40-L holds 2953 bytes in byte mode). */
export const MAX_PAYLOAD_BYTES = 2900;

/** The parsed content of an offpay code ({@link unwrap}): kind, prefix version, mode and the payload bytes. */
export interface Envelope {
  /** Token or request. */
  kind: PayloadKind;
  /** Prefix version (1). */
  version: number;
  /** How the payload was carried. */
  mode: PayloadMode;
  /** The payload bytes (a token or request; the codec never looks inside). */
  payload: Uint8Array;
}

const ASCII = new TextEncoder();

/**
 * The 5-character prefix for a kind and mode, e.g. `OP1T:` (token, base45) or `OP1R=` (request, binary).
 * @throws OffpayError `qr.bad_option` for an unknown kind or mode.
 */
export function prefixFor(kind: PayloadKind, mode: PayloadMode = 'base45'): string {
  const k = KIND_LETTER[kind];
  const sep = MODE_SEPARATOR[mode];
  if (k === undefined) throw new OffpayError('qr.bad_option', `unknown payload kind ${String(kind)}`);
  if (sep === undefined) throw new OffpayError('qr.bad_option', `unknown payload mode ${String(mode)}`);
  return `OP${PREFIX_VERSION}${k}${sep}`;
}

function checkPayload(payload: Uint8Array): void {
  if (!(payload instanceof Uint8Array)) throw new OffpayError('qr.bad_option', 'payload must be a Uint8Array');
  if (payload.length === 0) throw new OffpayError('qr.empty_payload', 'payload is empty');
  if (payload.length > MAX_PAYLOAD_BYTES) {
    throw new OffpayError('qr.too_large', `payload of ${payload.length} bytes exceeds ${MAX_PAYLOAD_BYTES}`, {
      bytes: payload.length,
    });
  }
}

/** The text form: `OP1T:` + Base45. Every character is in the QR alphanumeric set. */
export function wrapText(kind: PayloadKind, payload: Uint8Array): string {
  checkPayload(payload);
  return prefixFor(kind, 'base45') + base45Encode(payload);
}

/** The symbol content as bytes, in either mode (for base45 these are the ASCII bytes of `wrapText`). */
export function wrap(kind: PayloadKind, payload: Uint8Array, mode: PayloadMode = 'base45'): Uint8Array {
  if (mode === 'base45') return ASCII.encode(wrapText(kind, payload));
  checkPayload(payload);
  const head = ASCII.encode(prefixFor(kind, mode));
  const out = new Uint8Array(head.length + payload.length);
  out.set(head, 0);
  out.set(payload, head.length);
  return out;
}

const isVersionChar = (c: number): boolean => (c >= 0x31 && c <= 0x39) || (c >= 0x41 && c <= 0x5a);
const isUpper = (c: number): boolean => c >= 0x41 && c <= 0x5a;

/**
 * Whether `content` carries an offpay header: "OP", a version character, a kind letter and a separator.
 * Used to pick the offpay symbol when several are in view. It does not validate the body.
 */
export function hasOffpayPrefix(content: Uint8Array): boolean {
  return (
    content.length >= PREFIX_LENGTH &&
    content[0] === 0x4f &&
    content[1] === 0x50 &&
    isVersionChar(content[2]!) &&
    isUpper(content[3]!) &&
    (content[4] === 0x3a || content[4] === 0x3d)
  );
}

/** Whether `content` starts with an offpay header (hasOffpayPrefix) of `kind`: its letter (T or R) at byte 3. */
export function hasOffpayPrefixOf(content: Uint8Array, kind: PayloadKind): boolean {
  return hasOffpayPrefix(content) && content[3] === KIND_LETTER[kind]!.charCodeAt(0);
}

function toBytes(content: Uint8Array | string): Uint8Array {
  if (content instanceof Uint8Array) return content;
  if (typeof content === 'string') {
    // Only Latin-1 code units map to single bytes; anything else cannot be offpay content.
    const out = new Uint8Array(content.length);
    for (let i = 0; i < content.length; i++) {
      const c = content.charCodeAt(i);
      out[i] = c > 0xff ? 0x3f : c; // '?' for code units that no offpay content can contain
    }
    return out;
  }
  throw new OffpayError('qr.bad_option', 'content must be a Uint8Array or a string');
}

/**
 * Parses symbol content (bytes as read, or text) strictly.
 * Errors: `qr.foreign_code` (no offpay header), `qr.bad_prefix` (offpay-looking header with an unknown
 * kind or separator), `qr.unsupported_version`, `qr.wrong_kind` (when `expect` is given and differs),
 * `qr.bad_base45`, `qr.empty_payload`, `qr.too_large`.
 */
export function unwrap(content: Uint8Array | string, expect?: PayloadKind): Envelope {
  const bytes = toBytes(content);
  if (!hasOffpayPrefix(bytes)) {
    // "OP1" followed by something that is not a valid header: ours, but damaged.
    if (bytes.length >= 3 && bytes[0] === 0x4f && bytes[1] === 0x50 && bytes[2] === 0x31) {
      throw new OffpayError('qr.bad_prefix', 'content starts with OP1 but has no valid offpay header');
    }
    throw new OffpayError('qr.foreign_code', 'the code is not an offpay code (no OP prefix)');
  }
  const versionChar = String.fromCharCode(bytes[2]!);
  if (versionChar !== String(PREFIX_VERSION)) {
    throw new OffpayError('qr.unsupported_version', `offpay code version ${versionChar} is not supported`, {
      version: versionChar,
    });
  }
  const kindLetter = String.fromCharCode(bytes[3]!);
  const kind: PayloadKind | undefined = kindLetter === 'T' ? 'token' : kindLetter === 'R' ? 'request' : undefined;
  if (!kind) throw new OffpayError('qr.bad_prefix', `unknown payload kind letter ${kindLetter}`, { kind: kindLetter });
  if (expect !== undefined && kind !== expect) {
    throw new OffpayError('qr.wrong_kind', `expected a ${expect} code, found a ${kind} code`, { expected: expect, found: kind });
  }
  const mode: PayloadMode = bytes[4] === 0x3a ? 'base45' : 'binary';
  const body = bytes.subarray(PREFIX_LENGTH);
  let payload: Uint8Array;
  if (mode === 'base45') {
    if (body.length > Math.ceil((MAX_PAYLOAD_BYTES * 3) / 2)) {
      throw new OffpayError('qr.too_large', `Base45 body of ${body.length} characters is too long`);
    }
    let text = '';
    for (let i = 0; i < body.length; i++) text += String.fromCharCode(body[i]!);
    payload = base45Decode(text);
  } else {
    payload = body.slice();
  }
  if (payload.length === 0) throw new OffpayError('qr.empty_payload', 'the offpay code carries no payload');
  if (payload.length > MAX_PAYLOAD_BYTES) {
    throw new OffpayError('qr.too_large', `payload of ${payload.length} bytes exceeds ${MAX_PAYLOAD_BYTES}`);
  }
  return { kind, version: PREFIX_VERSION, mode, payload };
}
