import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { crc32 } from '../../base/crc32.js';
import { rsDecode, rsEncode, rsGenerator, rsSyndromes } from '../../codecs/fsk/rs.js';

// An independent, deliberately naive GF(256) (0x11D) written for the tests: bitwise carry-less
// multiplication with reduction, no tables.
function slowMul(a: number, b: number): number {
  let r = 0;
  while (b) {
    if (b & 1) r ^= a;
    a <<= 1;
    if (a & 0x100) a ^= 0x11d;
    b >>= 1;
  }
  return r;
}
function slowPow(e: number): number {
  let r = 1;
  for (let i = 0; i < e; i++) r = slowMul(r, 2);
  return r;
}
/** Evaluate a polynomial (highest degree first) at x, naively. */
function slowEval(poly: ArrayLike<number>, x: number): number {
  let acc = 0;
  for (let i = 0; i < poly.length; i++) acc = slowMul(acc, x) ^ poly[i]!;
  return acc;
}
/** Remainder of data * x^nsym divided by g, by schoolbook long division. */
function slowParity(data: Uint8Array, g: number[]): number[] {
  const nsym = g.length - 1;
  const buf = [...data, ...new Array<number>(nsym).fill(0)];
  for (let i = 0; i < data.length; i++) {
    const c = buf[i]!;
    if (c === 0) continue;
    for (let j = 0; j < g.length; j++) buf[i + j] = buf[i + j]! ^ slowMul(g[j]!, c);
  }
  return buf.slice(data.length);
}
function slowGenerator(nsym: number): number[] {
  let g = [1];
  for (let i = 0; i < nsym; i++) {
    const r = slowPow(i);
    const next = new Array<number>(g.length + 1).fill(0);
    for (let j = 0; j < g.length; j++) {
      next[j] = next[j]! ^ g[j]!;
      next[j + 1] = next[j + 1]! ^ slowMul(g[j]!, r);
    }
    g = next;
  }
  return g;
}

describe('CRC-32', () => {
  it('matches the published check value for "123456789"', () => {
    expect(crc32(new TextEncoder().encode('123456789'))).toBe(0xcbf43926);
  });
  it('matches other known answers', () => {
    expect(crc32(new Uint8Array(0))).toBe(0);
    expect(crc32(new TextEncoder().encode('The quick brown fox jumps over the lazy dog'))).toBe(0x414fa339);
  });
});

describe('Reed-Solomon GF(256)', () => {
  it('reproduces the ISO/IEC 18004 (QR) published codewords (same field and generator)', () => {
    // QR 1-M "01234567": 16 data codewords, 10 EC codewords.
    const d1 = new Uint8Array([16, 32, 12, 86, 97, 128, 236, 17, 236, 17, 236, 17, 236, 17, 236, 17]);
    expect([...rsEncode(d1, 10)]).toEqual([165, 36, 212, 193, 237, 54, 199, 135, 44, 85]);
    // QR 1-M "HELLO WORLD".
    const d2 = new Uint8Array([32, 91, 11, 120, 209, 114, 220, 77, 67, 64, 236, 17, 236, 17, 236, 17]);
    expect([...rsEncode(d2, 10)]).toEqual([196, 35, 39, 119, 235, 215, 231, 226, 93, 23]);
  });

  it('generator equals an independent naive product', () => {
    for (const nsym of [2, 8, 10, 48]) expect([...rsGenerator(nsym)]).toEqual(slowGenerator(nsym));
  });

  it('parity equals naive long division and every root of g is a root of the codeword', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 207 }), fc.integer({ min: 2, max: 48 }), (data, nsym) => {
        const parity = rsEncode(data, nsym);
        expect([...parity]).toEqual(slowParity(data, slowGenerator(nsym)));
        const cw = new Uint8Array([...data, ...parity]);
        for (let j = 0; j < nsym; j++) expect(slowEval(cw, slowPow(j))).toBe(0);
      }),
      { numRuns: 60, seed: 1 },
    );
  });

  it('corrects any pattern with 2e + s <= nsym (errors and erasures)', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 1, maxLength: 207 }),
        fc.integer({ min: 2, max: 48 }),
        fc.integer({ min: 0, max: 2 ** 31 - 1 }),
        (data, nsym, seed) => {
          const cw = new Uint8Array([...data, ...rsEncode(data, nsym)]);
          const n = cw.length;
          let st = seed >>> 0 || 1;
          const rnd = () => ((st = (Math.imul(st, 1103515245) + 12345) >>> 0), st / 2 ** 32);
          const s = Math.floor(rnd() * (Math.min(nsym, n) + 1));
          const e = Math.floor(rnd() * (Math.floor((nsym - s) / 2) + 1));
          const perm = [...Array(n).keys()].sort(() => rnd() - 0.5);
          const eras = perm.slice(0, s);
          const errs = perm.slice(s, s + Math.min(e, n - s));
          const rx = cw.slice();
          for (const p of eras) rx[p] = Math.floor(rnd() * 256); // may or may not be wrong
          for (const p of errs) rx[p] = rx[p]! ^ (1 + Math.floor(rnd() * 255));
          const out = rsDecode(rx, nsym, eras);
          expect(out).not.toBeNull();
          expect([...out!.codeword]).toEqual([...cw]);
          expect(out!.errors).toBe(errs.length);
        },
      ),
      { numRuns: 300, seed: 7 },
    );
  });

  it('never returns a word that is not a codeword, and fails beyond the radius', () => {
    let failures = 0;
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 60, maxLength: 60 }), fc.uint8Array({ minLength: 20, maxLength: 20 }), (data, noise) => {
        const nsym = 16;
        const cw = new Uint8Array([...data, ...rsEncode(data, nsym)]);
        const rx = cw.slice();
        for (let i = 0; i < 20; i++) rx[i * 3] = rx[i * 3]! ^ (noise[i]! | 1); // 20 errors > 8
        const out = rsDecode(rx, nsym);
        if (out === null) failures++;
        else for (const v of rsSyndromes(out.codeword, nsym)) expect(v).toBe(0);
      }),
      { numRuns: 100, seed: 3 },
    );
    expect(failures).toBeGreaterThan(90);
  });

  it('rejects malformed calls without throwing', () => {
    expect(rsDecode(new Uint8Array(0), 4)).toBeNull();
    expect(rsDecode(new Uint8Array(300), 4)).toBeNull();
    expect(rsDecode(new Uint8Array(10), 4, [0, 1, 2, 3, 4])).toBeNull();
    expect(rsDecode(new Uint8Array(10), 4, [-1, 99, 1.5])).not.toBeNull();
  });
});
