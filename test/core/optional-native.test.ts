/**
 * The native pieces are optional: better-sqlite3 (an optional peer) and @pokusew/pcsclite (an optional
 * dependency). Without them, opening a store or a PC/SC reader is a typed error that names what to install.
 * (.ci/run also runs the CLI on a fresh clone installed with --omit=optional.)
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { OffpayError } from '../../base/errors.js';
import { loadSqliteDriver, SQLITE_DRIVER } from '../../src/node/sqlite.js';
import { PCSC_ADDON, PCSC_INSTALL_HINT } from '../../codecs/nfc/pcsc.js';

const missing = (id: string): never => {
  throw Object.assign(new Error(`Cannot find module '${id}'\nRequire stack:\n- x`), { code: 'MODULE_NOT_FOUND' });
};

describe('better-sqlite3 is an optional peer', () => {
  it('a missing driver is reader.sqlite_unavailable / clearing.sqlite_unavailable naming npm install better-sqlite3', () => {
    for (const area of ['reader', 'clearing'] as const) {
      let err: unknown;
      try {
        loadSqliteDriver(area, missing);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(OffpayError);
      expect((err as OffpayError).code).toBe(`${area}.sqlite_unavailable`);
      expect((err as OffpayError).message).toContain('npm install better-sqlite3');
      expect((err as OffpayError).message).not.toContain('Require stack');
    }
  });

  it('the installed driver opens a database', () => {
    const Db = loadSqliteDriver('reader');
    const db = new Db(':memory:');
    expect((db.prepare('SELECT 1 + 1 AS n').get() as { n: number }).n).toBe(2);
    db.close();
  });

  it('package.json: an optional peer, a devDependency here, not a dependency', () => {
    const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as Record<string, Record<string, unknown> | undefined>;
    expect(pkg.dependencies?.[SQLITE_DRIVER]).toBeUndefined();
    expect(pkg.peerDependencies?.[SQLITE_DRIVER]).toBeDefined();
    expect(pkg.peerDependenciesMeta?.[SQLITE_DRIVER]).toEqual({ optional: true });
    expect(pkg.devDependencies?.[SQLITE_DRIVER]).toBeDefined();
    expect(pkg.optionalDependencies?.[PCSC_ADDON]).toBeDefined();
  });

  it('no source file imports a native package statically', () => {
    for (const f of ['src/reader/sqlite.ts', 'src/clearing/clearing.ts', 'codecs/nfc/pcsc.ts']) {
      expect(readFileSync(f, 'utf8')).not.toMatch(/^import[^;]*from '(better-sqlite3|@pokusew\/pcsclite)'/m);
    }
  });
});

describe('the PC/SC addon is an optional dependency', () => {
  it('the hint names the Debian package and the npm package', () => {
    expect(PCSC_INSTALL_HINT).toContain('libpcsclite-dev');
    expect(PCSC_INSTALL_HINT).toContain(`npm install ${PCSC_ADDON}`);
  });
});
