/**
 * `offpay demo`: the whole story, end to end, offline, in one process with real bytes at every step.
 *
 * A vending machine paid over sound (its payment request scanned from its screen), transit gates paid by QR
 * and over NFC, a replay refused, a cloned wallet caught at clearing and refused by the blocklist, a merchant refund, and a
 * settlement report. Readers keep durable state in SQLite under the working directory.
 */
import { randomBytes } from 'node:crypto';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encode as fskEncode, decode as fskDecode, simulate, FskReceiver } from '../../../codecs/fsk/index.js';
import { encodeCode, decodeCode } from '../../../codecs/qr/engine.js';
import { loadQrEngineNode } from '../../../codecs/qr/node.js';
import { shoot } from '../../../codecs/qr/sim/camera.js';
import { CardApplication, airTime, memoryLink, transact } from '../../../codecs/nfc/index.js';
import { Clearing } from '../../clearing/index.js';
import { toHex } from '../../../base/hex.js';
import { formatMoney } from '../../currency.js';
import { OffpayError } from '../../../base/errors.js';
import { Issuer } from '../../issuer.js';
import { decodeToken } from '../../messages.js';
import { nodeEd25519 } from '../../node/crypto.js';
import { loadIssuer, loadReader, loadWallet, saveIssuer, saveReader, saveWallet } from '../../node/files.js';
import { Reader, type ReaderVerdict } from '../../reader/index.js';
import { openSqliteReaderStore } from '../../reader/sqlite.js';
import { loadSqliteDriver } from '../../node/sqlite.js';
import { syncReader } from '../../reader/sync.js';
import { createClearingServer } from '../../server/api.js';
import { verifyReceipt } from '../../verify.js';
import { dayOf } from '../../issuer.js';
import { publicKeyOf, randomSecretKey, seededSecretKey, sha256 } from '../../crypto.js';
import { createRefund } from '../../refund.js';
import { EXIT_OK, type Command, type CommandContext } from '../framework.js';
import { parseNow } from '../common.js';
import type { Wallet } from '../../wallet.js';

const HKD = 344;

interface Step {
  step: string;
  [k: string]: unknown;
}

function verdictLine(v: ReaderVerdict): string {
  if (v.accepted) return `ACCEPTED ${formatMoney(v.amount, v.currency)} (wallet ${toHex(v.walletId).slice(0, 8)}…, counter ${v.counter}${v.status === 'resumed' ? ', resumed: not charged again' : ''})`;
  return `REFUSED ${v.reason} (${v.code}): ${v.message}`;
}

async function openReader(dir: string, issuerKeys: ReturnType<Issuer['keySet']>, clock: () => number, fare?: number): Promise<Reader> {
  const files = loadReader(dir);
  return new Reader({
    cert: files.cert,
    secretKey: files.secretKey,
    issuerKeys,
    store: await openSqliteReaderStore(join(dir, 'reader.db'), { mode: 'create' }), // a new journal per demo run
    verifier: nodeEd25519(),
    clock,
    ...(fare !== undefined ? { profile: { maxAgeSeconds: 120 } } : {}),
  });
}

export async function runDemo(ctx: CommandContext, workDir: string, seed: string | undefined, start: number): Promise<Step[]> {
  const log: Step[] = [];
  let now = start;
  const clock = () => now;
  const tick = (s: number) => (now += s);
  const say = (s: string) => ctx.out(s);
  const key = (label: string) => (seed === undefined ? randomSecretKey() : seededSecretKey(seed, label));

  // The readers and clearing keep SQLite databases: without the driver, say so before the story starts.
  loadSqliteDriver('reader');

  // ------------------------------------------------------------------ 1. issuance
  say('1. The issuer certifies a phone wallet and three readers.');
  const issuerDir = join(workDir, 'issuer');
  saveIssuer(issuerDir, Issuer.fromSecret(1, 1, key('issuer'), now - 86400, now + 730 * 86400));
  const issuer = loadIssuer(issuerDir);
  const issuerKeys = issuer.keySet();
  const wsk = key('alice');
  const walletCert = issuer.issueWalletCert(
    { walletPublicKey: publicKeyOf(wsk), expiryDay: dayOf(now) + 30, maxPerPayment: 20_000, offlineAllowance: 50_000, currency: HKD },
    now,
  );
  saveWallet(join(workDir, 'alice'), wsk, walletCert);
  const makeReader = (name: string, readerId: number, operatorId: number, profile: 'vending' | 'transit') => {
    const sk = key(name);
    saveReader(join(workDir, name), sk, issuer.issueReaderCert({ readerId, readerPublicKey: publicKeyOf(sk), operatorId, profile, notBefore: now - 60, notAfter: now + 365 * 86400 }, now));
  };
  makeReader('vending-4201', 4201, 90, 'vending');
  makeReader('gate-5001', 5001, 77, 'transit');
  makeReader('gate-5002', 5002, 77, 'transit');
  const alice: Wallet = loadWallet(join(workDir, 'alice'), clock);
  say(`   wallet ${toHex(alice.walletId)}: HKD, up to 200.00 a payment, 500.00 offline; vending machine 4201 (merchant 90); gates 5001 and 5002 (operator 77)`);
  log.push({ step: 'issuance', walletId: toHex(alice.walletId) });

  const vending = await openReader(join(workDir, 'vending-4201'), issuerKeys, clock);
  const gateA = await openReader(join(workDir, 'gate-5001'), issuerKeys, clock, 1100);
  const gateB = await openReader(join(workDir, 'gate-5002'), issuerKeys, clock, 1100);
  const clearing = new Clearing({ issuerKeys, path: join(workDir, 'clearing.db'), feeBps: 150, clock });
  const first = await clearing.issueBlocklist(issuer, now);
  for (const r of [vending, gateA, gateB]) r.loadBlocklist(first.bytes);
  say(`   clearing signs blocklist version ${first.version} (empty) and every reader loads it before going offline`);
  await loadQrEngineNode();

  // ------------------------------------------------------------------ 2. vending over sound
  say('');
  say('2. A vending machine, paid over sound. Nobody is online.');
  const { bytes: reqBytes } = vending.openRequest({ amount: 1250, currency: HKD, now });
  const reqCode = await encodeCode(reqBytes, { kind: 'request', ecc: 'M' });
  const shot = shoot(reqCode.matrix, { width: 640, height: 480, pixelsPerModule: 5, rotationDeg: 8, perspective: 0.06, blurModules: 0.2, noise: 8, glare: 50 }, 7);
  const scanned = await decodeCode(shot.frame, { expect: 'request' });
  say(`   the machine shows its signed request for HKD 12.50 as a QR code (version ${reqCode.qrVersion}-M, ${reqBytes.length} bytes); the phone's camera reads it at an angle`);
  tick(4);
  const token1 = await alice.pay(scanned.payload, { issuerKeys });
  const tx = fskEncode(token1, { profile: 'fast', sampleRate: 48_000 });
  say(`   the phone checks the machine's certificate and signature, signs a ${token1.length}-byte token, and plays it: ${(tx.length / 48_000).toFixed(2)} s of multi-tone FSK ('fast' profile)`);
  const air = simulate(tx, 48_000, { seed: 11, snrDb: 12, noise: 'pink', rt60: 0.3, drrDb: 10, bandLowHz: 300, bandHighHz: 12_000, clockOffset: 0.002, outRate: 44_100, leadIn: 0.4 });
  const rx = new FskReceiver({ sampleRate: air.rate });
  let heard: Uint8Array | undefined;
  let diag: Record<string, unknown> = {};
  for (let i = 0; i < air.samples.length && !heard; i += 128) {
    for (const e of rx.push(air.samples.subarray(i, i + 128))) {
      if (e.type === 'frame') diag = { snrDb: e.frame.diagnostics.snrDb, clockOffsetPpm: e.frame.diagnostics.clockOffsetPpm, bytesCorrected: e.frame.diagnostics.bytesCorrected };
      if (e.type === 'message') heard = e.payload;
    }
  }
  if (!heard) {
    const r = fskDecode(air.samples, air.rate);
    heard = r.messages[0];
  }
  if (!heard) throw new OffpayError('demo.fsk_failed', 'the vending machine did not hear the token');
  say(`   the machine's cheap microphone (44.1 kHz, 128-sample blocks, pink noise at 12 dB SNR, a small reverberant room, +0.2% clock offset) hears it: SNR estimate ${Number(diag.snrDb).toFixed(1)} dB, clock offset ${Math.round(Number(diag.clockOffsetPpm))} ppm, ${String(diag.bytesCorrected)} bytes corrected`);
  const v1 = await vending.accept(heard); // judged against the machine's one open request
  say(`   reader: ${verdictLine(v1)}`);
  if (!v1.accepted) throw new OffpayError('demo.unexpected', 'the vending machine refused a good token');
  vending.complete(v1.tokenHash);
  say('   the machine drops a can and marks the sale complete (which closes the request); its journal commits before the can falls');
  const v1again = await vending.accept(heard);
  say(`   someone recorded the sound and plays it again: ${verdictLine(v1again)}`);
  if (v1again.accepted) throw new OffpayError('demo.unexpected', 'a replayed recording vended again');
  log.push({ step: 'vending-over-sound', accepted: v1.accepted, tokenBytes: token1.length, audioSeconds: tx.length / 48_000, ...diag });

  // ------------------------------------------------------------------ 3. gate by QR, and a replay
  say('');
  say('3. A transit gate that only has a scanner: the phone shows a one-way token as a QR code.');
  tick(600);
  const token2 = await alice.payTo({ payee: 77, amount: 1100 });
  const tokCode = await encodeCode(token2, { kind: 'token', ecc: 'M' });
  const screen = shoot(tokCode.matrix, { width: 1280, height: 720, pixelsPerModule: 6, rotationDeg: 14, perspective: 0.08, blurModules: 0.25, noise: 10, jpegQuality: 60 }, 3);
  const read2 = await decodeCode(screen.jpeg ?? screen.frame, { expect: 'token' });
  const v2 = await gateA.accept(read2.payload, { fare: { amount: 1100, currency: HKD }, complete: true });
  say(`   token for operator 77, fare HKD 11.00, counter ${decodeToken(token2).counter}: QR version ${tokCode.qrVersion}-M, read from a tilted, blurred JPEG frame`);
  say(`   gate 5001: ${verdictLine(v2)}`);
  tick(20);
  const v2b = await gateA.accept(read2.payload, { fare: { amount: 1100, currency: HKD }, complete: true });
  say(`   someone photographs the phone's screen and shows the same code again: ${verdictLine(v2b)}`);
  log.push({ step: 'gate-qr', accepted: v2.accepted, replay: v2b.accepted ? 'accepted' : v2b.reason });

  // ------------------------------------------------------------------ 4. gate over NFC
  say('');
  say('4. A gate with an NFC antenna: the phone is an ISO 7816-4 card (host card emulation), the gate a PC/SC reader.');
  tick(900);
  const gb = loadReader(join(workDir, 'gate-5002'));
  const { request: gateReq, bytes: gateReqBytes } = gateB.openRequest({ amount: 1100, currency: HKD, now });
  let aliceToken: Uint8Array | undefined;
  let receiptOk = false;
  const card = new CardApplication({
    getToken: async (reqB) => (aliceToken = await alice.pay(reqB, { issuerKeys })),
    receipt: async (r) => {
      verifyReceipt(r, gb.cert.readerPublicKey, aliceToken!);
      receiptOk = true;
    },
  });
  const nfc = await transact(memoryLink(card), {
    request: gateReqBytes,
    verify: async (tok) => {
      const verdict = await gateB.accept(tok, { request: gateReq, complete: true });
      return { verdict, receipt: gateB.receipt(verdict) };
    },
  });
  const at = airTime(nfc.trace);
  say(`   SELECT, GET TOKEN (the gate's signed request goes to the card), verify, PUT RECEIPT: ${nfc.stats.roundTrips} round trips, ${nfc.stats.bytesSent + nfc.stats.bytesReceived} bytes, ~${at.ms.toFixed(0)} ms of air time at 106 kbit/s`);
  say(`   gate 5002: ${verdictLine(nfc.verdict)}; the phone checks the gate's signed receipt: ${receiptOk ? 'valid' : 'missing'}`);
  log.push({ step: 'gate-nfc', accepted: nfc.verdict.accepted, roundTrips: nfc.stats.roundTrips, receipt: receiptOk });

  // ------------------------------------------------------------------ 5. a cloned wallet
  say('');
  say("5. Mallory copies Alice's wallet directory (key, certificate, counter) onto another phone.");
  cpSync(join(workDir, 'alice'), join(workDir, 'clone'), { recursive: true });
  const clone = loadWallet(join(workDir, 'clone'), clock);
  const fare = { fare: { amount: 1100, currency: HKD }, complete: true };
  tick(3600);
  const tA = await alice.payTo({ payee: 77, amount: 1100 });
  const vA = await gateA.accept(tA, fare);
  tick(40);
  const tB = await clone.payTo({ payee: 77, amount: 1100 });
  const vB = await gateA.accept(tB, fare);
  say(`   Alice taps gate 5001 with counter ${decodeToken(tA).counter}: ${verdictLine(vA)}`);
  say(`   the clone taps the same gate with its own counter ${decodeToken(tB).counter}: ${verdictLine(vB)}`);
  tick(300);
  const tB2 = await clone.payTo({ payee: 77, amount: 1100 });
  const vB2 = await gateB.accept(tB2, fare);
  tick(200);
  const tA2 = await alice.payTo({ payee: 77, amount: 1100 });
  const vA2 = await gateA.accept(tA2, fare);
  say(`   the clone moves to gate 5002 with counter ${decodeToken(tB2).counter}: ${verdictLine(vB2)}`);
  say(`   Alice, back at gate 5001, also signs counter ${decodeToken(tA2).counter}: ${verdictLine(vA2)}`);
  say('   one counter spent at two readers: offline, neither gate can know');
  log.push({ step: 'clone', sameReader: vB.accepted ? 'accepted' : vB.reason, gateB: vB2.accepted, gateA: vA2.accepted });

  // ------------------------------------------------------------------ 6. clearing
  say('');
  say('6. At night the readers come online and sync with the clearing service over HTTP: signed, hash-chained batches up, the newest signed blocklist down.');
  tick(8 * 3600);
  const operatorToken = randomBytes(32).toString('hex');
  const server = createClearingServer({ clearing, issuer, operatorToken, clock, blocklistCheckSeconds: 0 });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  let report: Record<string, unknown>;
  try {
    say(`   offpay clearing serve (embedded SQLite) listens on ${url}`);
    const syncOne = async (r: Reader) => {
      const s = await syncReader(r, { url, now, issuerKeys });
      for (const b of s.sent) {
        say(`   reader ${r.readerId} sync: batch ${b.batchSeq} ${b.outcome}, ${b.entries} journal entr${b.entries === 1 ? 'y' : 'ies'}, tokens re-verified${b.doubleSpends ? `, ${b.doubleSpends} double spend${b.doubleSpends === 1 ? '' : 's'} found` : ''}; blocklist version ${s.blocklist.version}${s.blocklist.loaded ? ' loaded' : ' already held'}`);
      }
      return s;
    };
    for (const r of [vending, gateB, gateA]) await syncOne(r);
    const again = await fetch(`${url}/v1/batches`, { method: 'POST', headers: { 'content-type': 'application/cbor' }, body: gateB.exportBatch(1).bytes as Uint8Array<ArrayBuffer> });
    say(`   the gate 5002 batch arrives twice: ${String(((await again.json()) as { outcome: string }).outcome)}`);
    const ds = await clearing.doubleSpends();
    for (const d of ds) {
      say(`   DOUBLE SPEND (${d.kind}): wallet ${d.walletId.slice(0, 8)}… counter ${d.counter} ${d.first.readerId === d.second.readerId ? `twice at reader ${d.first.readerId} (refused there)` : `at readers ${d.first.readerId} and ${d.second.readerId}`}; both signed tokens kept as evidence, the wallet blocked`);
    }
    if (!ds.length) throw new OffpayError('demo.unexpected', 'clearing found no double spend');
    const b = await syncOne(gateB); // gate 5002 synced before gate 5001's batch revealed the clone
    const list = { version: b.blocklist.version, entries: (await clearing.blockedWalletIds()).length };
    say(`   gate 5002 syncs again: blocklist version ${list.version} (${list.entries} wallet${list.entries === 1 ? '' : 's'}) ${b.blocklist.loaded ? 'loaded' : 'already held'}`);

    tick(600);
    const tLate = await clone.payTo({ payee: 77, amount: 1100 });
    const vLate = await gateB.accept(tLate, fare);
    say(`   the next morning the clone taps gate 5002 with counter ${decodeToken(tLate).counter}: ${verdictLine(vLate)}`);
    log.push({ step: 'clearing', doubleSpends: ds.length, blocklistVersion: list.version, afterBlocklist: vLate.accepted ? 'accepted' : vLate.reason });

    // A refund: merchant 90's till (here the vending machine's own reader key and certificate) signs it.
    tick(60);
    const till = loadReader(join(workDir, 'vending-4201'));
    const signer = { readerCert: till.cert, secretKey: till.secretKey };
    const saleHash = sha256(token1);
    const postRefund = async (bytes: Uint8Array) =>
      (await (await fetch(`${url}/v1/refunds`, { method: 'POST', headers: { 'content-type': 'application/cbor' }, body: bytes as Uint8Array<ArrayBuffer> })).json()) as { outcome: string; reason: string | null };
    const refund = createRefund(signer, { tokenHash: saleHash, amount: 500, currency: HKD, time: now });
    const refundAnswer = await postRefund(refund.bytes);
    const payment = (await (await fetch(`${url}/v1/payments/${toHex(saleHash)}`)).json()) as { state: string; amount: string; refund?: { amount: number | string } };
    const twice = await postRefund(createRefund(signer, { tokenHash: saleHash, amount: 750, currency: HKD, time: now + 1 }).bytes);
    say('');
    say(`7. The can came out dented: merchant 90 gives HKD 5.00 back, a refund signed by its certified till key (message 10, ${refund.bytes.length} bytes).`);
    say(`   POST /v1/refunds: ${refundAnswer.outcome}${refundAnswer.reason ? ` (${refundAnswer.reason})` : ''}; GET /v1/payments/${toHex(saleHash).slice(0, 8)}… now says ${payment.state}: ${formatMoney(BigInt(payment.refund?.amount ?? 0), HKD)} of ${formatMoney(BigInt(payment.amount), HKD)}`);
    say(`   a second refund of the same sale (HKD 7.50 more): ${twice.outcome === 'rejected' ? `REFUSED ${twice.reason ?? ''}` : twice.outcome.toUpperCase()}: a token is refunded at most once, never above its charge`);
    log.push({ step: 'refund', outcome: refundAnswer.outcome, state: payment.state, second: twice.reason });
    const r = await fetch(`${url}/v1/report`, { headers: { authorization: `Bearer ${operatorToken}` } });
    report = (await r.json()) as Record<string, unknown>;
  } finally {
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  // ------------------------------------------------------------------ 8. settlement
  say('');
  say('8. Settlement per merchant and currency (fee 1.50% of gross, not given back on refunds), from GET /v1/report with the operator credential:');
  const settlement = report.settlement as { operatorId: number; currency: number; count: number; gross: string; fee: string; refunded: string; net: string }[];
  for (const s of settlement) {
    const refunded = BigInt(s.refunded) > 0n ? `, refunded ${formatMoney(BigInt(s.refunded), s.currency)}` : '';
    say(`   operator ${String(s.operatorId).padEnd(4)} ${s.count} payment${s.count === 1 ? '' : 's'}, gross ${formatMoney(BigInt(s.gross), s.currency)}, fee ${formatMoney(BigInt(s.fee), s.currency)}${refunded}, net ${formatMoney(BigInt(s.net), s.currency)}`);
  }
  for (const c of report.refunds as { walletId: string; amount: string; currency: number }[]) {
    say(`   the issuer credits wallet ${c.walletId.slice(0, 8)}… ${formatMoney(BigInt(c.amount), c.currency)} (the refund list it reads)`);
  }
  const chains = [vending, gateA, gateB].map((r) => r.verifyJournal());
  say(`   every reader's journal chain verifies: ${chains.every((c) => c.ok) ? 'yes' : 'NO'}`);
  log.push({ step: 'settlement', settlement });
  await clearing.close();
  for (const r of [vending, gateA, gateB]) r.store.close();
  return log;
}

const demo: Command = {
  name: 'demo',
  summary: 'the end-to-end story: vending over sound, gates over QR and NFC, a replay, a cloned wallet caught at clearing, a refund',
  usage: '[--dir DIR] [--seed SEED] [--keep]',
  options: {
    dir: { type: 'string', arg: 'DIR', help: 'working directory for keys and databases (default: a fresh temporary one)' },
    seed: { type: 'string', arg: 'SEED', help: 'derive every key from SEED (reproducible runs)' },
    keep: { type: 'boolean', help: 'keep the temporary working directory' },
    now: { type: 'string', arg: 'TIME', help: 'start clock, unix seconds or ISO 8601 (default: now)' },
  },
  async run(ctx) {
    const dir = ctx.opt('dir') ?? mkdtempSync(join(tmpdir(), 'offpay-demo-'));
    try {
      const log = await runDemo(ctx, dir, ctx.opt('seed'), parseNow(ctx.opt('now')));
      ctx.out('');
      ctx.out(`Done. Keys, wallets and reader databases are in ${ctx.opt('dir') || ctx.flag('keep') ? dir : '(a temporary directory, removed)'}.`);
      ctx.emit({ ok: true, dir, steps: log });
    } finally {
      if (!ctx.opt('dir') && !ctx.flag('keep')) rmSync(dir, { recursive: true, force: true });
    }
    return EXIT_OK;
  },
};

export const commands: Command[] = [demo];
