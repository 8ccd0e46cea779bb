/**
 * Error codes as a type (issue 13, "One name for one thing"): `ErrorCode` is generated from the error-code
 * tables of spec/*.md by scripts/gen-error-codes.mjs into base/error-codes.ts, and OffpayError takes only an
 * ErrorCode. Here: the checked-in file is what the spec makes (and the check can fail), the tables and the
 * code agree both ways, and an unlisted code does not type-check.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ERROR_CODES, ERROR_CODE_SPEC, OffpayError, isErrorCode, type ErrorCode, type ErrorCodeOf } from '../../src/index.js';

const GEN = 'scripts/gen-error-codes.mjs';
const tmp = mkdtempSync(join(tmpdir(), 'offpay-codes-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function walk(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (p.endsWith('.ts') && p !== join('base', 'error-codes.ts')) out.push(p);
  }
  return out;
}
const SOURCES = ['base', 'src', 'codecs', 'web'].flatMap((d) => walk(d)).map((f) => ({ f, text: readFileSync(f, 'utf8') }));

/** Codes no offpay code raises, on purpose: the wallet behind an NFC card (the integrator's) raises them (spec/nfc.md §7). */
const RAISED_BY_INTEGRATORS = new Set(['wallet.unlock_required', 'wallet.confirmation_required', 'wallet.user_declined']);

describe('ErrorCode is generated from the spec tables', () => {
  it('base/error-codes.ts is what spec/*.md makes (regenerating changes nothing)', () => {
    const r = spawnSync(process.execPath, [GEN, '--check'], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('the check fails when a spec table gains a row, and the row becomes a code', () => {
    const spec = join(tmp, 'spec');
    cpSync('spec', spec, { recursive: true });
    const fsk = readFileSync(join(spec, 'fsk.md'), 'utf8');
    writeFileSync(join(spec, 'fsk.md'), fsk.replace('| `fsk.bad_profile` |', '| `fsk.brand_new` | a test row |\n| `fsk.bad_profile` |'));
    const r = spawnSync(process.execPath, [GEN, '--check', '--spec-dir', spec], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/npm run error-codes/);
    const out = join(tmp, 'codes.ts');
    execFileSync(process.execPath, [GEN, '--spec-dir', spec, '--out', out]);
    const text = readFileSync(out, 'utf8');
    expect(text).toContain("  'fsk.brand_new',\n");
    expect(text).toContain("  'fsk.brand_new': 'spec/fsk.md §11',\n");
  });

  it('lists each code once, sorted, with where the spec defines it', () => {
    expect(ERROR_CODES.length).toBeGreaterThan(200);
    expect([...ERROR_CODES]).toEqual([...new Set(ERROR_CODES)].sort());
    for (const c of ERROR_CODES) {
      expect(c).toMatch(/^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$/);
      expect(ERROR_CODE_SPEC[c], c).toMatch(/^spec\/[a-z-]+\.md §[\d.]+/);
    }
    // every area the transports and the services use is there
    for (const area of ['cbor', 'fsk', 'qr', 'paycode', 'ndef', 'apdu', 'nfc', 'reader', 'blocklist', 'clearing', 'api', 'sync', 'pcm', 'listen', 'playground', 'cli', 'demo']) {
      expect(ERROR_CODES.some((c) => c.startsWith(`${area}.`)), area).toBe(true);
    }
  });

  it('every code the sources raise is listed (the type says so too; this catches casts)', () => {
    const raised = new Set<string>();
    for (const { text } of SOURCES) {
      for (const m of text.matchAll(/OffpayError\(\s*'([a-z0-9_]+\.[a-z0-9_]+)'/g)) raised.add(m[1]!);
      for (const m of text.matchAll(/\b(?:code|failure):\s*'([a-z0-9_]+\.[a-z0-9_]+)'/g)) raised.add(m[1]!);
    }
    expect(raised.size).toBeGreaterThan(150);
    expect([...raised].filter((c) => !isErrorCode(c))).toEqual([]);
  });

  it('every listed code is raised somewhere (or is one integrators raise)', () => {
    const all = SOURCES.map((s) => s.text).join('\n');
    const apdu = readFileSync('codecs/nfc/apdu.ts', 'utf8');
    const ndef = readFileSync('codecs/nfc/ndef.ts', 'utf8');
    const wallet = readFileSync('src/wallet.ts', 'utf8');
    const verify = readFileSync('src/verify.ts', 'utf8');
    const unused = ERROR_CODES.filter((code) => {
      const [area, reason] = code.split('.') as [string, string];
      if (all.includes(`'${code}'`) || all.includes(`"${code}"`)) return false;
      if (area === 'apdu') return !apdu.includes(`fail('${reason}'`);
      if (area === 'ndef') return !ndef.includes(`fail('${reason}'`);
      // request.<reason>: Wallet.pay throws `request.${v.reason}` with a RequestRefusalReason of verify.ts
      if (area === 'request') return !(wallet.includes('`request.${v.reason}`') && verify.includes(`'${reason}'`));
      return !RAISED_BY_INTEGRATORS.has(code);
    });
    expect(unused).toEqual([]);
  });

  it('OffpayError takes only a listed code', () => {
    const e = new OffpayError('fsk.no_preamble', 'x');
    const code: ErrorCode = e.code;
    const fsk: ErrorCodeOf<'fsk'> = 'fsk.crc_mismatch';
    expect([code, fsk]).toEqual(['fsk.no_preamble', 'fsk.crc_mismatch']);
    expect(isErrorCode('fsk.no_preamble')).toBe(true);
    expect(isErrorCode('fsk.not_a_code')).toBe(false);
    expect(isErrorCode(42)).toBe(false);
    // @ts-expect-error: a code no spec table lists does not type-check (npm run typecheck fails if it does)
    expect(new OffpayError('fsk.not_a_code', 'x').code).toBe('fsk.not_a_code');
    // @ts-expect-error: nor does a code of another area where one area's codes are asked for
    const wrongArea: ErrorCodeOf<'fsk'> = 'qr.no_code';
    expect(wrongArea).toBe('qr.no_code');
  });
});
