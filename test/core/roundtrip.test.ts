import { describe, expect, it } from 'vitest';
import {
  createRequest,
  decodeToken,
  encodeIssuerKeySet,
  decodeIssuerKeySet,
  requestContextOf,
  verifyToken,
  verifyTokenAsync,
  webCryptoEd25519,
  type VerifyContext,
} from '../../src/index.js';
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

  it('a one-way token with its certificate fits the 200-byte budget', async () => {
    const { wallet } = world();
    const token = await wallet.payTo({ payee: 4201, amount: 1250 });
    expect(token.length).toBeLessThanOrEqual(200);
  });
});
