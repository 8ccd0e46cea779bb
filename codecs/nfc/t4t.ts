/**
 * NFC Forum Type 4 Tag (T4T) NDEF application, so a phone in card emulation can present the token as NDEF
 * to readers that only speak NDEF (Web NFC on Chrome for Android, any phone's tag dispatch): spec/nfc.md §3.4.
 *
 *   SELECT NDEF application   00 A4 04 00 07 D2760000850101 00
 *   SELECT capability file    00 A4 00 0C 02 E103
 *   READ BINARY               00 B0 <offset 15 bits> Le          -> CC (15 bytes)
 *   SELECT NDEF file          00 A4 00 0C 02 E104
 *   READ BINARY               00 B0 0000 02                      -> NLEN
 *   READ BINARY               00 B0 0002 Le ...                  -> the NDEF message
 *
 * Read-only (write access FF; UPDATE BINARY answers 6982). Also: a reader for such tags over any CardLink,
 * and an AID router that serves several applications from one emulated card, as Android's routing does.
 * Sources: NFC Forum T4T as summarised by TI SLOA227B §5 and Nordic's T4T documentation (research note §1.1).
 * Pure code: works in browsers.
 */
import { OffpayError } from '../../base/errors.js';
import { equalBytes } from '../../base/bytes.js';
import { validateOptions, type OptionsSchema } from '../../base/options.js';
import { INS, SW, encodeCommand, encodeResponse, parseCommand, parseResponse, statusOnly, swHex, type CommandApdu } from './apdu.js';
import type { ApduProcessor, CardLink } from './session.js';

/** NDEF Tag Application AID (T4T v2.0). */
export const NDEF_TAG_AID = Uint8Array.of(0xd2, 0x76, 0x00, 0x00, 0x85, 0x01, 0x01);
/** File id of the capability container (T4T v2.0): E103. */
export const CC_FILE_ID = 0xe103;
/** File id of the NDEF file this tag serves: E104. */
export const NDEF_FILE_ID = 0xe104;
const READ_BINARY = 0xb0;
const UPDATE_BINARY = 0xd6;

/** Options of {@link NdefTagApplication}. */
export interface NdefTagOptions {
  /** MLe: largest READ BINARY response data the tag sends (default 255, at least 15). */
  mle?: number;
  /** MLc advertised (default 255; the tag is read-only anyway). */
  mlc?: number;
}

/** The schema of {@link NdefTagOptions}, validated by the {@link NdefTagApplication} constructor (`nfc.bad_option`). */
export const NDEF_TAG_OPTIONS_SCHEMA: OptionsSchema = {
  mle: { type: 'integer', min: 0x0f, max: 0xffff, unit: 'bytes' },
  mlc: { type: 'integer', min: 1, max: 0xffff, unit: 'bytes' },
};

/** Capability container fields (T4T mapping version 2.0). */
export interface CapabilityContainer {
  /** Mapping version byte (0x20 for T4T mapping 2.0). */
  version: number;
  /** MLe: largest READ BINARY response data the tag sends, bytes. */
  mle: number;
  /** MLc: largest UPDATE BINARY command data the tag accepts, bytes. */
  mlc: number;
  /** File id of the NDEF file (E104 for offpay's tag). */
  ndefFileId: number;
  /** Largest NDEF file (NLEN + message). */
  maxNdefFile: number;
  /** Read access byte (00: granted without security). */
  readAccess: number;
  /** Write access byte (00: granted; FF: read-only). */
  writeAccess: number;
}

/** The 15 bytes of a capability container. */
export function encodeCc(cc: CapabilityContainer): Uint8Array {
  const b = (n: number) => [(n >> 8) & 0xff, n & 0xff];
  return Uint8Array.from([0x00, 0x0f, cc.version, ...b(cc.mle), ...b(cc.mlc), 0x04, 0x06, ...b(cc.ndefFileId), ...b(cc.maxNdefFile), cc.readAccess, cc.writeAccess]);
}

/**
 * Parse a capability container (mapping version 2.x or 3.x, MLe >= 15, free read access).
 * @throws OffpayError `nfc.bad_cc` naming what is wrong.
 */
export function parseCc(bytes: Uint8Array): CapabilityContainer {
  const bad = (why: string): never => {
    throw new OffpayError('nfc.bad_cc', `capability container: ${why}`);
  };
  if (bytes.length < 15) bad(`${bytes.length} bytes, need 15`);
  const u16 = (i: number) => (bytes[i]! << 8) | bytes[i + 1]!;
  // CCLEN may exceed the 15 bytes read: a CC may hold more TLVs after the NDEF File Control TLV (NTAG 424 DNA's
  // is 23 bytes, with a proprietary file TLV 05); everything this reader needs is in the first 15.
  const cclen = u16(0);
  if (cclen < 15) bad(`CCLEN ${cclen}`);
  const version = bytes[2]!;
  if (version >> 4 !== 2 && version >> 4 !== 3) bad(`mapping version ${version.toString(16)}`);
  if (bytes[7] !== 0x04 || bytes[8] !== 0x06) bad('no NDEF File Control TLV (04 06) at offset 7');
  const cc = { version, mle: u16(3), mlc: u16(5), ndefFileId: u16(9), maxNdefFile: u16(11), readAccess: bytes[13]!, writeAccess: bytes[14]! };
  if (cc.mle < 0x0f) bad(`MLe ${cc.mle} < 15`);
  if (cc.maxNdefFile < 5) bad(`maximum NDEF file size ${cc.maxNdefFile}`);
  if (cc.readAccess !== 0x00) bad(`read access ${cc.readAccess.toString(16)} (not 00: no free read access)`);
  return cc;
}

/** A read-only Type 4 Tag holding one NDEF message (e.g. `encodeTokenNdef(token)`). */
export class NdefTagApplication implements ApduProcessor {
  private selected = false;
  private file: Uint8Array | undefined;
  private readonly cc: Uint8Array;
  private readonly ndefFile: Uint8Array;

  constructor(message: Uint8Array, options: NdefTagOptions = {}) {
    validateOptions<NdefTagOptions>('NdefTagApplication options', options, NDEF_TAG_OPTIONS_SCHEMA, 'nfc.bad_option');
    const mle = options.mle ?? 0xff;
    if (message.length > 0x7fff - 2) throw new OffpayError('nfc.bad_option', 'the NDEF message is too large for a T4T file (32 765 bytes)');
    this.ndefFile = new Uint8Array(2 + message.length);
    this.ndefFile[0] = message.length >> 8;
    this.ndefFile[1] = message.length & 0xff;
    this.ndefFile.set(message, 2);
    this.cc = encodeCc({
      version: 0x20,
      mle,
      mlc: options.mlc ?? 0xff,
      ndefFileId: NDEF_FILE_ID,
      maxNdefFile: this.ndefFile.length,
      readAccess: 0x00,
      writeAccess: 0xff,
    });
  }

  /** The card left the field or was deselected: forget the selection. */
  deactivate(): void {
    this.selected = false;
    this.file = undefined;
  }

  /** Process one command APDU (SELECT, READ BINARY); never rejects: an error is a status word. */
  async process(bytes: Uint8Array): Promise<Uint8Array> {
    let c;
    try {
      c = parseCommand(bytes);
    } catch {
      return statusOnly(SW.WRONG_LENGTH);
    }
    if (c.cla !== 0x00) return statusOnly(SW.CLA_NOT_SUPPORTED);
    if (c.ins === INS.SELECT) {
      if (c.p1 === 0x04) {
        if (!equalBytes(c.data, NDEF_TAG_AID)) {
          this.deactivate();
          return statusOnly(SW.FILE_NOT_FOUND);
        }
        if (c.p2 !== 0x00 && c.p2 !== 0x0c) return statusOnly(SW.WRONG_P1P2);
        this.selected = true;
        this.file = undefined;
        return statusOnly(SW.OK);
      }
      if (c.p1 === 0x00 && c.p2 === 0x0c) {
        if (!this.selected) return statusOnly(SW.CONDITIONS_NOT_SATISFIED);
        if (c.data.length !== 2) return statusOnly(SW.WRONG_LENGTH);
        const id = (c.data[0]! << 8) | c.data[1]!;
        if (id === CC_FILE_ID) this.file = this.cc;
        else if (id === NDEF_FILE_ID) this.file = this.ndefFile;
        else return statusOnly(SW.FILE_NOT_FOUND);
        return statusOnly(SW.OK);
      }
      return statusOnly(SW.WRONG_P1P2);
    }
    if (c.ins === READ_BINARY) {
      if (!this.file) return statusOnly(0x6986); // command not allowed: no current EF
      if (c.p1 & 0x80) return statusOnly(SW.WRONG_P1P2); // short EF identifier: not supported
      const offset = (c.p1 << 8) | c.p2;
      if (offset > this.file.length) return statusOnly(0x6b00); // wrong parameters: offset outside the EF
      if (c.ne === 0) return statusOnly(SW.WRONG_LENGTH);
      const mle = (this.cc[3]! << 8) | this.cc[4]!;
      return encodeResponse(this.file.subarray(offset, Math.min(this.file.length, offset + Math.min(c.ne, mle))), SW.OK);
    }
    if (c.ins === UPDATE_BINARY) return statusOnly(SW.SECURITY_STATUS); // read-only tag
    return statusOnly(SW.INS_NOT_SUPPORTED);
  }
}

/** Options of {@link readNdefTag}, bounding what a hostile tag can make the reader read. */
export interface ReadNdefTagOptions {
  /** Largest NDEF message accepted (default 8192). */
  maxMessage?: number;
  /** Largest READ BINARY Le the reader uses (default 255; the tag's MLe may lower it). */
  maxLe?: number;
  /** Time limit per APDU, ms (default 5000, as the reader session's): `nfc.timeout` when the tag does not answer. */
  apduTimeoutMs?: number;
}

/** The schema of {@link ReadNdefTagOptions}, validated by {@link readNdefTag} (`nfc.bad_option` naming the option). */
export const READ_NDEF_TAG_OPTIONS_SCHEMA: OptionsSchema = {
  maxMessage: { type: 'integer', min: 1, max: 0x7ffd, unit: 'bytes' },
  maxLe: { type: 'integer', min: 1, max: 0xffff, unit: 'bytes' },
  apduTimeoutMs: { type: 'integer', min: 1, max: 600_000, unit: 'ms' },
};

/**
 * Read the NDEF message from a Type 4 Tag (or a phone emulating one) over any CardLink. Throws
 * `nfc.not_ndef_tag`, `nfc.bad_cc`, `nfc.ndef_too_large`, `nfc.empty_tag`, `nfc.bad_response`, `nfc.timeout`,
 * `nfc.card_lost`, `nfc.link_error` or `nfc.status` (spec/nfc.md §3.4).
 */
export async function readNdefTag(link: CardLink, options: ReadNdefTagOptions = {}): Promise<Uint8Array> {
  validateOptions<ReadNdefTagOptions>('readNdefTag options', options, READ_NDEF_TAG_OPTIONS_SCHEMA, 'nfc.bad_option');
  const maxMessage = options.maxMessage ?? 8192;
  const timeoutMs = options.apduTimeoutMs ?? 5000;
  let roundTrip = 0;
  const send = async (cmd: CommandApdu, what: string): Promise<Uint8Array> => {
    let raw: Uint8Array;
    roundTrip++;
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new OffpayError('nfc.timeout', `${what}: no response within ${timeoutMs} ms`, { roundTrip })), timeoutMs);
      });
      raw = await Promise.race([link.transmit(encodeCommand(cmd)), timeout]);
    } catch (e) {
      if (e instanceof OffpayError && e.code === 'nfc.card_lost') throw new OffpayError(e.code, e.message, { ...e.detail, roundTrip });
      if (e instanceof OffpayError) throw e;
      throw new OffpayError('nfc.link_error', `transmit failed: ${e instanceof Error ? e.message : String(e)}`);
    } finally {
      if (timer !== undefined) clearTimeout(timer);
    }
    if (raw.length < 2) throw new OffpayError('nfc.card_lost', `the tag answered ${raw.length} bytes: it is gone`, { length: raw.length, roundTrip });
    const r = parseResponse(raw);
    if (r.sw === SW.FILE_NOT_FOUND && what === 'SELECT NDEF application') throw new OffpayError('nfc.not_ndef_tag', 'no NDEF tag application (6A82)');
    if (r.sw !== SW.OK) throw new OffpayError('nfc.status', `${what}: tag answered ${swHex(r.sw)}`, { sw: swHex(r.sw), command: what });
    return r.data;
  };
  const selectFile = (id: number, what: string) =>
    send({ cla: 0, ins: INS.SELECT, p1: 0x00, p2: 0x0c, data: Uint8Array.of(id >> 8, id & 0xff), ne: 0 }, what);
  const read = (offset: number, le: number, what: string) =>
    send({ cla: 0, ins: READ_BINARY, p1: offset >> 8, p2: offset & 0xff, data: new Uint8Array(0), ne: le }, what);

  await send({ cla: 0, ins: INS.SELECT, p1: 0x04, p2: 0x00, data: NDEF_TAG_AID, ne: 256 }, 'SELECT NDEF application');
  await selectFile(CC_FILE_ID, 'SELECT CC');
  const cc = parseCc(await read(0, 15, 'READ CC'));
  const chunk = Math.min(cc.mle, options.maxLe ?? 255, 256);
  await selectFile(cc.ndefFileId, 'SELECT NDEF file');
  const nlenBytes = await read(0, 2, 'READ NLEN');
  if (nlenBytes.length !== 2) throw new OffpayError('nfc.bad_cc', `NLEN read returned ${nlenBytes.length} bytes`);
  const nlen = (nlenBytes[0]! << 8) | nlenBytes[1]!;
  if (nlen === 0) throw new OffpayError('nfc.empty_tag', 'the tag holds no NDEF message (NLEN 0)');
  if (nlen > maxMessage || nlen + 2 > cc.maxNdefFile)
    throw new OffpayError('nfc.ndef_too_large', `NLEN ${nlen} exceeds the limit (${Math.min(maxMessage, cc.maxNdefFile - 2)})`);
  const msg = new Uint8Array(nlen);
  let got = 0;
  while (got < nlen) {
    const part = await read(2 + got, Math.min(chunk, nlen - got), 'READ NDEF');
    if (part.length === 0) throw new OffpayError('nfc.bad_response', 'READ BINARY returned no data before the end of the message');
    const n = Math.min(part.length, nlen - got);
    msg.set(part.subarray(0, n), got);
    got += n;
  }
  return msg;
}

/**
 * Serve several applications from one emulated card, routing by SELECT-by-AID as Android does (only one
 * selected at a time; a SELECT for an unknown AID answers 6A82; anything before a SELECT answers 6985).
 */
export class AidRouter implements ApduProcessor {
  private current: ApduProcessor | undefined;

  constructor(private readonly routes: Array<{ aid: Uint8Array; app: ApduProcessor }>) {}

  /** The card left the field: deactivate the selected application and forget the selection. */
  deactivate(): void {
    this.current?.deactivate?.();
    this.current = undefined;
  }

  /** Route one command APDU: a SELECT by AID switches the application; otherwise the selected one answers (6985 if none). */
  async process(bytes: Uint8Array): Promise<Uint8Array> {
    if (bytes.length >= 5 && (bytes[0]! & ~0x10) === 0x00 && bytes[1] === INS.SELECT && bytes[2] === 0x04) {
      let aid: Uint8Array | undefined;
      try {
        aid = parseCommand(bytes).data;
      } catch {
        return statusOnly(SW.WRONG_LENGTH);
      }
      const route = this.routes.find((r) => equalBytes(r.aid, aid));
      if (!route) {
        this.deactivate();
        return statusOnly(SW.FILE_NOT_FOUND);
      }
      if (route.app !== this.current) this.current?.deactivate?.();
      this.current = route.app;
    }
    if (!this.current) return statusOnly(SW.CONDITIONS_NOT_SATISFIED);
    return this.current.process(bytes);
  }
}
