/**
 * Packaging review (a newcomer with the installed package): `offpay inspect FILE` "decodes any offpay message"
 * (README) and is named by spec/reader.md §13 as a tool that reads a reader's settlement batches; a merchant's
 * refund needs `--token TOKENHASH`, which inspect should show. Runs the built CLI (dist/).
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cliIn } from './cli-files-helpers.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const d = mkdtempSync(join(tmpdir(), 'offpay-inspect-'));
const p = (...x: string[]) => join(d, ...x);
afterAll(() => rmSync(d, { recursive: true, force: true }));

const { cli, ok } = cliIn(d);

beforeAll(() => {
  ok('issuer', 'init', '--dir', p('issuer'));
  ok('wallet', 'new', '--issuer', p('issuer'), '--out', p('alice'), '--currency', 'HKD', '--max-payment', '200', '--allowance', '500');
  ok('reader', 'new', '--issuer', p('issuer'), '--id', '4201', '--operator', '90', '--out', p('vm'));
  ok('reader', 'init', '--reader', p('vm'), '--issuer', p('issuer'), '--db', p('vm.db'));
  ok('clearing', 'blocklist', '--issuer', p('issuer'), '--db', p('clearing.db'), '--out', p('list.cbor'));
  ok('reader', 'load-blocklist', '--reader', p('vm'), '--db', p('vm.db'), p('list.cbor'));
  ok('request', '--reader', p('vm'), '--db', p('vm.db'), '--amount', '12.50', '--currency', 'HKD', '--out', p('req.cbor'));
  ok('pay', '--wallet', p('alice'), '--request', p('req.cbor'), '--issuer', p('issuer'), '--out', p('pay.cbor'));
  cli('reader', 'accept', '--reader', p('vm'), '--db', p('vm.db'), p('pay.cbor'), '--complete');
  ok('reader', 'export', '--reader', p('vm'), '--db', p('vm.db'), '--out', p('vm.batch'));
}, 60_000);

describe('offpay inspect, as a newcomer uses it', () => {
  it('decodes a blocklist (version, issuer, issued time, wallets), not only its hex', () => {
    const human = ok('inspect', p('list.cbor'));
    expect(human).toMatch(/version\s+1/i);
    expect(human).toMatch(/wallets?/i);
    const json = JSON.parse(ok('inspect', p('list.cbor'), '--json')) as Record<string, unknown>;
    expect(Object.keys(json)).toContain('version');
  });

  it('decodes a settlement batch (reader id, journal, batch number, entries), not only its hex', () => {
    const human = ok('inspect', p('vm.batch'));
    expect(human).toMatch(/4201/);
    expect(human).toMatch(/entr(y|ies)/i);
    const json = JSON.parse(ok('inspect', p('vm.batch'), '--json')) as Record<string, unknown>;
    expect(JSON.stringify(json)).toMatch(/"batchSeq"|"batch"|"entries"/);
  });

  it("shows a token's hash (what `offpay reader refund --token TOKENHASH` asks for)", () => {
    const hash = createHash('sha256').update(readFileSync(p('pay.cbor'))).digest('hex');
    expect(ok('inspect', p('pay.cbor'))).toContain(hash);
    expect(ok('inspect', p('pay.cbor'), '--json')).toContain(hash);
  });
});
