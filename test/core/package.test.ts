import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { exports: Record<string, string | { types: string; default: string }>; bin: Record<string, string> };

describe('package.json', () => {
  it.skipIf(!existsSync('dist/src/index.js'))('every export and the bin point at built files', async () => {
    for (const [name, target] of Object.entries(pkg.exports)) {
      if (typeof target === 'string') continue;
      expect(existsSync(target.default), `${name} -> ${target.default}`).toBe(true);
      expect(existsSync(target.types), `${name} -> ${target.types}`).toBe(true);
    }
    expect(existsSync(pkg.bin.offpay!)).toBe(true);
    expect(readFileSync(pkg.bin.offpay!, 'utf8').startsWith('#!/usr/bin/env node')).toBe(true);
  });

  it.skipIf(!existsSync('dist/src/node/index.js'))('offpay/node resolves (package self-reference) and has the Node helpers the README names', () => {
    const out = execFileSync(
      process.execPath,
      ['--input-type=module', '-e', "const m = await import('offpay/node'); console.log(JSON.stringify(Object.keys(m).sort()))"],
      { encoding: 'utf8' },
    );
    const names = JSON.parse(out) as string[];
    for (const n of ['nodeEd25519', 'FileCounterStore', 'SqliteReaderStore', 'openSqliteReaderStore', 'Clearing', 'loadIssuer', 'loadWallet', 'loadReader']) expect(names).toContain(n);
  });

  it('names the subpaths the issues promise', () => {
    for (const k of ['.', './node', './fsk', './fsk/node', './qr', './qr/node', './nfc', './nfc/node', './reader', './clearing']) expect(pkg.exports).toHaveProperty([k]);
  });
});
