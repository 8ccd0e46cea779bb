import { describe, expect, it } from 'vitest';
import {
  Issuer,
  MemoryCounterStore,
  Wallet,
  createRequest,
  dayOf,
  decodeToken,
  encodeIssuerKeySet,
  decodeIssuerKeySet,
  publicKeyOf,
  seededSecretKey,
  verifyToken,
  verifyTokenAsync,
  webCryptoEd25519,
  type VerifyContext,
} from '../../src/index.js';
import { nodeEd25519 } from '../../src/node/crypto.js';

const NOW = 1_795_000_000; // 2026-11-18
export function world(seed = 'rt') {
  const issuer = Issuer.fromSecret(7, 1, seededSecretKey(seed, 'issuer'), NOW - 86400 * 365, NOW + 86400 * 365);
  const wsk = seededSecretKey(seed, 'wallet');
  const cert = issuer.issueWalletCert(
    { walletPublicKey: publicKeyOf(wsk), expiryDay: dayOf(NOW) + 30, maxPerPayment: 50_000, offlineAllowance: 100_000, currency: 344 },
    NOW,
  );
  const wallet = new Wallet({ secretKey: wsk, cert, counter: new MemoryCounterStore(), clock: () => NOW });
  const rsk = seededSecretKey(seed, 'reader');
  const readerCert = issuer.issueReaderCert(
    { readerId: 4201, readerPublicKey: publicKeyOf(rsk), operatorId: 90, profile: 'vending', notBefore: NOW - 86400, notAfter: NOW + 86400 * 365 },
    NOW,
  );
  return { issuer, wallet, reader: { secretKey: rsk, cert: readerCert } };
}

describe('token round trip', () => {
  it('pays a request and verifies with every backend', async () => {
    const { issuer, wallet, reader } = world();
    const { request, bytes: reqBytes } = createRequest(reader, { amount: 1250, currency: 344, time: NOW, challenge: new Uint8Array(8).fill(9) });
    const token = await wallet.pay(reqBytes, { issuerKeys: issuer.keySet() });
    const ctx: VerifyContext = { issuerKeys: decodeIssuerKeySet(encodeIssuerKeySet(issuer.keySet())), now: NOW + 5, payees: [4201], request };
    const v = verifyToken(token, ctx);
    expect(v.accepted).toBe(true);
    expect(verifyToken(token, ctx, nodeEd25519()).accepted).toBe(true);
    expect((await verifyTokenAsync(token, ctx, webCryptoEd25519())).accepted).toBe(true);
    const t = decodeToken(token);
    expect(t.counter).toBe(1);
    expect(t.amount).toBe(1250);
    expect(token.length).toBeLessThanOrEqual(209);
  });

  it('rejects a token for another payee', async () => {
    const { issuer, wallet } = world();
    const token = await wallet.payTo({ payee: 555, amount: 100 });
    const v = verifyToken(token, { issuerKeys: issuer.keySet(), now: NOW, payees: [4201] });
    expect(v).toMatchObject({ accepted: false, reason: 'wrong_payee', code: 11 });
  });

  it('a one-way token with its certificate fits the 200-byte budget', async () => {
    const { wallet } = world();
    const token = await wallet.payTo({ payee: 4201, amount: 1250 });
    expect(token.length).toBeLessThanOrEqual(200);
  });
});
