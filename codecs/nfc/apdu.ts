/**
 * ISO/IEC 7816-4 command and response APDUs: encode, strict parse, command chaining, status words.
 *
 * Command cases (ISO/IEC 7816-4 §5.1; Ne = maximum response data length, Nc = command data length):
 *
 *   case 1   CLA INS P1 P2
 *   case 2s  CLA INS P1 P2 Le                    Le 01..FF, 00 = 256
 *   case 3s  CLA INS P1 P2 Lc data               Lc 01..FF
 *   case 4s  CLA INS P1 P2 Lc data Le
 *   case 2e  CLA INS P1 P2 00 Le1 Le2            Le 0001..FFFF, 0000 = 65536
 *   case 3e  CLA INS P1 P2 00 Lc1 Lc2 data       Lc 0001..FFFF
 *   case 4e  CLA INS P1 P2 00 Lc1 Lc2 data Le1 Le2   (Le without the leading 00)
 *
 * A response is `data || SW1 SW2`. Command chaining (CLA bit b5, 0x10 = "not the last command of a chain")
 * lets a sender split data over several short commands. Pure code: works in browsers.
 */
import { OffpayError, type ErrorReasonOf } from '../../base/errors.js';

/** Status words used by offpay (values from ISO/IEC 7816-4 table 5/6; see spec/nfc.md §4.5). */
export const SW = {
  /** 9000: success. */
  OK: 0x9000,
  /** 61XX: XX more bytes available with GET RESPONSE (00 = 256 or more). */
  BYTES_REMAINING: 0x6100,
  /** 6700: wrong length (Lc or the data). */
  WRONG_LENGTH: 0x6700,
  /** 6CXX: wrong Le; resend the same command with Le = XX. */
  WRONG_LE: 0x6c00,
  /** 6883: the last command of a chain was expected. */
  LAST_COMMAND_EXPECTED: 0x6883,
  /** 6884: command chaining not supported. */
  CHAINING_NOT_SUPPORTED: 0x6884,
  /** 6982: security status not satisfied (the wallet is locked). */
  SECURITY_STATUS: 0x6982,
  /** 6984: reference data not usable (the request cannot be used). */
  REFERENCE_DATA_UNUSABLE: 0x6984,
  /** 6985: conditions of use not satisfied (the wallet declines). */
  CONDITIONS_NOT_SATISFIED: 0x6985,
  /** 6A80: incorrect data (the request does not decode). */
  WRONG_DATA: 0x6a80,
  /** 6A84: not enough memory (a request or receipt over the card's limit). */
  NOT_ENOUGH_MEMORY: 0x6a84,
  /** 6A82: file or application not found. */
  FILE_NOT_FOUND: 0x6a82,
  /** 6A86: incorrect parameters P1-P2. */
  WRONG_P1P2: 0x6a86,
  /** 6D00: instruction not supported. */
  INS_NOT_SUPPORTED: 0x6d00,
  /** 6E00: class not supported. */
  CLA_NOT_SUPPORTED: 0x6e00,
  /** 6F00: no precise diagnosis (an internal error). */
  UNKNOWN: 0x6f00,
} as const;

/** CLA bit b5: command chaining, "more commands of this chain follow". */
export const CLA_CHAINING = 0x10;

/** INS values of the interindustry commands offpay uses. */
export const INS = {
  /** A4: SELECT (by AID). */
  SELECT: 0xa4,
  /** C0: GET RESPONSE (the rest of a response announced by 61XX). */
  GET_RESPONSE: 0xc0,
} as const;

/**
 * A command APDU (ISO/IEC 7816-4 §5.1): class, instruction, parameters, command data (Nc = data.length,
 * 0..65535) and Ne, the most response data bytes expected (0 = no Le field).
 */
export interface CommandApdu {
  /** Class byte, 0..255. */
  cla: number;
  /** Instruction byte, 0..255. */
  ins: number;
  /** Parameter 1, 0..255. */
  p1: number;
  /** Parameter 2, 0..255. */
  p2: number;
  /** Command data (Nc = data.length, 0..65535). */
  data: Uint8Array;
  /** Ne: the maximum number of response data bytes expected; 0 = no Le field (cases 1 and 3). */
  ne: number;
}

/** A command APDU as parsed from bytes ({@link parseCommand}), with its ISO case and length format. */
export interface ParsedCommandApdu extends CommandApdu {
  /** ISO case 1..4 */
  case: 1 | 2 | 3 | 4;
  /** Whether the extended length format was used. */
  extended: boolean;
}

/** A response APDU: the response data and the status word (SW1 << 8 | SW2, e.g. 0x9000). */
export interface ResponseApdu {
  /** Response data (may be empty). */
  data: Uint8Array;
  /** Status word, 0x0000..0xFFFF. */
  sw: number;
}

function fail(code: ErrorReasonOf<'apdu'>, message: string, detail?: Record<string, unknown>): never {
  throw new OffpayError(`apdu.${code}`, message, detail);
}

function byte(v: number, name: string): number {
  if (!Number.isInteger(v) || v < 0 || v > 0xff) fail('invalid_field', `${name} must be a byte, got ${v}`);
  return v;
}

/** Options of {@link encodeCommand}. */
export interface EncodeCommandOptions {
  /** Force the extended length format even when short would do. Default: extended only when needed. */
  extended?: boolean;
}

/** Whether a command needs the extended format (Nc > 255 or Ne > 256). */
export function needsExtended(cmd: Pick<CommandApdu, 'data' | 'ne'>): boolean {
  return cmd.data.length > 255 || cmd.ne > 256;
}

/** Encode a command APDU, choosing the shortest valid case unless `extended` is forced. */
export function encodeCommand(cmd: CommandApdu, options: EncodeCommandOptions = {}): Uint8Array {
  const nc = cmd.data.length;
  const ne = cmd.ne;
  if (nc > 65535) fail('data_too_long', `command data is ${nc} bytes (max 65535)`);
  if (!Number.isInteger(ne) || ne < 0 || ne > 65536) fail('invalid_field', `Ne must be 0..65536, got ${ne}`);
  const head = [byte(cmd.cla, 'CLA'), byte(cmd.ins, 'INS'), byte(cmd.p1, 'P1'), byte(cmd.p2, 'P2')];
  const ext = options.extended === true || needsExtended(cmd);
  // length fields: Lc (before the data) and Le (after it), in the chosen format
  let lc: number[] = [];
  let le: number[] = [];
  if (!ext) {
    if (nc > 0) lc = [nc];
    if (ne > 0) le = [ne & 0xff]; // 256 -> 00
  } else if (nc > 0 || ne > 0) {
    // case 1 has no extended form
    if (nc > 0) lc = [0x00, (nc >> 8) & 0xff, nc & 0xff];
    if (ne > 0) le = nc === 0 ? [0x00, (ne >> 8) & 0xff, ne & 0xff] : [(ne >> 8) & 0xff, ne & 0xff]; // 65536 -> 0000
  }
  const out = new Uint8Array(4 + lc.length + nc + le.length);
  out.set(head, 0);
  out.set(lc, 4);
  out.set(cmd.data, 4 + lc.length);
  out.set(le, 4 + lc.length + nc);
  return out;
}

/** Parse a command APDU strictly: the length fields must account for every byte. Throws `apdu.*`. */
export function parseCommand(bytes: Uint8Array): ParsedCommandApdu {
  const n = bytes.length;
  if (n < 4) fail('too_short', `a command APDU has at least 4 bytes, got ${n}`, { length: n });
  const [cla, ins, p1, p2] = [bytes[0]!, bytes[1]!, bytes[2]!, bytes[3]!];
  const base = { cla, ins, p1, p2 };
  const empty = new Uint8Array(0);
  if (n === 4) return { ...base, data: empty, ne: 0, case: 1, extended: false };
  const b4 = bytes[4]!;
  if (n === 5) return { ...base, data: empty, ne: b4 === 0 ? 256 : b4, case: 2, extended: false };
  if (b4 !== 0) {
    const nc = b4;
    if (n === 5 + nc) return { ...base, data: bytes.slice(5), ne: 0, case: 3, extended: false };
    if (n === 6 + nc) {
      const le = bytes[n - 1]!;
      return { ...base, data: bytes.slice(5, 5 + nc), ne: le === 0 ? 256 : le, case: 4, extended: false };
    }
    fail('length_mismatch', `Lc = ${nc} but the command has ${n - 5} bytes after Lc`, { lc: nc, length: n });
  }
  // extended: b4 = 00
  if (n === 6) fail('length_mismatch', 'a 6-byte command with a 00 length byte is not a valid case', { length: n });
  const l = (bytes[5]! << 8) | bytes[6]!;
  if (n === 7) return { ...base, data: empty, ne: l === 0 ? 65536 : l, case: 2, extended: true };
  if (l === 0) fail('length_mismatch', 'extended Lc = 0000 is not allowed', { length: n });
  if (n === 7 + l) return { ...base, data: bytes.slice(7), ne: 0, case: 3, extended: true };
  if (n === 9 + l) {
    const le = (bytes[n - 2]! << 8) | bytes[n - 1]!;
    return { ...base, data: bytes.slice(7, 7 + l), ne: le === 0 ? 65536 : le, case: 4, extended: true };
  }
  fail('length_mismatch', `extended Lc = ${l} but the command has ${n - 7} bytes after Lc`, { lc: l, length: n });
}

/** Encode a response APDU `data || SW1 SW2`. */
export function encodeResponse(data: Uint8Array, sw: number): Uint8Array {
  if (!Number.isInteger(sw) || sw < 0 || sw > 0xffff) fail('invalid_field', `SW must be 16 bits, got ${sw}`);
  const out = new Uint8Array(data.length + 2);
  out.set(data, 0);
  out[data.length] = sw >> 8;
  out[data.length + 1] = sw & 0xff;
  return out;
}

/** Shorthand for a response with no data. */
export function statusOnly(sw: number): Uint8Array {
  return encodeResponse(new Uint8Array(0), sw);
}

/** Parse a response APDU; fewer than 2 bytes is `apdu.response_too_short`. */
export function parseResponse(bytes: Uint8Array): ResponseApdu {
  if (bytes.length < 2) fail('response_too_short', `a response APDU has at least 2 bytes (SW1 SW2), got ${bytes.length}`, { length: bytes.length });
  const n = bytes.length;
  return { data: bytes.slice(0, n - 2), sw: (bytes[n - 2]! << 8) | bytes[n - 1]! };
}

/** SW1 of a status word. */
export const sw1 = (sw: number): number => sw >> 8;
/** SW2 of a status word. */
export const sw2 = (sw: number): number => sw & 0xff;

/** Format a status word as four upper-case hex digits, e.g. `6A82`. */
export function swHex(sw: number): string {
  return sw.toString(16).toUpperCase().padStart(4, '0');
}

/** Whether `sw` is 9000 (success). 61XX is "success, more data" and is handled by the caller. */
export const isOk = (sw: number): boolean => sw === SW.OK;

/**
 * Split a command into a chain (ISO/IEC 7816-4 §5.3): every part but the last has CLA | 0x10 and no Le;
 * the last part carries the original CLA and Ne. Each part carries at most `maxData` bytes (default 255, so
 * every part is a short APDU). Commands with at most `maxData` bytes of data are returned unchanged.
 */
export function chainCommand(cmd: CommandApdu, maxData = 255): CommandApdu[] {
  if (!Number.isInteger(maxData) || maxData < 1 || maxData > 65535) fail('invalid_field', `maxData must be 1..65535, got ${maxData}`);
  if ((cmd.cla & CLA_CHAINING) !== 0) fail('invalid_field', 'the command already has the chaining bit set');
  if (cmd.data.length <= maxData) return [cmd];
  const parts: CommandApdu[] = [];
  for (let o = 0; o < cmd.data.length; o += maxData) {
    const last = o + maxData >= cmd.data.length;
    parts.push({
      cla: last ? cmd.cla : cmd.cla | CLA_CHAINING,
      ins: cmd.ins,
      p1: cmd.p1,
      p2: cmd.p2,
      data: cmd.data.subarray(o, Math.min(cmd.data.length, o + maxData)),
      ne: last ? cmd.ne : 0,
    });
  }
  return parts;
}

/** GET RESPONSE `00 C0 00 00 Le` for `ne` bytes (1..256; 256 is encoded as 00). */
export function getResponseCommand(ne: number): CommandApdu {
  return { cla: 0x00, ins: INS.GET_RESPONSE, p1: 0, p2: 0, data: new Uint8Array(0), ne };
}

/** SELECT by DF name (AID): `00 A4 04 00 Lc AID 00`. */
export function selectCommand(aid: Uint8Array): CommandApdu {
  if (aid.length < 5 || aid.length > 16) fail('invalid_field', `an AID has 5 to 16 bytes, got ${aid.length}`);
  return { cla: 0x00, ins: INS.SELECT, p1: 0x04, p2: 0x00, data: aid, ne: 256 };
}
