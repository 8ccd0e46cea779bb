import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { CardApplication, OFFPAY_AID } from '../../codecs/nfc/card.js';
import { decodeTokenNdef, encodeTokenNdef } from '../../codecs/nfc/ndef.js';
import { memoryLink, transact, type CardLink } from '../../codecs/nfc/session.js';
import { AidRouter, NDEF_TAG_AID, NdefTagApplication, encodeCc, parseCc, readNdefTag } from '../../codecs/nfc/t4t.js';
import { asyncCodeOf, codeOf, fakeToken, hex, testWallet, toHex } from './helpers.js';

const token = fakeToken(Uint8Array.of(1), 300);
const msg = encodeTokenNdef(token);

async function run(app: { process(a: Uint8Array): Promise<Uint8Array> }, ...apdus: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const a of apdus) out.push(toHex(await app.process(hex(a))));
  return out;
}

describe('Type 4 Tag NDEF application', () => {
  it('answers the standard read sequence with CC and NDEF file', async () => {
    const tag = new NdefTagApplication(msg);
    const r = await run(tag, '00a4040007d276000085010100', '00a4000c02e103', '00b000000f', '00a4000c02e104', '00b0000002', '00b0000210');
    expect(r[0]).toBe('9000');
    expect(r[2]).toBe(`000f2000ff00ff0406e104${(msg.length + 2).toString(16).padStart(4, '0')}00ff9000`);
    expect(r[4]).toBe(`${msg.length.toString(16).padStart(4, '0')}9000`);
    expect(r[5]).toBe(toHex(msg.subarray(0, 16)) + '9000');
  });

  it('reads the token back over a link, in MLe-sized pieces', async () => {
    const tag = new NdefTagApplication(msg, { mle: 0x3b });
    const seen: Uint8Array[] = [];
    const link: CardLink = { transmit: async (a) => (seen.push(a), tag.process(a)) };
    const out = await readNdefTag(link);
    expect(out).toEqual(msg);
    expect(decodeTokenNdef(out)).toEqual(token);
    expect(seen.length).toBe(6 + Math.ceil(msg.length / 0x3b) - 1);
  });

  it('errors: wrong order, outside the file, read-only, foreign CLA/INS', async () => {
    const tag = new NdefTagApplication(msg);
    const r = await run(tag, '00b0000002', '00a4000c02e103', '00a4040007d276000085010100', '00a4000c02e105', '00b0000002', '00a4000c02e104', '00b07fff01', '00b0ff0001', '00d6000001aa', '80b0000002', '00ca000000', '00a4040007d276000085010200');
    expect(r.map((x) => x.slice(-4))).toEqual(['6986', '6985', '9000', '6a82', '6986', '9000', '6b00', '6a86', '6982', '6e00', '6d00', '6a82']);
  });

  it('reader errors: not a tag, bad CC, oversized NLEN, card lost', async () => {
    const card = new CardApplication(testWallet());
    expect(await asyncCodeOf(readNdefTag(memoryLink(card)))).toBe('nfc.not_ndef_tag');
    const badCc: CardLink = {
      transmit: async (a) => (a[1] === 0xb0 ? hex('000f1000ff00ff0406e104010000ff9000') : hex('9000')),
    };
    expect(await asyncCodeOf(readNdefTag(badCc))).toBe('nfc.bad_cc');
    const tag = new NdefTagApplication(msg);
    expect(await asyncCodeOf(readNdefTag(memoryLink(tag), { maxMessage: 100 }))).toBe('nfc.ndef_too_large');
    const link = memoryLink(new NdefTagApplication(msg));
    let n = 0;
    expect(await asyncCodeOf(readNdefTag({ transmit: async (a) => (++n === 4 && link.remove(), link.transmit(a)) }))).toBe('nfc.card_lost');
    expect(codeOf(() => parseCc(encodeCc({ version: 0x20, mle: 14, mlc: 255, ndefFileId: 0xe104, maxNdefFile: 100, readAccess: 0, writeAccess: 0xff })))).toBe('nfc.bad_cc');
    expect(codeOf(() => new NdefTagApplication(msg, { mle: 3 }))).toBe('nfc.bad_option');
  });
});

describe('AID router: one phone, two applications', () => {
  it('serves the offpay application and the NDEF tag side by side', async () => {
    const wallet = testWallet(300);
    const router = new AidRouter([
      { aid: OFFPAY_AID, app: new CardApplication(wallet) },
      { aid: NDEF_TAG_AID, app: new NdefTagApplication(msg) },
    ]);
    const link = memoryLink(router);
    expect(decodeTokenNdef(await readNdefTag(link))).toEqual(token);
    const r = await transact(link, { request: Uint8Array.of(9, 9), verify: async () => ({ verdict: 1 }) });
    expect(r.token).toEqual(fakeToken(Uint8Array.of(9, 9), 300));
    expect(decodeTokenNdef(await readNdefTag(link))).toEqual(token);
    expect(await run(router, '00a4040007a000000247100100', '00b0000002')).toEqual(['6a82', '6985']);
  });

  it('never throws on a fuzzed APDU stream', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.oneof(
            fc.uint8Array({ maxLength: 40 }),
            fc.constantFrom('00a4040007d276000085010100', '00a4040008f04f46465041590100', '00a4000c02e104', '00b0000010', '8010000001aa00').map(hex),
          ),
          { maxLength: 20 },
        ),
        async (stream) => {
          const router = new AidRouter([
            { aid: OFFPAY_AID, app: new CardApplication(testWallet(300)) },
            { aid: NDEF_TAG_AID, app: new NdefTagApplication(msg) },
          ]);
          for (const a of stream) expect((await router.process(a)).length).toBeGreaterThanOrEqual(2);
        },
      ),
      { seed: 0xd276, numRuns: 300 },
    );
  });
});
