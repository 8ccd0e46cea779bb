import { execFileSync } from 'node:child_process';
import { writeFileSync, cpSync, truncateSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli, issuerAndWallet } from './cli-files-helpers.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';


/**
 * Attacker-with-files review: a wallet's lock file (WALLET/counter.json.lock) is read by src/node/lock.ts readSmall()
 * with readFileSync and the MAX_LOCK_BYTES (4096) check only after the whole file is in memory: a FIFO there blocks
 * forever (pay, wallet unlock), a link to /dev/zero grows to gigabytes (pay: 3.3 GB RSS in 15 s), a 1.5 GB sparse one
 * takes 1.6 GB, re-read every poll for the 10 s wait.
 */
const d = mkdtempSync(join(tmpdir(), 'offpay-files-lock-'));
const p = (...x: string[]) => join(d, ...x);
afterAll(() => rmSync(d, { recursive: true, force: true }));

beforeAll(() => {
  issuerAndWallet(p, 'zzlock');
});

describe('a wallet lock file that is not a small regular file', () => {
  it('wallet unlock with counter.json.lock a FIFO ends instead of blocking forever', () => {
    cpSync(p('alice'), p('w-fifo'), { recursive: true });
    execFileSync('mkfifo', [p('w-fifo', 'counter.json.lock')]);
    const r = cli(['wallet', 'unlock', '--wallet', p('w-fifo')]);
    expect(r.timedOut, 'wallet unlock hung on a FIFO lock file').toBe(false);
    expect([0, 2]).toContain(r.status);
  });

  it('wallet unlock with a 400 MB sparse counter.json.lock does not read it whole', () => {
    cpSync(p('alice'), p('w-big'), { recursive: true });
    writeFileSync(p('w-big', 'counter.json.lock'), '');
    truncateSync(p('w-big', 'counter.json.lock'), 400 * 1024 * 1024);
    const r = cli(['wallet', 'unlock', '--wallet', p('w-big')]);
    expect(r.timedOut).toBe(false);
    expect(r.status).toBe(0);
    expect(r.out).toContain('a record that cannot be read'); // never broken, never read whole
  });
});
