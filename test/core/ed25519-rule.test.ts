import { createPublicKey, verify } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ed25519 } from '@noble/curves/ed25519.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ed25519Precheck, nobleEd25519, webCryptoEd25519 } from '../../src/crypto.js';
import { fromHex } from '../../base/hex.js';
import { CRAFT_FAMILIES, craft, craftScalar } from '../../src/ed25519-craft.js';
import { nodeEd25519 } from '../../src/node/crypto.js';
import { cachingVerifier } from '../../src/reader/verifier.js';
import { checkTokenJobs } from '../../src/clearing/pool.js';
import { dayOf } from '../../src/issuer.js';
import { tokenSigningInput, tokenToCbor, walletCertSigningInput, type WalletCert } from '../../src/messages.js';
import { encodeCbor } from '../../src/cbor.js';
import { publicKeyOf, seededSecretKey, sign } from '../../src/crypto.js';
import { verifyToken, verifyTokenAsync } from '../../src/verify.js';

const node = nodeEd25519();
const web = webCryptoEd25519();
const cachedNode = cachingVerifier(nodeEd25519(), 64);

interface WycheproofFile {
  testGroups: { publicKey: { pk: string }; tests: { tcId: number; msg: string; sig: string; result: 'valid' | 'invalid' }[] }[];
}

describe("offpay's one Ed25519 rule, in every backend", () => {
  it('every crafted edge case gets the verdict of the rule from noble, node:crypto, WebCrypto and the certificate cache', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...CRAFT_FAMILIES),
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ maxLength: 80 }),
        fc.integer({ min: 0, max: 7 }),
        fc.integer({ min: 0, max: 7 }),
        async (family, seed, message, t1, t2) => {
          const c = craft(family, message, craftScalar(seed), seed, t1, t2);
          const verdicts = [
            nobleEd25519.verify(c.signature, message, c.publicKey),
            node.verify(c.signature, message, c.publicKey),
            await web.verify(c.signature, message, c.publicKey),
            cachedNode.verify(c.signature, message, c.publicKey),
          ];
          expect(verdicts).toEqual([c.valid, c.valid, c.valid, c.valid]);
        },
      ),
      { numRuns: 400, seed: 12 },
    );
  });

  it('mixed-order keys: valid exactly when the cofactorless equation holds (about 1 in ord(T)), in every backend', async () => {
    let held = 0;
    for (let i = 0; i < 64; i++) {
      const seed = Uint8Array.from({ length: 32 }, (_, j) => (i * 7 + j) & 0xff);
      const msg = Uint8Array.of(i);
      const c = craft('mixedA', msg, craftScalar(seed), seed, 4); // T of order 2: the equation holds for even k
      if (c.cofactorless) held++;
      expect(c.valid).toBe(c.cofactorless);
      expect(nobleEd25519.verify(c.signature, msg, c.publicKey)).toBe(c.valid);
      expect(node.verify(c.signature, msg, c.publicKey)).toBe(c.valid);
      expect(await web.verify(c.signature, msg, c.publicKey)).toBe(c.valid);
    }
    expect(held).toBeGreaterThan(10);
    expect(held).toBeLessThan(54);
  });

  it('the catalogue cases the old backends disagreed on are real: cofactored checks and OpenSSL alone accept them', () => {
    const seed = new Uint8Array(32).fill(5);
    const msg = Uint8Array.of(1, 2, 3);
    const mixedR = craft('mixedR', msg, craftScalar(seed), seed, 1);
    expect(mixedR.cofactored && !mixedR.cofactorless && !mixedR.valid).toBe(true);
    // noble's own verify (cofactored even with zip215: false) accepts it: offpay's noble backend must not use it.
    expect(ed25519.verify(mixedR.signature, msg, mixedR.publicKey, { zip215: false })).toBe(true);
    expect(nobleEd25519.verify(mixedR.signature, msg, mixedR.publicKey)).toBe(false);
    // A small-order key with a small-order R and S = 0 where the cofactorless equation holds: OpenSSL accepts it
    // on its own; the precheck stops it.
    let forged;
    for (let i = 0; i < 64 && !forged; i++) {
      const c = craft('smallBoth', msg, 1n, seed, i % 8, 1 + (i >> 3)); // A of order 8, 4 or 2
      if (c.cofactorless && !c.publicKey.every((b, j) => b === (j === 0 ? 1 : 0))) forged = c;
    }
    expect(forged).toBeDefined();
    expect(node.verify(forged!.signature, msg, forged!.publicKey)).toBe(false);
    const raw = createPublicKey({ key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), forged!.publicKey]), format: 'der', type: 'spki' });
    // OpenSSL's own verdict depends on its version (3.0 in Node 20 accepts, 3.5 in Node 24 refuses): the
    // precheck makes offpay's verdict independent of it. Where this OpenSSL accepts, the precheck is what stopped it.
    const opensslAlone = verify(null, msg, raw, forged!.signature);
    if (process.versions.openssl.startsWith('3.0.')) expect(opensslAlone).toBe(true);
    expect(ed25519Precheck(forged!.signature, forged!.publicKey)).toBe(false);
  });

  it('the token verifier (noble, WebCrypto) and the clearing path (node:crypto behind the certificate cache) give the same verdict on crafted tokens', async () => {
    const NOW = 1_795_000_000;
    const issuerSk = seededSecretKey('rule', 'issuer');
    const issuerKeys = { issuerId: 1, keys: [{ keyIndex: 1, publicKey: publicKeyOf(issuerSk), notBefore: NOW - 86400, notAfter: NOW + 86400 }] };
    const clearingVerifier = cachingVerifier(nodeEd25519(), 256);
    const certFor = (A: Uint8Array): WalletCert => {
      const body = { keyIndex: 1, walletPublicKey: A, expiryDay: dayOf(NOW) + 30, maxPerPayment: 50_000, offlineAllowance: 60_000, currency: 344 };
      return { ...body, issuerSignature: sign(walletCertSigningInput(body), issuerSk) };
    };
    const seen = new Set<string>();
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...CRAFT_FAMILIES), fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.integer({ min: 1, max: 4_000_000 }), fc.integer({ min: 0, max: 7 }), fc.integer({ min: 0, max: 7 }),
        async (family, seed, counter, t1, t2) => {
          const body = (A: Uint8Array) => ({ walletCert: certFor(A), payee: 4201, amount: 1250, counter, time: NOW - 10 });
          const c = craft(family, (A) => tokenSigningInput(body(A)), craftScalar(seed), seed, t1, t2);
          const bytes = encodeCbor(tokenToCbor({ ...body(c.publicKey), walletSignature: c.signature }));
          const ctx = { issuerKeys, now: NOW, payees: [4201] };
          const a = verifyToken(bytes, ctx);
          const b = await verifyTokenAsync(bytes, ctx, web);
          const [clearing] = checkTokenJobs([{ data: bytes, now: NOW, payees: [4201], maxAge: 300, maxFuture: 60 }], issuerKeys, clearingVerifier);
          const reason = (v: typeof a) => (v.accepted ? 'accepted' : v.reason);
          expect(reason(b)).toBe(reason(a));
          expect(clearing!.ok ? 'accepted' : (clearing as { reason: string }).reason).toBe(reason(a));
          seen.add(reason(a));
        }),
      { numRuns: 150, seed: 5 },
    );
    // the property reached all three outcomes: accepted, a refused key, a refused signature
    expect([...seen].sort()).toEqual(['accepted', 'bad_token_signature', 'weak_public_key']);
  });

  it('every Wycheproof Ed25519 case (151) gets Wycheproof’s result from every backend', async () => {
    const w = JSON.parse(readFileSync('fixtures/wycheproof/ed25519_test.json', 'utf8')) as WycheproofFile;
    let n = 0;
    for (const g of w.testGroups) {
      const pk = fromHex(g.publicKey.pk);
      for (const t of g.tests) {
        n++;
        const want = t.result === 'valid';
        const sig = fromHex(t.sig);
        const msg = fromHex(t.msg);
        const got = [nobleEd25519.verify(sig, msg, pk), node.verify(sig, msg, pk), await web.verify(sig, msg, pk)];
        expect({ tcId: t.tcId, got }).toEqual({ tcId: t.tcId, got: [want, want, want] });
      }
    }
    expect(n).toBe(151);
  });
});
