/**
 * offpay's card application: the wallet side of the NFC exchange, as an Android HostApduService (HCE) or a
 * virtual card would run it. Bytes in (a command APDU), bytes out (a response APDU); spec/nfc.md §4.
 *
 *   SELECT       00 A4 04 00 08 F0 4F 46 46 50 41 59 01 00   -> FCI (28 bytes) 9000
 *   GET TOKEN    80 10 00 00 Lc <request> 00                 -> token 9000 | first Ne bytes 61XX
 *   GET RESPONSE 00 C0 00 00 Le                              -> next bytes 61XX | last bytes 9000
 *   PUT RECEIPT  80 12 00 00 Lc <receipt>                    -> 9000
 *
 * GET TOKEN and PUT RECEIPT accept command chaining (CLA 90 on every part but the last). The application
 * knows nothing about tokens: a `CardWallet` turns the reader's request bytes into token bytes, and any
 * error it throws becomes a status word (`walletErrorStatus`). `process` never throws: every failure is a
 * documented status word, and state (pending response, chain buffer, token issued) is reset on SELECT and
 * on `deactivate()` (link loss / deselection). Pure code: works in browsers and on any HCE bridge.
 */
import { OffpayError } from '../../base/errors.js';
import { concatBytes, equalBytes } from '../../base/bytes.js';
import { validateOptions, type OptionsSchema } from '../../base/options.js';
import { CLA_CHAINING, INS, SW, encodeResponse, parseCommand, statusOnly, type ParsedCommandApdu } from './apdu.js';

/** offpay's proprietary AID: F0 (proprietary, ISO/IEC 7816-5) || "OFFPAY" || application version 01. */
export const OFFPAY_AID = Uint8Array.of(0xf0, 0x4f, 0x46, 0x46, 0x50, 0x41, 0x59, 0x01);

/** Class byte and instructions of offpay's proprietary commands. */
export const OFFPAY_CLA = 0x80;
/** Instruction bytes of the offpay application (class {@link OFFPAY_CLA}; spec/nfc.md §4.3, §4.5). */
export const OFFPAY_INS = {
  /** 10: GET TOKEN (the request in, the signed token out; spec/nfc.md §4.3). */
  GET_TOKEN: 0x10,
  /** 12: PUT RECEIPT (the reader's receipt in; optional, spec/nfc.md §4.5). */
  PUT_RECEIPT: 0x12,
} as const;

/** Protocol version carried in the FCI (tag 80). GET TOKEN and PUT RECEIPT use P1 = P2 = 00 in version 1. */
export const OFFPAY_PROTOCOL_VERSION = 1;

/** Capability bits of FCI tag 81. */
export const CAPABILITY = {
  /** Bit 0 (01): extended-length APDUs supported. */
  EXTENDED_LENGTH: 0x01,
  /** Bit 1 (02): PUT RECEIPT implemented. */
  RECEIPT: 0x02,
} as const;

/** What SELECT tells the reader (spec/nfc.md §4.2). */
export interface CardInfo {
  /** The application identifier the card answered with (FCI tag 84, DF name). */
  aid: Uint8Array;
  /** The offpay protocol version (FCI tag 80; {@link OFFPAY_PROTOCOL_VERSION} today). */
  version: number;
  /** The card accepts extended-length APDUs (and returns a whole token in one response when asked). */
  extendedLength: boolean;
  /** The card implements PUT RECEIPT. */
  receipt: boolean;
  /** Largest token the card returns, in bytes. */
  maxToken: number;
  /** Largest request (GET TOKEN data, all chained parts together) the card accepts, in bytes. */
  maxRequest: number;
}

/** Largest FCI a reader must accept (nfc-pcsc reads SELECT with a 40-byte buffer: 38 data bytes + SW). */
export const MAX_FCI = 38;

/** Encode the FCI: 6F { 84 AID, A5 { 80 version, 81 capabilities, 82 maxToken, 83 maxRequest } }. */
export function encodeFci(info: CardInfo): Uint8Array {
  const caps = (info.extendedLength ? CAPABILITY.EXTENDED_LENGTH : 0) | (info.receipt ? CAPABILITY.RECEIPT : 0);
  const a5 = [0x80, 1, info.version & 0xff, 0x81, 1, caps, 0x82, 2, info.maxToken >> 8, info.maxToken & 0xff, 0x83, 2, info.maxRequest >> 8, info.maxRequest & 0xff];
  const body = [0x84, info.aid.length, ...info.aid, 0xa5, a5.length, ...a5];
  const out = Uint8Array.from([0x6f, body.length, ...body]);
  if (out.length > MAX_FCI) throw new OffpayError('nfc.bad_fci', `FCI is ${out.length} bytes (max ${MAX_FCI})`);
  return out;
}

function tlvs(bytes: Uint8Array, where: string): Map<number, Uint8Array> {
  const out = new Map<number, Uint8Array>();
  let p = 0;
  while (p < bytes.length) {
    if (p + 2 > bytes.length) throw new OffpayError('nfc.bad_fci', `${where}: truncated TLV at offset ${p}`);
    const tag = bytes[p]!;
    const len = bytes[p + 1]!;
    if ((tag & 0x1f) === 0x1f || len > 0x7f) throw new OffpayError('nfc.bad_fci', `${where}: multi-byte tag or length at offset ${p}`);
    if (p + 2 + len > bytes.length) throw new OffpayError('nfc.bad_fci', `${where}: TLV ${tag.toString(16)} overruns its template`);
    if (!out.has(tag)) out.set(tag, bytes.slice(p + 2, p + 2 + len));
    p += 2 + len;
  }
  return out;
}

/** Parse an FCI strictly (single-byte tags and lengths, as `encodeFci` writes); unknown tags in A5 are ignored. */
export function parseFci(bytes: Uint8Array): CardInfo {
  if (bytes.length > MAX_FCI) throw new OffpayError('nfc.bad_fci', `FCI is ${bytes.length} bytes (max ${MAX_FCI})`);
  const top = tlvs(bytes, 'FCI');
  const fci = top.get(0x6f);
  if (!fci || top.size !== 1) throw new OffpayError('nfc.bad_fci', 'the SELECT response is not one FCI template (6F)');
  const inner = tlvs(fci, '6F');
  const aid = inner.get(0x84);
  const prop = inner.get(0xa5);
  if (!aid || !prop) throw new OffpayError('nfc.bad_fci', 'FCI lacks the DF name (84) or proprietary template (A5)');
  const a5 = tlvs(prop, 'A5');
  const num = (tag: number, len: number): number => {
    const v = a5.get(tag);
    if (!v || v.length !== len) throw new OffpayError('nfc.bad_fci', `FCI tag ${tag.toString(16)} missing or not ${len} bytes`);
    return len === 1 ? v[0]! : (v[0]! << 8) | v[1]!;
  };
  const caps = num(0x81, 1);
  return {
    aid,
    version: num(0x80, 1),
    extendedLength: (caps & CAPABILITY.EXTENDED_LENGTH) !== 0,
    receipt: (caps & CAPABILITY.RECEIPT) !== 0,
    maxToken: num(0x82, 2),
    maxRequest: num(0x83, 2),
  };
}

/** What the card needs from the wallet. The card never looks inside these bytes. */
export interface CardWallet {
  /** Turn the reader's payment request into signed token bytes; throw OffpayError to refuse. */
  getToken(request: Uint8Array): Promise<Uint8Array>;
  /** Accept the reader's signed receipt (optional; advertised in the FCI when present). */
  receipt?(receipt: Uint8Array): Promise<void>;
}

/** Options of {@link CardApplication}, validated by its constructor (`nfc.bad_option` naming a bad one). */
export interface CardOptions {
  /** Default OFFPAY_AID. */
  aid?: Uint8Array;
  /** Accept extended-length APDUs and advertise it in the FCI. Default true. */
  extendedLength?: boolean;
  /** Largest request accepted, all chained parts together (default 1024, max 65535). */
  maxRequest?: number;
  /** Largest receipt accepted (default 1024). */
  maxReceipt?: number;
  /** Largest token the wallet may return (default 4096, max 65535); a larger one answers 6F00. */
  maxToken?: number;
  /** Time the wallet may take per call before the card answers 6F00 (default 10000 ms). */
  walletTimeoutMs?: number;
  /** Custom error mapping; return undefined to fall back to `walletErrorStatus`. */
  mapError?(e: unknown): number | undefined;
}

/** The schema of {@link CardOptions}, validated by the {@link CardApplication} constructor (`nfc.bad_option` naming the option). */
export const CARD_OPTIONS_SCHEMA: OptionsSchema = {
  aid: { type: 'bytes', minLength: 5, maxLength: 16 },
  extendedLength: { type: 'boolean' },
  maxRequest: { type: 'integer', min: 1, max: 65_535, unit: 'bytes' },
  maxReceipt: { type: 'integer', min: 1, max: 65_535, unit: 'bytes' },
  maxToken: { type: 'integer', min: 1, max: 65_535, unit: 'bytes' },
  walletTimeoutMs: { type: 'integer', min: 1, max: 600_000, unit: 'ms' },
  mapError: { type: 'function' },
};

/**
 * Status words a wallet error maps to, by the reason part of its code (after the last dot); the names are
 * those of src/wallet.ts (`wallet.*`, `request.<reason>` from src/reasons.ts). An explicit `detail.sw` on the
 * OffpayError (one of WALLET_STATUS_WORDS) wins; codes in the `cbor.` and `message.` areas (the request did
 * not decode) are 6A80; any other OffpayError is 6985 (the wallet declines: limits, currency, counter);
 * anything that is not an OffpayError (a bug) is 6F00. spec/nfc.md §4.6.
 */
export const WALLET_REASON_SW: Readonly<Record<string, number>> = {
  // the user must act (unlock, confirm) before the wallet pays
  locked: SW.SECURITY_STATUS,
  unlock_required: SW.SECURITY_STATUS,
  confirmation_required: SW.SECURITY_STATUS,
  user_declined: SW.SECURITY_STATUS,
  // the request decoded but its reader credentials or its time are not acceptable
  unknown_issuer_key: SW.REFERENCE_DATA_UNUSABLE,
  issuer_key_not_valid: SW.REFERENCE_DATA_UNUSABLE,
  bad_certificate_signature: SW.REFERENCE_DATA_UNUSABLE,
  certificate_expired: SW.REFERENCE_DATA_UNUSABLE,
  bad_request_signature: SW.REFERENCE_DATA_UNUSABLE,
  weak_public_key: SW.REFERENCE_DATA_UNUSABLE,
  time_too_old: SW.REFERENCE_DATA_UNUSABLE,
  time_in_future: SW.REFERENCE_DATA_UNUSABLE,
  // the request bytes are not a well-formed request
  malformed: SW.WRONG_DATA,
  non_canonical: SW.WRONG_DATA,
  wrong_type: SW.WRONG_DATA,
  unsupported_version: SW.WRONG_DATA,
  bad_structure: SW.WRONG_DATA,
  amount_invalid: SW.WRONG_DATA,
  bad_challenge: SW.WRONG_DATA,
};

/** The status words a wallet error can produce. */
export const WALLET_STATUS_WORDS: readonly number[] = [
  SW.SECURITY_STATUS,
  SW.REFERENCE_DATA_UNUSABLE,
  SW.CONDITIONS_NOT_SATISFIED,
  SW.WRONG_DATA,
  SW.UNKNOWN,
];

/** Map an error thrown by the wallet to a status word (the documented default mapping). */
export function walletErrorStatus(e: unknown): number {
  if (!(e instanceof OffpayError)) return SW.UNKNOWN;
  const forced = e.detail?.sw;
  if (typeof forced === 'number' && WALLET_STATUS_WORDS.includes(forced)) return forced;
  if (e.code.startsWith('cbor.') || e.code.startsWith('message.')) return SW.WRONG_DATA;
  const reason = e.code.slice(e.code.lastIndexOf('.') + 1);
  return WALLET_REASON_SW[reason] ?? SW.CONDITIONS_NOT_SATISFIED;
}

interface Chain {
  ins: number;
  p1: number;
  p2: number;
  parts: Uint8Array[];
  size: number;
}

/** Observable state, for tests and diagnostics. */
export interface CardState {
  /** The offpay application is selected. */
  selected: boolean;
  /** A token was returned in this session (a second GET TOKEN is refused). */
  tokenIssued: boolean;
  /** A receipt was taken in this session. */
  receiptDone: boolean;
  /** Response bytes waiting for GET RESPONSE. */
  pendingBytes: number;
  /** Command bytes received so far in a chained command. */
  chainBytes: number;
}

/** The card application. One instance per emulated card; `process` calls are serialized. */
export class CardApplication {
  /** What the card advertises in its FCI (AID, version, capabilities, sizes). */
  readonly info: CardInfo;
  private readonly fci: Uint8Array;
  private readonly opts: Required<Omit<CardOptions, 'mapError' | 'aid'>> & Pick<CardOptions, 'mapError'>;
  private selected = false;
  private tokenIssued = false;
  private receiptDone = false;
  private pending: Uint8Array | undefined;
  private chain: Chain | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  /** Bumped on deactivation and SELECT: a wallet answer that arrives for an older session is dropped. */
  private epoch = 0;

  constructor(
    private readonly wallet: CardWallet,
    options: CardOptions = {},
  ) {
    validateOptions<CardOptions>('CardApplication options', options, CARD_OPTIONS_SCHEMA, 'nfc.bad_option');
    const aid = options.aid ?? OFFPAY_AID;
    const maxRequest = options.maxRequest ?? 1024;
    const maxToken = options.maxToken ?? 4096;
    this.opts = {
      extendedLength: options.extendedLength ?? true,
      maxRequest,
      maxReceipt: options.maxReceipt ?? 1024,
      maxToken,
      walletTimeoutMs: options.walletTimeoutMs ?? 10_000,
      mapError: options.mapError,
    };
    this.info = {
      aid: aid.slice(),
      version: OFFPAY_PROTOCOL_VERSION,
      extendedLength: this.opts.extendedLength,
      receipt: typeof wallet.receipt === 'function',
      maxToken,
      maxRequest,
    };
    this.fci = encodeFci(this.info);
  }

  /** A snapshot of the application state (selected, token issued, bytes pending), for tests and diagnostics. */
  get state(): CardState {
    return {
      selected: this.selected,
      tokenIssued: this.tokenIssued,
      receiptDone: this.receiptDone,
      pendingBytes: this.pending?.length ?? 0,
      chainBytes: this.chain?.size ?? 0,
    };
  }

  /** Link loss or deselection (HostApduService.onDeactivated, vpcd power off/reset): forget everything. */
  deactivate(): void {
    this.selected = false;
    this.reset();
  }

  private reset(): void {
    this.epoch++;
    this.tokenIssued = false;
    this.receiptDone = false;
    this.pending = undefined;
    this.chain = undefined;
  }

  /** Process one command APDU and return the response APDU. Never throws. */
  process(command: Uint8Array): Promise<Uint8Array> {
    const run = this.queue.then(() => this.step(command));
    this.queue = run.catch(() => undefined);
    return run.catch(() => statusOnly(SW.UNKNOWN));
  }

  private async step(bytes: Uint8Array): Promise<Uint8Array> {
    let c: ParsedCommandApdu;
    try {
      c = parseCommand(bytes);
    } catch {
      this.pending = undefined;
      this.chain = undefined;
      return statusOnly(SW.WRONG_LENGTH);
    }
    const chained = (c.cla & CLA_CHAINING) !== 0;
    const cls = c.cla & ~CLA_CHAINING;
    if (cls !== 0x00 && cls !== OFFPAY_CLA) return this.abort(SW.CLA_NOT_SUPPORTED);
    if (cls === 0x00 && c.ins === INS.SELECT) return this.select(c, chained);
    if (c.extended && !this.opts.extendedLength) return this.abort(SW.WRONG_LENGTH);
    if (!this.selected) return statusOnly(SW.CONDITIONS_NOT_SATISFIED);
    if (cls === 0x00) {
      if (c.ins !== INS.GET_RESPONSE) return this.abort(SW.INS_NOT_SUPPORTED);
      if (chained) return this.abort(SW.CHAINING_NOT_SUPPORTED);
      return this.getResponse(c);
    }
    // proprietary class
    if (c.ins !== OFFPAY_INS.GET_TOKEN && c.ins !== OFFPAY_INS.PUT_RECEIPT) return this.abort(SW.INS_NOT_SUPPORTED);
    this.pending = undefined;
    if (this.chain && (this.chain.ins !== c.ins || this.chain.p1 !== c.p1 || this.chain.p2 !== c.p2)) {
      this.chain = undefined;
      return statusOnly(SW.LAST_COMMAND_EXPECTED);
    }
    if (c.p1 !== 0 || c.p2 !== 0) return this.abort(SW.WRONG_P1P2);
    if (c.ins === OFFPAY_INS.PUT_RECEIPT && !this.wallet.receipt) return this.abort(SW.INS_NOT_SUPPORTED);
    if (c.data.length === 0) return this.abort(SW.WRONG_LENGTH);
    // The order rules are checked before accumulating, so a refused chain costs the reader one APDU.
    if (c.ins === OFFPAY_INS.GET_TOKEN && this.tokenIssued) return this.abort(SW.CONDITIONS_NOT_SATISFIED);
    if (c.ins === OFFPAY_INS.PUT_RECEIPT && (!this.tokenIssued || this.receiptDone)) return this.abort(SW.CONDITIONS_NOT_SATISFIED);
    const limit = c.ins === OFFPAY_INS.GET_TOKEN ? this.opts.maxRequest : this.opts.maxReceipt;
    const chain: Chain = this.chain ?? { ins: c.ins, p1: c.p1, p2: c.p2, parts: [], size: 0 };
    chain.size += c.data.length;
    if (chain.size > limit) return this.abort(SW.NOT_ENOUGH_MEMORY);
    chain.parts.push(c.data);
    if (chained) {
      this.chain = chain;
      return statusOnly(SW.OK);
    }
    this.chain = undefined;
    const data = concatBytes(chain.parts);
    if (c.ins === OFFPAY_INS.GET_TOKEN) return this.getToken(data, c.ne);
    return this.putReceipt(data);
  }

  private abort(sw: number): Uint8Array {
    this.chain = undefined;
    this.pending = undefined;
    return statusOnly(sw);
  }

  private select(c: ParsedCommandApdu, chained: boolean): Uint8Array {
    if (chained) return this.abort(SW.CHAINING_NOT_SUPPORTED);
    if (c.p1 !== 0x04 || c.p2 !== 0x00) return this.abort(SW.WRONG_P1P2);
    if (!equalBytes(c.data, this.info.aid)) {
      this.deactivate();
      return statusOnly(SW.FILE_NOT_FOUND);
    }
    if (c.extended && !this.opts.extendedLength) return this.abort(SW.WRONG_LENGTH);
    this.selected = true;
    this.reset();
    if (c.ne > 0 && c.ne < this.fci.length) return statusOnly(SW.WRONG_LE | this.fci.length);
    return this.deliver(this.fci, c.ne);
  }

  private getResponse(c: ParsedCommandApdu): Uint8Array {
    if (c.p1 !== 0 || c.p2 !== 0) return this.abort(SW.WRONG_P1P2);
    if (this.chain) {
      this.chain = undefined;
      return statusOnly(SW.LAST_COMMAND_EXPECTED);
    }
    const rest = this.pending;
    if (!rest) return statusOnly(SW.CONDITIONS_NOT_SATISFIED);
    if (c.ne === 0) return this.abort(SW.WRONG_LENGTH);
    return this.deliver(rest, c.ne);
  }

  /** Send up to `ne` bytes of `data`; keep the rest for GET RESPONSE and say how much with 61XX. */
  private deliver(data: Uint8Array, ne: number): Uint8Array {
    if (ne >= data.length) {
      this.pending = undefined;
      return encodeResponse(data, SW.OK);
    }
    const head = data.subarray(0, ne);
    const rest = data.slice(ne);
    this.pending = rest;
    return encodeResponse(head, SW.BYTES_REMAINING | (Math.min(rest.length, 256) & 0xff));
  }

  private async callWallet<T>(f: () => Promise<T>): Promise<{ ok: true; value: T } | { ok: false; sw: number }> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new OffpayError('nfc.wallet_timeout', 'the wallet did not answer in time')), this.opts.walletTimeoutMs);
      });
      return { ok: true, value: await Promise.race([f(), timeout]) };
    } catch (e) {
      const mapped = this.opts.mapError?.(e);
      const sw = mapped ?? (e instanceof OffpayError && e.code === 'nfc.wallet_timeout' ? SW.UNKNOWN : walletErrorStatus(e));
      return { ok: false, sw };
    } finally {
      if (timer !== undefined) clearTimeout(timer);
    }
  }

  private async getToken(request: Uint8Array, ne: number): Promise<Uint8Array> {
    const epoch = this.epoch;
    const r = await this.callWallet(() => this.wallet.getToken(request));
    if (epoch !== this.epoch) return statusOnly(SW.CONDITIONS_NOT_SATISFIED); // the card left meanwhile
    if (!r.ok) return statusOnly(r.sw);
    const token = r.value;
    if (!(token instanceof Uint8Array) || token.length === 0 || token.length > this.opts.maxToken) return statusOnly(SW.UNKNOWN);
    this.tokenIssued = true;
    return this.deliver(token.slice(), ne);
  }

  private async putReceipt(receipt: Uint8Array): Promise<Uint8Array> {
    const wallet = this.wallet;
    const epoch = this.epoch;
    const r = await this.callWallet(async () => wallet.receipt?.(receipt));
    if (epoch !== this.epoch) return statusOnly(SW.CONDITIONS_NOT_SATISFIED);
    if (!r.ok) return statusOnly(r.sw);
    this.receiptDone = true;
    return statusOnly(SW.OK);
  }
}

