/**
 * The wallet attack review (2026-12-07), fixed by the qr.ambiguous rule: a forged request QR code placed BESIDE the vending machine's genuine one (a sticker
 * on the machine's frame, not over its screen). The wallet's camera sees both; spec/qr.md §8 "Selection among
 * several symbols" takes the first valid request in zxing's order, and `decodeCode` says only how many symbols
 * were in view (`symbolsInView`), which neither `offpay pay` (src/cli/via/qr.ts read) nor the playground wallet
 * (web/wallet.ts onCode) looks at. The sticker's request is a genuine request of the attacker's own reader (a
 * merchant with a reader certificate), so the wallet's issuer check (§6) passes, and the wallet pays the attacker
 * the machine's price; the machine, still waiting, asks the customer to pay again.
 *
 * Now two different offpay payloads of the expected kind in one view are ambiguous (`qr.ambiguous`, "show one code
 * at a time"), never one picked by position; the same code twice is still one code.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { decodeCode, encodeCode } from '../../codecs/qr/engine.js';
import { loadQrEngineNode } from '../../codecs/qr/node.js';
import { createRequest, MemoryCounterStore, OffpayError, toHex, Wallet } from '../../src/index.js';
import { frameWith } from './helpers.js';
import { NOW, makeIssuer, makeReader, makeWallet } from '../reader/helpers.js';

const issuer = makeIssuer('zz-wallet-qr2');
const machine = makeReader(issuer, 'zz-wallet-qr2', 4201);
const attacker = makeReader(issuer, 'zz-wallet-qr2', 6666, 'vending', 91);

beforeAll(async () => {
  await loadQrEngineNode();
});

describe('two payment requests in the camera view (spec/qr.md §8)', () => {
  it('the wallet does not pay one of two different request codes chosen by position', async () => {
    const genuine = createRequest(machine, { amount: 1250, currency: 344, time: NOW - 5 }).bytes;
    const sticker = createRequest(attacker, { amount: 1250, currency: 344, time: NOW - 5 }).bytes;
    const g = await encodeCode(genuine, { kind: 'request' });
    const s = await encodeCode(sticker, { kind: 'request' });
    // The sticker sits above-left of the screen's code.
    const frame = frameWith(1000, 520, [
      { m: s.matrix, x: 20, y: 20, ppm: 4 },
      { m: g.matrix, x: 520, y: 200, ppm: 4 },
    ]);
    let outcome: string;
    try {
      const d = await decodeCode(frame, { expect: 'request' });
      const w = makeWallet(issuer, 'zz-wallet-qr2', 'c');
      const wallet = new Wallet({ secretKey: w.secretKey, cert: w.cert, counter: new MemoryCounterStore(), clock: () => NOW });
      await wallet.pay(d.payload, { issuerKeys: issuer.keySet() });
      outcome = toHex(d.payload) === toHex(sticker) ? `paid the sticker (reader 6666) of ${d.symbolsInView} in view` : `paid the machine of ${d.symbolsInView} in view`;
    } catch (e) {
      outcome = e instanceof OffpayError ? `refused: ${e.code}` : String(e);
    }
    expect(outcome).toBe('refused: qr.ambiguous');
  });

  it('the same request twice in view (a screen and its reflection) is one code: read', async () => {
    const genuine = createRequest(machine, { amount: 1250, currency: 344, time: NOW - 5 }).bytes;
    const g = await encodeCode(genuine, { kind: 'request' });
    const frame = frameWith(1000, 520, [
      { m: g.matrix, x: 20, y: 20, ppm: 4 },
      { m: g.matrix, x: 520, y: 200, ppm: 4 },
    ]);
    const d = await decodeCode(frame, { expect: 'request' });
    expect({ payload: toHex(d.payload), inView: d.symbolsInView }).toEqual({ payload: toHex(genuine), inView: 2 });
  });

  it('a token and a request in view, reading a request: the request (two kinds are not ambiguous)', async () => {
    const genuine = createRequest(machine, { amount: 1250, currency: 344, time: NOW - 5 }).bytes;
    const w = makeWallet(issuer, 'zz-wallet-qr2', 'd');
    const token = await new Wallet({ secretKey: w.secretKey, cert: w.cert, counter: new MemoryCounterStore(), clock: () => NOW }).payTo({ payee: 4201, amount: 100, time: NOW });
    const frame = frameWith(1000, 520, [
      { m: (await encodeCode(token, { kind: 'token' })).matrix, x: 20, y: 20, ppm: 4 },
      { m: (await encodeCode(genuine, { kind: 'request' })).matrix, x: 520, y: 200, ppm: 4 },
    ]);
    expect(toHex((await decodeCode(frame, { expect: 'request' })).payload)).toBe(toHex(genuine));
  });
});
