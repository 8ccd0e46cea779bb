/**
 * From an attack review of the NFC area (codecs/nfc/, src/cli/commands/nfc.ts; 2026-12-07): each test shows one
 * defect it found (they failed on the reviewed code). spec/nfc.md §3.4 (Type 4 Tag reading), §4.3 (one payment
 * per tap), §5 items 4 and 7, §7.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { OffpayError } from '../../base/errors.js';
import { encodeCommand, parseResponse } from '../../codecs/nfc/apdu.js';
import { CardApplication, OFFPAY_AID } from '../../codecs/nfc/card.js';
import { encodeTokenNdef } from '../../codecs/nfc/ndef.js';
import { memoryLink, transact, type CardLink } from '../../codecs/nfc/session.js';
import { readNdefTag } from '../../codecs/nfc/t4t.js';
import { commands as nfcCommands } from '../../src/cli/commands/nfc.js';
import { commands as coreCommands } from '../../src/cli/commands/core.js';
import { loadIssuerKeys, loadReader, loadWallet } from '../../src/node/files.js';
import { createRequest } from '../../src/request.js';
import { fakeVpcd, fileTag, runCli } from './helpers.js';
import type { PcscCard } from '../../codecs/nfc/pcsc.js';

/** A PC/SC stand-in for `offpay nfc read`: openPcscCard is replaced by the test (the rest of pcsc.js is real). */
const pcscMock = vi.hoisted(() => ({ open: undefined as undefined | (() => Promise<unknown>) }));
vi.mock('../../codecs/nfc/pcsc.js', async (importOriginal) => {
  const actual = await importOriginal<typeof import('../../codecs/nfc/pcsc.js')>();
  return { ...actual, openPcscCard: () => pcscMock.open!() };
});

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s/g, ''), 'hex'));
const FCI = '6f1a8408f04f464650415901a50e8001018101038202100083020400';


describe('NFC attack review', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  // spec/nfc.md §7: nfc.bad_response = "GET TOKEN returned no data / PUT RECEIPT returned data".
  it('PUT RECEIPT answered with data is nfc.bad_response (it was nfc.response_too_large: the check could not be reached)', async () => {
    let n = 0;
    const link: CardLink = {
      transmit: async () => hex([FCI + '9000', 'aabbcc9000', '01029000'][Math.min(n++, 2)]!),
    };
    const r = await transact(link, {
      request: Uint8Array.of(1, 2, 3),
      verify: async () => ({ verdict: 1, receipt: Uint8Array.of(0xa1, 0x01) }),
    });
    expect(r.receiptSent).toBe(false);
    expect(r.receiptError?.code).toBe('nfc.bad_response');
  });

  // spec/nfc.md §3.4: the reader MUST check "version 2.x or 3.x, MLe >= 15, TLV 04 present, read access 00". A CC
  // with further TLVs after the NDEF File Control TLV (CCLEN > 15, e.g. NXP NTAG 424 DNA's default CC of 23 bytes
  // with a proprietary-file TLV 05) satisfies all of that, yet readNdefTag reads 15 bytes and rejects CCLEN.
  it('readNdefTag reads a tag whose CC is longer than 15 bytes (NTAG 424 DNA; it was nfc.bad_cc)', async () => {
    const cc = hex('0017 20 0100 00ff 0406 e104 0100 00 00 0506 e105 0080 82 83');
    const msg = encodeTokenNdef(Uint8Array.from({ length: 200 }, (_, i) => i & 0xff));
    const ndefFile = new Uint8Array(0x100);
    ndefFile[0] = msg.length >> 8;
    ndefFile[1] = msg.length & 0xff;
    ndefFile.set(msg, 2);
    const tag = fileTag(cc, ndefFile);
    const link: CardLink = { transmit: (a) => tag.process(a) };
    const out = await readNdefTag(link).catch((e: unknown) => (e instanceof OffpayError ? e.code : String(e)));
    expect(typeof out === 'string' ? out : 'read').toBe('read');
    expect(out).toEqual(msg);
  });

  // spec/nfc.md §7: nfc.status is a "card refusal by SW (§5 item 8)" with "the SW in detail.sw"; §3.4 names the T4T
  // reader's codes (nfc.not_ndef_tag, nfc.bad_cc incl. a short NLEN read, nfc.ndef_too_large). An empty tag (NLEN 0)
  // and a READ BINARY answering 9000 with no data before the end are both raised as nfc.status with no SW at all:
  // a C porter cannot know these codes from the spec.
  it('readNdefTag: an empty tag (NLEN 0) is nfc.empty_tag, an empty READ BINARY before the end nfc.bad_response (both were nfc.status with no status word)', async () => {
    const cc = hex('000f 20 00ff 00ff 0406 e104 0100 00 ff');
    const results: Array<{ code: string; sw: unknown }> = [];
    // an empty tag (NLEN 0), and a tag whose NLEN says 16 bytes but whose file ends right after NLEN
    for (const ndefFile of [hex('0000'), hex('0010')]) {
      const tag = fileTag(cc, ndefFile);
      try {
        await readNdefTag({ transmit: (a) => tag.process(a) });
        results.push({ code: 'ok', sw: undefined });
      } catch (e) {
        const err = e as OffpayError;
        results.push({ code: err.code, sw: err.detail?.sw });
      }
    }
    expect(results).toEqual([{ code: 'nfc.empty_tag', sw: undefined }, { code: 'nfc.bad_response', sw: undefined }]);
  });

  // spec/nfc.md §5 item 4: a reader MUST time-box every APDU [nfc.timeout]. readNdefTag (and so `offpay nfc tag
  // read`, which gives it the PC/SC link) has no time limit at all: a tag that never answers hangs the reader.
  it('readNdefTag time-boxes every APDU: a silent tag is nfc.timeout (it hung the reader for ever)', async () => {
    vi.useFakeTimers();
    const silent: CardLink = { transmit: () => new Promise<Uint8Array>(() => undefined) };
    let settled: string | undefined;
    readNdefTag(silent).then(
      () => (settled = 'ok'),
      (e: unknown) => (settled = e instanceof OffpayError ? e.code : String(e)),
    );
    await vi.advanceTimersByTimeAsync(10 * 60_000); // ten minutes of (fake) time
    expect(settled).toBe('nfc.timeout');
  });
});


describe('NFC attack review: offpay nfc card (the phone) against a hostile reader', () => {
  async function setup() {
    const dir = mkdtempSync(join(tmpdir(), 'offpay-nfc-review-'));
    const now = '1790000000';
    expect((await runCli(coreCommands, 'issuer init', ['--dir', join(dir, 'issuer'), '--seed', 'rv-i', '--now', now])).code).toBe(0);
    expect((await runCli(coreCommands, 'wallet new', ['--issuer', join(dir, 'issuer'), '--out', join(dir, 'wallet'), '--seed', 'rv-w', '--now', now])).code).toBe(0);
    expect((await runCli(coreCommands, 'reader new', ['--issuer', join(dir, 'issuer'), '--id', '77', '--out', join(dir, 'reader'), '--seed', 'rv-r', '--now', now])).code).toBe(0);
    const reader = loadReader(join(dir, 'reader'));
    const request = (amount: number) => createRequest(reader, { amount, currency: 344, time: Number(now) }).bytes;
    return { dir, now, request };
  }
  const SELECT = encodeCommand({ cla: 0, ins: 0xa4, p1: 4, p2: 0, data: OFFPAY_AID, ne: 256 });
  const getToken = (req: Uint8Array) => encodeCommand({ cla: 0x80, ins: 0x10, p1: 0, p2: 0, data: req, ne: 256 });

  // `offpay nfc card` documents "--keep: keep serving after a payment (default: leave the field after one)". Without
  // --keep the card still answers every SELECT + GET TOKEN of the same presentation: a hostile reader that never
  // sends a receipt nor resets the card collects one signed token per SELECT, draining the offline allowance.
  it('nfc card without --keep pays once: a second SELECT + GET TOKEN in the same presentation is declined with 6985 (it paid again)', async () => {
    const { dir, now, request } = await setup();
    const vpcd = await fakeVpcd();
    const run = runCli(nfcCommands, 'nfc card', [
      '--wallet', join(dir, 'wallet'), '--issuer', join(dir, 'issuer'), '--port', String(vpcd.port), '--timeout', '20', '--now', now, '--json',
    ]);
    const peer = await vpcd.card;
    const sws: string[] = [];
    for (const amount of [100_00, 100_00, 100_00]) {
      expect(parseResponse(await peer.transmit(SELECT)).sw).toBe(0x9000);
      const r = parseResponse(await peer.transmit(getToken(request(amount))));
      sws.push(r.sw.toString(16));
    }
    peer.control(0x00); // power off: the tap is over
    const res = await run;
    vpcd.close();
    const out = JSON.parse(res.out) as { payments?: number };
    // one tap, one payment: the 2nd and 3rd GET TOKEN must not yield tokens
    expect({ sws, payments: out.payments }).toEqual({ sws: ['9000', expect.not.stringMatching(/^(9000|61..)$/), expect.not.stringMatching(/^(9000|61..)$/)], payments: 1 });
  });

  // The wallet paid and the token left the card; then the link to vpcd drops (pcscd restarted, the reader
  // unplugged). `offpay nfc card` races `done` against `vc.removed` and reports nfc.no_payment (exit 2, "no
  // payment completed") although a payment was made: a user told so will pay again.
  it('nfc card exits 0 after it paid when the vpcd connection drops (it said nfc.no_payment)', async () => {
    const { dir, now, request } = await setup();
    const vpcd = await fakeVpcd();
    const run = runCli(nfcCommands, 'nfc card', [
      '--wallet', join(dir, 'wallet'), '--issuer', join(dir, 'issuer'), '--port', String(vpcd.port), '--timeout', '20', '--now', now, '--json',
    ]);
    const peer = await vpcd.card;
    expect(parseResponse(await peer.transmit(SELECT)).sw).toBe(0x9000);
    const r = parseResponse(await peer.transmit(getToken(request(12_50))));
    expect(r.sw).toBe(0x9000); // the token was delivered
    peer.sock.destroy();
    const res = await run;
    vpcd.close();
    const out = JSON.parse(res.out) as { ok: boolean; error?: string; payments?: number };
    expect({ code: res.code, ok: out.ok, error: out.error }).toEqual({ code: 0, ok: true, error: undefined });
  });
});

describe('NFC attack review: offpay nfc read (the gate)', () => {
  // spec/nfc.md §5 item 7: a reader "MUST wait for the card to leave before starting the next transaction with the
  // same card (PC/SC: waitForRemoval)". `offpay nfc read` never calls waitForRemoval (it does not pass
  // waitForRemovalMs to readTokenOverPcsc): it returns while the phone is still on the antenna, so a gate that runs
  // it again for the next passenger charges the same lingering phone a second time.
  it('nfc read waits for the card to leave, so a lingering phone is not charged twice', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'offpay-nfc-review-gate-'));
    const now = '1790000000';
    expect((await runCli(coreCommands, 'issuer init', ['--dir', join(dir, 'issuer'), '--seed', 'rv-i', '--now', now])).code).toBe(0);
    expect((await runCli(coreCommands, 'wallet new', ['--issuer', join(dir, 'issuer'), '--out', join(dir, 'wallet'), '--seed', 'rv-w', '--now', now])).code).toBe(0);
    expect((await runCli(coreCommands, 'reader new', ['--issuer', join(dir, 'issuer'), '--id', '77', '--out', join(dir, 'reader'), '--seed', 'rv-r', '--now', now])).code).toBe(0);
    const wallet = loadWallet(join(dir, 'wallet'));
    const issuerKeys = loadIssuerKeys(join(dir, 'issuer'));
    const phone = new CardApplication({ getToken: (req) => wallet.pay(req, { time: Number(now), issuerKeys }), receipt: async () => undefined });
    // The phone stays on the antenna until the gate waits for it to leave (the passenger walks through).
    let present = true;
    let waited = 0;
    pcscMock.open = async () => {
      if (!present) throw new OffpayError('nfc.no_card', 'no card presented');
      const card: PcscCard = {
        readerName: 'fake reader',
        atr: Uint8Array.of(0x3b, 0x80, 0x80, 0x01, 0x01),
        protocol: 2,
        link: memoryLink(phone),
        close: async () => undefined,
        waitForRemoval: async () => {
          waited++;
          present = false;
        },
      };
      return card;
    };
    const gate = () =>
      runCli(nfcCommands, 'nfc read', ['--reader', join(dir, 'reader'), '--issuer', join(dir, 'issuer'), '--amount', '12.50', '--currency', 'HKD', '--timeout', '2', '--now', now, '--json']);
    const first = await gate();
    expect(first.code).toBe(0); // accepted
    const second = await gate(); // the next passenger's turn
    expect({ waitedForRemoval: waited > 0, secondCharged: second.code === 0 }).toEqual({ waitedForRemoval: true, secondCharged: false });
  });
});
