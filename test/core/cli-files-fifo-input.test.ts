import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli, NOW, ok } from './cli-files-helpers.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';


/**
 * Attacker-with-files review: a token/request path that is a FIFO with no writer. readPayloadWithForm treats any
 * FIFO as "standard input" and readStream() calls openSync(path, 'r'), which blocks forever until a writer opens
 * it: inspect, verify, verify --request, pay --request, reader accept/void/tap-out and nfc ndef encode all hang.
 * The rule: untrusted input never hangs (a bounded wait or a refusal with a typed code, exit 2).
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
});
