import { mkdirSync, readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { CLI, cli, issuerAndWallet, NOW } from './cli-files-helpers.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * From the attacker-with-files review (2026-12-07): `offpay pay --out PATH` checked --out only for '-' before it
 * reserved the counter, so a PATH that cannot be written (a directory, a path under a file) failed only after the
 * counter and the offline total were saved, and a one-way token is never remembered (spec/protocol.md §9.1): the
 * allowance was spent and no token existed. Now the output is checked first (file.unwritable), and a write that
 * fails after signing (a full disk) prints the token with the error.
 */
const d = mkdtempSync(join(tmpdir(), 'offpay-files-payout-'));
const p = (...x: string[]) => join(d, ...x);
afterAll(() => rmSync(d, { recursive: true, force: true }));

beforeAll(() => {
  issuerAndWallet(p, 'zzpayout');
  mkdirSync(p('adir'));
});

describe('pay --out to a path that cannot be written', () => {
  it('spends no counter and no allowance when the token cannot be written (one-way payment)', () => {
    const before = readFileSync(p('alice', 'counter.json'), 'utf8');
    const r = cli(['pay', '--wallet', p('alice'), '--payee', '300', '--amount', '1.00', '--currency', 'HKD', '--out', p('adir'), NOW]);
    expect(readFileSync(p('alice', 'counter.json'), 'utf8'), 'counter.json changed though no token was written').toBe(before);
    expect(r.status).toBe(2);
    expect(r.err).toContain('[file.unwritable]');
  });

  it('a write that fails after the token is signed (a 4 KiB size limit against a WAV, as a full disk) prints the token, never loses it', () => {
    const r = spawnSync('bash', ['-c', `ulimit -f 4; exec "${process.execPath}" "${CLI}" pay --wallet "${p('alice')}" --payee 300 --amount 1.00 --currency HKD --via fsk --out "${p('t.wav')}" --json ${NOW}`], {
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(r.status).toBe(2);
    const e = JSON.parse(r.stdout) as { error: string; detail: { token: string; counter: number } };
    expect(e.error).toBe('file.unwritable');
    expect(e.detail.token).toMatch(/^88[0-9a-f]+$/); // the signed one-way token, to give to the reader
    expect(r.stderr).toContain(e.detail.token);
    expect(JSON.parse(readFileSync(p('alice', 'counter.json'), 'utf8'))).toMatchObject({ counter: e.detail.counter });
  });
});
