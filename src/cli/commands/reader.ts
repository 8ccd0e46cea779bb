/**
 * Reader and clearing commands: `offpay reader accept|void|complete|tap-out|export|load-blocklist|status` and
 * `offpay clearing ingest|report|blocklist`. The reader state lives in a SQLite database (--db); the reader
 * directory (from `offpay reader new`) holds the key and certificate, and optionally policy.json
 * (limits, window, profile overrides: spec/reader.md §Reader policy file).
 */
import { existsSync, renameSync } from 'node:fs';
import type { Clearing, ClearingReport, IngestResult } from '../../clearing/index.js';
import { clearingDbOption, openClearingAt, replaceSettingsOpt } from '../clearing-open.js';
import { fromHex, toHex } from '../../../base/hex.js';
import { currencyByNumeric, formatMoney, parseAmount, parseCurrency } from '../../currency.js';
import { OffpayError } from '../../../base/errors.js';
import { decodeRequest, decodeToken, tokenHash } from '../../messages.js';
import { loadIssuer, loadIssuerKeys, readBytes, writeFileDurable } from '../../node/files.js';
import { PRUNE_DEFAULT_RETAIN_SECONDS, type AcceptContext, type ReaderVerdict, type RequestRef } from '../../reader/reader.js';
import { READER_REASONS } from '../../reader/reasons.js';
import { checkWritable, parseNow, parseUint } from '../common.js';
import { EXIT_OK, EXIT_REJECTED, EXIT_USAGE, UsageError, type Command, type CommandContext } from '../framework.js';
import { initReader, openReader } from '../reader-open.js';
import { listen } from './listen.js';
import { readPayload } from './core.js';

const nowOpt = { type: 'string' as const, arg: 'TIME', help: 'the reader clock, unix seconds or ISO 8601 (default: system time)' };
const readerOpt = { type: 'string' as const, arg: 'READER', help: 'reader directory (offpay reader new)' };
const dbOpt = { type: 'string' as const, arg: 'READER.db', help: 'reader database (created by offpay reader init; never recreated)' };
const issuerOpt = { type: 'string' as const, arg: 'ISSUER', help: 'issuer directory or keyset.cbor (replaces the key set stored in the database, e.g. after a key rotation)' };
const viaOpt = { type: 'string' as const, arg: 'T', help: 'read the token from a WAV (fsk), image (qr) or NFC file' };
const policyOpt = { type: 'string' as const, arg: 'FILE', help: 'reader policy JSON (default READER/policy.json if present)' };

function viaOf(ctx: CommandContext): string | undefined {
  const via = ctx.opt('via');
  if (via !== undefined && via !== 'fsk' && via !== 'qr' && via !== 'nfc') throw new UsageError(`--via must be fsk, qr or nfc, not '${via}'`);
  return via;
}

function money(amount: number | bigint, currency: number): string {
  return currencyByNumeric(currency) ? formatMoney(amount, currency) : `${amount} (currency ${currency})`;
}

function requestJson(r: RequestRef | undefined): Record<string, unknown> {
  return r ? { request: { challenge: toHex(r.challenge), amount: r.amount, currency: r.currency } } : {};
}

function verdictJson(file: string, v: ReaderVerdict): Record<string, unknown> {
  return v.accepted
    ? { file, accepted: true, status: v.status, charged: v.charged, amount: v.amount, currency: v.currency, walletId: toHex(v.walletId), counter: v.counter, journalSeq: v.seq, tokenHash: toHex(v.tokenHash), ...requestJson(v.request) }
    : { file, accepted: false, status: 'refused', reason: v.reason, code: v.code, message: v.message, tokenHash: toHex(v.tokenHash), ...(v.seq !== undefined ? { journalSeq: v.seq } : {}) };
}

/** What an operator does about a refusal that is the reader's own state, not the token's fault. */
export function refusalHint(reason: string): string {
  if (reason === 'blocklist_stale' || reason === 'stale_limit') {
    return '; load a current blocklist from clearing: offpay reader load-blocklist --reader READER --db READER.db LIST (LIST from offpay clearing blocklist)';
  }
  return '';
}

/** One line per verdict, saying plainly whether goods may be handed out (ACCEPTED, RESUMED) or not (REFUSED). */
function verdictLine(file: string, v: ReaderVerdict): string {
  if (!v.accepted) return `${file}: REFUSED ${v.reason} (${v.code}): ${v.message}${refusalHint(v.reason)}`;
  const what =
    v.status === 'resumed'
      ? 'RESUMED (the same sale, paid before and still pending: vend it now, not charged again)'
      : v.status === 'tapped_out'
        ? 'TAPPED OUT, fare'
        : 'ACCEPTED, charged';
  const req = v.request ? ` for request ${toHex(v.request.challenge)} (${money(v.request.amount, v.request.currency)})` : '';
  return `${file}: ${what} ${money(v.amount, v.currency)}${req} from wallet ${toHex(v.walletId)} counter ${v.counter} (journal entry ${v.seq})`;
}

const init: Command = {
  name: 'reader init',
  summary: 'create the reader database: a new journal (fresh journal id) with the issuer key set; required before any other reader command',
  usage: '--reader READER --db READER.db --issuer ISSUER [--new-journal] [--policy FILE] [--now TIME]',
  options: {
    reader: readerOpt,
    db: dbOpt,
    issuer: { type: 'string', arg: 'ISSUER', help: 'issuer directory or keyset.cbor' },
    'new-journal': { type: 'boolean', help: 'the database exists (damaged, or from a replaced device): set it aside as READER.db.replaced-TIME and start a new journal' },
    policy: policyOpt,
    now: nowOpt,
  },
  details: `A new journal is a new hash chain: clearing keys chains by (reader id, journal id), so it is not a fork of
the old one. Tokens the old journal accepted are unknown to the new one: start a new journal only when the
old database is lost or damaged beyond repair, and upload what the old one holds first if you can.`,
  async run(ctx) {
    const now = parseNow(ctx.opt('now'));
    const path = ctx.need('db');
    let replaced: string | undefined;
    if (existsSync(path)) {
      if (!ctx.flag('new-journal')) throw new UsageError(`${path} already exists; give --new-journal to set it aside and start a new journal`);
      replaced = `${path}.replaced-${now}`;
      for (const sfx of ['', '-wal', '-shm']) if (existsSync(path + sfx)) renameSync(path + sfx, replaced + sfx);
    }
    const { reader, store } = initReader(ctx, now, path);
    try {
      ctx.out(`reader ${reader.readerId} (${reader.profile.name}): new journal ${toHex(reader.journalId)} in ${path}${replaced ? ` (the old database is now ${replaced})` : ''}`);
      ctx.emit({ ok: true, readerId: reader.readerId, journalId: toHex(reader.journalId), db: path, ...(replaced ? { replaced } : {}) });
      return EXIT_OK;
    } finally {
      store.close();
    }
  },
};

const accept: Command = {
  name: 'reader accept',
  summary: 'judge tokens with the durable reader (replay window, limits, blocklist); exit 0 all accepted, 1 any rejected, 2 unusable',
  usage: '--reader READER --db READER.db TOKEN... [--via fsk|qr|nfc] [--request REQ | --fare A --currency C | --tap-in MAX --currency C] [--complete] [--now TIME]',
  positionals: 'TOKEN...',
  options: {
    reader: readerOpt,
    db: dbOpt,
    issuer: issuerOpt,
    via: { type: 'string', arg: 'T', help: 'read tokens from WAV (fsk), image (qr) or NDEF/APDU (nfc) files' },
    request: { type: 'string', arg: 'REQ', help: 'vending: the request the machine shows; it must be the open request of the reader (default: the open request)' },
    fare: { type: 'string', arg: 'AMOUNT', help: 'transit: the fixed fare (as reader listen --fare)' },
    amount: { type: 'string', arg: 'AMOUNT', help: 'transit: the fixed fare (the same as --fare)' },
    currency: { type: 'string', arg: 'CODE', help: 'transit: the currency of the fare or maximum fare', default: 'HKD' },
    'tap-in': { type: 'string', arg: 'MAX', help: 'transit: tap-in authorising this maximum fare' },
    complete: { type: 'boolean', help: 'mark each sale complete at once (nothing left to dispense)' },
    policy: policyOpt,
    now: nowOpt,
  },
  details: `The verdict, the counter state and the journal entry are committed (SQLite WAL, synchronous=FULL) before
the verdict is printed. A vending reader judges every token against its one open request (offpay request
--db opens it): with no request open a token is refused (request_not_open); a token for a superseded or
never-issued request fails its signature (bad_token_signature: it does not carry the challenge it answers);
bytes that are no token say so first (malformed and the other structural reasons). A token already
accepted and still pending RESUMES (not charged again) only within the profile's resumeWindowSeconds and while
its request is open; later it is refused (already_accepted).
Reasons (spec/reader.md): ${Object.entries(READER_REASONS)
    .map(([k, v]) => `${k} ${v.code}`)
    .join(', ')}.`,
  async run(ctx) {
    if (ctx.positionals.length === 0) throw new UsageError('give at least one TOKEN file');
    const via = viaOf(ctx);
    const now = parseNow(ctx.opt('now'));
    const { reader, store } = openReader(ctx, now);
    try {
      // Every input is read and every option parsed before any token is judged: a file that cannot be used (a
      // damaged WAV) is exit 2 with nothing recorded, never after an earlier token was charged (reader attack review,
      // 2026-12-07: --json printed only the error, and the committed verdict of the first token was lost).
      const c: AcceptContext = { now, ...(ctx.flag('complete') ? { complete: true } : {}) };
      let context: AcceptContext;
      if (reader.profile.requireRequest) {
        const reqPath = ctx.opt('request');
        if (ctx.opt('amount') || ctx.opt('fare') || ctx.opt('tap-in')) throw new UsageError('a vending reader takes the price from its open request, not --fare, --amount or --tap-in');
        context = { ...c, ...(reqPath ? { request: decodeRequest(await readPayload('request', reqPath)) } : {}) };
      } else {
        const cur = parseCurrency(ctx.opt('currency') ?? 'HKD');
        const tapIn = ctx.opt('tap-in');
        if (ctx.opt('amount') && ctx.opt('fare')) throw new UsageError('give the fixed fare once: --fare (or its older name --amount)');
        const amount = ctx.opt('fare') ?? ctx.opt('amount');
        if (tapIn && amount) throw new UsageError('give --fare (fixed fare) or --tap-in (maximum fare), not both');
        if (!tapIn && !amount) throw new UsageError('a transit reader needs --fare FARE or --tap-in MAXFARE');
        context = tapIn ? { ...c, tapIn: { maxFare: parseAmount(tapIn, cur), currency: cur.numeric } } : { ...c, fare: { amount: parseAmount(amount!, cur), currency: cur.numeric } };
      }
      const tokens: { file: string; bytes: Uint8Array }[] = [];
      for (const file of ctx.positionals) {
        try {
          tokens.push({ file, bytes: await readPayload('token', file, via) });
        } catch (e) {
          // Several files: say which one could not be used (nothing was judged yet).
          if (e instanceof OffpayError && ctx.positionals.length > 1) throw new OffpayError(e.code, `${file}: ${e.message}`, { ...e.detail, file });
          throw e;
        }
      }
      const results: Record<string, unknown>[] = [];
      let rejected = false;
      for (const { file, bytes } of tokens) {
        let v: ReaderVerdict;
        try {
          v = await reader.accept(bytes, context);
        } catch (e) {
          // A verdict committed before this error is reported with it: exit 2 must not read as "nothing recorded".
          if (e instanceof OffpayError && results.length > 0) {
            throw new OffpayError(e.code, `${e.message} (after ${results.length} token${results.length === 1 ? '' : 's'} judged and recorded: ${results.map((r) => `${String(r.file)} ${String(r.accepted === true ? r.status : r.reason)}`).join(', ')})`, { ...e.detail, judged: results });
          }
          throw e;
        }
        if (!v.accepted) rejected = true;
        ctx.out(verdictLine(file, v));
        results.push(verdictJson(file, v));
      }
      ctx.emit({ readerId: reader.readerId, results });
      return rejected ? EXIT_REJECTED : EXIT_OK;
    } finally {
      store.close();
    }
  },
};

/** A token hash given in hex, or the hash of a token file in any transport form (--via, or sniffed). */
async function hashArg(arg: string, via: string | undefined): Promise<Uint8Array> {
  if (/^[0-9a-fA-F]{64}$/.test(arg)) return fromHex(arg);
  return tokenHash(await readPayload('token', arg, via));
}

const voidCmd: Command = {
  name: 'reader void',
  summary: 'void a pending sale within the void window (the machine failed to dispense); exit 0 voided, 1 refused',
  usage: '--reader READER --db READER.db TOKEN [--via fsk|qr|nfc] [--now TIME]',
  positionals: 'TOKEN (a token file or its SHA-256 hash in hex)',
  options: { reader: readerOpt, db: dbOpt, issuer: issuerOpt, policy: policyOpt, now: nowOpt, via: viaOpt },
  async run(ctx) {
    const [arg, ...extra] = ctx.positionals;
    if (!arg || extra.length) throw new UsageError('give exactly one TOKEN');
    const hash = await hashArg(arg, viaOf(ctx));
    const now = parseNow(ctx.opt('now'));
    const { reader, store } = openReader(ctx, now);
    try {
      const v = reader.void(hash, now);
      if (v.ok) {
        ctx.out(`VOIDED ${money(v.amount, v.currency)} for token ${toHex(hash)} (journal entry ${v.seq})`);
        ctx.emit({ ok: true, tokenHash: toHex(hash), amount: v.amount, currency: v.currency, journalSeq: v.seq });
        return EXIT_OK;
      }
      ctx.out(`NOT VOIDED: ${v.reason} (${v.code}): ${v.message}`);
      ctx.emit({ ok: false, tokenHash: toHex(hash), reason: v.reason, code: v.code, message: v.message });
      return EXIT_REJECTED;
    } finally {
      store.close();
    }
  },
};

const complete: Command = {
  name: 'reader complete',
  summary: 'mark a pending sale complete (goods dispensed): it can no longer be voided or resumed, and its request closes',
  usage: '--reader READER --db READER.db TOKEN [--via fsk|qr|nfc] [--now TIME]',
  positionals: 'TOKEN (a token file or its SHA-256 hash in hex)',
  options: { reader: readerOpt, db: dbOpt, issuer: issuerOpt, policy: policyOpt, now: nowOpt, via: viaOpt },
  async run(ctx) {
    const [arg, ...extra] = ctx.positionals;
    if (!arg || extra.length) throw new UsageError('give exactly one TOKEN');
    const hash = await hashArg(arg, viaOf(ctx));
    const { reader, store } = openReader(ctx, parseNow(ctx.opt('now')));
    try {
      const ok = reader.complete(hash);
      ctx.out(ok ? `completed ${toHex(hash)}` : `no pending sale for ${toHex(hash)}`);
      ctx.emit({ ok, tokenHash: toHex(hash) });
      return ok ? EXIT_OK : EXIT_REJECTED;
    } finally {
      store.close();
    }
  },
};

const tapOut: Command = {
  name: 'reader tap-out',
  summary: 'transit: record the fare for a trip, shown as its exit (offpay exit) or, where the gate allows it, its tap-in token again; exit 0 recorded, 1 refused',
  usage: '--reader READER --db READER.db EXIT --fare A [--currency C] [--via fsk|qr|nfc] [--now TIME]',
  positionals: 'EXIT',
  details:
    'EXIT is what the rider shows at the exit gate: an exit signed by the wallet (`offpay exit`), or the tap-in token\n' +
    'itself, which a gate whose profile sets requireExit refuses (exit_required): a recording of a tap-in is not an\n' +
    'exit (spec/reader.md §7.2, §7.3).',
  options: {
    reader: readerOpt,
    db: dbOpt,
    issuer: issuerOpt,
    fare: { type: 'string', arg: 'AMOUNT', help: 'the fare for the trip' },
    currency: { type: 'string', arg: 'CODE', help: 'currency of the fare', default: 'HKD' },
    via: { type: 'string', arg: 'T', help: 'read the token from a WAV (fsk), image (qr) or NFC file' },
    policy: policyOpt,
    now: nowOpt,
  },
  async run(ctx) {
    const [file, ...extra] = ctx.positionals;
    if (!file || extra.length) throw new UsageError('give exactly one EXIT (or tap-in TOKEN) file');
    const bytes = await readPayload('token', file, viaOf(ctx));
    const now = parseNow(ctx.opt('now'));
    const { reader, store } = openReader(ctx, now);
    try {
      const cur = parseCurrency(ctx.opt('currency') ?? 'HKD');
      const v = await reader.tapOut(bytes, { fare: parseAmount(ctx.need('fare'), cur), currency: cur.numeric, now });
      ctx.out(verdictLine(file, v));
      ctx.emit(verdictJson(file, v));
      return v.accepted ? EXIT_OK : EXIT_REJECTED;
    } finally {
      store.close();
    }
  },
};

const exportCmd: Command = {
  name: 'reader export',
  summary: 'write the next reader-signed settlement batch (journal entries since the last export) for upload',
  usage: '--reader READER --db READER.db --out BATCH [--batch N] [--now TIME]',
  options: {
    reader: readerOpt,
    db: dbOpt,
    issuer: issuerOpt,
    out: { type: 'string', arg: 'BATCH', help: 'output file' },
    batch: { type: 'string', arg: 'N', help: 're-create batch N exactly as first exported (a lost upload)' },
    policy: policyOpt,
    now: nowOpt,
  },
  async run(ctx) {
    const out = ctx.need('out');
    checkWritable(out); // before the batch is counted as exported
    const now = parseNow(ctx.opt('now'));
    const { reader, store } = openReader(ctx, now);
    try {
      const n = parseUint('batch', ctx.opt('batch'), Number.MAX_SAFE_INTEGER);
      const { batches } = n !== undefined ? reader.exportBatch(n) : reader.export(now);
      // A long backlog is cut into several batches (spec/reader.md §10): the first goes to OUT, batch N after it
      // to OUT with "-N" before its extension.
      const files = batches.map((b, i) => (i === 0 ? out : out.replace(/(\.[^./\\]*)?$/, (ext) => `-${b.batch.batchSeq}${ext}`)));
      const json = batches.map(({ batch, bytes }, i) => {
        writeFileDurable(files[i]!, bytes);
        const last = batch.firstSeq + batch.entries.length - 1;
        ctx.out(`batch ${batch.batchSeq} of reader ${reader.readerId}: ${batch.entries.length} entries (${batch.firstSeq}..${last}), head ${toHex(batch.head)}, ${bytes.length} bytes -> ${files[i]}`);
        return { batchSeq: batch.batchSeq, firstSeq: batch.firstSeq, entries: batch.entries.length, head: toHex(batch.head), bytes: bytes.length, out: files[i] };
      });
      ctx.emit({ ok: true, readerId: reader.readerId, ...json[0]!, ...(json.length > 1 ? { batches: json } : {}) });
      return EXIT_OK;
    } finally {
      store.close();
    }
  },
};

const loadBlocklist: Command = {
  name: 'reader load-blocklist',
  summary: 'load a signed blocklist from clearing (must be newer than the one held)',
  usage: '--reader READER --db READER.db LIST [--issuer ISSUER]',
  positionals: 'LIST',
  options: { reader: readerOpt, db: dbOpt, issuer: issuerOpt, policy: policyOpt, now: nowOpt },
  async run(ctx) {
    const [file, ...extra] = ctx.positionals;
    if (!file || extra.length) throw new UsageError('give exactly one LIST file');
    const bytes = readBytes(file, 'blocklist', 80 * 1024 * 1024);
    const now = parseNow(ctx.opt('now'));
    const { reader, store } = openReader(ctx, now);
    try {
      const s = reader.loadBlocklist(bytes, now);
      ctx.out(`blocklist version ${s.version} loaded: ${s.count} wallets, issued ${new Date(s.issuedAt * 1000).toISOString()}${s.stale ? ' (already stale!)' : ''}`);
      ctx.emit({ ok: true, ...s });
      return EXIT_OK;
    } finally {
      store.close();
    }
  },
};

const prune: Command = {
  name: 'reader prune',
  summary: 'forget what no rule can use any more: journal rows clearing holds, token records and daily totals older than the retention (spec/reader.md §9.3)',
  usage: '--reader READER --db READER.db [--retain-seconds N] [--delivered N] [--now TIME]',
  options: {
    reader: readerOpt,
    db: dbOpt,
    issuer: issuerOpt,
    policy: policyOpt,
    now: nowOpt,
    'retain-seconds': { type: 'string', arg: 'N', help: `keep token records, daily totals and tap-outs N seconds (default ${PRUNE_DEFAULT_RETAIN_SECONDS}, 7 days; at least the profile's minimum)` },
    delivered: { type: 'string', arg: 'N', help: 'batches 1..N are held by clearing (default: what the last offpay reader sync heard)' },
  },
  details: `Run it after each sync (or use offpay reader sync --prune). Journal rows go only below a batch clearing
said it holds (the last row of that batch stays: the next batch links to it); token records, daily totals and
tap-out records go once older than the retention, when no rule can use them: a token shown again then fails its
age check. Anti-replay windows and certificate totals are never deleted. A batch whose rows went cannot be
exported again (reader.batch_pruned). Safe to run while offpay reader listen uses the same database.`,
  async run(ctx) {
    const now = parseNow(ctx.opt('now'));
    const retainSeconds = parseUint('retain-seconds', ctx.opt('retain-seconds'), Number.MAX_SAFE_INTEGER);
    const deliveredBatches = parseUint('delivered', ctx.opt('delivered'), Number.MAX_SAFE_INTEGER);
    const { reader, store } = openReader(ctx, now);
    try {
      const r = reader.prune({ now, ...(retainSeconds !== undefined ? { retainSeconds } : {}), ...(deliveredBatches !== undefined ? { deliveredBatches } : {}) });
      const exported = reader.exportedBatches();
      ctx.out(
        `reader ${reader.readerId}: clearing holds ${r.deliveredBatches} of ${exported} batches exported${r.deliveredBatches === 0 ? ' (none: no journal rows deleted; run offpay reader sync, or give --delivered)' : ''}; ` +
          `deleted ${r.journal} journal rows, ${r.tokens} token records, ${r.totals} daily totals, ${r.tapOuts} tap-out records older than ${new Date(r.cutoff * 1000).toISOString()} (${r.retainSeconds} s)`,
      );
      ctx.emit({ ok: true, readerId: reader.readerId, exportedBatches: exported, ...r });
      return EXIT_OK;
    } finally {
      store.close();
    }
  },
};

const status: Command = {
  name: 'reader status',
  summary: 'check the database (SQLite quick_check), verify the hash chain, show the journal, open request, exports and blocklist freshness',
  usage: '--reader READER --db READER.db [--full] [--now TIME]',
  options: { reader: readerOpt, db: dbOpt, issuer: issuerOpt, policy: policyOpt, now: nowOpt, full: { type: 'boolean', help: 'PRAGMA integrity_check (every index entry) instead of quick_check' } },
  async run(ctx) {
    const now = parseNow(ctx.opt('now'));
    const { reader, store } = openReader(ctx, now);
    try {
      // SQLite's own page and index check first: a damaged page may lie outside the journal the chain covers.
      const integrity = store.integrityCheck(ctx.flag('full'));
      if (!integrity.ok) {
        ctx.out(`database: DAMAGED (${integrity.problems.slice(0, 5).join('; ')}); restore it from a backup, or start a new journal (offpay reader init --new-journal)`);
        ctx.emit({ readerId: reader.readerId, integrity });
        return EXIT_USAGE;
      }
      const head = reader.head();
      const chain = reader.verifyJournal();
      const bl = reader.blocklistStatus(now);
      const open = reader.openRequestInfo();
      const counts: Record<string, number> = {};
      for (const e of reader.entries()) counts[e.kind] = (counts[e.kind] ?? 0) + 1;
      const firstHeld = store.journal(1, head.seq)[0]?.seq ?? head.seq + 1;
      const delivered = reader.deliveredBatches();
      const held = firstHeld > 1 ? ` (entries ${firstHeld}..${head.seq} held; those before were pruned once clearing held them)` : '';
      ctx.out(`reader ${reader.readerId} (${reader.profile.name}), journal ${toHex(reader.journalId)}: ${head.seq} journal entries${held} ${JSON.stringify(counts)}, head ${toHex(head.hash)}`);
      ctx.out(`database: ${ctx.flag('full') ? 'integrity_check' : 'quick_check'} ok; chain: ${chain.ok ? `verifies${firstHeld > 1 ? ` from entry ${firstHeld}` : ''}` : `BROKEN at ${chain.error?.seq}: ${chain.error?.message}`}; batches exported: ${reader.exportedBatches()}, held by clearing at the last sync: ${delivered}`);
      ctx.out(`certificate: valid ${new Date(reader.cert.notBefore * 1000).toISOString()} .. ${new Date(reader.cert.notAfter * 1000).toISOString()}${now < reader.cert.notBefore || now > reader.cert.notAfter ? ' (NOT VALID NOW: the reader refuses to accept)' : ''}`);
      ctx.out(open ? `open request: ${toHex(open.request.challenge)} for ${money(open.request.amount, open.request.currency)}${open.paidBy ? `, paid by token ${toHex(open.paidBy)} (pending)` : ', unpaid'}` : 'open request: none');
      ctx.out(bl.loaded ? `blocklist: version ${bl.version}, ${bl.count} wallets, ${bl.ageSeconds} s old${bl.stale ? ` (STALE: ${bl.staleReason})` : ''}` : 'blocklist: none loaded (stale; a vending reader refuses every token until one is loaded: offpay reader load-blocklist)');
      const openJson = open ? { challenge: toHex(open.request.challenge), amount: open.request.amount, currency: open.request.currency, ...(open.paidBy ? { paidBy: toHex(open.paidBy) } : {}) } : null;
      ctx.emit({ readerId: reader.readerId, profile: reader.profile.name, journalId: toHex(reader.journalId), integrity, head: { seq: head.seq, hash: toHex(head.hash) }, firstHeld, entries: counts, chain, exportedBatches: reader.exportedBatches(), deliveredBatches: delivered, openRequest: openJson, blocklist: bl });
      return chain.ok ? EXIT_OK : EXIT_REJECTED;
    } finally {
      store.close();
    }
  },
};

// ------------------------------------------------------------------------------------------------ clearing

const clearingDb = clearingDbOption;

function openClearing(ctx: CommandContext, existing = false): Promise<Clearing> {
  const issuerPath = ctx.opt('issuer');
  const fee = parseUint('fee-bps', ctx.opt('fee-bps'), 10_000);
  const maxBytes = parseUint('max-batch-bytes', ctx.opt('max-batch-bytes'), 1024 * 1024 * 1024);
  return openClearingAt(ctx.need('db'), {
    ...(issuerPath ? { issuerKeys: loadIssuerKeys(issuerPath) } : {}),
    ...(fee !== undefined ? { feeBps: fee } : {}),
    ...(ctx.flag('replace-settings') ? { replaceSettings: true } : {}),
    ...(maxBytes !== undefined ? { maxBatchBytes: maxBytes } : {}),
  }, existing);
}

/** Refusals for the size of a batch, not its content: the operator must act (split at the reader, or raise the limit). */
const OVER_LIMITS = new Set(['clearing.too_large', 'clearing.too_many_entries']);

const ingest: Command = {
  name: 'clearing ingest',
  summary: 'ingest settlement batches (any order, late or twice); exit 0 all ingested, 1 any batch rejected, 2 any batch over the size limits',
  usage: '--issuer ISSUER --db (CLEARING.db|postgres://...) BATCH... [--fee-bps N] [--max-batch-bytes N] [--replace-settings]',
  positionals: 'BATCH...',
  options: {
    issuer: issuerOpt,
    db: clearingDb,
    'fee-bps': { type: 'string', arg: 'N', help: 'fee in basis points per settlement line (stored; default 150)' },
    'replace-settings': replaceSettingsOpt,
    'max-batch-bytes': { type: 'string', arg: 'N', help: 'largest batch accepted, bytes (default 8388608 = 8 MiB; spec/clearing.md)' },
  },
  details: `Each batch is checked for size before it is read, and its reader signature is verified over the raw bytes
before any entry is decoded (spec/clearing.md §4). A batch over --max-batch-bytes or with more than 65,536
entries is refused (clearing.too_large, clearing.too_many_entries) and the exit code is 2.`,
  async run(ctx) {
    if (ctx.positionals.length === 0) throw new UsageError('give at least one BATCH file');
    const c = await openClearing(ctx);
    try {
      const results: Record<string, unknown>[] = [];
      let rejected = false;
      let overLimits = false;
      const progress = ctx.progress('ingesting', { total: ctx.positionals.length, unit: 'batches' });
      for (const [i, file] of ctx.positionals.entries()) {
        progress.update(i, file);
        let r: IngestResult;
        try {
          r = await c.ingest(readBytes(file, 'batch', c.maxBatchBytes));
        } catch (e) {
          if (!(e instanceof OffpayError) || e.code !== 'file.too_large') throw e;
          // Refused from the file size alone: the bytes are never read.
          r = { outcome: 'rejected', entries: 0, alreadyHeld: 0, invalidTokens: 0, doubleSpends: 0, readerFaults: 0, error: { code: 'clearing.too_large', message: e.message } };
        }
        if (r.outcome === 'rejected') {
          rejected = true;
          if (OVER_LIMITS.has(r.error?.code ?? '')) overLimits = true;
        }
        ctx.out(
          r.outcome === 'rejected'
            ? `${file}: REJECTED ${r.error?.code}: ${r.error?.message}`
            : `${file}: ${r.outcome} reader ${r.readerId} journal ${r.journalId} batch ${r.batchSeq}: ${r.entries} new entries, ${r.alreadyHeld} already held, ${r.invalidTokens} invalid, ${r.doubleSpends} double spends, ${r.readerFaults} reader faults found`,
        );
        results.push({ file, ...r });
      }
      progress.done();
      ctx.emit({ results });
      return overLimits ? EXIT_USAGE : rejected ? EXIT_REJECTED : EXIT_OK;
    } finally {
      await c.close();
    }
  },
};

/**
 * The amount an evidence token pays, in its certificate's currency ('HKD 12.50'), for human output. Read from
 * the signed token itself: the journal value of a conflict entry is its reason code, not an amount.
 */
function evidenceAmount(e: { amount: number; token: string }): string {
  try {
    const t = decodeToken(fromHex(e.token));
    return money(t.amount, t.walletCert.currency);
  } catch {
    return `${e.amount} minor units`;
  }
}

function printReport(ctx: CommandContext, r: ClearingReport): void {
  ctx.out(`Settlement (fee ${r.feeBps} bps, rounded half to even per line; each distinct token once):`);
  if (!r.settlement.length) ctx.out('  (nothing to settle)');
  for (const l of r.settlement) {
    const refunded = l.refunds ? `  refunded ${money(l.refunded, l.currency)} (${l.refunds})` : '';
    ctx.out(`  merchant ${l.operatorId}  ${String(l.count).padStart(6)} tokens  gross ${money(l.gross, l.currency)}  fee ${money(l.fee, l.currency)}${refunded}  net ${money(l.net, l.currency)}`);
  }
  for (const t of r.totals) ctx.out(`  total ${String(t.count).padStart(6)} tokens  gross ${money(t.gross, t.currency)}  fee ${money(t.fee, t.currency)}${t.refunds ? `  refunded ${money(t.refunded, t.currency)} (${t.refunds})` : ''}  net ${money(t.net, t.currency)}`);
  if (r.refunds.length) {
    ctx.out(`Refunds to credit (the issuer credits each wallet): ${r.refunds.length}`);
    for (const x of r.refunds) ctx.out(`  wallet ${x.walletId}: ${money(BigInt(x.amount), x.currency)} of token ${x.tokenHash.slice(0, 16)}… by merchant ${x.operatorId} (reader ${x.readerId})`);
  }
  if (r.refundProblems.length) ctx.out(`Refunds whose token's settlement moved (refund_unsettled; the refund stays with its merchant): ${r.refundProblems.map((x) => `token ${x.refund.tokenHash.slice(0, 16)}… ${x.why}`).join('; ')}`);
  ctx.out(`Readers (journals): ${r.readers.length}`);
  for (const x of r.readers) {
    ctx.out(`  reader ${x.readerId} journal ${x.journalId} (${x.profile}, merchant ${x.operatorId}): ${x.entries} entries in ${x.batches} batches${x.gaps.length ? `, GAPS ${x.gaps.map(([a, b]) => `${a}..${b}`).join(', ')}` : ''}`);
  }
  ctx.out(`Double spends: ${r.doubleSpends.length}`);
  for (const d of r.doubleSpends) {
    ctx.out(`  ${d.kind}: wallet ${d.walletId} counter ${d.counter}: reader ${d.first.readerId} entry ${d.first.seq} (${evidenceAmount(d.first)}) and reader ${d.second.readerId} entry ${d.second.seq} (${evidenceAmount(d.second)})`);
  }
  ctx.out(`Over the offline allowance: ${r.overAllowance.length}${r.exposure.length ? `; issuer exposure ${r.exposure.map((e) => money(e.amount, e.currency)).join(', ')}` : ''}`);
  for (const w of r.overAllowance) {
    ctx.out(`  wallet ${w.walletId} (certificate ${w.certKey}): settled ${money(w.settled, w.currency)} against an allowance of ${money(w.allowance, w.currency)} in ${w.tokens.length} tokens: exposure ${money(w.exposure, w.currency)}`);
  }
  if (r.readerFaults.length) ctx.out(`Reader faults (settled once, not the customer's): ${r.readerFaults.map((f) => `reader ${f.readerId} listed token ${f.tokenHash.slice(0, 16)} twice (entries ${f.first.seq}, ${f.second.seq})`).join('; ')}`);
  for (const q of r.requestsPaidTwice) {
    ctx.out(
      `Request paid twice (a reader fault: one token settles, not the customer's doing): reader ${q.readerId} request ${q.challenge} of ${q.requestTime}: settled token ${q.settled.tokenHash.slice(0, 16)} (entry ${q.settled.seq}); not charged: ${q.unsettled.map((u) => `${u.tokenHash.slice(0, 16)} (entry ${u.seq})`).join(', ')}`,
    );
  }
  if (r.multipleTapOuts.length) ctx.out(`Trips with several tap-outs (charged the highest fare): ${r.multipleTapOuts.length}`);
  if (r.multipleTapIns.length) {
    ctx.out(`Trips tapped in at several gates (charged once; a gate that heard the next gate's phone, or a shared token): ${r.multipleTapIns.length}`);
    for (const t of r.multipleTapIns) ctx.out(`  token ${t.tokenHash.slice(0, 16)}: tap-ins at gates ${[...new Set(t.tapIns.map((e) => e.readerId))].join(', ')}`);
  }
  if (r.tapOutsWithoutTapIn.length) ctx.out(`Tap-outs without a tap-in (charged the maximum fare): ${r.tapOutsWithoutTapIn.length}`);
  if (r.zeroFareTapOuts.length) ctx.out(`Zero-fare tap-outs (never a charge): ${r.zeroFareTapOuts.map((e) => `reader ${e.readerId} entry ${e.seq}`).join('; ')}`);
  if (r.problems.length) ctx.out(`Problems: ${r.problems.map((p) => `reader ${p.readerId} ${p.kind}: ${p.detail}`).join('; ')}`);
  if (r.invalidTokens.length) ctx.out(`Invalid entries (not settled): ${r.invalidTokens.map((t) => `reader ${t.readerId} entry ${t.seq} ${t.reason}`).join('; ')}`);
  ctx.out(`Voided sales: ${r.voided}; open trips (no tap-out, settled at the maximum fare): ${r.openTrips.length}`);
  ctx.out(`Blocklist: ${r.blocklist.entries} wallets (last issued version ${r.blocklist.version}; over-allowance wallets join at the next issue)`);
}

const report: Command = {
  name: 'clearing report',
  summary: 'settlement per merchant and currency (count, gross, fee, net), double spends and over-allowance wallets with evidence, reader faults, trips, gaps, problems',
  usage: '--db CLEARING.db [--json]',
  options: { db: clearingDb, issuer: issuerOpt },
  details: 'With --json, every money amount (gross, fee, refunded, net, allowance, settled, exposure, charge) is a decimal string of minor units, so no amount loses precision past 2^53. Each line nets the refunds of its merchant: net = gross - fee - refunded (spec/clearing.md §5, §13).',
  async run(ctx) {
    const c = await openClearing(ctx, true);
    try {
      const r = await c.report();
      printReport(ctx, r);
      ctx.emit(r);
      return EXIT_OK;
    } finally {
      await c.close();
    }
  },
};

const blocklist: Command = {
  name: 'clearing blocklist',
  summary: 'sign the next blocklist version (every wallet caught double spending, or blocked by hand) for readers to load',
  usage: '--issuer ISSUER --db CLEARING.db --out LIST [--block WALLETID]... [--now TIME]',
  options: {
    issuer: { type: 'string', arg: 'ISSUER', help: 'issuer directory (with the secret keys)' },
    db: clearingDb,
    out: { type: 'string', arg: 'LIST', help: 'output file' },
    block: { type: 'string', multiple: true, arg: 'WALLETID', help: 'also block this wallet id (32 hex digits; a lost or stolen device)' },
    now: { type: 'string', arg: 'TIME', help: 'issue time, unix seconds or ISO 8601 (default: system time)' },
  },
  async run(ctx) {
    const issuer = loadIssuer(ctx.need('issuer'));
    const out = ctx.need('out');
    checkWritable(out); // before a blocklist version is issued
    const c = await openClearingAt(ctx.need('db'), { issuerKeys: issuer.keySet() });
    try {
      for (const id of (ctx.values.block as string[] | undefined) ?? []) {
        if (!/^[0-9a-fA-F]{32}$/.test(id)) throw new UsageError(`--block: '${id}' is not a 16-byte wallet id in hex`);
        await c.block(fromHex(id), 'manual');
      }
      const r = await c.issueBlocklist(issuer, parseNow(ctx.opt('now')));
      writeFileDurable(out, r.bytes);
      ctx.out(`blocklist version ${r.version}: ${r.entries} wallets, ${r.bytes.length} bytes -> ${out}`);
      ctx.emit({ ok: true, version: r.version, entries: r.entries, bytes: r.bytes.length, out });
      return EXIT_OK;
    } finally {
      await c.close();
    }
  },
};

export const commands: Command[] = [init, accept, listen, voidCmd, complete, tapOut, exportCmd, loadBlocklist, prune, status, ingest, report, blocklist];
