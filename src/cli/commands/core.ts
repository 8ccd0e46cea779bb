/**
 * Core CLI commands: issuer, wallet and reader set-up; requests, payment, verification, inspection and the
 * test vectors. Transports plug in through `--via` (src/cli/via.ts).
 */
import { existsSync, readdirSync, mkdirSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { publicKeyOf, randomSecretKey, seededSecretKey } from '../../crypto.js';
import { fromHex, toHex } from '../../../base/hex.js';
import { currencyByNumeric, formatAmount, formatMoney, parseAmount, parseCurrency } from '../../currency.js';
import { OffpayError } from '../../../base/errors.js';
import { Issuer, MAX_WALLET_LIMIT, dayOf } from '../../issuer.js';
import {
  decodeIssuerKeySet,
  decodeReaderCert,
  decodeReceipt,
  decodeRequest,
  decodeToken,
  decodeWalletCert,
  MAX_COUNTER,
  peekType,
  tokenHash,
  walletIdOf,
  type PaymentRequest,
} from '../../messages.js';
import { nodeEd25519 } from '../../node/crypto.js';
import { loadIssuer, loadIssuerKeys, loadReader, loadWallet, restoreCounter, saveIssuer, saveReader, saveWallet } from '../../node/files.js';
import { requestContextOf, verifyToken, type VerifyContext } from '../../verify.js';
import { decodeRefund } from '../../refund.js';
import { decodeExit } from '../../exit.js';
import { decodeBlocklist } from '../../reader/blocklist.js';
import { decodeBatch } from '../../reader/batch.js';
import type { VectorFile } from '../../vectors.js';
import type { SuiteProblem } from '../../vector-suites.js';
import { nobleEd25519, webCryptoEd25519, hasWebCryptoEd25519 } from '../../crypto.js';
import { EXIT_OK, EXIT_REJECTED, EXIT_USAGE, UsageError, type Command } from '../framework.js';
import { checkOut, readPayload, readPayloadWithForm, writePayload } from '../payload.js';
import { packageRoot, parseNow, parseUint, writeOut } from '../common.js';
import { readFileBounded } from '../../node/bounded-file.js';
import { inspectLock, removeLock, type LockFileState } from '../../node/lock.js';
import { lockPathOf } from '../../node/counter.js';
import { dayDate, layout } from '../human.js';

const seedOpt = { type: 'string' as const, arg: 'SEED', help: 'derive keys from SEED (reproducible demos and tests only; never in production)' };
const nowOpt = { type: 'string' as const, arg: 'TIME', help: 'the clock, unix seconds or ISO 8601 (default: system time)' };
const walletOpt = { type: 'string' as const, arg: 'WALLET', help: 'wallet directory' };
/** --via of a command that writes what the wallet shows. */
const showViaOpt = { type: 'string' as const, arg: 'T', help: 'fsk: write a WAV to play; qr: write a QR code PNG' };

function secret(seed: string | undefined, label: string): Uint8Array {
  return seed === undefined ? randomSecretKey() : seededSecretKey(seed, label);
}

export { readPayload };

const issuerInit: Command = {
  name: 'issuer init',
  summary: 'create an issuer: a signing key and the public key set readers trust',
  usage: '--dir ISSUER [--id N] [--days N] [--seed SEED] [--now TIME]',
  options: {
    dir: { type: 'string', arg: 'ISSUER', help: 'directory to create (issuer.json secret, keyset.cbor public)' },
    id: { type: 'string', arg: 'N', help: 'issuer id', default: '1' },
    days: { type: 'string', arg: 'N', help: 'validity of the first issuer key in days', default: '730' },
    seed: seedOpt,
    now: nowOpt,
  },
  async run(ctx) {
    const dir = ctx.need('dir');
    if (existsSync(join(dir, 'issuer.json'))) throw new UsageError(`${dir} already holds an issuer; refusing to overwrite its keys`);
    const now = parseNow(ctx.opt('now'));
    const days = parseUint('days', ctx.opt('days'), 36500)!;
    const issuer = Issuer.fromSecret(parseUint('id', ctx.opt('id'))!, 1, secret(ctx.opt('seed'), 'issuer'), now - 86400, now + days * 86400);
    saveIssuer(dir, issuer);
    const k = issuer.keys[0]!;
    ctx.out(`issuer ${issuer.issuerId} created in ${dir}: key 1 ${toHex(k.publicKey).slice(0, 16)}…, valid until ${new Date(k.notAfter * 1000).toISOString()}`);
    ctx.out(`give ${join(dir, 'keyset.cbor')} to readers and wallets; keep ${join(dir, 'issuer.json')} secret`);
    ctx.emit({ ok: true, issuerId: issuer.issuerId, dir, keys: issuer.keySet().keys });
    return EXIT_OK;
  },
};

const DAY = 86_400;

const issuerRotate: Command = {
  name: 'issuer rotate',
  summary: 'add the next issuer key (a key rotation): the new key set for clearing to sign and readers to load',
  usage: '--dir ISSUER [--start TIME] [--days N] [--retire-old-in DAYS] [--seed SEED] [--now TIME]',
  options: {
    dir: { type: 'string', arg: 'ISSUER', help: 'the issuer directory (issuer.json and keyset.cbor are rewritten)' },
    start: { type: 'string', arg: 'TIME', help: 'when the new key becomes valid, unix seconds or ISO 8601 (default: now); until then new certificates are still signed by the old key' },
    days: { type: 'string', arg: 'N', help: 'validity of the new key in days from its start', default: '730' },
    'retire-old-in': { type: 'string', arg: 'DAYS', help: 'end every older key still valid at most DAYS days from now (default: each keeps its window)' },
    seed: seedOpt,
    now: nowOpt,
  },
  details: `A rotation (spec/protocol.md §4.4): the new key joins the key set while the old ones are still valid. Then:
restart clearing serve with --replace-settings (a PostgreSQL house: every node; the service signs the new set
with the oldest key still valid, which every reader holds), and readers take it at their next reader sync
(keyset outcome newer). Certificates are signed by the newest valid key: give readers time to load the new set
before the new key's start (--start), or they refuse certificates signed by it (unknown issuer key). Retire the
old key (--retire-old-in) only after every reader has synced: a reader that missed the whole overlap must be
provisioned again by hand.`,
  async run(ctx) {
    const dir = ctx.need('dir');
    const issuer = loadIssuer(dir);
    const now = parseNow(ctx.opt('now'));
    const start = ctx.opt('start') === undefined ? now : parseNow(ctx.opt('start'));
    const days = parseUint('days', ctx.opt('days'), 36500)!;
    if (days < 1) throw new UsageError('--days must be at least 1');
    const retireIn = parseUint('retire-old-in', ctx.opt('retire-old-in'), 36500);
    const keyIndex = Math.max(...issuer.keys.map((k) => k.keyIndex)) + 1;
    if (keyIndex > 255) throw new UsageError('the issuer already holds key index 255: a key set holds at most 255 keys (spec/protocol.md); retire old keys first');
    const keys = issuer.keys.map((k) =>
      retireIn !== undefined && k.notAfter > now + retireIn * DAY ? { ...k, notAfter: Math.max(k.notBefore, now + retireIn * DAY) } : k,
    );
    const secretKey = secret(ctx.opt('seed'), `issuer-key-${keyIndex}`);
    keys.push({ keyIndex, secretKey, publicKey: publicKeyOf(secretKey), notBefore: start, notAfter: start + days * DAY });
    const rotated = new Issuer(issuer.issuerId, keys);
    saveIssuer(dir, rotated);
    for (const k of rotated.keys) {
      ctx.out(`key ${k.keyIndex} ${toHex(k.publicKey).slice(0, 16)}… valid ${new Date(k.notBefore * 1000).toISOString()} .. ${new Date(k.notAfter * 1000).toISOString()}${k.keyIndex === keyIndex ? ' (new)' : ''}`);
    }
    ctx.out(`next: restart clearing serve with --replace-settings so it serves the new key set; readers load it at their next reader sync`);
    ctx.emit({ ok: true, issuerId: rotated.issuerId, dir, newKeyIndex: keyIndex, keys: rotated.keySet().keys });
    return EXIT_OK;
  },
};

const walletNew: Command = {
  name: 'wallet new',
  summary: 'create a wallet: a key, an issuer-signed certificate with offline limits, and a durable counter',
  details: `Limits are amounts of the currency: 0 < max-payment <= allowance <= 4,294,967,295 minor units (spec/protocol.md §9.3). The wallet directory holds wallet.json (secret) and counter.json (counter 0 at creation; pay refuses without it).`,
  usage: '--issuer ISSUER --out WALLET [--currency HKD] [--max-payment 500] [--allowance 600] [--days 30] [--seed SEED]',
  options: {
    issuer: { type: 'string', arg: 'ISSUER', help: 'issuer directory' },
    out: { type: 'string', arg: 'WALLET', help: 'wallet directory to create' },
    currency: { type: 'string', arg: 'CODE', help: 'ISO 4217 currency of the certificate', default: 'HKD' },
    'max-payment': { type: 'string', arg: 'AMOUNT', help: 'largest single payment', default: '500.00' },
    allowance: { type: 'string', arg: 'AMOUNT', help: 'total the wallet may spend offline under this certificate', default: '600.00' },
    days: { type: 'string', arg: 'N', help: 'certificate lifetime in days', default: '30' },
    seed: seedOpt,
    now: nowOpt,
  },
  async run(ctx) {
    const out = ctx.need('out');
    if (existsSync(join(out, 'wallet.json')) || existsSync(join(out, 'counter.json'))) throw new UsageError(`${out} already holds a wallet (or its counter); refusing to overwrite it`);
    const issuer = loadIssuer(ctx.need('issuer'));
    const now = parseNow(ctx.opt('now'));
    const cur = parseCurrency(ctx.opt('currency') ?? 'HKD');
    const sk = secret(ctx.opt('seed'), 'wallet');
    const maxPerPayment = parseAmount(ctx.opt('max-payment') ?? '500', cur);
    const offlineAllowance = parseAmount(ctx.opt('allowance') ?? '600', cur);
    const limit = formatAmount(MAX_WALLET_LIMIT, cur);
    if (maxPerPayment <= 0 || maxPerPayment > MAX_WALLET_LIMIT) throw new UsageError(`--max-payment must be above 0 and at most ${limit} ${cur.alpha} (spec/protocol.md §9.3)`);
    if (offlineAllowance <= 0 || offlineAllowance > MAX_WALLET_LIMIT) throw new UsageError(`--allowance must be above 0 and at most ${limit} ${cur.alpha} (spec/protocol.md §9.3)`);
    if (offlineAllowance < maxPerPayment) {
      throw new UsageError(`--allowance ${formatAmount(offlineAllowance, cur)} is below --max-payment ${formatAmount(maxPerPayment, cur)}: the offline allowance must be at least the largest single payment`);
    }
    const cert = issuer.issueWalletCert(
      { walletPublicKey: publicKeyOf(sk), expiryDay: dayOf(now) + parseUint('days', ctx.opt('days'), 3650)!, maxPerPayment, offlineAllowance, currency: cur.numeric },
      now,
    );
    saveWallet(out, sk, cert);
    const id = toHex(walletIdOf(cert.walletPublicKey));
    ctx.out(`wallet ${id} created in ${out}: ${cur.alpha}, up to ${formatAmount(cert.maxPerPayment, cur)} a payment, ${formatAmount(cert.offlineAllowance, cur)} offline, certificate valid through ${dayDate(cert.expiryDay)}`);
    ctx.out(`counter 0 written to ${join(out, 'counter.json')}: keep it with the wallet; pay refuses without it`);
    ctx.emit({ ok: true, walletId: id, dir: out, cert: { ...cert, walletPublicKey: toHex(cert.walletPublicKey), issuerSignature: toHex(cert.issuerSignature) } });
    return EXIT_OK;
  },
};

const walletRestoreCounter: Command = {
  name: 'wallet restore-counter',
  summary: "set a wallet's counter after counter.json was lost or damaged (never below what is still visible)",
  usage: '--wallet WALLET --counter N --spent AMOUNT',
  details:
    'Restoring below the true last counter makes clearing see a counter used twice and blocklist the wallet. ' +
    'Use the last counter the issuer has seen from this wallet plus a margin for payments it has not seen yet, ' +
    'and for --spent the offline total the wallet may have spent (the full allowance when unknown). ' +
    'Refuses to go below the counter and spent total still visible in counter.json or a temp file a crash left.',
  options: {
    wallet: { type: 'string', arg: 'WALLET', help: 'wallet directory' },
    counter: { type: 'string', arg: 'N', help: 'last counter used (the next payment uses N + 1)' },
    spent: { type: 'string', arg: 'AMOUNT', help: 'offline total already spent under this certificate' },
  },
  async run(ctx) {
    const dir = ctx.need('wallet');
    const wallet = loadWallet(dir);
    const cur = parseCurrency(String(wallet.cert.currency));
    const counter = parseUint('counter', ctx.need('counter'), MAX_COUNTER)!;
    const spent = parseAmount(ctx.need('spent'), cur);
    const r = await restoreCounter(join(dir, 'counter.json'), { counter, spent }, { offlineAllowance: wallet.cert.offlineAllowance });
    ctx.out(`counter of ${dir} restored to ${counter} (next payment ${counter + 1}), spent ${formatAmount(spent, cur)} of ${formatAmount(wallet.cert.offlineAllowance, cur)} ${cur.alpha}`);
    ctx.out('if any payment used a counter above this value, clearing will see a counter reuse and blocklist this wallet');
    ctx.emit({ ok: true, dir, counter, spent, previous: r.previous });
    return EXIT_OK;
  },
};

const walletUnlock: Command = {
  name: 'wallet unlock',
  summary: "show who holds a wallet's lock, and remove a lock whose holder is gone (a restarted container, another machine)",
  usage: '--wallet WALLET [--nonce N]',
  details:
    'Without --nonce: prints the lock (WALLET/counter.json.lock) and any breaker file, with the holder and whether it\n' +
    'is dead, alive or cannot be told from here (another host or PID namespace). A lock whose holder is provably dead\n' +
    'is removed by the next payment on its own; this command is for the others. With --nonce N (the acquisition the\n' +
    'listing shows): removes that lock only while it still holds N, and never one whose holder runs on this host.\n' +
    'Remove a lock only once no offpay process uses this wallet (stop it, or make sure its container or machine is\n' +
    'gone): two processes paying at once may sign one counter twice, and clearing then blocklists the wallet.\n' +
    'Exit 0 listed or removed, 2 refused (wallet.lock_changed: it was released or taken again since; wallet.lock_live).',
  options: {
    wallet: { type: 'string', arg: 'WALLET', help: 'wallet directory' },
    nonce: { type: 'string', arg: 'N', help: 'remove the lock (or breaker file) holding this acquisition nonce (32 hex digits)' },
  },
  async run(ctx) {
    const dir = ctx.need('wallet');
    loadWallet(dir); // a wallet directory, or a typed error
    const path = lockPathOf(join(dir, 'counter.json'));
    const nonce = ctx.opt('nonce');
    if (nonce !== undefined) {
      if (!/^[0-9a-f]{32}$/.test(nonce)) throw new UsageError(`--nonce must be the 32 lower-case hex digits the listing shows, not '${nonce}'`);
      const removed = removeLock(path, nonce);
      ctx.out(`removed ${removed}`);
      ctx.emit({ ok: true, removed });
      return EXIT_OK;
    }
    const { lock, breaker } = inspectLock(path);
    const describe = (f: LockFileState) => {
      const h = f.holder;
      const who = h
        ? `process ${h.pid} on ${h.host}${h.pidns ? ` (PID namespace ${h.pidns})` : ''} since ${new Date(h.time).toISOString()}, nonce ${h.nonce}`
        : 'a record that cannot be read';
      const live = { dead: 'its holder is gone (the next payment removes it)', alive: 'its holder is running on this host', unknown: 'whether its holder runs cannot be told from here' }[f.liveness];
      return `${f.path}: held by ${who}; ${live}`;
    };
    if (!lock && !breaker) ctx.out(`${dir} is not locked`);
    for (const f of [lock, breaker]) if (f) ctx.out(describe(f));
    const removable = [lock, breaker].find((f) => f && f.holder && f.liveness !== 'alive');
    if (removable) ctx.out(`once no offpay process uses this wallet: offpay wallet unlock --wallet ${dir} --nonce ${removable.holder!.nonce}`);
    const json = (f: LockFileState | null) => (f ? { path: f.path, liveness: f.liveness, holder: f.holder } : null);
    ctx.emit({ ok: true, locked: lock !== null, lock: json(lock), breaker: json(breaker) });
    return EXIT_OK;
  },
};

const readerNew: Command = {
  name: 'reader new',
  summary: 'create a reader (vending machine or gate): a key and an issuer-signed reader certificate',
  usage: '--issuer ISSUER --id ID --out READER [--profile vending|transit] [--operator N] [--days N] [--seed SEED]',
  options: {
    issuer: { type: 'string', arg: 'ISSUER', help: 'issuer directory' },
    id: { type: 'string', arg: 'ID', help: 'reader id (a payee id)' },
    out: { type: 'string', arg: 'READER', help: 'reader directory to create' },
    profile: { type: 'string', arg: 'P', help: 'reader profile: vending or transit', default: 'vending' },
    operator: { type: 'string', arg: 'N', help: 'merchant or operator id (a payee id)', default: '0' },
    days: { type: 'string', arg: 'N', help: 'certificate lifetime in days', default: '365' },
    seed: seedOpt,
    now: nowOpt,
  },
  async run(ctx) {
    const out = ctx.need('out');
    if (existsSync(join(out, 'reader.json'))) throw new UsageError(`${out} already holds a reader`);
    const profile = ctx.opt('profile') ?? 'vending';
    if (profile !== 'vending' && profile !== 'transit') throw new UsageError(`--profile must be vending or transit, not '${profile}'`);
    const issuer = loadIssuer(ctx.need('issuer'));
    const now = parseNow(ctx.opt('now'));
    const readerId = parseUint('id', ctx.need('id'))!;
    const sk = secret(ctx.opt('seed'), `reader-${readerId}`);
    const cert = issuer.issueReaderCert(
      { readerId, readerPublicKey: publicKeyOf(sk), operatorId: parseUint('operator', ctx.opt('operator'))!, profile, notBefore: now - 86400, notAfter: now + parseUint('days', ctx.opt('days'), 36500)! * 86400 },
      now,
    );
    saveReader(out, sk, cert);
    ctx.out(`${profile} reader ${readerId} (operator ${cert.operatorId}) created in ${out}`);
    ctx.emit({ ok: true, readerId, profile, operatorId: cert.operatorId, dir: out });
    return EXIT_OK;
  },
};

const request: Command = {
  name: 'request',
  summary: 'open a signed payment request at a reader (what a vending machine shows as a QR or sends over NFC); it closes the previous one',
  usage: '--reader READER --db READER.db --amount 12.50 --currency HKD --out REQ [--via qr|code] [--now TIME]',
  options: {
    reader: { type: 'string', arg: 'READER', help: 'reader directory' },
    db: { type: 'string', arg: 'READER.db', help: 'reader database (offpay reader init): the request becomes its one open request' },
    issuer: { type: 'string', arg: 'ISSUER', help: 'issuer directory or keyset.cbor (replaces the key set stored in the database)' },
    policy: { type: 'string', arg: 'FILE', help: 'reader policy JSON (default READER/policy.json if present)' },
    amount: { type: 'string', arg: 'AMOUNT', help: 'price in major units, e.g. 12.50' },
    currency: { type: 'string', arg: 'CODE', help: 'ISO 4217 code', default: 'HKD' },
    out: { type: 'string', arg: 'REQ', help: 'output file' },
    via: { type: 'string', arg: 'T', help: 'qr: write a QR code PNG; code: write the numeric payment code' },
    now: nowOpt,
  },
  details: `A reader has one open request at a time (spec/reader.md §2): this one replaces the previous, so a token
for an earlier price is refused (request_not_open). Completing or voiding the sale closes it. With --via code
the request is opened as a payment code: 20 digits to type, and the token signs no request time
(spec/protocol.md §4.3, rule P); payee and amount must fit the code (1,048,575 each).`,
  async run(ctx) {
    const cur = parseCurrency(ctx.opt('currency') ?? 'HKD');
    const amount = parseAmount(ctx.need('amount'), cur);
    if (amount === 0) throw new UsageError('--amount must be more than zero');
    const now = parseNow(ctx.opt('now'));
    const via = ctx.opt('via');
    const out = ctx.need('out');
    await checkOut(ctx, out, via);
    const { openReader } = await import('../reader-open.js');
    const { reader, store } = openReader(ctx, now);
    try {
      const { request: req, bytes } = reader.openRequest({ amount, currency: cur.numeric, now, code: via === 'code', unlessPaid: true });
      const note = await writePayload(ctx, 'request', bytes, out, via);
      ctx.out(`request ${toHex(req.challenge)} for ${formatMoney(amount, cur.numeric)} is now the open request of reader ${reader.readerId}; written to ${out} (${note})`);
      ctx.emit({ ok: true, challenge: toHex(req.challenge), amount, currency: cur.numeric, readerId: reader.readerId, out, bytes: bytes.length });
      return EXIT_OK;
    } finally {
      store.close();
    }
  },
};

const pay: Command = {
  name: 'pay',
  summary: 'pay a payment request, or a payee with no request, and write the signed token',
  details:
    'The next counter and the running offline total are reserved under WALLET/counter.json.lock and saved durably with the token before it is written out, ' +
    'so several pay processes on one wallet never reuse a counter (a busy lock is waited for up to 10 s, then wallet.locked). ' +
    'A request paid before (one of the last 16, kept in counter.json) gets the same token again and spends nothing: one request, one payment. ' +
    'Without a valid counter.json, pay refuses (exit 2): see `offpay wallet restore-counter --help`.',
  usage: '--wallet WALLET (--request REQ | --payee ID --amount A --currency C) --out TOKEN [--issuer ISSUER] [--via fsk|qr] [--now TIME]',
  options: {
    wallet: walletOpt,
    request: { type: 'string', arg: 'REQ', help: 'payment request file (CBOR, QR image or payment code)' },
    payee: { type: 'string', arg: 'ID', help: 'payee id (reader or operator) for a one-way payment' },
    amount: { type: 'string', arg: 'AMOUNT', help: 'amount for a one-way payment' },
    currency: { type: 'string', arg: 'CODE', help: 'currency for a one-way payment (must be the wallet currency)' },
    issuer: { type: 'string', arg: 'ISSUER', help: "issuer key set: check the request's reader before paying (recommended)" },
    out: { type: 'string', arg: 'TOKEN', help: 'output file' },
    via: showViaOpt,
    now: nowOpt,
  },
  async run(ctx) {
    const wallet = loadWallet(ctx.need('wallet'));
    const now = parseNow(ctx.opt('now'));
    const out = ctx.need('out');
    await checkOut(ctx, out, ctx.opt('via')); // before a counter is spent
    let token: Uint8Array;
    /** The request was paid before: this is that payment's token, nothing spent now (spec/protocol.md §9.1). */
    let repeated = false;
    /** The payee paid (a request-bound token signs its request's reader id without carrying it). */
    let paidTo: number | undefined;
    const reqPath = ctx.opt('request');
    if (reqPath) {
      if (ctx.opt('payee') || ctx.opt('amount')) throw new UsageError('give either --request or --payee/--amount, not both');
      const { bytes: reqBytes, form } = await readPayloadWithForm('request', reqPath);
      const issuerPath = ctx.opt('issuer');
      if (form === 'digits') {
        // A typed payment code carries payee, amount and challenge but no signature.
        const { decodePaymentCode } = await import('../../paycode.js');
        const code = decodePaymentCode(new TextDecoder().decode(reqBytes));
        // It carries no request time either: the token signs the fixed PAYMENT_CODE_SIGNED_TIME, which the reader uses
        // for a request it opened as a code (spec/protocol.md §4.3, rule P).
        token = await wallet.payCode(code);
        paidTo = code.payee;
      } else {
        ({ token, repeated } = await wallet.payResult(reqBytes, { time: now, ...(issuerPath ? { issuerKeys: loadIssuerKeys(issuerPath) } : {}) }));
        paidTo = decodeRequest(reqBytes).readerCert.readerId;
      }
    } else {
      const payee = parseUint('payee', ctx.opt('payee'));
      if (payee === undefined || !ctx.opt('amount')) throw new UsageError('give --request REQ, or --payee ID --amount A --currency C');
      const cur = parseCurrency(ctx.opt('currency') ?? String(wallet.cert.currency));
      if (cur.numeric !== wallet.cert.currency) {
        throw new OffpayError('wallet.currency_mismatch', `this wallet holds ${currencyByNumeric(wallet.cert.currency)?.alpha ?? wallet.cert.currency}, not ${cur.alpha}`);
      }
      token = await wallet.payTo({ payee, amount: parseAmount(ctx.need('amount'), cur), time: now });
    }
    const t = decodeToken(token);
    const payee = t.payee ?? paidTo;
    let note: string;
    try {
      note = await writePayload(ctx, 'token', token, out, ctx.opt('via'));
    } catch (e) {
      // The counter is spent and the token signed: never lose it (a full disk at --out lost a paid token; CLI attack
      // review, 2026-12-07). The output was checked before the reservation, so this is a failure of the write itself.
      const why = e instanceof OffpayError ? e.message : String((e as NodeJS.ErrnoException).code ?? e);
      throw new OffpayError('file.unwritable', `the token was signed (counter ${t.counter}, ${formatMoney(t.amount, wallet.cert.currency)} spent) but could not be written: ${why}; here it is, to give to the reader: ${toHex(token)}`, {
        token: toHex(token),
        counter: t.counter,
      });
    }
    if (repeated) {
      ctx.out(
        `this request was paid before: the same token again (${formatMoney(t.amount, wallet.cert.currency)} to ${payee}, counter ${t.counter}), nothing more spent: ${out} (${token.length} bytes; ${note})`,
      );
    } else {
      ctx.out(`paid ${formatMoney(t.amount, wallet.cert.currency)} to ${payee} with counter ${t.counter}: ${out} (${token.length} bytes, ${t.requestBound ? 'request-bound' : 'one-way'}; ${note})`);
    }
    ctx.emit({ ok: true, out, bytes: token.length, payee, requestBound: t.requestBound, repeated, amount: t.amount, currency: wallet.cert.currency, counter: t.counter, token: toHex(token) });
    return EXIT_OK;
  },
};

const exit: Command = {
  name: 'exit',
  summary: 'sign the exit of a transit trip (the tap-in token and a fresh wallet signature) to show at the exit gate',
  usage: '--wallet WALLET --token TAPIN --out EXIT [--via fsk|qr] [--now TIME]',
  details:
    'TAPIN is the one-way token this wallet tapped in with (as `offpay pay --payee OPERATOR` wrote it). A gate whose\n' +
    'profile requires exits (requireExit) takes only an exit, never the tap-in token shown again, so a recording of\n' +
    'the tap-in does not leave by another gate (spec/reader.md §7.3). Show the exit soon after --now: a gate takes it\n' +
    'within its exitMaxAgeSeconds (120 s by default). It spends nothing: no counter, no allowance (the trip was paid\n' +
    'for at the tap-in).',
  options: {
    wallet: walletOpt,
    token: { type: 'string', arg: 'TAPIN', help: 'the tap-in token (CBOR, WAV, PNG/JPEG or NDEF)' },
    out: { type: 'string', arg: 'EXIT', help: 'output file' },
    via: showViaOpt,
    now: nowOpt,
  },
  async run(ctx) {
    const wallet = loadWallet(ctx.need('wallet'));
    const out = ctx.need('out');
    await checkOut(ctx, out, ctx.opt('via'));
    const tapIn = await readPayload('token', ctx.need('token'));
    const now = parseNow(ctx.opt('now'));
    const bytes = wallet.exit(tapIn, { time: now });
    const trip = toHex(tokenHash(tapIn));
    const note = await writePayload(ctx, 'token', bytes, out, ctx.opt('via'));
    ctx.out(`exit of trip ${trip} signed at ${new Date(now * 1000).toISOString()}: ${out} (${bytes.length} bytes; ${note}); show it at the exit gate now (a gate takes it for 2 minutes by default)`);
    ctx.emit({ ok: true, out, bytes: bytes.length, time: now, tripTokenHash: trip, exit: toHex(bytes) });
    return EXIT_OK;
  },
};

export function readerContext(readerDir: string, issuerPath: string, now: number, opts: { request?: PaymentRequest; amount?: string; currency?: string; maxAge?: number }): VerifyContext {
  const reader = loadReader(readerDir);
  const payees = reader.cert.profile === 'transit' ? [reader.cert.readerId, reader.cert.operatorId] : [reader.cert.readerId];
  let expected: VerifyContext['expected'];
  if (opts.currency || opts.amount) {
    const cur = parseCurrency(opts.currency ?? 'HKD');
    expected = { currency: cur.numeric, ...(opts.amount ? { amount: parseAmount(opts.amount, cur) } : {}) };
  }
  return {
    issuerKeys: loadIssuerKeys(issuerPath),
    now,
    payees,
    request: opts.request ? requestContextOf(opts.request) : undefined,
    expected,
    ...(opts.maxAge !== undefined ? { maxAgeSeconds: opts.maxAge } : {}),
  };
}

/** The request a token answers, from an explicit file (readers keep their one open request in their database). */
export async function findRequest(requestPath?: string): Promise<PaymentRequest | undefined> {
  return requestPath ? decodeRequest(await readPayload('request', requestPath)) : undefined;
}

const verify: Command = {
  name: 'verify',
  summary: 'verify a token as a reader would (stateless checks); exit 0 accepted, 1 rejected, 2 unusable input',
  usage: '--issuer ISSUER --reader READER TOKEN [--request REQ] [--amount A --currency C] [--via fsk|qr] [--now TIME]',
  positionals: 'TOKEN',
  options: {
    issuer: { type: 'string', arg: 'ISSUER', help: 'issuer directory or keyset.cbor' },
    reader: { type: 'string', arg: 'READER', help: 'reader directory (its id and profile decide the payees)' },
    request: { type: 'string', arg: 'REQ', help: 'the request the token answers' },
    amount: { type: 'string', arg: 'AMOUNT', help: 'expected amount for a one-way token (fare or price)' },
    currency: { type: 'string', arg: 'CODE', help: 'expected currency for a one-way token' },
    via: { type: 'string', arg: 'T', help: 'read the token from a WAV (fsk) or an image (qr)' },
    'max-age': { type: 'string', arg: 'S', help: 'oldest acceptable token, seconds', default: '300' },
    now: nowOpt,
  },
  details: 'Stateless: counters, blocklists and daily limits are checked by `offpay reader accept`.',
  async run(ctx) {
    const [file, ...extra] = ctx.positionals;
    if (!file || extra.length) throw new UsageError('give exactly one TOKEN file');
    const token = await readPayload('token', file, ctx.opt('via'));
    const readerDir = ctx.need('reader');
    const req = await findRequest(ctx.opt('request'));
    const vctx = readerContext(readerDir, ctx.need('issuer'), parseNow(ctx.opt('now')), {
      ...(req ? { request: req } : {}),
      ...(ctx.opt('amount') ? { amount: ctx.opt('amount')! } : {}),
      ...(ctx.opt('currency') ? { currency: ctx.opt('currency')! } : {}),
      maxAge: parseUint('max-age', ctx.opt('max-age'))!,
    });
    const v = verifyToken(token, vctx, nodeEd25519());
    if (v.accepted) {
      ctx.out(`ACCEPTED: ${formatMoney(v.token.amount, v.currency)} from wallet ${toHex(v.walletId)} counter ${v.token.counter} to ${v.token.payee}`);
      ctx.emit({ accepted: true, amount: v.token.amount, currency: v.currency, walletId: toHex(v.walletId), counter: v.token.counter, payee: v.token.payee, tokenHash: toHex(v.tokenHash) });
      return EXIT_OK;
    }
    // A request-bound token cannot be judged without the request it answers: say how to give it (human form only).
    const hint = v.reason === 'challenge_mismatch' && !req ? ' (give the request it answers with --request REQ)' : '';
    ctx.out(`REJECTED: ${v.reason} (${v.code}): ${v.message}${hint}`);
    ctx.emit({ accepted: false, reason: v.reason, code: v.code, message: v.message });
    return EXIT_REJECTED;
  },
};

function describeMessage(bytes: Uint8Array): Record<string, unknown> {
  const { name } = peekType(bytes);
  const hexify = (o: object): Record<string, unknown> =>
    JSON.parse(JSON.stringify(o, (_k, v: unknown) => (v instanceof Uint8Array ? toHex(v) : v && typeof v === 'object' && 'type' in (v as object) && (v as { type?: unknown }).type === 'Buffer' ? v : v))) as Record<string, unknown>;
  switch (name) {
    case 'PaymentToken': {
      const t = decodeToken(bytes);
      return {
        type: name, bytes: bytes.length, tokenHash: toHex(tokenHash(bytes)), walletId: toHex(walletIdOf(t.walletCert.walletPublicKey)), amountText: formatMoney(t.amount, t.walletCert.currency),
        ...hexify(t),
      };
    }
    case 'Exit': {
      const e = decodeExit(bytes);
      let tapIn: Record<string, unknown>;
      try {
        tapIn = describeMessage(e.tapIn);
      } catch (x) {
        tapIn = { error: (x as { code?: string }).code ?? 'malformed', hex: toHex(e.tapIn) };
      }
      return { type: name, bytes: bytes.length, tripTokenHash: toHex(tokenHash(e.tapIn)), time: e.time, walletSignature: toHex(e.walletSignature), tapIn };
    }
    case 'Blocklist': {
      const b = decodeBlocklist(bytes);
      const walletIds: string[] = [];
      for (let i = 0; i < b.entries.length; i += 16) walletIds.push(toHex(b.entries.subarray(i, i + 16)));
      return { type: name, bytes: bytes.length, issuerId: b.issuerId, keyIndex: b.keyIndex, version: b.version, issuedAt: b.issuedAt, wallets: walletIds.length, walletIds, signature: toHex(b.signature) };
    }
    case 'SettlementBatch': {
      const b = decodeBatch(bytes);
      return {
        type: name, bytes: bytes.length, readerId: b.readerCert.readerId, operatorId: b.readerCert.operatorId, journalId: toHex(b.journalId), batchSeq: b.batchSeq, firstSeq: b.firstSeq,
        entries: b.entries.length, lastSeq: b.firstSeq + b.entries.length - 1, createdAt: b.createdAt, prevHead: toHex(b.prevHead), head: toHex(b.head),
        kinds: b.entries.map((x) => x.kind).reduce<Record<string, number>>((m, k) => ({ ...m, [k]: (m[k] ?? 0) + 1 }), {}),
      };
    }
    case 'PaymentRequest': {
      const r = decodeRequest(bytes);
      return { type: name, bytes: bytes.length, amountText: formatMoney(r.amount, r.currency), ...hexify(r) };
    }
    case 'WalletCert':
      return { type: name, bytes: bytes.length, ...hexify(decodeWalletCert(bytes)) };
    case 'ReaderCert':
      return { type: name, bytes: bytes.length, ...hexify(decodeReaderCert(bytes)) };
    case 'IssuerKeySet':
      return { type: name, bytes: bytes.length, ...hexify(decodeIssuerKeySet(bytes)) };
    case 'Receipt':
      return { type: name, bytes: bytes.length, ...hexify(decodeReceipt(bytes)) };
    case 'Refund': {
      const r = decodeRefund(bytes);
      return { type: name, bytes: bytes.length, ...(currencyByNumeric(r.currency) ? { amountText: formatMoney(r.amount, r.currency) } : {}), merchant: r.readerCert.operatorId, ...hexify(r) };
    }
    default:
      return { type: name ?? 'unknown', bytes: bytes.length, hex: toHex(bytes) };
  }
}

/**
 * A token's fields for the human form: `requestBound` (a bare true/false in --json) becomes a `form` line that
 * says which form it is and, for a request-bound token, where its payee, time and challenge are (spec/protocol.md
 * §4.3: in the request it answers, not in its bytes), so a reader of the output does not look for them.
 */
function tokenFieldsForHumans(fields: Record<string, unknown>): Record<string, unknown> {
  const { requestBound, ...rest } = fields;
  const form = requestBound
    ? 'request-bound: payee, time and challenge are not carried; they are those of the request it answers (offpay verify --request REQ checks it)'
    : 'one-way: payee and time carried';
  return { form, ...rest };
}

const inspect: Command = {
  name: 'inspect',
  summary: 'decode and print any offpay message (token, exit, request, certificate, key set, receipt, refund, blocklist, batch)',
  usage: 'FILE [--via fsk|qr] [--json]',
  positionals: 'FILE',
  options: { via: { type: 'string', arg: 'T', help: 'decode the file through a transport first' } },
  async run(ctx) {
    const [file, ...extra] = ctx.positionals;
    if (!file || extra.length) throw new UsageError('give exactly one FILE');
    const via = ctx.opt('via');
    // Any form (CBOR, WAV, PNG/JPEG, NDEF); an image or a recording may hold a token or a request.
    let bytes: Uint8Array;
    try {
      bytes = await readPayload('token', file, via);
    } catch (first) {
      bytes = await readPayload('request', file, via).catch(() => {
        throw first;
      });
    }
    const d = describeMessage(bytes);
    ctx.emit(d);
    const certOf = (m: Record<string, unknown> | undefined) => (m?.walletCert as { currency?: number } | undefined)?.currency;
    const currency = d.type === 'PaymentToken' ? certOf(d) : d.type === 'Exit' ? certOf(d.tapIn as Record<string, unknown> | undefined) : undefined;
    const { type, bytes: size, ...rest } = d;
    const fields = type === 'PaymentToken' ? tokenFieldsForHumans(rest) : rest;
    ctx.out(`${String(type)} (${String(size)} bytes)`);
    for (const line of layout(fields, { ...(currency !== undefined ? { currency } : {}), indent: 2 })) ctx.out(line);
    return EXIT_OK;
  },
};

const DEFAULT_VECTOR_DIR = 'fixtures/vectors';

const vectorsGenerate: Command = {
  name: 'vectors generate',
  summary: 'regenerate the test vectors from their seeds (byte-for-byte reproducible)',
  usage: '[--dir fixtures/vectors]',
  options: { dir: { type: 'string', arg: 'DIR', help: 'output directory', default: DEFAULT_VECTOR_DIR } },
  async run(ctx) {
    const dir = resolve(ctx.opt('dir') ?? DEFAULT_VECTOR_DIR);
    const { generateVectors, vectorFileText, GENERATE_STEPS } = await import('../../vectors.js'); // loaded on use
    const progress = ctx.progress('generating vectors', { total: GENERATE_STEPS, unit: 'steps' });
    const files = generateVectors((done, _total, step) => progress.update(done, step));
    progress.done();
    mkdirSync(dir, { recursive: true });
    for (const [name, f] of Object.entries(files)) {
      writeOut(join(dir, name), vectorFileText(f));
      ctx.out(`${name}: ${f.numberOfTests} cases`);
    }
    ctx.emit({ ok: true, dir, files: Object.fromEntries(Object.entries(files).map(([k, f]) => [k, f.numberOfTests])) });
    return EXIT_OK;
  },
};

/** A vector file larger than this is refused before it is read (the largest shipped file is about 0.6 MB). */
export const MAX_VECTOR_FILE_BYTES = 16 * 1024 * 1024;

/** Read one vector file, bounded: a missing, unreadable, non-regular or oversized file is `vectors.bad_file`. */
const readVectorText = (path: string): string => readFileBounded(path, MAX_VECTOR_FILE_BYTES, 'vectors.bad_file', 'vector file').toString('utf8');

/** The vector files `vectors check` runs from one directory, by kind, each with its name relative to it. */
interface LocatedVectors {
  /** Token and request vector files (fixtures/vectors/ layout). */
  verify: { name: string; path: string }[];
  keyset: { name: string; path: string }[];
  refund: { name: string; path: string }[];
  webhook: { name: string; path: string }[];
  sync: { name: string; path: string }[];
  /** Files found but not run (the refund clearing scenario, the batch and blocklist scenarios). */
  skipped: string[];
}

/**
 * Find the vector files of DIR. Every *.json directly in DIR is a token or request vector file (as before
 * key sets and refunds were added), except keyset_verify.json, refund_verify.json, webhook_signature.json and
 * sync_answers.json, taken by name, and refund_clearing.json, left out. A fixtures tree is also understood:
 * DIR/vectors/*.json, DIR/keyset/keyset_verify.json, DIR/refund/refund_verify.json,
 * DIR/webhook/webhook_signature.json and DIR/sync/sync_answers.json (the layout the package ships).
 */
function locateVectors(dir: string, names: { keyset: string; refund: string; clearing: string; webhook: string; sync: string }): LocatedVectors {
  const found: LocatedVectors = { verify: [], keyset: [], refund: [], webhook: [], sync: [], skipped: [] };
  const jsonIn = (d: string): string[] => readdirSync(d).filter((n) => n.endsWith('.json')).sort();
  const isDir = (d: string): boolean => existsSync(d) && statSync(d).isDirectory();
  const take = (name: string, path: string): void => {
    const base = basename(name);
    if (base === names.keyset) found.keyset.push({ name, path });
    else if (base === names.refund) found.refund.push({ name, path });
    else if (base === names.webhook) found.webhook.push({ name, path });
    else if (base === names.sync) found.sync.push({ name, path });
    else if (base === names.clearing) found.skipped.push(name);
    else found.verify.push({ name, path });
  };
  for (const n of jsonIn(dir)) take(n, join(dir, n));
  if (isDir(join(dir, 'vectors'))) for (const n of jsonIn(join(dir, 'vectors'))) take(`vectors/${n}`, join(dir, 'vectors', n));
  for (const [sub, n] of [['keyset', names.keyset], ['refund', names.refund], ['refund', names.clearing], ['webhook', names.webhook], ['sync', names.sync]] as const) {
    if (existsSync(join(dir, sub, n))) take(`${sub}/${n}`, join(dir, sub, n));
  }
  // Scenarios that need a clearing database or a reader store: named, so a porter knows they exist.
  for (const f of ['batch/batch_clearing.json', 'blocklist/blocklist_load.json']) if (existsSync(join(dir, f))) found.skipped.push(f);
  return found;
}

/** The fixtures shipped in the package (fixtures/ beside package.json: vectors/, keyset/, refund/), wherever it is installed. */
export function shippedFixturesDir(): string {
  return join(packageRoot(), 'fixtures');
}

const vectorsCheck: Command = {
  name: 'vectors check',
  summary: 'run every stateless test vector (tokens, requests, key sets, refunds, webhook signatures, sync answers) with every backend (Ed25519: noble, node:crypto, WebCrypto; HMAC: noble, node:crypto)',
  usage: '[--dir DIR]',
  options: {
    dir: {
      type: 'string',
      arg: 'DIR',
      help: 'directory of vector files, or a fixtures tree with vectors/, keyset/, refund/, webhook/ and sync/ (default: the fixtures shipped with offpay, in its package)',
    },
  },
  details: [
    'Runs fixtures/vectors/*.json (token and request verification), fixtures/keyset/keyset_verify.json (signed',
    'issuer key sets) and fixtures/refund/refund_verify.json (stateless refund checks): each case must give its',
    'declared verdict and code, and each listed signature its declared answer, with every backend; and',
    'fixtures/webhook/webhook_signature.json (the merchant\'s webhook signature check, spec/clearing-api.md §9.4:',
    'each signature\'s v1 and each case\'s verdict and reason) with both HMAC-SHA256 backends; and',
    'fixtures/sync/sync_answers.json (what reader sync makes of the clearing\'s answers, spec/clearing-api.md §8).',
    'Not run: fixtures/refund/refund_clearing.json and fixtures/batch/batch_clearing.json, clearing scenarios that',
    'need a clearing database, and fixtures/blocklist/blocklist_load.json, loads into a reader store (the test',
    'suite runs them: test/clearing/refund.test.ts, batch-vectors.test.ts, test/reader/blocklist-vectors.test.ts).',
    'In DIR, keyset_verify.json, refund_verify.json, webhook_signature.json and sync_answers.json are found by name; every other *.json is a token or',
    'request vector file. Exit 0 all pass, 1 a case fails (its tcId is printed), 2 a file is missing, unreadable',
    'or malformed (vectors.missing, vectors.bad_file).',
  ].join('\n'),
  async run(ctx) {
    const dir = ctx.opt('dir') ?? shippedFixturesDir();
    if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new OffpayError('vectors.missing', `no vector directory at ${dir}`);
    const { checkVectorFilesAsync, checkVectorFilesSync, parseVectorFile } = await import('../../vectors.js'); // loaded on use
    const suites = await import('../../vector-suites.js'); // loaded on use
    const hooks = await import('../../webhook-vectors.js'); // loaded on use
    const syncs = await import('../../sync-vectors.js'); // loaded on use
    const located = locateVectors(dir, { keyset: suites.KEYSET_VECTOR_FILE, refund: suites.REFUND_VECTOR_FILE, clearing: suites.REFUND_CLEARING_FILE, webhook: hooks.WEBHOOK_VECTOR_FILE, sync: syncs.SYNC_VECTOR_FILE });
    const files: Record<string, VectorFile> = {};
    for (const f of located.verify) files[f.name] = parseVectorFile(readVectorText(f.path), f.name);
    const others = [
      ...located.keyset.map((f) => ({ name: f.name, suite: 'key set' as const, file: suites.parseKeySetVectorFile(readVectorText(f.path), f.name) })),
      ...located.refund.map((f) => ({ name: f.name, suite: 'refund' as const, file: suites.parseRefundVectorFile(readVectorText(f.path), f.name) })),
    ];
    const webhooks = located.webhook.map((f) => ({ name: f.name, file: hooks.parseWebhookVectorFile(readVectorText(f.path), f.name) }));
    const syncFiles = located.sync.map((f) => ({ name: f.name, file: syncs.parseSyncVectorFile(readVectorText(f.path), f.name) }));
    if (!located.verify.length && !others.length && !webhooks.length && !syncFiles.length) throw new OffpayError('vectors.missing', `no vector files in ${dir}`);
    const progress = ctx.progress('checking vectors', { total: 3, unit: 'backends' });
    // Every problem as [file, tcId or undefined, line]; the token/request checker names its case in its text.
    const problems: { file: string; tcId?: number; at?: string; line: string }[] = [];
    const fromVerify = (lines: string[]): void => {
      for (const line of lines) {
        const file = Object.keys(files).find((n) => line.startsWith(`${n}: `)) ?? '';
        const id = /tcId (\d+)/.exec(line)?.[1];
        problems.push({ file, ...(id ? { tcId: Number(id) } : {}), line });
      }
    };
    const fromSuite = (ps: SuiteProblem[]): void => {
      for (const p of ps) problems.push({ file: p.file, ...(p.tcId !== undefined ? { tcId: p.tcId } : {}), line: `${p.file}: ${p.tcId !== undefined ? `tcId ${p.tcId}: ` : ''}${p.detail} [${p.backend}]` });
    };
    const backends = ['noble', 'node'];
    for (const [i, v] of [nobleEd25519, nodeEd25519()].entries()) {
      progress.update(i, i === 0 ? 'noble' : 'node:crypto');
      fromVerify(checkVectorFilesSync(files, v));
      for (const o of others) fromSuite(suites.checkSuiteFileSync(o.file, o.name, v));
    }
    progress.update(2, 'WebCrypto');
    if (await hasWebCryptoEd25519()) {
      const wc = webCryptoEd25519();
      fromVerify(await checkVectorFilesAsync(files, wc));
      for (const o of others) fromSuite(await suites.checkSuiteFileAsync(o.file, o.name, wc));
      backends.push('webcrypto');
    }
    // Webhook signatures: HMAC-SHA256, not Ed25519, so their own two backends.
    const hmacs = [
      { name: 'noble', mac: (await import('../../webhook-signature.js')).nobleHmacSha256 },
      { name: 'node', mac: (await import('../../node/crypto.js')).nodeHmacSha256 },
    ];
    // A problem placed by `at` ("tcId N", "sigId N", "status N", "delay k=N"; absent: the whole file).
    const fromAt = (p: { file: string; at?: string; detail: string; backend?: string }): void => {
      const id = p.at ? /^tcId (\d+)$/.exec(p.at)?.[1] : undefined;
      problems.push({ file: p.file, ...(id ? { tcId: Number(id) } : {}), ...(p.at ? { at: p.at } : {}), line: `${p.file}: ${p.at ? `${p.at}: ` : ''}${p.detail}${p.backend ? ` [${p.backend}]` : ''}` });
    };
    for (const w of webhooks) for (const b of hmacs) hooks.checkWebhookVectorFile(w.file, w.name, b).forEach(fromAt);
    // Sync answers: no cryptography, one reference.
    for (const f of syncFiles) syncs.checkSyncVectorFile(f.file, f.name).forEach(fromAt);
    progress.done();
    for (const p of problems) ctx.out(`FAIL ${p.line}`);
    const groups = [
      { suite: 'tokens and requests', files: Object.keys(files), cases: Object.values(files).reduce((n, f) => n + f.numberOfTests, 0) },
      { suite: 'key sets', files: others.filter((o) => o.suite === 'key set').map((o) => o.name), cases: others.filter((o) => o.suite === 'key set').reduce((n, o) => n + o.file.tests.length, 0) },
      { suite: 'refunds', files: others.filter((o) => o.suite === 'refund').map((o) => o.name), cases: others.filter((o) => o.suite === 'refund').reduce((n, o) => n + o.file.tests.length, 0) },
      { suite: 'webhook signatures', files: webhooks.map((w) => w.name), cases: webhooks.reduce((n, w) => n + w.file.tests.length + w.file.signatures.length, 0), backends: hmacs.map((h) => h.name) },
      { suite: 'sync answers', files: syncFiles.map((f) => f.name), cases: syncFiles.reduce((n, f) => n + f.file.readers.length + f.file.batches.length + f.file.refunds.length + f.file.statuses.length + f.file.delays.length, 0), backends: [] as string[] },
    ].filter((g) => g.files.length);
    const plural = (n: number, w: string): string => `${n} ${w}${n === 1 ? '' : 's'}`;
    const failing = (names: string[]): string[] =>
      names.flatMap((n) => {
        const ps = problems.filter((p) => p.file === n);
        if (!ps.length) return [];
        const ids = [...new Set(ps.flatMap((p) => (p.tcId !== undefined ? [p.tcId] : [])))].sort((a, b) => a - b);
        const sigs = [...new Set(ps.flatMap((p) => (p.at && !p.at.startsWith('tcId ') ? [p.at] : [])))];
        const where = [...(ids.length ? [`tcId ${ids.join(', ')}`] : []), ...sigs];
        return [`${n} ${where.length ? where.join(', ') : 'file-level problem'}`];
      });
    const report = groups.map((g) => ({ ...g, failing: failing(g.files) }));
    for (const g of report) {
      const by = g.backends?.length === 0 ? '' : `, backends ${(g.backends ?? backends).join(', ')}`;
      ctx.out(`${g.suite}: ${plural(g.cases, 'case')} in ${plural(g.files.length, 'file')}${by}: ${g.failing.length ? `failing ${g.failing.join('; ')}` : 'all pass'}`);
    }
    for (const s of located.skipped) ctx.out(`not run: ${s} (a scenario: it needs a ${s.startsWith('blocklist/') ? 'reader store' : 'clearing database'}; the test suite runs it)`);
    const total = groups.reduce((n, g) => n + g.cases, 0);
    const nFiles = groups.reduce((n, g) => n + g.files.length, 0);
    const hmacNote = webhooks.length ? ` (Ed25519) and ${hmacs.map((h) => h.name).join(', ')} (HMAC)` : '';
    ctx.out(`${plural(total, 'case')} in ${plural(nFiles, 'file')}, backends ${backends.join(', ')}${hmacNote}: ${problems.length ? `${problems.length} problems` : 'all pass'}`);
    ctx.emit({ ok: problems.length === 0, cases: total, files: nFiles, backends, suites: report, skipped: located.skipped, problems: problems.map((p) => p.line) });
    return problems.length ? EXIT_REJECTED : EXIT_OK;
  },
};

export { fromHex, EXIT_USAGE };
export const commands: Command[] = [issuerInit, issuerRotate, walletNew, walletRestoreCounter, walletUnlock, readerNew, request, pay, exit, verify, inspect, vectorsGenerate, vectorsCheck];
