import { existsSync, mkdtempSync, readFileSync, writeFileSync, cpSync, rmSync, truncateSync } from 'node:fs';
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
    const version = (JSON.parse(readFileSync('package.json', 'utf8')) as { version: string }).version;
    for (const flag of ['--version', '-V']) expect(await run(flag)).toEqual({ code: 0, out: `offpay ${version}\n`, err: '' });
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
    // What a newcomer mistypes: the file instead of its directory, an issuer.json for the key set, a missing token.
    const asFile = await run('verify', '--issuer', p('issuer'), '--reader', join(p('vm'), 'reader.json'), '--request', p('req'), p('tok'), NOW);
    expect([asFile.code, asFile.err]).toEqual([2, expect.stringContaining('reader.json is a file: give the reader directory (the one that holds reader.json)')]);
    const keysAsJson = await run('verify', '--issuer', join(p('issuer'), 'issuer.json'), '--reader', p('vm'), '--request', p('req'), p('tok'), NOW);
    expect([keysAsJson.code, keysAsJson.err]).toEqual([2, expect.stringContaining('(give the issuer directory, or its keyset.cbor)')]);
    const noToken = await run('verify', '--issuer', p('issuer'), '--reader', p('vm'), '--request', p('req'), p('no-such-token'), NOW);
    expect([noToken.code, noToken.err]).toEqual([2, expect.stringContaining('no such file or directory (ENOENT)')]);
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

  it('vectors check runs the key-set and refund vectors too: a tampered case fails (exit 1, its tcId printed) with every backend', async () => {
    const all = await run('vectors', 'check', '--json');
    expect(all.code, all.err).toBe(0);
    const summary = JSON.parse(all.out) as { cases: number; backends: string[]; suites: { suite: string; files: string[]; cases: number }[]; skipped: string[] };
    expect(summary.suites.map((s) => [s.suite, s.files])).toEqual([
      ['tokens and requests', ['vectors/request_verify.json', 'vectors/token_verify.json']],
      ['key sets', ['keyset/keyset_verify.json']],
      ['refunds', ['refund/refund_verify.json']],
      ['webhook signatures', ['webhook/webhook_signature.json']],
      ['sync answers', ['sync/sync_answers.json']],
    ]);
    const declared = (f: string) => (JSON.parse(readFileSync(f, 'utf8')) as { numberOfTests: number }).numberOfTests;
    const hooks = JSON.parse(readFileSync('fixtures/webhook/webhook_signature.json', 'utf8')) as { numberOfTests: number; numberOfSignatures: number };
    expect(summary.cases).toBe(
      ['fixtures/vectors/token_verify.json', 'fixtures/vectors/request_verify.json', 'fixtures/keyset/keyset_verify.json', 'fixtures/refund/refund_verify.json'].reduce((n, f) => n + declared(f), 0) +
        hooks.numberOfTests + hooks.numberOfSignatures +
        (['readers', 'batches', 'refunds', 'statuses', 'delays'] as const).reduce((n, k) => n + (JSON.parse(readFileSync('fixtures/sync/sync_answers.json', 'utf8')) as Record<string, unknown[]>)[k]!.length, 0),
    );
    expect(all.code).toBe(0);
    expect((await run('vectors', 'check')).out).toMatch(/webhook signatures: \d+ cases in 1 file, backends noble, node: all pass\n[^]*backends noble, node(, webcrypto)? \(Ed25519\) and noble, node \(HMAC\): all pass/);
    expect(summary.skipped).toEqual(['refund/refund_clearing.json', 'batch/batch_clearing.json', 'blocklist/blocklist_load.json']); // scenarios the test suite runs

    // A DIR of the old kind (token/request files only) still works.
    const d = mkdtempSync(join(tmpdir(), 'offpay-vec-suites-'));
    cpSync('fixtures/vectors/request_verify.json', join(d, 'request_verify.json'));
    const old = await run('vectors', 'check', '--dir', d);
    expect(old.code, old.err).toBe(0);
    expect(old.out).toContain(`${declared('fixtures/vectors/request_verify.json')} cases in 1 file, `);

    // A key set case whose declared verdict is wrong (a flipped signature bit, declared as loadable).
    const ks = JSON.parse(readFileSync('fixtures/keyset/keyset_verify.json', 'utf8'));
    const k9 = ks.tests.find((t: { comment: string }) => t.comment === 'signature with one bit flipped');
    const id = k9.tcId as number;
    k9.result = 'newer';
    delete k9.code;
    writeFileSync(join(d, 'keyset_verify.json'), JSON.stringify(ks));
    const badKs = await run('vectors', 'check', '--dir', d, '--json');
    expect(badKs.code).toBe(1);
    const ksProblems = (JSON.parse(badKs.out) as { problems: string[] }).problems;
    for (const b of summary.backends) expect(ksProblems).toContainEqual(expect.stringMatching(new RegExp(`^keyset_verify\\.json: tcId ${id}: expected newer, got invalid keyset\\.bad_signature .*\\[${b}\\]$`)));
    expect((await run('vectors', 'check', '--dir', d)).out).toContain(`key sets: ${ks.tests.length} cases in 1 file, backends noble, node`);
    expect((await run('vectors', 'check', '--dir', d)).out).toMatch(new RegExp(`key sets: .*: failing keyset_verify\\.json tcId ${id}\n`));

    // A refund case whose listed signature is declared with the wrong answer, in the shipped layout (DIR/refund/).
    const t = mkdtempSync(join(tmpdir(), 'offpay-vec-tree-'));
    cpSync('fixtures', t, { recursive: true });
    expect((await run('vectors', 'check', '--dir', t)).code).toBe(0);
    const rf = JSON.parse(readFileSync('fixtures/refund/refund_verify.json', 'utf8'));
    rf.tests.find((x: { tcId: number }) => x.tcId === 15).signatures.find((s: { role: string }) => s.role === 'reader').valid = true;
    writeFileSync(join(t, 'refund/refund_verify.json'), JSON.stringify(rf));
    const badRf = await run('vectors', 'check', '--dir', t);
    expect(badRf.code).toBe(1);
    expect(badRf.out).toMatch(/refunds: 32 cases in 1 file, backends .*: failing refund\/refund_verify\.json tcId 15\n/);
    expect(badRf.out).toContain('FAIL refund/refund_verify.json: tcId 15: the reader signature is invalid, declared valid');
    expect(badRf.out.match(/FAIL refund\/refund_verify\.json: tcId 15: the reader signature/g)).toHaveLength(summary.backends.length);

    // A refund case with the wrong code.
    rf.tests.find((x: { tcId: number }) => x.tcId === 15).signatures.find((s: { role: string }) => s.role === 'reader').valid = false;
    rf.tests.find((x: { tcId: number }) => x.tcId === 10).code = 'refund.bad_signature';
    writeFileSync(join(t, 'refund/refund_verify.json'), JSON.stringify(rf));
    const badCode = await run('vectors', 'check', '--dir', t);
    expect(badCode.code).toBe(1);
    expect(badCode.out).toContain('FAIL refund/refund_verify.json: tcId 10: expected invalid refund.bad_signature, got invalid refund.future');

    // Malformed files are exit 2 with vectors.bad_file, not a crash.
    for (const bad of ['nope', '{"algorithm":"offpay-refund-v2","numberOfTests":1,"tests":[{"tcId":1}]}', JSON.stringify({ ...rf, tests: [{ ...rf.tests[0], message: 'zz' }] })]) {
      writeFileSync(join(t, 'refund/refund_verify.json'), bad);
      const r = await run('vectors', 'check', '--dir', t);
      expect([r.code, r.err]).toEqual([2, expect.stringContaining('vectors.bad_file')]);
    }
    writeFileSync(join(d, 'keyset_verify.json'), JSON.stringify({ ...ks, algorithm: 'offpay-refund-v2' }));
    expect((await run('vectors', 'check', '--dir', d)).code).toBe(2);
    // A file over the bound is refused before it is read.
    writeFileSync(join(d, 'keyset_verify.json'), '');
    truncateSync(join(d, 'keyset_verify.json'), 16 * 1024 * 1024 + 1);
    const big = await run('vectors', 'check', '--dir', d);
    expect([big.code, big.err]).toEqual([2, expect.stringMatching(/is \d+ bytes, over the limit of 16777216.*\[vectors\.bad_file\]/)]);
    for (const x of [d, t]) rmSync(x, { recursive: true, force: true });
  });

  it('vectors check runs the webhook signature vectors with both HMAC backends: a wrong verdict or v1 fails (exit 1), a malformed file is exit 2', async () => {
    const t = mkdtempSync(join(tmpdir(), 'offpay-vec-hooks-'));
    cpSync('fixtures/webhook', join(t, 'webhook'), { recursive: true });
    const path = join(t, 'webhook/webhook_signature.json');
    const ok = await run('vectors', 'check', '--dir', t);
    expect(ok.code, ok.err).toBe(0);
    expect(ok.out).toMatch(/^webhook signatures: \d+ cases in 1 file, backends noble, node: all pass$/m);
    const file = JSON.parse(readFileSync(path, 'utf8'));
    // A case declared with the wrong reason, and a signature with another v1.
    const tooOld = file.tests.find((x: { reason?: string }) => x.reason === 'too_old');
    tooOld.reason = 'too_new';
    file.signatures[1].v1 = file.signatures[0].v1;
    writeFileSync(path, JSON.stringify(file));
    const bad = await run('vectors', 'check', '--dir', t);
    expect(bad.code).toBe(1);
    expect(bad.out).toContain(`failing webhook/webhook_signature.json tcId ${tooOld.tcId}, sigId 2`);
    for (const b of ['noble', 'node']) {
      expect(bad.out).toContain(`FAIL webhook/webhook_signature.json: tcId ${tooOld.tcId}: expected invalid too_new, got invalid too_old`);
      expect(bad.out).toMatch(new RegExp(`FAIL webhook\\/webhook_signature\\.json: sigId 2: v1 is [0-9a-f]{64}, declared ${file.signatures[0].v1} .*\\[${b}\\]`));
    }
    // Malformed: not JSON, a case with no reason, a header that is a number: exit 2 with vectors.bad_file.
    const good = JSON.parse(readFileSync('fixtures/webhook/webhook_signature.json', 'utf8'));
    for (const broken of ['nope', JSON.stringify({ ...good, tests: [{ ...good.tests[4], reason: undefined }] }), JSON.stringify({ ...good, tests: [{ ...good.tests[0], header: 7 }] })]) {
      writeFileSync(path, broken);
      const r = await run('vectors', 'check', '--dir', t);
      expect([r.code, r.err]).toEqual([2, expect.stringContaining('vectors.bad_file')]);
    }
    rmSync(t, { recursive: true, force: true });
  });

  it('vectors check runs the sync answer vectors: a wrong verdict, class or delay fails (exit 1), a malformed file is exit 2', async () => {
    const t = mkdtempSync(join(tmpdir(), 'offpay-vec-sync-'));
    cpSync('fixtures/sync/sync_answers.json', join(t, 'sync_answers.json'));
    const path = join(t, 'sync_answers.json');
    const ok = await run('vectors', 'check', '--dir', t);
    expect(ok.code, ok.err).toBe(0);
    expect(ok.out).toMatch(/^sync answers: \d+ cases in 1 file: all pass$/m);
    const file = JSON.parse(readFileSync(path, 'utf8'));
    const b = file.batches.find((x: { result: string }) => x.result === 'batch_rejected');
    b.reason = 'something_else';
    file.statuses.find((x: { status: number }) => x.status === 429).class = 'answer';
    file.delays[0].delayMs += 1;
    writeFileSync(path, JSON.stringify(file));
    const bad = await run('vectors', 'check', '--dir', t);
    expect(bad.code).toBe(1);
    expect(bad.out).toContain(`failing sync_answers.json tcId ${b.tcId}, status 429, delay k=1`);
    expect(bad.out).toContain(`FAIL sync_answers.json: tcId ${b.tcId}: expected batch_rejected something_else, got batch_rejected`);
    for (const broken of ['nope', JSON.stringify({ ...file, readers: [{ ...file.readers[0], result: 'maybe' }] }), JSON.stringify({ ...file, batches: [{ ...file.batches[0], sent: null }] })]) {
      writeFileSync(path, broken);
      const r = await run('vectors', 'check', '--dir', t);
      expect([r.code, r.err]).toEqual([2, expect.stringContaining('vectors.bad_file')]);
    }
    rmSync(t, { recursive: true, force: true });
  });
});
