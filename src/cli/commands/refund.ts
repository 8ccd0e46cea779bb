/**
 * Refund commands (spec/protocol.md §4.5, spec/clearing.md §13, spec/clearing-api.md §2.8):
 *   offpay reader refund    a merchant's reader (till, back office) signs a refund of a settled token with its own
 *                           key and certificate, writes it (--out) and/or posts it to the clearing service (--url);
 *   offpay clearing refund  the file transport: clearing decides a refund file against its database.
 * Exit codes: 0 accepted or duplicate (or, with --out alone, written), 1 rejected, 2 usage, IO or transport.
 */
import type { RefundResult } from '../../clearing/index.js';
import { OffpayError } from '../../../base/errors.js';
import { fromHex } from '../../../base/hex.js';
import { formatMoney, parseAmount, parseCurrency, currencyByNumeric } from '../../currency.js';
import { caFetch, loadCaFile } from '../../node/tls-fetch.js';
import { loadIssuerKeys, loadReader, readBytes, writeFileDurable } from '../../node/files.js';
import { createRefund, MAX_REFUND_BYTES } from '../../refund.js';
import { SqliteReaderStore } from '../../reader/sqlite.js';
import { clearingCaller } from '../../reader/transport.js';
import { refundAnswer } from '../../reader/sync-answers.js';
import { clearingDbOption, openClearingAt } from '../clearing-open.js';
import { parseNow, parseUint } from '../common.js';
import { EXIT_OK, EXIT_REJECTED, UsageError, type Command, type CommandContext } from '../framework.js';

function money(amount: number | bigint, currency: number): string {
  return currencyByNumeric(currency) ? formatMoney(amount, currency) : `${amount} (currency ${currency})`;
}

function parseTime(s: string | undefined): number {
  if (s === undefined) return Math.floor(Date.now() / 1000);
  if (/^\d+$/.test(s)) return Number(s);
  const ms = Date.parse(s);
  if (Number.isNaN(ms)) throw new UsageError(`--time: '${s}' is neither unix seconds nor an ISO 8601 date`);
  return Math.floor(ms / 1000);
}

/** The token's currency as this reader recorded it (its journal), when --db is given and the reader took it. */
function currencyFromJournal(db: string | undefined, hash: Uint8Array): number | undefined {
  if (db === undefined) return undefined;
  const store = SqliteReaderStore.open(db);
  try {
    return store.transact((tx) => tx.getToken(hash))?.currency;
  } finally {
    store.close();
  }
}

function resultLine(what: string, r: RefundResult): string {
  if (r.outcome === 'rejected') return `${what}: REJECTED ${r.reason}: ${r.message ?? ''}`;
  const x = r.refund!;
  return `${what}: ${r.outcome.toUpperCase()} refund of ${money(BigInt(x.amount), x.currency)} (${x.partial ? 'partial' : 'full'}; charge ${money(BigInt(x.charge), x.currency)}) of token ${x.tokenHash} by merchant ${x.operatorId} (reader ${x.readerId}); the issuer credits wallet ${x.walletId}`;
}

const readerRefund: Command = {
  name: 'reader refund',
  summary: 'sign a refund of a settled token with this reader\'s key (a merchant\'s till) and write it or post it to clearing; exit 0 accepted, 1 rejected',
  usage: '--reader READER --token HASH --amount A [--currency C] [--db READER.db] [--time T] (--out FILE | --url URL [--ca F])',
  options: {
    reader: { type: 'string', arg: 'READER', help: 'reader directory (offpay reader new): its key signs, its certificate names the merchant (operator id)' },
    db: { type: 'string', arg: 'READER.db', help: 'reader database: the token\'s currency when this reader took it (else give --currency)' },
    token: { type: 'string', arg: 'HASH', help: 'the refunded token\'s hash: 64 hex digits (SHA-256 of the token bytes)' },
    amount: { type: 'string', arg: 'AMOUNT', help: 'amount to give back in major units, e.g. 5.00 (at most the charge)' },
    currency: { type: 'string', arg: 'C', help: 'the payment\'s currency, e.g. HKD or 344 (default: from --db)' },
    time: { type: 'string', arg: 'T', help: 'the refund time, unix seconds or ISO 8601 (default: system time)' },
    out: { type: 'string', arg: 'FILE', help: 'write the signed refund here (offpay clearing refund reads it)' },
    url: { type: 'string', arg: 'URL', help: 'post it to the clearing service at URL (POST /v1/refunds), with retries' },
    ca: { type: 'string', arg: 'F', help: 'https: trust only this CA certificate (PEM) for the server' },
    attempts: { type: 'string', arg: 'N', help: 'tries per request (default 8)' },
    'deadline-ms': { type: 'string', arg: 'MS', help: 'whole deadline, ms (default 120000)' },
  },
  details: `The refund (spec/protocol.md §4.5) names the token by its hash, the amount and currency, and the time; this
reader's certificate goes inside it, and its operator id is the merchant that refunds. Clearing accepts it only for
a settled token of that merchant, in its currency, at most its charge, once per token (spec/clearing.md §13).
With --url the answer decides the exit code: 0 accepted or duplicate (the same refund sent before), 1 rejected
(the server's code), 2 unreachable after the retries (sync.unreachable), an untrusted certificate or bad input.`,
  async run(ctx) {
    const hex = ctx.need('token');
    if (!/^[0-9a-fA-F]{64}$/.test(hex)) throw new UsageError('--token must be 64 hex digits (SHA-256 of the token bytes)');
    const hash = fromHex(hex.toLowerCase());
    const out = ctx.opt('out');
    const url = ctx.opt('url');
    if (out === undefined && url === undefined) throw new UsageError('give --out FILE, --url URL or both');
    const caPath = ctx.opt('ca');
    if (caPath !== undefined && (url === undefined || !/^https:/i.test(url))) throw new UsageError('--ca is for an https:// --url');
    const curOpt = ctx.opt('currency');
    const numeric = curOpt !== undefined ? parseCurrency(curOpt).numeric : currencyFromJournal(ctx.opt('db'), hash);
    if (numeric === undefined) throw new UsageError(ctx.opt('db') ? 'this reader did not take that token: give --currency' : 'give --currency (or --db, when this reader took the token)');
    const cur = currencyByNumeric(numeric);
    if (!cur) throw new UsageError(`currency ${numeric} is not one offpay knows: give --currency`);
    const amount = parseAmount(ctx.need('amount'), cur);
    if (amount === 0) throw new UsageError('--amount must be more than zero');
    const time = parseTime(ctx.opt('time'));
    const files = loadReader(ctx.need('reader'));
    const { bytes } = createRefund({ readerCert: files.cert, secretKey: files.secretKey }, { tokenHash: hash, amount, currency: numeric, time });
    if (out !== undefined) {
      writeFileDurable(out, bytes);
      ctx.out(`refund of ${money(amount, numeric)} of token ${hex.toLowerCase()} signed by reader ${files.cert.readerId} (merchant ${files.cert.operatorId}): ${bytes.length} bytes -> ${out}`);
    }
    if (url === undefined) {
      ctx.emit({ ok: true, out, bytes: bytes.length, tokenHash: hex.toLowerCase(), amount, currency: numeric, time, operatorId: files.cert.operatorId, readerId: files.cert.readerId });
      return EXIT_OK;
    }
    return post(ctx, url, caPath, bytes, hex.toLowerCase());
  },
};

async function post(ctx: CommandContext, url: string, caPath: string | undefined, bytes: Uint8Array, tokenHash: string): Promise<number> {
  const attempts = parseUint('attempts', ctx.opt('attempts'), 100);
  const deadlineMs = parseUint('deadline-ms', ctx.opt('deadline-ms'), 86_400_000);
  const { call } = clearingCaller({
    url,
    ...(attempts !== undefined ? { attempts } : {}),
    ...(deadlineMs !== undefined ? { deadlineMs } : {}),
    ...(caPath !== undefined ? { fetch: caFetch(loadCaFile(caPath)) } : {}),
    log: (l) => ctx.out(l),
  });
  const a = await call('/v1/refunds', { method: 'POST', headers: { 'content-type': 'application/cbor' }, body: bytes as Uint8Array<ArrayBuffer> });
  // The answer is read as spec/clearing-api.md §2.8 says (refundAnswer): only a 200 about this very refund is one.
  const r = refundAnswer(a.status, a.body, tokenHash);
  const res: RefundResult = r.outcome === 'rejected' ? { outcome: 'rejected', reason: r.reason, message: r.message } : { outcome: r.outcome, reason: null, tokenHash: r.refund.tokenHash, refund: r.refund };
  ctx.out(resultLine(url, res));
  ctx.emit(res);
  return r.outcome === 'rejected' ? EXIT_REJECTED : EXIT_OK;
}

const clearingRefund: Command = {
  name: 'clearing refund',
  summary: 'decide a merchant-signed refund file against the clearing database (spec/clearing.md §13); exit 0 accepted or duplicate, 1 rejected',
  usage: '--db (CLEARING.db|postgres://...) FILE [--issuer ISSUER] [--now TIME]',
  positionals: 'FILE',
  options: {
    db: clearingDbOption,
    issuer: { type: 'string', arg: 'ISSUER', help: 'issuer directory or keyset.cbor (needed for a new database only)' },
    now: { type: 'string', arg: 'TIME', help: 'the clearing clock, unix seconds or ISO 8601 (default: system time)' },
  },
  details: `The file is checked for size (at most 4,096 bytes) before it is read. The refund is verified (its merchant's
reader certificate chained to the issuer, its signature, its time) and then decided against what clearing holds:
the token settled, to the certificate's operator, in its currency, at a charge of at least the amount, and no
other refund of it held. An accepted refund is netted in the merchant's settlement line and listed for the
issuer to credit the wallet (offpay clearing report).`,
  async run(ctx) {
    const [file, ...extra] = ctx.positionals;
    if (!file || extra.length) throw new UsageError('give exactly one refund FILE');
    const now = parseNow(ctx.opt('now'));
    const issuerPath = ctx.opt('issuer');
    const c = await openClearingAt(ctx.need('db'), issuerPath ? { issuerKeys: loadIssuerKeys(issuerPath) } : {}, true);
    try {
      let r: RefundResult;
      try {
        r = await c.refund(readBytes(file, 'refund', MAX_REFUND_BYTES), now);
      } catch (e) {
        if (!(e instanceof OffpayError) || e.code !== 'file.too_large') throw e;
        // Refused from the file size alone: the bytes are never read.
        r = { outcome: 'rejected', reason: 'cbor.too_large', message: e.message };
      }
      ctx.out(resultLine(file, r));
      ctx.emit({ file, ...r });
      return r.outcome === 'rejected' ? EXIT_REJECTED : EXIT_OK;
    } finally {
      await c.close();
    }
  },
};

export const commands: Command[] = [readerRefund, clearingRefund];
