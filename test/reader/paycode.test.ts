/**
 * Rule P (spec/protocol.md §4.3): a request the reader opened as a payment code is answered by a request-bound
 * token that signs the fixed time PAYMENT_CODE_SIGNED_TIME; the reader rebuilds the body with it, judges freshness by
 * its own request time, journals the signed time, and clearing re-verifies and settles the token from the entry.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Clearing } from '../../src/clearing/index.js';
import { MemoryReaderStore, Reader, createBlocklist } from '../../src/reader/index.js';
import { nodeEd25519 } from '../../src/node/crypto.js';
import { decodePaymentCode, PAYMENT_CODE_SIGNED_TIME } from '../../src/paycode.js';
import { decodeToken, verifyToken, requestContextOf } from '../../src/index.js';
import { HKD, NOW, makeIssuer, makeReader, makeWallet } from './helpers.js';

const issuer = makeIssuer('paycode');
const vend = makeReader(issuer, 'paycode', 4201, 'vending');
const list = createBlocklist(issuer.keys[0]!, { issuerId: issuer.issuerId, version: 1, issuedAt: NOW, walletIds: [] }).bytes;
const MAX_AGE = 300; // the vending profile's maxAgeSeconds

function reader(): Reader {
  const r = new Reader({ ...vend, issuerKeys: issuer.keySet(), store: new MemoryReaderStore(), verifier: nodeEd25519(), clock: () => NOW });
  r.loadBlocklist(list);
  return r;
}

describe('payment-code requests (spec/protocol.md §4.3, rule P)', () => {
  it('a typed code pays, whatever the wallet clock; the journal holds the signed time; clearing settles it', async () => {
    const r = reader();
    const alice = makeWallet(issuer, 'paycode', 'alice');
    const open = r.openRequest({ amount: 1250, currency: HKD, now: NOW, code: true });
    expect(open.paymentCode).toMatch(/^\d{20}$/);
    expect(r.openRequestInfo()?.paymentCode).toBe(open.paymentCode);
    const code = decodePaymentCode(open.paymentCode!);
    expect(code).toEqual({ payee: 4201, amount: 1250, challenge: open.request.challenge });
    const tok = await alice.wallet.payCode(code); // alice's clock is NOW; it is not signed
    const v = await r.accept(tok, { now: NOW + 40 });
    expect(v).toMatchObject({ accepted: true, status: 'accepted', amount: 1250, request: { amount: 1250 } });
    const entry = r.entries()[0]!;
    expect(entry.request).toEqual({ challenge: open.request.challenge, time: PAYMENT_CODE_SIGNED_TIME });
    const clearing = new Clearing({ issuerKeys: issuer.keySet(), clock: () => NOW + 3600 });
    const ing = await clearing.ingest(r.export(NOW + 600).bytes);
    expect(ing).toMatchObject({ outcome: 'ingested', entries: 1, invalidTokens: 0 });
    expect(await clearing.settlement()).toMatchObject([{ operatorId: 90, currency: HKD, count: 1, gross: 1250n }]);
    await clearing.close();
  });

  it('the open request keeps its kind once paid: a second code payment is request_already_paid, not a bad signature', async () => {
    const r = reader();
    const open = r.openRequest({ amount: 900, currency: HKD, now: NOW, code: true });
    const code = decodePaymentCode(open.paymentCode!);
    expect((await r.accept(await makeWallet(issuer, 'paycode', 'a').wallet.payCode(code), { now: NOW + 1 })).accepted).toBe(true);
    expect(r.openRequestInfo()?.paymentCode).toBe(open.paymentCode);
    expect(await r.accept(await makeWallet(issuer, 'paycode', 'b').wallet.payCode(code), { now: NOW + 2 })).toMatchObject({ accepted: false, reason: 'request_already_paid' });
  });

  it('rejects payment codes that cannot be shown (payee or amount over 20 bits, or a full 64-bit challenge)', () => {
    const r = reader();
    expect(() => r.openRequest({ amount: 2 ** 20, currency: HKD, now: NOW, code: true })).toThrow(expect.objectContaining({ code: 'paycode.range' }));
    expect(() => r.openRequest({ amount: 5, currency: HKD, now: NOW, code: true, challenge: new Uint8Array(8).fill(1) })).toThrow(expect.objectContaining({ code: 'paycode.range' }));
    expect(r.openRequestInfo()).toBeUndefined();
  });

  // The model: the verdict depends only on which kind of request the reader opened, which time the wallet signed,
  // and the request's age; never on the wallet's clock.
  it('model: accepted iff the signed time matches the kind of the open request and the request is fresh (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          asCode: fc.boolean(),
          payAsCode: fc.boolean(),
          amount: fc.integer({ min: 1, max: 50_000 }),
          walletSkew: fc.integer({ min: -100_000, max: 100_000 }),
          age: fc.integer({ min: 0, max: 2 * MAX_AGE }),
        }),
        async ({ asCode, payAsCode, amount, walletSkew, age }) => {
          const r = reader();
          const w = makeWallet(issuer, 'paycode', 'model');
          const open = r.openRequest({ amount, currency: HKD, now: NOW, code: asCode, ...(asCode ? {} : { challenge: new Uint8Array([0, 0, 0, 0, 0, 1, 2, 3]) }) });
          // Paying "as a code" means signing PAYMENT_CODE_SIGNED_TIME; otherwise the wallet signs the request's time
          // from the signed request (what a QR scan gives), or, wrongly, its own clock.
          const p = { payee: 4201, amount, challenge: open.request.challenge };
          const tok = payAsCode ? await w.wallet.payCode(p) : await w.wallet.payTo({ ...p, time: walletSkew === 0 ? NOW : NOW + walletSkew });
          const v = await r.accept(tok, { now: NOW + age });
          const signedRight = asCode ? payAsCode : !payAsCode && walletSkew === 0;
          if (!signedRight) expect(v).toMatchObject({ accepted: false, reason: 'bad_token_signature' });
          else if (age > MAX_AGE) expect(v).toMatchObject({ accepted: false, reason: 'time_too_old' });
          else expect(v).toMatchObject({ accepted: true, status: 'accepted' });
        },
      ),
      { numRuns: 60 },
    );
  });

  it('stateless verify: a code token verifies only against a code request context, and not after the request expired', async () => {
    const r = reader();
    const open = r.openRequest({ amount: 700, currency: HKD, now: NOW, code: true });
    const tok = await makeWallet(issuer, 'paycode', 'c').wallet.payCode(decodePaymentCode(open.paymentCode!));
    const base = { issuerKeys: issuer.keySet(), payees: [4201] };
    const req = requestContextOf(open.request);
    expect(verifyToken(tok, { ...base, now: NOW + 10, request: { ...req, code: true } })).toMatchObject({ accepted: true, token: { time: PAYMENT_CODE_SIGNED_TIME } });
    expect(verifyToken(tok, { ...base, now: NOW + 10, request: req })).toMatchObject({ accepted: false, reason: 'bad_token_signature' });
    expect(verifyToken(tok, { ...base, now: NOW + MAX_AGE + 1, request: { ...req, code: true } })).toMatchObject({ accepted: false, reason: 'time_too_old' });
    expect(verifyToken(tok, { ...base, now: NOW - 61, request: { ...req, code: true } })).toMatchObject({ accepted: false, reason: 'time_in_future' });
    expect(decodeToken(tok).requestBound).toBe(true);
  });
});
