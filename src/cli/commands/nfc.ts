/**
 * NFC commands: NDEF files, the card application served to a PC/SC stack through vpcd (the phone side), and
 * a PC/SC reader that requests, verifies and acknowledges a payment (the gate side). spec/nfc.md.
 */
import { join } from 'node:path';
import {
  CardApplication,
  NDEF_FLAG,
  NdefTagApplication,
  decodeNdefMessage,
  TNF,
  airTime,
  decodeTokenNdef,
  encodeNdefMessage,
  encodeTokenNdef,
  ndefRecord,
  OFFPAY_NDEF_TYPE,
  parseNdefRecords,
  swHex,
  type CardWallet,
} from '../../../codecs/nfc/index.js';
import { toHex } from '../../../base/hex.js';
import { equalBytes } from '../../../base/bytes.js';
import { formatMoney, parseAmount, parseCurrency } from '../../currency.js';
import { OffpayError } from '../../../base/errors.js';
import { decodeRequest, tokenHash } from '../../messages.js';
import { nodeEd25519 } from '../../node/crypto.js';
import { loadIssuerKeys, loadReader, loadWallet, readBytes, writeFileDurable } from '../../node/files.js';
import { createReceipt, createRequest } from '../../request.js';
import { verifyReceipt, verifyToken, type Verdict } from '../../verify.js';
import { parseNow, parseUint, writeOut } from '../common.js';
import { EXIT_OK, EXIT_REJECTED, UsageError, type Command } from '../framework.js';
import { readerContext } from './core.js';
import { readPayload, writeData } from '../payload.js';

const MAX_FILE = 1 << 20;

const ndefEncode: Command = {
  name: 'nfc ndef encode',
  summary: `wrap a token in an NDEF message (one ${OFFPAY_NDEF_TYPE} external-type record) for a tag or Web NFC`,
  usage: '--in TOKEN --out MSG.ndef [--chunk N]',
  options: {
    in: { type: 'string', arg: 'TOKEN', help: 'token file: CBOR from `offpay pay`, or a WAV, PNG/JPEG or NDEF file holding one' },
    out: { type: 'string', arg: 'MSG', help: 'output NDEF message file' },
    chunk: { type: 'string', arg: 'N', help: 'split the payload into chunks of N bytes (interoperability tests only)' },
  },
  async run(ctx) {
    const token = await readPayload('token', ctx.need('in')); // any form: CBOR, WAV, PNG/JPEG, NDEF
    const chunk = parseUint('chunk', ctx.opt('chunk'), 0xffff);
    if (chunk === 0) throw new UsageError('--chunk must be at least 1');
    const msg = chunk
      ? (() => {
          if (token.length === 0) throw new OffpayError('ndef.empty_token', 'the token is empty');
          return encodeNdefMessage([ndefRecord(TNF.EXTERNAL, OFFPAY_NDEF_TYPE, token)], { chunkSize: chunk });
        })()
      : encodeTokenNdef(token);
    const out = ctx.need('out');
    writeData(ctx, out, msg, { what: 'NDEF message' });
    ctx.out(`${out}: NDEF message of ${msg.length} bytes (${OFFPAY_NDEF_TYPE}, ${token.length}-byte payload)`);
    ctx.emit({ ok: true, out, bytes: msg.length, type: OFFPAY_NDEF_TYPE, payloadBytes: token.length });
    return EXIT_OK;
  },
};

const ndefDecode: Command = {
  name: 'nfc ndef decode',
  summary: `extract the token from an NDEF message (first ${OFFPAY_NDEF_TYPE} record; chunks reassembled)`,
  usage: '--in MSG.ndef [--out TOKEN]',
  options: {
    in: { type: 'string', arg: 'MSG', help: 'NDEF message file' },
    out: { type: 'string', arg: 'TOKEN', help: 'write the token bytes here' },
  },
  details: 'Exit 2 with an ndef.* code when the message is malformed or holds no offpay record.',
  async run(ctx) {
    const msg = readBytes(ctx.need('in'), 'NDEF message', MAX_FILE);
    const token = decodeTokenNdef(msg);
    const records = parseNdefRecords(msg).map((r) => ({
      tnf: r.tnf,
      type: new TextDecoder().decode(r.type),
      idBytes: r.id.length,
      payloadBytes: r.payload.length,
      flags: Object.entries(NDEF_FLAG)
        .filter(([k]) => (r as unknown as Record<string, boolean>)[k.toLowerCase()])
        .map(([k]) => k),
    }));
    const out = ctx.opt('out');
    if (out) writeData(ctx, out, token, { what: 'token bytes' });
    ctx.out(`token of ${token.length} bytes from ${records.length} physical record(s)${out ? `, written to ${out}` : ''}`);
    ctx.emit({ ok: true, tokenBytes: token.length, token: toHex(token), records, ...(out ? { out } : {}) });
    return EXIT_OK;
  },
};

const card: Command = {
  name: 'nfc card',
  summary: 'act as the phone: serve the card application for a wallet to pcscd through vsmartcard-vpcd',
  usage: '--wallet WALLET [--issuer ISSUER] [--host 127.0.0.1] [--port 35963] [--keep] [--timeout S] [--no-extended] [--now TIME]',
  options: {
    wallet: { type: 'string', arg: 'WALLET', help: 'wallet directory' },
    issuer: { type: 'string', arg: 'ISSUER', help: "issuer key set: check the reader's request before paying (recommended)" },
    host: { type: 'string', arg: 'HOST', help: 'vpcd host', default: '127.0.0.1' },
    port: { type: 'string', arg: 'PORT', help: 'vpcd port (slot 0 = 35963, reader "Virtual PCD 00 00")', default: '35963' },
    keep: { type: 'boolean', help: 'keep serving after a payment (default: pay one request a tap, decline others with 6985, and leave the field)' },
    timeout: { type: 'string', arg: 'S', help: 'give up after S seconds without a completed payment (with --keep: stop after S seconds)', default: '60' },
    'no-extended': { type: 'boolean', help: 'do not advertise extended-length APDUs' },
    now: { type: 'string', arg: 'TIME', help: 'the wallet clock, unix seconds or ISO 8601 (default: system time)' },
  },
  details:
    'Needs pcscd running with the vsmartcard-vpcd driver. Exit 0 after a payment, 2 on a timeout or error.\n' +
    'Payment refusals are answered with status words (spec/nfc.md §4.6) and printed.',
  async run(ctx) {
    const wallet = loadWallet(ctx.need('wallet'));
    const issuerPath = ctx.opt('issuer');
    const issuerKeys = issuerPath ? loadIssuerKeys(issuerPath) : undefined;
    const fixedNow = ctx.opt('now') === undefined ? undefined : parseNow(ctx.opt('now'));
    const port = parseUint('port', ctx.opt('port'), 65535)!;
    const timeoutS = parseUint('timeout', ctx.opt('timeout'), 86400)!;
    const keep = ctx.flag('keep');
    const events: Record<string, unknown>[] = [];
    let lastToken: Uint8Array | undefined;
    let lastReaderKey: Uint8Array | undefined;
    let payments = 0;
    /** The request (hex) this tap pays: set when its GET TOKEN arrives (spec/nfc.md §4.3). */
    let tapRequest: string | undefined;
    /** Payments the wallet is still making, and whether the tap ended (deactivation) while one was. */
    let inFlight = 0;
    let endWhenSettled = false;
    let finish!: (ok: boolean) => void;
    const done = new Promise<boolean>((r) => (finish = r));

    const cardWallet: CardWallet = {
      async getToken(request) {
        // One payment per tap (spec/nfc.md §4.3): without --keep, the first request asked in this session is the
        // only one paid. Taken before the wallet is awaited, so a second GET TOKEN while the first payment is still
        // running (after a 6F00 wallet timeout, say) cannot start another. The same request again gets the same
        // token from the wallet (spec/protocol.md §9.1), not a second payment.
        const key = toHex(request);
        if (!keep && tapRequest !== undefined && tapRequest !== key) {
          ctx.out('declined: a token for another request in the same tap (one payment per tap; --keep serves more)');
          events.push({ event: 'refused', error: 'wallet.user_declined', why: 'one_payment_per_tap' });
          throw new OffpayError('wallet.user_declined', 'one payment per tap: this card has paid (or is paying) another request', { sw: 0x6985 });
        }
        tapRequest = key;
        inFlight++;
        try {
          const token = await wallet.pay(request, { time: fixedNow ?? Math.floor(Date.now() / 1000), ...(issuerKeys ? { issuerKeys } : {}) });
          const again = lastToken !== undefined && equalBytes(lastToken, token);
          lastToken = token;
          lastReaderKey = decodeRequest(request).readerCert.readerPublicKey;
          if (!again) payments++;
          ctx.out(`${again ? 'the same request again: the same token' : 'paid'}: ${token.length}-byte token for reader ${decodeRequest(request).readerCert.readerId}`);
          events.push({ event: again ? 'repeated' : 'paid', tokenBytes: token.length, tokenHash: toHex(tokenHash(token)) });
          return token;
        } catch (e) {
          // Nothing paid and nothing else paying: the tap may still pay a request. (Another GET TOKEN of the same
          // request still running may yet pay it: clearing then let a second request be paid in the same tap.)
          if (payments === 0 && inFlight === 1) tapRequest = undefined;
          const code = e instanceof OffpayError ? e.code : 'internal';
          ctx.out(`refused: ${e instanceof Error ? e.message : String(e)} [${code}]`);
          events.push({ event: 'refused', error: code });
          throw e;
        } finally {
          // The card left while the wallet was still paying (the card answered 6F00 at its time limit): the tap
          // ends when the payment settles, a payment if it completed.
          if (--inFlight === 0 && endWhenSettled) setTimeout(() => finish(payments > 0), 0);
        }
      },
      async receipt(bytes) {
        if (!lastToken || !lastReaderKey) throw new OffpayError('receipt.unexpected', 'no token was paid');
        const r = verifyReceipt(bytes, lastReaderKey, lastToken, nodeEd25519());
        ctx.out(`receipt: ${r.outcome} (reason ${r.reason}) signed by reader ${r.readerId}`);
        events.push({ event: 'receipt', outcome: r.outcome, reason: r.reason, readerId: r.readerId });
        if (!keep) setTimeout(() => finish(true), 0);
      },
    };
    const app = new CardApplication(cardWallet, { extendedLength: !ctx.flag('no-extended') });
    const { startVirtualCard } = await import('../../../codecs/nfc/vpcd.js');
    let paidAtDeactivation = 0;
    const vc = await startVirtualCard(
      {
        process: (apdu) => app.process(apdu),
        deactivate: () => {
          app.deactivate();
          // the reader reset or powered the card off after a payment without a receipt: the tap is over
          if (!keep && payments > paidAtDeactivation) setTimeout(() => finish(true), 0);
          else if (!keep && inFlight > 0) endWhenSettled = true;
          paidAtDeactivation = payments;
        },
      },
      { host: ctx.opt('host') ?? '127.0.0.1', port },
    );
    ctx.out(`card inserted into vpcd ${ctx.opt('host')}:${port}; waiting for a reader (AID ${toHex(app.info.aid).toUpperCase()})`);
    const timer = setTimeout(() => finish(payments > 0), timeoutS * 1000); // with --keep, the timeout ends the session
    const onSig = (): void => finish(payments > 0);
    process.once('SIGINT', onSig);
    // The reader's link may end without a receipt or a reset after the token went out: that is still a payment
    // (the allowance is spent and the reader may hold the token), not `nfc.no_payment`.
    const removedEarly = vc.removed.then(() => payments > 0);
    const ok = await Promise.race([done, removedEarly]);
    clearTimeout(timer);
    process.off('SIGINT', onSig);
    await vc.close();
    if (!ok || payments === 0) throw new OffpayError('nfc.no_payment', `no payment completed (${vc.commands} APDUs received)`, { commands: vc.commands, events });
    ctx.emit({ ok: true, payments, commands: vc.commands, events });
    ctx.out(`card removed after ${vc.commands} APDUs`);
    return EXIT_OK;
  },
};

const read: Command = {
  name: 'nfc read',
  summary: 'act as the gate: request an amount from the first card on a PC/SC reader, verify the token, send a receipt',
  usage: '--reader READER --issuer ISSUER --amount A --currency C [--pcsc-reader NAME] [--out TOKEN] [--extended] [--timeout S] [--removal-wait S] [--max-age S] [--now TIME]',
  options: {
    reader: { type: 'string', arg: 'READER', help: 'reader directory (identity, key, saved requests)' },
    issuer: { type: 'string', arg: 'ISSUER', help: 'issuer directory or keyset.cbor' },
    amount: { type: 'string', arg: 'AMOUNT', help: 'price in major units, e.g. 12.50' },
    currency: { type: 'string', arg: 'CODE', help: 'ISO 4217 code', default: 'HKD' },
    'pcsc-reader': { type: 'string', arg: 'NAME', help: 'use the PC/SC reader whose name contains NAME (default: any)' },
    out: { type: 'string', arg: 'TOKEN', help: 'also write the token bytes here' },
    extended: { type: 'boolean', help: 'use extended-length APDUs if the card offers them (the reader must support them)' },
    timeout: { type: 'string', arg: 'S', help: 'wait this long for a card, seconds', default: '30' },
    'removal-wait': { type: 'string', arg: 'S', help: 'after the exchange, wait this long for the card to leave, seconds (0: do not wait)', default: '10' },
    'max-age': { type: 'string', arg: 'S', help: 'oldest acceptable token, seconds', default: '300' },
    now: { type: 'string', arg: 'TIME', help: 'the reader clock, unix seconds or ISO 8601 (default: system time)' },
  },
  details:
    'Stateless verification (as `offpay verify`); exit 0 accepted, 1 rejected, 2 no token (no card, card lost,\n' +
    'card refused: the nfc.* code says which). After the exchange it waits --removal-wait seconds for the card to\n' +
    'leave; if it stays, it warns (JSON: link.cardRemoved false), and a loop of runs must not start the next one\n' +
    'until it has left, or the phone pays again (spec/nfc.md §5 item 7).',
  async run(ctx) {
    const readerDir = ctx.need('reader');
    const reader = loadReader(readerDir);
    const issuerPath = ctx.need('issuer');
    const cur = parseCurrency(ctx.opt('currency') ?? 'HKD');
    const amount = parseAmount(ctx.need('amount'), cur);
    if (amount === 0) throw new UsageError('--amount must be more than zero');
    const now = parseNow(ctx.opt('now'));
    const maxAge = parseUint('max-age', ctx.opt('max-age'))!;
    const timeoutS = parseUint('timeout', ctx.opt('timeout'), 86400)!;
    const removalS = parseUint('removal-wait', ctx.opt('removal-wait') ?? '10', 3600)!;
    const { request, bytes: requestBytes } = createRequest(reader, { amount, currency: cur.numeric, time: now });
    writeFileDurable(join(reader.dir, 'requests', `${toHex(request.challenge)}.cbor`), requestBytes);
    const vctx = readerContext(readerDir, issuerPath, now, { request, maxAge });
    ctx.out(`requesting ${formatMoney(amount, cur.numeric)} (challenge ${toHex(request.challenge)}); present a card`);
    const { readTokenOverPcsc } = await import('../../../codecs/nfc/node.js');
    const r = await readTokenOverPcsc<Verdict>(
      requestBytes,
      async (token) => {
        const v = verifyToken(token, vctx, nodeEd25519());
        const { bytes: receipt } = createReceipt(reader, {
          readerId: reader.cert.readerId,
          tokenHash: tokenHash(token),
          outcome: v.accepted ? 'accepted' : 'rejected',
          reason: v.accepted ? 0 : v.code,
          time: now,
        });
        return { verdict: v, receipt };
      },
      {
        timeoutMs: timeoutS * 1000,
        // spec/nfc.md §5 item 7: a phone left on the antenna must not pay the next run's request as well.
        ...(removalS > 0 ? { waitForRemovalMs: removalS * 1000 } : {}),
        extendedLength: ctx.flag('extended'),
        ...(ctx.opt('pcsc-reader') ? { reader: ctx.opt('pcsc-reader')! } : {}),
      },
    );
    const out = ctx.opt('out');
    if (out) writeOut(out, r.token);
    const air = airTime(r.trace.slice(0, r.receiptSent ? -1 : undefined));
    const link = {
      pcscReader: r.readerName,
      roundTrips: r.stats.roundTrips,
      bytesSent: r.stats.bytesSent,
      bytesReceived: r.stats.bytesReceived,
      airTimeMs: Number(air.ms.toFixed(2)),
      receiptSent: r.receiptSent,
      ...(r.receiptError ? { receiptError: r.receiptError.code } : {}),
      ...(r.cardRemoved === undefined ? {} : { cardRemoved: r.cardRemoved }),
      apdus: r.trace.map((e) => ({ command: toHex(e.command), sw: swHex(((e.response.at(-2) ?? 0) << 8) | (e.response.at(-1) ?? 0)) })),
    };
    ctx.out(
      `${r.stats.roundTrips} round trips on ${r.readerName}, ${r.stats.bytesSent} B sent, ${r.stats.bytesReceived} B received, ` +
        `air time ${air.ms.toFixed(1)} ms at 106 kbit/s${r.receiptSent ? ', receipt delivered' : ''}`,
    );
    if (r.cardRemoved === false) {
      ctx.out(`WARNING: the card is still on the reader after ${removalS} s: lift it before the next payment, or the next request reaches it too (spec/nfc.md §5 item 7)`);
    }
    const v = r.verdict;
    if (v.accepted) {
      ctx.out(`ACCEPTED: ${formatMoney(v.token.amount, v.currency)} from wallet ${toHex(v.walletId)} counter ${v.token.counter}`);
      ctx.emit({ accepted: true, amount: v.token.amount, currency: v.currency, walletId: toHex(v.walletId), counter: v.token.counter, tokenHash: toHex(v.tokenHash), link });
      return EXIT_OK;
    }
    ctx.out(`REJECTED: ${v.reason} (${v.code}): ${v.message}`);
    ctx.emit({ accepted: false, reason: v.reason, code: v.code, message: v.message, link });
    return EXIT_REJECTED;
  },
};

const tagServe: Command = {
  name: 'nfc tag serve',
  summary: 'act as a phone showing an NDEF message as a Type 4 Tag (what Web NFC reads), through vsmartcard-vpcd',
  usage: '--in MSG.ndef [--host 127.0.0.1] [--port 35963] [--keep] [--timeout S]',
  options: {
    in: { type: 'string', arg: 'MSG', help: 'NDEF message file (e.g. from `offpay nfc ndef encode`)' },
    host: { type: 'string', arg: 'HOST', help: 'vpcd host', default: '127.0.0.1' },
    port: { type: 'string', arg: 'PORT', help: 'vpcd port', default: '35963' },
    keep: { type: 'boolean', help: 'keep serving after the message was read once' },
    timeout: { type: 'string', arg: 'S', help: 'stop after S seconds', default: '60' },
  },
  details: 'Exit 0 once a reader has read the whole message (or at the timeout with --keep after a read), 2 otherwise.',
  async run(ctx) {
    const msg = readBytes(ctx.need('in'), 'NDEF message', MAX_FILE);
    decodeNdefMessage(msg); // refuse to serve a malformed message
    const port = parseUint('port', ctx.opt('port'), 65535)!;
    const timeoutS = parseUint('timeout', ctx.opt('timeout'), 86400)!;
    const tag = new NdefTagApplication(msg);
    let reads = 0;
    let finish!: () => void;
    const done = new Promise<void>((r) => (finish = r));
    const { startVirtualCard } = await import('../../../codecs/nfc/vpcd.js');
    const vc = await startVirtualCard(
      {
        async process(apdu) {
          const r = await tag.process(apdu);
          // a successful READ BINARY that reaches the end of the NDEF file (NLEN + message) completes a read
          if (apdu[1] === 0xb0 && apdu.length === 5 && r.length >= 2 && r[r.length - 2] === 0x90) {
            const end = ((apdu[2]! << 8) | apdu[3]!) + r.length - 2;
            if (end === msg.length + 2 && end > 15) {
              reads++;
              ctx.out(`read ${reads}: ${msg.length}-byte message delivered`);
              if (!ctx.flag('keep')) setTimeout(finish, 0);
            }
          }
          return r;
        },
        deactivate: () => tag.deactivate(),
      },
      { host: ctx.opt('host') ?? '127.0.0.1', port },
    );
    ctx.out(`tag inserted into vpcd ${ctx.opt('host')}:${port} (NDEF application D2760000850101, ${msg.length}-byte message)`);
    const timer = setTimeout(finish, timeoutS * 1000);
    await Promise.race([done, vc.removed]);
    clearTimeout(timer);
    await vc.close();
    if (reads === 0) throw new OffpayError('nfc.no_read', `no reader read the message (${vc.commands} APDUs received)`, { commands: vc.commands });
    ctx.emit({ ok: true, reads, commands: vc.commands, messageBytes: msg.length });
    return EXIT_OK;
  },
};

const tagRead: Command = {
  name: 'nfc tag read',
  summary: 'read the NDEF message of a Type 4 Tag (or a phone emulating one) on a PC/SC reader',
  usage: '--out MSG.ndef [--pcsc-reader NAME] [--timeout S]',
  options: {
    out: { type: 'string', arg: 'MSG', help: 'write the NDEF message here' },
    'pcsc-reader': { type: 'string', arg: 'NAME', help: 'use the PC/SC reader whose name contains NAME (default: any)' },
    timeout: { type: 'string', arg: 'S', help: 'wait this long for a tag, seconds', default: '30' },
  },
  details: 'Then `offpay nfc ndef decode --in MSG.ndef --out TOKEN` extracts the token. Exit 2 with nfc.* / ndef.* on failure.',
  async run(ctx) {
    const out = ctx.need('out');
    const timeoutS = parseUint('timeout', ctx.opt('timeout'), 86400)!;
    const { readNdefTagOverPcsc } = await import('../../../codecs/nfc/node.js');
    const { message: msg, readerName } = await readNdefTagOverPcsc({
      timeoutMs: timeoutS * 1000,
      ...(ctx.opt('pcsc-reader') ? { reader: ctx.opt('pcsc-reader')! } : {}),
    });
    const records = decodeNdefMessage(msg);
    writeOut(out, msg);
    ctx.out(`${out}: ${msg.length}-byte NDEF message, ${records.length} record(s), from ${readerName}`);
    ctx.emit({ ok: true, out, bytes: msg.length, records: records.length, reader: readerName });
    return EXIT_OK;
  },
};

export const commands: Command[] = [ndefEncode, ndefDecode, card, read, tagServe, tagRead];
