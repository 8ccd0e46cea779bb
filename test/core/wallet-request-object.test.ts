/**
 * The wallet attack review (2026-12-07): `Wallet.pay` accepts a request as bytes or as a decoded `PaymentRequest` object, and
 * takes `issuerKeys` to check it (its doc: "With `issuerKeys`, the request's reader certificate and signature are
 * checked first"). Given an object, it skipped the check silently, whatever `issuerKeys` said (fixed: the object is encoded and checked as its bytes are): a forged request (an
 * uncertified reader key, a certificate altered to name another payee, a bad request signature, a request from
 * last week) was paid. spec/protocol.md §6: a wallet that holds the issuer key set SHOULD verify a request (steps
 * 1-9: certificate key, issuer key, certificate signature and validity, request signature, time window) before it
 * pays; an integrator who passed the issuer keys believes it did.
 */
import { describe, expect, it } from 'vitest';
import { createRequest, decodeRequest, MemoryCounterStore, OffpayError, seededSecretKey, publicKeyOf, Wallet } from '../../src/index.js';
import { NOW, makeIssuer, makeReader, makeWallet } from '../reader/helpers.js';

const issuer = makeIssuer('zz-wallet-obj');
const R = makeReader(issuer, 'zz-wallet-obj', 4201);
const walletOn = () => {
  const w = makeWallet(issuer, 'zz-wallet-obj', 'a');
  return new Wallet({ secretKey: w.secretKey, cert: w.cert, counter: new MemoryCounterStore(), clock: () => NOW });
};
const code = async (p: Promise<unknown>) => p.then(() => 'paid', (e: unknown) => (e instanceof OffpayError ? e.code : String(e)));

describe('Wallet.pay with a PaymentRequest object and issuerKeys (spec/protocol.md §6)', () => {
  it('a request object whose certificate was altered to name another payee is refused, as its bytes are', async () => {
    const { request } = createRequest(R, { amount: 1250, currency: 344, time: NOW - 5 });
    // The attacker's payee id written into the genuine certificate: the issuer signature no longer covers it.
    const forged = { ...request, readerCert: { ...request.readerCert, readerId: 6666 } };
    const w = walletOn();
    // The same forgery as bytes is refused (the reference behaviour the object path should share).
    const { encodeRequest } = await import('../../src/messages.js');
    expect(await code(w.pay(encodeRequest(forged), { issuerKeys: issuer.keySet() }))).toBe('request.bad_certificate_signature');
    expect(await code(w.pay(forged, { issuerKeys: issuer.keySet() })), 'the forged object was paid although issuerKeys were given').toBe('request.bad_certificate_signature');
  });

  it('a request object signed by a key the issuer never certified is refused', async () => {
    const rogueKey = seededSecretKey('zz-wallet-obj', 'rogue');
    const { request } = createRequest({ secretKey: rogueKey, cert: { ...R.cert, readerPublicKey: publicKeyOf(rogueKey) } }, { amount: 50_000, currency: 344, time: NOW - 5 });
    expect(await code(walletOn().pay(request, { issuerKeys: issuer.keySet() }))).toMatch(/^request\./);
  });

  it('a week-old request object is refused (time window, §6 step 9)', async () => {
    const { bytes } = createRequest(R, { amount: 1250, currency: 344, time: NOW - 7 * 86400 });
    expect(await code(walletOn().pay(decodeRequest(bytes), { issuerKeys: issuer.keySet() }))).toBe('request.time_too_old');
  });
});
