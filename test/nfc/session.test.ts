import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { OffpayError, type ErrorCode } from '../../base/errors.js';
import { CardApplication } from '../../codecs/nfc/card.js';
import { ReaderSession, airTime, memoryLink, statusErrorCode, transact, type CardLink } from '../../codecs/nfc/session.js';
import { asyncCodeOf, fakeToken, hex, testWallet, toHex } from './helpers.js';

const request = Uint8Array.from({ length: 64 }, (_, i) => i);

async function pay(tokenLength: number, opts: { readerExt?: boolean; cardExt?: boolean; req?: Uint8Array } = {}) {
  const w = testWallet(tokenLength);
  const card = new CardApplication(w, { extendedLength: opts.cardExt ?? true });
  const link = memoryLink(card);
  const result = await transact(link, {
    request: opts.req ?? request,
    extendedLength: opts.readerExt ?? false,
    verify: async (token) => ({ verdict: token.length, receipt: Uint8Array.of(0x52, 0x43) }),
  });
  return { w, result };
}

describe('reader session over an in-memory link', () => {
  for (const n of [200, 256, 257, 300]) {
    it(`short APDUs: ${n}-byte token in <= 3 round trips before the receipt`, async () => {
      const { w, result } = await pay(n);
      expect(result.token).toEqual(fakeToken(request, n));
      expect(result.verdict).toBe(n);
      expect(result.receiptSent).toBe(true);
      expect(w.receipts.map(toHex)).toEqual(['5243']);
      const beforeReceipt = result.trace.length - 1;
      expect(beforeReceipt).toBe(n > 256 ? 3 : 2);
      expect(beforeReceipt).toBeLessThanOrEqual(3);
    });
  }

  it('extended length is used only when both ends advertise it', async () => {
    const both = await pay(300, { readerExt: true, cardExt: true });
    expect(both.result.trace.length - 1).toBe(2);
    expect(toHex(both.result.trace[1]!.command.subarray(0, 7))).toBe('80100000000040');
    const cardOnly = await pay(300, { readerExt: false, cardExt: true });
    expect(cardOnly.result.trace.length - 1).toBe(3);
    const readerOnly = await pay(300, { readerExt: true, cardExt: false });
    expect(readerOnly.result.trace.length - 1).toBe(3);
    expect(readerOnly.result.trace.every((e) => e.command.length <= 261)).toBe(true);
  });

  it('chains a request over 255 bytes in short mode, sends it whole in extended mode', async () => {
    const req = Uint8Array.from({ length: 600 }, (_, i) => (i * 3) & 0xff);
    const short = await pay(300, { req });
    expect(short.w.requests[0]).toEqual(req);
    expect(short.result.trace.slice(1, 4).map((e) => e.command[0])).toEqual([0x90, 0x90, 0x80]);
    expect(short.result.token).toEqual(fakeToken(req, 300));
    const ext = await pay(300, { req, readerExt: true });
    expect(ext.w.requests[0]).toEqual(req);
    expect(ext.result.trace.length).toBe(3);
  });

  it('counts round trips and bytes', async () => {
    const { result } = await pay(300);
    // SELECT 14/30, GET TOKEN 70/258, GET RESPONSE 5/46, PUT RECEIPT 7/2
    expect(result.trace.map((e) => [e.command.length, e.response.length])).toEqual([
      [14, 30],
      [70, 258],
      [5, 46],
      [7, 2],
    ]);
    expect(result.stats).toEqual({ roundTrips: 4, bytesSent: 96, bytesReceived: 336 });
  });

  it('does not send a receipt to a card that does not take one, and keeps the verdict if the receipt fails', async () => {
    const card = new CardApplication(testWallet(100, { receipt: false }));
    const r = await transact(memoryLink(card), { request, verify: async () => ({ verdict: 'ok', receipt: Uint8Array.of(1) }) });
    expect(r.receiptSent).toBe(false);
    expect(r.trace).toHaveLength(2);
    const card2 = new CardApplication(testWallet(100));
    const link = memoryLink(card2);
    const r2 = await transact(link, {
      request,
      verify: async () => {
        link.remove();
        return { verdict: 'accepted', receipt: Uint8Array.of(1) };
      },
    });
    expect(r2.verdict).toBe('accepted');
    expect(r2.receiptSent).toBe(false);
    expect(r2.receiptError?.code).toBe('nfc.card_lost');
  });

  it('maps card refusals to nfc.* codes', async () => {
    const cases: Array<[ErrorCode, string]> = [
      ['wallet.locked', 'nfc.card_locked'],
      ['request.time_too_old', 'nfc.request_unusable'],
      ['request.malformed', 'nfc.request_rejected'],
      ['wallet.over_offline_allowance', 'nfc.refused'],
      // a wallet written in plain JavaScript may throw a code no spec lists: the card still answers 6985
      ['wallet.insufficient_funds' as ErrorCode, 'nfc.refused'],
    ];
    for (const [walletCode, readerCode] of cases) {
      const card = new CardApplication(testWallet(100, { fail: new OffpayError(walletCode, 'no') }));
      const code = await asyncCodeOf(transact(memoryLink(card), { request, verify: async () => ({ verdict: 1 }) }));
      expect(code).toBe(readerCode);
    }
    expect(statusErrorCode(0x6f00)).toBe('nfc.status');
    const other = new CardApplication(testWallet(100), { aid: hex('f0010203040506') });
    expect(await asyncCodeOf(new ReaderSession(memoryLink(other)).select())).toBe('nfc.not_offpay');
  });

  it('card pulled mid-exchange -> nfc.card_lost, and the card state is reset', async () => {
    const card = new CardApplication(testWallet(300));
    const link = memoryLink(card);
    const s = new ReaderSession(link);
    await s.select();
    let n = 0;
    const flaky: CardLink = {
      transmit: async (a) => {
        if (++n === 2) link.remove(); // after GET TOKEN, before GET RESPONSE
        return link.transmit(a);
      },
    };
    const s2 = new ReaderSession(flaky);
    await s2.select();
    expect(await asyncCodeOf(s2.getToken(request))).toBe('nfc.card_lost');
    expect(card.state.selected).toBe(false);
    expect(card.state.pendingBytes).toBe(0);
  });

  it('refuses to GET TOKEN before SELECT or with bad requests', async () => {
    const card = new CardApplication(testWallet(300), { maxRequest: 100 });
    const s = new ReaderSession(memoryLink(card));
    expect(await asyncCodeOf(s.getToken(request))).toBe('nfc.not_selected');
    await s.select();
    expect(await asyncCodeOf(s.getToken(new Uint8Array(0)))).toBe('nfc.request_empty');
    expect(await asyncCodeOf(s.getToken(new Uint8Array(101)))).toBe('nfc.request_too_large');
  });
});

/** A scripted card: answers each command from a list (then the last entry forever). */
function scripted(...responses: string[]): CardLink {
  let i = 0;
  return { transmit: async () => hex(responses[Math.min(i++, responses.length - 1)]!) };
}
const FCI = '6f1a8408f04f464650415901a50e8001018101038202100083020400';

describe('reader session against misbehaving cards', () => {
  it('a 1-byte or 0-byte reply is card lost', async () => {
    expect(await asyncCodeOf(new ReaderSession(scripted('90')).select())).toBe('nfc.card_lost');
    expect(await asyncCodeOf(new ReaderSession(scripted('')).select())).toBe('nfc.card_lost');
  });
  it('61XX forever is capped', async () => {
    const s = new ReaderSession(scripted(FCI + '9000', 'aa6101'), { maxGetResponse: 10 });
    await s.select();
    expect(await asyncCodeOf(s.getToken(request))).toBe('nfc.get_response_loop');
    expect(s.trace.length).toBe(1 + 1 + 10);
  });
  it('a response larger than the cap is refused', async () => {
    const s = new ReaderSession(scripted(FCI + '9000', 'bb'.repeat(256) + '6100'), { maxResponse: 1000 });
    await s.select();
    expect(await asyncCodeOf(s.getToken(request))).toBe('nfc.response_too_large');
    // a token larger than the card's advertised maxToken (4096) is refused too
    const s2 = new ReaderSession(scripted(FCI + '9000', 'bb'.repeat(256) + '6100'), { maxResponse: 1 << 20, maxGetResponse: 100 });
    await s2.select();
    expect(await asyncCodeOf(s2.getToken(request))).toBe('nfc.response_too_large');
  });
  it('6CXX is followed once, twice is an error', async () => {
    const ok = new ReaderSession(scripted('6c1c', FCI + '9000'));
    expect((await ok.select()).maxToken).toBe(4096);
    expect(toHex(ok.trace[1]!.command)).toBe('00a4040008f04f4646504159011c');
    expect(await asyncCodeOf(new ReaderSession(scripted('6c1c', '6c1c')).select())).toBe('nfc.status');
  });
  it('bad FCI, wrong version, wrong AID, a hung card and a throwing link', async () => {
    expect(await asyncCodeOf(new ReaderSession(scripted('6f009000')).select())).toBe('nfc.bad_fci');
    expect(await asyncCodeOf(new ReaderSession(scripted(FCI.replace('800101', '800102') + '9000')).select())).toBe('nfc.unsupported_version');
    expect(await asyncCodeOf(new ReaderSession(scripted(FCI.replace('f04f464650415901', 'f04f464650415902') + '9000')).select())).toBe(
      'nfc.bad_fci',
    );
    expect(await asyncCodeOf(new ReaderSession({ transmit: () => new Promise(() => undefined) }, { apduTimeoutMs: 20 }).select())).toBe(
      'nfc.timeout',
    );
    expect(await asyncCodeOf(new ReaderSession({ transmit: async () => Promise.reject(new Error('EPIPE')) }).select())).toBe('nfc.link_error');
  });
  it('a fuzzed card never crashes the session: only nfc.* errors', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.oneof(fc.uint8Array({ maxLength: 40 }), fc.constantFrom(FCI + '9000', '6100', '612c', '6c10', '9000', '6985').map(hex)), {
          minLength: 1,
          maxLength: 12,
        }),
        async (replies) => {
          let i = 0;
          const link: CardLink = { transmit: async () => replies[Math.min(i++, replies.length - 1)]! };
          try {
            await transact(link, { request, maxGetResponse: 8, verify: async () => ({ verdict: 1, receipt: Uint8Array.of(1) }) });
          } catch (e) {
            expect(e).toBeInstanceOf(OffpayError);
            expect((e as OffpayError).code).toMatch(/^nfc\./);
          }
          expect(i).toBeLessThanOrEqual(2 + 1 + 8 + 1 + 1 + 3);
        },
      ),
      { seed: 0x61, numRuns: 500 },
    );
  });
});

describe('reader session + card application (seeded properties)', () => {
  it('any request and token size within the limits arrives intact, in the predicted number of round trips', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 1024 }),
        fc.integer({ min: 1, max: 4096 }),
        fc.boolean(),
        fc.boolean(),
        async (reqLen, tokLen, readerExt, cardExt) => {
          const req = Uint8Array.from({ length: reqLen }, (_, i) => (i * 7 + reqLen) & 0xff);
          const w = testWallet(tokLen);
          const card = new CardApplication(w, { extendedLength: cardExt });
          const r = await transact(memoryLink(card), { request: req, extendedLength: readerExt, verify: async () => ({ verdict: 1 }) });
          expect(w.requests[0]).toEqual(req);
          expect(r.token).toEqual(fakeToken(req, tokLen));
          const ext = readerExt && cardExt;
          const expected = ext ? 2 : 1 + Math.ceil(reqLen / 255) + Math.ceil(tokLen / 256) - 1;
          expect(r.trace.length).toBe(expected);
          expect(card.state.pendingBytes).toBe(0);
        },
      ),
      { seed: 0x7816, numRuns: 200 },
    );
  });
});

describe('air time at 106 kbit/s', () => {
  it('SELECT + GET TOKEN + GET RESPONSE of a 300-byte token stays within the 40 ms budget', async () => {
    const { result } = await pay(300);
    const t = airTime(result.trace.slice(0, 3));
    // 423 APDU bytes + 7 I-blocks * 3 + 1 R(ACK) * 3 = 447 bytes * 9 bits / 105937.5 bit/s
    expect(t).toMatchObject({ bytes: 447, iBlocks: 7, acks: 1 });
    expect(t.ms).toBeCloseTo((447 * 9 * 1000) / 105937.5, 9);
    expect(t.ms).toBeLessThanOrEqual(40);
    const small = airTime(result.trace.slice(0, 3), { fsd: 64, fsc: 64 });
    expect(small.iBlocks).toBe(11); // 1+1+2+5+1+1
    expect(small.ms).toBeGreaterThan(t.ms);
  });
  it('the extended path saves the GET RESPONSE round trip', async () => {
    const { result } = await pay(300, { readerExt: true });
    const t = airTime(result.trace.slice(0, 2));
    expect(t.ms).toBeLessThan(airTime((await pay(300)).result.trace.slice(0, 3)).ms);
  });
});
