import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { carve, nobleEd25519, prefixKey, publicKeyOf, sha256, sign, signingInput, utf8, webCryptoEd25519, type SyncVerifier } from '../../src/crypto.js';
import { fromHex, toHex } from '../../base/hex.js';
import { SigningTag } from '../../src/messages.js';
import { nodeEd25519, nodeSha256 } from '../../src/node/crypto.js';
import { cachingVerifier } from '../../src/reader/verifier.js';
import { malleate } from '../../src/vectors.js';
import { forgetPrimeOrderKeys, isCanonicalEncoding, isSmallOrderEncoding, isWeakPublicKey, primeOrderMultiplications, rememberPrimeOrderKey, SMALL_ORDER_ENCODINGS, weakPublicKeys } from '../../src/weakkeys.js';

/** The prime-order rule computed directly, without the memo. */
function isPrimeOrderKeyUncached(k: Uint8Array): boolean {
  try {
    const P = ed25519.Point.fromBytes(k, false);
    return !P.is0() && P.isTorsionFree() && isCanonicalEncoding(k) && !isSmallOrderEncoding(k);
  } catch {
    return false;
  }
}
import { torsionPoint } from '../../src/ed25519-craft.js';
import { ed25519 } from '@noble/curves/ed25519.js';

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

  it('lists the 14 encodings of small-order points, recomputed from the curve, and nothing else', () => {
    // Walk E[8] from a point of order 8; add each point's y + p twin (when below 2^255) and, where x = 0, the
    // encodings with the sign bit set.
    const P = ed25519.Point;
    const p = 2n ** 255n - 19n;
    const le = (v: bigint, sign: number) => Uint8Array.from({ length: 32 }, (_, i) => (i === 31 ? (Number((v >> 248n) & 0x7fn) | (sign << 7)) : Number((v >> BigInt(8 * i)) & 0xffn)));
    const t8 = P.fromBytes(fromHex(SMALL_ORDER_ENCODINGS[4]!));
    const found = new Set<string>();
    let pt = P.ZERO;
    for (let k = 0; k < 8; k++) {
      const { x, y } = pt.toAffine();
      found.add(toHex(pt.toBytes()));
      if (y + p < 2n ** 255n) found.add(toHex(le(y + p, Number(x & 1n))));
      if (x === 0n) {
        found.add(toHex(le(y, 1)));
        if (y + p < 2n ** 255n) found.add(toHex(le(y + p, 1)));
      }
      pt = pt.add(t8);
    }
    expect(pt.is0()).toBe(true);
    expect([...found].sort()).toEqual(weakPublicKeys());
    expect(weakPublicKeys()).toHaveLength(14);
    for (const h of weakPublicKeys()) {
      expect(isSmallOrderEncoding(fromHex(h))).toBe(true);
      expect(isWeakPublicKey(fromHex(h))).toBe(true);
    }
    expect(isWeakPublicKey(publicKeyOf(new Uint8Array(32).fill(3)))).toBe(false);
    expect(isSmallOrderEncoding(publicKeyOf(new Uint8Array(32).fill(3)))).toBe(false);
  });

  it('a valid certificate key is a canonical point of prime order: mixed-order keys are weak', () => {
    const good = ed25519.Point.BASE.multiply(987654321n);
    expect(isWeakPublicKey(good.toBytes())).toBe(false);
    expect(isWeakPublicKey(good.toBytes())).toBe(false); // from the memo
    // a mixed-order key sharing the memo's six-byte prefix with a remembered good key is still weak
    const twin = good.toBytes();
    twin[20] = twin[20]! ^ 1;
    expect(isWeakPublicKey(twin)).toBe(!isPrimeOrderKeyUncached(twin));
    for (let i = 1; i < 8; i++) expect(isWeakPublicKey(good.add(torsionPoint(i)).toBytes())).toBe(true);
    expect(isCanonicalEncoding(fromHex('ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f'))).toBe(true);
    expect(isCanonicalEncoding(fromHex('edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f'))).toBe(false);
    expect(isCanonicalEncoding(fromHex('edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff'))).toBe(false);
    expect(isCanonicalEncoding(fromHex('ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f'))).toBe(false);
    expect(isCanonicalEncoding(fromHex('ecfffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffe'))).toBe(true);
  });

  it('a key remembered as of prime order (clearing\'s certificate memo) skips the multiplication, never the cheap checks', () => {
    const good = ed25519.Point.BASE.multiply(123456789n).toBytes();
    forgetPrimeOrderKeys();
    rememberPrimeOrderKey(good);
    const before = primeOrderMultiplications();
    expect(isWeakPublicKey(good)).toBe(false);
    expect(primeOrderMultiplications()).toBe(before);
    // Small-order and non-canonical encodings stay weak whatever is remembered (no multiplication decides them).
    for (const hex of [...SMALL_ORDER_ENCODINGS, 'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f']) {
      rememberPrimeOrderKey(fromHex(hex));
      expect(isWeakPublicKey(fromHex(hex)), hex).toBe(true);
    }
    // A key not remembered is multiplied.
    expect(isWeakPublicKey(ed25519.Point.BASE.multiply(55n).toBytes())).toBe(false);
    expect(primeOrderMultiplications()).toBe(before + 1);
  });
});

describe('allocation and cache helpers', () => {
  it('carve hands out zero-filled, disjoint arrays, across slab boundaries and above the slab limit', () => {
    const got: Uint8Array[] = [];
    for (let i = 0; i < 400; i++) {
      const n = [1, 32, 300, 1024, 1025, 5000][i % 6]!;
      const a = carve(n);
      expect(a.length).toBe(n);
      expect(a.every((b) => b === 0)).toBe(true);
      a.fill((i % 255) + 1);
      got.push(a);
    }
    got.forEach((a, i) => expect(a.every((b) => b === (i % 255) + 1)).toBe(true));
  });

  it('nodeSha256 gives noble SHA-256, in arrays that do not alias each other', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 300 }), { minLength: 1, maxLength: 8 }), (inputs) => {
        const out = inputs.map((d) => nodeSha256(d));
        out.forEach((h, i) => expect(toHex(h)).toBe(toHex(sha256(inputs[i]!))));
      }),
      { seed: 3, numRuns: 60 },
    );
  });

  it('prefixKey is the first six bytes, little-endian', () => {
    expect(prefixKey(Uint8Array.from([1, 2, 3, 4, 5, 6, 7]))).toBe(0x060504030201);
    expect(prefixKey(Uint8Array.from([255, 255, 255, 255, 255, 255]))).toBe(2 ** 48 - 1);
    expect(prefixKey(Uint8Array.from([9]))).toBe(9);
  });

  it('the node:crypto key cache tells apart keys that share a prefix', () => {
    const sk = fromHex('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60');
    const pk = publicKeyOf(sk);
    const msg = utf8('prefix');
    const sig = sign(msg, sk);
    const twin = Uint8Array.from(pk, (b, i) => (i === 20 ? b ^ 1 : b)); // same prefixKey, another key (or none)
    expect(prefixKey(twin)).toBe(prefixKey(pk));
    const node = nodeEd25519();
    for (let round = 0; round < 3; round++) {
      expect(node.verify(sig, msg, pk)).toBe(true);
      expect(node.verify(sig, msg, twin)).toBe(nobleEd25519.verify(sig, msg, twin));
    }
  });

  it('the wallet-certificate memo answers from memory only for the same signature, key and message', () => {
    const sk = fromHex('4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb');
    const pk = publicKeyOf(sk);
    const msg = signingInput(SigningTag.WalletCert, utf8('a certificate body'));
    const sig = sign(msg, sk);
    let calls = 0;
    const inner: SyncVerifier = { name: 'counting', verify: (s, m, k) => (calls++, nobleEd25519.verify(s, m, k)) };
    const v = cachingVerifier(inner, 4);
    expect(v.verify(sig, msg, pk)).toBe(true);
    expect(v.verify(sig, msg, pk)).toBe(true);
    expect(calls).toBe(1); // the second answer came from the memo
    const tail = Uint8Array.from(sig, (b, i) => (i === 63 ? b ^ 0x10 : b)); // same prefixKey, another signature
    expect(v.verify(tail, msg, pk)).toBe(false);
    expect(v.verify(sig, Uint8Array.from([...msg, 0]), pk)).toBe(false);
    expect(v.verify(sig, msg, Uint8Array.from(pk, (b, i) => (i === 31 ? b ^ 1 : b)))).toBe(false);
    expect(calls).toBe(4);
    expect(v.verify(sig, msg, pk)).toBe(true);
  });
});
