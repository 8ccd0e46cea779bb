/**
 * Rule P end to end through the CLI (spec/protocol.md §4.3): `offpay request --via code` opens a payment-code
 * request, a person types the digits, `offpay pay --request` at another clock pays them, `offpay reader accept`
 * accepts, the same token is refused by a request that was not opened as a code, and clearing settles it.
 */
import { readFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';

async function run(...argv: string[]): Promise<{ code: number; out: string; err: string; json: () => Record<string, unknown> }> {
  let out = '';
  let err = '';
  const code = await main(argv, { out: (s) => (out += s), err: (s) => (err += s) });
  return { code, out, err, json: () => JSON.parse(out) as Record<string, unknown> };
}

const d = mkdtempSync(join(tmpdir(), 'offpay-paycode-cli-'));
afterAll(() => rmSync(d, { recursive: true, force: true }));
const T0 = 1_795_000_000;
const at = (s: number) => `--now=${T0 + s}`;
const p = (...x: string[]) => join(d, ...x);

describe('offpay request --via code -> pay -> reader accept -> clearing', () => {
  it('a typed payment code pays at a different wallet time; a non-code request refuses the token', async () => {
    expect((await run('issuer', 'init', '--dir', p('issuer'), '--seed', 'pc', at(0))).code).toBe(0);
    expect((await run('wallet', 'new', '--issuer', p('issuer'), '--out', p('wallet'), '--seed', 'pc', at(0))).code).toBe(0);
    expect((await run('reader', 'new', '--issuer', p('issuer'), '--id', '4201', '--operator', '90', '--out', p('vend'), '--seed', 'pc', at(0))).code).toBe(0);
    expect((await run('clearing', 'blocklist', '--issuer', p('issuer'), '--db', p('clearing.db'), '--out', p('list.cbor'), at(0))).code).toBe(0);
    expect((await run('reader', 'init', '--reader', p('vend'), '--db', p('vend.db'), '--issuer', p('issuer'), at(0))).code).toBe(0);
    expect((await run('reader', 'load-blocklist', '--reader', p('vend'), '--db', p('vend.db'), p('list.cbor'), at(0))).code).toBe(0);

    // A token for a code request, presented after the reader opened a request that is not a code (the same price):
    // refused, exit 1. (That the kind alone decides, with challenge and time equal, is test/reader/paycode.test.ts.)
    expect((await run('request', '--reader', p('vend'), '--db', p('vend.db'), '--amount', '12.50', '--out', p('code0.txt'), '--via', 'code', at(5))).code).toBe(0);
    expect((await run('pay', '--wallet', p('wallet'), '--request', p('code0.txt'), '--out', p('t0.cbor'), at(6))).code).toBe(0);
    expect((await run('request', '--reader', p('vend'), '--db', p('vend.db'), '--amount', '12.50', '--out', p('req.cbor'), at(7))).code).toBe(0);
    const b = await run('reader', 'accept', '--reader', p('vend'), '--db', p('vend.db'), p('t0.cbor'), at(8), '--json');
    expect(b.code).toBe(1);
    expect((b.json().results as object[])[0]).toMatchObject({ accepted: false, reason: 'bad_token_signature' });

    // The machine shows a payment code; the customer types it (with spaces) into the wallet, whose clock differs.
    expect((await run('request', '--reader', p('vend'), '--db', p('vend.db'), '--amount', '12.50', '--out', p('code.txt'), '--via', 'code', at(10))).code).toBe(0);
    const digits = readFileSync(p('code.txt'), 'utf8').replace(/\D/g, '');
    expect(digits).toMatch(/^\d{20}$/);
    writeFileSync(p('typed.txt'), `${digits.replace(/(\d{4})(?=\d)/g, '$1 ')}\n`);
    const pay = await run('pay', '--wallet', p('wallet'), '--request', p('typed.txt'), '--out', p('t1.cbor'), at(-3600), '--json');
    expect(pay.code).toBe(0);
    expect(pay.json()).toMatchObject({ requestBound: true, amount: 1250, payee: 4201 });
    const a = await run('reader', 'accept', '--reader', p('vend'), '--db', p('vend.db'), p('t1.cbor'), at(40), '--json');
    expect(a.code).toBe(0);
    expect((a.json().results as object[])[0]).toMatchObject({ accepted: true, status: 'accepted', amount: 1250 });
    expect((await run('reader', 'complete', '--reader', p('vend'), '--db', p('vend.db'), p('t1.cbor'), at(41))).code).toBe(0);

    // Clearing re-verifies the code-paid token from the journal entry and settles it.
    expect((await run('reader', 'export', '--reader', p('vend'), '--db', p('vend.db'), '--out', p('vend.batch'), at(100))).code).toBe(0);
    const ing = await run('clearing', 'ingest', '--issuer', p('issuer'), '--db', p('clearing.db'), p('vend.batch'), '--json');
    expect(ing.code).toBe(0);
    expect((ing.json().results as object[])[0]).toMatchObject({ outcome: 'ingested', invalidTokens: 0 });
    const rep = await run('clearing', 'report', '--db', p('clearing.db'), '--json');
    const settlement = (rep.json() as { settlement: { count: number; gross: unknown }[] }).settlement;
    expect(settlement.map((l) => [l.count, Number(l.gross)])).toEqual([[1, 1250]]);
  });
});
