import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { OffpayError, type ErrorCode } from '../../base/errors.js';
import {
  CardApplication,
  MAX_FCI,
  OFFPAY_AID,
  encodeFci,
  parseFci,
  walletErrorStatus,
} from '../../codecs/nfc/card.js';
import { SW } from '../../codecs/nfc/apdu.js';
import { codeOf, fakeToken, hex, testWallet, toHex } from './helpers.js';

const SELECT = '00a4040008f04f46465041590100';
const sw = (r: Uint8Array): string => toHex(r.subarray(r.length - 2));
const data = (r: Uint8Array): Uint8Array => r.subarray(0, r.length - 2);

async function run(card: CardApplication, ...apdus: string[]): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  for (const a of apdus) out.push(await card.process(hex(a)));
  return out;
}

describe('FCI', () => {
  it('is 28 bytes, fits nfc-pcsc (<= 38) and round-trips', () => {
    const card = new CardApplication(testWallet());
    const fci = encodeFci(card.info);
    expect(fci.length).toBe(28);
    expect(fci.length).toBeLessThanOrEqual(MAX_FCI);
    expect(toHex(fci)).toBe('6f1a8408f04f464650415901a50e800101810103820210008302' + '0400');
    expect(parseFci(fci)).toEqual(card.info);
  });
  it('rejects malformed FCIs', () => {
    expect(codeOf(() => parseFci(hex('6f02')))).toBe('nfc.bad_fci');
    expect(codeOf(() => parseFci(hex('6f038401aa')))).toBe('nfc.bad_fci');
    expect(codeOf(() => parseFci(hex('6f048401aa00')))).toBe('nfc.bad_fci');
    expect(codeOf(() => parseFci(new Uint8Array(39)))).toBe('nfc.bad_fci');
  });
});

describe('card application', () => {
  it('SELECT returns the FCI; a wrong AID answers 6A82 and deselects', async () => {
    const card = new CardApplication(testWallet());
    const [r1, r2, r3] = await run(card, SELECT, '00a4040007a000000247100100', '8010000001aa00');
    expect(sw(r1!)).toBe('9000');
    expect(data(r1!)).toEqual(encodeFci(card.info));
    expect(sw(r2!)).toBe('6a82');
    expect(sw(r3!)).toBe('6985');
  });

  it('answers 6985 before SELECT, 6A86 on bad P1/P2, 6D00/6E00 on unknown INS/CLA, 6700 on bad lengths', async () => {
    const card = new CardApplication(testWallet());
    const r = await run(
      card,
      '8010000001aa00', // before select
      SELECT,
      '00a4040c08f04f46465041590100', // SELECT P2=0C
      SELECT,
      '8010010001aa00', // P1=01
      '8020000001aa00', // unknown INS
      '00b0000010', // READ BINARY
      'a010000001aa00', // CLA A0
      '80100000', // GET TOKEN without data
      '80100000', // parse ok, no data
      '801000', // 3 bytes
      '8010000005aa', // Lc mismatch
    );
    expect(r.map(sw)).toEqual(['6985', '9000', '6a86', '9000', '6a86', '6d00', '6d00', '6e00', '6700', '6700', '6700', '6700']);
  });

  it('short APDUs: 300-byte token as 256 bytes + 612C, then GET RESPONSE', async () => {
    const w = testWallet(300);
    const card = new CardApplication(w);
    const [, r1, r2, r3] = await run(card, SELECT, '8010000004deadbeef00', '00c000002c', '00c000002c');
    expect(sw(r1!)).toBe('612c');
    expect(data(r1!).length).toBe(256);
    expect(sw(r2!)).toBe('9000');
    expect(Buffer.concat([data(r1!), data(r2!)])).toEqual(Buffer.from(fakeToken(hex('deadbeef'), 300)));
    expect(sw(r3!)).toBe('6985'); // nothing pending
    expect(w.requests.map(toHex)).toEqual(['deadbeef']);
  });

  it('GET RESPONSE with a smaller Le leaves the rest pending; 6100 means 256 or more', async () => {
    const card = new CardApplication(testWallet(700));
    const [, r1, r2, r3, r4] = await run(card, SELECT, '8010000001aa00', '00c0000010', '00c0000000', '00c0000000');
    expect([sw(r1!), sw(r2!), sw(r3!), sw(r4!)]).toEqual(['6100', '6100', '61ac', '9000']);
    expect([r1, r2, r3, r4].map((r) => data(r!).length)).toEqual([256, 16, 256, 172]);
  });

  it('case 3 commands (no Le) get everything through GET RESPONSE', async () => {
    const card = new CardApplication(testWallet(100));
    const [s, r1, r2] = await run(card, '00a4040008f04f464650415901', '8010000001aa', '00c0000064');
    expect(sw(s!)).toBe('611c');
    expect(sw(r1!)).toBe('6164');
    expect(data(r1!).length).toBe(0);
    expect(data(r2!).length).toBe(100);
  });

  it('SELECT with a too-small Le answers 6C1C', async () => {
    const card = new CardApplication(testWallet());
    const [r1, r2] = await run(card, '00a4040008f04f46465041590105', '00a4040008f04f4646504159011c');
    expect(sw(r1!)).toBe('6c1c');
    expect(sw(r2!)).toBe('9000');
    expect(data(r2!).length).toBe(28);
  });

  it('extended length: the whole token in one response; refused when the card does not advertise it', async () => {
    const card = new CardApplication(testWallet(300));
    const [, r] = await run(card, SELECT, '80100000000002abcd0000');
    expect(sw(r!)).toBe('9000');
    expect(data(r!).length).toBe(300);
    const short = new CardApplication(testWallet(300), { extendedLength: false });
    expect(short.info.extendedLength).toBe(false);
    const [, r2] = await run(short, SELECT, '80100000000002abcd0000');
    expect(sw(r2!)).toBe('6700');
  });

  it('command chaining assembles the request; an interrupted chain answers 6883', async () => {
    const w = testWallet(40);
    const card = new CardApplication(w);
    const [, a, b, c] = await run(card, SELECT, '9010000002aabb', '9010000002ccdd', '8010000001ee00');
    expect([sw(a!), sw(b!), sw(c!)]).toEqual(['9000', '9000', '9000']);
    expect(toHex(w.requests[0]!)).toBe('aabbccddee');
    expect(data(c!)).toEqual(fakeToken(hex('aabbccddee'), 40));
    const card2 = new CardApplication(testWallet(40));
    const [, d, e, f] = await run(card2, SELECT, '9010000002aabb', '8012000001aa', '00c0000010');
    expect([sw(d!), sw(e!), sw(f!)]).toEqual(['9000', '6883', '6985']);
    expect(card2.state.chainBytes).toBe(0);
  });

  it('chaining is refused on SELECT/GET RESPONSE and limited by maxRequest', async () => {
    const card = new CardApplication(testWallet(), { maxRequest: 300 });
    const big = 'aa'.repeat(200);
    const r = await run(card, '10a4040008f04f464650415901', SELECT, `90100000c8${big}`, `80100000c8${big}00`);
    expect(r.map(sw)).toEqual(['6884', '9000', '9000', '6a84']);
    expect(card.state.chainBytes).toBe(0);
  });

  it('one token per selection; receipt only after a token, once; SELECT resets', async () => {
    const w = testWallet(20);
    const card = new CardApplication(w);
    const r = await run(
      card,
      SELECT,
      '8012000002aabb', // receipt before token
      '8010000001aa00',
      '8010000001aa00', // second token
      '8012000002aabb',
      '8012000002aabb', // second receipt
      SELECT,
      '8010000001bb00',
    );
    expect(r.map(sw)).toEqual(['9000', '6985', '9000', '6985', '9000', '6985', '9000', '9000']);
    expect(w.receipts.map(toHex)).toEqual(['aabb']);
    expect(w.requests).toHaveLength(2);
  });

  it('deactivation forgets the selection and any pending response', async () => {
    const card = new CardApplication(testWallet(300));
    await run(card, SELECT, '8010000001aa00');
    expect(card.state.pendingBytes).toBe(44);
    card.deactivate();
    expect(card.state).toEqual({ selected: false, tokenIssued: false, receiptDone: false, pendingBytes: 0, chainBytes: 0 });
    const [r] = await run(card, '00c000002c');
    expect(sw(r!)).toBe('6985');
  });

  it('a wallet without receipts: FCI says so, PUT RECEIPT answers 6D00', async () => {
    const card = new CardApplication(testWallet(20, { receipt: false }));
    expect(card.info.receipt).toBe(false);
    const r = await run(card, SELECT, '8010000001aa00', '8012000001aa');
    expect(r.map(sw)).toEqual(['9000', '9000', '6d00']);
  });

  it('maps wallet errors to documented status words', async () => {
    const cases: Array<[unknown, string]> = [
      [new OffpayError('wallet.locked', 'x'), '6982'],
      [new OffpayError('request.time_too_old', 'x'), '6984'],
      [new OffpayError('request.bad_request_signature', 'x'), '6984'],
      [new OffpayError('request.malformed', 'x'), '6a80'],
      [new OffpayError('message.bad_structure', 'x'), '6a80'],
      [new OffpayError('wallet.over_offline_allowance', 'x'), '6985'],
      [new OffpayError('cbor.non_canonical', 'x'), '6a80'],
      // codes no spec lists, from a wallet written in plain JavaScript (the type does not allow them)
      [new OffpayError('wallet.insufficient_funds' as ErrorCode, 'x'), '6985'],
      [new OffpayError('wallet.whatever' as ErrorCode, 'x', { sw: 0x6982 }), '6982'],
      [new OffpayError('wallet.whatever' as ErrorCode, 'x', { sw: 0x9000 }), '6985'], // not an allowed override
      [new Error('bug'), '6f00'],
      ['string', '6f00'],
    ];
    for (const [err, expected] of cases) {
      const card = new CardApplication(testWallet(20, { fail: err }));
      const [, r, again] = await run(card, SELECT, '8010000001aa00', '8010000001aa00');
      expect(sw(r!), String(err)).toBe(expected);
      expect(sw(again!)).toBe(expected); // a refused request does not consume the selection
    }
    expect(walletErrorStatus(new OffpayError('wallet.user_declined', ''))).toBe(SW.SECURITY_STATUS);
    expect(walletErrorStatus(new OffpayError('x.user_declined' as ErrorCode, ''))).toBe(SW.SECURITY_STATUS); // the reason part decides
  });

  it('a custom mapper, a wallet timeout and an oversized token', async () => {
    const mapped = new CardApplication(testWallet(20, { fail: new Error('x') }), { mapError: () => 0x6a80 });
    expect(sw((await run(mapped, SELECT, '8010000001aa00'))[1]!)).toBe('6a80');
    const slow = new CardApplication({ getToken: () => new Promise(() => undefined) }, { walletTimeoutMs: 20 });
    expect(sw((await run(slow, SELECT, '8010000001aa00'))[1]!)).toBe('6f00');
    const big = new CardApplication(testWallet(5000));
    expect(sw((await run(big, SELECT, '8010000001aa00'))[1]!)).toBe('6f00');
  });

  it('a wallet answer that arrives after the card left is dropped', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const card = new CardApplication({ getToken: async () => (await gate, new Uint8Array(300)) });
    await card.process(hex(SELECT));
    const pending = card.process(hex('8010000001aa00'));
    card.deactivate(); // link loss while the wallet signs
    release();
    expect(sw(await pending)).toBe('6985');
    expect(card.state).toEqual({ selected: false, tokenIssued: false, receiptDone: false, pendingBytes: 0, chainBytes: 0 });
  });

  it('serializes concurrent process calls', async () => {
    const card = new CardApplication(testWallet(300));
    const [a, b, c] = await Promise.all([card.process(hex(SELECT)), card.process(hex('8010000001aa00')), card.process(hex('00c000002c'))]);
    expect([sw(a), sw(b), sw(c)]).toEqual(['9000', '612c', '9000']);
  });

  it('rejects bad options', () => {
    expect(codeOf(() => new CardApplication(testWallet(), { aid: new Uint8Array(4) }))).toBe('nfc.bad_option');
    expect(codeOf(() => new CardApplication(testWallet(), { maxToken: 70000 }))).toBe('nfc.bad_option');
    expect(OFFPAY_AID.length).toBe(8);
  });
});

describe('card application under a fuzzed APDU stream (seeded)', () => {
  const apduArb = fc.oneof(
    fc.uint8Array({ maxLength: 300 }),
    fc.constantFrom(SELECT, '8010000001aa00', '00c0000000', '8012000001aa', '9010000001aa', '80100000000002abcd0000').map(hex),
    fc
      .record({
        cla: fc.constantFrom(0x00, 0x10, 0x80, 0x90, 0xff),
        ins: fc.constantFrom(0xa4, 0xc0, 0x10, 0x12, 0x00),
        p1: fc.constantFrom(0, 4),
        p2: fc.constantFrom(0, 0x0c),
        body: fc.uint8Array({ maxLength: 270 }),
      })
      .map(({ cla, ins, p1, p2, body }) => Uint8Array.from([cla, ins, p1, p2, ...body])),
  );
  it('always answers with data + a status word, never throws, keeps its invariants', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(apduArb, { maxLength: 25 }), fc.boolean(), async (stream, ext) => {
        const card = new CardApplication(testWallet(300), { extendedLength: ext, maxRequest: 600 });
        for (const a of stream) {
          const r = await card.process(a);
          expect(r.length).toBeGreaterThanOrEqual(2);
          expect(r.length).toBeLessThanOrEqual(302);
          const s = card.state;
          expect(s.chainBytes).toBeLessThanOrEqual(600);
          expect(s.pendingBytes).toBeLessThanOrEqual(300);
        }
      }),
      { seed: 0x6985, numRuns: 400 },
    );
  });
});
