/**
 * spec/reader.md §6, after a restart: the CLI does not open a request over a sale that is paid and still pending
 * (`reader.sale_pending`): the new request would close it, and the sale would settle with no goods handed out.
 * Completed or voided, the next request opens.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cliVendingMachine } from './cli-machine.js';

const dir = mkdtempSync(join(tmpdir(), 'offpay-cli-pending-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('offpay request over a pending sale', () => {
  it('is reader.sale_pending, naming the token; after complete (or void) the next request opens', async () => {
    const { run, p, at, err } = await cliVendingMachine(dir, 'pending', 4701);
    const request = (n: number, s: number) => run('request', '--reader', p('vm'), '--db', p('vm.db'), '--amount', '3.00', '--currency', 'HKD', '--out', p(`req${n}.cbor`), at(s));
    expect(await request(1, 10)).toBe(0);
    // An unpaid open request is simply replaced.
    expect(await request(2, 11)).toBe(0);
    expect(await run('pay', '--wallet', p('wallet'), '--request', p('req2.cbor'), '--out', p('t2.cbor'), at(12))).toBe(0);
    expect(await run('reader', 'accept', '--reader', p('vm'), '--db', p('vm.db'), p('t2.cbor'), at(13))).toBe(0);
    // The machine restarts before dispensing and its start-up script opens the next request: refused.
    expect(await request(3, 20)).toBe(2);
    expect(err()).toMatch(/paid by token [0-9a-f]{64}, whose sale is pending: if the goods were handed out, offpay reader complete it; if not, offpay reader void it .*\[reader\.sale_pending\]/s);
    expect(await run('reader', 'void', '--reader', p('vm'), '--db', p('vm.db'), p('t2.cbor'), at(21))).toBe(0);
    expect(await request(3, 22)).toBe(0);
    // The same after complete.
    expect(await run('pay', '--wallet', p('wallet'), '--request', p('req3.cbor'), '--out', p('t3.cbor'), at(23))).toBe(0);
    expect(await run('reader', 'accept', '--reader', p('vm'), '--db', p('vm.db'), p('t3.cbor'), at(24))).toBe(0);
    expect(await request(4, 25)).toBe(2);
    expect(await run('reader', 'complete', '--reader', p('vm'), '--db', p('vm.db'), p('t3.cbor'), at(26))).toBe(0);
    expect(await request(4, 27)).toBe(0);
  });
});
