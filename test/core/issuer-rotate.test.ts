/**
 * `offpay issuer rotate` (spec/protocol.md §4.4): the next key joins the issuer's key set with its own window,
 * older keys keep theirs (or end within --retire-old-in days), certificates are signed by the newest key valid
 * at their time, bad input exits 2, and the 256th key is refused.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { loadIssuer, loadIssuerKeys, loadWallet } from '../../src/node/files.js';

const dir = mkdtempSync(join(tmpdir(), 'offpay-rotate-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const DAY = 86_400;
const T = Date.parse('2026-12-01T00:00:00Z') / 1000;

async function run(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(argv, { out: (s) => (out += s), err: (s) => (err += s) });
  return { code, out, err };
}

describe('offpay issuer rotate', () => {
  it('adds the next key with its window; the key set and new certificates follow; old keys end when told', async () => {
    const iss = join(dir, 'issuer');
    expect((await run('issuer', 'init', '--dir', iss, '--seed', 'rotate', `--now=${T}`)).code).toBe(0);
    const r = await run('issuer', 'rotate', '--dir', iss, '--seed', 'rotate', `--now=${T}`, `--start=${T + 7 * DAY}`, '--days', '365', '--retire-old-in', '90');
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain('key 2');
    expect(r.out).toContain('--replace-settings');
    const issuer = loadIssuer(iss);
    expect(issuer.keys.map((k) => [k.keyIndex, k.notBefore, k.notAfter])).toEqual([
      [1, T - DAY, T + 90 * DAY],
      [2, T + 7 * DAY, T + 7 * DAY + 365 * DAY],
    ]);
    expect(loadIssuerKeys(iss)).toEqual(issuer.keySet()); // keyset.cbor rewritten with it
    // Before the new key's start, certificates are still signed by key 1; after it, by key 2.
    for (const [when, key] of [[T + DAY, 1], [T + 8 * DAY, 2]] as const) {
      const w = join(dir, `wallet-${key}`);
      expect((await run('wallet', 'new', '--issuer', iss, '--out', w, '--seed', `w${key}`, `--now=${when}`)).code).toBe(0);
      expect(loadWallet(w).cert.keyIndex).toBe(key);
    }
    // Without --retire-old-in the older keys keep their windows.
    expect((await run('issuer', 'rotate', '--dir', iss, '--seed', 'rotate', `--now=${T}`)).code).toBe(0);
    expect(loadIssuer(iss).keys.map((k) => k.notAfter)).toEqual([T + 90 * DAY, T + 7 * DAY + 365 * DAY, T + 730 * DAY]);
    // Bad input: no issuer there, a zero validity.
    expect((await run('issuer', 'rotate', '--dir', join(dir, 'none'))).code).toBe(2);
    expect((await run('issuer', 'rotate', '--dir', iss, '--days', '0')).code).toBe(2);
  });

  it('refuses a key index past 255 (a key set holds at most 255 keys)', async () => {
    const iss = join(dir, 'full');
    expect((await run('issuer', 'init', '--dir', iss, '--seed', 'full', `--now=${T}`)).code).toBe(0);
    const { saveIssuer } = await import('../../src/node/files.js');
    const { Issuer } = await import('../../src/issuer.js');
    const first = loadIssuer(iss).keys[0]!;
    saveIssuer(iss, new Issuer(1, [{ ...first, keyIndex: 255 }]));
    const r = await run('issuer', 'rotate', '--dir', iss, '--seed', 'full', `--now=${T}`);
    expect([r.code, r.err]).toEqual([2, expect.stringContaining('key index 255')]);
  });
});
