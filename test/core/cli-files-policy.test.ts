import { execFileSync } from 'node:child_process';
import { writeFileSync, truncateSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli, NOW, ok } from './cli-files-helpers.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';


/**
 * Attacker-with-files review: the reader policy file (--policy FILE or READER/policy.json) is read by
 * src/cli/reader-open.ts loadPolicy() with readFileSync and no stat/size bound: a FIFO blocks forever, /dev/zero grows
 * to gigabytes (4.2 GB RSS in 8 s), a large sparse file is read whole (1.5 GB -> 2.1 GB RSS). And JSON.parse keeps the
 * last of two equal keys, so `"HKD"` given twice silently drops a limit (spec/reader.md §14 refuses one currency given
 * twice as "HKD" and "344"; counter.json already refuses a repeated name, wallet.counter_corrupt).
 */
const d = mkdtempSync(join(tmpdir(), 'offpay-files-policy-'));
const p = (...x: string[]) => join(d, ...x);
afterAll(() => rmSync(d, { recursive: true, force: true }));

beforeAll(() => {
  ok(['issuer', 'init', '--dir', p('issuer'), '--seed', 'zzpol', NOW]);
  ok(['reader', 'new', '--issuer', p('issuer'), '--id', '4201', '--out', p('vm'), '--seed', 'zzpol', NOW]);
  ok(['reader', 'init', '--reader', p('vm'), '--issuer', p('issuer'), '--db', p('vm.db'), NOW]);
});

describe('reader policy files', () => {
  it('--policy FIFO ends with reader.bad_policy instead of blocking forever', () => {
    execFileSync('mkfifo', [p('policy.fifo')]);
    const r = cli(['reader', 'status', '--reader', p('vm'), '--db', p('vm.db'), '--policy', p('policy.fifo'), NOW]);
    expect(r.timedOut, 'reader status hung on a FIFO policy').toBe(false);
    expect(r.status).toBe(2);
    expect(r.err).toContain('[reader.bad_policy]');
  });

  it('--policy of a 400 MB sparse file is refused by its size, not read whole', () => {
    writeFileSync(p('big.json'), '');
    truncateSync(p('big.json'), 400 * 1024 * 1024);
    const r = cli(['reader', 'status', '--reader', p('vm'), '--db', p('vm.db'), '--policy', p('big.json'), NOW]);
    expect(r.status).toBe(2);
    expect(r.err).toContain('over the limit');
  });

  it('a policy giving the same currency key twice is refused, not silently reduced to its last setting', () => {
    writeFileSync(p('dup.json'), '{"limits":{"HKD":{"maxAmount":"1.00"},"HKD":{}}}');
    const r = cli(['reader', 'status', '--reader', p('vm'), '--db', p('vm.db'), '--policy', p('dup.json'), NOW]);
    expect(r.status).toBe(2);
    expect(r.err).toContain('[reader.bad_policy]');
  });
});
