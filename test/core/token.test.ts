import fc from 'fast-check';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  MemoryCounterStore,
  OffpayError,
  Wallet,
  createReceipt,
  createRequest,
  decodeIssuerKeySet,
  decodeReaderCert,
  decodeReceipt,
  decodeRequest,
  decodeToken,
  decodeTokenWithInputs,
  bindToken,
  decodeWalletCert,
  encodeIssuerKeySet,
  encodeReaderCert,
  encodeWalletCert,
  tokenHash,
  tokenSigningInput,
  verifyReceipt,
  walletCertSigningInput,
  verifyToken,
  type CounterState,
  type CounterStore,
} from '../../src/index.js';
import { FileCounterStore, createCounterFile } from '../../src/node/files.js';
import { world } from './helpers.js';

const NOW = 1_795_000_000;

describe('messages', () => {
  it('every message round-trips through its codec', async () => {
    const { issuer, wallet, reader } = world('codec');
    expect(decodeIssuerKeySet(encodeIssuerKeySet(issuer.keySet()))).toEqual(issuer.keySet());
    expect(decodeWalletCert(encodeWalletCert(wallet.cert))).toEqual(wallet.cert);
    expect(decodeReaderCert(encodeReaderCert(reader.cert))).toEqual(reader.cert);
    const { request, bytes } = createRequest(reader, { amount: 990, currency: 344, time: NOW });
    expect(decodeRequest(bytes)).toEqual(request);
    const token = await wallet.payTo({ payee: 4201, amount: 990 });
    const { receipt, bytes: rb } = createReceipt(reader, { readerId: 4201, tokenHash: tokenHash(token), outcome: 'accepted', reason: 0, time: NOW });
    expect(decodeReceipt(rb)).toEqual(receipt);
    expect(verifyReceipt(rb, reader.cert.readerPublicKey, token).outcome).toBe('accepted');
    const forged = rb.slice();
    forged[forged.length - 1]! ^= 1;
    expect(() => verifyReceipt(forged, reader.cert.readerPublicKey, token)).toThrow(expect.objectContaining({ code: 'receipt.bad_signature' }));
  });

  it('mutated and random token bytes always give a rejected verdict, never an exception', async () => {
    const { issuer, wallet } = world('fuzz');
    const token = await wallet.payTo({ payee: 4201, amount: 1250 });
    const ctx = { issuerKeys: issuer.keySet(), now: NOW, payees: [4201] };
    expect(verifyToken(token, ctx).accepted).toBe(true);
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 400 }),
          fc.tuple(fc.nat(token.length - 1), fc.integer({ min: 1, max: 255 })).map(([i, x]) => Uint8Array.from(token, (b, j) => (j === i ? b ^ x : b))),
          fc.nat(token.length - 1).map((n) => token.slice(0, n)),
          fc.uint8Array({ minLength: 1, maxLength: 8 }).map((t) => Uint8Array.from([...token, ...t])),
        ),
        (bytes) => {
          const v = verifyToken(bytes, ctx);
          expect(v.accepted).toBe(false);
          if (!v.accepted) expect(v.code).toBeGreaterThan(0);
        },
      ),
      { numRuns: 2000 },
    );
  });
});

describe('wallet', () => {
  it('never reuses a counter, also with concurrent payments', async () => {
    const { wallet } = world('conc');
    const tokens = await Promise.all(Array.from({ length: 40 }, () => wallet.payTo({ payee: 4201, amount: 10 })));
    const counters = tokens.map((t) => decodeToken(t).counter).sort((a, b) => a - b);
    expect(counters).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
  });

  it('persists the counter before the token exists: a failed commit emits nothing and burns nothing', async () => {
    const { wallet } = world('crash');
    let fail = true;
    const inner = new MemoryCounterStore();
    const flaky: CounterStore = {
      load: () => inner.load(),
      reserve: async (step: (s: CounterState) => CounterState) => {
        if (fail) throw new Error('disk full');
        return inner.reserve(step);
      },
    };
    const w = new Wallet({ secretKey: wallet.secretKey, cert: wallet.cert, counter: flaky, clock: () => NOW });
    await expect(w.payTo({ payee: 1, amount: 5 })).rejects.toThrow('disk full');
    fail = false;
    expect(decodeToken(await w.payTo({ payee: 1, amount: 5 })).counter).toBe(1);
  });

  it('a file counter survives a restart (a new wallet object on the same file)', async () => {
    const { wallet } = world('file');
    const dir = mkdtempSync(join(tmpdir(), 'offpay-counter-'));
    const path = join(dir, 'counter.json');
    await createCounterFile(path);
    const w1 = new Wallet({ secretKey: wallet.secretKey, cert: wallet.cert, counter: new FileCounterStore(path), clock: () => NOW });
    await w1.payTo({ payee: 1, amount: 5 });
    await w1.payTo({ payee: 1, amount: 5 });
    const w2 = new Wallet({ secretKey: wallet.secretKey, cert: wallet.cert, counter: new FileCounterStore(path), clock: () => NOW });
    expect(decodeToken(await w2.payTo({ payee: 1, amount: 5 })).counter).toBe(3);
    expect(JSON.parse(readFileSync(path, 'utf8'))).toEqual({ counter: 3, spent: 15 });
    writeFileSync(path, '{"counter": "x"}');
    await expect(w2.payTo({ payee: 1, amount: 5 })).rejects.toBeInstanceOf(OffpayError);
  });

  it('refuses what the certificate does not allow', async () => {
    const { wallet, issuer } = world('limits');
    await expect(wallet.payTo({ payee: 1, amount: 50_001 })).rejects.toMatchObject({ code: 'wallet.over_payment_limit' });
    await expect(wallet.payTo({ payee: 1, amount: 0 })).rejects.toMatchObject({ code: 'wallet.amount_invalid' });
    await wallet.payTo({ payee: 1, amount: 50_000 });
    await wallet.payTo({ payee: 1, amount: 50_000 });
    await expect(wallet.payTo({ payee: 1, amount: 1 })).rejects.toMatchObject({ code: 'wallet.over_offline_allowance' });
    const { reader } = world('limits');
    const { bytes } = createRequest(reader, { amount: 100, currency: 840, time: NOW });
    await expect(wallet.pay(bytes, { issuerKeys: issuer.keySet() })).rejects.toMatchObject({ code: 'wallet.currency_mismatch' });
  });

  it('checks the reader before paying a request', async () => {
    const { wallet, issuer } = world('req');
    const other = world('someone-else');
    const { bytes } = createRequest(other.reader, { amount: 100, currency: 344, time: NOW });
    await expect(wallet.pay(bytes, { issuerKeys: issuer.keySet() })).rejects.toMatchObject({ code: 'request.bad_certificate_signature' });
  });
});

describe('signing inputs sliced from received token bytes', () => {
  it('equal the re-encoded ones, with and without a challenge, at every field width', async () => {
    const { wallet } = world('slices');
    const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 2000 }), fc.integer({ min: 0, max: 2 ** 32 - 1 }), fc.option(fc.uint8Array({ minLength: 8, maxLength: 8 })), async (amount, payee, challenge) => {
        const time = 1_795_000_000 + (payee % 1000);
        const bytes = await wallet.payTo({ payee, amount, time, ...(challenge ? { challenge } : {}) });
        // A request-bound token is completed with its request's reader id, time and challenge (spec §4.3).
        const d = decodeTokenWithInputs(bytes, challenge ? { payee, time, challenge } : undefined);
        expect(d.wire).toEqual(decodeToken(bytes));
        expect(d.wire.requestBound).toBe(challenge !== null);
        expect(d.token).toEqual({ ...bindToken(d.wire, challenge ? { payee, time, challenge } : undefined)! });
        expect(d.token).toMatchObject({ payee, amount, time });
        expect(hex(d.certSigningInput)).toBe(hex(walletCertSigningInput(d.wire.walletCert)));
        expect(hex(d.tokenSigningInput!)).toBe(hex(tokenSigningInput(d.token!)));
        // Without its request a request-bound token has no signing input.
        if (challenge) expect(decodeTokenWithInputs(bytes).tokenSigningInput).toBeUndefined();
      }),
      { numRuns: 40 }, // 40 payments of at most 20.00 stay inside the wallet's 1,000.00 offline allowance
    );
  });
});

describe('keys and contexts the verifier refuses', () => {
  it('the issuer certifies only canonical prime-order keys: small-order, mixed-order, non-canonical and off-curve keys are issuer.weak_public_key', async () => {
    const { ed25519 } = await import('@noble/curves/ed25519.js');
    const { torsionPoint } = await import('../../src/ed25519-craft.js');
    const { issuer, reader } = world('weak');
    const good = ed25519.Point.BASE.multiply(12345n);
    const offCurve = Uint8Array.from({ length: 32 }, (_, i) => (i === 0 ? 2 : 0)); // y = 2 is not on the curve
    const keys = [
      torsionPoint(1).toBytes(),
      good.add(torsionPoint(1)).toBytes(),
      good.add(torsionPoint(4)).toBytes(), // order-2 component
      Uint8Array.from({ length: 32 }, (_, i) => (i === 0 ? 0xee : i === 31 ? 0x7f : 0xff)),
      offCurve,
    ];
    for (const k of keys) {
      expect(() => issuer.issueWalletCert({ walletPublicKey: k, expiryDay: 30000, maxPerPayment: 1, offlineAllowance: 1, currency: 344 }, NOW)).toThrow(
        expect.objectContaining({ code: 'issuer.weak_public_key' }),
      );
      expect(() => issuer.issueReaderCert({ ...reader.cert, readerPublicKey: k }, NOW)).toThrow(expect.objectContaining({ code: 'issuer.weak_public_key' }));
    }
    expect(() => issuer.issueWalletCert({ walletPublicKey: good.toBytes(), expiryDay: 30000, maxPerPayment: 1, offlineAllowance: 1, currency: 344 }, NOW)).not.toThrow();
  });

  it('an issuer key set holds at most 255 keys, indexes 0-255 (spec §1, messages.cddl)', () => {
    const key = (keyIndex: number) => ({ keyIndex, publicKey: new Uint8Array(32).fill(9), notBefore: 0, notAfter: 1 });
    const set255 = { issuerId: 1, keys: Array.from({ length: 255 }, (_, i) => key(i + 1)) };
    expect(decodeIssuerKeySet(encodeIssuerKeySet(set255)).keys.at(-1)!.keyIndex).toBe(255);
    const set256 = { issuerId: 1, keys: Array.from({ length: 256 }, (_, i) => key(i)) };
    expect(() => decodeIssuerKeySet(encodeIssuerKeySet(set256))).toThrow(expect.objectContaining({ code: 'message.bad_structure' }));
  });

  it('a request and an expected amount together are verify.bad_context, not a verdict', async () => {
    const { issuer, wallet } = world('ctx');
    const token = await wallet.payTo({ payee: 4201, amount: 1250 });
    const ctx = { issuerKeys: issuer.keySet(), now: NOW, payees: [4201] };
    const request = { readerId: 4201, amount: 1250, currency: 344, challenge: new Uint8Array(8), time: NOW };
    expect(verifyToken(token, { ...ctx, expected: { amount: 1250 } }).accepted).toBe(true);
    expect(() => verifyToken(token, { ...ctx, request, expected: { amount: 1250 } })).toThrow(expect.objectContaining({ code: 'verify.bad_context' }));
  });
});
