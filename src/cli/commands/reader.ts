/**
 * Reader and clearing commands: `offpay reader accept|void|complete|tap-out|export|load-blocklist|status` and
 * `offpay clearing ingest|report|blocklist`. The reader state lives in a SQLite database (--db); the reader
 * directory (from `offpay reader new`) holds the key and certificate, and optionally policy.json
 * (limits, window, profile overrides: spec/reader.md §Reader policy file).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Clearing, type ClearingReport } from '../../clearing/index.js';
import { fromHex, toHex } from '../../crypto.js';
import { currencyByNumeric, formatMoney, parseAmount, parseCurrency } from '../../currency.js';
import { OffpayError } from '../../errors.js';
import { decodeIssuerKeySet, decodeToken, encodeIssuerKeySet, tokenHash, type IssuerKeySet } from '../../messages.js';
import { nodeEd25519 } from '../../node/crypto.js';
import { loadIssuer, loadIssuerKeys, loadReader, readBytes, writeFileDurable } from '../../node/files.js';
import { Reader, type AcceptContext, type ReaderOptions, type ReaderVerdict } from '../../reader/reader.js';
import { READER_REASONS } from '../../reader/reasons.js';
import { SqliteReaderStore } from '../../reader/sqlite.js';
import { verifyToken } from '../../verify.js';
import type { CurrencyLimits, ProfileParams } from '../../reader/profiles.js';
import { parseNow, parseUint } from '../common.js';
import { EXIT_OK, EXIT_REJECTED, UsageError, type Command, type CommandContext } from '../framework.js';
import { findRequest, readPayload } from './core.js';

const nowOpt = { type: 'string' as const, arg: 'TIME', help: 'the reader clock, unix seconds or ISO 8601 (default: system time)' };
const readerOpt = { type: 'string' as const, arg: 'READER', help: 'reader directory (offpay reader new)' };
const dbOpt = { type: 'string' as const, arg: 'READER.db', help: 'reader database (created on first use)' };
const issuerOpt = { type: 'string' as const, arg: 'ISSUER', help: 'issuer directory or keyset.cbor (stored in the database; needed on first use)' };
const policyOpt = { type: 'string' as const, arg: 'FILE', help: 'reader policy JSON (default READER/policy.json if present)' };

const META_KEYSET = 'issuer.keyset';

interface PolicyFile {
  window?: number;
  acceptUnlistedCurrencies?: boolean;
  limits?: Record<string, Partial<Record<keyof CurrencyLimits, string>>>;
  profile?: Partial<Omit<ProfileParams, 'name'>>;
}

/** Read a reader policy file: limits per currency in major units ("12.50"), window, profile overrides. */
export function loadPolicy(path: string): Pick<ReaderOptions, 'window' | 'limits' | 'acceptUnlistedCurrencies' | 'profile'> {
  let o: PolicyFile;
  try {
    o = JSON.parse(readFileSync(path, 'utf8')) as PolicyFile;
    if (typeof o !== 'object' || o === null || Array.isArray(o)) throw new Error('not a JSON object');
  } catch (e) {
    throw new OffpayError('reader.bad_policy', `${path}: ${(e as Error).message}`);
  }
  const limits: Record<number, CurrencyLimits> = {};
  for (const [code, l] of Object.entries(o.limits ?? {})) {
    const cur = parseCurrency(code);
    const out: CurrencyLimits = {};
    for (const k of ['minAmount', 'maxAmount', 'dailyTotal', 'staleMaxAmount'] as const) {
      const v = l[k];
      if (v === undefined) continue;
      if (typeof v !== 'string') throw new OffpayError('reader.bad_policy', `${path}: limits.${code}.${k} must be a string amount such as "12.50"`);
      out[k] = parseAmount(v, cur);
    }
    limits[cur.numeric] = out;
  }
  if (o.window !== undefined && typeof o.window !== 'number') throw new OffpayError('reader.bad_policy', `${path}: window must be a number`);
  if (o.profile !== undefined && (typeof o.profile !== 'object' || o.profile === null)) throw new OffpayError('reader.bad_policy', `${path}: profile must be an object`);
  return {
    limits,
    ...(o.window !== undefined ? { window: o.window } : {}),
    ...(o.acceptUnlistedCurrencies !== undefined ? { acceptUnlistedCurrencies: o.acceptUnlistedCurrencies === true } : {}),
    ...(o.profile ? { profile: o.profile } : {}),
  };
}

/** Open the reader: directory, database, issuer keys (given or stored), policy. */
function openReader(ctx: CommandContext, now: number): { reader: Reader; store: SqliteReaderStore; dir: string } {
  const files = loadReader(ctx.need('reader'));
  const store = new SqliteReaderStore(ctx.need('db'));
  try {
    const issuerPath = ctx.opt('issuer');
    let keys: IssuerKeySet;
    if (issuerPath) {
      keys = loadIssuerKeys(issuerPath);
      const bytes = encodeIssuerKeySet(keys);
      store.transact((tx) => tx.putMeta(META_KEYSET, bytes));
    } else {
      const stored = store.transact((tx) => tx.getMeta(META_KEYSET));
      if (!stored) throw new UsageError('--issuer is needed the first time a reader database is used');
      keys = decodeIssuerKeySet(stored);
    }
    const policyPath = ctx.opt('policy') ?? (existsSync(join(files.dir, 'policy.json')) ? join(files.dir, 'policy.json') : undefined);
    const policy = policyPath ? loadPolicy(policyPath) : {};
    const reader = new Reader({ cert: files.cert, secretKey: files.secretKey, issuerKeys: keys, store, verifier: nodeEd25519(), clock: () => now, ...policy });
    return { reader, store, dir: files.dir };
  } catch (e) {
    store.close();
    throw e;
  }
}

function viaOf(ctx: CommandContext): string | undefined {
  const via = ctx.opt('via');
  if (via !== undefined && via !== 'fsk' && via !== 'qr' && via !== 'nfc') throw new UsageError(`--via must be fsk, qr or nfc, not '${via}'`);
  return via;
}

function money(amount: number, currency: number): string {
  return currencyByNumeric(currency) ? formatMoney(amount, currency) : `${amount} (currency ${currency})`;
}

function verdictJson(file: string, v: ReaderVerdict): Record<string, unknown> {
  return v.accepted
    ? { file, accepted: true, status: v.status, charged: v.charged, amount: v.amount, currency: v.currency, walletId: toHex(v.walletId), counter: v.counter, journalSeq: v.seq, tokenHash: toHex(v.tokenHash) }
    : { file, accepted: false, status: 'rejected', reason: v.reason, code: v.code, message: v.message, tokenHash: toHex(v.tokenHash), ...(v.seq !== undefined ? { journalSeq: v.seq } : {}) };
}

/** What an operator does about a refusal that is the reader's own state, not the token's fault. */
export function refusalHint(reason: string): string {
  if (reason === 'blocklist_stale' || reason === 'stale_limit') {
    return '; load a current blocklist from clearing: offpay reader load-blocklist --reader READER --db READER.db LIST (LIST from offpay clearing blocklist)';
  }
  return '';
}

function verdictLine(file: string, v: ReaderVerdict): string {
  if (!v.accepted) return `${file}: REJECTED ${v.reason} (${v.code}): ${v.message}${refusalHint(v.reason)}`;
  const what = v.status === 'resumed' ? 'RESUMED (already paid, not charged again)' : v.status === 'tapped_out' ? 'TAPPED OUT, fare' : 'ACCEPTED';
  return `${file}: ${what} ${money(v.amount, v.currency)} from wallet ${toHex(v.walletId)} counter ${v.counter} (journal entry ${v.seq})`;
}

const accept: Command = {
  name: 'reader accept',
  summary: 'judge tokens with the durable reader (replay window, limits, blocklist); exit 0 all accepted, 1 any rejected, 2 unusable',
  usage: '--reader READER --db READER.db [--issuer ISSUER] TOKEN... [--via fsk|qr|nfc] [--request REQ | --amount A --currency C | --tap-in MAX --currency C] [--complete] [--now TIME]',
  positionals: 'TOKEN...',
  options: {
    reader: readerOpt,
    db: dbOpt,
    issuer: issuerOpt,
    via: { type: 'string', arg: 'T', help: 'read tokens from WAV (fsk), image (qr) or NDEF/APDU (nfc) files' },
    request: { type: 'string', arg: 'REQ', help: "vending: the request the token answers (default: the reader's saved request with the token's challenge)" },
    amount: { type: 'string', arg: 'AMOUNT', help: 'transit: the fixed fare' },
    currency: { type: 'string', arg: 'CODE', help: 'transit: the currency of the fare or maximum fare', default: 'HKD' },
    'tap-in': { type: 'string', arg: 'MAX', help: 'transit: tap-in authorising this maximum fare' },
    complete: { type: 'boolean', help: 'mark each sale complete at once (nothing left to dispense)' },
    policy: policyOpt,
    now: nowOpt,
  },
  details: `The verdict, the counter state and the journal entry are committed (SQLite WAL, synchronous=FULL) before
the verdict is printed. A token already accepted and still pending is RESUMED, never charged twice.
Reasons (spec/reader.md): ${Object.entries(READER_REASONS)
    .map(([k, v]) => `${k} ${v.code}`)
    .join(', ')}.`,
  async run(ctx) {
    if (ctx.positionals.length === 0) throw new UsageError('give at least one TOKEN file');
    const via = viaOf(ctx);
    const now = parseNow(ctx.opt('now'));
    const { reader, store, dir } = openReader(ctx, now);
    try {
      const results: Record<string, unknown>[] = [];
      let rejected = false;
      for (const file of ctx.positionals) {
        const bytes = await readPayload('token', file, via);
        const c: AcceptContext = { now, ...(ctx.flag('complete') ? { complete: true } : {}) };
        let v: ReaderVerdict;
        if (reader.cert.profile === 'vending') {
          const req = await findRequest(dir, bytes, ctx.opt('request'));
          if (!req) {
            // No request to judge against. Stateless verification still decides, in its own order, against a
            // request no token answers: a token that does not decode is malformed (not challenge_missing),
            // a bad signature or another payee says so, and only then challenge_missing or challenge_mismatch.
            let challenge: Uint8Array | undefined;
            try {
              challenge = decodeToken(bytes).challenge;
            } catch {
              challenge = undefined;
            }
            const none = { amount: 0, currency: 0, time: now, challenge: challenge ? challenge.map((b) => b ^ 0xff) : new Uint8Array(8) };
            const s = verifyToken(bytes, reader.verifyContext({ request: none }, now), nodeEd25519());
            if (s.accepted) throw new Error('a token matched a request built not to match');
            const message = s.reason === 'challenge_mismatch' ? `no outstanding request of reader ${reader.readerId} has challenge ${toHex(challenge!)}` : s.reason === 'challenge_missing' ? 'a vending reader takes only tokens that answer its payment request' : s.message;
            v = { accepted: false, status: 'rejected', reason: s.reason, code: s.code, message, tokenHash: tokenHash(bytes) };
          } else {
            v = await reader.accept(bytes, { ...c, request: req });
          }
        } else {
          const cur = parseCurrency(ctx.opt('currency') ?? 'HKD');
          const tapIn = ctx.opt('tap-in');
          const amount = ctx.opt('amount');
          if (tapIn && amount) throw new UsageError('give --amount (fixed fare) or --tap-in (maximum fare), not both');
          if (!tapIn && !amount) throw new UsageError('a transit reader needs --amount FARE or --tap-in MAXFARE');
          v = await reader.accept(bytes, tapIn ? { ...c, tapIn: { maxFare: parseAmount(tapIn, cur), currency: cur.numeric } } : { ...c, fare: { amount: parseAmount(amount!, cur), currency: cur.numeric } });
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

/** A token hash in hex, or the hash of a token file in any form (CBOR, WAV, PNG/JPEG, NDEF: src/cli/payload.ts). */
async function hashArg(arg: string): Promise<Uint8Array> {
  if (/^[0-9a-fA-F]{64}$/.test(arg)) return fromHex(arg);
  return tokenHash(await readPayload('token', arg));
}

const voidCmd: Command = {
  name: 'reader void',
  summary: 'void a pending sale within the void window (the machine failed to dispense); exit 0 voided, 1 refused',
  usage: '--reader READER --db READER.db TOKEN [--issuer ISSUER] [--now TIME]',
  positionals: 'TOKEN (a token file or its SHA-256 hash in hex)',
  options: { reader: readerOpt, db: dbOpt, issuer: issuerOpt, policy: policyOpt, now: nowOpt },
  async run(ctx) {
    const [arg, ...extra] = ctx.positionals;
    if (!arg || extra.length) throw new UsageError('give exactly one TOKEN');
    const hash = await hashArg(arg);
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
  summary: 'mark a pending sale complete (goods dispensed): it can no longer be voided or resumed',
  usage: '--reader READER --db READER.db TOKEN',
  positionals: 'TOKEN (a token file or its SHA-256 hash in hex)',
  options: { reader: readerOpt, db: dbOpt, issuer: issuerOpt, policy: policyOpt },
  async run(ctx) {
    const [arg, ...extra] = ctx.positionals;
    if (!arg || extra.length) throw new UsageError('give exactly one TOKEN');
    const hash = await hashArg(arg);
    const { reader, store } = openReader(ctx, parseNow(undefined));
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
  summary: 'transit: record the fare for a trip whose tap-in token is shown again; exit 0 recorded, 1 refused',
  usage: '--reader READER --db READER.db TOKEN --fare A [--currency C] [--via fsk|qr|nfc] [--now TIME]',
  positionals: 'TOKEN',
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
    if (!file || extra.length) throw new UsageError('give exactly one TOKEN file');
    const bytes = await readPayload('token', file, viaOf(ctx));
    const now = parseNow(ctx.opt('now'));
    const { reader, store } = openReader(ctx, now);
    try {
      const v = await reader.tapOut(bytes, { fare: parseAmount(ctx.need('fare'), parseCurrency(ctx.opt('currency') ?? 'HKD')), now });
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
    const now = parseNow(ctx.opt('now'));
    const { reader, store } = openReader(ctx, now);
    try {
      const n = parseUint('batch', ctx.opt('batch'), Number.MAX_SAFE_INTEGER);
      const { batch, bytes } = n !== undefined ? reader.exportBatch(n) : reader.export(now);
      writeFileDurable(out, bytes);
      const last = batch.firstSeq + batch.entries.length - 1;
      ctx.out(`batch ${batch.batchSeq} of reader ${reader.readerId}: ${batch.entries.length} entries (${batch.firstSeq}..${last}), head ${toHex(batch.head)}, ${bytes.length} bytes -> ${out}`);
      ctx.emit({ ok: true, readerId: reader.readerId, batchSeq: batch.batchSeq, firstSeq: batch.firstSeq, entries: batch.entries.length, head: toHex(batch.head), bytes: bytes.length, out });
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
      const s = reader.loadBlocklist(bytes);
      ctx.out(`blocklist version ${s.version} loaded: ${s.count} wallets, issued ${new Date(s.issuedAt * 1000).toISOString()}${s.stale ? ' (already stale!)' : ''}`);
      ctx.emit({ ok: true, ...s });
      return EXIT_OK;
    } finally {
      store.close();
    }
  },
};

const status: Command = {
  name: 'reader status',
  summary: 'show the reader journal head, exports and blocklist freshness; verify the hash chain',
  usage: '--reader READER --db READER.db [--now TIME]',
  options: { reader: readerOpt, db: dbOpt, issuer: issuerOpt, policy: policyOpt, now: nowOpt },
  async run(ctx) {
    const now = parseNow(ctx.opt('now'));
    const { reader, store } = openReader(ctx, now);
    try {
      const head = reader.head();
      const chain = reader.verifyJournal();
      const bl = reader.blocklistStatus(now);
      const counts: Record<string, number> = {};
      for (const e of reader.entries()) counts[e.kind] = (counts[e.kind] ?? 0) + 1;
      ctx.out(`reader ${reader.readerId} (${reader.profile.name}): ${head.seq} journal entries ${JSON.stringify(counts)}, head ${toHex(head.hash)}`);
      ctx.out(`chain: ${chain.ok ? 'verifies' : `BROKEN at ${chain.error?.seq}: ${chain.error?.message}`}; batches exported: ${reader.exportedBatches()}`);
      ctx.out(bl.loaded ? `blocklist: version ${bl.version}, ${bl.count} wallets, ${bl.ageSeconds} s old${bl.stale ? ' (STALE)' : ''}` : 'blocklist: none loaded (stale; a vending reader refuses every token until one is loaded: offpay reader load-blocklist)');
      ctx.emit({ readerId: reader.readerId, profile: reader.profile.name, head: { seq: head.seq, hash: toHex(head.hash) }, entries: counts, chain, exportedBatches: reader.exportedBatches(), blocklist: bl });
      return chain.ok ? EXIT_OK : EXIT_REJECTED;
    } finally {
      store.close();
    }
  },
};

// ------------------------------------------------------------------------------------------------ clearing

const clearingDb = { type: 'string' as const, arg: 'CLEARING.db', help: 'clearing database (created on first use)' };

function openClearing(ctx: CommandContext): Clearing {
  const issuerPath = ctx.opt('issuer');
  const fee = parseUint('fee-bps', ctx.opt('fee-bps'), 10_000);
  return new Clearing({ path: ctx.need('db'), ...(issuerPath ? { issuerKeys: loadIssuerKeys(issuerPath) } : {}), ...(fee !== undefined ? { feeBps: fee } : {}) });
}

const ingest: Command = {
  name: 'clearing ingest',
  summary: 'ingest settlement batches (any order, late or twice); exit 0 all ingested, 1 any batch rejected',
  usage: '--issuer ISSUER --db CLEARING.db BATCH... [--fee-bps N]',
  positionals: 'BATCH...',
  options: { issuer: issuerOpt, db: clearingDb, 'fee-bps': { type: 'string', arg: 'N', help: 'fee in basis points per settlement line (stored; default 150)' } },
  async run(ctx) {
    if (ctx.positionals.length === 0) throw new UsageError('give at least one BATCH file');
    const c = openClearing(ctx);
    try {
      const results: Record<string, unknown>[] = [];
      let rejected = false;
      const progress = ctx.progress('ingesting', { total: ctx.positionals.length, unit: 'batches' });
      for (const [i, file] of ctx.positionals.entries()) {
        progress.update(i, file);
        const r = c.ingest(readBytes(file, 'batch', 512 * 1024 * 1024));
        if (r.outcome === 'rejected') rejected = true;
        ctx.out(
          r.outcome === 'rejected'
            ? `${file}: REJECTED ${r.error?.code}: ${r.error?.message}`
            : `${file}: ${r.outcome} reader ${r.readerId} batch ${r.batchSeq}: ${r.entries} new entries, ${r.alreadyHeld} already held, ${r.invalidTokens} invalid tokens, ${r.doubleSpends} double spends found`,
        );
        results.push({ file, ...r });
      }
      progress.done();
      ctx.emit({ results });
      return rejected ? EXIT_REJECTED : EXIT_OK;
    } finally {
      c.close();
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
  ctx.out(`Settlement (fee ${r.feeBps} bps, rounded half to even per line):`);
  if (!r.settlement.length) ctx.out('  (nothing to settle)');
  for (const l of r.settlement) {
    ctx.out(`  merchant ${l.operatorId}  ${String(l.count).padStart(6)} sales  gross ${money(l.gross, l.currency)}  fee ${money(l.fee, l.currency)}  net ${money(l.net, l.currency)}`);
  }
  ctx.out(`Readers: ${r.readers.length}`);
  for (const x of r.readers) ctx.out(`  reader ${x.readerId} (${x.profile}, merchant ${x.operatorId}): ${x.entries} entries in ${x.batches} batches${x.gaps.length ? `, GAPS ${x.gaps.map(([a, b]) => `${a}..${b}`).join(', ')}` : ''}`);
  ctx.out(`Double spends: ${r.doubleSpends.length}`);
  for (const d of r.doubleSpends) {
    ctx.out(`  ${d.kind}: wallet ${d.walletId} counter ${d.counter}: reader ${d.first.readerId} entry ${d.first.seq} (${evidenceAmount(d.first)}) and reader ${d.second.readerId} entry ${d.second.seq} (${evidenceAmount(d.second)})`);
  }
  if (r.problems.length) ctx.out(`Problems: ${r.problems.map((p) => `reader ${p.readerId} ${p.kind}: ${p.detail}`).join('; ')}`);
  if (r.invalidTokens.length) ctx.out(`Invalid tokens (not settled): ${r.invalidTokens.map((t) => `reader ${t.readerId} entry ${t.seq} ${t.reason}`).join('; ')}`);
  ctx.out(`Voided sales: ${r.voided}; trips without tap-out (settled at maximum fare): ${r.tripsAtMaximumFare}`);
  ctx.out(`Blocklist: ${r.blocklist.entries} wallets (last issued version ${r.blocklist.version})`);
}

const report: Command = {
  name: 'clearing report',
  summary: 'settlement per merchant and currency (count, gross, fee, net), double spends with evidence, gaps and problems',
  usage: '--db CLEARING.db [--json]',
  options: { db: clearingDb, issuer: issuerOpt },
  async run(ctx) {
    const c = openClearing(ctx);
    try {
      const r = c.report();
      printReport(ctx, r);
      ctx.emit(r);
      return EXIT_OK;
    } finally {
      c.close();
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
    const c = new Clearing({ path: ctx.need('db'), issuerKeys: issuer.keySet() });
    try {
      for (const id of (ctx.values.block as string[] | undefined) ?? []) {
        if (!/^[0-9a-fA-F]{32}$/.test(id)) throw new UsageError(`--block: '${id}' is not a 16-byte wallet id in hex`);
        c.block(fromHex(id), 'manual');
      }
      const r = c.issueBlocklist(issuer, parseNow(ctx.opt('now')));
      writeFileDurable(out, r.bytes);
      ctx.out(`blocklist version ${r.version}: ${r.entries} wallets, ${r.bytes.length} bytes -> ${out}`);
      ctx.emit({ ok: true, version: r.version, entries: r.entries, bytes: r.bytes.length, out });
      return EXIT_OK;
    } finally {
      c.close();
    }
  },
};

export const commands: Command[] = [accept, voidCmd, complete, tapOut, exportCmd, loadBlocklist, status, ingest, report, blocklist];
