import * as nodeCrypto from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ed25519 } from '@noble/curves/ed25519.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { torsionPoint } from '../../src/ed25519-craft.js';
import { isCanonicalEncoding, isPrimeOrderKey, isSmallOrderEncoding, primeOrderBackend, primeOrderByNoble, SMALL_ORDER_ENCODINGS } from '../../src/weakkeys.js';
import { FIELD_P, lehmerInverseModP, montgomeryU, ORDER_L, TORSION_SCALAR, TWIST_PRIME, twistResidue, x25519TorsionCheck, type X25519Platform } from '../../src/x25519-torsion.js';
import { fromHex } from '../../base/hex.js';

const fast = x25519TorsionCheck(nodeCrypto as unknown as X25519Platform);
/** Both forms on a string the caller would pass them (canonical, not small-order), else undefined. */
const both = (b: Uint8Array): [boolean, boolean] | undefined =>
  isCanonicalEncoding(b) && !isSmallOrderEncoding(b) ? [fast(b), primeOrderByNoble(b)] : undefined;
const scalar = fc.bigInt({ min: 1n, max: ORDER_L - 1n });

describe('the prime-order check by one X25519 multiplication (src/x25519-torsion.ts) = noble decoding + [L]P', () => {
  it('the scalar 5L - 1: clamped form as it is, -1 mod L, 0 mod 8; the twist never passes', () => {
    expect(TORSION_SCALAR % 8n).toBe(0n);
    expect(TORSION_SCALAR >= 2n ** 254n && TORSION_SCALAR < 2n ** 255n).toBe(true);
    expect((TORSION_SCALAR + 1n) % ORDER_L).toBe(0n);
    // the curve has 8L points, the twist 2(p + 1) - 8L = 4 p'
    expect(2n * (FIELD_P + 1n) - 8n * ORDER_L).toBe(4n * TWIST_PRIME);
    expect([1n, TWIST_PRIME - 1n]).not.toContain(twistResidue());
    // the bytes spec/protocol.md §8.2 gives
    const hex = [...Array(32).keys()].map((i) => Number((TORSION_SCALAR >> BigInt(8 * i)) & 0xffn).toString(16).padStart(2, '0')).join('');
    expect(readFileSync('spec/protocol.md', 'utf8')).toContain(`\`${hex}\``);
    expect(hex).toBe('a023cdd083ef5bb82f10d62e59e15a6800000000000000000000000000000050');
  });

  it('prime-order points pass, and every mixed-order point P + T (T of order 2, 4 or 8) fails, in both forms', () => {
    fc.assert(
      fc.property(scalar, fc.integer({ min: 0, max: 7 }), fc.boolean(), (k, t, neg) => {
        let P = ed25519.Point.BASE.multiply(k);
        if (neg) P = P.negate();
        const b = P.add(torsionPoint(t)).toBytes();
        const r = both(b);
        expect(r).toEqual([t === 0, t === 0]);
      }),
      { numRuns: 400 },
    );
  });

  it('any 32 bytes (about half not on the curve) get the same verdict from both forms', () => {
    let offCurve = 0;
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), (b) => {
        const r = both(b);
        if (!r) return;
        expect(r[0]).toBe(r[1]);
        if (!r[1]) offCurve++;
      }),
      { numRuns: 600 },
    );
    expect(offCurve).toBeGreaterThan(100); // the property did meet strings off the curve
  });

  it('edge values of y: 0, 2, p - 2, p - 1 neighbours, and the sign bit', () => {
    const ys = [0n, 2n, 3n, FIELD_P - 2n, FIELD_P - 3n, 2n ** 254n, FIELD_P - 20n];
    for (const y of ys) {
      for (const sign of [0, 0x80]) {
        const b = new Uint8Array(32);
        let v = y;
        for (let i = 0; i < 32; i++) {
          b[i] = Number(v & 0xffn);
          v >>= 8n;
        }
        b[31] = b[31]! | sign;
        const r = both(b);
        if (r) expect(r[0]).toBe(r[1]);
      }
    }
    expect(montgomeryU(fromHex(SMALL_ORDER_ENCODINGS[2]!))).toBeUndefined(); // y = 1: no u
  });

  it("the Lehmer inverse mod p is the inverse, on random values and on values where its digits are decided one step at a time", () => {
    const Fp = ed25519.Point.Fp;
    const edge = [1n, 2n, 3n, 19n, FIELD_P - 1n, FIELD_P - 2n, (FIELD_P - 1n) / 2n, 2n ** 52n - 1n, 2n ** 52n, 2n ** 53n + 1n, 2n ** 200n, 2n ** 254n, 2n ** 254n - 1n];
    // Fibonacci-like neighbours (quotients of 1 at every step, the longest Euclidean runs) and powers of two.
    let a = 1n;
    let b = 1n;
    while (b < FIELD_P) [a, b] = [b, a + b];
    edge.push(a, a - 1n, a + 1n);
    for (const v of edge) {
      const r = lehmerInverseModP(v);
      expect(r, `a = ${v}`).toBeDefined();
      expect(r).toBe(Fp.inv(v));
    }
    fc.assert(
      fc.property(fc.bigInt({ min: 1n, max: FIELD_P - 1n }), fc.integer({ min: 0, max: 254 }), (v, bits) => {
        for (const x of [v, (v >> BigInt(bits)) || 1n]) {
          const r = lehmerInverseModP(x);
          expect(r).toBeDefined(); // the fast path itself, not noble's fallback
          expect(r).toBe(Fp.inv(x));
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('isPrimeOrderKey takes the X25519 form on Node (the check this file compares is the one in use)', () => {
    expect(typeof (process as { getBuiltinModule?: unknown }).getBuiltinModule).toBe('function');
    expect(primeOrderBackend()).toBe('x25519');
    const good = ed25519.Point.BASE.multiply(123456789n);
    expect(isPrimeOrderKey(good.toBytes())).toBe(true);
    expect(isPrimeOrderKey(good.add(torsionPoint(3)).toBytes())).toBe(false);
  });
});
