import { existsSync, mkdtempSync, readFileSync, writeFileSync, cpSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ALL_COMMANDS, main } from '../../src/cli/main.js';

async function run(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(argv, { out: (s) => (out += s), err: (s) => (err += s) });
  return { code, out, err };
}

const NOW = '--now=2026-11-22T12:00:00Z';

describe('offpay CLI', () => {
  it('every command answers --help with its usage and exit 0', async () => {
    expect(ALL_COMMANDS.length).toBeGreaterThanOrEqual(9);
    for (const c of ALL_COMMANDS) {
      const r = await run(...c.name.split(' '), '--help');
      expect(r.code, c.name).toBe(0);
      expect(r.out).toContain(`Usage: offpay ${c.name}`);
    }
    expect((await run('--help')).code).toBe(0);
    expect((await run('no-such-command')).code).toBe(2);
    expect((await run('verify', '--bogus')).code).toBe(2);
  });

  it('issuer -> wallet -> reader -> request -> pay -> verify, with exit codes 0, 1 and 2', async () => {
    const d = mkdtempSync(join(tmpdir(), 'offpay-cli-'));
    const p = (x: string) => join(d, x);
    expect((await run('issuer', 'init', '--dir', p('issuer'), '--seed', 't', NOW)).code).toBe(0);
    expect((await run('issuer', 'init', '--dir', p('issuer'), NOW)).code).toBe(2); // never overwrite keys
    expect((await run('wallet', 'new', '--issuer', p('issuer'), '--out', p('wallet'), '--seed', 't', NOW)).code).toBe(0);
    expect((await run('reader', 'new', '--issuer', p('issuer'), '--id', '4201', '--out', p('vm'), '--seed', 't', NOW)).code).toBe(0);
    expect((await run('request', '--reader', p('vm'), '--db', p('vm.db'), '--amount', '12.50', '--out', p('req'), NOW)).code).toBe(2); // no reader database yet
    expect((await run('reader', 'init', '--reader', p('vm'), '--db', p('vm.db'), '--issuer', p('issuer'), NOW)).code).toBe(0);
    expect((await run('request', '--reader', p('vm'), '--db', p('vm.db'), '--amount', '12.50', '--currency', 'HKD', '--out', p('req'), NOW)).code).toBe(0);
    expect((await run('pay', '--wallet', p('wallet'), '--request', p('req'), '--issuer', p('issuer'), '--out', p('tok'), NOW)).code).toBe(0);
    const ok = await run('verify', '--issuer', p('issuer'), '--reader', p('vm'), '--request', p('req'), p('tok'), NOW, '--json');
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.out)).toMatchObject({ accepted: true, amount: 1250, currency: 344, counter: 1, payee: 4201 });

    // one-way token for another reader: rejected, exit 1, reason in the output
    expect((await run('pay', '--wallet', p('wallet'), '--payee', '9999', '--amount', '3', '--currency', 'HKD', '--out', p('tok2'), NOW)).code).toBe(0);
    const bad = await run('verify', '--issuer', p('issuer'), '--reader', p('vm'), p('tok2'), NOW, '--json');
    expect(bad.code).toBe(1);
    expect(JSON.parse(bad.out)).toMatchObject({ accepted: false, reason: 'wrong_payee', code: 11 });

    // unusable input: exit 2 with a clear message
    const missing = await run('verify', '--issuer', p('issuer'), '--reader', p('vm'), p('nope'), NOW);
    expect(missing.code).toBe(2);
    expect(missing.err).toMatch(/cannot read token/);
    writeFileSync(p('wallet/wallet.json'), '{ not json');
    const broken = await run('pay', '--wallet', p('wallet'), '--payee', '1', '--amount', '1', '--out', p('x'), NOW);
    expect(broken.code).toBe(2);
    expect(broken.err).toMatch(/not a valid wallet file/);
    expect((await run('pay', '--wallet', p('vm'), '--out', p('x'))).code).toBe(2);
    expect((await run('request', '--reader', p('vm'), '--db', p('vm.db'), '--amount', '12.505', '--out', p('x'))).code).toBe(2);

    const ins = await run('inspect', p('tok'), '--json');
    expect(ins.code).toBe(0);
    expect(JSON.parse(ins.out)).toMatchObject({ type: 'PaymentToken', amount: 1250 });
  });

  it('a copied wallet directory replays counters, and the stateless verifier cannot tell', async () => {
    const d = mkdtempSync(join(tmpdir(), 'offpay-clone-'));
    const p = (x: string) => join(d, x);
    await run('issuer', 'init', '--dir', p('issuer'), '--seed', 'c', NOW);
    await run('wallet', 'new', '--issuer', p('issuer'), '--out', p('w'), '--seed', 'c', NOW);
    cpSync(p('w'), p('clone'), { recursive: true });
    await run('pay', '--wallet', p('w'), '--payee', '7', '--amount', '1', '--out', p('a'), NOW);
    await run('pay', '--wallet', p('clone'), '--payee', '7', '--amount', '2', '--out', p('b'), NOW);
    const a = JSON.parse((await run('inspect', p('a'), '--json')).out);
    const b = JSON.parse((await run('inspect', p('b'), '--json')).out);
    expect(a.counter).toBe(1);
    expect(b.counter).toBe(1); // the reader's replay window and clearing catch this (offpay reader, offpay clearing)
    expect(existsSync(p('w/counter.json'))).toBe(true);
    expect(JSON.parse(readFileSync(p('w/counter.json'), 'utf8')).counter).toBe(1);
  });

  it('vectors check passes on the committed vectors and fails on a corrupted copy', async () => {
    expect((await run('vectors', 'check')).code).toBe(0);
    const d = mkdtempSync(join(tmpdir(), 'offpay-vec-'));
    const f = JSON.parse(readFileSync('fixtures/vectors/token_verify.json', 'utf8'));
    f.testGroups[0].tests[0].result = 'invalid';
    f.testGroups[0].tests[0].reason = 'malformed';
    writeFileSync(join(d, 'token_verify.json'), JSON.stringify(f));
    expect((await run('vectors', 'check', '--dir', d)).code).toBe(1);
    writeFileSync(join(d, 'token_verify.json'), 'nope');
    expect((await run('vectors', 'check', '--dir', d)).code).toBe(2);
  });
});
