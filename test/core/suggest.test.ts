/** Did-you-mean (src/cli/suggest.ts): the edit distance's laws, and suggestions for every real option. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { closest, editDistance } from '../../src/cli/suggest.js';
import { AREA_LOADERS, type Area } from '../../src/cli/registry.js';

const word = fc.string({ unit: fc.constantFrom(...'abcdefgh-'), maxLength: 12 });

describe('editDistance', () => {
  it('is 0 only for equal words, symmetric, between the length difference and the longer length', () => {
    fc.assert(
      fc.property(word, word, (a, b) => {
        expect(editDistance(a, a)).toBe(0);
        expect(editDistance(a, b) === 0).toBe(a === b);
        expect(editDistance(a, b)).toBe(editDistance(b, a));
        expect(editDistance(a, b)).toBeLessThanOrEqual(Math.max(a.length, b.length));
        expect(editDistance(a, b)).toBeGreaterThanOrEqual(Math.abs(a.length - b.length));
      }),
    );
  });

  it('one insertion, deletion, substitution or adjacent swap costs 1', () => {
    fc.assert(
      fc.property(word.filter((w) => w.length >= 2), fc.nat(), fc.constantFrom(...'xyz'), (w, k, ch) => {
        const i = k % w.length;
        expect(editDistance(w, w.slice(0, i) + ch + w.slice(i))).toBe(1);
        expect(editDistance(w, w.slice(0, i) + w.slice(i + 1))).toBe(1);
        expect(editDistance(w, w.slice(0, i) + ch + w.slice(i + 1))).toBe(1);
        const j = Math.min(i, w.length - 2);
        const swapped = w.slice(0, j) + w[j + 1] + w[j] + w.slice(j + 2);
        expect(editDistance(w, swapped)).toBe(w[j] === w[j + 1] ? 0 : 1);
      }),
    );
  });
});

describe('closest', () => {
  it('finds every option of every command again from a one-letter typo (options of 4+ letters)', async () => {
    for (const area of Object.keys(AREA_LOADERS) as Area[]) {
      for (const cmd of (await AREA_LOADERS[area]()).commands) {
        const names = [...Object.keys(cmd.options), 'json', 'help'];
        for (const n of names.filter((x) => x.length >= 4)) {
          const typo = n.slice(0, 1) + n.slice(2); // drop the second letter
          const got = closest(typo, names);
          expect(got === n || editDistance(typo, got ?? '') <= editDistance(typo, n), `${cmd.name} --${typo}: got ${got}`).toBe(true);
        }
      }
    }
    expect(closest('isuer', ['issuer', 'out', 'seed'])).toBe('issuer');
    expect(closest('bogus', ['issuer', 'reader', 'request'])).toBeUndefined();
    expect(closest('prof', ['profile', 'profiles', 'rate'])).toBeUndefined(); // two prefixes: no guess
  });
});
