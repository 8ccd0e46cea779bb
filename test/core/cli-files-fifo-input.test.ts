import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli, CLI, NOW, ok } from './cli-files-helpers.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * Streams as input (a FIFO, standard input), from the attacker-with-files review: a FIFO with no writer blocked the
 * open for ever (inspect, verify, pay --request, reader accept/void/tap-out, nfc ndef encode all hung), and an
 * endless stream was buffered up to 256 MiB whatever it held. The rule: untrusted input never hangs and is bounded
 * before it is decoded, by what it shows itself to be (a WAV may be large, a message is at most 64 KiB).
 */
const d = mkdtempSync(join(tmpdir(), 'offpay-files-fifo-'));
const p = (...x: string[]) => join(d, ...x);
afterAll(() => rmSync(d, { recursive: true, force: true }));

beforeAll(() => {
  ok(['issuer', 'init', '--dir', p('issuer'), '--seed', 'zzfifo', NOW]);
  ok(['reader', 'new', '--issuer', p('issuer'), '--id', '5001', '--profile', 'transit', '--operator', '300', '--out', p('gate'), '--seed', 'zzfifo', NOW]);
  ok(['reader', 'init', '--reader', p('gate'), '--issuer', p('issuer'), '--db', p('gate.db'), NOW]);
  execFileSync('mkfifo', [p('token.fifo')]);
});

describe('a token file that is a FIFO nobody writes to', () => {
  it('offpay inspect FIFO ends (exit 2, typed) instead of blocking forever', () => {
    const r = cli(['inspect', p('token.fifo')]);
    expect(r.timedOut, 'inspect hung on a FIFO with no writer').toBe(false);
    expect(r.status).toBe(2);
    expect(r.err).toMatch(/\[[a-z]+\.[a-z_]+\]/);
  });

  it('offpay reader accept FIFO ends instead of blocking forever: with no writer it is empty input, refused as an empty file is', () => {
    const r = cli(['reader', 'accept', '--reader', p('gate'), '--db', p('gate.db'), '--amount', '2.00', p('token.fifo'), NOW]);
    expect(r.timedOut, 'reader accept hung on a FIFO with no writer').toBe(false);
    expect(r.status).toBe(1);
    expect(r.out).toContain('REFUSED malformed');
  });

  it('an endless stream of zeros on standard input stops at the message limit (64 KiB), not at 256 MiB', () => {
    const r = spawnSync(process.execPath, [CLI, 'inspect', '-'], { input: Buffer.alloc(4 * 1024 * 1024), encoding: 'utf8', timeout: 8000 });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('over 65536 bytes [file.too_large]');
  });

  it('a WAV on standard input is read whole (its own, larger limit)', () => {
    ok(['wallet', 'new', '--issuer', p('issuer'), '--out', p('alice'), '--seed', 'zzfifo', NOW]);
    ok(['pay', '--wallet', p('alice'), '--payee', '300', '--amount', '1.00', '--currency', 'HKD', '--out', p('t.wav'), '--via', 'fsk', NOW]);
    const r = spawnSync(process.execPath, [CLI, 'inspect', '-'], { input: readFileSync(p('t.wav')), encoding: 'utf8', timeout: 30_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('PaymentToken');
  });
});

describe('a time no issuer key covers', () => {
  it('wallet new --now before the issuer key starts is a typed error (issuer.no_valid_key), not an internal error', () => {
    const d = mkdtempSync(join(tmpdir(), 'offpay-no-key-'));
    try {
      ok(['issuer', 'init', '--dir', join(d, 'issuer'), '--now=2026-12-05T00:00:00Z']);
      const r = cli(['wallet', 'new', '--issuer', join(d, 'issuer'), '--out', join(d, 'w'), '--now=2026-11-01T00:00:00Z']);
      expect(r.status).toBe(2);
      expect(r.err).toContain('[issuer.no_valid_key]');
      expect(r.err).not.toContain('internal error');
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });
});
