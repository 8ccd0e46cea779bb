/**
 * The reader side of offpay's NFC exchange, independent of how APDUs travel (PC/SC, Android IsoDep, an
 * in-memory link in tests): SELECT the application, GET TOKEN with the reader's request bytes (GET RESPONSE
 * while the card answers 61XX), hand the token to a verify callback, PUT RECEIPT. spec/nfc.md §4-§6.
 *
 * Untrusted card behaviour is bounded: a response under 2 bytes means the card is gone (`nfc.card_lost`),
 * the reassembled response size and the number of GET RESPONSE rounds are capped, a second 6CXX in a row is
 * refused, and every APDU has a time limit. Every round trip is recorded (`trace`) so callers can count
 * round trips and bytes and compute the air time (`airTime`). Pure code: works in browsers.
 */
import { concatBytes } from '../../base/bytes.js';
import { OffpayError, type ErrorCodeOf } from '../../base/errors.js';
import { pickOptions, validateOptions, type OptionsSchema } from '../../base/options.js';
import {
  SW,
  chainCommand,
  encodeCommand,
  getResponseCommand,
  parseResponse,
  selectCommand,
  swHex,
  type CommandApdu,
  type ResponseApdu,
} from './apdu.js';
import { OFFPAY_AID, OFFPAY_CLA, OFFPAY_INS, OFFPAY_PROTOCOL_VERSION, parseFci, type CardInfo } from './card.js';

/** Anything that carries one command APDU to a card and brings its response back. */
export interface CardLink {
  /** Send one command APDU and resolve with the response APDU (data and status word); empty when the card left. */
  transmit(apdu: Uint8Array): Promise<Uint8Array>;
}

/** One round trip as sent and received. */
export interface Exchange {
  /** The command APDU sent. */
  command: Uint8Array;
  /** The response APDU received (data and status word). */
  response: Uint8Array;
}

/** Traffic of a {@link ReaderSession}: APDU round trips and bytes sent and received (status words included). */
export interface LinkStats {
  /** APDU round trips. */
  roundTrips: number;
  /** Command APDU bytes sent. */
  bytesSent: number;
  /** Response APDU bytes received, status words included. */
  bytesReceived: number;
}

/**
 * Options of the NFC reader side ({@link ReaderSession}, {@link transact}); bounded so a hostile card cannot
 * exhaust memory or time (spec/nfc.md §5). Called `ReaderOptions` before 0.2.0 (the name of the reader
 * verifier's options in `offpay/reader`).
 */
export interface ReaderSessionOptions {
  /** AID to select (default OFFPAY_AID). */
  aid?: Uint8Array;
  /** The reader side can send and receive extended-length APDUs (used only if the card advertises it too). Default false. */
  extendedLength?: boolean;
  /** Cap on one reassembled response (token) in bytes. Default 8192. */
  maxResponse?: number;
  /** Cap on GET RESPONSE rounds for one command. Default 32. */
  maxGetResponse?: number;
  /** Time limit per APDU round trip in ms. Default 5000. */
  apduTimeoutMs?: number;
}

/** The schema of {@link ReaderSessionOptions}, validated by the {@link ReaderSession} constructor (`nfc.bad_option` naming the option). */
export const SESSION_OPTIONS_SCHEMA: OptionsSchema = {
  aid: { type: 'bytes', minLength: 5, maxLength: 16 },
  extendedLength: { type: 'boolean' },
  maxResponse: { type: 'integer', min: 1, max: 1 << 20, unit: 'bytes' },
  maxGetResponse: { type: 'integer', min: 1, max: 1024, unit: 'rounds' },
  apduTimeoutMs: { type: 'integer', min: 1, max: 600_000, unit: 'ms' },
};

/** @deprecated Renamed {@link ReaderSessionOptions} in 0.2.0 (`ReaderOptions` is the reader verifier's, in `offpay/reader`); this alias goes in the next release. */
export type ReaderOptions = ReaderSessionOptions;

const STATUS_CODES: Readonly<Record<number, ErrorCodeOf<'nfc'>>> = {
  [SW.SECURITY_STATUS]: 'nfc.card_locked',
  [SW.REFERENCE_DATA_UNUSABLE]: 'nfc.request_unusable',
  [SW.CONDITIONS_NOT_SATISFIED]: 'nfc.refused',
  [SW.WRONG_DATA]: 'nfc.request_rejected',
  [SW.FILE_NOT_FOUND]: 'nfc.not_offpay',
};

/** The error code a reader reports for a final status word other than 9000 (spec/nfc.md §7). */
export function statusErrorCode(sw: number): ErrorCodeOf<'nfc'> {
  return STATUS_CODES[sw] ?? 'nfc.status';
}

function statusError(sw: number, what: string): OffpayError {
  return new OffpayError(statusErrorCode(sw), `${what}: card answered ${swHex(sw)}`, { sw: swHex(sw), command: what });
}

/** A reader session over one card presentation. Not reusable across cards. */
export class ReaderSession {
  /** Every round trip of this session, in order. */
  readonly trace: Exchange[] = [];
  /** The card's FCI after a successful SELECT. */
  info: CardInfo | undefined;
  private readonly aid: Uint8Array;
  private readonly ext: boolean;
  private readonly maxResponse: number;
  private readonly maxGetResponse: number;
  private readonly timeoutMs: number;

  constructor(
    private readonly link: CardLink,
    options: ReaderSessionOptions = {},
  ) {
    validateOptions<ReaderSessionOptions>('ReaderSession options', options, SESSION_OPTIONS_SCHEMA, 'nfc.bad_option');
    this.aid = options.aid ?? OFFPAY_AID;
    this.ext = options.extendedLength ?? false;
    this.maxResponse = options.maxResponse ?? 8192;
    this.maxGetResponse = options.maxGetResponse ?? 32;
    this.timeoutMs = options.apduTimeoutMs ?? 5000;
  }

  /** Round trips and bytes so far. */
  get stats(): LinkStats {
    let bytesSent = 0;
    let bytesReceived = 0;
    for (const e of this.trace) {
      bytesSent += e.command.length;
      bytesReceived += e.response.length;
    }
    return { roundTrips: this.trace.length, bytesSent, bytesReceived };
  }

  /** Whether both ends use extended-length APDUs for this session. */
  get extended(): boolean {
    return this.ext && this.info?.extendedLength === true;
  }

  /** One round trip. Throws nfc.card_lost, nfc.timeout or nfc.link_error. */
  private async roundTrip(cmd: CommandApdu, extended: boolean): Promise<ResponseApdu> {
    const command = encodeCommand(cmd, { extended });
    let timer: ReturnType<typeof setTimeout> | undefined;
    let response: Uint8Array;
    try {
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new OffpayError('nfc.timeout', `no response within ${this.timeoutMs} ms`)), this.timeoutMs);
      });
      response = await Promise.race([this.link.transmit(command), timeout]);
    } catch (e) {
      if (e instanceof OffpayError) {
        if (e.code === 'nfc.card_lost') throw new OffpayError(e.code, e.message, { ...e.detail, roundTrip: this.trace.length + 1 });
        throw e;
      }
      throw new OffpayError('nfc.link_error', `transmit failed: ${e instanceof Error ? e.message : String(e)}`);
    } finally {
      if (timer !== undefined) clearTimeout(timer);
    }
    if (!(response instanceof Uint8Array)) throw new OffpayError('nfc.link_error', 'the link returned something other than bytes');
    this.trace.push({ command, response: response.slice() });
    if (response.length < 2)
      throw new OffpayError('nfc.card_lost', `the card answered ${response.length} bytes: it is gone`, { length: response.length, roundTrip: this.trace.length });
    return parseResponse(response);
  }

  /**
   * Send a command and collect its whole response: resend once on 6CXX with Le = XX, follow 61XX with
   * GET RESPONSE, cap the total. Returns the data and the final status word (9000 or an error SW).
   */
  private async run(cmd: CommandApdu, extended: boolean, limit = this.maxResponse): Promise<ResponseApdu> {
    let r = await this.roundTrip(cmd, extended);
    if (r.sw >> 8 === 0x6c) {
      const le = r.sw & 0xff || 256;
      r = await this.roundTrip({ ...cmd, ne: le }, extended);
      if (r.sw >> 8 === 0x6c) throw new OffpayError('nfc.status', 'the card answered 6CXX twice', { sw: swHex(r.sw) });
    }
    const parts: Uint8Array[] = [];
    let size = 0;
    let rounds = 0;
    while (true) {
      size += r.data.length;
      if (size > limit) throw new OffpayError('nfc.response_too_large', `response exceeds ${limit} bytes`, { limit });
      parts.push(r.data);
      if (r.sw >> 8 !== 0x61) break;
      if (++rounds > this.maxGetResponse)
        throw new OffpayError('nfc.get_response_loop', `more than ${this.maxGetResponse} GET RESPONSE rounds`, { limit: this.maxGetResponse });
      r = await this.roundTrip(getResponseCommand(r.sw & 0xff || 256), false);
    }
    return { data: concatBytes(parts), sw: r.sw };
  }

  /** SELECT the application and read its FCI. */
  async select(): Promise<CardInfo> {
    const r = await this.run(selectCommand(this.aid), false);
    if (r.sw !== SW.OK) throw statusError(r.sw, 'SELECT');
    const info = parseFci(r.data);
    if (info.version !== OFFPAY_PROTOCOL_VERSION)
      throw new OffpayError('nfc.unsupported_version', `card speaks protocol version ${info.version}`, { version: info.version });
    if (info.aid.length !== this.aid.length || info.aid.some((b, i) => b !== this.aid[i]))
      throw new OffpayError('nfc.bad_fci', 'the FCI names a different application');
    this.info = info;
    return info;
  }

  private needInfo(): CardInfo {
    if (!this.info) throw new OffpayError('nfc.not_selected', 'SELECT the application first');
    return this.info;
  }

  /** Send a proprietary command, chained over short APDUs unless both ends do extended length. */
  private async send(ins: number, data: Uint8Array, ne: number, what: string, limit: number): Promise<Uint8Array> {
    const base: CommandApdu = { cla: OFFPAY_CLA, ins, p1: 0, p2: 0, data, ne };
    const ext = this.extended;
    const parts = ext ? [base] : chainCommand(base, 255);
    for (let i = 0; i < parts.length - 1; i++) {
      const r = await this.roundTrip(parts[i]!, false);
      if (r.sw !== SW.OK) throw statusError(r.sw, what);
    }
    const r = await this.run(parts[parts.length - 1]!, ext, limit);
    if (r.sw !== SW.OK) throw statusError(r.sw, what);
    return r.data;
  }

  /** GET TOKEN with the reader's request bytes; returns the token bytes (opaque here). */
  async getToken(request: Uint8Array): Promise<Uint8Array> {
    const info = this.needInfo();
    if (request.length === 0) throw new OffpayError('nfc.request_empty', 'the request is empty');
    if (request.length > info.maxRequest)
      throw new OffpayError('nfc.request_too_large', `request is ${request.length} bytes, the card takes ${info.maxRequest}`, {
        limit: info.maxRequest,
      });
    const limit = Math.min(this.maxResponse, info.maxToken);
    const token = await this.send(OFFPAY_INS.GET_TOKEN, request, this.extended ? 65536 : 256, 'GET TOKEN', limit);
    if (token.length === 0) throw new OffpayError('nfc.bad_response', 'GET TOKEN returned no data');
    return token;
  }

  /** PUT RECEIPT with the reader's receipt bytes. */
  async sendReceipt(receipt: Uint8Array): Promise<void> {
    const info = this.needInfo();
    if (!info.receipt) throw new OffpayError('nfc.receipt_unsupported', 'the card does not take receipts');
    if (receipt.length === 0) throw new OffpayError('nfc.request_empty', 'the receipt is empty');
    // Up to one short response's worth of data is taken in, so that a card answering with data is told apart
    // (nfc.bad_response) from one whose answer runs past that (nfc.response_too_large).
    const data = await this.send(OFFPAY_INS.PUT_RECEIPT, receipt, 0, 'PUT RECEIPT', 256);
    if (data.length !== 0) throw new OffpayError('nfc.bad_response', 'PUT RECEIPT returned data');
  }
}

/**
 * What the `verify` callback of {@link transact} returns: the caller's verdict and, optionally, receipt bytes.
 * @typeParam T - the caller's verdict type (e.g. a reader verdict).
 */
export interface VerifyOutcome<T> {
  /** The caller's verdict on the token. */
  verdict: T;
  /** Receipt bytes to hand back to the card (sent only if the card advertises receipts). */
  receipt?: Uint8Array;
}

/**
 * Options of {@link transact}: the reader options, the payment request bytes and the token judge.
 * @typeParam T - the verdict type `verify` returns.
 */
export interface TransactOptions<T> extends ReaderSessionOptions {
  /** The payment request bytes (opaque to the transport). */
  request: Uint8Array;
  /** Judge the token; runs while the card is still in the field. */
  verify(token: Uint8Array, info: CardInfo): Promise<VerifyOutcome<T>>;
}

/**
 * The result of {@link transact}: card info, token bytes, the verdict, whether a receipt was delivered, and the
 * traffic (stats and the full APDU trace).
 * @typeParam T - the verdict type.
 */
export interface TransactResult<T> {
  /** What the card advertised (FCI). */
  info: CardInfo;
  /** The token bytes the card returned (opaque to the transport). */
  token: Uint8Array;
  /** The verdict of `verify`. */
  verdict: T;
  /** True when the card took the receipt. */
  receiptSent: boolean;
  /** Set when the receipt could not be delivered (the verdict stands). */
  receiptError?: OffpayError;
  /** Round trips and bytes. */
  stats: LinkStats;
  /** Every APDU exchange, in order. */
  trace: Exchange[];
}

/** The schema of {@link TransactOptions}: the session's, the request bytes and the verify function (`nfc.bad_option`). */
export const TRANSACT_OPTIONS_SCHEMA: OptionsSchema = {
  ...SESSION_OPTIONS_SCHEMA,
  request: { type: 'bytes', maxLength: 65_535, required: true },
  verify: { type: 'function', required: true },
};

/**
 * SELECT, GET TOKEN, verify, PUT RECEIPT over one link. Throws `nfc.*` if no token was obtained, and
 * `nfc.bad_option` naming a bad option (`TRANSACT_OPTIONS_SCHEMA`).
 */
export async function transact<T>(link: CardLink, options: TransactOptions<T>): Promise<TransactResult<T>> {
  validateOptions<TransactOptions<T>>('transact options', options, TRANSACT_OPTIONS_SCHEMA, 'nfc.bad_option');
  const s = new ReaderSession(link, pickOptions(options, SESSION_OPTIONS_SCHEMA));
  const info = await s.select();
  const token = await s.getToken(options.request);
  const { verdict, receipt } = await options.verify(token, info);
  let receiptSent = false;
  let receiptError: OffpayError | undefined;
  if (receipt && info.receipt) {
    try {
      await s.sendReceipt(receipt);
      receiptSent = true;
    } catch (e) {
      if (!(e instanceof OffpayError)) throw e;
      receiptError = e;
    }
  }
  return { info, token, verdict, receiptSent, ...(receiptError ? { receiptError } : {}), stats: s.stats, trace: s.trace };
}

/** Something that processes APDUs like CardApplication. */
export interface ApduProcessor {
  /** Process one command APDU and resolve with the response APDU; never rejects for bad input (a status word). */
  process(apdu: Uint8Array): Promise<Uint8Array>;
  /** The card left the field or was deselected: forget the session state. */
  deactivate?(): void;
}

/** An in-memory link to a card application; `remove()` takes the card out of the field. */
export interface MemoryLink extends CardLink {
  /** Take the card out of the field: it is deactivated and later transmits resolve with 0 bytes. */
  remove(): void;
  /** False after `remove()`. */
  readonly present: boolean;
}

/**
 * In-memory link for tests and demos. After `remove()`, transmit resolves with 0 bytes, exactly what vpcd
 * does when the virtual card disappears (research note §2.5 #4).
 */
export function memoryLink(card: ApduProcessor): MemoryLink {
  let present = true;
  return {
    get present() {
      return present;
    },
    remove() {
      if (present) card.deactivate?.();
      present = false;
    },
    /** Deliver the APDU to the card, or 0 bytes once removed. */
    async transmit(apdu) {
      if (!present) return new Uint8Array(0);
      return (await card.process(apdu.slice())).slice();
    },
  };
}

/** Options of {@link airTime}: ISO 14443 bit rate and bits per byte, and the frame sizes FSD and FSC. */
export interface AirTimeOptions {
  /** Bit rate on air in bit/s. Default fc/128 = 105 937.5 (the "106 kbit/s" every ISO-DEP device supports). */
  bitRate?: number;
  /** Bit times per byte: 8 data bits + 1 parity bit for ISO 14443-A at 106 kbit/s. Default 9. */
  bitsPerByte?: number;
  /** Reader's maximum frame size FSD in bytes (incl. PCB and CRC). Default 256. */
  fsd?: number;
  /** Card's maximum frame size FSC in bytes. Default 256. */
  fsc?: number;
}

/** The schema of {@link AirTimeOptions}, validated by {@link airTime} (`nfc.bad_option` naming the option). */
export const AIR_TIME_OPTIONS_SCHEMA: OptionsSchema = {
  bitRate: { type: 'number', min: 0, exclusiveMin: true, max: 100_000_000, unit: 'bit/s' },
  bitsPerByte: { type: 'integer', min: 1, max: 16, unit: 'bit times' },
  fsd: { type: 'integer', min: 16, max: 4096, unit: 'bytes' },
  fsc: { type: 'integer', min: 16, max: 4096, unit: 'bytes' },
};

/** Raw ISO-DEP air time of an exchange ({@link airTime}, spec/nfc.md §6): bytes on air, I-blocks, ACKs and ms. */
export interface AirTime {
  /** Bytes on air: APDU bytes + 3 per I-block (PCB + CRC_A) + 3 per R(ACK) of block chaining. */
  bytes: number;
  /** I-blocks sent in both directions. */
  iBlocks: number;
  /** R(ACK) blocks of block chaining. */
  acks: number;
  /** Raw transmission time in ms (no frame delay times, no RF activation). */
  ms: number;
}

/**
 * Raw ISO-DEP (ISO/IEC 14443-4) air time for a recorded exchange: each APDU is cut into I-blocks of at
 * most FS - 3 information bytes (PCB 1, CRC_A 2; no CID, no NAD), each non-final block is acknowledged by a
 * 3-byte R(ACK). spec/nfc.md §6.
 */
export function airTime(trace: readonly Exchange[], options: AirTimeOptions = {}): AirTime {
  validateOptions<AirTimeOptions>('airTime options', options, AIR_TIME_OPTIONS_SCHEMA, 'nfc.bad_option');
  const rate = options.bitRate ?? 13_560_000 / 128;
  const bpb = options.bitsPerByte ?? 9;
  const fsd = options.fsd ?? 256;
  const fsc = options.fsc ?? 256;
  let bytes = 0;
  let iBlocks = 0;
  let acks = 0;
  const leg = (n: number, fs: number): void => {
    const blocks = Math.max(1, Math.ceil(n / (fs - 3)));
    iBlocks += blocks;
    acks += blocks - 1;
    bytes += n + 3 * blocks + 3 * (blocks - 1);
  };
  for (const e of trace) {
    leg(e.command.length, fsc); // reader -> card frames are limited by the card's FSC
    leg(e.response.length, fsd); // card -> reader frames by the reader's FSD
  }
  return { bytes, iBlocks, acks, ms: (bytes * bpb * 1000) / rate };
}
