import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  Issuer,
  MemoryCounterStore,
  Wallet,
  createRequest,
  publicKeyOf,
  seededSecretKey,
  decodeToken,
  encodeIssuerKeySet,
  decodeIssuerKeySet,
  requestContextOf,
  verifyToken,
  verifyTokenAsync,
  webCryptoEd25519,
  type VerifyContext,
} from '../../src/index.js';
import { encodeCbor } from '../../src/cbor.js';
import { walletCertToCbor } from '../../src/messages.js';
import { nodeEd25519 } from '../../src/node/crypto.js';
import { world } from './helpers.js';

const NOW = 1_795_000_000;

describe('token round trip', () => {
  it('pays a request and verifies with every backend', async () => {
    const { issuer, wallet, reader } = world();
    const { request, bytes: reqBytes } = createRequest(reader, { amount: 1250, currency: 344, time: NOW, challenge: new Uint8Array(8).fill(9) });
    const token = await wallet.pay(reqBytes, { issuerKeys: issuer.keySet() });
    const ctx: VerifyContext = { issuerKeys: decodeIssuerKeySet(encodeIssuerKeySet(issuer.keySet())), now: NOW + 5, payees: [4201], request: requestContextOf(request) };
    const v = verifyToken(token, ctx);
    expect(v.accepted).toBe(true);
    expect(verifyToken(token, ctx, nodeEd25519()).accepted).toBe(true);
    expect((await verifyTokenAsync(token, ctx, webCryptoEd25519())).accepted).toBe(true);
    const t = decodeToken(token);
    expect(t.counter).toBe(1);
    expect(t.amount).toBe(1250);
    expect(t.requestBound).toBe(true);
    expect(token.length).toBeLessThanOrEqual(200);
  });

  it('rejects a token for another payee', async () => {
    const { issuer, wallet } = world();
    const token = await wallet.payTo({ payee: 555, amount: 100 });
    const v = verifyToken(token, { issuerKeys: issuer.keySet(), now: NOW, payees: [4201] });
    expect(v).toMatchObject({ accepted: false, reason: 'wrong_payee', code: 11 });
  });

  it('a one-way token round-trips: 8 elements, payee and time on the wire', async () => {
    const { issuer, wallet } = world();
    const token = await wallet.payTo({ payee: 4201, amount: 1250, time: NOW - 5 });
    const t = decodeToken(token);
    expect(t).toMatchObject({ requestBound: false, payee: 4201, amount: 1250, counter: 1, time: NOW - 5 });
    expect(token[0]).toBe(0x88);
    expect(verifyToken(token, { issuerKeys: issuer.keySet(), now: NOW, payees: [4201] }).accepted).toBe(true);
  });
});

/** The CBOR bytes of a uint (to price each field of the worst case). */
const uintLen = (v: number) => (v < 24 ? 1 : v < 256 ? 2 : v < 65536 ? 3 : v < 2 ** 32 ? 5 : 9);

describe('request-bound tokens (spec/protocol.md §4.2, §4.3)', () => {
  const MAX = 2 ** 32 - 1;
  /** A world whose wallet certificate takes the largest encoding of every field the CDDL allows. */
  function worstWorld() {
    const keyIndex = 255; // 18 ff
    const issuer = new Issuer(4_294_967_295, [{ keyIndex, secretKey: seededSecretKey('worst', 'issuer'), publicKey: publicKeyOf(seededSecretKey('worst', 'issuer')), notBefore: NOW - 86400, notAfter: NOW + 86400 }]);
    const wsk = seededSecretKey('worst', 'wallet');
    const cert = issuer.issueWalletCert({ walletPublicKey: publicKeyOf(wsk), expiryDay: 65_535, maxPerPayment: MAX, offlineAllowance: MAX, currency: 999 }, NOW);
    return { issuer, wsk, cert };
  }

  it('the worst case (amount, limits, counter at 2^32 - 1, key index 255, currency 999, day 65535) is exactly 200 bytes, and verifies', async () => {
    const { issuer, wsk, cert } = worstWorld();
    const wallet = new Wallet({ secretKey: wsk, cert, counter: new MemoryCounterStore({ counter: MAX - 1, spent: 0 }), clock: () => NOW });
    const challenge = new Uint8Array(8).fill(0xff);
    const token = await wallet.payTo({ payee: MAX, amount: MAX, challenge, time: NOW });
    expect(token.length).toBe(200);
    expect(token.length).toBe(1 + 2 + (3 + uintLen(255) + 34 + uintLen(65_535) + 2 * uintLen(MAX) + uintLen(999) + 66) + 2 * uintLen(MAX) + 66);
    const v = verifyToken(token, { issuerKeys: issuer.keySet(), now: NOW, payees: [MAX], request: { readerId: MAX, amount: MAX, currency: 999, challenge, time: NOW } });
    expect(v).toMatchObject({ accepted: true, token: { payee: MAX, amount: MAX, counter: MAX, time: NOW, challenge } });
  });

  it('property: any amount, counter, payee, time and challenge give at most 200 bytes', async () => {
    const { wsk, cert } = worstWorld();
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: MAX }), fc.integer({ min: 0, max: MAX - 1 }), fc.integer({ min: 0, max: MAX }), fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }), fc.uint8Array({ minLength: 8, maxLength: 8 }), async (amount, counter, payee, time, challenge) => {
        const wallet = new Wallet({ secretKey: wsk, cert, counter: new MemoryCounterStore({ counter, spent: 0 }), clock: () => NOW });
        const token = await wallet.payTo({ payee, amount, challenge, time });
        expect(token.length).toBeLessThanOrEqual(200);
      }),
      { numRuns: 60, seed: 4 },
    );
  });

  it('round trip: the wallet signs the request\'s reader id, time and challenge and sends 6 elements; the reader rebuilds and accepts', async () => {
    const { issuer, wallet, reader } = world('rb');
    const { request, bytes } = createRequest(reader, { amount: 1250, currency: 344, time: NOW - 20, challenge: new Uint8Array(8).fill(3) });
    const token = await wallet.pay(bytes, { issuerKeys: issuer.keySet(), time: NOW });
    expect(token[0]).toBe(0x86);
    const w = decodeToken(token);
    expect(w).toMatchObject({ requestBound: true, amount: 1250, counter: 1 });
    expect([w.payee, w.time]).toEqual([undefined, undefined]);
    const v = verifyToken(token, { issuerKeys: issuer.keySet(), now: NOW, payees: [4201], request: requestContextOf(request) });
    expect(v).toMatchObject({ accepted: true, token: { payee: 4201, amount: 1250, time: NOW - 20, challenge: request.challenge } });
  });

  it('judged against any other request (challenge, time, reader id) or with its amount changed: bad_token_signature (property)', async () => {
    const { issuer, wallet, reader } = world('rb2');
    const { request, bytes } = createRequest(reader, { amount: 1250, currency: 344, time: NOW - 20, challenge: new Uint8Array(8).fill(3) });
    const token = await wallet.pay(bytes, { issuerKeys: issuer.keySet(), time: NOW });
    const good = requestContextOf(request);
    const ctx = { issuerKeys: issuer.keySet(), now: NOW, payees: [4201, 4202] };
    expect(verifyToken(token, { ...ctx, request: good }).accepted).toBe(true);
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ minLength: 8, maxLength: 8 }).filter((c) => !c.every((b) => b === 3)).map((challenge) => ({ ...good, challenge })),
          fc.integer({ min: NOW - 300, max: NOW + 60 }).filter((t) => t !== good.time).map((time) => ({ ...good, time })),
          fc.constant({ ...good, readerId: 4202 }),
        ),
        (other) => {
          expect(verifyToken(token, { ...ctx, request: other })).toMatchObject({ accepted: false, reason: 'bad_token_signature', code: 10 });
        },
      ),
      { numRuns: 60, seed: 5 },
    );
    // The amount on the wire changed to another request's amount (1250 = 19 04e2 -> 1000 = 19 03e8).
    const at = token.length - 66 - 1 - 3;
    expect(Array.from(token.subarray(at, at + 3))).toEqual([0x19, 0x04, 0xe2]);
    const moved = token.slice();
    moved.set([0x19, 0x03, 0xe8], at);
    expect(verifyToken(moved, { ...ctx, request: { ...good, amount: 1000 } })).toMatchObject({ accepted: false, reason: 'bad_token_signature' });
    // Against a request of another amount, unchanged: the signature holds, the amount does not match.
    expect(verifyToken(token, { ...ctx, request: { ...good, amount: 1000 } })).toMatchObject({ accepted: false, reason: 'amount_mismatch' });
    // Without any request: nothing to rebuild the body from.
    expect(verifyToken(token, ctx)).toMatchObject({ accepted: false, reason: 'challenge_mismatch' });
  });

  it('a one-way signature never verifies as request-bound, nor the reverse (the signed bodies differ in length)', async () => {
    const { issuer, wallet } = world('forms');
    const challenge = new Uint8Array(8).fill(6);
    const ctx = { issuerKeys: issuer.keySet(), now: NOW, payees: [4201] };
    const request = { readerId: 4201, amount: 1250, currency: 344, challenge, time: NOW };
    const oneWay = decodeToken(await wallet.payTo({ payee: 4201, amount: 1250, time: NOW }));
    const bound = decodeToken(await wallet.payTo({ payee: 4201, amount: 1250, time: NOW, challenge }));
    const cert = walletCertToCbor(oneWay.walletCert);
    // The one-way signature re-framed as a request-bound token (same payee, amount, counter, time), and the reverse.
    const asBound = encodeCbor([5, 2, cert, oneWay.amount, oneWay.counter, oneWay.walletSignature]);
    const asOneWay = encodeCbor([5, 2, cert, 4201, bound.amount, bound.counter, NOW, bound.walletSignature]);
    expect(verifyToken(asBound, { ...ctx, request })).toMatchObject({ accepted: false, reason: 'bad_token_signature' });
    expect(verifyToken(asOneWay, ctx)).toMatchObject({ accepted: false, reason: 'bad_token_signature' });
    // The originals verify in their own form.
    expect(verifyToken(encodeCbor([5, 2, cert, bound.amount, bound.counter, bound.walletSignature]), { ...ctx, request }).accepted).toBe(true);
    expect(verifyToken(encodeCbor([5, 2, cert, 4201, oneWay.amount, oneWay.counter, NOW, oneWay.walletSignature]), ctx).accepted).toBe(true);
  });
});
