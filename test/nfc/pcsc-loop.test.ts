/**
 * The real loop: reader session -> @pokusew/pcsclite -> pcscd -> vpcd driver -> TCP -> virtual card (our card
 * application in this process). Starts pcscd when none is running and stops it afterwards. Fails (does not
 * skip) under CI=true when pcscd, vpcd or the native addon is missing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CardApplication } from '../../codecs/nfc/card.js';
import { openPcscCard, type PcscCard } from '../../codecs/nfc/pcsc.js';
import { airTime, transact, ReaderSession } from '../../codecs/nfc/session.js';
import { startVirtualCard, type VirtualCard, type VirtualCardOptions } from '../../codecs/nfc/vpcd.js';
import { ensurePcscd, missingForLoop, type Pcscd } from './pcscd.js';
import { asyncCodeOf, fakeToken, runCli, testWallet, toHex, type TestWallet } from './helpers.js';
import { commands as nfcCommands } from '../../src/cli/commands/nfc.js';
import { commands as coreCommands } from '../../src/cli/commands/core.js';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const missing = await missingForLoop();
const inCi = process.env.CI === 'true';
if (missing.length && !inCi) console.warn(`skipping the PC/SC loop tests: missing ${missing.join(', ')}`);

const READER = 'Virtual PCD 00 00';
const request = Uint8Array.from({ length: 64 }, (_, i) => (i * 5) & 0xff);

describe.skipIf(missing.length > 0 && !inCi)('NFC over a real PC/SC stack (pcscd + vpcd)', () => {
  let daemon: Pcscd | undefined;
  const open: Array<{ vc?: VirtualCard; pc?: PcscCard }> = [];

  beforeAll(async () => {
    if (missing.length) throw new Error(`CI=true and the PC/SC loop cannot run: missing ${missing.join(', ')}`);
    daemon = await ensurePcscd();
  });

  afterAll(async () => {
    for (const o of open) {
      await o.vc?.close();
      await o.pc?.close();
    }
    await daemon?.stop();
  });

  /** Insert a virtual card running `wallet`, wait for PC/SC to see it, connect. */
  async function present(wallet: TestWallet, cardOpts: ConstructorParameters<typeof CardApplication>[1] = {}, vcOpts: VirtualCardOptions = {}) {
    // a previous test that failed half-way may have left its card in the reader
    for (const prev of open) if (prev.vc?.inserted && prev.pc) await remove({ vc: prev.vc, pc: prev.pc });
    const card = new CardApplication(wallet, cardOpts);
    const entry: { vc?: VirtualCard; pc?: PcscCard } = {};
    open.push(entry);
    entry.vc = await startVirtualCard(card, vcOpts);
    entry.pc = await openPcscCard({ reader: READER, timeoutMs: 15_000 });
    return { card, vc: entry.vc, pc: entry.pc };
  }
  /** Take the card away and wait until pcscd has seen it leave (pcscd polls vpcd about every 0.4 s). */
  async function remove(o: { vc: VirtualCard; pc: PcscCard }) {
    await o.vc.close();
    await o.pc.waitForRemoval();
  }

  it('no pcscd on the socket -> nfc.pcsc_error at once (the addon would otherwise freeze the process)', async () => {
    const saved = process.env.PCSCLITE_CSOCK_NAME;
    process.env.PCSCLITE_CSOCK_NAME = join(tmpdir(), `offpay-no-pcscd-${process.pid}.comm`);
    try {
      expect(await asyncCodeOf(openPcscCard({ timeoutMs: 2000 }))).toBe('nfc.pcsc_error');
    } finally {
      if (saved === undefined) delete process.env.PCSCLITE_CSOCK_NAME;
      else process.env.PCSCLITE_CSOCK_NAME = saved;
    }
  });

  it('SELECT, GET TOKEN (+GET RESPONSE), verify, receipt with short APDUs: 3 round trips, within the air-time budget', async () => {
    const wallet = testWallet(300);
    const o = await present(wallet);
    expect(toHex(o.pc.atr)).toBe('3b80800101');
    const verified: Uint8Array[] = [];
    const r = await transact(o.pc.link, {
      request,
      verify: async (token) => {
        verified.push(token);
        return { verdict: 'accepted', receipt: Uint8Array.of(0xa1, 0x01) };
      },
    });
    await remove(o);
    expect(r.token).toEqual(fakeToken(request, 300));
    expect(verified).toEqual([r.token]);
    expect(wallet.requests).toEqual([request]);
    expect(wallet.receipts.map(toHex)).toEqual(['a101']);
    expect(r.receiptSent).toBe(true);
    const tokenPhase = r.trace.slice(0, 3);
    expect(tokenPhase.map((e) => toHex(e.command.subarray(0, 4)))).toEqual(['00a40400', '80100000', '00c00000']);
    expect(r.trace.length - 1).toBeLessThanOrEqual(3);
    expect(r.stats).toEqual({ roundTrips: 4, bytesSent: 96, bytesReceived: 336 });
    const t = airTime(tokenPhase);
    expect(t.bytes).toBe(447);
    expect(t.ms).toBeLessThanOrEqual(40);
    console.log(`PC/SC loop, short APDUs: ${r.stats.roundTrips} round trips, ${r.stats.bytesSent} B sent, ${r.stats.bytesReceived} B received; air time ${t.ms.toFixed(1)} ms at 106 kbit/s`);
  });

  it('extended length when both sides advertise it: 2 round trips for the token; chained 600-byte request', async () => {
    const wallet = testWallet(280);
    const o = await present(wallet);
    const r = await transact(o.pc.link, { request, extendedLength: true, verify: async () => ({ verdict: 1 }) });
    await remove(o);
    expect(r.trace).toHaveLength(2);
    expect(r.token).toEqual(fakeToken(request, 280));
    expect(r.trace[1]!.response.length).toBe(282);

    const big = Uint8Array.from({ length: 600 }, (_, i) => i & 0xff);
    const w2 = testWallet(250);
    const o2 = await present(w2);
    const r2 = await transact(o2.pc.link, { request: big, verify: async () => ({ verdict: 1 }) });
    await remove(o2);
    expect(w2.requests).toEqual([big]);
    expect(r2.trace.map((e) => e.command[0])).toEqual([0x00, 0x90, 0x90, 0x80]);
    expect(r2.token).toEqual(fakeToken(big, 250));
  });

  it('card pulled mid-exchange -> nfc.card_lost; refusals arrive as status words', async () => {
    const o = await present(testWallet(300), {}, { onCommand: (apdu) => apdu[1] !== 0xc0 }); // vanish on GET RESPONSE
    const s = new ReaderSession(o.pc.link);
    await s.select();
    expect(await asyncCodeOf(s.getToken(request))).toBe('nfc.card_lost');
    expect(s.trace.at(-1)!.response.length).toBe(0);
    await remove(o);

    const o2 = await present(testWallet(300), { aid: Uint8Array.of(0xf0, 1, 2, 3, 4, 5) });
    expect(await asyncCodeOf(new ReaderSession(o2.pc.link).select())).toBe('nfc.not_offpay');
    await remove(o2);
  });
  it('one phone, two applications through PC/SC: the NDEF tag (Web NFC view) and the offpay application', async () => {
    const { AidRouter, NDEF_TAG_AID, NdefTagApplication, readNdefTag } = await import('../../codecs/nfc/t4t.js');
    const { OFFPAY_AID } = await import('../../codecs/nfc/card.js');
    const { encodeTokenNdef, decodeTokenNdef } = await import('../../codecs/nfc/ndef.js');
    for (const prev of open) if (prev.vc?.inserted && prev.pc) await remove({ vc: prev.vc, pc: prev.pc });
    const shown = fakeToken(Uint8Array.of(7), 250);
    const wallet = testWallet(300);
    const router = new AidRouter([
      { aid: OFFPAY_AID, app: new CardApplication(wallet) },
      { aid: NDEF_TAG_AID, app: new NdefTagApplication(encodeTokenNdef(shown), { mle: 0x3b }) },
    ]);
    const entry: { vc?: VirtualCard; pc?: PcscCard } = {};
    open.push(entry);
    entry.vc = await startVirtualCard(router);
    entry.pc = await openPcscCard({ reader: READER, timeoutMs: 15_000 });
    expect(decodeTokenNdef(await readNdefTag(entry.pc.link))).toEqual(shown);
    const r = await transact(entry.pc.link, { request, verify: async () => ({ verdict: 1 }) });
    expect(r.token).toEqual(fakeToken(request, 300));
    await remove({ vc: entry.vc, pc: entry.pc });
  });

  it('back-to-back taps: the next card right after the previous one left (stale presence is retried, not paid twice)', async () => {
    for (const prev of open) if (prev.vc?.inserted && prev.pc) await remove({ vc: prev.vc, pc: prev.pc });
    const { serveCardOverVpcd, readTokenOverPcsc } = await import('../../codecs/nfc/node.js');
    const sizes = [220, 260, 300];
    const wallets = sizes.map((n) => testWallet(n));
    for (const [i, w] of wallets.entries()) {
      const served = await serveCardOverVpcd(w);
      open.push({ vc: served });
      const r = await readTokenOverPcsc(request, async () => ({ verdict: 'ok' }), { reader: READER, timeoutMs: 15_000 });
      await served.close(); // the phone leaves at once; the next one arrives immediately
      expect(r.token).toEqual(fakeToken(request, sizes[i]!));
    }
    expect(wallets.map((w) => w.requests.length)).toEqual([1, 1, 1]);
  });

  it('offpay nfc card + offpay nfc read: a real wallet pays a real reader through pcscd, receipt verified by the wallet', async () => {
    for (const prev of open) if (prev.vc?.inserted && prev.pc) await remove({ vc: prev.vc, pc: prev.pc });
    const dir = mkdtempSync(join(tmpdir(), 'offpay-nfc-e2e-'));
    const now = '1790000000';
    expect((await runCli(coreCommands, 'issuer init', ['--dir', join(dir, 'issuer'), '--seed', 'nfc-i', '--now', now])).code).toBe(0);
    expect(
      (await runCli(coreCommands, 'wallet new', ['--issuer', join(dir, 'issuer'), '--out', join(dir, 'wallet'), '--seed', 'nfc-w', '--now', now])).code,
    ).toBe(0);
    expect(
      (await runCli(coreCommands, 'reader new', ['--issuer', join(dir, 'issuer'), '--id', '77', '--out', join(dir, 'reader'), '--seed', 'nfc-r', '--now', now]))
        .code,
    ).toBe(0);
    const cardRun = runCli(nfcCommands, 'nfc card', ['--wallet', join(dir, 'wallet'), '--issuer', join(dir, 'issuer'), '--timeout', '30', '--now', now, '--json']);
    const readRun = await runCli(nfcCommands, 'nfc read', [
      '--reader', join(dir, 'reader'), '--issuer', join(dir, 'issuer'), '--amount', '12.50', '--currency', 'HKD',
      '--pcsc-reader', READER, '--timeout', '20', '--now', now, '--json',
    ]);
    const cardDone = await cardRun;
    expect(readRun.err).toBe('');
    expect(readRun.code).toBe(0);
    const verdict = JSON.parse(readRun.out);
    expect(verdict).toMatchObject({ accepted: true, amount: 1250, currency: 344, counter: 1 });
    expect(verdict.link.receiptSent).toBe(true);
    expect(verdict.link.roundTrips).toBeLessThanOrEqual(4);
    expect(verdict.link.apdus.slice(0, 2).map((a: { sw: string }) => a.sw)).toEqual(['9000', '9000']);
    expect(cardDone.code).toBe(0);
    const card = JSON.parse(cardDone.out);
    expect(card.events.map((e: { event: string }) => e.event)).toEqual(['paid', 'receipt']);
    expect(card.events[1]).toMatchObject({ outcome: 'accepted', readerId: 77 });
    // the Web NFC view of a token: offpay nfc ndef encode -> nfc tag serve -> nfc tag read -> nfc ndef decode
    writeFileSync(join(dir, 'token.cbor'), fakeToken(Uint8Array.of(3), 230));
    expect((await runCli(nfcCommands, 'nfc ndef encode', ['--in', join(dir, 'token.cbor'), '--out', join(dir, 'msg.ndef')])).code).toBe(0);
    const serving = runCli(nfcCommands, 'nfc tag serve', ['--in', join(dir, 'msg.ndef'), '--timeout', '20', '--json']);
    const tagRead = await runCli(nfcCommands, 'nfc tag read', ['--out', join(dir, 'read.ndef'), '--pcsc-reader', READER, '--timeout', '20']);
    expect(tagRead.err).toBe('');
    expect(tagRead.code).toBe(0);
    expect(JSON.parse((await serving).out)).toMatchObject({ ok: true, reads: 1 });
    expect((await runCli(nfcCommands, 'nfc ndef decode', ['--in', join(dir, 'read.ndef'), '--out', join(dir, 'back.cbor')])).code).toBe(0);
    expect(readFileSync(join(dir, 'back.cbor'))).toEqual(readFileSync(join(dir, 'token.cbor')));
    console.log(`offpay nfc read/card: ${verdict.link.roundTrips} round trips, ${verdict.link.bytesSent} B sent, ${verdict.link.bytesReceived} B received, air time (SELECT+GET TOKEN) ${verdict.link.airTimeMs} ms`);

    // the same wallet refuses an amount over its per-payment limit: 6985 on the wire, nfc.refused at the gate
    const refusedCard = runCli(nfcCommands, 'nfc card', ['--wallet', join(dir, 'wallet'), '--timeout', '3', '--now', now, '--json']);
    const refused = await runCli(nfcCommands, 'nfc read', [
      '--reader', join(dir, 'reader'), '--issuer', join(dir, 'issuer'), '--amount', '100000', '--currency', 'HKD',
      '--pcsc-reader', READER, '--timeout', '20', '--now', now, '--json',
    ]);
    expect(refused.code).toBe(2);
    expect(JSON.parse(refused.out)).toMatchObject({ ok: false, error: 'nfc.refused', detail: { sw: '6985', command: 'GET TOKEN' } });
    const cardAfter = await refusedCard;
    expect(cardAfter.code).toBe(2);
    expect(JSON.parse(cardAfter.out)).toMatchObject({ ok: false, error: 'nfc.no_payment', detail: { events: [{ event: 'refused', error: 'wallet.over_payment_limit' }] } });
  });
});
