import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fromHex, nobleEd25519, publicKeyOf, sign, signingInput, toHex, utf8, webCryptoEd25519 } from '../../src/crypto.js';
import { nodeEd25519 } from '../../src/node/crypto.js';
import { malleate } from '../../src/vectors.js';
import { isWeakPublicKey, weakPublicKeys } from '../../src/weakkeys.js';

describe('Ed25519 backends', () => {
  it('RFC 8032 §7.1 test 1 (known answer)', () => {
    const sk = fromHex('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60');
    const pk = publicKeyOf(sk);
    expect(toHex(pk)).toBe('d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a');
    const sig = sign(new Uint8Array(0), sk);
    expect(toHex(sig)).toBe('e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b');
    expect(nobleEd25519.verify(sig, new Uint8Array(0), pk)).toBe(true);
  });

  it('noble, node:crypto and WebCrypto agree on valid, tampered and malleated signatures', async () => {
    const node = nodeEd25519();
    const web = webCryptoEd25519();
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ maxLength: 100 }), fc.integer({ min: 0, max: 3 }), async (sk, msg, mode) => {
        const pk = publicKeyOf(sk);
        let sig = sign(msg, sk);
        if (mode === 1) sig = malleate(sig);
        if (mode === 2) sig = Uint8Array.from(sig, (b, i) => (i === 10 ? b ^ 4 : b));
        const m = mode === 3 ? Uint8Array.from([...msg, 1]) : msg;
        const a = nobleEd25519.verify(sig, m, pk);
        expect(node.verify(sig, m, pk)).toBe(a);
        expect(await web.verify(sig, m, pk)).toBe(a);
        expect(a).toBe(mode === 0);
      }),
      { numRuns: 60 },
    );
  });

  it('wrong lengths are invalid, not exceptions', async () => {
    const pk = publicKeyOf(new Uint8Array(32).fill(1));
    for (const v of [nobleEd25519, nodeEd25519()]) {
      expect(v.verify(new Uint8Array(63), utf8('x'), pk)).toBe(false);
      expect(v.verify(new Uint8Array(64), utf8('x'), pk.slice(1))).toBe(false);
    }
    expect(await webCryptoEd25519().verify(new Uint8Array(64), utf8('x'), new Uint8Array(32).fill(0xff))).toBe(false);
  });

  it('the signing input is len(tag) || tag || body', () => {
    expect(toHex(signingInput('AB', Uint8Array.of(1)))).toBe('02414201');
  });

  it('lists the 14 encodings of small-order points and nothing else', () => {
    expect(weakPublicKeys()).toHaveLength(14);
    expect(isWeakPublicKey(fromHex('0100000000000000000000000000000000000000000000000000000000000000'))).toBe(true);
    expect(isWeakPublicKey(fromHex('ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f'))).toBe(true);
    expect(isWeakPublicKey(publicKeyOf(new Uint8Array(32).fill(3)))).toBe(false);
  });
});
