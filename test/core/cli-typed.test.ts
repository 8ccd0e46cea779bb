/**
 * The CLI as people type it (issue 13): input files either way, tokens in any transport form, `--out -`,
 * vectors from anywhere, did-you-mean, the stateless reason first, human forms, and what to do about a
 * stale blocklist. Each block failed before the change it covers.
 */
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { decodeToken, tokenHash } from '../../src/messages.js';
import { toHex } from '../../base/hex.js';

interface Run {
  code: number;
  out: string;
  err: string;
  data: Uint8Array;
  json: () => Record<string, unknown>;
}

async function run(argv: string[], tty: { stdout?: boolean; stderr?: boolean } = {}): Promise<Run> {
  let out = '';
  let err = '';
  const chunks: Uint8Array[] = [];
  const code = await main(argv, {
    out: (s) => (out += s),
    err: (s) => (err += s),
    data: (b) => chunks.push(b.slice()),
    stdoutIsTTY: tty.stdout ?? false,
    stderrIsTTY: tty.stderr ?? false,
  });
  return { code, out, err, data: new Uint8Array(Buffer.concat(chunks)), json: () => JSON.parse(out) as Record<string, unknown> };
}

const NOW = '--now=2026-11-22T12:00:00Z';
const d = mkdtempSync(join(tmpdir(), 'offpay-typed-'));
const p = (...x: string[]) => join(d, ...x);
afterAll(() => rmSync(d, { recursive: true, force: true }));

async function ok(argv: string[]): Promise<Run> {
  const r = await run(argv);
  expect(r.code, `${argv.join(' ')}\n${r.err}`).toBe(0);
  return r;
}

/** A vending reader (blocklist loaded), a wallet, and one token in four forms. */
beforeAll(async () => {
  await ok(['issuer', 'init', '--dir', p('issuer'), '--seed', 'typed', NOW]);
  await ok(['wallet', 'new', '--issuer', p('issuer'), '--out', p('wallet'), '--seed', 'typed', NOW]);
  await ok(['reader', 'new', '--issuer', p('issuer'), '--id', '4201', '--operator', '90', '--out', p('vm'), '--seed', 'typed', NOW]);
  await ok(['clearing', 'blocklist', '--issuer', p('issuer'), '--db', p('clearing.db'), '--out', p('list.cbor'), NOW]);
  await ok(['reader', 'init', '--reader', p('vm'), '--db', p('vm.db'), '--issuer', p('issuer'), NOW]);
  await ok(['reader', 'load-blocklist', '--reader', p('vm'), '--db', p('vm.db'), '--issuer', p('issuer'), p('list.cbor'), NOW]);
  await ok(['request', '--reader', p('vm'), '--db', p('vm.db'), '--amount', '12.50', '--out', p('req.cbor'), NOW]);
  await ok(['pay', '--wallet', p('wallet'), '--request', p('req.cbor'), '--out', p('tok.cbor'), NOW]);
  await ok(['fsk', 'encode', '--in', p('tok.cbor'), '--out', p('pay.wav')]);
  await ok(['qr', 'encode', '--in', p('tok.cbor'), '--out', p('pay.png')]);
  await ok(['nfc', 'ndef', 'encode', '--in', p('tok.cbor'), '--out', p('pay.ndef')]);
}, 120_000);

describe('input files the same way everywhere', () => {
  it('fsk decode, qr decode and nfc ndef decode take the file positionally as well as with --in', async () => {
    const tok = readFileSync(p('tok.cbor'));
    for (const [argv, out] of [
      [['fsk', 'decode', p('pay.wav'), '--out', p('a.bin')], 'a.bin'],
      [['fsk', 'decode', '--in', p('pay.wav'), '--out', p('b.bin')], 'b.bin'],
      [['qr', 'decode', p('pay.png'), '--out', p('c.bin')], 'c.bin'],
      [['nfc', 'ndef', 'decode', p('pay.ndef'), '--out', p('e.bin')], 'e.bin'],
    ] as const) {
      await ok([...argv]);
      expect(readFileSync(p(out)).equals(tok), out).toBe(true);
    }
  });

  it('verify and reader accept take --in as well as the positional file; both forms at once is a usage error', async () => {
    const v = await run(['verify', '--issuer', p('issuer'), '--reader', p('vm'), '--request', p('req.cbor'), '--in', p('tok.cbor'), NOW, '--json']);
    expect(v.code).toBe(0);
    expect(v.json()).toMatchObject({ accepted: true });
    const both = await run(['fsk', 'decode', p('pay.wav'), '--in', p('pay.wav')]);
    expect(both.code).toBe(2);
    expect(both.err).toMatch(/give the input once/);
    const help = await run(['fsk', 'decode', '--help']);
    expect(help.out).toMatch(/may also be given without --in/);
  });
});

describe('tokens in any form, detected by content', () => {
  it('verify reads the same token from CBOR, WAV, PNG and NDEF without --via', async () => {
    const want = toHex(tokenHash(new Uint8Array(readFileSync(p('tok.cbor')))));
    for (const f of ['tok.cbor', 'pay.wav', 'pay.png', 'pay.ndef']) {
      const r = await run(['verify', '--issuer', p('issuer'), '--reader', p('vm'), '--request', p('req.cbor'), p(f), NOW, '--json']);
      expect(r.code, `${f}: ${r.err}`).toBe(0);
      expect(r.json().tokenHash, f).toBe(want);
    }
  });

  it('a large file that is no WAV, image or code is refused before it is read (cli.too_large, exit 2)', async () => {
    writeFileSync(p('big.bin'), new Uint8Array(70_000).fill(0x41));
    const r = await run(['verify', '--issuer', p('issuer'), '--reader', p('vm'), p('big.bin'), NOW]);
    expect(r.code).toBe(2);
    expect(r.err).toContain('[cli.too_large]');
  });

  it('reader accept a WAV, then reader complete the same token as a WAV (was file.too_large) and as a PNG', async () => {
    const db = p('vm.db');
    const a = await run(['reader', 'accept', '--reader', p('vm'), '--db', db, p('pay.wav'), NOW, '--json']);
    expect(a.code, a.err).toBe(0);
    const c = await run(['reader', 'complete', '--reader', p('vm'), '--db', db, p('pay.wav'), '--json']);
    expect(c.code, c.err).toBe(0);
    expect(c.json()).toMatchObject({ ok: true, tokenHash: toHex(tokenHash(new Uint8Array(readFileSync(p('tok.cbor'))))) });
    const again = await run(['reader', 'complete', '--reader', p('vm'), '--db', db, p('pay.png'), '--json']);
    expect(again.code).toBe(1); // found and already complete: the PNG named the same token
    expect(again.err).not.toMatch(/too_large/);
  });
});

describe('--out - writes to standard output', () => {
  it('request --via qr --out - draws the code on a terminal and writes no file named -', async () => {
    const before = existsSync('-');
    const r = await run(['request', '--reader', p('vm'), '--db', p('vm.db'), '--amount', '2.00', '--via', 'qr', '--out', '-', NOW], { stdout: true });
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/^[\u2588\u2580\u2584 \n]+$/); // only the code on standard output
    expect(r.err).toMatch(/written to -/); // the note went to standard error
    expect(existsSync('-')).toBe(before);
  });

  it('pay --out - writes the raw token when standard output is not a terminal', async () => {
    await ok(['request', '--reader', p('vm'), '--db', p('vm.db'), '--amount', '3.00', '--out', p('req3.cbor'), NOW]);
    const r = await run(['pay', '--wallet', p('wallet'), '--request', p('req3.cbor'), '--out', '-', NOW]);
    expect(r.code, r.err).toBe(0);
    expect(decodeToken(r.data).amount).toBe(300);
    expect(r.out).toBe('');
  });

  it('refuses binary to a terminal, and --out - with --json, before spending a counter', async () => {
    const counter = readFileSync(p('wallet', 'counter.json'), 'utf8');
    await ok(['request', '--reader', p('vm'), '--db', p('vm.db'), '--amount', '4.00', '--out', p('req4.cbor'), NOW]);
    const tty = await run(['pay', '--wallet', p('wallet'), '--request', p('req4.cbor'), '--out', '-', NOW], { stdout: true });
    expect(tty.code).toBe(2);
    expect(tty.err).toMatch(/standard output is a terminal; refusing to print binary/);
    const wav = await run(['pay', '--wallet', p('wallet'), '--request', p('req4.cbor'), '--via', 'fsk', '--out', '-', NOW], { stdout: true });
    expect(wav.code).toBe(2);
    const json = await run(['pay', '--wallet', p('wallet'), '--request', p('req4.cbor'), '--out', '-', '--json', NOW]);
    expect(json.code).toBe(2);
    expect(json.err).toMatch(/both write to standard output/);
    expect(readFileSync(p('wallet', 'counter.json'), 'utf8')).toBe(counter);
  });
});

describe.skipIf(!existsSync(join(import.meta.dirname, '../../dist/src/cli/main.js')))('- reads standard input', () => {
  const cli = join(import.meta.dirname, '../../dist/src/cli/main.js');
  it('pay --out - | verify - and inspect -: a token (CBOR or WAV) piped from one command to the next', () => {
    for (const f of ['tok.cbor', 'pay.wav']) {
      const r = spawnSync(process.execPath, [cli, 'verify', '--issuer', p('issuer'), '--reader', p('vm'), '--request', p('req.cbor'), '-', NOW, '--json'], { input: readFileSync(p(f)), encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout)).toMatchObject({ accepted: true, amount: 1250 });
    }
    const i = spawnSync(process.execPath, [cli, 'inspect', '-'], { input: readFileSync(p('tok.cbor')), encoding: 'utf8' });
    expect(i.status, i.stderr).toBe(0);
    expect(i.stdout).toMatch(/^PaymentToken/);
  });
});

describe('vectors check outside the repository', () => {
  it('runs the vectors shipped in the package whatever the working directory', async () => {
    const cwd = process.cwd();
    process.chdir(d);
    try {
      const r = await run(['vectors', 'check', '--json']);
      expect(r.code, r.err).toBe(0);
      expect(r.json().cases).toBeGreaterThan(100);
      expect((r.json().suites as { suite: string }[]).map((s) => s.suite)).toEqual(['tokens and requests', 'key sets', 'refunds', 'webhook signatures', 'sync answers']);
    } finally {
      process.chdir(cwd);
    }
  });
});

describe('did you mean', () => {
  it('an unknown option names the closest one, with balanced quotes, exit 2', async () => {
    const r = await run(['wallet', 'new', '--isuer', p('issuer'), '--out', p('w9')]);
    expect(r.code).toBe(2);
    expect(r.err).toContain('offpay wallet new: unknown option --isuer; did you mean --issuer?');
    expect(r.err).not.toMatch(/'--isuer'|To specify a positional/);
    const far = await run(['verify', '--bogus']);
    expect(far.code).toBe(2);
    expect(far.err).toContain('unknown option --bogus');
    expect(far.err).not.toContain('did you mean');
    const noValue = await run(['pay', '--wallet']);
    expect(noValue.code).toBe(2);
    expect(noValue.err).toContain('option --wallet needs a value (--wallet WALLET)');
  });

  it('an unknown command or subcommand names the closest command, exit 2', async () => {
    const a = await run(['verfy', 'x']);
    expect(a.code).toBe(2);
    expect(a.err).toContain("unknown command 'verfy'; did you mean 'verify'?");
    const b = await run(['reader', 'acept']);
    expect(b.code).toBe(2);
    expect(b.err).toContain("did you mean 'reader accept'?");
    const c = await run(['xyzzy']);
    expect(c.code).toBe(2);
    expect(c.err).not.toContain('did you mean');
  });
});

describe('reader accept: the token is judged before the missing request', () => {
  const accept = async (f: string) => (await run(['reader', 'accept', '--reader', p('vm'), '--db', p('vm.db'), p(f), NOW, '--json'])).json().results as object[];
  it('a truncated token is malformed with and without an open request; another payee is wrong_payee; one-way at a vending reader is challenge_missing', async () => {
    // A request is open (the price on the screen); tokT.cbor answers it.
    await ok(['request', '--reader', p('vm'), '--db', p('vm.db'), '--amount', '1.00', '--out', p('reqT.cbor'), NOW]);
    await ok(['pay', '--wallet', p('wallet'), '--request', p('reqT.cbor'), '--out', p('tokT.cbor'), NOW]);
    const tok = readFileSync(p('tokT.cbor'));
    writeFileSync(p('trunc.cbor'), tok.subarray(0, 100));
    const t = await run(['reader', 'accept', '--reader', p('vm'), '--db', p('vm.db'), p('trunc.cbor'), NOW, '--json']);
    expect(t.code).toBe(1);
    expect((t.json().results as object[])[0]).toMatchObject({ accepted: false, reason: 'malformed', code: 1 });
    await ok(['pay', '--wallet', p('wallet'), '--payee', '9999', '--amount', '1', '--out', p('other.cbor'), NOW]);
    expect((await accept('other.cbor'))[0]).toMatchObject({ reason: 'wrong_payee', code: 11 });
    await ok(['pay', '--wallet', p('wallet'), '--payee', '4201', '--amount', '1', '--out', p('oneway.cbor'), NOW]);
    expect((await accept('oneway.cbor'))[0]).toMatchObject({ reason: 'challenge_missing', code: 12 });
    // Pay and complete the sale: the request closes, and no request is open.
    expect((await run(['reader', 'accept', '--reader', p('vm'), '--db', p('vm.db'), p('tokT.cbor'), '--complete', NOW, '--json'])).code).toBe(0);
    expect((await accept('oneway.cbor'))[0]).toMatchObject({ reason: 'request_not_open', code: 51 });
    // The truncated token still says what it is (it said request_not_open before the reader checked structure first).
    const n = await run(['reader', 'accept', '--reader', p('vm'), '--db', p('vm.db'), p('trunc.cbor'), NOW]);
    expect(n.code).toBe(1);
    expect(n.out).toMatch(/REFUSED.*malformed/);
    expect((await accept('trunc.cbor'))[0]).toMatchObject({ accepted: false, reason: 'malformed', code: 1 });
  });
});

describe('human forms in human output, --json unchanged', () => {
  it('inspect lays a token out as labelled lines with currency codes and ISO dates', async () => {
    const r = await ok(['inspect', p('tok.cbor')]);
    expect(r.out).toMatch(/^PaymentToken \(\d+ bytes\)\n/);
    expect(r.out).toMatch(/amount +HKD 12\.50/);
    expect(r.out).toMatch(/currency +HKD \(344\)/);
    expect(r.out).toMatch(/expiry day +2026-12-22 \(day 20809\)/);
    expect(r.out).toMatch(/wallet cert\n {4}key index +1\n {4}wallet public key +[0-9a-f]{64}\n/);
    expect(r.out).not.toMatch(/[{}"]/); // no JSON
    // A request-bound token (v2) carries no payee, time or challenge: the output says where they are instead of
    // a bare "request bound true".
    expect(r.out).toMatch(/\n {2}form +request-bound: payee, time and challenge are not carried; they are those of the request it answers/);
    expect(r.out).not.toMatch(/^ {2}(payee|time|challenge|request bound) /m);
    // A one-way token carries its payee and time: the time in ISO 8601, not unix seconds.
    const ow = await ok(['inspect', p('oneway.cbor')]);
    expect(ow.out).toMatch(/\n {2}form +one-way/);
    expect(ow.out).toMatch(/\n {2}payee +4201\n/);
    expect(ow.out).toMatch(/\n {2}time +2026-11-22T12:00:00Z\n/);
    expect(ow.out).not.toContain('1795348800');
    const rq = await ok(['inspect', p('req.cbor')]);
    expect(rq.out).toMatch(/\n {2}time +2026-11-22T12:00:00Z\n/);
    expect(rq.out).toMatch(/not after +2027-11-22T12:00:00Z/);
    const ks = await ok(['inspect', p('issuer', 'keyset.cbor')]);
    expect(ks.out).toMatch(/keys\n {4}\[1\]\n {6}key index +1\n/);
    expect(ks.out).toMatch(/not after +20\d\d-\d\d-\d\dT\d\d:\d\d:\d\dZ/);
  });

  it('verify of a request-bound token without --request says to give the request (human form only)', async () => {
    const h = await run(['verify', '--issuer', p('issuer'), '--reader', p('vm'), p('tok.cbor'), NOW]);
    expect(h.code).toBe(1);
    expect(h.out).toMatch(/^REJECTED: challenge_mismatch \(13\): .*\(give the request it answers with --request REQ\)\n$/);
    const j = await run(['verify', '--issuer', p('issuer'), '--reader', p('vm'), p('tok.cbor'), NOW, '--json']);
    expect(j.json()).toEqual({ accepted: false, reason: 'challenge_mismatch', code: 13, message: 'the token answers a payment request, and the verifier has no request to judge it against' });
  });

  it('clearing report shows double-spend amounts in their currency, not minor units', async () => {
    await ok(['wallet', 'new', '--issuer', p('issuer'), '--out', p('wd'), '--seed', 'typed-ds', NOW]);
    cpSync(p('wd'), p('wd-clone'), { recursive: true });
    await ok(['request', '--reader', p('vm'), '--db', p('vm.db'), '--amount', '7.25', '--out', p('rd1.cbor'), NOW]);
    await ok(['pay', '--wallet', p('wd'), '--request', p('rd1.cbor'), '--out', p('td1.cbor'), NOW]);
    await ok(['reader', 'accept', '--reader', p('vm'), '--db', p('vm.db'), p('td1.cbor'), NOW, '--complete']);
    await ok(['request', '--reader', p('vm'), '--db', p('vm.db'), '--amount', '7.50', '--out', p('rd2.cbor'), NOW]);
    await ok(['pay', '--wallet', p('wd-clone'), '--request', p('rd2.cbor'), '--out', p('td2.cbor'), NOW]);
    expect((await run(['reader', 'accept', '--reader', p('vm'), '--db', p('vm.db'), p('td2.cbor'), NOW])).code).toBe(1); // replayed, kept as evidence
    await ok(['reader', 'export', '--reader', p('vm'), '--db', p('vm.db'), '--out', p('vm.batch'), NOW]);
    await ok(['clearing', 'ingest', '--issuer', p('issuer'), '--db', p('clearing.db'), p('vm.batch')]);
    const r = await ok(['clearing', 'report', '--db', p('clearing.db')]);
    expect(r.out).toMatch(/counter_reuse: wallet [0-9a-f]+ counter 1: reader 4201 entry \d+ \(HKD 7\.25\) and reader 4201 entry \d+ \(HKD 7\.50\)/);
  });

  it('--json keeps the machine forms and the same keys', async () => {
    const i = (await ok(['inspect', p('tok.cbor'), '--json'])).json();
    // A request-bound token: what its bytes carry (no payee, time or challenge), and requestBound as a boolean.
    expect(Object.keys(i)).toEqual(['type', 'bytes', 'tokenHash', 'walletId', 'amountText', 'walletCert', 'amount', 'counter', 'walletSignature', 'requestBound']);
    expect(i).toMatchObject({ type: 'PaymentToken', amount: 1250, amountText: 'HKD 12.50', counter: 1, requestBound: true });
    const o = (await ok(['inspect', p('oneway.cbor'), '--json'])).json();
    expect(Object.keys(o)).toEqual(['type', 'bytes', 'tokenHash', 'walletId', 'amountText', 'walletCert', 'payee', 'amount', 'counter', 'time', 'walletSignature', 'requestBound']);
    expect(o).toMatchObject({ type: 'PaymentToken', amount: 100, amountText: 'HKD 1.00', payee: 4201, time: 1795348800, requestBound: false });
    expect(Object.keys(i.walletCert as object)).toEqual(['keyIndex', 'walletPublicKey', 'expiryDay', 'maxPerPayment', 'offlineAllowance', 'currency', 'issuerSignature']);
    expect(i.walletCert).toMatchObject({ expiryDay: 20809, maxPerPayment: 50000, offlineAllowance: 60000, currency: 344 });
    const v = (await ok(['verify', '--issuer', p('issuer'), '--reader', p('vm'), '--request', p('req.cbor'), p('tok.cbor'), NOW, '--json'])).json();
    expect(Object.keys(v)).toEqual(['accepted', 'amount', 'currency', 'walletId', 'counter', 'payee', 'tokenHash']);
    expect(v).toMatchObject({ accepted: true, amount: 1250, currency: 344, counter: 1, payee: 4201 });
    const w = (await ok(['wallet', 'new', '--issuer', p('issuer'), '--out', p('w2'), '--seed', 'typed2', NOW, '--json'])).json();
    expect(Object.keys(w)).toEqual(['ok', 'walletId', 'dir', 'cert']);
    expect(w.cert).toMatchObject({ currency: 344, expiryDay: 20809 });
    const h = await ok(['wallet', 'new', '--issuer', p('issuer'), '--out', p('w3'), '--seed', 'typed3', NOW]);
    expect(h.out).toContain('certificate valid through 2026-12-22 (day 20809)');
  });
});

describe('a vending reader without a blocklist says what to do', () => {
  it('blocklist_stale names offpay reader load-blocklist in human output; the JSON message is unchanged', async () => {
    await ok(['reader', 'new', '--issuer', p('issuer'), '--id', '4300', '--out', p('vm2'), '--seed', 'typed', NOW]);
    await ok(['reader', 'init', '--reader', p('vm2'), '--db', p('vm2.db'), '--issuer', p('issuer'), NOW]);
    await ok(['request', '--reader', p('vm2'), '--db', p('vm2.db'), '--amount', '1.00', '--out', p('r2.cbor'), NOW]);
    await ok(['pay', '--wallet', p('wallet'), '--request', p('r2.cbor'), '--out', p('t2.cbor'), NOW]);
    const h = await run(['reader', 'accept', '--reader', p('vm2'), '--db', p('vm2.db'), '--issuer', p('issuer'), p('t2.cbor'), NOW]);
    expect(h.code).toBe(1);
    expect(h.out).toContain('blocklist_stale');
    expect(h.out).toContain('offpay reader load-blocklist --reader READER --db READER.db LIST');
    // The refusal changed nothing (spec/reader.md §2): the same token against the same open request, as JSON.
    const j = await run(['reader', 'accept', '--reader', p('vm2'), '--db', p('vm2.db'), '--issuer', p('issuer'), p('t2.cbor'), NOW, '--json']);
    expect((j.json().results as { message: string }[])[0]).toMatchObject({ reason: 'blocklist_stale', message: 'no blocklist has been loaded' });
    const st = await run(['reader', 'status', '--reader', p('vm2'), '--db', p('vm2.db'), NOW]);
    expect(st.out).toContain('offpay reader load-blocklist');
  });

  it("README's library section says a vending Reader refuses until a blocklist is loaded, and how", () => {
    const readme = readFileSync('README.md', 'utf8');
    const lib = readme.slice(readme.indexOf('## The library in a few lines'), readme.indexOf('## Specification and vectors'));
    expect(lib).toContain('blocklist_stale');
    expect(lib).toContain('loadBlocklist');
    expect(lib).toContain('offpay reader load-blocklist');
  });
});
