/**
 * NDEF (NFC Data Exchange Format, NFC Forum NDEF 1.0) message encoder and strict decoder.
 *
 * A message is a sequence of records; each record is
 *
 *   header(1) TYPE_LENGTH(1) PAYLOAD_LENGTH(1 if SR else 4, big-endian) [ID_LENGTH(1) if IL] TYPE ID PAYLOAD
 *
 * with header bits MB 0x80 (message begin), ME 0x40 (message end), CF 0x20 (chunk flag), SR 0x10 (short
 * record), IL 0x08 (ID length present) and the 3-bit TNF (type name format). A logical record may be split
 * into chunks: the first chunk carries TYPE, ID and CF=1; following chunks have TNF 6 (unchanged),
 * TYPE_LENGTH 0, no ID and CF=1 except the last. The decoder reassembles chunks into one logical record,
 * as Android's `NdefMessage(byte[])` and Web NFC do.
 *
 * Validation (spec/nfc.md §3.3; the rules follow nfcpy/ndeflib's strict decoder): TNF 7 is rejected;
 * TNF 0/5/6 need TYPE_LENGTH 0; TNF 0 needs ID_LENGTH = PAYLOAD_LENGTH = 0; TNF 1-4 need TYPE_LENGTH > 0;
 * the first record has MB, no later record has MB; the last record has ME and no CF; nothing follows ME;
 * chunk continuations use TNF 6 with no type and no ID; TNF 6 appears only as a chunk continuation.
 *
 * offpay's own record is the NFC Forum external type `offpay.dev:token` (TNF 4), payload = token bytes.
 * Pure code: no Node imports, works in browsers.
 */
import { concatBytes } from '../../base/bytes.js';
import { OffpayError, type ErrorReasonOf } from '../../base/errors.js';
import { validateOptions, type OptionsSchema } from '../../base/options.js';

/** Type name format values (3 bits of the record header). */
export const TNF = {
  /** 0: an empty record. */
  EMPTY: 0,
  /** 1: an NFC Forum well-known type (RTD: text, URI, smart poster). */
  WELL_KNOWN: 1,
  /** 2: a MIME media type (RFC 2046). */
  MEDIA: 2,
  /** 3: an absolute URI (RFC 3986) as the type. */
  ABSOLUTE_URI: 3,
  /** 4: an NFC Forum external type (offpay's `offpay.dev:token`). */
  EXTERNAL: 4,
  /** 5: an unknown type. */
  UNKNOWN: 5,
  /** 6: a middle or last chunk of a chunked record. */
  UNCHANGED: 6,
  /** 7: reserved. */
  RESERVED: 7,
} as const;
export type Tnf = (typeof TNF)[keyof typeof TNF];

/** Header flag bits. */
export const NDEF_FLAG = {
  /** Message Begin: the first record of the message. */
  MB: 0x80,
  /** Message End: the last record of the message. */
  ME: 0x40,
  /** Chunk Flag: a chunk of a record, more to follow. */
  CF: 0x20,
  /** Short Record: a 1-byte payload length. */
  SR: 0x10,
  /** ID Length present: the record has an id. */
  IL: 0x08,
} as const;

/** A logical NDEF record (chunks already reassembled). */
export interface NdefRecord {
  /** Type Name Format, 0..7 (see `TNF`). */
  tnf: number;
  /** Record type bytes (for offpay: the external type of spec/nfc.md §3.1). */
  type: Uint8Array;
  /** Record id bytes (may be empty). */
  id: Uint8Array;
  /** Record payload bytes (chunks already joined). */
  payload: Uint8Array;
}

/** One record as it appears on the wire (a chunk is one physical record). */
export interface NdefPhysicalRecord extends NdefRecord {
  /** Message Begin flag. */
  mb: boolean;
  /** Message End flag. */
  me: boolean;
  /** Chunk Flag: more chunks of this record follow. */
  cf: boolean;
  /** Short Record: one-byte payload length. */
  sr: boolean;
  /** ID Length field present. */
  il: boolean;
  /** Byte offset of the header in the message. */
  offset: number;
  /** Total encoded length of this record. */
  length: number;
}

export interface NdefEncodeOptions {
  /**
   * Split each payload longer than this into chunks of at most `chunkSize` bytes (CF + TNF 6). Default:
   * never chunk (offpay writers never chunk; the option exists for interoperability tests).
   */
  chunkSize?: number;
}

export interface NdefDecodeOptions {
  /** Reject a logical record whose reassembled payload exceeds this many bytes (default 1 MiB). */
  maxPayload?: number;
  /** Reject messages with more logical records than this (default 256). */
  maxRecords?: number;
}

/** The schema of {@link NdefEncodeOptions}, validated by {@link encodeNdefMessage} (`ndef.bad_option` naming the option). */
export const NDEF_ENCODE_OPTIONS_SCHEMA: OptionsSchema = {
  chunkSize: { type: 'integer', min: 1, max: 0xffffffff, unit: 'bytes' },
};
/** The schema of {@link NdefDecodeOptions}, validated by the NDEF parsers (`ndef.bad_option` naming the option). */
export const NDEF_DECODE_OPTIONS_SCHEMA: OptionsSchema = {
  maxPayload: { type: 'integer', min: 0, max: 1 << 30, unit: 'bytes' },
  maxRecords: { type: 'integer', min: 1, max: 1 << 20, unit: 'records' },
};

/** The NFC Forum external type name of offpay's token record (lower case; see spec/nfc.md §3.1). */
export const OFFPAY_NDEF_TYPE = 'offpay.dev:token';

const utf8 = new TextEncoder();

function fail(code: ErrorReasonOf<'ndef'>, message: string, detail?: Record<string, unknown>): never {
  throw new OffpayError(`ndef.${code}`, message, detail);
}

/** Build a record with a text type (ASCII/UTF-8), e.g. `record(TNF.EXTERNAL, 'offpay.dev:token', bytes)`. */
export function ndefRecord(tnf: number, type: string | Uint8Array, payload: Uint8Array, id?: string | Uint8Array): NdefRecord {
  return {
    tnf,
    type: typeof type === 'string' ? utf8.encode(type) : type,
    id: id === undefined ? new Uint8Array(0) : typeof id === 'string' ? utf8.encode(id) : id,
    payload,
  };
}

function checkRecordShape(r: NdefRecord, index: number): void {
  const at = { record: index };
  if (!Number.isInteger(r.tnf) || r.tnf < 0 || r.tnf > 6) fail('invalid_tnf', `record ${index}: TNF ${r.tnf} cannot be encoded`, at);
  if (r.tnf === TNF.UNCHANGED) fail('invalid_tnf', `record ${index}: TNF 6 (unchanged) is only for chunk continuations`, at);
  if (r.type.length > 255) fail('type_too_long', `record ${index}: type is ${r.type.length} bytes (max 255)`, at);
  if (r.id.length > 255) fail('id_too_long', `record ${index}: id is ${r.id.length} bytes (max 255)`, at);
  if (r.payload.length > 0xffffffff) fail('payload_too_long', `record ${index}: payload too long`, at);
  if ((r.tnf === TNF.EMPTY || r.tnf === TNF.UNKNOWN) && r.type.length !== 0)
    fail('type_length', `record ${index}: TNF ${r.tnf} must have an empty type`, at);
  if (r.tnf === TNF.EMPTY && (r.id.length !== 0 || r.payload.length !== 0))
    fail('empty_record', `record ${index}: an empty record (TNF 0) has no id and no payload`, at);
  if (r.tnf >= TNF.WELL_KNOWN && r.tnf <= TNF.EXTERNAL && r.type.length === 0)
    fail('type_length', `record ${index}: TNF ${r.tnf} needs a type`, at);
}

function physical(
  out: Uint8Array[],
  flags: number,
  tnf: number,
  type: Uint8Array,
  id: Uint8Array,
  payload: Uint8Array,
): void {
  const sr = payload.length <= 0xff;
  const il = id.length > 0;
  const n = payload.length;
  const head = [flags | (sr ? NDEF_FLAG.SR : 0) | (il ? NDEF_FLAG.IL : 0) | tnf, type.length];
  if (sr) head.push(n);
  else head.push((n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);
  if (il) head.push(id.length);
  out.push(Uint8Array.from(head), type, id, payload);
}

/**
 * Encode records as one NDEF message. An empty list encodes as a single empty record (`D0 00 00`), the
 * NFC Forum's representation of an empty message. Short records (SR) are used when a payload (or chunk)
 * is at most 255 bytes.
 */
export function encodeNdefMessage(records: readonly NdefRecord[], options: NdefEncodeOptions = {}): Uint8Array {
  validateOptions<NdefEncodeOptions>('encodeNdefMessage options', options, NDEF_ENCODE_OPTIONS_SCHEMA, 'ndef.bad_option');
  const list = records.length === 0 ? [ndefRecord(TNF.EMPTY, new Uint8Array(0), new Uint8Array(0))] : records;
  const chunk = options.chunkSize;
  if (chunk !== undefined && (!Number.isInteger(chunk) || chunk < 1))
    throw new OffpayError('ndef.bad_option', `chunkSize must be a positive integer, got ${chunk}`);
  const out: Uint8Array[] = [];
  list.forEach((r, i) => {
    checkRecordShape(r, i);
    const first = i === 0 ? NDEF_FLAG.MB : 0;
    const last = i === list.length - 1;
    if (chunk === undefined || r.payload.length <= chunk || r.tnf === TNF.EMPTY) {
      physical(out, first | (last ? NDEF_FLAG.ME : 0), r.tnf, r.type, r.id, r.payload);
      return;
    }
    const n = Math.ceil(r.payload.length / chunk);
    for (let k = 0; k < n; k++) {
      const part = r.payload.subarray(k * chunk, Math.min(r.payload.length, (k + 1) * chunk));
      const isLast = k === n - 1;
      const flags = (k === 0 ? first : 0) | (isLast ? (last ? NDEF_FLAG.ME : 0) : NDEF_FLAG.CF);
      if (k === 0) physical(out, flags, r.tnf, r.type, r.id, part);
      else physical(out, flags, TNF.UNCHANGED, new Uint8Array(0), new Uint8Array(0), part);
    }
  });
  return concatBytes(out);
}

/**
 * Most chunk continuations (the TNF 6 records after a record with CF) one message may have, all its chunked
 * records together; one more is `ndef.too_many_records` (spec/nfc.md §3.3 rule 7). A token is at most a few
 * hundred bytes, so even one-byte chunks stay far below it; without it a 1 MiB message could be 250,000 chunks
 * of one record, or 256 records of 1,000 chunks each. With it a message is at most maxRecords + 4096 physical
 * records.
 */
export const NDEF_MAX_CHUNKS = 4096;

/** One physical record as the walk sees it: flags and where its fields are in the input (no copies). */
interface RawRecord {
  mb: boolean;
  me: boolean;
  cf: boolean;
  sr: boolean;
  il: boolean;
  tnf: number;
  /** Byte offset of the header. */
  offset: number;
  /** Index of the physical record in the message. */
  index: number;
  typeStart: number;
  typeLength: number;
  idStart: number;
  idLength: number;
  payloadStart: number;
  payloadLength: number;
  /** Total encoded length. */
  length: number;
}

/**
 * Walk the physical records of a message, applying every per-record and message-level rule in the order of
 * spec/nfc.md §3.3, and hand each record to `visit` (its fields as offsets into `bytes`; nothing is kept).
 */
function walkNdef(bytes: Uint8Array, maxRecords: number, visit: (r: RawRecord) => void): void {
  if (bytes.length === 0) fail('empty', 'no bytes: an NDEF message has at least one record');
  let pos = 0;
  let inChunk = false;
  let logical = 0;
  let continuations = 0;
  for (let index = 0; ; index++) {
    const start = pos;
    const need = (n: number, what: string): void => {
      if (pos + n > bytes.length)
        fail('truncated', `record ${index} at offset ${start}: ${what} needs ${n} bytes, ${bytes.length - pos} left`, {
          offset: start,
          record: index,
        });
    };
    need(2, 'header');
    const h = bytes[pos]!;
    const typeLength = bytes[pos + 1]!;
    pos += 2;
    const mb = (h & NDEF_FLAG.MB) !== 0;
    const me = (h & NDEF_FLAG.ME) !== 0;
    const cf = (h & NDEF_FLAG.CF) !== 0;
    const sr = (h & NDEF_FLAG.SR) !== 0;
    const il = (h & NDEF_FLAG.IL) !== 0;
    const tnf = h & 0x07;
    const at = { offset: start, record: index };
    let payloadLength: number;
    if (sr) {
      need(1, 'PAYLOAD_LENGTH');
      payloadLength = bytes[pos]!;
      pos += 1;
    } else {
      need(4, 'PAYLOAD_LENGTH');
      payloadLength = ((bytes[pos]! << 24) >>> 0) + (bytes[pos + 1]! << 16) + (bytes[pos + 2]! << 8) + bytes[pos + 3]!;
      pos += 4;
    }
    let idLength = 0;
    if (il) {
      need(1, 'ID_LENGTH');
      idLength = bytes[pos]!;
      pos += 1;
    }
    if (tnf === TNF.RESERVED) fail('reserved_tnf', `record ${index}: TNF 7 is reserved`, at);
    if (index === 0 && !mb) fail('no_mb', 'the first record does not have MB set', at);
    if (index > 0 && mb) fail('mb_in_middle', `record ${index}: MB set on a record that is not the first`, at);
    if ((tnf === TNF.EMPTY || tnf === TNF.UNKNOWN || tnf === TNF.UNCHANGED) && typeLength !== 0)
      fail('type_length', `record ${index}: TNF ${tnf} must have TYPE_LENGTH 0, got ${typeLength}`, at);
    if (tnf >= TNF.WELL_KNOWN && tnf <= TNF.EXTERNAL && typeLength === 0)
      fail('type_length', `record ${index}: TNF ${tnf} needs a type`, at);
    if (tnf === TNF.EMPTY && (idLength !== 0 || payloadLength !== 0))
      fail('empty_record', `record ${index}: an empty record (TNF 0) has ID_LENGTH and PAYLOAD_LENGTH 0`, at);
    if (inChunk) {
      if (tnf !== TNF.UNCHANGED) fail('chunk_sequence', `record ${index}: a chunk continuation must have TNF 6`, at);
      if (il) fail('chunk_sequence', `record ${index}: a chunk continuation must not carry an ID`, at);
    } else if (tnf === TNF.UNCHANGED) {
      fail('unexpected_unchanged', `record ${index}: TNF 6 outside a chunked record`, at);
    }
    if (cf && tnf === TNF.EMPTY) fail('chunk_sequence', `record ${index}: an empty record cannot be chunked`, at);
    need(typeLength, 'TYPE');
    const typeStart = pos;
    pos += typeLength;
    need(idLength, 'ID');
    const idStart = pos;
    pos += idLength;
    need(payloadLength, 'PAYLOAD');
    const payloadStart = pos;
    pos += payloadLength;
    if (!inChunk) {
      logical += 1; // this physical record starts a logical record
      if (logical > maxRecords) fail('too_many_records', `more than ${maxRecords} records`, at);
    } else if (++continuations > NDEF_MAX_CHUNKS) {
      fail('too_many_records', `record ${index}: more than ${NDEF_MAX_CHUNKS} chunk continuations in the message`, { ...at, limit: NDEF_MAX_CHUNKS });
    }
    visit({ mb, me, cf, sr, il, tnf, offset: start, index, typeStart, typeLength, idStart, idLength, payloadStart, payloadLength, length: pos - start });
    inChunk = cf;
    if (me) {
      if (cf) fail('chunk_unterminated', `record ${index}: the last record (ME) has CF set`, at);
      if (pos !== bytes.length)
        fail('trailing_bytes', `${bytes.length - pos} bytes after the message end (ME) at offset ${pos}`, { offset: pos });
      return;
    }
    if (pos >= bytes.length) fail('no_me', `input ends after record ${index} without a record marked ME`, at);
  }
}

/**
 * Parse the physical records of a message without reassembling chunks, applying every per-record and
 * message-level rule. Throws `OffpayError` (`ndef.*`) on malformed input; never reads past the input.
 */
export function parseNdefRecords(bytes: Uint8Array, options: NdefDecodeOptions = {}): NdefPhysicalRecord[] {
  validateOptions<NdefDecodeOptions>('NDEF decode options', options, NDEF_DECODE_OPTIONS_SCHEMA, 'ndef.bad_option');
  const records: NdefPhysicalRecord[] = [];
  walkNdef(bytes, options.maxRecords ?? 256, (r) => {
    records.push({
      tnf: r.tnf,
      type: bytes.slice(r.typeStart, r.typeStart + r.typeLength),
      id: bytes.slice(r.idStart, r.idStart + r.idLength),
      payload: bytes.slice(r.payloadStart, r.payloadStart + r.payloadLength),
      mb: r.mb,
      me: r.me,
      cf: r.cf,
      sr: r.sr,
      il: r.il,
      offset: r.offset,
      length: r.length,
    });
  });
  return records;
}

/**
 * Decode an NDEF message into logical records, reassembling chunked records. The walk keeps one entry per
 * logical record (never one per chunk); a second walk copies each chunk's payload into its record.
 */
export function decodeNdefMessage(bytes: Uint8Array, options: NdefDecodeOptions = {}): NdefRecord[] {
  validateOptions<NdefDecodeOptions>('NDEF decode options', options, NDEF_DECODE_OPTIONS_SCHEMA, 'ndef.bad_option');
  const maxPayload = options.maxPayload ?? 1 << 20;
  const maxRecords = options.maxRecords ?? 256;
  interface Logical { first: RawRecord; size: number; overAt: number | undefined }
  const logical: Logical[] = [];
  let cur: Logical | undefined;
  walkNdef(bytes, maxRecords, (r) => {
    if (!cur) {
      cur = { first: r, size: 0, overAt: undefined };
      logical.push(cur);
    }
    cur.size += r.payloadLength;
    if (cur.size > maxPayload && cur.overAt === undefined) cur.overAt = r.offset;
    if (!r.cf) cur = undefined;
  });
  for (const l of logical) {
    if (l.overAt !== undefined) fail('payload_too_long', `record payload exceeds ${maxPayload} bytes`, { offset: l.overAt, limit: maxPayload });
  }
  const out: NdefRecord[] = logical.map(({ first: f, size }) => ({
    tnf: f.tnf,
    type: bytes.slice(f.typeStart, f.typeStart + f.typeLength),
    id: bytes.slice(f.idStart, f.idStart + f.idLength),
    payload: new Uint8Array(size),
  }));
  let k = -1;
  let filled = 0;
  let inRecord = false;
  walkNdef(bytes, maxRecords, (r) => {
    if (!inRecord) {
      k += 1;
      filled = 0;
    }
    out[k]!.payload.set(bytes.subarray(r.payloadStart, r.payloadStart + r.payloadLength), filled);
    filled += r.payloadLength;
    inRecord = r.cf;
  });
  return out;
}

function lower(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b >= 0x41 && b <= 0x5a ? b + 0x20 : b);
  return s;
}

/** True when `r` is offpay's token record (TNF 4, type compared case-insensitively as the NFC Forum requires). */
export function isOffpayTokenRecord(r: NdefRecord): boolean {
  return r.tnf === TNF.EXTERNAL && lower(r.type) === OFFPAY_NDEF_TYPE;
}

/** Encode a token as a one-record NDEF message: MB=ME=1, SR when the token is at most 255 bytes, no ID, no chunks. */
export function encodeTokenNdef(token: Uint8Array): Uint8Array {
  if (token.length === 0) throw new OffpayError('ndef.empty_token', 'the token is empty');
  return encodeNdefMessage([ndefRecord(TNF.EXTERNAL, OFFPAY_NDEF_TYPE, token)]);
}

/**
 * Extract the token from an NDEF message: the payload of the first `offpay.dev:token` record (other records,
 * e.g. an Android Application Record, are ignored). Chunked input is accepted.
 */
export function decodeTokenNdef(message: Uint8Array, options: NdefDecodeOptions = {}): Uint8Array {
  const rec = decodeNdefMessage(message, options).find(isOffpayTokenRecord);
  if (!rec) throw new OffpayError('ndef.no_token_record', `no ${OFFPAY_NDEF_TYPE} record in the message`);
  if (rec.payload.length === 0) throw new OffpayError('ndef.empty_token', `the ${OFFPAY_NDEF_TYPE} record is empty`);
  return rec.payload;
}
