/**
 * Packaging review: dist/web/reader.js and dist/web/wallet.js (served to phones and browsers by
 * `offpay playground`, shipped in the tarball) inline @noble/curves, whose source carries
 * `/*! noble-curves - MIT License (c) 2022 Paul Miller (paulmillr.com) *\/`. scripts/build-web.mjs bundles with
 * `legalComments: 'none'`, which strips it: the MIT licence asks for the notice in every copy. (esbuild's default
 * for bundles, 'eof', keeps it.)
 */
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

describe('the bundled playground pages keep third-party licence notices', () => {
  for (const f of ['dist/web/reader.js', 'dist/web/wallet.js']) {
    it.skipIf(!existsSync(f))(`${f} keeps the noble-curves MIT notice`, () => {
      const src = readFileSync(f, 'utf8');
      expect(/name:"noble"/.test(src), 'inlines noble (its verifier is named "noble")').toBe(true);
      expect(src.includes('noble-curves - MIT License'), `${f} has no noble-curves MIT notice`).toBe(true);
    });
  }
});
